"""Concurrent writers with projections tailing live: nothing skipped, nothing applied twice."""

from __future__ import annotations

import random
import threading
import time

import pytest

from catalogue.events import NO_STREAM, Expect, StreamAppend
from catalogue.projections import read_checkpoint
from catalogue.runner import rebuild, register_checkpoints, run_until_stopped
from catalogue.store import EventStore
from tests.sample_domain import (
    Anything,
    AppliedEvents,
    InlineThingNames,
    ThingCounted,
    ThingCreated,
    applied_events,
    sample_registry,
    table_rows,
    thing_names,
)

WRITERS = 8
EVENTS_PER_WRITER = 2000


def write(store: EventStore, writer: int, errors: list[BaseException]) -> None:
    """Append EVENTS_PER_WRITER events in transactions of 1 to 4 events over several streams.

    A third of the transactions carry only events no inline projection handles: on
    PostgreSQL those take the single-statement (autocommit) path, the rest a transaction.
    """
    rng = random.Random(writer)
    try:
        written = 0
        things = 0
        while written < EVENTS_PER_WRITER:
            size = min(rng.randint(1, 4), EVENTS_PER_WRITER - written)
            if rng.random() < 1 / 3:
                store.append([StreamAppend(f"log-w{writer}", [Anything(value=written)] * size)])
            elif things == 0 or rng.random() < 0.2:
                stream = f"thing-w{writer}-{things}"
                things += 1
                batch = [ThingCreated(name=stream)] + [ThingCounted(amount=1)] * (size - 1)
                store.append([StreamAppend(stream, batch, NO_STREAM)])
            else:
                stream = f"thing-w{writer}-{rng.randrange(things)}"
                store.append([StreamAppend(stream, [ThingCounted(amount=1)] * size, Expect.EXISTS)])
            written += size
    except BaseException as error:  # surfaced by the test thread
        errors.append(error)


@pytest.mark.slow
def test_concurrent_writers_with_live_projections_and_a_rebuild(engine):
    names = InlineThingNames()
    store = EventStore(engine, sample_registry(), [names])
    tally = AppliedEvents()
    register_checkpoints(store, [names, tally])
    stop = threading.Event()
    runner = threading.Thread(
        target=run_until_stopped, args=(store, tally, stop), kwargs={"poll_interval": 0.01}
    )
    followed: list[int] = []

    def follow() -> None:
        for batch in store.follow(0, poll_interval=0.01, stop=stop.is_set):
            followed.extend(e.position for e in batch)

    def rebuild_while_writing() -> None:
        # The inline projection is rebuilt from 0 twice while appends go on: appends skip
        # it while it rebuilds, and it turns live under the append lock.
        for _ in range(2):
            time.sleep(0.5)
            rebuild(store, names, batch_size=500, restart=True)

    follower = threading.Thread(target=follow)
    rebuilder = threading.Thread(target=rebuild_while_writing)
    errors: list[BaseException] = []
    writers = [threading.Thread(target=write, args=(store, w, errors)) for w in range(WRITERS)]
    for thread in [runner, follower, rebuilder, *writers]:
        thread.start()
    for thread in [*writers, rebuilder]:
        thread.join(timeout=600)
    total = WRITERS * EVENTS_PER_WRITER
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            done = read_checkpoint(connection, tally.name).position
        if done == total and len(followed) >= total:
            break
        time.sleep(0.05)
    stop.set()
    for thread in [runner, follower]:
        thread.join(timeout=30)
    assert errors == []
    assert store.head_position() == total
    # The follower saw every position exactly once, in order: nothing committed late was skipped.
    assert followed == list(range(1, total + 1))
    # The tally holds one row per event (its primary key refuses a second application).
    assert [row[0] for row in table_rows(store, applied_events)] == list(range(1, total + 1))
    live = {t: table_rows(store, t) for t in (applied_events, thing_names)}
    counted = sum(1 for e in store.read_all(0, limit=total) if e.type == "ThingCounted")
    assert sum(row[3] for row in live[thing_names]) == counted > 0
    for projection in (tally, names):
        rebuild(store, projection, batch_size=997, restart=True)
    rebuilt = {t: table_rows(store, t) for t in (applied_events, thing_names)}
    assert rebuilt == live
