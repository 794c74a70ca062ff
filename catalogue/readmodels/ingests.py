"""Queries of the ingest: folder states for the scanner, failures and totals for people, and
the lookups that turn a folder's names into catalogue ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, and_, func, or_, select

from catalogue.readmodels.paging import Ordering, Page, fetch_counted_page
from catalogue.schema import (
    datafiles,
    datasets,
    ingest_folders,
    investigations,
    samples,
    stream_summaries,
)

FAILURE_ORDERING = Ordering(
    "ingest:failures", (ingest_folders.c.updated_at, ingest_folders.c.path), descending=True
)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class FolderState:
    """What the catalogue holds of a folder, as the scanner needs it."""

    status: str
    fingerprint: str | None
    failed_fingerprint: str | None
    retry_at: datetime | None
    dataset_id: UUID | None


def _under(prefixes: Sequence[str]) -> Any:
    clauses = []
    for prefix in prefixes:
        folder = prefix.rstrip("/")
        escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(ingest_folders.c.path == folder)
        clauses.append(ingest_folders.c.path.like(escaped + "/%", escape="\\"))
    return or_(*clauses)


def folder_states(connection: Connection, prefixes: Sequence[str]) -> dict[str, FolderState]:
    """The state of every folder at or below the given paths."""
    query = select(
        ingest_folders.c.path,
        ingest_folders.c.status,
        ingest_folders.c.fingerprint,
        ingest_folders.c.failed_fingerprint,
        ingest_folders.c.retry_at,
        ingest_folders.c.dataset_id,
    ).where(_under(prefixes))
    return {
        row.path: FolderState(
            row.status, row.fingerprint, row.failed_fingerprint, row.retry_at, row.dataset_id
        )
        for row in connection.execute(query)
    }


def list_failures(
    connection: Connection, beamlines: frozenset[str] | None, cursor: str | None, limit: int
) -> Page:
    """Folders whose last ingest failed, most recent first; some beamlines', or all."""
    query = select(
        ingest_folders.c.path,
        ingest_folders.c.beamline,
        ingest_folders.c.reason,
        ingest_folders.c.attempts,
        ingest_folders.c.retry_at,
        ingest_folders.c.dataset_id,
        ingest_folders.c.updated_at,
    ).where(ingest_folders.c.status == "failed")
    if beamlines is not None:
        query = query.where(ingest_folders.c.beamline.in_(sorted(beamlines)))
    rows, next_cursor, total, exact = fetch_counted_page(
        connection, query, FAILURE_ORDERING, cursor, limit
    )
    items = [{k: v for k, v in r._mapping.items() if k != "_total"} for r in rows]
    return Page(items, next_cursor, total, exact)


def status_totals(connection: Connection, beamlines: frozenset[str] | None) -> dict[str, Any]:
    """How many folders are ingested and failed, how many carry warnings, the latest change."""
    query = select(
        ingest_folders.c.status,
        func.count(),
        func.max(ingest_folders.c.updated_at),
    ).group_by(ingest_folders.c.status)
    if beamlines is not None:
        query = query.where(ingest_folders.c.beamline.in_(sorted(beamlines)))
    totals: dict[str, Any] = {"ingested": 0, "failed": 0, "last_change": None}
    for status, count, latest in connection.execute(query):
        totals[status] = count
        if latest is not None and (totals["last_change"] is None or latest > totals["last_change"]):
            totals["last_change"] = latest
    return totals


def folder(connection: Connection, path: str) -> dict[str, Any] | None:
    """One folder's ingest row, with its warnings."""
    row = connection.execute(select(ingest_folders).where(ingest_folders.c.path == path)).first()
    return None if row is None else dict(row._mapping)


# -- lookups --------------------------------------------------------------------------------


def _plain_proposal(name: str) -> str:
    # Folders are lower case without dashes (`ihls3201`); the catalogue writes `IH-LS-3201`.
    return name.replace("-", "").replace("_", "").upper()


def find_investigation(
    connection: Connection, proposal: str, beamline: str, session: date
) -> UUID | None:
    """The investigation of a proposal on a beamline whose session covers the day."""
    day_start = datetime.combine(session, time(0), tzinfo=UTC)
    query = select(investigations.c.id, investigations.c.start_time).where(
        func.upper(investigations.c.instrument) == beamline.upper(),
        func.replace(func.upper(investigations.c.proposal), "-", "") == _plain_proposal(proposal),
        # The session folder is named after the session's first day in local time: a day
        # either side allows for time zones.
        investigations.c.start_time < day_start + timedelta(days=2),
        or_(
            investigations.c.end_time.is_(None),
            investigations.c.end_time >= day_start - timedelta(days=1),
        ),
    )
    rows = list(connection.execute(query))
    if not rows:
        return None
    # Several sessions around that day: the one that starts closest to it.
    return min(rows, key=lambda r: abs(r.start_time - day_start)).id  # type: ignore[no-any-return]


def sample_ids(
    connection: Connection, investigation_id: UUID, names: Iterable[str]
) -> dict[str, UUID]:
    """The investigation's samples with these names."""
    wanted = sorted(set(names))
    found: dict[str, UUID] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(samples.c.name, samples.c.id).where(
            samples.c.investigation_id == investigation_id,
            samples.c.name.in_(wanted[start : start + _CHUNK]),
        )
        found.update({row.name: row.id for row in connection.execute(query)})
    return found


def registered_sizes(connection: Connection, dataset_id: UUID) -> dict[str, int]:
    """The files a dataset has, with their registered sizes."""
    query = select(datafiles.c.path, datafiles.c.size).where(datafiles.c.dataset_id == dataset_id)
    return {row.path: row.size for row in connection.execute(query)}


def datasets_at(connection: Connection, locations: Iterable[str]) -> dict[str, UUID]:
    """Datasets by location (the folders a processed dataset names as its inputs)."""
    wanted = sorted({location.rstrip("/") for location in locations})
    found: dict[str, UUID] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(datasets.c.location, datasets.c.id).where(
            datasets.c.location.in_(wanted[start : start + _CHUNK]),
            datasets.c.deleted.is_(False),
        )
        found.update({row.location: row.id for row in connection.execute(query)})
    return found


def dataset_named(connection: Connection, investigation_id: UUID, name: str) -> UUID | None:
    """The investigation's dataset of that name."""
    return connection.execute(
        select(datasets.c.id).where(
            and_(datasets.c.investigation_id == investigation_id, datasets.c.name == name)
        )
    ).scalar()


def existing_streams(connection: Connection, streams: Iterable[str]) -> set[str]:
    """Which of the streams have events (by the inline stream summaries)."""
    wanted = sorted(set(streams))
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        query = select(stream_summaries.c.stream).where(
            stream_summaries.c.stream.in_(wanted[start : start + _CHUNK])
        )
        found.update(connection.execute(query).scalars())
    return found
