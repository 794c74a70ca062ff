"""Queries on samples, datasets, their parameters and files."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, exists, select

from catalogue.readmodels.paging import Ordering, Page, capped_count, fetch_page
from catalogue.schema import (
    datafiles,
    dataset_inputs,
    dataset_parameters,
    dataset_techniques,
    datasets,
    investigations,
    samples,
)

SAMPLE_ORDERING = Ordering("samples:name", (samples.c.name, samples.c.id))
DATASET_ORDERINGS = {
    "start_time": Ordering("datasets:start", (datasets.c.start_time, datasets.c.id)),
    "-start_time": Ordering("datasets:-start", (datasets.c.start_time, datasets.c.id), True),
    "name": Ordering("datasets:name", (datasets.c.name, datasets.c.id)),
    "-name": Ordering("datasets:-name", (datasets.c.name, datasets.c.id), True),
}
FILE_ORDERING = Ordering("files:path", (datafiles.c.path,))

_SAMPLE_COLUMNS = (
    "id",
    "investigation_id",
    "name",
    "description",
    "chemical_formula",
    "safety_information",
    "hazards",
    "parent_id",
    "version",
    "created_at",
    "updated_at",
    "dataset_count",
)


def owner_of_sample(connection: Connection, sample_id: UUID) -> UUID | None:
    """The investigation a sample belongs to, or None if there is no such sample."""
    query = select(samples.c.investigation_id).where(samples.c.id == sample_id)
    return connection.execute(query).scalar()


def owners_of_samples(connection: Connection, sample_ids: Collection[UUID]) -> dict[UUID, UUID]:
    """The investigation of each of these samples that exists."""
    if not sample_ids:
        return {}
    query = select(samples.c.id, samples.c.investigation_id).where(
        samples.c.id.in_(sorted(sample_ids))
    )
    return {row.id: row.investigation_id for row in connection.execute(query)}


def owner_of_dataset(connection: Connection, dataset_id: UUID) -> tuple[UUID, bool] | None:
    """(investigation, deleted) of a dataset, or None if there is no such dataset."""
    row = connection.execute(
        select(datasets.c.investigation_id, datasets.c.deleted).where(datasets.c.id == dataset_id)
    ).first()
    return None if row is None else (row.investigation_id, row.deleted)


def dataset_owners(connection: Connection, dataset_ids: list[UUID]) -> dict[UUID, UUID]:
    """The investigation of each of the ids that is a dataset the catalogue holds (not deleted)."""
    if not dataset_ids:
        return {}
    query = select(datasets.c.id, datasets.c.investigation_id).where(
        datasets.c.id.in_(dataset_ids), datasets.c.deleted.is_(False)
    )
    return {row.id: row.investigation_id for row in connection.execute(query)}


def existing_paths(connection: Connection, dataset_id: UUID, paths: list[str]) -> frozenset[str]:
    """Which of the paths the dataset already has."""
    found: set[str] = set()
    # Chunks keep each statement's parameter count under SQLite's limit.
    for start in range(0, len(paths), 500):
        chunk = paths[start : start + 500]
        query = select(datafiles.c.path).where(
            datafiles.c.dataset_id == dataset_id, datafiles.c.path.in_(chunk)
        )
        found.update(connection.execute(query).scalars())
    return frozenset(found)


def sample_row(row: Any) -> dict[str, Any]:
    """A sample row as the API shows it."""
    return {name: getattr(row, name) for name in _SAMPLE_COLUMNS}


def list_samples(
    connection: Connection, investigation_id: UUID, cursor: str | None, limit: int
) -> Page:
    """An investigation's samples by name."""
    query = select(samples).where(samples.c.investigation_id == investigation_id)
    rows, next_cursor = fetch_page(connection, query, SAMPLE_ORDERING, cursor, limit)
    total = connection.execute(
        select(investigations.c.sample_count).where(investigations.c.id == investigation_id)
    ).scalar_one()
    return Page([sample_row(r) for r in rows], next_cursor, total)


def get_sample(connection: Connection, sample_id: UUID) -> dict[str, Any] | None:
    """One sample with its first datasets (the full list pages through the dataset listing)."""
    row = connection.execute(select(samples).where(samples.c.id == sample_id)).first()
    if row is None:
        return None
    recent = connection.execute(
        select(datasets.c.id, datasets.c.name, datasets.c.start_time, datasets.c.complete)
        .where(datasets.c.sample_id == sample_id, datasets.c.deleted.is_(False))
        .order_by(datasets.c.start_time, datasets.c.id)
        .limit(100)
    ).mappings()
    return {**sample_row(row), "datasets": [dict(d) for d in recent]}


