"""History and "as of" views: a stream's events, and its state folded up to a time."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypeVar

from catalogue.domain.aggregate import Aggregate
from catalogue.domain.datasets import DatafilesRegistered
from catalogue.errors import InvalidQuery
from catalogue.events import RecordedEvent
from catalogue.readmodels.paging import Page
from catalogue.store import EventStore

S = TypeVar("S")


def describe_change(event: RecordedEvent) -> dict[str, Any]:
    """What an event changed, for people: bulk file lists are summarised, not repeated."""
    data = event.data_json()
    if event.type == DatafilesRegistered.type_name:
        files = data["files"]
        return {
            "file_count": len(files),
            "volume": sum(f["size"] for f in files),
            "first_paths": [f["path"] for f in files[:10]],
        }
    return {key: value for key, value in data.items() if value is not None}


def history_page(
    store: EventStore, aggregate: Aggregate[Any, Any], key: Any, cursor: str | None, limit: int
) -> Page:
    """One page of an entity's events, oldest first; the cursor is the last version seen."""
    stream = aggregate.stream(key)
    after = 0
    if cursor is not None:
        if not re.fullmatch(r"[0-9]{1,9}", cursor):
            raise InvalidQuery("cursor is not one this listing issued", "cursor")
        after = int(cursor)
    events = store.read_stream(stream, after_version=after, limit=limit + 1)
    page, more = events[:limit], len(events) > limit
    items = [
        {
            "version": e.version,
            "position": e.position,
            "type": e.type,
            "recorded_at": e.recorded_at,
            "actor": e.metadata.actor,
            "source": e.metadata.source,
            "changes": describe_change(e),
        }
        for e in page
    ]
    total = store.stream_version(stream)
    return Page(items, str(page[-1].version) if more else None, total)


def state_as_of(
    store: EventStore, aggregate: Aggregate[S, Any], key: Any, as_of: datetime
) -> tuple[S, int, datetime | None]:
    """The entity as it was at `as_of`: its state, version and last change time."""
    state, version, changed = aggregate.initial, 0, None
    for recorded in store.read_stream(aggregate.stream(key), as_of=as_of):
        state = aggregate.evolve(state, recorded.payload)
        version, changed = recorded.version, recorded.recorded_at
    return state, version, changed
