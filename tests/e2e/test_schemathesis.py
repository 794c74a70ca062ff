"""Property-based API tests: every operation of the OpenAPI document, fuzzed by schemathesis.

The service runs in-process on a SQLite file seeded with the access-matrix world; schemathesis
loads the OpenAPI document from the app and sends requests through its ASGI transport. Path
parameters are often replaced by the ids of seeded entities, so the generated bodies reach the
domain rules instead of stopping at a 404. Two passes: as an administrator (writes are
exercised) and anonymously. Checked for every operation: no 5xx, and every documented response
matches its schema. Bounded (max_examples) and derandomized, so CI runs the same cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from catalogue.api.app import create_app
from catalogue.domain import tracking as tr
from catalogue.portal import tracking
from catalogue.settings import Settings
from tests.conftest import sqlite_database
from tests.e2e.access_world import OTHER_BEAMLINE, OWN_BEAMLINE, World, running_world

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
BUDGET = hypothesis.settings(
    max_examples=25,
    derandomize=True,  # the same cases on every run: CI is repeatable
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class Switchboard:
    """The ASGI app schemathesis calls: the real service once a test module has seeded it.

    The schema is loaded when this module is imported, before any database exists, so the
    OpenAPI document comes from an app that is never started; the `service` fixture then
    starts the real one (its lifespan under a TestClient) and routes requests to it.
    """

    def __init__(self) -> None:
        settings = Settings(database_url="sqlite:///never-opened.db", data_dir=Path("unused"))
        self.document_only = create_app(settings)
        self.target: Any = self.document_only

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the service's own lifespan runs in the fixture
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.target(scope, receive, send)


SWITCHBOARD = Switchboard()
schema = schemathesis.openapi.from_asgi("/openapi.json", SWITCHBOARD)
# Authorization comes from the tests, never from generated security parameters.
schema.config.generation.update(with_security_parameters=False)


class Seeds:
    """Ids of seeded entities, offered in place of generated path parameters."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.deletable: list[str] = []

    def fill(self, world: World, sacrificial: list[UUID], parcels: SeededParcels) -> None:
        seeded = world.investigations.values()
        self.values = {
            "investigation_id": [str(s.id) for s in seeded],
            "sample_id": [str(s.sample_id) for s in seeded],
            "dataset_id": [str(s.dataset_id) for s in seeded],
            "username": ["extra", "pi", "collab"],
            "name": [OWN_BEAMLINE, OTHER_BEAMLINE],
            "shipment_id": [str(parcels.shipment_id)],
            "parcel_id": [str(p) for p in parcels.parcel_ids],
            "item_id": [str(i) for i in parcels.item_ids],
        }
        # DELETE /datasets/{id} only gets datasets no other operation is offered.
        self.deletable = [str(d) for d in sacrificial]

    def flatmap_path_parameters(self, context: Any, path_parameters: Any) -> Any:
        if not isinstance(path_parameters, dict) or not path_parameters:
            return st.just(path_parameters)
        operation = context.operation
        deleting = operation is not None and operation.method.upper() == "DELETE"
        drawn = {}
        for name, value in path_parameters.items():
            known = self.values.get(name, [])
            if deleting and name == "dataset_id":
                known = self.deletable
            drawn[name] = st.sampled_from([value, *known]) if known else st.just(value)
        return st.fixed_dictionaries(drawn)


@dataclass(frozen=True)
class SeededParcels:
    """A shipment of the own investigation with parcels of one puck each."""

    shipment_id: UUID
    parcel_ids: list[UUID]
    item_ids: list[UUID]


def seed_parcels(world: World) -> SeededParcels:
    """Parcels for the fuzzer's tracking operations to act on (a step they cannot take is a
    409, a step they can is taken: either way the rules are reached, not a 404)."""
    store, own = world.services.store, world.investigations["own"]
    address = tr.Address(name="Pi", street=("1 rue de la Chimie",), city="Grenoble", country="FR")
    shipment = tracking.create_shipment(
        store,
        world.caller,
        own.id,
        tr.CreateShipment(own.id, "", "fuzzed", address, return_address=address),
    )
    parcel_ids, item_ids = [], []
    for name in ("first", "second", "third"):
        parcel = tracking.create_parcel(
            store, world.caller, shipment, name, tr.AfterExperiment.RETURN, ""
        )
        puck = tr.ItemSpec(
            name="puck", kind=tr.ItemKind.CONTAINER, container_type=tr.ContainerType.PUCK
        )
        tracking.add_items(store, world.caller, parcel, [tracking.ItemInput(puck)], None)
        parcel_ids.append(parcel)
        item_ids.append(tr.item_id_for(parcel, "puck"))
    return SeededParcels(shipment, parcel_ids, item_ids)