@dataclass(frozen=True, slots=True)
class DatasetFilter:
    """Filters of the dataset listing."""

    sample_id: UUID | None = None
    technique: str | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    parameter: str | None = None

    @property
    def empty(self) -> bool:
        """No filter: the total is the investigation's counter."""
        return all(getattr(self, name) is None for name in self.__slots__)


_LISTED = (
    datasets.c.id,
    datasets.c.investigation_id,
    datasets.c.name,
    datasets.c.sample_id,
    datasets.c.collection,
    datasets.c.location,
    datasets.c.kind,
    datasets.c.start_time,
    datasets.c.end_time,
    datasets.c.complete,
    datasets.c.techniques,
    datasets.c.scan_type,
    datasets.c.version,
    datasets.c.created_at,
    datasets.c.updated_at,
    datasets.c.parameter_count,
    datasets.c.file_count,
    datasets.c.volume,
    datasets.c.archive_status,
)


def dataset_summary(row: Any) -> dict[str, Any]:
    """A dataset row as the API shows it in listings."""
    data = {column.name: getattr(row, column.name) for column in _LISTED}
    data["start"] = data.pop("start_time")
    data["end"] = data.pop("end_time")
    return data


def list_datasets(
    connection: Connection,
    investigation_id: UUID,
    where: DatasetFilter,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page:
    """An investigation's datasets (not deleted ones), filtered, one page at a time."""
    query = select(*_LISTED).where(
        datasets.c.investigation_id == investigation_id, datasets.c.deleted.is_(False)
    )
    if where.sample_id is not None:
        query = query.where(datasets.c.sample_id == where.sample_id)
    if where.start_from is not None:
        query = query.where(datasets.c.start_time >= where.start_from)
    if where.start_to is not None:
        query = query.where(datasets.c.start_time <= where.start_to)
    if where.technique is not None:
        query = query.where(
            exists().where(
                dataset_techniques.c.dataset_id == datasets.c.id,
                dataset_techniques.c.technique == where.technique,
            )
        )
    if where.parameter is not None:
        query = query.where(
            exists().where(
                dataset_parameters.c.dataset_id == datasets.c.id,
                dataset_parameters.c.name == where.parameter,
            )
        )
    rows, next_cursor = fetch_page(connection, query, DATASET_ORDERINGS[sort], cursor, limit)
    if where.empty:
        total = connection.execute(
            select(investigations.c.dataset_count).where(investigations.c.id == investigation_id)
        ).scalar_one()
        exact = True
    else:
        total, exact = capped_count(connection, query)
    return Page([dataset_summary(r) for r in rows], next_cursor, total, exact)


def get_dataset(connection: Connection, dataset_id: UUID) -> dict[str, Any] | None:
    """One dataset with its parameters and input datasets."""
    row = connection.execute(
        select(*_LISTED, datasets.c.deleted).where(datasets.c.id == dataset_id)
    ).first()
    if row is None:
        return None
    parameters = connection.execute(
        select(
            dataset_parameters.c.name,
            dataset_parameters.c.value,
            dataset_parameters.c.unit,
            dataset_parameters.c.numeric,
            dataset_parameters.c.si_value,
            dataset_parameters.c.si_unit,
        )
        .where(dataset_parameters.c.dataset_id == dataset_id)
        .order_by(dataset_parameters.c.name)
    ).mappings()
    inputs = connection.execute(
        select(dataset_inputs.c.input_id)
        .where(dataset_inputs.c.dataset_id == dataset_id)
        .order_by(dataset_inputs.c.input_id)
    ).scalars()
    return {
        **dataset_summary(row),
        "deleted": row.deleted,
        "input_ids": list(inputs),
        "parameters": [dict(p) for p in parameters],
    }


def list_datafiles(
    connection: Connection, dataset_id: UUID, cursor: str | None, limit: int
) -> Page:
    """A dataset's files by path; the total is the dataset's counter."""
    query = select(
        datafiles.c.path,
        datafiles.c.size,
        datafiles.c.checksum,
        datafiles.c.format,
        datafiles.c.created_at,
        datafiles.c.modified_at,
        datafiles.c.registered_at,
    ).where(datafiles.c.dataset_id == dataset_id)
    rows, next_cursor = fetch_page(connection, query, FILE_ORDERING, cursor, limit)
    total = connection.execute(
        select(datasets.c.file_count).where(datasets.c.id == dataset_id)
    ).scalar_one()
    return Page([dict(r._mapping) for r in rows], next_cursor, total)
