"""Ingest of dataset folders: what was read from disk, what failed, and when to try again.

One stream per dataset folder (`ingest-<id of its path>`). Its events say which fingerprint
of the folder the catalogue holds, so that a second pass over an unchanged tree appends
nothing, and which failures are waiting for their next attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from uuid import UUID

import pydantic

from catalogue.domain import datasets as ds
from catalogue.domain.aggregate import Aggregate
from catalogue.domain.values import check_aware, derived_id
from catalogue.errors import InvalidCommand
from catalogue.events import Event

#: The first retry comes this soon after a failure; each further one waits twice as long.
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(days=1)
MAX_REASON = 2000
MAX_WARNINGS = 100


class FileStamp(pydantic.BaseModel):
    """A file as the scanner saw it: size and modification time (nanoseconds)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int
    mtime_ns: int


class DatasetIngested(Event):
    """A dataset folder was read into the catalogue (first time, or again after it changed)."""

    path: str
    dataset_id: UUID
    fingerprint: str
    files: tuple[FileStamp, ...]
    warnings: tuple[str, ...] = ()
    #: The beamline the folder belongs to (who may see the ingest's status).
    beamline: str | None = None


class IngestFailed(Event):
    """A dataset folder could not be ingested; it is tried again at `retry_at`."""

    path: str
    fingerprint: str
    reason: str
    attempt: int
    retry_at: datetime
    beamline: str | None = None


INGEST_EVENTS = (DatasetIngested, IngestFailed)


def ingest_key(path: str) -> UUID:
    """The id of a dataset folder's ingest stream."""
    return derived_id("ingest", path)


@dataclass(frozen=True, slots=True)
class FolderReading:
    """What the ingester read of a finished dataset folder, before the catalogue resolves
    its investigation, sample and inputs."""

    path: str
    fingerprint: str
    stamps: tuple[FileStamp, ...]
    files: tuple[ds.Datafile, ...]
    #: From the ESRF layout (or the metadata file): None for a file outside the convention.
    proposal: str | None
    beamline: str | None
    session: date | None
    name: str
    collection: str | None
    kind: ds.DatasetKind
    start: datetime
    end: datetime | None
    sample: str | None
    techniques: tuple[str, ...]
    scan_type: ds.ScanType | None
    parameters: tuple[ds.RawParameter, ...]
    #: Locations of the datasets a processed dataset was derived from.
    inputs: tuple[str, ...] = ()
    #: The raw dataset a processed folder mirrors (same folder name under RAW_DATA).
    raw_name: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FolderFailure:
    """A folder the ingester could not read, and why."""

    path: str
    fingerprint: str
    reason: str
    beamline: str | None = None


@dataclass(frozen=True, slots=True)
class Ingest:
    """A dataset folder's ingest: what the catalogue holds of it, and its failures."""

    path: str = ""
    dataset_id: UUID | None = None
    fingerprint: str | None = None
    files: Mapping[str, FileStamp] = field(default_factory=dict)
    failed_fingerprint: str | None = None
    reason: str | None = None
    attempts: int = 0
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordDataset:
    """Record a finished dataset folder: its dataset's commands, decided on its state.

    The caller resolves the investigation, the sample and the inputs into `create`, and
    looks up the sizes of the files the dataset already has (`registered_sizes`).
    """

    path: str
    fingerprint: str
    stamps: tuple[FileStamp, ...]
    create: ds.CreateDataset
    end: datetime | None
    files: tuple[ds.Datafile, ...]
    registered_sizes: Mapping[str, int]
    warnings: tuple[str, ...] = ()
    beamline: str | None = None


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """Record that a folder could not be ingested, and when to try it again."""

    path: str
    fingerprint: str
    reason: str
    now: datetime
    beamline: str | None = None


IngestCommand = RecordDataset | RecordFailure


def retry_delay(attempt: int) -> timedelta:
    """How long after its `attempt`-th failure a folder is tried again (doubling, capped)."""
    delay: timedelta = FIRST_RETRY * 2 ** min(max(attempt - 1, 0), 20)
    return min(delay, LAST_RETRY)


