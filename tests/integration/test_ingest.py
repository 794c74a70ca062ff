"""The ingest against a real database (SQLite and PostgreSQL): a Bliss tree becomes datasets,
samples and files; a second pass appends nothing; changes are updates; failures wait for
their retry time; a rebuild of the ingest projection equals the incremental one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import h5py
import pytest
from sqlalchemy import func, select

from catalogue.domain.access import OPERATOR, Principal, PrincipalKind
from catalogue.domain.instruments import RegisterInstrument
from catalogue.portal import datasets, ingests, instruments, investigations
from catalogue.portal.execution import Caller
from catalogue.readmodels.datasets import DatasetFilter
from catalogue.runner import find_projection, rebuild, register_checkpoints
from catalogue.schema import datasets as dataset_table
from catalogue.schema import ingest_folders, samples
from catalogue.services import Services, build_services
from catalogue.settings import Settings
from ingest.nexus import read_nexus
from ingest.pipeline import Summary, ingest_paths
from ingest.worker import ReadOptions
from tests import nexus_files as nf
from tests.sample_domain import table_rows

SESSION = datetime(2025, 6, 1, 7, tzinfo=UTC)
NO_CHECKSUM = ReadOptions(checksum=None)


def ingest_caller(now: datetime | None = None, principal: Principal = OPERATOR) -> Caller:
    return Caller(principal, source="ingest", now=now or datetime.now(UTC))


@dataclass
class World:
    services: Services
    root: Path
    investigation: UUID

    def ingest(self, *paths: Path, **options: Any) -> Summary:
        options.setdefault("options", NO_CHECKSUM)
        caller = options.pop("caller", None) or ingest_caller()
        roots = [str(p) for p in (paths or (self.root,))]
        return ingest_paths(self.services.store, caller, roots, **options)

    def dataset(self, name: str) -> dict[str, Any]:
        page = datasets.list_datasets(
            self.services.store, ingest_caller(), self.investigation, DatasetFilter(), "name",
            None, 100,
        )  # fmt: skip
        (found,) = [d for d in page.items if d["name"] == name]
        return datasets.get_dataset(self.services.store, ingest_caller(), found["id"])

    def count(self, table: Any) -> int:
        with self.services.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())

    def head(self) -> int:
        return self.services.store.head_position()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    services = build_services(Settings(database_url=database_url, data_dir=tmp_path / "var"))
    register_checkpoints(services.store, services.projections)
    caller = Caller(OPERATOR, source="test")
    instruments.run_instrument_command(
        services.store, caller, "ID23-1", RegisterInstrument("ID23-1")
    )
    investigation = investigations.create_investigation(
        services.store, caller, timedelta(days=3650), proposal="HG-123", instrument="ID23-1",
        title="Lysozyme", start=SESSION, end=SESSION + timedelta(days=2),
    )  # fmt: skip
    yield World(services, tmp_path / "data", investigation)
    services.close()


def raw(world: World, collection: str, dataset: str) -> Path:
    return nf.bliss_dataset_path(world.root, collection=collection, dataset=dataset)


def test_a_tree_becomes_datasets_and_a_second_pass_appends_nothing(world: World):
    written = [raw(world, c, d) for c in ("lysozyme", "thaumatin") for d in ("0001", "0002")]
    for path in written:
        nf.write_bliss_dataset(path, sample=path.parent.parent.name, scans=2, detector_2d=True)
    nf.write_master_files(written[0].parents[3], "hg123", "id23-1", written)
    running = nf.write_bliss_dataset(raw(world, "lysozyme", "0003"), running_scan=2)
    broken = raw(world, "lysozyme", "0004")
    broken.parent.mkdir(parents=True)
    nf.write_not_hdf5(broken)
    processed = nf.write_bliss_dataset(
        nf.bliss_dataset_path(world.root, collection="lysozyme", dataset="0001", processed=True)
    )

    first = world.ingest()

    assert (first.new, first.running, first.failed, first.unchanged) == (5, 1, 1, 0)
    assert first.masters == 3  # the proposal's and the two collections'
    assert any("not an HDF5 file" in reason for _, reason in first.failures)
    lyso = world.dataset("lysozyme_0001")
    assert lyso["complete"] is True
    assert lyso["techniques"] == ["MX"]
    assert lyso["location"] == str(written[0].parent)
    assert lyso["file_count"] == 3  # the dataset file and one detector file per scan
    assert lyso["volume"] == sum(f.stat().st_size for f in written[0].parent.rglob("*.h5"))
    assert lyso["start"] == datetime(2025, 6, 1, 8, 1, tzinfo=UTC)
    parameters = {p["name"]: p for p in lyso["parameters"]}
    assert parameters["InstrumentSource_current"]["si_value"] == pytest.approx(0.1995)
    assert parameters["Sample_name"]["value"] == "lysozyme"
    assert parameters["InstrumentDetector01_name"]["value"] == "pilatus"
    assert parameters["instrument/positioners_start/samy"]["unit"] == "mm"
    assert parameters["scans/2.1/title"]["value"].startswith("dscan")
    assert world.count(samples) == 2  # registered by name, once each
    derived = world.dataset("lysozyme_0001 (processed)")
    assert derived["kind"] == "processed"
    assert derived["location"] == str(processed.parent)
    assert derived["input_ids"] == [lyso["id"]]

    head = world.head()
    second = world.ingest()

    assert (second.new, second.updated, second.unchanged) == (0, 0, 5)
    assert (second.running, second.waiting, second.failed) == (1, 1, 0)
    assert world.head() == head  # nothing appended

    nf.write_bliss_dataset(running)  # the writer finished its last scan
    third = world.ingest()

    assert (third.new, third.running, third.unchanged) == (1, 0, 5)
    assert world.dataset("lysozyme_0003")["complete"] is True


def test_processed_data_names_its_raw_dataset_and_waits_for_it(world: World):
    processed_path = nf.bliss_dataset_path(world.root, dataset="0001", processed=True)
    nf.write_bliss_dataset(processed_path)

    alone = world.ingest()
    nf.write_bliss_dataset(raw(world, "lysozyme", "0001"))
    later = world.ingest(caller=ingest_caller(datetime.now(UTC) + timedelta(minutes=2)))

    assert alone.failed == 1
    assert "processed data whose raw dataset" in alone.failures[0][1]
    assert (later.new, later.failed) == (2, 0)
    with world.services.engine.connect() as connection:
        rows = dict(connection.execute(select(dataset_table.c.kind, dataset_table.c.id)).fetchall())
    derived = datasets.get_dataset(world.services.store, ingest_caller(), rows["processed"])
    assert derived["input_ids"] == [rows["raw"]]


def test_a_changed_folder_is_updated_not_duplicated(world: World):
    path = nf.write_bliss_dataset(
        raw(world, "lysozyme", "0001"), energy_kev=12.4, scans=1, detector_2d=True
    )
    world.ingest()
    before = world.dataset("lysozyme_0001")

    # A scan more (with its detector file), and another energy.
    nf.write_bliss_dataset(path, energy_kev=13.5, scans=2, detector_2d=True)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    summary = world.ingest()
    after = world.dataset("lysozyme_0001")

    assert (summary.new, summary.updated) == (0, 1)
    assert after["id"] == before["id"]
    assert world.count(dataset_table) == 1
    energy = {p["name"]: p["value"] for p in after["parameters"]}["InstrumentMonochromator_energy"]
    assert energy == "13.5"
    assert before["file_count"] == 2
    assert after["file_count"] == 3  # the second scan's detector file is new
    assert after["volume"] == sum(f.stat().st_size for f in path.parent.rglob("*.h5"))


def test_a_failure_waits_for_its_retry_and_recovers_when_fixed(world: World):
    path = raw(world, "lysozyme", "0001")
    path.parent.mkdir(parents=True)
    nf.write_empty(path)
    start = datetime.now(UTC)

    first = world.ingest(caller=ingest_caller(start))
    early = world.ingest(caller=ingest_caller(start + timedelta(seconds=30)))
    due = world.ingest(caller=ingest_caller(start + timedelta(minutes=2)))
    failures = ingests.list_failures(world.services.store, ingest_caller(), None, 10)
    nf.write_bliss_dataset(path)
    fixed = world.ingest(caller=ingest_caller(start + timedelta(minutes=3)))

    assert (first.failed, early.waiting, due.failed) == (1, 1, 1)
    (failure,) = failures.items
    assert failure["path"] == str(path.parent)
    assert failure["attempts"] == 2
    assert "empty" in failure["reason"]
    assert failure["retry_at"] > start + timedelta(minutes=3)
    assert fixed.new == 1  # the files changed: tried at once, whatever the back-off said
    assert ingests.list_failures(world.services.store, ingest_caller(), None, 10).items == []


def test_a_folder_without_its_investigation_or_by_another_beamline_fails_with_the_reason(
    world: World,
):
    nf.write_bliss_dataset(nf.bliss_dataset_path(world.root, proposal="ma9999"))
    nf.write_bliss_dataset(raw(world, "lysozyme", "0001"))
    other_key = Principal(PrincipalKind.API_KEY, instrument="BM29", credential_id="k1")

    summary = world.ingest(caller=ingest_caller(principal=other_key))

    reasons = sorted(reason for _, reason in summary.failures)
    assert summary.failed == 2
    assert reasons[0].startswith("api-key:BM29/k1 may not add data to investigation")
    assert "no investigation of proposal ma9999 on ID23-1 around 2025-06-01" in reasons[1]


def test_worker_processes_read_the_same_as_one(world: World):
    for index in range(10):
        nf.write_bliss_dataset(raw(world, "lysozyme", f"{index:04d}"), scans=1)

    summary = world.ingest(workers=2)

    assert (summary.new, summary.failed) == (10, 0)
    assert {d["name"] for d in [world.dataset(f"lysozyme_{i:04d}") for i in range(10)]} == {
        f"lysozyme_{i:04d}" for i in range(10)
    }


@pytest.mark.slow
def test_two_ingesters_racing_over_one_tree_record_each_dataset_once(world: World):
    for index in range(12):
        nf.write_bliss_dataset(raw(world, "lysozyme", f"{index:04d}"), scans=1)
    results: list[Summary] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(world.ingest())
        except BaseException as error:  # the test reports it below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(r.new for r in results) == 12
    assert sum(r.new + r.unchanged for r in results) == 24
    assert world.count(dataset_table) == 12
    assert world.count(ingest_folders) == 12


def test_a_rebuild_of_the_ingest_projection_equals_the_incremental_one(world: World):
    nf.write_bliss_dataset(raw(world, "lysozyme", "0001"))
    broken = raw(world, "lysozyme", "0002")
    broken.parent.mkdir(parents=True)
    nf.write_not_hdf5(broken)
    start = datetime.now(UTC)
    world.ingest(caller=ingest_caller(start))
    world.ingest(caller=ingest_caller(start + timedelta(hours=1)))
    incremental = table_rows(world.services.store, ingest_folders)
    projection = find_projection(world.services.projections, "ingest")

    for batch_size in (1, 1000):
        rebuild(world.services.store, projection, batch_size=batch_size, restart=True)
        assert table_rows(world.services.store, ingest_folders) == incremental
    assert [row[1] for row in incremental] == ["ingested", "failed"]


def test_a_file_its_writer_holds_locked_is_read_without_waiting(tmp_path: Path):
    path = nf.write_bliss_dataset(tmp_path / "scan.h5", scans=1)
    # The writer (another process, as Bliss is) opens the file for writing with HDF5's
    # default file locking, and keeps it open.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, h5py; f = h5py.File(sys.argv[1], 'a'); print('open', flush=True);"
            " sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(OSError, match="lock"):
            h5py.File(path, "r")  # a reader that takes the lock is refused...
        found = read_nexus(path)  # ...this one is not
    finally:
        holder.communicate("", timeout=30)

    assert [entry.name for entry in found.entries] == ["1.1"]
    assert found.entries[0].writer_status == "SUCCEEDED"


def test_other_facilities_files_join_the_investigation_they_are_given_to(world: World):
    folder = world.root / "diamond" / "i04"
    folder.mkdir(parents=True)
    nxmx = nf.write_nxmx(folder / "thaumatin_1.nxs")
    nxsas = nf.write_nxsas(folder / "bsa_2.nxs")
    settled = ReadOptions(checksum="sha1", settle_s=0.0)

    without = world.ingest(folder)
    summary = world.ingest(
        folder, investigation_id=world.investigation, options=settled, retry_failures=True
    )

    # The NXmx data file is no dataset; the NXsas file has no end_time and has not settled.
    assert (without.failed, without.running, without.skipped) == (1, 1, 1)
    assert all("outside the ESRF layout" in reason for _, reason in without.failures)
    assert (summary.new, summary.skipped) == (2, 1)
    mx = world.dataset("thaumatin_1")
    assert mx["techniques"] == ["MX"]
    assert mx["location"] == str(nxmx)
    files = datasets.list_files(world.services.store, ingest_caller(), mx["id"], None, 10)
    assert [f["path"] for f in files.items] == [
        str(nxmx),
        str(folder / "thaumatin_1_data_000001.h5"),
    ]
    assert all(f["checksum"].startswith("sha1:") for f in files.items)
    parameters = {p["name"]: p for p in mx["parameters"]}
    assert parameters["InstrumentBeam_incident_wavelength"]["unit"] == "angstrom"
    sas = world.dataset("bsa_2")
    assert sas["techniques"] == ["SAXS"]
    record = ingests.folder_status(world.services.store, ingest_caller(), str(nxsas))
    assert record is not None
    assert any("taken as finished" in w for w in record["warnings"])
