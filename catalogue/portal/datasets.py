"""Samples, datasets, parameters and files: reads with access checks, and their commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from catalogue.domain import datasets as ds
from catalogue.domain import samples as smp
from catalogue.domain.access import (
    InvestigationFacts,
    can_read,
    can_write_data,
    require,
    require_read,
)
from catalogue.domain.parameters import builtin_vocabulary
from catalogue.errors import NotFound, StoreError
from catalogue.events import Event
from catalogue.portal.execution import Caller, execute, reading, run
from catalogue.portal.history import history_page, state_as_of
from catalogue.portal.investigations import readable_facts
from catalogue.projections import Status, read_checkpoint
from catalogue.readmodels import datasets as queries
from catalogue.readmodels import investigations as investigation_queries
from catalogue.readmodels.paging import Page
from catalogue.readmodels.projection import CatalogueProjection
from catalogue.store import EventStore

# -- access ---------------------------------------------------------------------------------


def _writable(connection: Connection, caller: Caller, investigation_id: UUID) -> InvestigationFacts:
    facts = readable_facts(connection, caller, investigation_id)
    require(
        can_write_data(caller.principal, facts), caller.principal, "add data to this investigation"
    )
    return facts


def _sample_owner(connection: Connection, caller: Caller, sample_id: UUID) -> UUID:
    """The sample's investigation if the caller may read it; else 404."""
    owner = queries.owner_of_sample(connection, sample_id)
    facts = None if owner is None else _facts(connection, caller, owner)
    require_read(caller.principal, facts, caller.now, "sample")
    assert owner is not None
    return owner


def _dataset_owner(
    connection: Connection, caller: Caller, dataset_id: UUID, *, allow_deleted: bool = False
) -> UUID:
    """The dataset's investigation if the caller may read it; else 404."""
    found = queries.owner_of_dataset(connection, dataset_id)
    facts = None if found is None else _facts(connection, caller, found[0])
    require_read(caller.principal, facts, caller.now, "dataset")
    assert found is not None
    owner, deleted = found
    if deleted and not allow_deleted:
        raise NotFound("the dataset was deleted (its history is still available)")
    return owner


def _facts(
    connection: Connection, caller: Caller, investigation_id: UUID
) -> InvestigationFacts | None:
    return investigation_queries.investigation_facts(
        connection, investigation_id, caller.principal.username
    )


def _readable_datasets(
    connection: Connection, caller: Caller, dataset_ids: list[UUID]
) -> frozenset[UUID]:
    """Which of the ids are datasets the caller may read (others count as unknown)."""
    readable = set()
    facts: dict[UUID, InvestigationFacts | None] = {}
    for dataset_id, owner in queries.dataset_owners(connection, dataset_ids).items():
        if owner not in facts:
            facts[owner] = _facts(connection, caller, owner)
        found = facts[owner]
        if found is not None and can_read(caller.principal, found, caller.now):
            readable.add(dataset_id)
    return frozenset(readable)


# -- samples --------------------------------------------------------------------------------


def list_samples(
    store: EventStore, caller: Caller, investigation_id: UUID, cursor: str | None, limit: int
) -> Page:
    """An investigation's samples."""
    with reading(store) as connection:
        readable_facts(connection, caller, investigation_id)
        return queries.list_samples(connection, investigation_id, cursor, limit)


def get_sample(
    store: EventStore, caller: Caller, sample_id: UUID, as_of: datetime | None = None
) -> dict[str, Any]:
    """One sample with its datasets, or (without them) as it was at `as_of`."""
    with reading(store) as connection:
        _sample_owner(connection, caller, sample_id)
        found = None if as_of is not None else queries.get_sample(connection, sample_id)
    if as_of is not None:
        state, version, changed = state_as_of(store, smp.SAMPLE, sample_id, as_of)
        if not state.exists:
            raise NotFound(f"the sample did not exist at {as_of.isoformat()}")
        return {
            "id": state.sample_id,
            "investigation_id": state.investigation_id,
            "name": state.name,
            "description": state.description,
            "chemical_formula": state.chemical_formula,
            "safety_information": state.safety_information,
            "hazards": list(state.hazards),
            "parent_id": state.parent_id,
            "version": version,
            "created_at": None,
            "updated_at": changed,
            "dataset_count": None,
            "datasets": None,
        }
    if found is None:
        raise NotFound("no sample with that id")
    return found


