"""The sample-tracking projection: the tables an append keeps equal a rebuild from position 0.

Shipments, parcels, items and steps are written through the portal services (so the store
holds what the service writes): shipments changed, parcels declared, amended, refused and
re-declared, cancelled, lost and found, returned and destroyed. A rebuild at batch sizes 1,
3 and 1000 must give exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from catalogue.domain import investigations as inv
from catalogue.domain import tracking as tr
from catalogue.domain.access import OPERATOR, Principal, PrincipalKind
from catalogue.domain.instruments import RegisterInstrument
from catalogue.portal import identity, instruments, tracking
from catalogue.portal import investigations as investigations_portal
from catalogue.portal.execution import Caller
from catalogue.projections import Mode
from catalogue.readmodels import tracking as queries
from catalogue.runner import rebuild, register_checkpoints
from catalogue.services import Services, build_services
from catalogue.settings import Settings
from tests.sample_domain import table_rows

INSTRUMENT = "ID23-1"
START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)


def admin() -> Caller:
    """The operator, now (a caller carries the time of its command)."""
    return Caller(OPERATOR, source="test")


def paula() -> Caller:
    """The principal investigator, now."""
    return Caller(Principal(PrincipalKind.USER, username="paula"), source="test")


ST = tr.ParcelStatus
MOVED_START = START + timedelta(days=1)
ADDRESS = tr.Address(name="Paula", street=("1 rue de la Chimie",), city="Grenoble", country="FR")


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build_services(Settings(database_url=database_url, data_dir=tmp_path))
    register_checkpoints(built.store, built.projections)
    yield built
    built.close()


def sample_item(name: str, parent: str | None = None, *hazards: str) -> tracking.ItemInput:
    spec = tr.ItemSpec(name=name, kind=tr.ItemKind.SAMPLE, dangerous_goods=hazards)
    return tracking.ItemInput(spec, parent, tracking.NewSample(name))


def puck(name: str) -> tracking.ItemInput:
    spec = tr.ItemSpec(name=name, kind=tr.ItemKind.CONTAINER, container_type=tr.ContainerType.PUCK)
    return tracking.ItemInput(spec)


def run_workload(services: Services) -> dict[str, UUID]:
    """A shipment of four parcels through their different lives."""
    store = services.store
    identity.add_user(store, admin(), "paula", "Paula", "paula@example.org", admin=False)
    instruments.run_instrument_command(store, admin(), INSTRUMENT, RegisterInstrument(INSTRUMENT))
    investigation = investigations_portal.create_investigation(
        store,
        admin(),
        timedelta(days=3650),
        proposal="MX-2345",
        instrument=INSTRUMENT,
        title="Lysozyme",
        start=START,
        end=START + timedelta(days=2),
    )
    investigations_portal.add_participant(
        store, admin(), investigation, "paula", inv.Role.PRINCIPAL_INVESTIGATOR
    )
    shipment = tracking.create_shipment(
        store,
        paula(),
        investigation,
        tr.CreateShipment(investigation, "", "beamtime", ADDRESS, return_address=ADDRESS),
    )
    tracking.update_shipment(
        store, paula(), shipment, tr.UpdateShipment(courier_company="DHL", comment="fragile"), None
    )

    def parcel(name: str, after: tr.AfterExperiment = tr.AfterExperiment.RETURN) -> UUID:
        return tracking.create_parcel(store, paula(), shipment, name, after, "")

    def move(who: Callable[[], Caller], parcel_id: UUID, to: ST, **fields: Any) -> None:
        tracking.move_parcel(store, who(), parcel_id, tracking.Step(to, **fields), None)

    def declare(parcel_id: UUID, prefix: str, *hazards: str) -> None:
        tracking.add_items(
            store,
            paula(),
            parcel_id,
            [
                puck("Puck"),
                sample_item(f"{prefix}-1", "Puck", *hazards),
                sample_item(f"{prefix}-2"),
            ],
            None,
        )
        move(paula, parcel_id, ST.SCHEDULED, session_id=investigation)

    returned = parcel("returned")
    declare(returned, "r")
    tracking.change_parcel(store, paula(), returned, tr.ChangeParcel(comment="two pucks"), None)
    move(paula, returned, ST.READY)
    move(paula, returned, ST.SENT, tracking_number="1Z999AA10123456784")
    move(admin, returned, ST.STORES, location="shelf B4")
    move(admin, returned, ST.BEAMLINE)
    move(admin, returned, ST.BACK_STORES)
    move(admin, returned, ST.BACK_USER, tracking_number="RET-1")

    refused = parcel("refused", tr.AfterExperiment.DESTROY)
    declare(refused, "d", "6.1", "8")
    move(paula, refused, ST.READY)
    move(admin, refused, ST.REFUSED, comment="quantities?")
    move(paula, refused, ST.SCHEDULED, session_id=investigation)
    item = tr.item_id_for(refused, "d-1")
    amended = tr.ItemSpec(
        name="d-1",
        kind=tr.ItemKind.SAMPLE,
        parent_id=tr.item_id_for(refused, "Puck"),
        sample_id=queries_sample(services, refused, "d-1"),
        dangerous_goods=("8",),
    )
    tracking.change_item(store, paula(), refused, item, amended, None)
    tracking.remove_item(store, paula(), refused, tr.item_id_for(refused, "d-2"), None)
    move(paula, refused, ST.READY)
    move(admin, refused, ST.APPROVED)
    move(paula, refused, ST.SENT, tracking_number="1Z999AA10123456785")
    move(admin, refused, ST.LOST)
    move(admin, refused, ST.STORES, comment="found behind the dewars")
    move(admin, refused, ST.BACK_STORES)
    move(admin, refused, ST.DESTROYED)

    cancelled = parcel("cancelled")
    declare(cancelled, "c")
    move(paula, cancelled, ST.CANCELLED)

    waiting = parcel("waiting")
    declare(waiting, "w", "2.2")
    move(paula, waiting, ST.READY)
    # The session moves a day later: the parcels scheduled for it follow.
    investigations_portal.change_investigation(
        store,
        admin(),
        investigation,
        inv.UpdateInvestigation(start=MOVED_START, end=MOVED_START + timedelta(days=2)),
    )
    return {
        "investigation": investigation,
        "returned": returned,
        "refused": refused,
        "cancelled": cancelled,
        "waiting": waiting,
    }


def queries_sample(services: Services, parcel_id: UUID, item_name: str) -> UUID:
    """The sample an item of a parcel holds, as the read model has it."""
    with services.store.engine.connect() as connection:
        found = queries.get_parcel(connection, parcel_id)
    assert found is not None
    (sample_id,) = [i["sample_id"] for i in found["items"] if i["name"] == item_name]
    assert isinstance(sample_id, UUID)
    return sample_id


def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the inline projections own."""
    return {
        table.name: table_rows(services.store, table)
        for projection in services.projections
        if projection.mode is Mode.INLINE
        for table in projection.tables
    }


