"""Hand-made cursors, history cursors and oversized volumes: refused with a problem, never 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.e2e.portal import Portal, assert_problem


def forged(name: str, values: list[Any]) -> str:
    """A cursor as a client could forge one: the listing's name and any key values."""
    document = json.dumps([name, values])
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


@pytest.fixture
def made(portal: Portal) -> dict[str, str]:
    investigation = portal.create_investigation()
    dataset = portal.create_dataset(investigation["id"], "scan")
    return {"investigation": investigation["id"], "dataset": dataset["id"]}


UUID_TEXT = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("listing", "cursor"),
    [
        pytest.param("datasets", forged("datasets:name", ["a", 5]), id="int-as-uuid"),
        pytest.param(
            "datasets",
            forged("datasets:start", ["9999-12-31T23:00:00-05:00", UUID_TEXT]),
            id="time-overflows",
        ),
        pytest.param(
            "datasets",
            forged("datasets:start", ["0001-01-01T00:00:00+05:00", UUID_TEXT]),
            id="time-underflows",
        ),
        pytest.param(
            "datasets", forged("datasets:start", ["2026-11-24T08:00:00", UUID_TEXT]), id="naive"
        ),
        pytest.param("files", forged("files:path", ["\ud800"]), id="lone-surrogate"),
        pytest.param("files", forged("files:path", ["a\x00b"]), id="nul"),
        pytest.param("files", forged("files:path", [10**30]), id="huge-int"),
        pytest.param("investigations", forged("investigations:-start", [1, 2]), id="ints"),
        pytest.param("datasets", forged("files:path", ["a"]), id="other-listing"),
        pytest.param("datasets", "%%%", id="not-base64"),
    ],
)
def test_forged_cursors_are_refused(portal: Portal, made: dict[str, str], listing, cursor):
    path = {
        "datasets": f"/api/v1/investigations/{made['investigation']}/datasets",
        "files": f"/api/v1/datasets/{made['dataset']}/files",
        "investigations": "/api/v1/investigations",
    }[listing]
    params = {"cursor": cursor}
    if listing == "investigations":
        params["sort"] = "-start_time"
    elif listing == "datasets" and "name" in cursor:
        params["sort"] = "name"
    response = portal.client.get(path, params=params)
    assert_problem(response, 400, "invalid-query", "cursor")


@pytest.mark.parametrize("cursor", ["²", "-1", "1e3", "99999999999"])
def test_history_cursor_must_be_a_version(portal: Portal, made: dict[str, str], cursor):
    response = portal.client.get(
        f"/api/v1/datasets/{made['dataset']}/history", params={"cursor": cursor}
    )
    assert_problem(response, 400, "invalid-query", "cursor")


def test_a_volume_beyond_64_bits_is_refused_and_nothing_written(
    portal: Portal, made: dict[str, str]
):
    files = f"/api/v1/datasets/{made['dataset']}/files"
    first = {"files": [{"path": "/data/a.h5", "size": 2**62 + 2**61}]}
    assert portal.client.post(files, json=first).status_code == 201
    second = {"files": [{"path": "/data/b.h5", "size": 2**62}]}
    assert_problem(portal.client.post(files, json=second), 422, "invalid-value", "files")
    dataset = portal.client.get(f"/api/v1/datasets/{made['dataset']}").json()
    assert (dataset["file_count"], dataset["volume"]) == (1, 2**62 + 2**61)
