"""Live updates: one watcher per process notices new events; streams wait on it.

A stream does not query the database for its own changes while nothing happens: the
watcher reads the store's head position (one index lookup) every `live_poll_seconds`, and
a stream asks for its own changes only when the head has moved past what it last saw.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import datetime
from typing import Any
from uuid import UUID

from catalogue.store import EventStore

log = logging.getLogger(__name__)


class HeadWatcher:
    """Knows the event store's head position, read by one thread for every stream.

    A thread rather than an asyncio task: the streams of one process may run on different
    event loops (a test client runs each request on its own), and a plain integer read
    by each stream as it waits belongs to none of them.
    """

    def __init__(self, store: EventStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self.head = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self.head = self.store.head_position()
                self._thread = threading.Thread(
                    target=self._watch, name="head-watcher", daemon=True
                )
                self._thread.start()

    async def current(self) -> int:
        """The head as last seen (read now if the watcher has not started)."""
        if self._thread is None:
            await asyncio.to_thread(self._start)
        return self.head

    async def wait_beyond(self, seen: int, timeout: float) -> bool:
        """Wait until the head passes `seen`; False if `timeout` seconds pass first."""
        await self.current()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.head <= seen:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(self.interval / 2)
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.head = self.store.head_position()
            except Exception:
                # Whatever the database says, the streams wait and resume when it is back.
                log.warning("live streams cannot read the store's head", exc_info=True)

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


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
