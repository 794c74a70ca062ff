"""Running a command against one stream: load, decide, append with the expected version."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from catalogue.database import read_transaction
from catalogue.domain.access import Principal
from catalogue.domain.aggregate import Aggregate
from catalogue.errors import ConcurrencyConflict, PreconditionFailed
from catalogue.events import NO_STREAM, Event, Metadata, StreamAppend
from catalogue.store import EventStore

S = TypeVar("S")
C = TypeVar("C")

#: Without If-Match, a command that lost a race is decided again on the new state.
ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Caller:
    """Who runs a command, when, and from where (recorded in the events' metadata)."""

    principal: Principal
    source: str = "api"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = None

    def metadata(self) -> Metadata:
        """The metadata stored with this caller's events."""
        return Metadata(
            actor=self.principal.actor, source=self.source, correlation_id=self.correlation_id
        )


@dataclass(frozen=True, slots=True)
class Outcome(Generic[S]):
    """A command's result: the entity's new state and stream version, and whether it changed."""

    state: S
    version: int
    changed: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """What a command decided: the entity's events, and appends to other streams that must
    commit with them, all or nothing (a parcel's items and the samples they register)."""

    events: list[Event]
    others: list[StreamAppend] = field(default_factory=list)


def load(store: EventStore, aggregate: Aggregate[S, Any], key: Any) -> tuple[S, int]:
    """Fold an entity's stream into its state; return it with the stream's version."""
    state, version = aggregate.initial, 0
    for recorded in store.read_stream(aggregate.stream(key)):
        state = aggregate.evolve(state, recorded.payload)
        version = recorded.version
    return state, version


def run(
    store: EventStore,
    caller: Caller,
    aggregate: Aggregate[S, C],
    key: Any,
    command: C,
    *,
    if_match: int | None = None,
) -> Outcome[S]:
    """Run a command with the aggregate's own decider."""
    return execute(
        store,
        caller,
        aggregate,
        key,
        lambda state: aggregate.decide(state, command),
        if_match=if_match,
    )


def execute(
    store: EventStore,
    caller: Caller,
    aggregate: Aggregate[S, Any],
    key: Any,
    decide: Callable[[S], list[Event] | Decision],
    *,
    if_match: int | None = None,
) -> Outcome[S]:
    """Decide on the current state and append; 412 if `if_match` is not the stream's version.

    Without `if_match`, a concurrent change between load and append makes the append
    conflict; the command is then decided again on the new state (the decider may now
    refuse it). With `if_match`, the caller asked for exactly that version: 412. A conflict
    on one of a `Decision`'s other streams is always decided again: `decide` looks them up
    afresh each time, and If-Match speaks of the entity only.
    """
    stream = aggregate.stream(key)
    for attempt in range(ATTEMPTS):
        state, version = load(store, aggregate, key)
        if if_match is not None and if_match != version:
            raise PreconditionFailed(
                f"If-Match names version {if_match}, but the entity is at version {version}"
            )
        decided = decide(state)
        decision = decided if isinstance(decided, Decision) else Decision(decided)
        new_events = decision.events
        if not new_events:
            return Outcome(state, version, changed=False)
        expected = version if version else NO_STREAM
        appends = [*decision.others, StreamAppend(stream, new_events, expected)]
        try:
            result = store.append(appends, caller.metadata())
        except ConcurrencyConflict as conflict:
            if if_match is not None and conflict.stream == stream:
                raise PreconditionFailed(
                    f"the entity changed after version {if_match}; fetch it and try again"
                ) from None
            if attempt == ATTEMPTS - 1:
                raise
            continue
        for event in new_events:
            state = aggregate.evolve(state, event)
        return Outcome(state, result.versions[stream], changed=True)
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def reading(store: EventStore) -> Iterator[Connection]:
    """A read transaction on the read models."""
    with read_transaction(store.engine) as connection:
        yield connection