def register_sample(
    store: EventStore, caller: Caller, investigation_id: UUID, command: smp.RegisterSample
) -> UUID:
    """Describe a sample of the investigation."""
    with reading(store) as connection:
        _writable(connection, caller, investigation_id)
        parent_owner = None
        if command.parent_id is not None:
            parent_owner = queries.owner_of_sample(connection, command.parent_id)
    checked = smp.RegisterSample(
        investigation_id=investigation_id,
        name=command.name,
        description=command.description,
        chemical_formula=command.chemical_formula,
        safety_information=command.safety_information,
        hazards=command.hazards,
        parent_id=command.parent_id,
        parent_investigation_id=parent_owner,
    )
    sample_id = smp.sample_id_for(investigation_id, command.name)
    run(store, caller, smp.SAMPLE, sample_id, checked)
    return sample_id


def update_sample(
    store: EventStore,
    caller: Caller,
    sample_id: UUID,
    command: smp.UpdateSample,
    if_match: int | None = None,
) -> int:
    """Change a sample's description, formula or safety information."""
    with reading(store) as connection:
        _writable(connection, caller, _sample_owner(connection, caller, sample_id))
    outcome = run(store, caller, smp.SAMPLE, sample_id, command, if_match=if_match)
    return outcome.version


def sample_history(
    store: EventStore, caller: Caller, sample_id: UUID, cursor: str | None, limit: int
) -> Page:
    """Who changed the sample, when, and what."""
    with reading(store) as connection:
        _sample_owner(connection, caller, sample_id)
    return history_page(store, smp.SAMPLE, sample_id, cursor, limit)


# -- datasets -------------------------------------------------------------------------------


