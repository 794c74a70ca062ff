"""`/api/v1/ingest`: ask for folders on the server to be ingested; see what failed and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from catalogue.api.auth import CallerDep
from catalogue.api.dependencies import ServicesDep
from catalogue.api.pages import DEFAULT, CursorQuery, LimitQuery, PageOf
from catalogue.errors import NotFound
from catalogue.portal import ingests
from ingest.pipeline import ingest_paths
from ingest.worker import ReadOptions

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])

#: The pass a request runs reads its folders in the request's own thread.
_WORKERS = 1


class IngestRequest(BaseModel):
    """Folders (or NeXus files) on the server to ingest now."""

    model_config = ConfigDict(extra="forbid")

    paths: list[Annotated[str, Field(max_length=4096)]] = Field(
        min_length=1,
        max_length=ingests.MAX_PATHS,
        examples=[["/data/visitor/hg123/id23-1/20250601/RAW_DATA/lysozyme/lysozyme_0001"]],
    )
    investigation_id: UUID | None = Field(
        None, description="For files outside the ESRF layout: the investigation they belong to."
    )
    checksum: Literal["none", "md5", "sha1", "sha256", "sha512", "adler32", "crc32"] | None = Field(
        None, description="Checksum of every file (default: the service's setting)."
    )
    follow_links: bool = False


class FolderOutcome(BaseModel):
    """What became of one folder."""

    path: str
    outcome: Literal["new", "updated", "unchanged", "running", "failed", "skipped"]
    dataset_id: UUID | None
    reason: str | None


class IngestResult(BaseModel):
    """The pass's summary and each folder it read."""

    folders: int
    new: int
    updated: int
    unchanged: int
    running: int
    failed: int
    waiting: int
    skipped: int
    masters: int
    results: list[FolderOutcome]


class IngestStatus(BaseModel):
    """Folders ingested and failed (of the beamlines the caller looks after)."""

    ingested: int
    failed: int
    last_change: datetime | None


class Failure(BaseModel):
    """A folder whose last ingest failed."""

    path: str
    beamline: str | None
    reason: str
    attempts: int
    retry_at: datetime | None
    dataset_id: UUID | None
    updated_at: datetime


class Folder(BaseModel):
    """One folder's ingest record."""

    path: str
    status: Literal["ingested", "failed"]
    beamline: str | None
    dataset_id: UUID | None
    fingerprint: str | None
    reason: str | None
    attempts: int
    retry_at: datetime | None
    warnings: list[str]
    updated_at: datetime


@router.post("", response_model=IngestResult)
def post_ingest(body: IngestRequest, services: ServicesDep, caller: CallerDep) -> object:
    """Ingest the named folders now (admins, beamline API keys and scientists).

    Finished datasets are recorded, running ones left for the next pass, failures recorded
    with their reason (and retried later by `catalogue ingest --watch`).
    """
    settings = services.settings
    paths = ingests.check_request(caller, body.paths, settings.ingest_trees)
    algorithm = body.checksum or settings.ingest_checksum
    options = ReadOptions(
        checksum=None if algorithm == "none" else algorithm,
        follow_links=body.follow_links,
        stale_after_s=settings.ingest_stale_hours * 3600,
        settle_s=settings.ingest_settle_seconds,
    )
    summary = ingest_paths(
        services.store,
        caller,
        paths,
        workers=_WORKERS,
        options=options,
        investigation_id=body.investigation_id,
        # The beamline asked for these folders now: failed ones are tried again at once.
        retry_failures=True,
    )
    return {
        "folders": summary.folders,
        **summary.counts(),
        "masters": summary.masters,
        "results": [
            {"path": r.path, "outcome": r.outcome, "dataset_id": r.dataset_id, "reason": r.reason}
            for r in summary.results
        ],
    }


@router.get("", response_model=IngestStatus)
def get_ingest_status(services: ServicesDep, caller: CallerDep) -> object:
    """How many folders are ingested and failed, and when that last changed."""
    return ingests.ingest_status(services.store, caller)


@router.get("/failures", response_model=PageOf[Failure])
def get_failures(
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """Folders whose last ingest failed, most recent first, with the next attempt's time."""
    return ingests.list_failures(services.store, caller, cursor, limit).as_response()


@router.get("/folder", response_model=Folder)
def get_folder(
    path: Annotated[str, Query(min_length=1, max_length=4096)],
    services: ServicesDep,
    caller: CallerDep,
) -> object:
    """One folder's ingest record: its dataset and warnings, or its failure."""
    found = ingests.folder_status(services.store, caller, path)
    if found is None:
        raise NotFound("no ingest record for that path", "path")
    return found
