"""`/api/v1/.../samples`: the samples of an investigation, with safety information."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from catalogue.api.auth import CallerDep
from catalogue.api.dependencies import ServicesDep
from catalogue.api.history import HistoryEntry
from catalogue.api.investigations import AsOfQuery
from catalogue.api.pages import DEFAULT, CursorQuery, LimitQuery, PageOf
from catalogue.api.versions import IfMatchHeader, parse_if_match, set_etag
from catalogue.domain.samples import RegisterSample, UpdateSample
from catalogue.portal import datasets as portal

router = APIRouter(prefix="/api/v1", tags=["samples"])


class SampleDatasetRef(BaseModel):
    """A dataset measured on the sample."""

    id: UUID
    name: str
    start_time: datetime
    complete: bool


class Sample(BaseModel):
    """A sample of an investigation."""

    id: UUID
    investigation_id: UUID
    name: str = Field(examples=["lysozyme_01"])
    description: str
    chemical_formula: str | None = Field(examples=["C613H951N193O185S10"])
    safety_information: str
    hazards: list[str] = Field(examples=[["H301", "H334"]], description="GHS hazard statements.")
    parent_id: UUID | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    dataset_count: int | None


class SampleWithDatasets(Sample):
    """A sample with its first 100 datasets (list them all with `?sample=` on datasets)."""

    datasets: list[SampleDatasetRef] | None


class SampleCreate(BaseModel):
    """A new sample."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "lysozyme_01",
                    "description": "Hen egg-white lysozyme, tetragonal crystals",
                    "chemical_formula": "C613H951N193O185S10",
                    "safety_information": "Not hazardous",
                    "hazards": [],
                }
            ]
        },
    )

    name: str = Field(max_length=200)
    description: str = Field("", max_length=4000)
    chemical_formula: str | None = Field(None, max_length=200)
    safety_information: str = Field("", max_length=4000)
    hazards: list[str] = Field(default_factory=list, max_length=50)
    parent_id: UUID | None = None


class SamplePatch(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"hazards": ["H350"]}]}
    )

    description: str | None = Field(None, max_length=4000)
    chemical_formula: str | None = Field(None, max_length=200)
    safety_information: str | None = Field(None, max_length=4000)
    hazards: list[str] | None = Field(None, max_length=50)


@router.get("/investigations/{investigation_id}/samples", response_model=PageOf[Sample])
def list_samples(
    investigation_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """An investigation's samples, by name."""
    return portal.list_samples(
        services.store, caller, investigation_id, cursor, limit
    ).as_response()


@router.post(
    "/investigations/{investigation_id}/samples",
    status_code=status.HTTP_201_CREATED,
    response_model=SampleWithDatasets,
)
def create_sample(
    investigation_id: UUID,
    body: SampleCreate,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
) -> object:
    """Register a sample (its name is unique in the investigation)."""
    command = RegisterSample(
        investigation_id=investigation_id,
        name=body.name,
        description=body.description,
        chemical_formula=body.chemical_formula,
        safety_information=body.safety_information,
        hazards=tuple(body.hazards),
        parent_id=body.parent_id,
    )
    sample_id = portal.register_sample(services.store, caller, investigation_id, command)
    found = portal.get_sample(services.store, caller, sample_id)
    response.headers["Location"] = f"/api/v1/samples/{sample_id}"
    set_etag(response, found["version"])
    return found


@router.get("/samples/{sample_id}", response_model=SampleWithDatasets)
def get_sample(
    sample_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    as_of: AsOfQuery = None,
) -> object:
    """One sample with its datasets, or as it was `as_of` a time."""
    found = portal.get_sample(services.store, caller, sample_id, as_of)
    set_etag(response, found["version"])
    return found


@router.patch("/samples/{sample_id}", response_model=SampleWithDatasets)
def update_sample(
    sample_id: UUID,
    body: SamplePatch,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Change a sample's description, formula or safety information."""
    command = UpdateSample(
        description=body.description,
        chemical_formula=body.chemical_formula,
        safety_information=body.safety_information,
        hazards=None if body.hazards is None else tuple(body.hazards),
    )
    portal.update_sample(services.store, caller, sample_id, command, parse_if_match(if_match))
    found = portal.get_sample(services.store, caller, sample_id)
    set_etag(response, found["version"])
    return found


@router.get("/samples/{sample_id}/history", response_model=PageOf[HistoryEntry])
def sample_history(
    sample_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """Who changed the sample, when, and what; oldest first."""
    return portal.sample_history(services.store, caller, sample_id, cursor, limit).as_response()
