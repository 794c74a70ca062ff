"""Datasets, parameters and files (catalogue.domain.datasets), as tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest

from catalogue.domain.datasets import (
    CloseDataset,
    CreateDataset,
    Datafile,
    DatafilesRegistered,
    Dataset,
    DatasetClosed,
    DatasetCreated,
    DatasetDeleted,
    DatasetKind,
    DatasetParametersUpdated,
    DeleteDataset,
    RawParameter,
    RegisterFiles,
    ScanType,
    UpdateParameters,
    dataset_id_for,
    decide_dataset,
    evolve_dataset,
)
from catalogue.domain.parameters import ParameterValue, builtin_vocabulary, check_parameter
from catalogue.errors import (
    AlreadyExists,
    CatalogueError,
    DomainError,
    InvalidCommand,
    NotFound,
)
from catalogue.events import Event

VOCABULARY = builtin_vocabulary()
START = datetime(2026, 11, 24, 9, 12, tzinfo=UTC)
NAIVE = datetime(2026, 11, 24, 9, 12)
INVESTIGATION = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER_INVESTIGATION = uuid.UUID("00000000-0000-4000-8000-000000000002")
SAMPLE = uuid.UUID("00000000-0000-4000-8000-00000000000a")
INPUT_A = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
INPUT_B = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
NAME = "lysozyme_01_0001"
DATASET_ID = dataset_id_for(INVESTIGATION, NAME)
LOCATION = "/data/visitor/mx2345/id23-1/20261124/RAW_DATA/lysozyme_01"
ENERGY = "InstrumentMonochromator_energy"
EXPOSURE = "MX_exposureTime"
SHA = "sha256:" + "ab" * 32


@dataclass(frozen=True)
class Rejected:
    """The error a command must raise: exact class, field at fault, fragment of the detail."""

    error: type[CatalogueError]
    field: str | None
    fragment: str


def given(events: Iterable[Event]) -> Dataset:
    return reduce(evolve_dataset, events, Dataset())


def raw(name: str, value: Any, unit: str | None = None) -> RawParameter:
    return RawParameter(name, value, unit)


def checked(name: str, value: Any, unit: str | None = None) -> ParameterValue:
    """The parameter as the vocabulary checks it (check_parameter has its own tests)."""
    return check_parameter(VOCABULARY, name, value, unit)


def create(**changes: Any) -> CreateDataset:
    base = CreateDataset(
        investigation_id=INVESTIGATION, name=NAME, location=LOCATION, start=START,
        vocabulary=VOCABULARY,
    )  # fmt: skip
    return replace(base, **changes)


def created(**changes: Any) -> DatasetCreated:
    fields: dict[str, Any] = {
        "dataset_id": DATASET_ID,
        "investigation_id": INVESTIGATION,
        "name": NAME,
        "sample_id": None,
        "collection": None,
        "location": LOCATION,
        "kind": DatasetKind.RAW,
        "input_ids": (),
        "start": START,
        "techniques": (),
        "scan_type": None,
        "parameters": (),
    }
    return DatasetCreated(**{**fields, **changes})


def datafile(name: str, size: int = 1000, **changes: Any) -> Datafile:
    return Datafile(path=f"{LOCATION}/{name}", size=size, **changes)


def close(end: datetime, *parameters: RawParameter) -> CloseDataset:
    return CloseDataset(end=end, vocabulary=VOCABULARY, parameters=parameters)


def update(*parameters: RawParameter) -> UpdateParameters:
    return UpdateParameters(parameters=parameters, vocabulary=VOCABULARY)


def files(*datafiles: Datafile, existing: frozenset[str] = frozenset()) -> RegisterFiles:
    return RegisterFiles(files=datafiles, existing_paths=existing)


CREATED = created()
WITH_ENERGY = created(parameters=(checked(ENERGY, 12.4, "keV"),))
CLOSED = DatasetClosed(end=START + timedelta(minutes=5), parameters=())
DELETED = DatasetDeleted(reason="duplicate")
F1 = datafile("scan0001.h5", 1000, checksum=SHA, format="hdf5", created_at=START)
F2 = datafile("scan0002.h5", 2000)

CREATE_CASES = [
    pytest.param([], create(), [CREATED], id="create-raw"),
    pytest.param([], create(
        sample_id=SAMPLE, sample_investigation_id=INVESTIGATION, collection="lysozyme_01",
        techniques=("MX", "SSX", "MX"), scan_type=ScanType.CONTINUOUS,
        parameters=(raw(ENERGY, 12.4, "keV"), raw(EXPOSURE, "40", "ms"))),
        [created(sample_id=SAMPLE, collection="lysozyme_01", techniques=("MX", "SSX"),
                 scan_type=ScanType.CONTINUOUS,
                 parameters=(checked(ENERGY, 12.4, "keV"), checked(EXPOSURE, "40", "ms")))],
        id="create-full"),
    pytest.param([], create(kind=DatasetKind.PROCESSED, input_ids=(INPUT_A, INPUT_B, INPUT_A),
                            known_inputs=frozenset({INPUT_A, INPUT_B})),
                 [created(kind=DatasetKind.PROCESSED, input_ids=(INPUT_A, INPUT_B))],
                 id="create-processed-inputs-once"),
    pytest.param([], create(kind=DatasetKind.PROCESSED), Rejected(InvalidCommand, "input_ids",
                 "a processed dataset names its input datasets"), id="processed-without-inputs"),
    pytest.param([], create(input_ids=(INPUT_A,), known_inputs=frozenset({INPUT_A})),
                 Rejected(InvalidCommand, "input_ids", "a raw dataset has no input datasets"),
                 id="raw-with-inputs"),
    pytest.param([], create(kind=DatasetKind.PROCESSED, input_ids=(INPUT_A, INPUT_B),
                            known_inputs=frozenset({INPUT_A})),
                 Rejected(InvalidCommand, "input_ids.1", f"input dataset {INPUT_B} does not"),
                 id="processed-unknown-input"),
    pytest.param([], create(sample_id=SAMPLE, sample_investigation_id=OTHER_INVESTIGATION),
                 Rejected(InvalidCommand, "sample_id", "is not a sample of this investigation"),
                 id="sample-of-other-investigation"),
    pytest.param([], create(sample_id=SAMPLE), Rejected(InvalidCommand, "sample_id",
                 "is not a sample of this investigation"), id="unknown-sample"),
    pytest.param([CREATED], create(), Rejected(AlreadyExists, "name",
                 f"{NAME!r} already exists in this investigation"), id="create-twice"),
    pytest.param([], create(name=""), Rejected(InvalidCommand, "name", "must not be empty"),
                 id="empty-name"),
    pytest.param([], create(name="scan\n2"), Rejected(InvalidCommand, "name", "single line"),
                 id="two-line-name"),
    pytest.param([], create(collection=" c"), Rejected(InvalidCommand, "collection",
                 "start or end with spaces"), id="padded-collection"),
    pytest.param([], create(start=NAIVE), Rejected(InvalidCommand, "start",
                 "needs a timezone"), id="naive-start"),
    pytest.param([], create(location="/data/a..b/c"), [created(location="/data/a..b/c")],
                 id="location-dots-inside-a-segment"),
    pytest.param([], create(location="/data/../etc"), Rejected(InvalidCommand, "location",
                 "must not contain '..' segments"), id="location-dotdot"),
    pytest.param([], create(location="/data/x/.."), Rejected(InvalidCommand, "location",
                 "'..' segments"), id="location-trailing-dotdot"),
    pytest.param([], create(location=""), Rejected(InvalidCommand, "location",
                 "must not be empty"), id="location-empty"),
    pytest.param([], create(location="/data/a\nb"), Rejected(InvalidCommand, "location",
                 "single line"), id="location-newline"),
    pytest.param([], create(location="/" + "d" * 1024), Rejected(InvalidCommand, "location",
                 "at most 1024"), id="location-too-long"),
    pytest.param([], create(location="data/scan"), Rejected(InvalidCommand, "location", ""),
                 id="location-relative"),
    pytest.param([], create(techniques=("MX", "saxs")), Rejected(InvalidCommand,
                 "techniques.1", "unknown technique 'saxs'; did you mean 'SAXS'?"),
                 id="technique-lower-case-suggested"),
    pytest.param([], create(techniques=("XYZ",)), Rejected(InvalidCommand, "techniques.0",
                 "unknown technique 'XYZ'"), id="technique-unknown"),
    pytest.param([], create(parameters=(raw(ENERGY, 12400, "eV"),)),
                 [created(parameters=(checked(ENERGY, 12400, "eV"),))], id="energy-in-eV"),
    pytest.param([], create(parameters=(raw(ENERGY, 12.4, "mm"),)), Rejected(InvalidCommand,
                 "parameters.0.unit", "unit 'mm' is not compatible with 'keV'"),
                 id="energy-as-a-length"),
    pytest.param([], create(parameters=(raw(ENERGY, 12.4), raw(EXPOSURE, "fast", "s"))),
                 Rejected(InvalidCommand, "parameters.1.value", "is not a number"),
                 id="second-parameter-not-a-number"),
    pytest.param([], create(parameters=(raw("mx_exposuretime", 1.0),)),
                 Rejected(InvalidCommand, "parameters.0.name", "did you mean 'MX_exposureTime'"),
                 id="unknown-parameter-suggested"),
    pytest.param([], create(parameters=(raw(ENERGY, 12.4), raw(ENERGY, 13.0))),
                 Rejected(InvalidCommand, "parameters.1.name", f"{ENERGY!r} is given twice"),
                 id="parameter-twice"),
    pytest.param([], create(parameters=(raw("definition", "MX", "s"),)),
                 Rejected(InvalidCommand, "parameters.0.unit", "no unit"), id="text-with-unit"),
    pytest.param([], create(parameters=tuple(raw(ENERGY, 1.0) for _ in range(10_001))),
                 Rejected(InvalidCommand, "parameters", "10001 parameters in one request"),
                 id="too-many-parameters"),
]  # fmt: skip

CLOSE_CASES = [
    pytest.param([], close(START), Rejected(NotFound, None, "no such dataset"),
                 id="close-missing"),
    pytest.param([CREATED], close(START + timedelta(minutes=5)), [CLOSED], id="close"),
    pytest.param([CREATED], close(START), [DatasetClosed(end=START, parameters=())],
                 id="close-at-start"),
    pytest.param([CREATED], close(START, raw(EXPOSURE, 0.04), raw(ENERGY, 12.4)),
                 [DatasetClosed(end=START, parameters=(checked(EXPOSURE, 0.04),
                                                       checked(ENERGY, 12.4)))],
                 id="close-with-parameters"),
    pytest.param([CREATED, CLOSED], close(START + timedelta(hours=1)),
                 Rejected(DomainError, "end", f"{NAME!r} is already closed"), id="close-twice"),
    pytest.param([CREATED], close(START - timedelta(seconds=1)), Rejected(InvalidCommand,
                 "end", "is before start"), id="close-before-start"),
    pytest.param([CREATED], close(NAIVE), Rejected(InvalidCommand, "end", "needs a timezone"),
                 id="close-naive"),
    pytest.param([CREATED], close(START, raw(ENERGY, 1.0, "s")), Rejected(InvalidCommand,
                 "parameters.0.unit", "is not compatible"), id="close-bad-unit"),
]  # fmt: skip

UPDATE_CASES = [
    pytest.param([], update(raw(ENERGY, 1.0)), Rejected(NotFound, None, "no such dataset"),
                 id="update-missing"),
    pytest.param([WITH_ENERGY], update(raw(ENERGY, 12.4, "keV"), raw(EXPOSURE, 0.04)),
                 [DatasetParametersUpdated(parameters=(checked(EXPOSURE, 0.04),))],
                 id="update-emits-only-changed"),
    pytest.param([WITH_ENERGY], update(raw(ENERGY, 13.0, "keV")),
                 [DatasetParametersUpdated(parameters=(checked(ENERGY, 13.0, "keV"),))],
                 id="update-replaces-value"),
    pytest.param([WITH_ENERGY], update(raw(ENERGY, 12.4, "keV")), [], id="update-same-value"),
    pytest.param([WITH_ENERGY], update(), [], id="update-nothing"),
    pytest.param([CREATED], update(raw(ENERGY, 1.0), raw(ENERGY, 1.0)),
                 Rejected(InvalidCommand, "parameters.1.name", "given twice"),
                 id="update-parameter-twice"),
    pytest.param([CREATED], update(raw("nope", 1.0)), Rejected(InvalidCommand,
                 "parameters.0.name", "unknown parameter type 'nope'"), id="update-unknown-name"),
    pytest.param([CREATED], update(raw(ENERGY, 12.4, "m")), Rejected(InvalidCommand,
                 "parameters.0.unit", "not compatible"), id="update-length-for-energy"),
]  # fmt: skip

FILE_CASES = [
    pytest.param([], files(F1), Rejected(NotFound, None, "no such dataset"),
                 id="files-missing-dataset"),
    pytest.param([CREATED], files(F1, F2), [DatafilesRegistered(files=(F1, F2))],
                 id="register-files"),
    pytest.param([CREATED, CLOSED], files(F2), [DatafilesRegistered(files=(F2,))],
                 id="register-files-after-close"),
    pytest.param([CREATED], files(), Rejected(InvalidCommand, "files", "no files given"),
                 id="no-files"),
    pytest.param([CREATED], files(F1, F2, datafile("scan0001.h5", 5)),
                 Rejected(InvalidCommand, "files.2.path", "is given twice"),
                 id="path-twice-in-request"),
    pytest.param([CREATED], files(F2, F1, existing=frozenset({F1.path})),
                 Rejected(AlreadyExists, "files.1.path", "is already registered"),
                 id="path-already-registered"),
    pytest.param([CREATED], files(datafile("a.h5", 0), datafile("b.h5", 2**63 - 1)),
                 [DatafilesRegistered(files=(datafile("a.h5", 0), datafile("b.h5", 2**63 - 1)))],
                 id="size-bounds-accepted"),
    pytest.param([CREATED], files(datafile("a.h5", -1)), Rejected(InvalidCommand,
                 "files.0.size", "size -1 is not a file size"), id="negative-size"),
    pytest.param([CREATED], files(datafile("a.h5", 2**63)), Rejected(InvalidCommand,
                 "files.0.size", "is not a file size"), id="size-2-63"),
    pytest.param([CREATED], files(datafile("a.h5", checksum="adler32:0a1b2c3d"),
                                  datafile("b.h5", checksum="xxh128:" + "f" * 32)),
                 [DatafilesRegistered(files=(datafile("a.h5", checksum="adler32:0a1b2c3d"),
                                             datafile("b.h5", checksum="xxh128:" + "f" * 32)))],
                 id="checksums-accepted"),
    pytest.param([CREATED], files(datafile("a.h5", checksum="sha256:" + "AB" * 32)),
                 Rejected(InvalidCommand, "files.0.checksum", "must be 'algorithm:hex'"),
                 id="checksum-upper-case"),
    pytest.param([CREATED], files(datafile("a.h5", checksum="ab" * 32)),
                 Rejected(InvalidCommand, "files.0.checksum", "algorithm:hex"),
                 id="checksum-no-algorithm"),
    pytest.param([CREATED], files(datafile("a.h5", checksum="sha3:" + "ab" * 32)),
                 Rejected(InvalidCommand, "files.0.checksum", "algorithm:hex"),
                 id="checksum-unknown-algorithm"),
    pytest.param([CREATED], files(datafile("a.h5", checksum=SHA + "\n")),
                 Rejected(InvalidCommand, "files.0.checksum", "algorithm:hex"),
                 id="checksum-trailing-newline"),
    pytest.param([CREATED], files(datafile("a.h5", checksum="md5:abc")),
                 Rejected(InvalidCommand, "files.0.checksum", "algorithm:hex"),
                 id="checksum-too-short"),
    pytest.param([CREATED], files(F1, datafile("b.h5", created_at=NAIVE)),
                 Rejected(InvalidCommand, "files.1.created_at", "needs a timezone"),
                 id="naive-created-at"),
    pytest.param([CREATED], files(datafile("b.h5", modified_at=NAIVE)),
                 Rejected(InvalidCommand, "files.0.modified_at", "needs a timezone"),
                 id="naive-modified-at"),
    pytest.param([CREATED], files(datafile("b.h5", format=" hdf5")),
                 Rejected(InvalidCommand, "files.0.format", "start or end with spaces"),
                 id="padded-format"),
    pytest.param([CREATED], files(datafile("../../etc/passwd")),
                 Rejected(InvalidCommand, "files.0.path", "'..' segments"), id="path-dotdot"),
    pytest.param([CREATED], files(datafile("scan0001/")),
                 Rejected(InvalidCommand, "files.0.path", "names a directory"),
                 id="path-directory"),
    pytest.param([CREATED], files(Datafile(path="", size=1)),
                 Rejected(InvalidCommand, "files.0.path", "must not be empty"),
                 id="path-empty"),
    pytest.param([CREATED], files(Datafile(path="scan0001.h5", size=1)),
                 Rejected(InvalidCommand, "files.0.path", ""), id="path-relative"),
    pytest.param([CREATED], files(*(datafile(f"f{i}.h5") for i in range(10_001))),
                 Rejected(InvalidCommand, "files", "10001 files in one request; at most 10000"),
                 id="too-many-files"),
]  # fmt: skip

COMMANDS_AFTER_DELETE = [
    pytest.param(close(START + timedelta(hours=1)), id="close"),
    pytest.param(update(raw(ENERGY, 1.0)), id="update-parameters"),
    pytest.param(files(F1), id="register-files"),
    pytest.param(DeleteDataset("again"), id="delete"),
]

DELETE_CASES = [
    pytest.param([], DeleteDataset("x"), Rejected(NotFound, None, "no such dataset"),
                 id="delete-missing"),
    pytest.param([CREATED], DeleteDataset("duplicate"), [DELETED], id="delete"),
    pytest.param([CREATED, CLOSED], DeleteDataset(""), [DatasetDeleted(reason="")],
                 id="delete-closed-without-reason"),
    pytest.param([CREATED], DeleteDataset("r" * 1001), Rejected(InvalidCommand, "reason",
                 "at most 1000"), id="delete-long-reason"),
    pytest.param([CREATED, DELETED], create(), Rejected(AlreadyExists, "name",
                 "already exists"), id="create-after-delete"),
    *(pytest.param([CREATED, DELETED], p.values[0], Rejected(DomainError, None,
                   f"dataset {NAME!r} was deleted"), id=f"{p.id}-after-delete")
      for p in COMMANDS_AFTER_DELETE),
    pytest.param([CREATED], object(), Rejected(InvalidCommand, None, "unknown command"),
                 id="unknown-command"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("events", "command", "then"),
    CREATE_CASES + CLOSE_CASES + UPDATE_CASES + FILE_CASES + DELETE_CASES,
)
def test_decide_dataset(events: list[Event], command: Any, then: Any) -> None:
    state = given(events)
    if isinstance(then, Rejected):
        with pytest.raises(then.error) as raised:
            decide_dataset(state, command)
        assert type(raised.value) is then.error
        assert getattr(raised.value, "field", None) == then.field
        assert then.fragment in raised.value.detail
    else:
        assert decide_dataset(state, command) == then


def test_ten_thousand_files_are_accepted() -> None:
    many = tuple(Datafile(path=f"/d/f{i}", size=1) for i in range(10_000))
    assert decide_dataset(given([CREATED]), files(*many)) == [DatafilesRegistered(files=many)]


def test_parameters_keep_the_unit_given_and_the_si_value() -> None:
    [event] = decide_dataset(Dataset(), create(parameters=(raw(ENERGY, 12400, "eV"),)))
    assert isinstance(event, DatasetCreated)
    [energy] = event.parameters
    assert (energy.name, energy.value, energy.unit, energy.numeric) == (
        ENERGY,
        "12400",
        "eV",
        1.24e4,
    )
    assert energy.si_value == pytest.approx(1.98669902616e-15)
    assert energy.si_unit == "kilogram * meter ** 2 / second ** 2"


BASE = Dataset(
    dataset_id=DATASET_ID, investigation_id=INVESTIGATION, name=NAME, location=LOCATION,
    start=START,
)  # fmt: skip
E124 = checked(ENERGY, 12.4, "keV")
E130 = checked(ENERGY, 13.0, "keV")
EXP = checked(EXPOSURE, 0.04)

STATES = [
    pytest.param([], Dataset(), id="nothing"),
    pytest.param([CREATED], BASE, id="created"),
    pytest.param([created(kind=DatasetKind.PROCESSED, input_ids=(INPUT_A,), sample_id=SAMPLE,
                          collection="c", techniques=("MX",), scan_type=ScanType.STEP_BY_STEP)],
                 replace(BASE, kind=DatasetKind.PROCESSED, input_ids=(INPUT_A,),
                         sample_id=SAMPLE, collection="c", techniques=("MX",),
                         scan_type=ScanType.STEP_BY_STEP), id="created-processed"),
    pytest.param([WITH_ENERGY], replace(BASE, parameters={ENERGY: E124}), id="with-parameter"),
    pytest.param([WITH_ENERGY, DatasetClosed(end=START, parameters=(E130, EXP))],
                 replace(BASE, end=START, complete=True,
                         parameters={ENERGY: E130, EXPOSURE: EXP}), id="closed-merges"),
    pytest.param([WITH_ENERGY, DatasetParametersUpdated(parameters=(EXP,))],
                 replace(BASE, parameters={ENERGY: E124, EXPOSURE: EXP}), id="parameters-added"),
    pytest.param([WITH_ENERGY, DatasetParametersUpdated(parameters=(E130,))],
                 replace(BASE, parameters={ENERGY: E130}), id="parameter-replaced"),
    pytest.param([CREATED, DatafilesRegistered(files=(F1, F2)),
                  DatafilesRegistered(files=(datafile("c", 500),))],
                 replace(BASE, file_count=3, volume=3500), id="files-counted"),
    pytest.param([CREATED, DELETED], replace(BASE, deleted=True), id="deleted"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "state"), STATES)
def test_evolve_dataset(events: list[Event], state: Dataset) -> None:
    assert given(events) == state
