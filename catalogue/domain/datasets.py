"""Datasets: scans and their results, with typed parameters and registered data files."""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

import pydantic

from catalogue.domain.aggregate import Aggregate
from catalogue.domain.parameters import ParameterType, ParameterValue, check_parameter
from catalogue.domain.values import check_aware, check_name, check_period, check_text, derived_id
from catalogue.errors import AlreadyExists, DomainError, InvalidCommand, NotFound
from catalogue.events import Event

#: A bulk request may register this many files at once.
MAX_FILES_PER_COMMAND = 10_000
MAX_PARAMETERS_PER_COMMAND = 10_000
MAX_PATH = 1024
_CHECKSUM = re.compile(
    r"^(md5|sha1|sha256|sha512|adler32|crc32|crc32c|xxh64|xxh128):[0-9a-f]{8,128}$"
)

#: Technique definitions a dataset may name (the facility's experimental techniques).
TECHNIQUES = frozenset(
    {
        "MX", "SSX", "SAXS", "WAXS", "BIOSAXS", "TOMO", "XRD", "PDF", "XAS", "XANES", "EXAFS",
        "XRF", "XES", "XPCS", "PTYCHO", "HOLO", "SXDM", "EM", "RIXS", "ARPES", "NRS", "IXS",
        "GISAXS", "XRR", "CDI", "SCANNING", "SPECTROSCOPY",
    }
)  # fmt: skip


class DatasetKind(enum.StrEnum):
    """Raw data from the detector, or processed data derived from other datasets."""

    RAW = "raw"
    PROCESSED = "processed"


class ScanType(enum.StrEnum):
    """How the scan moved: point by point, or on the fly."""

    STEP_BY_STEP = "step_by_step"
    CONTINUOUS = "continuous"


class Datafile(pydantic.BaseModel):
    """One file of a dataset, as registered."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int
    checksum: str | None = None
    format: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None


class DatasetCreated(Event):
    """A dataset was opened: a scan started, or processing produced a result."""

    dataset_id: UUID
    investigation_id: UUID
    name: str
    sample_id: UUID | None
    collection: str | None
    location: str
    kind: DatasetKind
    input_ids: tuple[UUID, ...]
    start: datetime
    techniques: tuple[str, ...]
    scan_type: ScanType | None
    parameters: tuple[ParameterValue, ...]


class DatasetClosed(Event):
    """The scan finished: the dataset is complete, with its end time and final parameters."""

    end: datetime
    parameters: tuple[ParameterValue, ...]


class DatasetParametersUpdated(Event):
    """Parameters were added or replaced (by name)."""

    parameters: tuple[ParameterValue, ...]


class DatafilesRegistered(Event):
    """Files were added to the dataset."""

    files: tuple[Datafile, ...]


class DatafilesUpdated(Event):
    """Registered files changed on disk: their new sizes, times and checksums (by path)."""

    files: tuple[Datafile, ...]
    #: What the change adds to the dataset's volume (negative when the files shrank).
    volume_change: int


class DatasetDeleted(Event):
    """The dataset was withdrawn from the catalogue (its history stays)."""

    reason: str


DATASET_EVENTS = (
    DatasetCreated,
    DatasetClosed,
    DatasetParametersUpdated,
    DatafilesRegistered,
    DatafilesUpdated,
    DatasetDeleted,
)


def dataset_id_for(investigation_id: UUID, name: str) -> UUID:
    """A dataset's id: names are unique within an investigation, so a retry finds it."""
    return derived_id("dataset", str(investigation_id), name)


def dataset_stream(dataset_id: UUID) -> str:
    """The stream of one dataset."""
    return DATASET.stream(dataset_id)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset as its events leave it."""

    dataset_id: UUID | None = None
    investigation_id: UUID | None = None
    name: str = ""
    sample_id: UUID | None = None
    collection: str | None = None
    location: str = ""
    kind: DatasetKind = DatasetKind.RAW
    input_ids: tuple[UUID, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    complete: bool = False
    techniques: tuple[str, ...] = ()
    scan_type: ScanType | None = None
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    file_count: int = 0
    volume: int = 0
    deleted: bool = False

    @property
    def exists(self) -> bool:
        """Whether the dataset was created."""
        return self.dataset_id is not None


@dataclass(frozen=True, slots=True)
class RawParameter:
    """A parameter as a caller sends it, before the vocabulary checks it."""

    name: str
    value: str | float | int | bool | datetime
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class CreateDataset:
    """Open a dataset; the caller looks up the sample's and the inputs' investigations."""

    investigation_id: UUID
    name: str
    location: str
    start: datetime
    vocabulary: Mapping[str, ParameterType]
    kind: DatasetKind = DatasetKind.RAW
    sample_id: UUID | None = None
    #: The investigation of `sample_id`, or None if there is no such sample.
    sample_investigation_id: UUID | None = None
    collection: str | None = None
    input_ids: tuple[UUID, ...] = ()
    #: Which of `input_ids` are datasets the catalogue holds.
    known_inputs: frozenset[UUID] = frozenset()
    techniques: tuple[str, ...] = ()
    scan_type: ScanType | None = None
    parameters: tuple[RawParameter, ...] = ()


@dataclass(frozen=True, slots=True)
class CloseDataset:
    """Mark the dataset complete at `end`, with its final parameters."""

    end: datetime
    vocabulary: Mapping[str, ParameterType]
    parameters: tuple[RawParameter, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateParameters:
    """Add or replace parameters by name."""

    parameters: tuple[RawParameter, ...]
    vocabulary: Mapping[str, ParameterType]


@dataclass(frozen=True, slots=True)
class RegisterFiles:
    """Add files; the caller looks up which of their paths the dataset already has."""

    files: tuple[Datafile, ...]
    existing_paths: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class UpdateFiles:
    """Record new sizes, times and checksums of registered files; the caller looks up
    each path's registered size."""

    files: tuple[Datafile, ...]
    registered_sizes: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class DeleteDataset:
    """Withdraw the dataset (soft: its events and history stay)."""

    reason: str


