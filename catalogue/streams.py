"""The stream summary projection: every stream's category, version and first/last events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select

from catalogue.events import RecordedEvent
from catalogue.projections import Mode, Projection
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
        """Fold the batch in memory per stream, then write each touched row once."""
        streams = {event.stream for event in batch}
        existing = {
            row["stream"]: dict(row)
            for row in connection.execute(
                select(stream_summaries).where(stream_summaries.c.stream.in_(streams))
            ).mappings()
        }
        rows: dict[str, dict[str, Any]] = {}
        for event in batch:
            rows[event.stream] = summarise(
                rows.get(event.stream) or existing.get(event.stream), event
            )
        inserts = [row for stream, row in rows.items() if stream not in existing]
        updates = [
            {"key": stream, **{f"new_{k}": row[k] for k in _UPDATED}}
            for stream, row in rows.items()
            if stream in existing
        ]
        if inserts:
            connection.execute(stream_summaries.insert(), inserts)
        if updates:
            connection.execute(
                stream_summaries.update()
                .where(stream_summaries.c.stream == bindparam("key"))
                .values({k: bindparam(f"new_{k}") for k in _UPDATED}),
                updates,
            )


_UPDATED = ("version", "event_count", "last_position", "last_type", "updated_at")
