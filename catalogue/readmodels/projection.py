"""The inline projections behind the portal: identity, and the catalogue's entities.

Both fold a batch of events into `OrderedWrites` (one executemany per run of alike rows)
and finish with per-entity versions and counters, so that appending one event and loading
a million cost the same statements per event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update

from catalogue.domain import datasets as ds
from catalogue.domain import identity as ident
from catalogue.domain import instruments as inst
from catalogue.domain import investigations as inv
from catalogue.domain import samples as smp
from catalogue.domain.parameters import ParameterValue
from catalogue.events import Event, RecordedEvent
from catalogue.projections import Mode, Projection, upsert_statement
from catalogue.readmodels.writes import OrderedWrites
from catalogue.schema import (
    credentials,
    datafiles,
    dataset_inputs,
    dataset_parameters,
    dataset_techniques,
    datasets,
    group_members,
    groups,
    instrument_scientists,
    instruments,
    investigations,
    participants,
    samples,
    users,
)


def stream_key(stream: str) -> str:
    """The entity key after the category: `user-alice` -> `alice`."""
    return stream.split("-", 1)[1]


def type_names(classes: Iterable[type[Event]]) -> frozenset[str]:
    """The stored type names of event classes."""
    return frozenset(cls.type_name for cls in classes)


def partial_update(
    writes: OrderedWrites, table: Table, key_column: str, key: Any, changes: Mapping[str, Any]
) -> None:
    """Queue an update of only the fields present; runs with the same fields batch together."""
    fields = sorted(changes)
    if not fields:
        return
    name = f"update:{table.name}:{','.join(fields)}"
    writes.add(
        name,
        table.name,
        lambda: (
            update(table)
            .where(table.c[key_column] == bindparam("_key"))
            .values({f: bindparam(f) for f in fields})
        ),
        {"_key": key, **changes},
        key,
    )


def set_versions(
    connection: Connection, table: Table, key_column: str, latest: Mapping[Any, RecordedEvent]
) -> None:
    """Each touched entity's row carries its stream version (the ETag) and last change time."""
    if not latest:
        return
    connection.execute(
        update(table)
        .where(table.c[key_column] == bindparam("_key"))
        .values(version=bindparam("_version"), updated_at=bindparam("_at")),
        [{"_key": k, "_version": e.version, "_at": e.recorded_at} for k, e in latest.items()],
    )


class IdentityProjection(Projection):
    """Users, groups, and credentials (user tokens and beamline API keys)."""

    name = "identity"
    mode = Mode.INLINE
    handles = type_names(
        (*ident.USER_EVENTS, *ident.GROUP_EVENTS, inst.ApiKeyIssued, inst.ApiKeyRevoked)
    )
    tables = (users, groups, group_members, credentials)

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Fold the batch into the identity tables."""
        writes = OrderedWrites(connection)
        latest_user: dict[str, RecordedEvent] = {}
        for event in batch:
            key = stream_key(event.stream)
            match event.payload:
                case ident.UserAdded() as added:
                    row = {
                        "username": added.username,
                        "full_name": added.full_name,
                        "email": added.email,
                        "version": event.version,
                        "created_at": event.recorded_at,
                        "updated_at": event.recorded_at,
                    }
                    writes.add("users", "users", insert(users), row, added.username)
                case ident.UserUpdated() as updated:
                    changes = {k: v for k, v in updated.model_dump().items() if v is not None}
                    partial_update(writes, users, "username", key, changes)
                case ident.TokenIssued() | inst.ApiKeyIssued() as issued:
                    is_token = isinstance(issued, ident.TokenIssued)
                    row = {
                        "id": issued.token_id if is_token else issued.key_id,  # type: ignore[union-attr]
                        "kind": "token" if is_token else "api_key",
                        "subject": key,
                        "secret_hash": issued.secret_hash,
                        "label": issued.label,
                        "created_at": event.recorded_at,
                        "expires_at": issued.expires_at,
                        "revoked_at": None,
                    }
                    writes.add("credentials", "credentials", insert(credentials), row, row["id"])
                case ident.TokenRevoked() | inst.ApiKeyRevoked() as revoked:
                    credential = (
                        revoked.token_id
                        if isinstance(revoked, ident.TokenRevoked)
                        else revoked.key_id
                    )
                    partial_update(
                        writes, credentials, "id", credential, {"revoked_at": event.recorded_at}
                    )
                case ident.GroupCreated() as created:
                    row = {
                        "name": created.name,
                        "description": created.description,
                        "created_at": event.recorded_at,
                    }
                    writes.add("groups", "groups", insert(groups), row, created.name)
                case ident.GroupMemberAdded() as added_member:
                    row = {"group_name": key, "username": added_member.username}
                    member = (key, added_member.username)
                    writes.add("group_members", "group_members", insert(group_members), row, member)
                case ident.GroupMemberRemoved() as removed_member:
                    writes.add(
                        "group_members:delete",
                        "group_members",
                        lambda: delete(group_members).where(
                            group_members.c.group_name == bindparam("g"),
                            group_members.c.username == bindparam("u"),
                        ),
                        {"g": key, "u": removed_member.username},
                        (key, removed_member.username),
                    )
            if event.stream.startswith("user-"):
                latest_user[key] = event
        writes.flush()
        set_versions(connection, users, "username", latest_user)


class CatalogueProjection(Projection):
    """Instruments, investigations and participants, samples, datasets and their files."""

    name = "catalogue"
    mode = Mode.INLINE
    handles = type_names(
        (
            *inst.INSTRUMENT_EVENTS,
            *inv.INVESTIGATION_EVENTS,
            *smp.SAMPLE_EVENTS,
            *ds.DATASET_EVENTS,
        )
    )
    tables = (
        instruments,
        instrument_scientists,
        investigations,
        participants,
        samples,
        datasets,
        dataset_inputs,
        dataset_techniques,
        dataset_parameters,
        datafiles,
    )

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Fold the batch into the catalogue tables, then versions and counters."""
        fold = _CatalogueFold(connection)
        for event in batch:
            fold.apply(event)
        fold.finish()


