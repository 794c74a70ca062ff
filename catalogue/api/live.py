"""Live updates: one watcher per process notices new events; streams wait on it.

A stream does not poll the database for its own changes while nothing happens: the watcher
reads the store's head position (one index lookup) every `live_poll_seconds` and wakes
the streams when it moves; each then asks for its own changes once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from catalogue.store import EventStore


class HeadWatcher:
    """Wakes waiters when the event store's head position moves past what they saw."""

    def __init__(self, store: EventStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self.head = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def current(self) -> int:
        """The head as last seen (read now if the watcher has not started)."""
        if self._task is None:
            self.head = await asyncio.to_thread(self.store.head_position)
            self._task = asyncio.create_task(self._watch(), name="head-watcher")
        return self.head

    async def wait_beyond(self, seen: int, timeout: float) -> bool:
        """Wait until the head passes `seen`; False if `timeout` seconds pass first."""
        await self.current()
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.head > seen), timeout)
            except TimeoutError:
                return False
        return True

    async def _watch(self) -> None:
        while True:
            try:
                head = await asyncio.to_thread(self.store.head_position)
            except Exception:
                head = self.head
            if head != self.head:
                async with self._changed:
                    self.head = head
                    self._changed.notify_all()
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def sse_message(event: str, data: Any, event_id: int | None = None) -> str:
    """One Server-Sent Events message (the JSON has no newlines, so one data line)."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, default=_json_default, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"
