"""`/api/v1/.../datasets`: datasets with parameters and files, their life cycle and history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from catalogue.api.auth import CallerDep
from catalogue.api.dependencies import ServicesDep
from catalogue.api.history import HistoryEntry
from catalogue.api.investigations import AsOfQuery
from catalogue.api.pages import DEFAULT, CursorQuery, LimitQuery, PageOf
from catalogue.api.times import Instant
from catalogue.api.versions import IfMatchHeader, parse_if_match, set_etag
from catalogue.domain import datasets as ds
from catalogue.domain.parameters import builtin_vocabulary
from catalogue.portal import datasets as portal
from catalogue.readmodels.datasets import DatasetFilter

router = APIRouter(prefix="/api/v1", tags=["datasets"])


class Parameter(BaseModel):
    """A dataset parameter: the value and unit as given, and the value in SI base units."""

    name: str = Field(examples=["InstrumentMonochromator_energy"])
    value: str = Field(examples=["12.4"])
    unit: str | None = Field(examples=["keV"])
    numeric: float | None
    si_value: float | None = Field(examples=[1.9867e-15])
    si_unit: str | None = Field(examples=["kilogram * meter ** 2 / second ** 2"])


class ParameterIn(BaseModel):
    """A parameter to set: its type (name) must be in the vocabulary, the unit compatible."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "InstrumentMonochromator_energy", "value": 12.4, "unit": "keV"}]
        },
    )

    name: str = Field(max_length=200)
    value: bool | int | float | str = Field(description="Number, text, or ISO 8601 time.")
    unit: str | None = Field(None, max_length=64)

    def raw(self) -> ds.RawParameter:
        """The domain's form."""
        return ds.RawParameter(self.name, self.value, self.unit)


class DatasetSummary(BaseModel):
    """A dataset in listings."""

    id: UUID
    investigation_id: UUID
    name: str = Field(examples=["lysozyme_01_0001"])
    sample_id: UUID | None
    collection: str | None
    location: str = Field(examples=["/data/visitor/mx2345/id23-1/20261124/RAW_DATA/lysozyme_01"])
    kind: ds.DatasetKind
    start: datetime
    end: datetime | None
    complete: bool
    techniques: list[str] = Field(examples=[["MX"]])
    scan_type: ds.ScanType | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    parameter_count: int
    file_count: int
    volume: int = Field(description="Total size of the files in bytes.")
    archive_status: str | None = Field(description="Filled in by the archive.")


class Dataset(DatasetSummary):
    """One dataset with its parameters and inputs."""

    deleted: bool
    input_ids: list[UUID]
    parameters: list[Parameter]


class DatasetCreate(BaseModel):
    """A new dataset: a scan that started, or a processed result."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "lysozyme_01_0001",
                    "location": "/data/visitor/mx2345/id23-1/20261124/RAW_DATA/lysozyme_01",
                    "start": "2026-11-24T09:12:00Z",
                    "techniques": ["MX"],
                    "scan_type": "continuous",
                    "parameters": [
                        {"name": "InstrumentMonochromator_energy", "value": 12.4, "unit": "keV"}
                    ],
                }
            ]
        },
    )

    name: str = Field(max_length=200)
    location: str = Field(max_length=ds.MAX_PATH)
    start: Instant
    kind: ds.DatasetKind = ds.DatasetKind.RAW
    sample_id: UUID | None = None
    collection: str | None = Field(None, max_length=200)
    input_ids: list[UUID] = Field(default_factory=list, max_length=1000)
    techniques: list[str] = Field(default_factory=list, max_length=20)
    scan_type: ds.ScanType | None = None
    parameters: list[ParameterIn] = Field(
        default_factory=list, max_length=ds.MAX_PARAMETERS_PER_COMMAND
    )


class DatasetClose(BaseModel):
    """The end of a scan, with its final parameters."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"end": "2026-11-24T09:14:30Z", "parameters": []}]},
    )

    end: Instant
    parameters: list[ParameterIn] = Field(
        default_factory=list, max_length=ds.MAX_PARAMETERS_PER_COMMAND
    )


class ParametersIn(BaseModel):
    """Parameters to add or replace, by name."""

    model_config = ConfigDict(extra="forbid")

    parameters: list[ParameterIn] = Field(min_length=1, max_length=ds.MAX_PARAMETERS_PER_COMMAND)


class Datafile(BaseModel):
    """A registered file."""

    path: str
    size: int
    checksum: str | None
    format: str | None
    created_at: datetime | None
    modified_at: datetime | None
    registered_at: datetime | None = None