DatasetCommand = (
    CreateDataset | CloseDataset | UpdateParameters | RegisterFiles | UpdateFiles | DeleteDataset
)


def evolve_dataset(state: Dataset, event: Event) -> Dataset:
    """Fold one event into a dataset."""
    match event:
        case DatasetCreated():
            return Dataset(
                dataset_id=event.dataset_id,
                investigation_id=event.investigation_id,
                name=event.name,
                sample_id=event.sample_id,
                collection=event.collection,
                location=event.location,
                kind=event.kind,
                input_ids=event.input_ids,
                start=event.start,
                techniques=event.techniques,
                scan_type=event.scan_type,
                parameters={p.name: p for p in event.parameters},
            )
        case DatasetClosed():
            parameters = {**state.parameters, **{p.name: p for p in event.parameters}}
            return replace(state, end=event.end, complete=True, parameters=parameters)
        case DatasetParametersUpdated():
            parameters = {**state.parameters, **{p.name: p for p in event.parameters}}
            return replace(state, parameters=parameters)
        case DatafilesRegistered():
            return replace(
                state,
                file_count=state.file_count + len(event.files),
                volume=state.volume + sum(f.size for f in event.files),
            )
        case DatafilesUpdated():
            return replace(state, volume=state.volume + event.volume_change)
        case DatasetDeleted():
            return replace(state, deleted=True)
    return state


def check_parameters(
    vocabulary: Mapping[str, ParameterType], raw: Sequence[RawParameter]
) -> tuple[ParameterValue, ...]:
    """Check each parameter against the vocabulary; a name may appear once per command."""
    if len(raw) > MAX_PARAMETERS_PER_COMMAND:
        raise InvalidCommand(
            f"{len(raw)} parameters in one request; at most {MAX_PARAMETERS_PER_COMMAND}",
            "parameters",
        )
    seen: set[str] = set()
    checked = []
    for index, parameter in enumerate(raw):
        if parameter.name in seen:
            raise InvalidCommand(
                f"parameter {parameter.name!r} is given twice", f"parameters.{index}.name"
            )
        seen.add(parameter.name)
        try:
            checked.append(
                check_parameter(vocabulary, parameter.name, parameter.value, parameter.unit)
            )
        except InvalidCommand as error:
            raise InvalidCommand(error.detail, f"parameters.{index}.{error.field}") from None
    return tuple(checked)


