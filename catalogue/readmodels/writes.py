"""Ordered, batched writes for projections: runs of the same statement go as one executemany."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Executable


@dataclass
class _Run:
    name: str
    statement: Executable
    rows: dict[Hashable, Mapping[str, Any]] = field(default_factory=dict)


class OrderedWrites:
    """Collects a projection batch's writes and executes them in order.

    Consecutive writes with the same statement name become one executemany, so loading a
    batch of 1,000 datasets costs a handful of round trips. Rows of an upsert that share a
    key within one run keep only the last (PostgreSQL refuses to touch a row twice in one
    multi-row statement; the last write wins anyway).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._runs: list[_Run] = []
        self._serial = 0

    def add(
        self,
        name: str,
        statement: Executable | Callable[[], Executable],
        row: Mapping[str, Any],
        key: Hashable | None = None,
    ) -> None:
        """Queue one row for the named statement (built once per run if given as a factory)."""
        if not self._runs or self._runs[-1].name != name:
            built = statement() if callable(statement) else statement
            self._runs.append(_Run(name, built))
        if key is None:
            self._serial += 1
            key = ("serial", self._serial)
        self._runs[-1].rows[key] = row

    def flush(self) -> None:
        """Execute every queued run in order."""
        for run in self._runs:
            self.connection.execute(run.statement, list(run.rows.values()))
        self._runs.clear()