class DatafileIn(BaseModel):
    """A file to register."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "path": "/data/visitor/mx2345/id23-1/20261124/RAW_DATA/lysozyme_01/scan0001.h5",
                    "size": 1048576,
                    "checksum": "adler32:0a1b2c3d",
                    "format": "nexus",
                }
            ]
        },
    )

    path: str = Field(max_length=ds.MAX_PATH)
    size: int = Field(ge=0, lt=2**63)
    checksum: str | None = Field(None, max_length=200)
    format: str | None = Field(None, max_length=200)
    created_at: Instant | None = None
    modified_at: Instant | None = None


class DatafilesIn(BaseModel):
    """Files to register in one request (up to 10,000)."""

    model_config = ConfigDict(extra="forbid")

    files: list[DatafileIn] = Field(min_length=1, max_length=ds.MAX_FILES_PER_COMMAND)


class Registered(BaseModel):
    """The outcome of a bulk registration."""

    dataset_id: UUID
    version: int
    file_count: int


@router.get("/investigations/{investigation_id}/datasets", response_model=PageOf[DatasetSummary])
def list_datasets(
    investigation_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    sample: UUID | None = None,
    technique: Annotated[str | None, Query(max_length=32, examples=["MX"])] = None,
    start_from: Instant | None = None,
    start_to: Instant | None = None,
    parameter: Annotated[
        str | None, Query(max_length=200, description="Only datasets with this parameter.")
    ] = None,
    sort: Annotated[str, Query(pattern="^-?(start_time|name)$")] = "start_time",
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """An investigation's datasets, filtered and sorted, one page at a time."""
    where = DatasetFilter(sample, technique, start_from, start_to, parameter)
    return portal.list_datasets(
        services.store, caller, investigation_id, where, sort, cursor, limit
    ).as_response()


@router.post(
    "/investigations/{investigation_id}/datasets",
    status_code=status.HTTP_201_CREATED,
    response_model=Dataset,
)
def create_dataset(
    investigation_id: UUID,
    body: DatasetCreate,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
) -> object:
    """Open a dataset (its name is unique in the investigation)."""
    dataset_id = portal.create_dataset(
        services.store,
        caller,
        investigation_id,
        name=body.name,
        location=body.location,
        start=body.start,
        kind=body.kind,
        sample_id=body.sample_id,
        collection=body.collection,
        input_ids=body.input_ids,
        techniques=body.techniques,
        scan_type=body.scan_type,
        parameters=[p.raw() for p in body.parameters],
    )
    found = portal.get_dataset(services.store, caller, dataset_id)
    response.headers["Location"] = f"/api/v1/datasets/{dataset_id}"
    set_etag(response, found["version"])
    return found


@router.get("/datasets/{dataset_id}", response_model=Dataset)
def get_dataset(
    dataset_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    as_of: AsOfQuery = None,
) -> object:
    """One dataset with its parameters, now or as it was `as_of` a time."""
    found = portal.get_dataset(services.store, caller, dataset_id, as_of)
    set_etag(response, found["version"])
    return found


def _changed(
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    dataset_id: UUID,
    command: ds.CloseDataset | ds.UpdateParameters | ds.DeleteDataset,
    if_match: str | None,
) -> object:
    version = portal.change_dataset(
        services.store, caller, dataset_id, command, parse_if_match(if_match)
    )
    set_etag(response, version)
    if isinstance(command, ds.DeleteDataset):
        return None
    return portal.get_dataset(services.store, caller, dataset_id)


@router.post("/datasets/{dataset_id}/close", response_model=Dataset)
def close_dataset(
    dataset_id: UUID,
    body: DatasetClose,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Mark the dataset complete, with its end time and final parameters."""
    command = ds.CloseDataset(
        body.end, builtin_vocabulary(), tuple(p.raw() for p in body.parameters)
    )
    return _changed(services, caller, response, dataset_id, command, if_match)


@router.post("/datasets/{dataset_id}/parameters", response_model=Dataset)
def add_parameters(
    dataset_id: UUID,
    body: ParametersIn,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Add or replace parameters by name (up to 10,000 in one request)."""
    command = ds.UpdateParameters(tuple(p.raw() for p in body.parameters), builtin_vocabulary())
    return _changed(services, caller, response, dataset_id, command, if_match)


@router.delete("/datasets/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(
    dataset_id: UUID,
    reason: Annotated[str, Query(min_length=1, max_length=1000, examples=["aborted scan"])],
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> None:
    """Withdraw a dataset; its history stays readable."""
    _changed(services, caller, response, dataset_id, ds.DeleteDataset(reason), if_match)


@router.post(
    "/datasets/{dataset_id}/files", status_code=status.HTTP_201_CREATED, response_model=Registered
)
def register_files(
    dataset_id: UUID,
    body: DatafilesIn,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Register files (up to 10,000 per request); a path already registered is refused."""
    files = [ds.Datafile(**f.model_dump()) for f in body.files]
    version = portal.register_files(
        services.store, caller, dataset_id, files, parse_if_match(if_match)
    )
    set_etag(response, version)
    return {"dataset_id": dataset_id, "version": version, "file_count": len(files)}


@router.get("/datasets/{dataset_id}/files", response_model=PageOf[Datafile])
def list_files(
    dataset_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """The dataset's files, by path."""
    return portal.list_files(services.store, caller, dataset_id, cursor, limit).as_response()


@router.get("/datasets/{dataset_id}/history", response_model=PageOf[HistoryEntry])
def dataset_history(
    dataset_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """Who changed the dataset, when, and what; oldest first."""
    return portal.dataset_history(services.store, caller, dataset_id, cursor, limit).as_response()