def evolve_ingest(state: Ingest, event: Event) -> Ingest:
    """Fold one event into a folder's ingest state."""
    match event:
        case DatasetIngested():
            return Ingest(
                path=event.path,
                dataset_id=event.dataset_id,
                fingerprint=event.fingerprint,
                files={stamp.path: stamp for stamp in event.files},
            )
        case IngestFailed():
            return replace(
                state,
                path=event.path,
                failed_fingerprint=event.fingerprint,
                reason=event.reason,
                attempts=event.attempt,
                retry_at=event.retry_at,
            )
    return state


def decide_ingest(state: Ingest, command: IngestCommand) -> list[Event]:
    """The ingest stream's own events (the dataset's are decided by `decide_dataset_ingest`)."""
    match command:
        case RecordFailure():
            return _fail(state, command)
        case RecordDataset():
            raise InvalidCommand("a dataset is recorded with decide_dataset_ingest")
    raise InvalidCommand(f"unknown command {type(command).__name__}")


def _fail(state: Ingest, command: RecordFailure) -> list[Event]:
    check_aware(command.now, "now")
    reason = " ".join(command.reason.split())[:MAX_REASON] or "unknown reason"
    same = state.failed_fingerprint == command.fingerprint
    # The same failure of the same files before its retry time is already on record.
    if same and state.reason == reason and state.retry_at and command.now < state.retry_at:
        return []
    attempt = state.attempts + 1 if same else 1
    return [
        IngestFailed(
            path=command.path,
            fingerprint=command.fingerprint,
            reason=reason,
            attempt=attempt,
            retry_at=command.now + retry_delay(attempt),
            beamline=command.beamline,
        )
    ]


def decide_dataset_ingest(
    state: Ingest, dataset: ds.Dataset, command: RecordDataset
) -> tuple[list[Event], list[Event]]:
    """The events for the ingest stream and for the dataset stream, or a domain error.

    A new dataset is created, closed and given its files in one append. A dataset the
    catalogue holds already (ingested before, or opened by the beamline through the API) is
    closed if it was not, and gets the parameters that changed, its new files and the new
    sizes of files that changed: an update, never a duplicate.
    """
    events: list[Event] = []
    current = dataset
    if not dataset.exists:
        events += ds.decide_dataset(current, command.create)
        current = _fold(current, events)
    else:
        update = ds.UpdateParameters(command.create.parameters, command.create.vocabulary)
        events += ds.decide_dataset(current, update)
        current = _fold(current, events)
    if command.end is not None and not current.complete:
        close = ds.CloseDataset(command.end, command.create.vocabulary)
        closed = ds.decide_dataset(current, close)
        events += closed
        current = _fold(current, closed)
    new = tuple(f for f in command.files if f.path not in command.registered_sizes)
    for start in range(0, len(new), ds.MAX_FILES_PER_COMMAND):
        chunk = new[start : start + ds.MAX_FILES_PER_COMMAND]
        registered = ds.decide_dataset(current, ds.RegisterFiles(chunk, frozenset()))
        events += registered
        current = _fold(current, registered)
    stamps = {stamp.path: stamp for stamp in command.stamps}
    # A registered file changed if its stamp differs from the one the last ingest recorded
    # (a file registered through the API has no recorded stamp: it is refreshed once).
    changed = tuple(
        f
        for f in command.files
        if f.path in command.registered_sizes and state.files.get(f.path) != stamps.get(f.path)
    )
    if changed:
        events += ds.decide_dataset(current, ds.UpdateFiles(changed, command.registered_sizes))
    if not events and state.fingerprint == command.fingerprint:
        return [], []
    warnings = tuple(w[:MAX_REASON] for w in command.warnings[:MAX_WARNINGS])
    ingested = DatasetIngested(
        path=command.path,
        dataset_id=ds.dataset_id_for(command.create.investigation_id, command.create.name),
        fingerprint=command.fingerprint,
        files=command.stamps,
        warnings=warnings,
        beamline=command.beamline,
    )
    return [ingested], events


def _fold(state: ds.Dataset, events: list[Event]) -> ds.Dataset:
    for event in events:
        state = ds.evolve_dataset(state, event)
    return state


INGEST: Aggregate[Ingest, IngestCommand] = Aggregate(
    "ingest", Ingest(), evolve_ingest, decide_ingest
)