class _CatalogueFold:
    """One batch of the catalogue projection: queued writes, latest versions, counter deltas."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.writes = OrderedWrites(connection)
        self.latest: dict[Table, dict[Any, RecordedEvent]] = {}
        self.sample_counts: Counter[UUID] = Counter()
        self.dataset_counts: Counter[UUID] = Counter()
        self.sample_dataset_counts: Counter[UUID] = Counter()
        self.file_counts: Counter[UUID] = Counter()
        self.volumes: Counter[UUID] = Counter()
        self.parameters_touched: set[UUID] = set()

    def touch(self, table: Table, key: Any, event: RecordedEvent) -> None:
        """Remember the entity's latest event, for its version and change time."""
        self.latest.setdefault(table, {})[key] = event

    def apply(self, event: RecordedEvent) -> None:
        """Queue the writes of one event."""
        key = stream_key(event.stream)
        payload = event.payload
        if event.stream.startswith("instrument-"):
            self.apply_instrument(key, payload, event)
            self.touch(instruments, key, event)
        elif event.stream.startswith("investigation-"):
            self.apply_investigation(UUID(key), payload, event)
            self.touch(investigations, UUID(key), event)
        elif event.stream.startswith("sample-"):
            self.apply_sample(UUID(key), payload, event)
            self.touch(samples, UUID(key), event)
        elif event.stream.startswith("dataset-"):
            self.apply_dataset(UUID(key), payload, event)
            self.touch(datasets, UUID(key), event)

    def apply_instrument(self, name: str, payload: Event, event: RecordedEvent) -> None:
        """Beamlines and their scientists (API keys only move the version)."""
        match payload:
            case inst.InstrumentRegistered():
                row = {
                    "name": payload.name,
                    "full_name": payload.full_name,
                    "description": payload.description,
                    "version": event.version,
                    "created_at": event.recorded_at,
                }
                self.writes.add(
                    "instruments", "instruments", insert(instruments), row, payload.name
                )
            case inst.InstrumentScientistAdded():
                row = {"instrument": name, "username": payload.username}
                scientist = (name, payload.username)
                self.writes.add(
                    "scientists", "scientists", insert(instrument_scientists), row, scientist
                )
            case inst.InstrumentScientistRemoved():
                self.writes.add(
                    "scientists:delete",
                    "scientists",
                    lambda: delete(instrument_scientists).where(
                        instrument_scientists.c.instrument == bindparam("i"),
                        instrument_scientists.c.username == bindparam("u"),
                    ),
                    {"i": name, "u": payload.username},
                    (name, payload.username),
                )

    def apply_investigation(self, key: UUID, payload: Event, event: RecordedEvent) -> None:
        """Investigations and participants."""
        match payload:
            case inv.InvestigationCreated():
                row = {
                    "id": payload.investigation_id,
                    "proposal": payload.proposal,
                    "visit_id": payload.visit_id,
                    "instrument": payload.instrument,
                    "title": payload.title,
                    "summary": payload.summary,
                    "start_time": payload.start,
                    "end_time": payload.end,
                    "release_date": payload.release_date,
                    "doi": payload.doi,
                    "version": event.version,
                    "created_at": event.recorded_at,
                    "updated_at": event.recorded_at,
                    "sample_count": 0,
                    "dataset_count": 0,
                }
                self.writes.add(
                    "investigations", "investigations", insert(investigations), row, key
                )
            case inv.InvestigationUpdated():
                renamed = {"start": "start_time", "end": "end_time"}
                changes = {
                    renamed.get(k, k): v
                    for k, v in payload.model_dump(exclude={"release_date_defaulted"}).items()
                    if v is not None
                }
                partial_update(self.writes, investigations, "id", key, changes)
            case inv.ParticipantAdded():
                row = {
                    "investigation_id": key,
                    "username": payload.username,
                    "role": payload.role.value,
                }
                self.writes.add(
                    "participants",
                    "participants",
                    lambda: upsert_statement(
                        self.connection,
                        participants,
                        ["investigation_id", "username"],
                        lambda new: {"role": new.role},
                    ),
                    row,
                    (key, payload.username),
                )
            case inv.ParticipantRemoved():
                self.writes.add(
                    "participants:delete",
                    "participants",
                    lambda: delete(participants).where(
                        participants.c.investigation_id == bindparam("i"),
                        participants.c.username == bindparam("u"),
                    ),
                    {"i": key, "u": payload.username},
                    (key, payload.username),
                )

    def apply_sample(self, key: UUID, payload: Event, event: RecordedEvent) -> None:
        """Samples."""
        match payload:
            case smp.SampleRegistered():
                row = {
                    "id": payload.sample_id,
                    "investigation_id": payload.investigation_id,
                    "name": payload.name,
                    "description": payload.description,
                    "chemical_formula": payload.chemical_formula,
                    "safety_information": payload.safety_information,
                    "hazards": list(payload.hazards),
                    "parent_id": payload.parent_id,
                    "version": event.version,
                    "created_at": event.recorded_at,
                    "updated_at": event.recorded_at,
                    "dataset_count": 0,
                }
                self.writes.add("samples", "samples", insert(samples), row, key)
                self.sample_counts[payload.investigation_id] += 1
            case smp.SampleUpdated():
                changes = {k: v for k, v in payload.model_dump().items() if v is not None}
                if "hazards" in changes:
                    changes["hazards"] = list(changes["hazards"])
                partial_update(self.writes, samples, "id", key, changes)

    def apply_dataset(self, key: UUID, payload: Event, event: RecordedEvent) -> None:
        """Datasets, their techniques, inputs, parameters and files."""
        match payload:
            case ds.DatasetCreated():
                row = {
                    "id": key,
                    "investigation_id": payload.investigation_id,
                    "name": payload.name,
                    "sample_id": payload.sample_id,
                    "collection": payload.collection,
                    "location": payload.location,
                    "kind": payload.kind.value,
                    "start_time": payload.start,
                    "end_time": None,
                    "complete": False,
                    "techniques": list(payload.techniques),
                    "scan_type": payload.scan_type.value if payload.scan_type else None,
                    "deleted": False,
                    "version": event.version,
                    "created_at": event.recorded_at,
                    "updated_at": event.recorded_at,
                    "parameter_count": 0,
                    "file_count": 0,
                    "volume": 0,
                    "archive_status": None,
                }
                self.writes.add("datasets", "datasets", insert(datasets), row, key)
                for technique in payload.techniques:
                    row = {"dataset_id": key, "technique": technique}
                    self.writes.add(
                        "techniques", "techniques", insert(dataset_techniques), row, None
                    )
                for input_id in payload.input_ids:
                    row = {"dataset_id": key, "input_id": input_id}
                    self.writes.add("inputs", "inputs", insert(dataset_inputs), row, None)
                self.upsert_parameters(key, payload.parameters)
                self.dataset_counts[payload.investigation_id] += 1
                if payload.sample_id is not None:
                    self.sample_dataset_counts[payload.sample_id] += 1
            case ds.DatasetClosed():
                changes = {"end_time": payload.end, "complete": True}
                partial_update(self.writes, datasets, "id", key, changes)
                self.upsert_parameters(key, payload.parameters)
            case ds.DatasetParametersUpdated():
                self.upsert_parameters(key, payload.parameters)
            case ds.DatafilesRegistered():
                statement = insert(datafiles)
                for datafile in payload.files:
                    row = {
                        "dataset_id": key,
                        "path": datafile.path,
                        "size": datafile.size,
                        "checksum": datafile.checksum,
                        "format": datafile.format,
                        "created_at": datafile.created_at,
                        "modified_at": datafile.modified_at,
                        "registered_at": event.recorded_at,
                    }
                    self.writes.add("datafiles", "datafiles", statement, row, None)
                    self.volumes[key] += datafile.size
                self.file_counts[key] += len(payload.files)
            case ds.DatafilesUpdated():
                for datafile in payload.files:
                    self.writes.add(
                        "datafiles:update",
                        "datafiles",
                        lambda: (
                            update(datafiles)
                            .where(
                                datafiles.c.dataset_id == bindparam("_dataset"),
                                datafiles.c.path == bindparam("_path"),
                            )
                            .values(
                                size=bindparam("size"),
                                checksum=bindparam("checksum"),
                                modified_at=bindparam("modified_at"),
                            )
                        ),
                        {
                            "_dataset": key,
                            "_path": datafile.path,
                            "size": datafile.size,
                            "checksum": datafile.checksum,
                            "modified_at": datafile.modified_at,
                        },
                        (key, datafile.path),
                    )
                self.volumes[key] += payload.volume_change
            case ds.DatasetDeleted():
                partial_update(self.writes, datasets, "id", key, {"deleted": True})
                self.writes.flush()
                owner = self.connection.execute(
                    select(datasets.c.investigation_id, datasets.c.sample_id).where(
                        datasets.c.id == key
                    )
                ).one()
                self.dataset_counts[owner.investigation_id] -= 1
                if owner.sample_id is not None:
                    self.sample_dataset_counts[owner.sample_id] -= 1

    def upsert_parameters(self, key: UUID, parameters: Sequence[ParameterValue]) -> None:
        """Add or replace parameters by name."""
        for parameter in parameters:
            row = {
                "dataset_id": key,
                "name": parameter.name,
                "value": parameter.value,
                "unit": parameter.unit,
                "numeric": parameter.numeric,
                "si_value": parameter.si_value,
                "si_unit": parameter.si_unit,
            }
            self.writes.add(
                "parameters",
                "parameters",
                lambda: upsert_statement(
                    self.connection,
                    dataset_parameters,
                    ["dataset_id", "name"],
                    lambda new: {
                        c: new[c] for c in ("value", "unit", "numeric", "si_value", "si_unit")
                    },
                ),
                row,
                (key, parameter.name),
            )
        if parameters:
            self.parameters_touched.add(key)

    def finish(self) -> None:
        """Flush the queued rows, then versions and counters of every touched entity."""
        self.writes.flush()
        for table, latest in self.latest.items():
            if table is instruments:
                self.connection.execute(
                    update(instruments)
                    .where(instruments.c.name == bindparam("_key"))
                    .values(version=bindparam("_version")),
                    [{"_key": k, "_version": e.version} for k, e in latest.items()],
                )
            else:
                set_versions(self.connection, table, table.c.keys()[0], latest)
        self.add_counts(investigations, "sample_count", self.sample_counts)
        self.add_counts(investigations, "dataset_count", self.dataset_counts)
        self.add_counts(samples, "dataset_count", self.sample_dataset_counts)
        self.add_counts(datasets, "file_count", self.file_counts)
        self.add_counts(datasets, "volume", self.volumes)
        if self.parameters_touched:
            count = (
                select(func.count())
                .where(dataset_parameters.c.dataset_id == datasets.c.id)
                .scalar_subquery()
            )
            self.connection.execute(
                update(datasets)
                .where(datasets.c.id == bindparam("_key"))
                .values(parameter_count=count),
                [{"_key": k} for k in self.parameters_touched],
            )

    def add_counts(self, table: Table, column: str, deltas: Mapping[UUID, int]) -> None:
        """Add each delta to the entity's counter."""
        rows = [{"_key": k, "_delta": d} for k, d in deltas.items() if d]
        if rows:
            self.connection.execute(
                update(table)
                .where(table.c.id == bindparam("_key"))
                .values({column: table.c[column] + bindparam("_delta")}),
                rows,
            )
