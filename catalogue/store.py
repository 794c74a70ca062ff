"""The append-only event store: append with expected versions, read, and tail."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, String, func, select, type_coerce
from sqlalchemy.exc import IntegrityError

from catalogue.database import read_transaction, single_statement, write_transaction
from catalogue.dialects import (
    EXPECT_ANY,
    EXPECT_EXISTS,
    EventRow,
    StoreDialect,
    dialect_for,
)
from catalogue.errors import DuplicateEventId, EventError, StoreError
from catalogue.events import (
    EncodedEvent,
    EventRegistry,
    Expect,
    Metadata,
    NewEvent,
    RawJSON,
    RecordedEvent,
    StreamAppend,
    dump_json,
    new_event_id_hexes,
    refuse_nul,
)
from catalogue.projections import Projection, apply_inline
from catalogue.schema import events

MAX_STREAM_LENGTH = 200
#: Versions are 32-bit in the events table.
MAX_VERSION = 2**31 - 1


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed: the events' positions and each stream's new version."""

    positions: list[int]
    versions: dict[str, int]
    #: True when every event id was already stored: nothing was written this time.
    replayed: bool = False

    @property
    def last_position(self) -> int:
        """The highest position of the append (0 for an empty append)."""
        return self.positions[-1] if self.positions else 0


@dataclass(frozen=True, slots=True)
class _Prepared:
    stream: str
    expected: int | Expect
    encoded: list[EncodedEvent]
    client_ids: bool