def check_techniques(techniques: Sequence[str]) -> tuple[str, ...]:
    """Known technique names, each once, in the order given."""
    for index, technique in enumerate(techniques):
        if technique not in TECHNIQUES:
            close = difflib.get_close_matches(technique.upper(), TECHNIQUES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidCommand(
                f"unknown technique {technique[:40]!r}{hint}", f"techniques.{index}"
            )
    return tuple(dict.fromkeys(techniques))


def check_location(location: str, field: str) -> str:
    """A path: absolute, one line, no '..' segments (it must not escape the data root)."""
    check_text(location, field, max_length=MAX_PATH, required=True)
    if any(c in location for c in "\n\r\t"):
        raise InvalidCommand(f"{field} must be a single line", field)
    if not location.startswith("/"):
        raise InvalidCommand(f"{field} must be an absolute path (start with '/')", field)
    if ".." in location.split("/"):
        raise InvalidCommand(f"{field} must not contain '..' segments", field)
    return location


def check_files(
    files: Sequence[Datafile], existing: frozenset[str], *, updating: bool = False
) -> None:
    """Paths unique in the request and new to the dataset (registered ones when `updating`);
    sizes, checksums and times sane."""
    if not files:
        raise InvalidCommand("no files given", "files")
    if len(files) > MAX_FILES_PER_COMMAND:
        raise InvalidCommand(
            f"{len(files)} files in one request; at most {MAX_FILES_PER_COMMAND}", "files"
        )
    seen: set[str] = set()
    for index, datafile in enumerate(files):
        at = f"files.{index}"
        check_location(datafile.path, f"{at}.path")
        if datafile.path.endswith("/"):
            raise InvalidCommand(f"{at}.path names a directory", f"{at}.path")
        if datafile.path in seen:
            raise InvalidCommand(f"{datafile.path!r} is given twice", f"{at}.path")
        if datafile.path in existing and not updating:
            raise AlreadyExists(f"{datafile.path!r} is already registered", f"{at}.path")
        if datafile.path not in existing and updating:
            raise NotFound(f"{datafile.path!r} is not a file of this dataset", f"{at}.path")
        seen.add(datafile.path)
        if not 0 <= datafile.size < 2**63:
            raise InvalidCommand(f"size {datafile.size} is not a file size", f"{at}.size")
        if datafile.checksum is not None and not _CHECKSUM.fullmatch(datafile.checksum):
            raise InvalidCommand(
                f"checksum {datafile.checksum[:40]!r} must be 'algorithm:hex' (e.g. 'sha256:…')",
                f"{at}.checksum",
            )
        if datafile.format is not None:
            check_name(datafile.format, f"{at}.format")
        for name in ("created_at", "modified_at"):
            value = getattr(datafile, name)
            if value is not None:
                check_aware(value, f"{at}.{name}")


def _create(state: Dataset, command: CreateDataset) -> list[Event]:
    check_name(command.name, "name")
    if state.exists:
        raise AlreadyExists(
            f"dataset {command.name!r} already exists in this investigation ({state.dataset_id})",
            "name",
        )
    check_location(command.location, "location")
    check_aware(command.start, "start")
    if command.collection is not None:
        check_name(command.collection, "collection")
    if (
        command.sample_id is not None
        and command.sample_investigation_id != command.investigation_id
    ):
        raise InvalidCommand(
            f"sample {command.sample_id} is not a sample of this investigation", "sample_id"
        )
    if command.kind is DatasetKind.RAW and command.input_ids:
        raise InvalidCommand("a raw dataset has no input datasets", "input_ids")
    if command.kind is DatasetKind.PROCESSED and not command.input_ids:
        raise InvalidCommand("a processed dataset names its input datasets", "input_ids")
    for index, input_id in enumerate(command.input_ids):
        if input_id not in command.known_inputs:
            raise InvalidCommand(f"input dataset {input_id} does not exist", f"input_ids.{index}")
    return [
        DatasetCreated(
            dataset_id=dataset_id_for(command.investigation_id, command.name),
            investigation_id=command.investigation_id,
            name=command.name,
            sample_id=command.sample_id,
            collection=command.collection,
            location=command.location,
            kind=command.kind,
            input_ids=tuple(dict.fromkeys(command.input_ids)),
            start=command.start,
            techniques=check_techniques(command.techniques),
            scan_type=command.scan_type,
            parameters=check_parameters(command.vocabulary, command.parameters),
        )
    ]


def decide_dataset(state: Dataset, command: DatasetCommand) -> list[Event]:
    """The events a dataset command produces, or a domain error."""
    if isinstance(command, CreateDataset):
        return _create(state, command)
    if not state.exists:
        raise NotFound("no such dataset")
    if state.deleted:
        raise DomainError(f"dataset {state.name!r} was deleted")
    match command:
        case CloseDataset():
            if state.complete:
                raise DomainError(f"dataset {state.name!r} is already closed", "end")
            assert state.start is not None
            check_period(state.start, command.end, "start", "end")
            parameters = check_parameters(command.vocabulary, command.parameters)
            return [DatasetClosed(end=command.end, parameters=parameters)]
        case UpdateParameters():
            parameters = check_parameters(command.vocabulary, command.parameters)
            changed = tuple(p for p in parameters if state.parameters.get(p.name) != p)
            return [DatasetParametersUpdated(parameters=changed)] if changed else []
        case RegisterFiles():
            check_files(command.files, command.existing_paths)
            added = sum(f.size for f in command.files)
            if state.volume + added >= 2**63:
                raise InvalidCommand(
                    f"the dataset's volume would reach {state.volume + added} bytes, "
                    "more than a 64-bit count holds",
                    "files",
                )
            return [DatafilesRegistered(files=command.files)]
        case UpdateFiles():
            registered = frozenset(command.registered_sizes)
            check_files(command.files, registered, updating=True)
            change = sum(f.size - command.registered_sizes[f.path] for f in command.files)
            return [DatafilesUpdated(files=command.files, volume_change=change)]
        case DeleteDataset():
            return [DatasetDeleted(reason=check_text(command.reason, "reason", max_length=1000))]
    raise InvalidCommand(f"unknown command {type(command).__name__}")


DATASET: Aggregate[Dataset, DatasetCommand] = Aggregate(
    "dataset", Dataset(), evolve_dataset, decide_dataset
)
