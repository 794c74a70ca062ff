"""Recording what the ingester read: folders become datasets (with their sample and files),
failures become `IngestFailed`, and both are listed for people.

A batch of folders is resolved in one read transaction and appended in one transaction (a
first ingest of a tree appends thousands of datasets); a batch that loses a race with another
writer is recorded again folder by folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection

from catalogue.domain import datasets as ds
from catalogue.domain import ingests as ing
from catalogue.domain import samples as smp
from catalogue.domain.access import Principal, PrincipalKind, can_write_data, require
from catalogue.domain.aggregate import Aggregate
from catalogue.domain.parameters import builtin_vocabulary
from catalogue.errors import (
    ConcurrencyConflict,
    DomainError,
    InvalidCommand,
    NotFound,
    StoreError,
)
from catalogue.events import NO_STREAM, Event, StreamAppend
from catalogue.portal.execution import ATTEMPTS, Caller, load, reading
from catalogue.projections import Status, read_checkpoint
from catalogue.readmodels import ingests as queries
from catalogue.readmodels import investigations as investigation_queries
from catalogue.readmodels.paging import Page
from catalogue.readmodels.projection import CatalogueProjection
from catalogue.store import EventStore

S = TypeVar("S")

NEW = "new"
UPDATED = "updated"
UNCHANGED = "unchanged"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of one folder: new, updated, unchanged or failed (with the reason)."""

    path: str
    outcome: str
    dataset_id: UUID | None = None
    reason: str | None = None


@dataclass(slots=True)
class _Plan:
    """One folder resolved against the read models: the appends it needs, or a failure."""

    item: ing.FolderReading | ing.FolderFailure
    failure: str | None = None
    command: ing.RecordDataset | None = None
    #: A sample the folder names that the investigation does not have yet, and its events.
    sample: smp.RegisterSample | None = None
    sample_events: list[Event] = field(default_factory=list)
    appends: list[StreamAppend] = field(default_factory=list)
    outcome: Recorded | None = None


def folder_states(store: EventStore, prefixes: Sequence[str]) -> dict[str, queries.FolderState]:
    """What the catalogue holds of every folder below the given paths (for the scanner)."""
    with reading(store) as connection:
        return queries.folder_states(connection, prefixes)


def record(
    store: EventStore,
    caller: Caller,
    items: Sequence[ing.FolderReading | ing.FolderFailure],
    *,
    investigation_id: UUID | None = None,
) -> list[Recorded]:
    """Record a batch of folders; `investigation_id` places files outside the ESRF layout."""
    plans = _plan_all(store, caller, items, investigation_id, trust_summaries=True)
    appends = [append for plan in plans for append in plan.appends]
    if not appends:
        return [_outcome(plan) for plan in plans]
    try:
        store.append(appends, caller.metadata())
    except ConcurrencyConflict:
        # Another writer touched one of the streams (two ingesters, or the beamline through
        # the API): each folder is decided again on its own, so one race costs one folder.
        return [_record_alone(store, caller, item, investigation_id) for item in items]
    return [_outcome(plan) for plan in plans]


def _record_alone(
    store: EventStore,
    caller: Caller,
    item: ing.FolderReading | ing.FolderFailure,
    investigation_id: UUID | None,
) -> Recorded:
    for attempt in range(ATTEMPTS):
        (plan,) = _plan_all(store, caller, [item], investigation_id, trust_summaries=False)
        if not plan.appends:
            return _outcome(plan)
        try:
            store.append(plan.appends, caller.metadata())
        except ConcurrencyConflict:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return _outcome(plan)
    raise AssertionError("unreachable")  # pragma: no cover


def _outcome(plan: _Plan) -> Recorded:
    assert plan.outcome is not None
    return plan.outcome


