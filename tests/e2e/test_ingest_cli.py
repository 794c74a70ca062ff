"""`catalogue ingest` as an operator runs it: a pass with its summary, failures listed, the
watch loop picking up a dataset written while it runs, and bad input refused in one line."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from catalogue.domain.access import OPERATOR
from catalogue.domain.instruments import RegisterInstrument
from catalogue.portal import instruments, investigations
from catalogue.portal.execution import Caller
from catalogue.runner import register_checkpoints
from catalogue.schema import datasets
from tests import nexus_files as nf
from tests.conftest import sqlite_database
from tests.e2e.test_identity_cli import Operator, assert_one_line_error, row


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    """The CLI on a migrated SQLite file, with the investigation HG-123 on 2025-06-01."""
    operator = Operator(tmp_path, sqlite_database(tmp_path))
    # Before the first append, as the CLI does: a projection registered later needs a rebuild.
    register_checkpoints(operator.store, operator.services.projections)
    caller = Caller(OPERATOR, source="test")
    instruments.run_instrument_command(
        operator.store, caller, "ID23-1", RegisterInstrument("ID23-1")
    )
    start = datetime(2025, 6, 1, 7, tzinfo=UTC)
    investigations.create_investigation(
        operator.store, caller, timedelta(days=3650), proposal="HG-123", instrument="ID23-1",
        title="Lysozyme", start=start, end=start + timedelta(days=1),
    )  # fmt: skip
    yield operator
    operator.services.close()


def dataset_names(operator: Operator) -> list[str]:
    with operator.engine.connect() as connection:
        return sorted(connection.execute(select(datasets.c.name)).scalars())


def test_a_pass_prints_its_summary_and_lists_failures(operator: Operator):
    root = operator.directory / "data"
    for name in ("0001", "0002"):
        nf.write_bliss_dataset(nf.bliss_dataset_path(root, dataset=name), scans=1)
    broken = nf.bliss_dataset_path(root, dataset="0003")
    broken.parent.mkdir(parents=True)
    nf.write_empty(broken)

    first = operator.run("ingest", str(root), "--checksum", "adler32")
    second = operator.run("ingest", str(root), "--workers", "1")
    failures = operator.ok("ingest", "--failures")

    assert first.returncode == 2, first.stderr  # a folder failed
    assert "3 folders: 2 new, 0 updated, 0 unchanged, 0 running, 1 failed" in first.stdout
    assert f"failed: {broken.parent}: the file is empty (0 bytes)" in first.stdout
    assert "2 unchanged" in second.stdout
    assert "1 failed" in second.stdout  # an operator's pass tries failed folders again...
    # ...but the same failure of the same files before its retry time is not a new attempt.
    assert row(failures, str(broken.parent))[1:3] == ["the file is empty (0 bytes)", "1"]
    assert dataset_names(operator) == ["lysozyme_0001", "lysozyme_0002"]


def test_watch_picks_up_a_dataset_written_while_it_runs(operator: Operator):
    root = operator.directory / "data"
    root.mkdir()
    process = operator.start("ingest", str(root), "--watch", "--interval", "0.2")
    try:
        nf.write_bliss_dataset(nf.bliss_dataset_path(root, dataset="0001"), scans=1)
        deadline = time.monotonic() + 60
        while dataset_names(operator) != ["lysozyme_0001"] and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)

    assert dataset_names(operator) == ["lysozyme_0001"]
    assert process.returncode == 0, stderr
    assert "1 new" in stdout
    assert "stopped watching" in stdout


def test_bad_input_is_one_line_and_a_non_zero_exit(operator: Operator):
    results = operator.run_all(
        ("ingest",),
        ("ingest", str(operator.directory / "missing")),
        ("ingest", str(operator.directory), "--checksum", "crc64"),
        ("ingest", str(operator.directory), "--investigation", "no-slash"),
    )

    fragments = [
        "name at least one path",
        "no such file or directory",
        "unknown checksum 'crc64'",
        "neither an id nor PROPOSAL/VISIT",
    ]
    for result, fragment in zip(results, fragments, strict=True):
        assert_one_line_error(result, fragment)
