"""Batched writes for projections: alike rows go as one executemany, row order kept."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Executable, Table, insert

from catalogue.projections import bulk_insert


@dataclass
class _Run:
    name: str
    table: str
    statement: Executable
    #: Set for plain inserts, which flush through `bulk_insert` (COPY on PostgreSQL).
    insert_into: Table | None = None
    #: row identity -> parameters; upserts of one row keep only the last
    rows: dict[Hashable, Mapping[str, Any]] = field(default_factory=dict)


class OrderedWrites:
    """Collects a projection batch's writes and executes them with few round trips.

    A write joins the latest run of the same statement unless a later run writes the same
    row of the same table: writes to one row keep their order, while writes to different
    rows (or tables) may be regrouped. Loading 1,000 datasets then costs one executemany
    per statement instead of one per event. Rows of one run that share an identity keep
    only the last (only upserts and partial updates of one row share it, and the last
    one wins anyway; PostgreSQL also refuses to touch a row twice in one statement).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._runs: list[_Run] = []
        self._latest: dict[str, int] = {}
        self._serial = 0

    def add(
        self,
        name: str,
        table: str,
        statement: Executable | Callable[[], Executable],
        row: Mapping[str, Any],
        identity: Hashable | None = None,
    ) -> None:
        """Queue one row for the named statement on `table`; `identity` names the row."""
        if identity is None:
            self._serial += 1
            identity = ("serial", self._serial)
        index = self._latest.get(name)
        if index is None or self._touched_after(index, table, identity):
            built = statement() if callable(statement) else statement
            self._runs.append(_Run(name, table, built))
            index = self._latest[name] = len(self._runs) - 1
        run = self._runs[index]
        if identity in run.rows:
            # Keep the last write's place in the run as well as its values.
            del run.rows[identity]
        run.rows[identity] = row

    def insert(
        self, name: str, table: Table, row: Mapping[str, Any], identity: Hashable | None = None
    ) -> None:
        """Queue a new row of `table`; runs of new rows are copied in bulk."""
        self.add(name, table.name, insert(table), row, identity)
        run = self._runs[self._latest[name]]
        run.insert_into = table

    def _touched_after(self, index: int, table: str, identity: Hashable) -> bool:
        return any(run.table == table and identity in run.rows for run in self._runs[index + 1 :])

    def flush(self) -> None:
        """Execute every queued run in order."""
        for run in self._runs:
            if run.insert_into is not None:
                bulk_insert(self.connection, run.insert_into, list(run.rows.values()))
            else:
                self.connection.execute(run.statement, list(run.rows.values()))
        self._runs.clear()
        self._latest.clear()