def list_datasets(
    store: EventStore,
    caller: Caller,
    investigation_id: UUID,
    where: queries.DatasetFilter,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page:
    """An investigation's datasets."""
    with reading(store) as connection:
        readable_facts(connection, caller, investigation_id)
        return queries.list_datasets(connection, investigation_id, where, sort, cursor, limit)


def get_dataset(
    store: EventStore, caller: Caller, dataset_id: UUID, as_of: datetime | None = None
) -> dict[str, Any]:
    """One dataset with its parameters, now or as it was at `as_of`."""
    with reading(store) as connection:
        _dataset_owner(connection, caller, dataset_id, allow_deleted=as_of is not None)
        found = None if as_of is not None else queries.get_dataset(connection, dataset_id)
    if as_of is not None:
        return dataset_as_of(store, dataset_id, as_of)
    if found is None:
        raise NotFound("no dataset with that id")
    return found


def dataset_as_of(store: EventStore, dataset_id: UUID, as_of: datetime) -> dict[str, Any]:
    """The dataset folded from its events up to `as_of`."""
    state, version, changed = state_as_of(store, ds.DATASET, dataset_id, as_of)
    if not state.exists:
        raise NotFound(f"the dataset did not exist at {as_of.isoformat()}")
    return {
        "id": state.dataset_id,
        "investigation_id": state.investigation_id,
        "name": state.name,
        "sample_id": state.sample_id,
        "collection": state.collection,
        "location": state.location,
        "kind": state.kind.value,
        "start": state.start,
        "end": state.end,
        "complete": state.complete,
        "techniques": list(state.techniques),
        "scan_type": state.scan_type.value if state.scan_type else None,
        "version": version,
        "created_at": None,
        "updated_at": changed,
        "parameter_count": len(state.parameters),
        "file_count": state.file_count,
        "volume": state.volume,
        "archive_status": None,
        "deleted": state.deleted,
        "input_ids": list(state.input_ids),
        "parameters": [
            p.model_dump() for p in sorted(state.parameters.values(), key=lambda p: p.name)
        ],
    }


def create_dataset(
    store: EventStore,
    caller: Caller,
    investigation_id: UUID,
    *,
    name: str,
    location: str,
    start: datetime,
    kind: ds.DatasetKind = ds.DatasetKind.RAW,
    sample_id: UUID | None = None,
    collection: str | None = None,
    input_ids: Sequence[UUID] = (),
    techniques: Sequence[str] = (),
    scan_type: ds.ScanType | None = None,
    parameters: Sequence[ds.RawParameter] = (),
) -> UUID:
    """Open a dataset in the investigation (a scan started, or a result was produced)."""
    with reading(store) as connection:
        _writable(connection, caller, investigation_id)
        sample_owner = None if sample_id is None else queries.owner_of_sample(connection, sample_id)
        known_inputs = _readable_datasets(connection, caller, list(input_ids))
    command = ds.CreateDataset(
        investigation_id=investigation_id,
        name=name,
        location=location,
        start=start,
        vocabulary=builtin_vocabulary(),
        kind=kind,
        sample_id=sample_id,
        sample_investigation_id=sample_owner,
        collection=collection,
        input_ids=tuple(input_ids),
        known_inputs=known_inputs,
        techniques=tuple(techniques),
        scan_type=scan_type,
        parameters=tuple(parameters),
    )
    dataset_id = ds.dataset_id_for(investigation_id, name)
    run(store, caller, ds.DATASET, dataset_id, command)
    return dataset_id


def change_dataset(
    store: EventStore,
    caller: Caller,
    dataset_id: UUID,
    command: ds.CloseDataset | ds.UpdateParameters | ds.DeleteDataset,
    if_match: int | None = None,
) -> int:
    """Close a dataset, update its parameters, or delete it."""
    with reading(store) as connection:
        _writable(connection, caller, _dataset_owner(connection, caller, dataset_id))
    outcome = run(store, caller, ds.DATASET, dataset_id, command, if_match=if_match)
    return outcome.version


def register_files(
    store: EventStore,
    caller: Caller,
    dataset_id: UUID,
    files: Sequence[ds.Datafile],
    if_match: int | None = None,
) -> int:
    """Add files to a dataset (up to 10,000 per call)."""
    with reading(store) as connection:
        _writable(connection, caller, _dataset_owner(connection, caller, dataset_id))
    ds.check_files(files, frozenset())  # before the paths reach a query

    def decide(state: ds.Dataset) -> list[Event]:
        # Looked up on every attempt: a concurrent registration may have added some paths.
        with reading(store) as connection:
            # The path check trusts the read model: while a rebuild replays it, it may not
            # yet hold paths that events already do (and a duplicate would break the rebuild).
            if read_checkpoint(connection, CatalogueProjection.name).status is not Status.LIVE:
                raise StoreError("the catalogue read model is being rebuilt; try again later")
            existing = queries.existing_paths(connection, dataset_id, [f.path for f in files])
        return ds.decide_dataset(state, ds.RegisterFiles(tuple(files), existing))

    outcome = execute(store, caller, ds.DATASET, dataset_id, decide, if_match=if_match)
    return outcome.version


def list_files(
    store: EventStore, caller: Caller, dataset_id: UUID, cursor: str | None, limit: int
) -> Page:
    """A dataset's files."""
    with reading(store) as connection:
        _dataset_owner(connection, caller, dataset_id)
        return queries.list_datafiles(connection, dataset_id, cursor, limit)


def dataset_history(
    store: EventStore, caller: Caller, dataset_id: UUID, cursor: str | None, limit: int
) -> Page:
    """Who changed the dataset, when, and what."""
    with reading(store) as connection:
        _dataset_owner(connection, caller, dataset_id, allow_deleted=True)
    return history_page(store, ds.DATASET, dataset_id, cursor, limit)
