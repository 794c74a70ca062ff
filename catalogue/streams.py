"""The stream summary projection: every stream's category, version and first/last events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from catalogue.events import RecordedEvent
from catalogue.projections import Mode, Projection, bulk_insert, upsert
from catalogue.schema import stream_summaries


def stream_category(stream: str) -> str:
    """The entity kind a stream name starts with (`dataset-42` -> `dataset`)."""
    return stream.split("-", 1)[0]


def summarise(current: dict[str, Any] | None, event: RecordedEvent) -> dict[str, Any]:
    """Fold one event into a stream's summary row (pure)."""
    if current is None:
        return {
            "stream": event.stream,
            "category": stream_category(event.stream),
            "version": event.version,
            "event_count": 1,
            "first_position": event.position,
            "last_position": event.position,
            "last_type": event.type,
            "created_at": event.recorded_at,
            "updated_at": event.recorded_at,
        }
    return {
        **current,
        "version": event.version,
        "event_count": current["event_count"] + 1,
        "last_position": event.position,
        "last_type": event.type,
        "updated_at": event.recorded_at,
    }


class StreamSummaries(Projection):
    """Inline: one row per stream, for operators' listings and cheap existence checks."""

    name = "stream_summaries"
    mode = Mode.INLINE
    handles = None
    tables = (stream_summaries,)

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Fold the batch per stream, then one upsert: new streams insert, known ones add."""
        rows: dict[str, dict[str, Any]] = {}
        for event in batch:
            rows[event.stream] = summarise(rows.get(event.stream), event)
        # A stream whose first event is in the batch is new (a rebuild has emptied the
        # table): a plain insert, copied in bulk. Known streams add to their row.
        new = [row for row in rows.values() if row["event_count"] == row["version"]]
        bulk_insert(connection, stream_summaries, new)
        known = [row for row in rows.values() if row["event_count"] != row["version"]]
        if not known:
            return
        upsert(
            connection,
            stream_summaries,
            ["stream"],
            known,
            lambda new: {
                "version": new.version,
                "event_count": stream_summaries.c.event_count + new.event_count,
                "last_position": new.last_position,
                "last_type": new.last_type,
                "updated_at": new.updated_at,
            },
        )
