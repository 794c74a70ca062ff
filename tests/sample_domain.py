"""A small test domain: events, upcasters and projections with real tables."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, String, Table, select

from catalogue.events import Event, EventRegistry, JSONDict, RecordedEvent
from catalogue.projections import Mode, Projection
from catalogue.store import EventStore
from catalogue.streams import StreamSummaries

test_metadata = MetaData()

applied_events = Table(
    "test_applied_events",
    test_metadata,
    # The primary key makes a second application of an event fail loudly.
    Column("position", BigInteger, primary_key=True),
    Column("stream", String(200), nullable=False),
    Column("type", String(100), nullable=False),
)

thing_names = Table(
    "test_thing_names",
    test_metadata,
    Column("stream", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("renames", Integer, nullable=False),
    Column("total", Integer, nullable=False),
)


class ThingCreated(Event):
    """A thing came into being."""

    name: str


class ThingRenamed(Event):
    """v2 added the reason."""

    schema_version = 2
    name: str
    reason: str


class ThingRenamedV1(Event):
    """What ThingRenamed looked like before v2 (written by old code)."""

    type_name = "ThingRenamed"
    name: str


class ThingCounted(Event):
    """A number was added to the thing."""

    amount: int


class ThingMeasured(Event):
    """A float reading."""

    value: float


class Anything(Event):
    """A payload with a free-form field, to test serialisation failures."""

    value: Any


def upcast_renamed_v1(data: JSONDict) -> JSONDict:
    """v1 -> v2: old renames had no reason."""
    return {**data, "reason": "unknown (v1)"}


def sample_registry() -> EventRegistry:
    """The registry of the test domain, at its current versions."""
    return EventRegistry(
        [ThingCreated, ThingRenamed, ThingCounted, ThingMeasured, Anything],
        {("ThingRenamed", 1): upcast_renamed_v1},
    )


class AppliedEvents(Projection):
    """Catch-up: one row per event applied; a duplicate application raises."""

    name = "test_applied_events"
    mode = Mode.CATCH_UP
    handles = None
    tables = (applied_events,)

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Insert one row per event."""
        connection.execute(
            applied_events.insert(),
            [{"position": e.position, "stream": e.stream, "type": e.type} for e in batch],
        )


class ThingNames(Projection):
    """Catch-up by default: current name, rename count and running total per thing."""

    name = "test_thing_names"
    mode = Mode.CATCH_UP
    handles = frozenset({"ThingCreated", "ThingRenamed", "ThingCounted"})
    tables = (thing_names,)

    def __init__(self, delay_per_batch: float = 0.0) -> None:
        self.delay_per_batch = delay_per_batch

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Apply each event with its own statement, as a simple projection would."""
        for event in batch:
            payload = event.payload
            if isinstance(payload, ThingCreated):
                connection.execute(
                    thing_names.insert().values(
                        stream=event.stream, name=payload.name, renames=0, total=0
                    )
                )
            elif isinstance(payload, ThingRenamed):
                connection.execute(
                    thing_names.update()
                    .where(thing_names.c.stream == event.stream)
                    .values(name=payload.name, renames=thing_names.c.renames + 1)
                )
            elif isinstance(payload, ThingCounted):
                connection.execute(
                    thing_names.update()
                    .where(thing_names.c.stream == event.stream)
                    .values(total=thing_names.c.total + payload.amount)
                )
        if self.delay_per_batch:
            time.sleep(self.delay_per_batch)


class InlineThingNames(ThingNames):
    """The same read model, applied in the append transaction."""

    name = "test_thing_names_inline"
    mode = Mode.INLINE


def table_rows(store: EventStore, table: Table) -> list[tuple[Any, ...]]:
    """Every row of a table, sorted, for comparing read models."""
    with store.engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(select(table)))


def make_store(engine: Any, *inline: Projection) -> EventStore:
    """A store of the test domain with the stream summaries and the given inline projections."""
    return EventStore(engine, sample_registry(), [StreamSummaries(), *inline])
