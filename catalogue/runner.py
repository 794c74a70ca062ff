"""Running projections: catch-up batches, the tailing runner, rebuild from 0, and status."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from catalogue.database import read_transaction, write_transaction
from catalogue.errors import ProjectionError
from catalogue.projections import (
    Mode,
    Projection,
    Status,
    create_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from catalogue.schema import projection_checkpoints
from catalogue.store import EventStore

log = logging.getLogger(__name__)

#: Called with (positions done, positions to do) as a rebuild or catch-up advances.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """A projection's checkpoint against the store's head."""

    name: str
    mode: Mode
    status: Status
    position: int
    head: int

    @property
    def lag(self) -> int:
        """Events committed but not yet applied (0 for a live inline projection)."""
        if self.mode is Mode.INLINE and self.status is Status.LIVE:
            return 0
        return max(self.head - self.position, 0)


def find_projection(projections: Sequence[Projection], name: str) -> Projection:
    """The projection called `name`, or a `ProjectionError` listing the known names."""
    for projection in projections:
        if projection.name == name:
            return projection
    known = ", ".join(sorted(p.name for p in projections)) or "none"
    raise ProjectionError(f"no projection named {name!r} (known: {known})")


def register_checkpoints(store: EventStore, projections: Sequence[Projection]) -> list[str]:
    """Give new projections a checkpoint; return the inline ones that need a rebuild first.

    An inline projection added to a store that already holds events cannot start live (it
    would miss the history), so it starts as rebuilding and appends skip it until rebuilt.
    """
    inline = {p.name for p in projections if p.mode is Mode.INLINE}
    with write_transaction(store.engine) as connection:
        head = store.head_position(connection)
        for projection in projections:
            # Insert-if-absent: another process (a second worker) may have registered the
            # projection and applied events meanwhile; its checkpoint must not go back to 0.
            rebuilding = projection.name in inline and head > 0
            create_checkpoint(
                connection, projection.name, 0, Status.REBUILDING if rebuilding else Status.LIVE
            )
        return sorted(
            name
            for name, status in connection.execute(
                select(projection_checkpoints.c.name, projection_checkpoints.c.status)
            )
            if status == Status.REBUILDING.value and name in inline
        )


def catch_up_batch(store: EventStore, projection: Projection, batch_size: int = 1000) -> int:
    """Apply the next batch after the checkpoint; return how many positions it advanced.

    Rows and checkpoint commit together, and the checkpoint row is locked (SQLite: the
    whole database) for the batch, so concurrent runners never apply an event twice. The
    row must exist for that lock: callers run `ensure_checkpoint` first.
    """
    # Look first without the write lock: an idle runner polls often, and on SQLite a write
    # transaction would take the database's single write lock from appenders every time.
    with read_transaction(store.engine) as connection:
        if read_checkpoint(connection, projection.name).position >= store.head_position(connection):
            return 0
    with write_transaction(store.engine) as connection:
        checkpoint = read_checkpoint(connection, projection.name, for_update=True)
        head = store.head_position(connection)
        if checkpoint.position >= head:
            return 0
        reached = _apply_next_batch(
            store, projection, connection, checkpoint.position, head, batch_size
        )
        save_checkpoint(connection, projection.name, reached, checkpoint.status)
        return reached - checkpoint.position


def ensure_checkpoint(store: EventStore, projection: Projection) -> None:
    """Give a catch-up projection a checkpoint row (live at 0) if it has none."""
    with write_transaction(store.engine) as connection:
        create_checkpoint(connection, projection.name, 0, Status.LIVE)


def _apply_next_batch(
    store: EventStore,
    projection: Projection,
    connection: Connection,
    after: int,
    head: int,
    batch_size: int,
) -> int:
    """Apply the next batch of handled events after `after`; return the position reached."""
    batch = store.read_all(
        after, limit=batch_size, types=projection.handles, up_to=head, connection=connection
    )
    if batch:
        projection.apply(connection, batch)
    # A short batch means everything of interest up to `head` is applied, so the
    # checkpoint can skip the events of other types in between.
    return batch[-1].position if len(batch) == batch_size else head


def catch_up(
    store: EventStore,
    projection: Projection,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> int:
    """Apply batches until the projection reaches the head seen at the start; return positions."""
    ensure_checkpoint(store, projection)
    with read_transaction(store.engine) as connection:
        start = read_checkpoint(connection, projection.name).position
        target = store.head_position(connection)
    done = 0
    while True:
        advanced = catch_up_batch(store, projection, batch_size)
        done += advanced
        if progress is not None:
            progress(done, max(target - start, done))
        if advanced == 0 or start + done >= target:
            return done


def rebuild(
    store: EventStore,
    projection: Projection,
    *,
    batch_size: int = 5000,
    restart: bool = False,
    progress: Progress | None = None,
) -> int:
    """Rebuild a projection from position 0, resuming an interrupted rebuild unless `restart`.

    Each batch commits with its checkpoint, so a rebuild killed part-way resumes where it
    stopped. An inline projection turns live under the append lock, after its last batch.
    """
    with write_transaction(store.engine) as connection:
        checkpoint = read_checkpoint(connection, projection.name, for_update=True)
        if restart or checkpoint.status is Status.LIVE or checkpoint.position == 0:
            projection.clear(connection)
            save_checkpoint(connection, projection.name, 0, Status.REBUILDING)
        else:
            log.info(
                "resuming rebuild of %s from position %d", projection.name, checkpoint.position
            )
    catch_up(store, projection, batch_size=batch_size, progress=progress)
    with write_transaction(store.engine) as connection:
        if projection.mode is Mode.INLINE:
            # Appends are held off from here to commit, so none can slip between the last
            # batch and going live. (A catch-up projection's runner goes on from the
            # checkpoint anyway, so it need not stop writers.)
            store.dialect.lock_for_append(connection)
        checkpoint = read_checkpoint(connection, projection.name, for_update=True)
        head = store.head_position(connection)
        position = checkpoint.position
        while position < head:
            position = _apply_next_batch(store, projection, connection, position, head, batch_size)
        save_checkpoint(connection, projection.name, head, Status.LIVE)
    return head


def run_until_stopped(
    store: EventStore,
    projection: Projection,
    stop: threading.Event,
    *,
    batch_size: int = 1000,
    poll_interval: float = 0.2,
) -> None:
    """Tail the store for a catch-up projection until `stop` is set.

    A second runner of the same projection waits on the runner lock until the first one
    stops; even without the lock, the checkpoint row lock keeps application exactly-once.
    """
    if projection.mode is not Mode.CATCH_UP:
        raise ProjectionError(f"{projection.name} is inline: appends apply it, no runner needed")
    backoff = poll_interval
    ensure_checkpoint(store, projection)
    with store.dialect.runner_lock(store.engine, projection.name):
        while not stop.is_set():
            try:
                advanced = catch_up_batch(store, projection, batch_size)
            except Exception:
                # A database restart or a failing batch must not end the runner for good:
                # the batch rolled back, so it is retried, less often while it keeps failing.
                log.exception(
                    "projection %s: batch failed, retrying in %.1f s", projection.name, backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = poll_interval
            if advanced == 0:
                stop.wait(poll_interval)


def projection_status(
    store: EventStore, projections: Sequence[Projection]
) -> list[ProjectionStatus]:
    """Each projection's mode, status, checkpoint and the store head."""
    with read_transaction(store.engine) as connection:
        head = store.head_position(connection)
        return [
            ProjectionStatus(
                p.name,
                p.mode,
                (cp := read_checkpoint(connection, p.name)).status,
                cp.position,
                head,
            )
            for p in projections
        ]