def test_the_workload_leaves_the_parcels_as_written(services: Services) -> None:
    ids = run_workload(services)
    with services.store.engine.connect() as connection:
        parcels = {
            name: queries.get_parcel(connection, i)
            for name, i in ids.items()
            if name != "investigation"
        }
    status = {name: p["status"] for name, p in parcels.items() if p is not None}
    assert {p["session_start"] for p in parcels.values() if p is not None} == {MOVED_START}
    assert status == {
        "returned": "BACK_USER",
        "refused": "DESTROYED",
        "cancelled": "CANCELLED",
        "waiting": "READY",
    }
    refused = parcels["refused"]
    assert refused is not None
    assert refused["dangerous_goods"] == ["8"]
    assert refused["item_count"] == 2
    assert [s["status"] for s in refused["steps"]][-4:] == [
        "LOST",
        "STORES",
        "BACK_STORES",
        "DESTROYED",
    ]
    assert refused["steps"][-3]["comment"] == "found behind the dewars"
    returned = parcels["returned"]
    assert returned is not None
    assert returned["comment"] == "two pucks"
    assert (returned["tracking_number"], returned["return_tracking_number"]) == (
        "1Z999AA10123456784",
        "RET-1",
    )


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_rebuild_equals_incremental(services: Services, batch_size: int) -> None:
    run_workload(services)
    before = snapshot(services)
    assert before["parcel_steps"]
    assert before["parcel_items"]
    for projection in services.projections:
        if projection.mode is Mode.INLINE:
            rebuild(services.store, projection, batch_size=batch_size, restart=True)
    assert snapshot(services) == before


def test_worklist_pages_carry_the_listing_total_on_every_page(services: Services) -> None:
    run_workload(services)
    every_status = tuple(tr.ParcelStatus)
    seen, cursor, pages = [], None, 0
    with services.store.engine.connect() as connection:
        while True:
            page = queries.worklist(connection, every_status, None, cursor, 1)
            pages += 1
            assert (page.total, page.total_exact) == (4, True)
            assert "_total" not in page.items[0]
            seen.append(page.items[0]["id"])
            cursor = page.next_cursor
            if cursor is None:
                break
        found = [queries.get_parcel(connection, p) for p in seen]
        starts = [parcel["session_start"] for parcel in found if parcel is not None]
        waiting = queries.worklist(connection, (ST.READY,), INSTRUMENT, None, 50)
        nowhere = queries.worklist(connection, every_status, "BM29", None, 50)
    assert pages == len(set(seen)) == 4
    assert starts == sorted(starts)
    assert (len(waiting.items), waiting.total) == (1, 1)
    assert (nowhere.items, nowhere.total, nowhere.next_cursor) == ([], 0, None)