def _plan_all(
    store: EventStore,
    caller: Caller,
    items: Sequence[ing.FolderReading | ing.FolderFailure],
    investigation_id: UUID | None,
    *,
    trust_summaries: bool,
) -> list[_Plan]:
    """Resolve and decide each folder. With `trust_summaries`, streams the stream summaries
    do not know are taken as new without reading them (a first pass over a tree reads no
    stream at all); a stream that exists after all makes the append conflict, and the
    folder-by-folder retry reads every stream."""
    plans = [_Plan(item) for item in items]
    existing: set[str] | None = None
    with reading(store) as connection:
        # Registered files come from the read model: while a rebuild replays it, it may not
        # yet hold files that events already do, and registering them again would duplicate.
        if read_checkpoint(connection, CatalogueProjection.name).status is not Status.LIVE:
            raise StoreError("the catalogue read model is being rebuilt; try again later")
        resolver = _Resolver(connection, caller.principal)
        for plan in plans:
            if isinstance(plan.item, ing.FolderReading):
                resolver.resolve(plan, plan.item, investigation_id)
        if trust_summaries:
            existing = queries.existing_streams(connection, _streams(plans))
        for plan in plans:
            if plan.command is None:
                continue
            create = plan.command.create
            dataset_id = ds.dataset_id_for(create.investigation_id, create.name)
            if existing is None or ds.dataset_stream(dataset_id) in existing:
                sizes = queries.registered_sizes(connection, dataset_id)
                plan.command = replace(plan.command, registered_sizes=sizes)
    new_samples: set[UUID] = set()
    for plan in plans:
        _decide(store, caller, plan, new_samples, existing)
    return plans


def _streams(plans: Sequence[_Plan]) -> list[str]:
    """The ingest and dataset streams a batch of folders touches."""
    streams = [ing.INGEST.stream(ing.ingest_key(plan.item.path)) for plan in plans]
    for plan in plans:
        if plan.command is not None:
            create = plan.command.create
            streams.append(
                ds.dataset_stream(ds.dataset_id_for(create.investigation_id, create.name))
            )
    return streams


def _load(
    store: EventStore, aggregate: Aggregate[S, Any], key: Any, existing: set[str] | None
) -> tuple[S, int]:
    if existing is not None and aggregate.stream(key) not in existing:
        return aggregate.initial, 0
    return load(store, aggregate, key)


class _Resolver:
    """Names to ids, with lookups cached across a batch (one session's folders share them)."""

    def __init__(self, connection: Connection, principal: Principal) -> None:
        self.connection = connection
        self.principal = principal
        self.investigations: dict[tuple[str, str, Any], UUID | None] = {}
        self.refusals: dict[UUID, str | None] = {}
        self.samples: dict[UUID, dict[str, UUID]] = {}

    def resolve(
        self, plan: _Plan, reading: ing.FolderReading, investigation_id: UUID | None
    ) -> None:
        """Fill the plan's dataset command, or its failure."""
        found = investigation_id or self.investigation(reading)
        if found is None:
            plan.failure = _no_investigation(reading)
            return
        refusal = self.refusal(found)
        if refusal is not None:
            plan.failure = refusal
            return
        sample_id = None
        warnings = reading.warnings
        if reading.sample is not None:
            known = self.samples.get(found)
            if known is None:
                known = self.samples[found] = dict(
                    queries.sample_ids(self.connection, found, [reading.sample])
                )
            elif reading.sample not in known:
                known.update(queries.sample_ids(self.connection, found, [reading.sample]))
            sample_id = known.get(reading.sample)
            if sample_id is None:
                register = smp.RegisterSample(investigation_id=found, name=reading.sample)
                try:
                    plan.sample_events = smp.decide_sample(smp.Sample(), register)
                except DomainError as error:
                    warnings += (f"sample {reading.sample[:80]!r} not registered: {error.detail}",)
                else:
                    plan.sample = register
                    sample_id = smp.sample_id_for(found, reading.sample)
        inputs: tuple[UUID, ...] = ()
        if reading.kind is ds.DatasetKind.PROCESSED:
            inputs = self.inputs(found, reading)
            if not inputs:
                plan.failure = (
                    "processed data whose raw dataset the catalogue does not hold (yet): "
                    f"no raw dataset {reading.raw_name!r} in the investigation"
                    + (f" and none at {', '.join(reading.inputs)}" if reading.inputs else "")
                )
                return
        plan.command = ing.RecordDataset(
            path=reading.path,
            fingerprint=reading.fingerprint,
            stamps=reading.stamps,
            create=ds.CreateDataset(
                investigation_id=found,
                name=reading.name,
                location=reading.path,
                start=reading.start,
                vocabulary=builtin_vocabulary(),
                kind=reading.kind,
                sample_id=sample_id,
                sample_investigation_id=found if sample_id is not None else None,
                collection=reading.collection,
                input_ids=inputs,
                known_inputs=frozenset(inputs),
                techniques=reading.techniques,
                scan_type=reading.scan_type,
                parameters=reading.parameters,
            ),
            end=reading.end,
            files=reading.files,
            # Looked up once the batch knows which datasets exist (`_plan_all`).
            registered_sizes={},
            warnings=warnings,
            beamline=reading.beamline,
        )

    def investigation(self, reading: ing.FolderReading) -> UUID | None:
        """The investigation the folder's proposal, beamline and session name."""
        if reading.proposal is None or reading.beamline is None or reading.session is None:
            return None
        key = (reading.proposal, reading.beamline, reading.session)
        if key not in self.investigations:
            self.investigations[key] = queries.find_investigation(self.connection, *key)
        return self.investigations[key]

    def refusal(self, investigation_id: UUID) -> str | None:
        """Why the caller may not add data to the investigation, or None if it may."""
        if investigation_id not in self.refusals:
            facts = investigation_queries.investigation_facts(
                self.connection, investigation_id, self.principal.username
            )
            if facts is None:
                reason: str | None = f"no investigation {investigation_id}"
            elif not can_write_data(self.principal, facts):
                reason = (
                    f"{self.principal.actor} may not add data to investigation {investigation_id}"
                )
            else:
                reason = None
            self.refusals[investigation_id] = reason
        return self.refusals[investigation_id]

    def inputs(self, investigation_id: UUID, reading: ing.FolderReading) -> tuple[UUID, ...]:
        """The datasets a processed dataset derives from: those it names, else the raw
        dataset of the same folder name."""
        if reading.inputs:
            return tuple(queries.datasets_at(self.connection, reading.inputs).values())
        if reading.raw_name is None:
            return ()
        raw = queries.dataset_named(self.connection, investigation_id, reading.raw_name)
        return () if raw is None else (raw,)


