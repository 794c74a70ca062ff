"""The SQL that differs between SQLite and PostgreSQL: locks, the append, JSON as text."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Text, cast, type_coerce
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

from catalogue.database import run_on_sqlite_driver
from catalogue.errors import ConcurrencyConflict


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


APPEND_LOCK_KEY = advisory_key("catalogue.events.append")

#: (index of its stream in the append, event id as 32 hex digits, type, schema_version,
#: JSON payload).
EventRow = tuple[int, str, str, int, str]

#: Expected-version codes, shared with the PostgreSQL append function.
EXPECT_ANY = -1
EXPECT_EXISTS = -2


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """Where an append landed: the head before it, the database time, and each stream's
    version before it, in the order the streams were given."""

    head: int
    recorded_at: datetime
    versions: list[int]


def conflict(stream: str, expected: int, actual: int) -> ConcurrencyConflict:
    """The error for a stream that is not at the expected version."""
    shown: object = "an existing stream" if expected == EXPECT_EXISTS else expected
    return ConcurrencyConflict(stream, shown, actual)


def check_expected(stream: str, expected: int, actual: int) -> None:
    """Raise `ConcurrencyConflict` unless `actual` satisfies the expected-version code."""
    if expected == EXPECT_ANY:
        return
    if (expected == EXPECT_EXISTS and actual == 0) or (expected >= 0 and expected != actual):
        raise conflict(stream, expected, actual)


class StoreDialect(Protocol):
    """What the event store and projection runners need to know about one database."""

    name: str
    #: True when `append` is one atomic statement, so it needs no transaction of its own.
    atomic_append: bool

    def lock_for_append(self, connection: Connection) -> None:
        """Serialise appends until this transaction commits."""

    def append(
        self,
        connection: Connection,
        streams: Sequence[str],
        expected: Sequence[int],
        rows: Sequence[EventRow],
        metadata: str,
    ) -> AppendOutcome:
        """Take the append lock, check expected versions, insert at head + 1, head + 2, ..."""

    def json_as_text(self, column: ColumnElement[Any]) -> ColumnElement[str]:
        """A JSON column as text, without the driver parsing it (pydantic parses payloads
        from text in one step)."""

    def runner_lock(self, engine: Engine, name: str) -> contextlib.AbstractContextManager[None]:
        """Block until this process is the only runner of projection `name`."""


class SQLiteDialect:
    """SQLite: one writer at a time already, via BEGIN IMMEDIATE; no round trips to save."""

    name = "sqlite"
    atomic_append = False
    _insert = (
        "INSERT INTO events (position, stream, version, event_id, type, schema_version, data,"
        " metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    _state = (
        "SELECT (SELECT coalesce(max(position), 0) FROM events),"
        " strftime('%Y-%m-%d %H:%M:%f', 'now'),"
        " (SELECT coalesce(max(version), 0) FROM events WHERE stream = s.value)"
        " FROM json_each(?) AS s ORDER BY s.key"
    )

    def lock_for_append(self, connection: Connection) -> None:
        """Nothing to do: write transactions begin IMMEDIATE and hold the database lock."""

    def append(
        self,
        connection: Connection,
        streams: Sequence[str],
        expected: Sequence[int],
        rows: Sequence[EventRow],
        metadata: str,
    ) -> AppendOutcome:
        """Read head, time and versions in one statement, check them, then executemany."""
        state = run_on_sqlite_driver(connection, self._state, (json.dumps(list(streams)),))
        head, now = state[0][0], state[0][1]
        versions = [row[2] for row in state]
        for stream, code, actual in zip(streams, expected, versions, strict=True):
            check_expected(stream, code, actual)
        next_version = list(versions)
        params = []
        for position, (index, event_id, type_, schema, data) in enumerate(rows, head + 1):
            next_version[index] += 1
            params.append(
                (
                    position,
                    streams[index],
                    next_version[index],
                    event_id,  # SQLAlchemy's Uuid type stores 32 hex digits on SQLite
                    type_,
                    schema,
                    data,
                    metadata,
                    now,
                )
            )
        run_on_sqlite_driver(connection, self._insert, params, many=True)
        # Stored in the text form SQLAlchemy's DateTime reads back on SQLite.
        return AppendOutcome(head, datetime.fromisoformat(now).replace(tzinfo=UTC), versions)

    def json_as_text(self, column: ColumnElement[Any]) -> ColumnElement[str]:
        """SQLite keeps JSON as text: only skip SQLAlchemy's parsing."""
        return type_coerce(column, Text)

    @contextlib.contextmanager
    def runner_lock(self, engine: Engine, name: str) -> Iterator[None]:
        """An exclusive file lock beside the database file (SQLite is single-host anyway)."""
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        path = Path(f"{database}.{name}.runner.lock")
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class PostgresDialect:
    """PostgreSQL: appends serialised by a transaction-scoped advisory lock."""

    name = "postgresql"
    atomic_append = True
    # Lock, version checks and insert in one round trip: see migration 0002.
    _append = (
        "SELECT head, recorded_at, versions FROM catalogue_append_events("
        "%s, %s, %s, %s, %s::uuid[], %s, %s, %s::jsonb, %s)"
    )

    def lock_for_append(self, connection: Connection) -> None:
        """Take the append lock; it is released only when the transaction ends.

        Why: positions are max + 1, assigned under this lock, and PostgreSQL makes a commit
        visible to other sessions *before* it releases the committing transaction's locks.
        So the next appender, whose next statement takes a fresh snapshot, always sees the
        previous append, and readers can never see position n + 1 committed while n is not:
        a reader tailing the global order misses nothing. A plain sequence would not do:
        sequence values are handed out at insert time and commit in any order. Reads that
        depend on the lock must be later statements: a statement's snapshot is taken before
        it starts waiting.
        """
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))

    def append(
        self,
        connection: Connection,
        streams: Sequence[str],
        expected: Sequence[int],
        rows: Sequence[EventRow],
        metadata: str,
    ) -> AppendOutcome:
        """Call catalogue_append_events, which takes the same lock and inserts from arrays."""
        indexes, ids, types, schemas, data = zip(*rows, strict=True)
        try:
            head, recorded_at, versions = connection.exec_driver_sql(
                self._append,
                (
                    APPEND_LOCK_KEY,
                    list(streams),
                    list(expected),
                    [index + 1 for index in indexes],
                    list(ids),
                    list(types),
                    list(schemas),
                    "[" + ",".join(data) + "]",
                    metadata,
                ),
            ).one()
        except DBAPIError as error:
            diag = getattr(error.orig, "diag", None)
            if getattr(error.orig, "sqlstate", None) == "CA409" and diag is not None:
                detail = json.loads(diag.message_detail)
                raise conflict(detail["stream"], detail["expected"], detail["actual"]) from None
            raise
        return AppendOutcome(int(head), recorded_at.astimezone(UTC), list(versions))

    def json_as_text(self, column: ColumnElement[Any]) -> ColumnElement[str]:
        """jsonb cast to text on the server, so psycopg does not parse it."""
        return cast(column, Text)

    @contextlib.contextmanager
    def runner_lock(self, engine: Engine, name: str) -> Iterator[None]:
        """A session advisory lock on a connection held for the runner's lifetime."""
        key = advisory_key(f"catalogue.projection.{name}")
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_advisory_lock(%s)", (key,))
            connection.commit()
            try:
                yield
            finally:
                connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))
                connection.commit()


def dialect_for(engine: Engine) -> StoreDialect:
    """The store dialect of an engine."""
    if engine.dialect.name == "sqlite":
        return SQLiteDialect()
    if engine.dialect.name == "postgresql":
        return PostgresDialect()
    raise ValueError(f"unsupported database {engine.dialect.name!r}")
