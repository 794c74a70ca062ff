"""`/api/v1/investigations`: a proposal's sessions, their participants and history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from catalogue.api.auth import CallerDep
from catalogue.api.dependencies import ServicesDep
from catalogue.api.history import HistoryEntry
from catalogue.api.pages import DEFAULT, CursorQuery, LimitQuery, PageOf
from catalogue.api.times import Instant
from catalogue.api.versions import IfMatchHeader, parse_if_match, set_etag
from catalogue.domain.investigations import RemoveParticipant, Role, UpdateInvestigation
from catalogue.portal import investigations as portal
from catalogue.readmodels.investigations import InvestigationFilter

router = APIRouter(prefix="/api/v1/investigations", tags=["investigations"])

AsOfQuery = Annotated[
    Instant | None,
    Query(description="Return the entity as it was at this time (ISO 8601 with offset)."),
]


class Participant(BaseModel):
    """A person in an investigation; e-mail only for signed-in callers."""

    username: str
    role: Role
    full_name: str
    email: str | None


class InvestigationSummary(BaseModel):
    """An investigation in listings."""

    id: UUID
    proposal: str = Field(examples=["MX-2345"])
    visit_id: str = Field(examples=["id23-1-20261124"])
    instrument: str = Field(examples=["ID23-1"])
    title: str = Field(examples=["Lysozyme crystals under pressure"])
    summary: str
    start: datetime
    end: datetime | None
    release_date: datetime = Field(description="When the data becomes open (end of embargo).")
    doi: str | None = Field(examples=["10.15151/ESRF-ES-1234567"])
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    sample_count: int | None
    dataset_count: int | None


class Investigation(InvestigationSummary):
    """One investigation with its participants."""

    participants: list[Participant]


class InvestigationCreate(BaseModel):
    """A new investigation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "proposal": "MX-2345",
                    "instrument": "ID23-1",
                    "title": "Lysozyme crystals under pressure",
                    "start": "2026-11-24T08:00:00Z",
                    "end": "2026-11-26T08:00:00Z",
                }
            ]
        },
    )

    proposal: str = Field(max_length=64)
    instrument: str = Field(max_length=32)
    title: str = Field(max_length=500)
    start: Instant
    end: Instant | None = None
    visit_id: str | None = Field(None, max_length=64, description="Defaults to beamline-date.")
    summary: str = Field("", max_length=4000)
    release_date: Instant | None = Field(
        None, description="Defaults to the end (or start) plus the facility's embargo."
    )
    doi: str | None = Field(None, max_length=255)


class InvestigationPatch(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "Lysozyme at 2 GPa", "doi": "10.15151/ESRF-ES-1"}]
        },
    )

    title: str | None = Field(None, max_length=500)
    summary: str | None = Field(None, max_length=4000)
    start: Instant | None = None
    end: Instant | None = None
    release_date: Instant | None = None
    doi: str | None = Field(None, max_length=255)


class ParticipantPut(BaseModel):
    """A participant's role."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "co_investigator"}]}
    )

    role: Role


@router.get("", response_model=PageOf[InvestigationSummary])
def list_investigations(
    services: ServicesDep,
    caller: CallerDep,
    instrument: Annotated[str | None, Query(max_length=32, examples=["ID23-1"])] = None,
    proposal: Annotated[str | None, Query(max_length=64, examples=["MX-2345"])] = None,
    start_from: Instant | None = None,
    start_to: Instant | None = None,
    role: Annotated[Role | None, Query(description="Only those where you have this role.")] = None,
    text: Annotated[str | None, Query(max_length=200, description="Words in the title.")] = None,
    released: Annotated[bool | None, Query(description="Only open (or embargoed) data.")] = None,
    sort: Annotated[str, Query(pattern="^-?start_time$")] = "-start_time",
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """The investigations you may read: yours, your beamlines', and open data."""
    where = InvestigationFilter(instrument, proposal, start_from, start_to, role, text, released)
    return portal.list_investigations(
        services.store, caller, where, sort, cursor, limit
    ).as_response()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Investigation)
def create_investigation(
    body: InvestigationCreate, services: ServicesDep, caller: CallerDep, response: Response
) -> object:
    """Schedule an investigation (admins, and instrument scientists of its beamline)."""
    investigation_id = portal.create_investigation(
        services.store,
        caller,
        timedelta(days=services.settings.embargo_days),
        **body.model_dump(),
    )
    found = portal.get_investigation(services.store, caller, investigation_id)
    response.headers["Location"] = f"{router.prefix}/{investigation_id}"
    set_etag(response, found["version"])
    return found


@router.get("/{investigation_id}", response_model=Investigation)
def get_investigation(
    investigation_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    as_of: AsOfQuery = None,
) -> object:
    """One investigation with its participants, now or as it was `as_of` a time."""
    found = portal.get_investigation(services.store, caller, investigation_id, as_of)
    set_etag(response, found["version"])
    return found


@router.patch("/{investigation_id}", response_model=Investigation)
def update_investigation(
    investigation_id: UUID,
    body: InvestigationPatch,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Change an investigation (admins and its beamline's scientists); `If-Match` guards it."""
    embargo = timedelta(days=services.settings.embargo_days)
    command = UpdateInvestigation(embargo=embargo, **body.model_dump())
    portal.change_investigation(
        services.store, caller, investigation_id, command, parse_if_match(if_match)
    )
    found = portal.get_investigation(services.store, caller, investigation_id)
    set_etag(response, found["version"])
    return found


@router.put("/{investigation_id}/participants/{username}", response_model=Investigation)
def put_participant(
    investigation_id: UUID,
    username: Annotated[str, Path(max_length=64)],
    body: ParticipantPut,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Add a participant, or change their role."""
    portal.add_participant(
        services.store, caller, investigation_id, username, body.role, parse_if_match(if_match)
    )
    found = portal.get_investigation(services.store, caller, investigation_id)
    set_etag(response, found["version"])
    return found


@router.delete("/{investigation_id}/participants/{username}", response_model=Investigation)
def delete_participant(
    investigation_id: UUID,
    username: Annotated[str, Path(max_length=64)],
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Remove a participant (the last principal investigator cannot be removed)."""
    portal.change_investigation(
        services.store,
        caller,
        investigation_id,
        RemoveParticipant(username),
        parse_if_match(if_match),
    )
    found = portal.get_investigation(services.store, caller, investigation_id)
    set_etag(response, found["version"])
    return found


@router.get("/{investigation_id}/history", response_model=PageOf[HistoryEntry])
def investigation_history(
    investigation_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """Who changed the investigation, when, and what; oldest first."""
    return portal.investigation_history(
        services.store, caller, investigation_id, cursor, limit
    ).as_response()