class EventStore:
    """Appends events atomically across streams and reads them back in global order."""

    def __init__(
        self,
        engine: Engine,
        registry: EventRegistry,
        inline_projections: Sequence[Projection] = (),
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.dialect: StoreDialect = dialect_for(engine)
        self.inline_projections = tuple(inline_projections)
        # Event ids and times skip SQLAlchemy's per-row result processing (`_decode_rows`).
        self._columns = (
            events.c.position,
            events.c.stream,
            events.c.version,
            type_coerce(events.c.event_id, String).label("event_id"),
            events.c.type,
            events.c.schema_version,
            self.dialect.json_as_text(events.c.data).label("data"),
            self.dialect.json_as_text(events.c.metadata).label("metadata"),
            type_coerce(events.c.recorded_at, String).label("recorded_at"),
        )

    # -- writing -----------------------------------------------------------------------

    def append(
        self, appends: Sequence[StreamAppend], metadata: Metadata | None = None
    ) -> AppendResult:
        """Append events to one or more streams in one transaction: all of them or none.

        Raises `ConcurrencyConflict` if a stream is not at its expected version. Appending
        event ids that are all stored already writes nothing and returns their positions.
        """
        prepared = self._prepare(appends)
        if not any(p.encoded for p in prepared):
            # Nothing to write. (A stream given with no events is still checked against its
            # expected version when other streams of the append carry events: a guard.)
            return AppendResult([], {})
        metadata = metadata or Metadata()
        meta_json = RawJSON(dump_json(metadata.to_json()))
        refuse_nul(meta_json, "event metadata")
        types = {e.type for p in prepared for e in p.encoded}
        inline = [p for p in self.inline_projections if any(p.wants(t) for t in types)]
        client_ids = any(p.client_ids for p in prepared)
        if self.dialect.atomic_append and not inline and not client_ids:
            # Nothing else to do in the transaction: the append statement commits alone,
            # saving the BEGIN and COMMIT round trips.
            with single_statement(self.engine) as connection:
                return self._insert(connection, prepared, meta_json, metadata, inline)
        with write_transaction(self.engine) as connection:
            if client_ids:
                # The replay check must see every committed append, so it runs under the
                # lock (which the dialect's append takes again, harmlessly).
                self.dialect.lock_for_append(connection)
                replay = self._find_replay(connection, prepared)
                if replay is not None:
                    return replay
            return self._insert(connection, prepared, meta_json, metadata, inline)

    def _insert(
        self,
        connection: Connection,
        prepared: list[_Prepared],
        meta_json: RawJSON,
        metadata: Metadata,
        inline: Sequence[Projection],
    ) -> AppendResult:
        streams = [p.stream for p in prepared]
        rows: list[EventRow] = [
            (index, e.event_id, e.type, e.schema_version, e.data)
            for index, p in enumerate(prepared)
            for e in p.encoded
        ]
        expected = [_expected_code(p.expected) for p in prepared]
        try:
            outcome = self.dialect.append(connection, streams, expected, rows, meta_json)
        except IntegrityError as error:
            # Unreachable while every writer takes the append lock; kept as a clear error
            # for a writer that bypasses it.
            raise StoreError(f"append collided with a writer outside the lock: {error}") from None
        first = outcome.head + 1
        versions = {
            p.stream: before + len(p.encoded)
            for p, before in zip(prepared, outcome.versions, strict=True)
        }
        if inline:
            recorded = [
                RecordedEvent(
                    position,
                    p.stream,
                    version,
                    e.event_id,
                    e.type,
                    e.schema_version,
                    e.payload,
                    metadata,
                    outcome.recorded_at,
                )
                for position, (p, version, e) in enumerate(
                    (
                        (p, version, e)
                        for p, before in zip(prepared, outcome.versions, strict=True)
                        for version, e in enumerate(p.encoded, before + 1)
                    ),
                    first,
                )
            ]
            apply_inline(connection, inline, recorded)
        return AppendResult(list(range(first, first + len(rows))), versions)

    def _prepare(self, appends: Sequence[StreamAppend]) -> list[_Prepared]:
        auto_ids = iter(
            new_event_id_hexes(
                sum(1 for a in appends for e in a.events if not isinstance(e, NewEvent))
            )
        )
        prepared: list[_Prepared] = []
        seen_streams: set[str] = set()
        client_ids: set[UUID] = set()
        encode = self.registry.encode
        for append in appends:
            stream = append.stream
            if not isinstance(stream, str) or not stream or len(stream) > MAX_STREAM_LENGTH:
                raise EventError(
                    f"stream name must be 1 to {MAX_STREAM_LENGTH} characters, got {stream!r}"
                )
            if not stream.isprintable():
                raise EventError(f"stream name {stream!r} has control or unpaired characters")
            if stream in seen_streams:
                raise EventError(f"stream {stream!r} appears twice in one append")
            seen_streams.add(stream)
            expected = append.expected_version
            if not isinstance(expected, Expect) and (
                not isinstance(expected, int)
                or isinstance(expected, bool)
                or not 0 <= expected <= MAX_VERSION
            ):
                raise EventError(
                    f"expected version of {stream!r} must be 0 to {MAX_VERSION}, got {expected!r}"
                )
            has_client_ids = False
            encoded: list[EncodedEvent] = []
            for item in append.events:
                if isinstance(item, NewEvent):
                    has_client_ids = True
                    if item.event_id in client_ids:
                        raise EventError(f"event id {item.event_id} appears twice in one append")
                    client_ids.add(item.event_id)
                    payload, event_id = item.payload, item.event_id.hex
                else:
                    payload, event_id = item, next(auto_ids)
                encoded.append(encode(payload, event_id))
            prepared.append(_Prepared(stream, expected, encoded, has_client_ids))
        return prepared

    def _find_replay(
        self, connection: Connection, prepared: list[_Prepared]
    ) -> AppendResult | None:
        ids = {e.event_id: UUID(hex=e.event_id) for p in prepared for e in p.encoded}
        found = {
            row.event_id: row
            for row in connection.execute(
                select(
                    events.c.event_id, events.c.position, events.c.stream, events.c.version
                ).where(events.c.event_id.in_(ids.values()))
            )
        }
        if not found:
            return None
        if len(found) < len(ids):
            raise DuplicateEventId(
                f"{len(found)} of {len(ids)} event ids are stored already "
                f"(first: {next(iter(found))}); an append is replayed whole or not at all"
            )
        versions: dict[str, int] = {}
        for p in prepared:
            rows = [found[ids[e.event_id]] for e in p.encoded]
            for event_id, row in zip(p.encoded, rows, strict=True):
                if row.stream != p.stream:
                    raise DuplicateEventId(
                        f"event id {ids[event_id.event_id]} is stored in stream "
                        f"{row.stream!r}, not {p.stream!r}"
                    )
            versions[p.stream] = max(row.version for row in rows)
        return AppendResult([found[i].position for i in ids.values()], versions, replayed=True)

    # -- reading -----------------------------------------------------------------------

    def stream_version(self, stream: str) -> int:
        """The stream's current version (0 when it does not exist)."""
        query = select(func.coalesce(func.max(events.c.version), 0)).where(
            events.c.stream == stream
        )
        with read_transaction(self.engine) as connection:
            return int(connection.execute(query).scalar_one())

    def head_position(self, connection: Connection | None = None) -> int:
        """The highest committed position (0 for an empty store)."""
        query = select(func.coalesce(func.max(events.c.position), 0))
        with self._reading(connection) as reader:
            return int(reader.execute(query).scalar_one())

    def read_stream(
        self,
        stream: str,
        *,
        to_version: int | None = None,
        as_of: datetime | None = None,
        after_version: int = 0,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """A stream's events in version order: after a version, up to a version or a time."""
        query = select(*self._columns).where(events.c.stream == stream)
        if after_version:
            query = query.where(events.c.version > after_version)
        if limit is not None:
            query = query.limit(limit)
        if to_version is not None:
            query = query.where(events.c.version <= to_version)
        if as_of is not None:
            query = query.where(events.c.recorded_at <= as_of)
        with read_transaction(self.engine) as connection:
            rows = connection.execute(query.order_by(events.c.version)).all()
        return self._decode_rows(rows)

    def read_all(
        self,
        after: int = 0,
        *,
        limit: int = 1000,
        types: Collection[str] | None = None,
        up_to: int | None = None,
        connection: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Up to `limit` events after `after`, in global order, optionally of some types."""
        query = select(*self._columns).where(events.c.position > after)
        if up_to is not None:
            query = query.where(events.c.position <= up_to)
        if types is not None:
            query = query.where(events.c.type.in_(sorted(types)))
        query = query.order_by(events.c.position).limit(limit)
        with self._reading(connection) as reader:
            rows = reader.execute(query).all()
        return self._decode_rows(rows)

    def iter_all(
        self, after: int = 0, *, batch_size: int = 1000, types: Collection[str] | None = None
    ) -> Iterator[list[RecordedEvent]]:
        """Every event after `after` up to the head at the time of the call, in batches."""
        head = self.head_position()
        while after < head:
            batch = self.read_all(after, limit=batch_size, types=types, up_to=head)
            if not batch:
                return
            yield batch
            after = batch[-1].position

    def follow(
        self,
        after: int = 0,
        *,
        batch_size: int = 1000,
        poll_interval: float = 0.2,
        stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[list[RecordedEvent]]:
        """Tail the store from `after`, yielding batches as they commit, until `stop()`."""
        while not stop():
            batch = self.read_all(after, limit=batch_size)
            if batch:
                yield batch
                after = batch[-1].position
            else:
                time.sleep(poll_interval)

    @contextlib.contextmanager
    def _reading(self, connection: Connection | None) -> Iterator[Connection]:
        """The caller's connection (its transaction, its snapshot), or a read transaction."""
        if connection is not None:
            yield connection
        else:
            with read_transaction(self.engine) as own:
                yield own

    def _decode_rows(self, rows: Sequence[Sequence[Any]]) -> list[RecordedEvent]:
        """Build events from rows; metadata and times repeat within an append, so each
        distinct value is parsed once per batch."""
        metadata_cache: dict[str, Metadata] = {}
        time_cache: dict[Any, datetime] = {}
        stored = RecordedEvent.stored
        registry = self.registry
        events_out = []
        for position, stream, version, event_id, type_, schema, data, meta, at in rows:
            metadata = metadata_cache.get(meta)
            if metadata is None:
                metadata = metadata_cache[meta] = Metadata.from_json(json.loads(meta))
            recorded_at = time_cache.get(at)
            if recorded_at is None:
                recorded_at = time_cache[at] = _as_utc(at)
            events_out.append(
                stored(
                    registry,
                    position,
                    stream,
                    version,
                    event_id,
                    type_,
                    schema,
                    data,
                    metadata,
                    recorded_at,
                )
            )
        return events_out


def _as_utc(value: str | datetime) -> datetime:
    # psycopg returns aware datetimes; SQLite stores UTC text without a zone.
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _expected_code(expected: int | Expect) -> int:
    if expected is Expect.ANY:
        return EXPECT_ANY
    if expected is Expect.EXISTS:
        return EXPECT_EXISTS
    return expected
