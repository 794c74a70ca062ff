"""`/api/v1/ingest` through HTTP: a beamline asks for its folders to be ingested, sees the
outcome of each, and lists what failed; bad requests get a precise problem, never a 500."""

from __future__ import annotations

import os
from pathlib import Path

from catalogue.portal import instruments
from tests import nexus_files as nf
from tests.e2e.portal import (
    CLI,
    INSTRUMENT,
    Portal,
    add_instrument,
    add_user,
    assert_problem,
    bearer,
)

INGEST = "/api/v1/ingest"
SESSION = "20261124"  # the portal's investigations start on 2026-11-24


def data_root(portal: Portal) -> Path:
    """The data tree the service may ingest from (its default: DATA_DIR/data)."""
    return portal.services.settings.ingest_trees[0]


def folder(portal: Portal, dataset: str, collection: str = "lysozyme") -> Path:
    return nf.bliss_dataset_path(
        data_root(portal), proposal="mx2345", session=SESSION, collection=collection,
        dataset=dataset,
    ).parent  # fmt: skip


def test_a_beamline_ingests_its_folders_and_sees_each_outcome(portal: Portal):
    investigation = portal.create_investigation("MX-2345")
    good = folder(portal, "0001")
    nf.write_bliss_dataset(good / f"{good.name}.h5", scans=2, detector_2d=True)
    broken = folder(portal, "0002")
    broken.mkdir(parents=True)
    nf.write_not_hdf5(broken / f"{broken.name}.h5")
    key = instruments.issue_api_key(portal.store, CLI, INSTRUMENT, "bliss", None)
    beamline = portal.anonymous.__class__(portal.client.app, raise_server_exceptions=False)
    beamline.headers.update(bearer(key.token))

    response = beamline.post(INGEST, json={"paths": [str(good.parent)], "checksum": "md5"})
    again = beamline.post(INGEST, json={"paths": [str(good)]})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["folders"], body["new"], body["failed"]) == (2, 1, 1)
    outcomes = {r["path"]: r for r in body["results"]}
    assert outcomes[str(good)]["outcome"] == "new"
    assert "not an HDF5 file" in outcomes[str(broken)]["reason"]
    dataset_id = outcomes[str(good)]["dataset_id"]
    dataset = portal.client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert dataset["investigation_id"] == investigation["id"]
    assert dataset["name"] == "lysozyme_0001"
    files = portal.client.get(f"/api/v1/datasets/{dataset_id}/files").json()["items"]
    assert all(f["checksum"].startswith("md5:") for f in files)
    assert again.json()["unchanged"] == 1

    status = beamline.get(INGEST).json()
    failures = beamline.get(f"{INGEST}/failures").json()
    record = beamline.get(f"{INGEST}/folder", params={"path": str(good)}).json()

    assert (status["ingested"], status["failed"]) == (1, 1)
    (failure,) = failures["items"]
    assert failure["path"] == str(broken)
    assert failure["attempts"] == 1
    assert failure["beamline"] == INSTRUMENT
    assert record["status"] == "ingested"
    assert record["dataset_id"] == dataset_id


def test_who_may_ask_and_see(portal: Portal):
    add_instrument(portal.store, "BM29")
    other_key = instruments.issue_api_key(portal.store, CLI, "BM29", "bliss", None)
    user = add_user(portal.store, "bob")
    target = folder(portal, "0001")
    nf.write_bliss_dataset(target / f"{target.name}.h5", scans=1)
    portal.create_investigation("MX-2345")
    body = {"paths": [str(target)]}

    anonymous = portal.anonymous.post(INGEST, json=body)
    plain_user = portal.anonymous.post(INGEST, json=body, headers=bearer(user.token))
    other_beamline = portal.anonymous.post(INGEST, json=body, headers=bearer(other_key.token))
    other_sees = portal.anonymous.get(f"{INGEST}/failures", headers=bearer(other_key.token))
    user_sees = portal.anonymous.get(f"{INGEST}/failures", headers=bearer(user.token))

    assert_problem(anonymous, 401)
    assert_problem(plain_user, 403)
    assert_problem(user_sees, 403)
    # Another beamline's key may ask, but not add data to this beamline's investigation.
    assert other_beamline.status_code == 200
    (result,) = other_beamline.json()["results"]
    assert result["outcome"] == "failed"
    assert "may not add data" in result["reason"]
    # ...and it sees failures of its own beamline's folders only.
    assert other_sees.json()["items"] == []


def test_bad_requests_get_a_precise_problem(portal: Portal, tmp_path: Path):
    root = data_root(portal)
    root.mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    cases = [
        ({"paths": []}, 422, "paths"),
        ({"paths": ["relative/path"]}, 422, "paths.0"),
        ({"paths": [str(outside)]}, 422, "paths.0"),
        ({"paths": [str(root / "escape")]}, 422, "paths.0"),
        ({"paths": [str(root / ".." / "elsewhere")]}, 422, "paths.0"),
        ({"paths": [str(root / "missing")]}, 404, "paths.0"),
        ({"paths": [str(root)], "checksum": "crc64"}, 422, "checksum"),
        ({"paths": [str(root)], "investigation_id": "not-a-uuid"}, 422, "investigation_id"),
        ({"paths": [str(root)], "unknown": 1}, 422, "unknown"),
        ({"paths": [str(root)] * 101}, 422, "paths"),
        ({"paths": ["/" + "a" * 5000]}, 422, "paths.0"),
    ]
    for body, status, field in cases:
        assert_problem(portal.client.post(INGEST, json=body), status, field=field)
    assert_problem(portal.client.get(f"{INGEST}/folder", params={"path": "/nowhere"}), 404)
    assert_problem(portal.client.get(f"{INGEST}/failures", params={"cursor": "bad"}), 400)
    assert os.listdir(root) == ["escape"]  # nothing was written