SEEDS = Seeds()


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
    """Offer seeded ids alongside the generated path parameters."""
    return SEEDS.flatmap_path_parameters(context, path_parameters)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The seeded service behind the switchboard."""
    directory = tmp_path_factory.mktemp("schemathesis")
    with running_world(sqlite_database(directory), directory) as (seeded, client):
        sacrificial = [seeded.fresh_dataset(which) for which in ("own", "public") for _ in range(3)]
        SEEDS.fill(seeded, sacrificial, seed_parcels(seeded))
        SWITCHBOARD.target = client.app
        try:
            yield seeded
        finally:
            SWITCHBOARD.target = SWITCHBOARD.document_only


@schema.parametrize()
@BUDGET
def test_api_as_admin(case: Any, world: World) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}
    case.call_and_validate(headers=headers, checks=CHECKS)


@schema.parametrize()
@BUDGET
def test_api_anonymously(case: Any, world: World) -> None:
    case.call_and_validate(checks=CHECKS)


# -- what the fuzzer's time strategy rarely reaches ------------------------------------------

#: Aware times that pydantic accepts but that leave datetime's range once converted to UTC.
EARLY = "0001-01-01T00:00:00+05:00"
LATE = "9999-12-31T23:59:59-05:00"


def _extreme(world: World, label: str) -> tuple[str, str, dict[str, str] | None, Any]:
    own = world.investigations["own"]
    # The fuzzer may have closed the seeded dataset: writes get an open one of their own.
    fresh = world.fresh_dataset("own") if label in ("close dataset", "register files") else None
    return {
        "investigation as_of": ("GET", f"/api/v1/investigations/{own.id}", {"as_of": EARLY}, None),
        "sample as_of": ("GET", f"/api/v1/samples/{own.sample_id}", {"as_of": LATE}, None),
        "dataset as_of": ("GET", f"/api/v1/datasets/{own.dataset_id}", {"as_of": EARLY}, None),
        "investigations start_from": ("GET", "/api/v1/investigations", {"start_from": EARLY}, None),
        "datasets start_to": (
            "GET",
            f"/api/v1/investigations/{own.id}/datasets",
            {"start_to": LATE},
            None,
        ),
        "create investigation, default release date": (
            "POST",
            "/api/v1/investigations",
            None,
            {
                "proposal": "EDGE-1",
                "instrument": OWN_BEAMLINE,
                "title": "t",
                "start": "9998-06-01T00:00:00Z",
            },
        ),
        "create investigation, early start": (
            "POST",
            "/api/v1/investigations",
            None,
            {
                "proposal": "EDGE-2",
                "instrument": OWN_BEAMLINE,
                "title": "t",
                "start": EARLY,
                "release_date": "2020-01-01T00:00:00Z",
            },
        ),
        "patch investigation release_date": (
            "PATCH",
            f"/api/v1/investigations/{own.id}",
            None,
            {"release_date": LATE},
        ),
        "create dataset": (
            "POST",
            f"/api/v1/investigations/{own.id}/datasets",
            None,
            {"name": "edge", "location": "/data/edge", "start": EARLY},
        ),
        "close dataset": ("POST", f"/api/v1/datasets/{fresh}/close", None, {"end": LATE}),
        "parcel step time": (
            "POST",
            f"/api/v1/tracking/parcels/{SEEDS.values['parcel_id'][0]}/steps",
            None,
            {"status": "CANCELLED", "time": EARLY},
        ),
        "register files": (
            "POST",
            f"/api/v1/datasets/{fresh}/files",
            None,
            {"files": [{"path": "/data/edge/f.h5", "size": 1, "created_at": EARLY}]},
        ),
    }[label]


EXTREME_CASES = [
    "investigation as_of",
    "sample as_of",
    "dataset as_of",
    "investigations start_from",
    "datasets start_to",
    "create investigation, default release date",
    "create investigation, early start",
    "patch investigation release_date",
    "create dataset",
    "close dataset",
    "register files",
    "parcel step time",
]


@pytest.mark.parametrize("label", EXTREME_CASES)
def test_times_at_the_edge_of_the_range_are_not_server_errors(world: World, label: str) -> None:
    method, path, params, body = _extreme(world, label)
    client = TestClient(SWITCHBOARD.target, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}
    before = world.services.store.head_position()
    response = client.request(method, path, params=params, json=body, headers=headers)
    assert world.services.store.head_position() == before  # nothing half-written
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
