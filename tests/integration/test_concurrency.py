"""Concurrent writers with projections tailing live: nothing skipped, nothing applied twice."""

from __future__ import annotations

import random
import threading
import time

import pytest

from catalogue.events import NO_STREAM, Expect, StreamAppend
from catalogue.projections import read_checkpoint
from catalogue.runner import rebuild, register_checkpoints, run_until_stopped
from catalogue.schema import stream_summaries
from tests.sample_domain import (
    AppliedEvents,
    ThingCounted,
    ThingCreated,
    ThingNames,
    applied_events,
    make_store,
    table_rows,
    thing_names,
)

WRITERS = 8
EVENTS_PER_WRITER = 2000


def write(store, writer: int, errors: list[BaseException]) -> None:
    """Append EVENTS_PER_WRITER events in transactions of 1 to 4 events over several streams."""
    rng = random.Random(writer)
    try:
        written = 0
        things = 0
        while written < EVENTS_PER_WRITER:
            size = min(rng.randint(1, 4), EVENTS_PER_WRITER - written)
            if things == 0 or rng.random() < 0.2:
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
def test_concurrent_writers_with_live_projections(engine):
    store = make_store(engine)
    tally, names = AppliedEvents(), ThingNames()
    register_checkpoints(store, [*store.inline_projections, tally, names])
    stop = threading.Event()
    runners = [
        threading.Thread(
            target=run_until_stopped, args=(store, p, stop), kwargs={"poll_interval": 0.01}
        )
        for p in (tally, names)
    ]
    followed: list[int] = []

    def follow() -> None:
        for batch in store.follow(0, poll_interval=0.01, stop=stop.is_set):
            followed.extend(e.position for e in batch)

    follower = threading.Thread(target=follow)
    errors: list[BaseException] = []
    writers = [threading.Thread(target=write, args=(store, w, errors)) for w in range(WRITERS)]
    for thread in [*runners, follower, *writers]:
        thread.start()
    for thread in writers:
        thread.join(timeout=600)
    total = WRITERS * EVENTS_PER_WRITER
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            done = [read_checkpoint(connection, p.name).position for p in (tally, names)]
        if done == [total, total] and len(followed) >= total:
            break
        time.sleep(0.05)
    stop.set()
    for thread in [*runners, follower]:
        thread.join(timeout=30)
    assert errors == []
    assert store.head_position() == total
    # The follower saw every position exactly once, in order: nothing committed late was skipped.
    assert followed == list(range(1, total + 1))
    # The tally holds one row per event (its primary key refuses a second application).
    assert [row[0] for row in table_rows(store, applied_events)] == list(range(1, total + 1))
    live = {t: table_rows(store, t) for t in (applied_events, thing_names, stream_summaries)}
    assert sum(row[3] for row in live[thing_names]) == total - len(live[thing_names])
    for projection in (tally, names, store.inline_projections[0]):
        rebuild(store, projection, batch_size=997, restart=True)
    rebuilt = {t: table_rows(store, t) for t in (applied_events, thing_names, stream_summaries)}
    assert rebuilt == live
