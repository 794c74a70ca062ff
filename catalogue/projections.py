"""Projections: read models built from events, each with a checkpoint kept beside its rows."""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from catalogue.events import RecordedEvent
from catalogue.schema import projection_checkpoints


class Mode(enum.Enum):
    """When a projection sees events."""

    #: In the append transaction: readers see their own writes.
    INLINE = "inline"
    #: Later, by a runner tailing the store from its checkpoint.
    CATCH_UP = "catch-up"


class Status(enum.Enum):
    """Whether a projection is current or being rebuilt from position 0."""

    LIVE = "live"
    REBUILDING = "rebuilding"


class Projection(abc.ABC):
    """A read model: the event types it handles, its tables, and how it applies events."""

    name: ClassVar[str]
    mode: ClassVar[Mode]
    #: Event type names this projection applies; None means every type.
    handles: ClassVar[frozenset[str] | None]
    #: The tables this projection owns, parents first; a rebuild empties them.
    tables: ClassVar[Sequence[Table]]

    @abc.abstractmethod
    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Apply events (only of handled types, in global order) to the projection's tables."""

    def wants(self, type_name: str) -> bool:
        """Whether this projection applies events of `type_name`."""
        return self.handles is None or type_name in self.handles

    def clear(self, connection: Connection) -> None:
        """Empty the projection's tables before a rebuild."""
        for table in reversed(self.tables):
            connection.execute(delete(table))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a projection has got."""

    name: str
    position: int
    status: Status


def read_checkpoint(connection: Connection, name: str, *, for_update: bool = False) -> Checkpoint:
    """The projection's checkpoint; a projection never run is live at position 0."""
    query = select(projection_checkpoints.c.position, projection_checkpoints.c.status).where(
        projection_checkpoints.c.name == name
    )
    if for_update:
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        return Checkpoint(name, 0, Status.LIVE)
    return Checkpoint(name, row.position, Status(row.status))


def save_checkpoint(connection: Connection, name: str, position: int, status: Status) -> None:
    """Write the checkpoint in the caller's transaction, the one that wrote the rows."""
    row = {
        "name": name,
        "position": position,
        "status": status.value,
        "updated_at": datetime.now(UTC),
    }
    upsert(
        connection,
        projection_checkpoints,
        ["name"],
        [row],
        lambda new: {k: new[k] for k in ("position", "status", "updated_at")},
    )


def create_checkpoint(connection: Connection, name: str, position: int, status: Status) -> bool:
    """Create a checkpoint unless one exists (never overwrite: another process may already
    have applied events to it); return whether this call created it."""
    result = connection.execute(
        _insert_for(connection)(projection_checkpoints)
        .values(name=name, position=position, status=status.value, updated_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=[projection_checkpoints.c.name])
        .returning(projection_checkpoints.c.name)
    )
    # RETURNING, not rowcount: psycopg reports -1 for this statement.
    return result.first() is not None


def apply_inline(
    connection: Connection, projections: Sequence[Projection], recorded: Sequence[RecordedEvent]
) -> None:
    """Apply just-appended events to inline projections, in the append transaction.

    One statement finds the live projections and moves their checkpoints to the append's
    last position. Projections being rebuilt are skipped: their rebuild reaches these
    events itself and turns live under the append lock, so none is applied twice or missed.
    """
    names = {p.name for p in projections}
    live = _advance_live_checkpoints(connection, names, recorded[-1])
    if missing := names - live:
        # Never registered: it may start live only with the store's first events (else it
        # would miss the history, and waits for a rebuild). Another process may register it
        # at the same moment, so the row, not this guess, decides: insert if absent, then
        # advance whatever is live.
        status = Status.LIVE if recorded[0].position == 1 else Status.REBUILDING
        for name in sorted(missing):
            create_checkpoint(connection, name, 0, status)
        live |= _advance_live_checkpoints(connection, missing, recorded[-1])
    for projection in projections:
        if projection.name in live:
            projection.apply(connection, [e for e in recorded if projection.wants(e.type)])


def _advance_live_checkpoints(
    connection: Connection, names: set[str], last: RecordedEvent
) -> set[str]:
    """Move the live checkpoints among `names` to `last`; return the names moved."""
    return set(
        connection.execute(
            update(projection_checkpoints)
            .where(
                projection_checkpoints.c.name.in_(sorted(names)),
                projection_checkpoints.c.status == Status.LIVE.value,
            )
            .values(position=last.position, updated_at=last.recorded_at)
            .returning(projection_checkpoints.c.name)
        ).scalars()
    )


#: Below this many rows an INSERT is as quick as a COPY and simpler to read in a log.
COPY_THRESHOLD = 50


def bulk_insert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new rows: COPY on PostgreSQL (several times fewer round trips and parses than
    an executemany of INSERTs), an executemany elsewhere; in the caller's transaction."""
    if not rows:
        return
    columns = list(rows[0])
    if (
        connection.dialect.name != "postgresql"
        or len(rows) < COPY_THRESHOLD
        or any(len(row) != len(columns) for row in rows)
    ):
        connection.execute(insert(table), list(rows))
        return
    # COPY bypasses SQLAlchemy's statement, so apply each column type's bind processing
    # (UTC times, JSON) as an INSERT would.
    processors = [
        (index, processor)
        for index, name in enumerate(columns)
        if (processor := table.c[name].type._cached_bind_processor(connection.dialect))
    ]
    names = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in columns)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            values = [row[name] for name in columns]
            for index, processor in processors:
                if values[index] is not None:
                    values[index] = processor(values[index])
            copy.write_row(values)


def _insert_for(connection: Connection) -> Any:
    """The INSERT construct with ON CONFLICT support for the connection's database."""
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


def upsert(
    connection: Connection,
    table: Table,
    key: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    updates: Callable[[ReadOnlyColumnCollection[str, Any]], Mapping[str, Any]],
) -> None:
    """Insert rows, or update the existing row with the same key (SQLite and PostgreSQL)."""
    connection.execute(upsert_statement(connection, table, key, updates), list(rows))


def insert_missing(
    connection: Connection, table: Table, key: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert rows whose key is not there yet; leave existing rows as they are."""
    if rows:
        statement = _insert_for(connection)(table).on_conflict_do_nothing(index_elements=key)
        connection.execute(statement, list(rows))


def upsert_statement(
    connection: Connection,
    table: Table,
    key: Sequence[str],
    updates: Callable[[ReadOnlyColumnCollection[str, Any]], Mapping[str, Any]],
) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE for the connection's database."""
    statement = _insert_for(connection)(table)
    return statement.on_conflict_do_update(
        index_elements=list(key), set_=dict(updates(statement.excluded))
    )
