"""The SQL that differs between SQLite and PostgreSQL: locks, bulk insert, JSON as text."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Connection, Engine, Text, cast, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from catalogue.schema import events


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


APPEND_LOCK_KEY = advisory_key("catalogue.events.append")

EventRow = tuple[int, str, int, Any, str, int, str, str, Any]


class StoreDialect(Protocol):
    """What the event store and projection runners need to know about one database."""

    name: str

    def lock_for_append(self, connection: Connection) -> None:
        """Serialise appends until this transaction commits."""

    def event_id_param(self, event_id: UUID) -> Any:
        """The driver value for an event id."""

    def database_now(self, connection: Connection) -> tuple[Any, datetime]:
        """The database's clock now: the driver value to store, and as an aware datetime."""

    def insert_events(self, connection: Connection, rows: Sequence[EventRow]) -> None:
        """Insert (position, stream, version, event_id, type, schema_version, data, metadata,
        recorded_at) rows."""

    def data_as_text(self) -> ColumnElement[str]:
        """The payload column as JSON text, so pydantic can parse it in one step."""

    def runner_lock(self, engine: Engine, name: str) -> contextlib.AbstractContextManager[None]:
        """Block until this process is the only runner of projection `name`."""


class SQLiteDialect:
    """SQLite: one writer at a time already, via BEGIN IMMEDIATE."""

    name = "sqlite"
    _insert = (
        "INSERT INTO events (position, stream, version, event_id, type, schema_version, data,"
        " metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )

    def lock_for_append(self, connection: Connection) -> None:
        """Nothing to do: write transactions begin IMMEDIATE and hold the database lock."""

    def event_id_param(self, event_id: UUID) -> Any:
        """SQLAlchemy's Uuid type stores 32 hex digits on SQLite."""
        return event_id.hex

    def database_now(self, connection: Connection) -> tuple[Any, datetime]:
        """SQLite's clock to the millisecond, in the text form SQLAlchemy reads back."""
        text = connection.exec_driver_sql(
            "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
        ).scalar_one()
        return text, datetime.fromisoformat(text).replace(tzinfo=UTC)

    def insert_events(self, connection: Connection, rows: Sequence[EventRow]) -> None:
        """One prepared statement, executemany in the driver."""
        connection.exec_driver_sql(self._insert, list(rows))

    def data_as_text(self) -> ColumnElement[str]:
        """The column already holds text."""
        return type_coerce(events.c.data, Text)

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
    _insert = (
        "INSERT INTO events (position, stream, version, event_id, type, schema_version, data,"
        " metadata, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)"
    )

    def lock_for_append(self, connection: Connection) -> None:
        """Take the append lock; it is released only when the transaction ends.

        Why: positions are max + 1, assigned under this lock, and PostgreSQL makes a commit
        visible to other sessions *before* it releases the committing transaction's locks.
        So the next appender, whose next statement takes a fresh snapshot, always sees the
        previous append, and readers can never see position n + 1 committed while n is not:
        a reader tailing the global order misses nothing. A plain sequence would not do:
        sequence values are handed out at insert time and commit in any order.
        """
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))

    def event_id_param(self, event_id: UUID) -> Any:
        """psycopg adapts UUID natively."""
        return event_id

    def database_now(self, connection: Connection) -> tuple[Any, datetime]:
        """clock_timestamp(), read after the append lock, so times rise with positions."""
        now = connection.exec_driver_sql("SELECT clock_timestamp()").scalar_one()
        return now, now.astimezone(UTC)

    def insert_events(self, connection: Connection, rows: Sequence[EventRow]) -> None:
        """One prepared statement; psycopg 3 pipelines executemany."""
        connection.exec_driver_sql(self._insert, list(rows))

    def data_as_text(self) -> ColumnElement[str]:
        """jsonb rendered as text by the server, parsed once by pydantic."""
        return cast(events.c.data, Text)

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
