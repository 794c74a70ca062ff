"""Ingest of dataset folders (catalogue.domain.ingests) and file updates, as tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import reduce

import pytest

from catalogue.domain import datasets as ds
from catalogue.domain import ingests as ing
from catalogue.domain.parameters import builtin_vocabulary, check_parameter
from catalogue.errors import DomainError, InvalidCommand, NotFound
from catalogue.events import Event

VOCABULARY = builtin_vocabulary()
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
START = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
END = START + timedelta(minutes=10)
INVESTIGATION = uuid.UUID("00000000-0000-4000-8000-000000000001")
FOLDER = "/data/visitor/hg123/id23-1/20250601/RAW_DATA/lyso/lyso_0001"
NAME = "lyso_0001"
DATASET_ID = ds.dataset_id_for(INVESTIGATION, NAME)
MAIN = f"{FOLDER}/{NAME}.h5"
SCAN = f"{FOLDER}/scan0001/pilatus_0000.h5"
SHA = "sha256:" + "ab" * 32


def stamp(path: str, size: int, mtime_ns: int = 1) -> ing.FileStamp:
    return ing.FileStamp(path=path, size=size, mtime_ns=mtime_ns)


def datafile(path: str, size: int) -> ds.Datafile:
    return ds.Datafile(path=path, size=size, checksum=SHA)


def record(
    *,
    fingerprint: str = "f1",
    files: tuple[tuple[str, int, int], ...] = ((MAIN, 100, 1),),
    energy: float = 12.4,
    end: datetime | None = END,
    registered: dict[str, int] | None = None,
    warnings: tuple[str, ...] = (),
) -> ing.RecordDataset:
    return ing.RecordDataset(
        path=FOLDER,
        fingerprint=fingerprint,
        stamps=tuple(stamp(p, s, m) for p, s, m in files),
        create=ds.CreateDataset(
            investigation_id=INVESTIGATION,
            name=NAME,
            location=FOLDER,
            start=START,
            vocabulary=VOCABULARY,
            collection="lyso",
            techniques=("MX",),
            parameters=(ds.RawParameter("InstrumentMonochromator_energy", energy, "keV"),),
        ),
        end=end,
        files=tuple(datafile(p, s) for p, s, _ in files),
        registered_sizes=registered or {},
        warnings=warnings,
        beamline="ID23-1",
    )


def fold_ingest(events: Iterable[Event]) -> ing.Ingest:
    return reduce(ing.evolve_ingest, events, ing.Ingest())


def fold_dataset(events: Iterable[Event]) -> ds.Dataset:
    return reduce(ds.evolve_dataset, events, ds.Dataset())


def types(events: Iterable[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_new_folder_creates_closes_and_registers_in_one_decision():
    ingest_events, dataset_events = ing.decide_dataset_ingest(
        ing.Ingest(), ds.Dataset(), record(files=((MAIN, 100, 1), (SCAN, 50, 2)), warnings=("w",))
    )

    assert types(dataset_events) == ["DatasetCreated", "DatasetClosed", "DatafilesRegistered"]
    created, closed, registered = dataset_events
    assert isinstance(created, ds.DatasetCreated)
    assert created.dataset_id == DATASET_ID
    assert isinstance(closed, ds.DatasetClosed)
    assert closed.end == END
    assert isinstance(registered, ds.DatafilesRegistered)
    assert [f.path for f in registered.files] == [MAIN, SCAN]
    (ingested,) = ingest_events
    assert ingested == ing.DatasetIngested(
        path=FOLDER,
        dataset_id=DATASET_ID,
        fingerprint="f1",
        files=(stamp(MAIN, 100, 1), stamp(SCAN, 50, 2)),
        warnings=("w",),
        beamline="ID23-1",
    )
    state = fold_dataset(dataset_events)
    assert (state.complete, state.file_count, state.volume) == (True, 2, 150)


def test_the_same_folder_again_decides_nothing():
    first_ingest, first_dataset = ing.decide_dataset_ingest(ing.Ingest(), ds.Dataset(), record())
    again = ing.decide_dataset_ingest(
        fold_ingest(first_ingest), fold_dataset(first_dataset), record(registered={MAIN: 100})
    )

    assert again == ([], [])


# What changed since the first ingest -> the dataset events of the second.
CHANGES = [
    pytest.param(
        {"energy": 13.0, "fingerprint": "f2"},
        ["DatasetParametersUpdated"],
        id="a parameter changed",
    ),
    pytest.param(
        {"files": ((MAIN, 100, 1), (SCAN, 50, 2)), "fingerprint": "f2"},
        ["DatafilesRegistered"],
        id="a file was added",
    ),
    pytest.param(
        {"files": ((MAIN, 180, 5),), "fingerprint": "f2"},
        ["DatafilesUpdated"],
        id="a file grew",
    ),
    pytest.param(
        {"energy": 13.0, "files": ((MAIN, 180, 5), (SCAN, 50, 2)), "fingerprint": "f2"},
        ["DatasetParametersUpdated", "DatafilesRegistered", "DatafilesUpdated"],
        id="all at once",
    ),
    pytest.param({"fingerprint": "f2"}, [], id="only a time changed: the ingest notes it"),
]


@pytest.mark.parametrize(("change", "expected"), CHANGES)
def test_a_changed_folder_is_an_update_never_a_duplicate(change, expected):
    first_ingest, first_dataset = ing.decide_dataset_ingest(ing.Ingest(), ds.Dataset(), record())

    ingest_events, dataset_events = ing.decide_dataset_ingest(
        fold_ingest(first_ingest),
        fold_dataset(first_dataset),
        record(registered={MAIN: 100}, **change),
    )

    assert types(dataset_events) == expected
    assert types(ingest_events) == ["DatasetIngested"]
    assert ingest_events[0].fingerprint == "f2"  # type: ignore[attr-defined]
    if "DatafilesUpdated" in expected:
        updated = next(e for e in dataset_events if isinstance(e, ds.DatafilesUpdated))
        assert updated.volume_change == 80
        assert fold_dataset([*first_dataset, *dataset_events]).volume == 180 + (
            50 if "DatafilesRegistered" in expected else 0
        )


def test_a_dataset_opened_through_the_api_is_closed_and_completed():
    opened = ds.decide_dataset(ds.Dataset(), record().create)
    state = fold_dataset(opened)

    _, dataset_events = ing.decide_dataset_ingest(
        ing.Ingest(), state, record(files=((MAIN, 100, 1),), energy=12.4)
    )

    # Same parameter value: no update; the close and the files are new.
    assert types(dataset_events) == ["DatasetClosed", "DatafilesRegistered"]


def test_a_deleted_dataset_is_refused_with_the_reason():
    first_ingest, first_dataset = ing.decide_dataset_ingest(ing.Ingest(), ds.Dataset(), record())
    deleted = fold_dataset([*first_dataset, ds.DatasetDeleted(reason="wrong sample")])

    with pytest.raises(DomainError, match="was deleted"):
        ing.decide_dataset_ingest(fold_ingest(first_ingest), deleted, record(fingerprint="f2"))


def test_more_files_than_one_command_takes_are_registered_in_chunks():
    many = tuple((f"{FOLDER}/f{i:05d}.cbf", 1, 1) for i in range(ds.MAX_FILES_PER_COMMAND + 5))

    _, dataset_events = ing.decide_dataset_ingest(ing.Ingest(), ds.Dataset(), record(files=many))

    registered = [e for e in dataset_events if isinstance(e, ds.DatafilesRegistered)]
    assert [len(e.files) for e in registered] == [ds.MAX_FILES_PER_COMMAND, 5]


# -- failures and back-off --------------------------------------------------------------------


def fail(state: ing.Ingest, fingerprint: str, reason: str, now: datetime) -> list[Event]:
    return ing.decide_ingest(state, ing.RecordFailure(FOLDER, fingerprint, reason, now, "ID23-1"))


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=2)),
        (5, timedelta(minutes=16)),
        (11, timedelta(minutes=1024)),
        (12, timedelta(days=1)),
        (50, timedelta(days=1)),
    ],
)
def test_retries_back_off_doubling_to_a_day(attempt, delay):
    assert ing.retry_delay(attempt) == delay


def test_failures_count_attempts_and_schedule_the_next():
    first = fail(ing.Ingest(), "f1", "truncated", NOW)
    state = fold_ingest(first)
    before_retry = fail(state, "f1", "truncated", NOW + timedelta(seconds=30))
    after_retry = fail(state, "f1", "truncated", NOW + timedelta(minutes=2))
    new_files = fail(state, "f2", "truncated", NOW + timedelta(seconds=30))
    new_reason = fail(state, "f1", "permission denied", NOW + timedelta(seconds=30))

    assert first == [
        ing.IngestFailed(
            path=FOLDER,
            fingerprint="f1",
            reason="truncated",
            attempt=1,
            retry_at=NOW + timedelta(minutes=1),
            beamline="ID23-1",
        )
    ]
    assert before_retry == []  # already on record: nothing appended
    assert [e.attempt for e in after_retry] == [2]  # type: ignore[attr-defined]
    assert after_retry[0].retry_at == NOW + timedelta(minutes=4)  # type: ignore[attr-defined]
    assert [e.attempt for e in new_files] == [1]  # type: ignore[attr-defined]
    assert [e.reason for e in new_reason] == ["permission denied"]  # type: ignore[attr-defined]


def test_a_failure_keeps_what_the_catalogue_holds_and_a_success_clears_it():
    ingested, _ = ing.decide_dataset_ingest(ing.Ingest(), ds.Dataset(), record())
    failed = fold_ingest([*ingested, *fail(fold_ingest(ingested), "f2", "corrupt", NOW)])
    recovered = fold_ingest([*ingested, *fail(fold_ingest(ingested), "f2", "corrupt", NOW)])
    again, _ = ing.decide_dataset_ingest(recovered, ds.Dataset(), record(fingerprint="f3"))

    assert (failed.fingerprint, failed.dataset_id) == ("f1", DATASET_ID)
    assert (failed.failed_fingerprint, failed.reason, failed.attempts) == ("f2", "corrupt", 1)
    cleared = fold_ingest([*ingested, *fail(failed, "f2", "corrupt", NOW), *again])
    assert (cleared.fingerprint, cleared.reason, cleared.attempts) == ("f3", None, 0)


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        ("  the   file\nis truncated ", "the file is truncated"),
        ("", "unknown reason"),
        ("x" * 5000, "x" * ing.MAX_REASON),
    ],
)
def test_failure_reasons_are_one_line_and_bounded(reason, kept):
    (event,) = fail(ing.Ingest(), "f1", reason, NOW)

    assert event.reason == kept  # type: ignore[attr-defined]


def test_a_failure_needs_an_aware_time():
    with pytest.raises(InvalidCommand, match="timezone"):
        fail(ing.Ingest(), "f1", "x", datetime(2026, 12, 3, 9, 0))


def test_a_dataset_is_not_recorded_through_decide_ingest():
    with pytest.raises(InvalidCommand, match="decide_dataset_ingest"):
        ing.decide_ingest(ing.Ingest(), record())


# -- file updates on the dataset itself ---------------------------------------------------------


def test_update_files_needs_registered_paths_and_sums_the_change():
    created = [*ds.decide_dataset(ds.Dataset(), record().create)]
    registered = ds.DatafilesRegistered(files=(datafile(MAIN, 100), datafile(SCAN, 50)))
    state = fold_dataset([*created, registered])

    (event,) = ds.decide_dataset(
        state,
        ds.UpdateFiles((datafile(MAIN, 70), datafile(SCAN, 60)), {MAIN: 100, SCAN: 50}),
    )
    with pytest.raises(NotFound, match="is not a file of this dataset"):
        ds.decide_dataset(state, ds.UpdateFiles((datafile("/x/new.h5", 1),), {MAIN: 100}))

    assert isinstance(event, ds.DatafilesUpdated)
    assert event.volume_change == -20
    assert fold_dataset([*created, registered, event]).volume == 130


def test_nexus_paths_outside_the_vocabulary_are_kept_untyped():
    cases = [
        # name, value, unit -> value, unit, SI value
        ("instrument/positioners_start/samy", 0.5, "mm", ("0.5", "mm", 0.0005)),
        ("instrument/positioners_start/phi", 90, "deg", ("90", "deg", pytest.approx(1.5708, 1e-4))),
        ("instrument/slits/gap", 2.0, "bananas", ("2.0", "bananas", None)),
        ("scans/1.1/title", "ascan samy 0 1 10 0.1", None, ("ascan samy 0 1 10 0.1", None, None)),
        ("instrument/attenuator/inserted", True, None, ("true", None, None)),
    ]  # fmt: skip
    for name, value, unit, (text, unit_kept, si) in cases:
        checked = check_parameter(VOCABULARY, name, value, unit)
        assert (checked.value, checked.unit, checked.si_value) == (text, unit_kept, si), name
    for bad in ("no_slash", "/leading", "trailing/", "a//b", "spaces in/name", "a/" + "b" * 300):
        with pytest.raises(InvalidCommand, match="unknown parameter type"):
            check_parameter(VOCABULARY, bad, 1.0, None)
    with pytest.raises(InvalidCommand, match="not a finite number"):
        check_parameter(VOCABULARY, "instrument/source/x", float("nan"), None)
