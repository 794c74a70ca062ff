"""While the catalogue read model is rebuilt, writes that trust it are refused, not corrupted."""

from __future__ import annotations

from sqlalchemy import update

from catalogue.database import write_transaction
from catalogue.projections import Status
from catalogue.schema import projection_checkpoints
from tests.e2e.portal import Portal, assert_problem


def set_status(portal: Portal, status: Status) -> None:
    with write_transaction(portal.services.engine) as connection:
        connection.execute(
            update(projection_checkpoints)
            .where(projection_checkpoints.c.name == "catalogue")
            .values(status=status.value)
        )


def test_file_registration_waits_for_a_live_read_model(portal: Portal):
    investigation = portal.create_investigation()
    dataset = portal.create_dataset(investigation["id"], "scan")
    files = f"/api/v1/datasets/{dataset['id']}/files"
    body = {"files": [{"path": "/data/scan/a.h5", "size": 1}]}
    set_status(portal, Status.REBUILDING)
    before = portal.services.store.head_position()
    assert_problem(portal.client.post(files, json=body), 503, "store-error")
    assert portal.services.store.head_position() == before
    set_status(portal, Status.LIVE)
    assert portal.client.post(files, json=body).status_code == 201