def _no_investigation(reading: ing.FolderReading) -> str:
    if reading.proposal is None or reading.session is None or reading.beamline is None:
        return (
            "the file is outside the ESRF layout (proposal/beamline/session/RAW_DATA/...): "
            "name its investigation (--investigation)"
        )
    return (
        f"no investigation of proposal {reading.proposal} on {reading.beamline.upper()} "
        f"around {reading.session.isoformat()} (it may not be scheduled yet)"
    )


def _decide(
    store: EventStore,
    caller: Caller,
    plan: _Plan,
    new_samples: set[UUID],
    existing: set[str] | None,
) -> None:
    item = plan.item
    state, version = _load(store, ing.INGEST, ing.ingest_key(item.path), existing)
    stream = ing.INGEST.stream(ing.ingest_key(item.path))
    expected = version if version else NO_STREAM
    if plan.command is not None:
        command = plan.command
        dataset_id = ds.dataset_id_for(command.create.investigation_id, command.create.name)
        dataset, dataset_version = _load(store, ds.DATASET, dataset_id, existing)
        try:
            ingest_events, dataset_events = ing.decide_dataset_ingest(state, dataset, command)
        except DomainError as error:
            plan.failure = error.detail
        else:
            if not ingest_events and not dataset_events:
                plan.outcome = Recorded(item.path, UNCHANGED, dataset_id)
                return
            if plan.sample is not None and not dataset.exists:
                sample_id = smp.sample_id_for(plan.sample.investigation_id, plan.sample.name)
                if sample_id not in new_samples:
                    new_samples.add(sample_id)
                    plan.appends.append(
                        StreamAppend(smp.sample_stream(sample_id), plan.sample_events, NO_STREAM)
                    )
            if dataset_events:
                plan.appends.append(
                    StreamAppend(
                        ds.dataset_stream(dataset_id),
                        dataset_events,
                        dataset_version if dataset_version else NO_STREAM,
                    )
                )
            plan.appends.append(StreamAppend(stream, ingest_events, expected))
            outcome = NEW if not dataset.exists else UPDATED
            plan.outcome = Recorded(item.path, outcome, dataset_id)
            return
    reason = item.reason if isinstance(item, ing.FolderFailure) else plan.failure
    assert reason is not None
    beamline = item.beamline
    failure = ing.RecordFailure(item.path, item.fingerprint, reason, caller.now, beamline)
    events: list[Event] = ing.decide_ingest(state, failure)
    if events:
        plan.appends.append(StreamAppend(stream, events, expected))
    plan.outcome = Recorded(item.path, FAILED, reason=reason)


