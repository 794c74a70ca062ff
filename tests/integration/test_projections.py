"""Projections: inline and catch-up application, checkpoints, rebuild, runner exclusivity."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from catalogue.errors import ProjectionError
from catalogue.events import StreamAppend
from catalogue.projections import (
    Checkpoint,
    Mode,
    Status,
    create_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from catalogue.runner import (
    catch_up,
    find_projection,
    projection_status,
    rebuild,
    register_checkpoints,
    run_until_stopped,
)
from catalogue.schema import stream_summaries
from catalogue.streams import StreamSummaries
from tests.sample_domain import (
    AppliedEvents,
    InlineThingNames,
    ThingCounted,
    ThingCreated,
    ThingNames,
    ThingRenamed,
    applied_events,
    make_store,
    table_rows,
    thing_names,
)


def write_history(store, things: int = 5) -> None:
    for i in range(things):
        store.append(
            [StreamAppend(f"thing-{i}", [ThingCreated(name=f"n{i}"), ThingCounted(amount=i)])]
        )
        store.append([StreamAppend(f"thing-{i}", [ThingRenamed(name=f"m{i}", reason="r")])])


def test_inline_projection_reads_its_own_writes(engine):
    store = make_store(engine, InlineThingNames())
    register_checkpoints(store, store.inline_projections)
    store.append([StreamAppend("thing-1", [ThingCreated(name="a"), ThingCounted(amount=5)])])
    assert table_rows(store, thing_names) == [("thing-1", "a", 0, 5)]
    summaries = table_rows(store, stream_summaries)
    assert [(row[0], row[2], row[3]) for row in summaries] == [("thing-1", 2, 2)]


def test_inline_projection_failure_rolls_back_the_append(engine):
    store = make_store(engine, InlineThingNames())
    register_checkpoints(store, store.inline_projections)
    store.append([StreamAppend("thing-1", [ThingCreated(name="a")])])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        # A second creation of the same row violates the read model's primary key.
        store.append([StreamAppend("thing-1", [ThingCreated(name="again")])])
    assert [e.version for e in store.read_stream("thing-1")] == [1]


def test_catch_up_applies_each_event_once_and_checkpoints(engine):
    store = make_store(engine)
    projection = AppliedEvents()
    register_checkpoints(store, [projection])
    write_history(store, 3)
    assert catch_up(store, projection, batch_size=4) == 9
    assert catch_up(store, projection, batch_size=4) == 0
    with engine.connect() as connection:
        positions = list(connection.execute(select(applied_events.c.position)).scalars())
        assert read_checkpoint(connection, projection.name).position == 9
    assert sorted(positions) == list(range(1, 10))


def test_catch_up_skips_unhandled_types_but_advances_checkpoint(engine):
    store = make_store(engine)
    projection = ThingNames()
    store.append([StreamAppend("other-1", [ThingCreated(name="a")])])
    store.append([StreamAppend("thing-1", [ThingCreated(name="a")])])
    from tests.sample_domain import Anything

    store.append([StreamAppend("x-1", [Anything(value=1), Anything(value=2)])])
    catch_up(store, projection, batch_size=10)
    with engine.connect() as connection:
        assert read_checkpoint(connection, projection.name).position == 4
    assert table_rows(store, thing_names) == [("other-1", "a", 0, 0), ("thing-1", "a", 0, 0)]


def test_rebuild_equals_incremental_for_inline_and_catch_up(engine):
    inline = InlineThingNames()
    store = make_store(engine, inline)
    summaries = store.inline_projections[0]
    register_checkpoints(store, [*store.inline_projections, AppliedEvents()])
    write_history(store, 7)
    catch_up(store, AppliedEvents())
    before = {t: table_rows(store, t) for t in (thing_names, stream_summaries, applied_events)}
    for projection in (inline, summaries, AppliedEvents()):
        assert rebuild(store, projection, batch_size=3, restart=True) == 21
    after = {t: table_rows(store, t) for t in (thing_names, stream_summaries, applied_events)}
    assert after == before
    statuses = {s.name: s for s in projection_status(store, [inline, summaries])}
    assert all(s.status is Status.LIVE and s.lag == 0 for s in statuses.values())


def test_appends_skip_an_inline_projection_while_it_is_rebuilding(engine):
    inline = InlineThingNames()
    store = make_store(engine, inline)
    register_checkpoints(store, store.inline_projections)
    store.append([StreamAppend("thing-1", [ThingCreated(name="a")])])
    # A rebuild that stopped after clearing: appends must leave the projection alone.
    with engine.begin() as connection:
        inline.clear(connection)
        from catalogue.projections import save_checkpoint

        save_checkpoint(connection, inline.name, 0, Status.REBUILDING)
    store.append([StreamAppend("thing-1", [ThingCounted(amount=2)])])
    assert table_rows(store, thing_names) == []
    rebuild(store, inline)  # resumes, catches up, turns live under the append lock
    store.append([StreamAppend("thing-1", [ThingCounted(amount=3)])])
    assert table_rows(store, thing_names) == [("thing-1", "a", 0, 5)]


def test_new_inline_projection_on_a_store_with_history_waits_for_a_rebuild(engine):
    store = make_store(engine)
    write_history(store, 2)
    late = InlineThingNames()
    assert register_checkpoints(store, [late]) == [late.name]
    with engine.connect() as connection:
        assert read_checkpoint(connection, late.name).status is Status.REBUILDING
    rebuild(store, late)
    assert len(table_rows(store, thing_names)) == 2
    assert register_checkpoints(store, [late]) == []


def test_unknown_projection_name_lists_the_known_ones():
    with pytest.raises(ProjectionError, match="known: stream_summaries"):
        find_projection([StreamSummaries()], "nope")


def test_runner_refuses_inline_projection(engine):
    store = make_store(engine)
    with pytest.raises(ProjectionError, match="inline"):
        run_until_stopped(store, StreamSummaries(), threading.Event())


def test_second_runner_waits_for_the_first(engine):
    store = make_store(engine)
    projection = AppliedEvents()
    register_checkpoints(store, [projection])
    write_history(store, 2)
    stop = threading.Event()
    with store.dialect.runner_lock(engine, projection.name):
        second = threading.Thread(
            target=run_until_stopped,
            args=(store, projection, stop),
            kwargs={"poll_interval": 0.01},
        )
        second.start()
        time.sleep(0.5)
        with engine.connect() as connection:
            assert read_checkpoint(connection, projection.name).position == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if read_checkpoint(connection, projection.name).position == 6:
                break
        time.sleep(0.05)
    stop.set()
    second.join(timeout=10)
    assert not second.is_alive()
    assert [row[0] for row in table_rows(store, applied_events)] == list(range(1, 7))


def test_modes_are_declared():
    assert StreamSummaries.mode is Mode.INLINE
    assert AppliedEvents.mode is Mode.CATCH_UP


def test_creating_a_checkpoint_never_moves_an_existing_one(engine):
    with engine.begin() as connection:
        assert create_checkpoint(connection, "p", 0, Status.LIVE)
        save_checkpoint(connection, "p", 5, Status.LIVE)
        # A second worker registering the same projection must not reset it to 0.
        assert not create_checkpoint(connection, "p", 0, Status.LIVE)
        assert read_checkpoint(connection, "p").position == 5


def test_unregistered_inline_projection_waits_for_a_rebuild_when_history_exists(engine):
    make_store(engine).append([StreamAppend("thing-1", [ThingCreated(name="a")])])
    late = InlineThingNames()
    store = make_store(engine, late)  # nobody ran register_checkpoints
    store.append([StreamAppend("thing-2", [ThingCreated(name="b")])])
    assert table_rows(store, thing_names) == []
    assert register_checkpoints(store, [late]) == [late.name]
    rebuild(store, late)
    assert [row[0] for row in table_rows(store, thing_names)] == ["thing-1", "thing-2"]


def test_unregistered_inline_projection_starts_live_on_an_empty_store(engine):
    late = InlineThingNames()
    store = make_store(engine, late)
    store.append([StreamAppend("thing-1", [ThingCreated(name="a")])])
    assert table_rows(store, thing_names) == [("thing-1", "a", 0, 0)]
    with engine.connect() as connection:
        assert read_checkpoint(connection, late.name) == Checkpoint(late.name, 1, Status.LIVE)


class FailsOnce(AppliedEvents):
    """Raises on its first batch, as a projection would during a database restart."""

    def __init__(self) -> None:
        self.failed = False

    def apply(self, connection, batch):
        if not self.failed:
            self.failed = True
            raise RuntimeError("database went away")
        super().apply(connection, batch)


def test_a_failing_batch_does_not_end_the_runner(engine):
    store = make_store(engine)
    projection = FailsOnce()
    write_history(store, 2)
    stop = threading.Event()
    runner = threading.Thread(
        target=run_until_stopped, args=(store, projection, stop), kwargs={"poll_interval": 0.01}
    )
    runner.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(table_rows(store, applied_events)) < 6:
        time.sleep(0.05)
    stop.set()
    runner.join(timeout=10)
    assert projection.failed
    assert [row[0] for row in table_rows(store, applied_events)] == list(range(1, 7))
