"""The event store's guarantees, the same cases on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from catalogue.errors import (
    ConcurrencyConflict,
    DuplicateEventId,
    EventError,
    EventSerializationError,
    EventValidationError,
    UnknownEventType,
)
from catalogue.events import (
    NO_STREAM,
    Event,
    EventRegistry,
    Expect,
    Metadata,
    NewEvent,
    StreamAppend,
)
from catalogue.schema import events
from catalogue.store import EventStore
from tests.sample_domain import (
    Anything,
    InlineThingNames,
    ThingCounted,
    ThingCreated,
    ThingRenamed,
    ThingRenamedV1,
    make_store,
    sample_registry,
    upcast_renamed_v1,
)


@pytest.fixture(params=["with-inline-projections", "bare"])
def new_store(request):
    """Every case runs with an inline projection in the append transaction and without
    (on PostgreSQL the bare append is a single autocommit statement)."""
    if request.param == "bare":
        return lambda engine: EventStore(engine, sample_registry())
    return make_store


def count_events(store: EventStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


def test_append_and_read_back_in_order(new_store, engine):
    store = new_store(engine)
    result = store.append(
        [StreamAppend("thing-1", [ThingCreated(name="a"), ThingCounted(amount=3)], NO_STREAM)],
        Metadata(actor="alice", source="api", correlation_id="c-1"),
    )
    assert result.positions == [1, 2]
    assert result.versions == {"thing-1": 2}
    assert not result.replayed
    stream = store.read_stream("thing-1")
    assert [(e.position, e.version, e.type) for e in stream] == [
        (1, 1, "ThingCreated"),
        (2, 2, "ThingCounted"),
    ]
    assert stream[0].payload == ThingCreated(name="a")
    assert stream[1].metadata == Metadata(actor="alice", source="api", correlation_id="c-1")
    assert stream[0].recorded_at.tzinfo is not None
    assert abs(stream[0].recorded_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert store.stream_version("thing-1") == 2
    assert store.stream_version("thing-404") == 0


def test_positions_are_gap_free_across_streams_and_appends(new_store, engine):
    store = new_store(engine)
    store.append([StreamAppend("thing-1", [ThingCreated(name="a")], NO_STREAM)])
    store.append(
        [
            StreamAppend("thing-2", [ThingCreated(name="b")]),
            StreamAppend("thing-1", [ThingCounted(amount=1)]),
        ]
    )
    positions = [e.position for e in store.read_all(0)]
    assert positions == [1, 2, 3]
    assert store.head_position() == 3


def test_stale_expected_version_conflicts_and_writes_nothing(new_store, engine):
    store = new_store(engine)
    store.append(
        [StreamAppend("thing-1", [ThingCreated(name="a"), ThingCounted(amount=1)], NO_STREAM)]
    )
    with pytest.raises(ConcurrencyConflict) as raised:
        store.append([StreamAppend("thing-1", [ThingCounted(amount=2)], 1)])
    assert raised.value.stream == "thing-1"
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert "'thing-1' is at version 2" in raised.value.detail
    assert "expected 1" in raised.value.detail
    assert count_events(store) == 2


@pytest.mark.parametrize(
    ("expected", "exists", "ok"),
    [
        (NO_STREAM, False, True),
        (NO_STREAM, True, False),
        (Expect.EXISTS, False, False),
        (Expect.EXISTS, True, True),
        (Expect.ANY, False, True),
        (Expect.ANY, True, True),
        (1, True, True),
        (3, True, False),
    ],
)
def test_expected_version_rules(new_store, engine, expected, exists, ok):
    store = new_store(engine)
    if exists:
        store.append([StreamAppend("thing-1", [ThingCreated(name="a")])])
    before = count_events(store)
    append = [StreamAppend("thing-1", [ThingCounted(amount=1)], expected)]
    if ok:
        store.append(append)
        assert count_events(store) == before + 1
    else:
        with pytest.raises(ConcurrencyConflict):
            store.append(append)
        assert count_events(store) == before


def test_multi_stream_append_is_all_or_nothing(new_store, engine):
    store = new_store(engine)
    store.append([StreamAppend("thing-2", [ThingCreated(name="b")], NO_STREAM)])
    with pytest.raises(ConcurrencyConflict, match="thing-2"):
        store.append(
            [
                StreamAppend("thing-1", [ThingCreated(name="a")], NO_STREAM),
                StreamAppend("thing-2", [ThingCreated(name="again")], NO_STREAM),
            ]
        )
    assert store.read_stream("thing-1") == []
    assert count_events(store) == 1


def test_batch_with_one_unserialisable_event_leaves_no_trace(new_store, engine):
    store = new_store(engine)
    with pytest.raises(EventSerializationError):
        store.append(
            [
                StreamAppend("thing-1", [ThingCreated(name="a")]),
                StreamAppend("thing-2", [ThingCreated(name="b"), Anything(value=object())]),
            ]
        )
    assert count_events(store) == 0
    assert store.read_stream("thing-1") == []


def test_unknown_event_type_is_refused_before_writing(new_store, engine):
    class Stranger(Event):
        """Not registered."""

        x: int

    store = new_store(engine)
    with pytest.raises(UnknownEventType, match="Stranger"):
        store.append([StreamAppend("thing-1", [ThingCreated(name="a"), Stranger(x=1)])])
    assert count_events(store) == 0


@pytest.mark.parametrize("stream", ["", "x" * 201])
def test_bad_stream_names_are_refused(new_store, engine, stream):
    with pytest.raises(EventError, match="stream name"):
        new_store(engine).append([StreamAppend(stream, [ThingCreated(name="a")])])


def test_negative_expected_version_is_refused(new_store, engine):
    with pytest.raises(EventError, match="expected version"):
        new_store(engine).append([StreamAppend("thing-1", [ThingCreated(name="a")], -1)])


def test_same_event_id_twice_is_one_event_with_the_original_position(new_store, engine):
    store = new_store(engine)
    created, counted = uuid4(), uuid4()
    batch = [
        StreamAppend(
            "thing-1",
            [NewEvent(ThingCreated(name="a"), created), NewEvent(ThingCounted(amount=1), counted)],
            NO_STREAM,
        )
    ]
    first = store.append(batch)
    store.append([StreamAppend("thing-2", [ThingCreated(name="b")])])
    again = store.append(batch)  # a retry: the expected version is stale, but it is a replay
    assert again.replayed
    assert again.positions == first.positions == [1, 2]
    assert again.versions == {"thing-1": 2}
    assert count_events(store) == 3


def test_partly_stored_event_ids_are_refused_whole(new_store, engine):
    store = new_store(engine)
    known = uuid4()
    store.append([StreamAppend("thing-1", [NewEvent(ThingCreated(name="a"), known)])])
    with pytest.raises(DuplicateEventId, match="1 of 2 event ids"):
        store.append(
            [
                StreamAppend(
                    "thing-1", [NewEvent(ThingCounted(amount=1), known), ThingCounted(amount=2)]
                )
            ]
        )
    assert count_events(store) == 1


def test_event_id_reused_in_another_stream_is_refused(new_store, engine):
    store = new_store(engine)
    known = uuid4()
    store.append([StreamAppend("thing-1", [NewEvent(ThingCreated(name="a"), known)])])
    with pytest.raises(DuplicateEventId, match="thing-1"):
        store.append([StreamAppend("thing-2", [NewEvent(ThingCreated(name="a"), known)])])


def test_duplicate_id_or_stream_inside_one_append_is_refused(new_store, engine):
    store = new_store(engine)
    same = uuid4()
    with pytest.raises(EventError, match="twice"):
        store.append(
            [
                StreamAppend(
                    "t-1",
                    [
                        NewEvent(ThingCreated(name="a"), same),
                        NewEvent(ThingCounted(amount=1), same),
                    ],
                )
            ]
        )
    with pytest.raises(EventError, match="twice"):
        store.append(
            [
                StreamAppend("t-1", [ThingCreated(name="a")]),
                StreamAppend("t-1", [ThingCounted(amount=1)]),
            ]
        )
    assert count_events(store) == 0


def test_stored_v1_payload_is_read_back_upcast_to_v2(new_store, engine):
    old_code = EventStore(engine, EventRegistry([ThingCreated, ThingRenamedV1]))
    old_code.append([StreamAppend("thing-1", [ThingCreated(name="a"), ThingRenamedV1(name="b")])])
    new_code = new_store(engine)
    new_code.append([StreamAppend("thing-1", [ThingRenamed(name="c", reason="typo")], 2)])
    renamed = [e for e in new_code.read_stream("thing-1") if e.type == "ThingRenamed"]
    assert [(e.schema_version, e.payload) for e in renamed] == [
        (1, ThingRenamed(name="b", reason="unknown (v1)")),
        (2, ThingRenamed(name="c", reason="typo")),
    ]
    assert upcast_renamed_v1({"name": "b"}) == {"name": "b", "reason": "unknown (v1)"}


def test_reading_an_unregistered_stored_type_is_a_clear_error(new_store, engine):
    new_store(engine).append([StreamAppend("thing-1", [Anything(value=1)])])
    reader = EventStore(engine, EventRegistry([ThingCreated]))
    with pytest.raises(UnknownEventType, match="Anything"):
        reader.read_stream("thing-1")


def test_read_stream_up_to_a_version_or_a_time(new_store, engine):
    store = new_store(engine)
    store.append([StreamAppend("thing-1", [ThingCreated(name="a"), ThingCounted(amount=1)])])
    cut = store.read_stream("thing-1")[-1].recorded_at
    store.append([StreamAppend("thing-1", [ThingRenamed(name="b", reason="r")])])
    assert [e.version for e in store.read_stream("thing-1", to_version=2)] == [1, 2]
    assert [e.version for e in store.read_stream("thing-1", as_of=cut)] == [1, 2]
    assert store.read_stream("thing-1", as_of=cut - timedelta(days=1)) == []


def test_read_all_in_batches_filtered_by_type(new_store, engine):
    store = new_store(engine)
    for i in range(5):
        store.append(
            [StreamAppend(f"thing-{i}", [ThingCreated(name=str(i)), ThingCounted(amount=i)])]
        )
    assert [e.position for e in store.read_all(3, limit=4)] == [4, 5, 6, 7]
    counted = store.read_all(0, types={"ThingCounted"})
    assert [e.payload for e in counted] == [ThingCounted(amount=i) for i in range(5)]
    batches = list(store.iter_all(0, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert [e.position for b in batches for e in b] == list(range(1, 11))


def test_follow_yields_new_events_then_stops(new_store, engine):
    store = new_store(engine)
    store.append([StreamAppend("thing-1", [ThingCreated(name="a")])])
    seen: list[int] = []

    def enough() -> bool:
        return len(seen) >= 2

    for batch in store.follow(0, poll_interval=0.01, stop=enough):
        seen += [e.position for e in batch]
        if len(seen) == 1:
            store.append([StreamAppend("thing-1", [ThingCounted(amount=1)])])
    assert seen == [1, 2]


def test_empty_append_writes_nothing(new_store, engine):
    store = new_store(engine)
    assert store.append([]).positions == []
    assert store.append([StreamAppend("thing-1", [])]).last_position == 0
    assert count_events(store) == 0


def test_a_stored_payload_that_no_longer_validates_fails_when_used(new_store, engine):
    class OldCounted(Event):
        """An earlier ThingCounted whose amount was free text."""

        type_name = "ThingCounted"
        amount: str

    EventStore(engine, EventRegistry([OldCounted])).append(
        [StreamAppend("thing-1", [OldCounted(amount="lots")])]
    )
    [event] = new_store(engine).read_stream("thing-1")
    assert (event.type, event.version) == ("ThingCounted", 1)  # readable without the payload
    with pytest.raises(EventValidationError, match="ThingCounted v1 does not match"):
        _ = event.payload


def test_events_read_back_equal_the_ones_applied_inline(engine):
    seen = []

    class Spy(InlineThingNames):
        def apply(self, connection, batch):
            seen.extend(batch)

    store = make_store(engine, Spy())
    store.append([StreamAppend("thing-1", [ThingCreated(name="a"), ThingCounted(amount=2)])])
    assert store.read_all(0) == seen
    assert [e.event_id.version for e in seen] == [7, 7]


@pytest.mark.parametrize("stream", ["thing-\x002", "thing\n1", "thing-\ud800"])
def test_stream_names_with_control_or_unpaired_characters_are_refused(new_store, engine, stream):
    store = new_store(engine)
    with pytest.raises(EventError, match="control or unpaired"):
        store.append([StreamAppend(stream, [ThingCreated(name="a")])])
    assert count_events(store) == 0


def test_nul_characters_are_refused_in_payloads_and_metadata(new_store, engine):
    store = new_store(engine)
    with pytest.raises(EventSerializationError, match="ThingCreated payload contains a NUL"):
        store.append([StreamAppend("thing-1", [ThingCreated(name="a\x00b")])])
    with pytest.raises(EventSerializationError, match="metadata contains a NUL"):
        store.append([StreamAppend("thing-1", [ThingCreated(name="a")])], Metadata(actor="x\x00"))
    assert count_events(store) == 0
    # A literal backslash-u0000 is just text, and round-trips.
    store.append([StreamAppend("thing-1", [ThingCreated(name="a\\u0000b")])])
    assert store.read_stream("thing-1")[0].payload == ThingCreated(name="a\\u0000b")


def test_expected_version_beyond_32_bits_is_refused(new_store, engine):
    with pytest.raises(EventError, match="must be 0 to 2147483647"):
        new_store(engine).append([StreamAppend("thing-1", [ThingCreated(name="a")], 2**63)])


def test_a_stream_without_events_guards_the_append(new_store, engine):
    store = new_store(engine)
    store.append([StreamAppend("guard", [ThingCreated(name="g")])])
    with pytest.raises(ConcurrencyConflict, match="'guard' is at version 1"):
        store.append(
            [StreamAppend("guard", [], 7), StreamAppend("thing-1", [ThingCreated(name="a")])]
        )
    assert count_events(store) == 1
    result = store.append(
        [StreamAppend("guard", [], 1), StreamAppend("thing-1", [ThingCreated(name="a")])]
    )
    assert result.versions == {"guard": 1, "thing-1": 1}
    assert count_events(store) == 2