# -- views ----------------------------------------------------------------------------------


def _visible_beamlines(principal: Principal) -> frozenset[str] | None:
    """Admins see every folder (None); a beamline's API key and scientists see their
    beamlines' folders."""
    if principal.is_admin:
        return None
    if principal.kind is PrincipalKind.API_KEY and principal.instrument is not None:
        return frozenset({principal.instrument})
    if principal.kind is PrincipalKind.USER and principal.scientist_of:
        return principal.scientist_of
    require(False, principal, "see the ingest (admins and beamline staff only)")
    raise AssertionError("unreachable")  # pragma: no cover


def list_failures(store: EventStore, caller: Caller, cursor: str | None, limit: int) -> Page:
    """Folders whose last ingest failed, with the reason and the next attempt."""
    beamlines = _visible_beamlines(caller.principal)
    with reading(store) as connection:
        return queries.list_failures(connection, beamlines, cursor, limit)


def ingest_status(store: EventStore, caller: Caller) -> dict[str, Any]:
    """How many folders are ingested and failed, and when the ingest last changed anything."""
    beamlines = _visible_beamlines(caller.principal)
    with reading(store) as connection:
        return queries.status_totals(connection, beamlines)


def folder_status(store: EventStore, caller: Caller, path: str) -> dict[str, Any] | None:
    """One folder's ingest: dataset, fingerprint, warnings, or the failure."""
    beamlines = _visible_beamlines(caller.principal)
    with reading(store) as connection:
        row = queries.folder(connection, path)
    if row is None or (beamlines is not None and row["beamline"] not in beamlines):
        return None
    return row


def known_stamps(store: EventStore, path: str) -> dict[str, ing.FileStamp]:
    """The files of a folder as its last ingest saw them (their checksums need no re-reading)."""
    state, _ = load(store, ing.INGEST, ing.ingest_key(path))
    return dict(state.files)


#: A request through the API names at most this many paths.
MAX_PATHS = 100
_MAX_PATH = 4096


def may_ingest(principal: Principal) -> bool:
    """Admins, beamline API keys and beamline scientists may ask for an ingest."""
    return principal.is_admin or (
        principal.kind is PrincipalKind.API_KEY
        or (principal.kind is PrincipalKind.USER and bool(principal.scientist_of))
    )


def check_request(caller: Caller, paths: Sequence[str], roots: Sequence[Path]) -> list[str]:
    """The requested paths, resolved, if the caller may ingest them: each absolute, existing
    and inside a data tree the service may read (`ingest_roots`)."""
    require(may_ingest(caller.principal), caller.principal, "ask for an ingest")
    if not paths:
        raise InvalidCommand("name at least one path", "paths")
    if len(paths) > MAX_PATHS:
        raise InvalidCommand(f"{len(paths)} paths in one request; at most {MAX_PATHS}", "paths")
    allowed = [os.path.realpath(root) for root in roots]
    resolved = []
    for index, path in enumerate(paths):
        field = f"paths.{index}"
        if len(path) > _MAX_PATH or "\x00" in path:
            raise InvalidCommand(f"{field} is not a path", field)
        if not path.startswith("/"):
            raise InvalidCommand(f"{field} must be an absolute path (start with '/')", field)
        # Resolved first: a symbolic link or '..' must not lead out of the data trees.
        real = os.path.realpath(path)
        if not any(real == root or real.startswith(root.rstrip("/") + "/") for root in allowed):
            raise InvalidCommand(
                f"{path[:200]!r} is outside the data trees the service may read "
                f"({', '.join(allowed)})",
                field,
            )
        if not os.path.exists(real):
            raise NotFound(f"no such file or directory: {path[:200]!r}", field)
        resolved.append(real)
    return resolved
