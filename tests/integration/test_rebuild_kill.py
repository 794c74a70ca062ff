"""A rebuild killed with SIGKILL part-way resumes to the same result as a clean rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalogue.events import StreamAppend
from catalogue.projections import Status, read_checkpoint
from catalogue.runner import rebuild, register_checkpoints
from tests.sample_domain import (
    ThingCounted,
    ThingCreated,
    ThingNames,
    ThingRenamed,
    make_store,
    table_rows,
    thing_names,
)

ROOT = Path(__file__).resolve().parents[2]


def run_child(url: str, delay: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.rebuild_child", url, str(delay)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_killed_rebuild_resumes_to_the_clean_result(engine, database_url):
    store = make_store(engine)
    projection = ThingNames()
    register_checkpoints(store, [projection])
    for i in range(200):
        store.append(
            [
                StreamAppend(
                    f"thing-{i}",
                    [
                        ThingCreated(name=f"a{i}"),
                        ThingCounted(amount=i),
                        ThingRenamed(name=f"b{i}", reason="r"),
                    ],
                )
            ]
        )
    rebuild(store, projection, restart=True)
    clean = table_rows(store, thing_names)
    assert len(clean) == 200

    child = run_child(database_url, delay=0.05)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            checkpoint = read_checkpoint(connection, projection.name)
        if checkpoint.status is Status.REBUILDING and 0 < checkpoint.position < 600:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with engine.connect() as connection:
        interrupted = read_checkpoint(connection, projection.name)
    assert interrupted.status is Status.REBUILDING
    assert 0 < interrupted.position < 600
    assert len(table_rows(store, thing_names)) < 200

    again = run_child(database_url, delay=0.0)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr.decode()
    with engine.connect() as connection:
        finished = read_checkpoint(connection, projection.name)
    assert (finished.status, finished.position) == (Status.LIVE, 600)
    assert table_rows(store, thing_names) == clean
