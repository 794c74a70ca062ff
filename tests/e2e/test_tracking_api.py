"""Sample tracking over HTTP (`/api/v1/tracking`): a parcel's whole life cycle by its actors,
the worklists and whereabouts views, labels, notifications, and every kind of bad input
refused with problem JSON and nothing written.

The app runs with its catch-up runners and mail sender (Maildir under the test's data
directory), on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from catalogue.domain.access import OPERATOR
from catalogue.domain.samples import sample_id_for
from catalogue.portal import identity, instruments
from catalogue.portal.execution import Caller
from tests.e2e.portal import (
    INSTRUMENT,
    INVESTIGATIONS,
    Portal,
    add_instrument,
    add_user,
    assert_problem,
    bearer,
    iso,
    make_portal,
)
from tests.unit.test_labels import decoded, read

TRACKING = "/api/v1/tracking"
CLI = Caller(OPERATOR, source="cli")
#: Sessions start after today, so that parcels can still be scheduled for them.
SESSION_START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)

ADDRESS = {
    "name": "Dr Paula Pi",
    "organisation": "University of Grenoble",
    "street": ["1 rue de la Chimie"],
    "postcode": "38000",
    "city": "Grenoble",
    "country": "FR",
    "email": "paula@example.org",
    "phone": "+33 4 76 00 00 00",
}


@dataclass
class Team:
    """The portal with an investigation and the people who handle its parcels."""

    portal: Portal
    investigation_id: str
    tokens: dict[str, str]
    data_dir: Path

    def as_(self, who: str) -> TestClient:
        """A client carrying `who`'s token (`alice` is the admin)."""
        client = TestClient(self.portal.client.app, raise_server_exceptions=False)
        client.headers.update(bearer(self.tokens[who]))
        return client

    def shipment(self, name: str = "beamtime", **fields: Any) -> dict[str, Any]:
        body = {
            "investigation_id": self.investigation_id,
            "name": name,
            "sender": ADDRESS,
            "return_address": ADDRESS,
            "courier_company": "DHL",
            "courier_account": "123456",
            **fields,
        }
        response = self.as_("paula").post(f"{TRACKING}/shipments", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def parcel(self, shipment_id: str, name: str = "dewar-1", **fields: Any) -> dict[str, Any]:
        response = self.as_("paula").post(
            f"{TRACKING}/shipments/{shipment_id}/parcels", json={"name": name, **fields}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def items(self, parcel_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.as_("paula").post(
            f"{TRACKING}/parcels/{parcel_id}/items", json={"items": items}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def step(self, who: str, parcel_id: str, status: str, **fields: Any) -> dict[str, Any]:
        response = self.as_(who).post(
            f"{TRACKING}/parcels/{parcel_id}/steps", json={"status": status, **fields}
        )
        assert response.status_code == 200, response.text
        body = dict(response.json())
        assert response.headers["ETag"] == f'"{body["version"]}"'
        return body

    def get_parcel(self, parcel_id: str, who: str = "paula") -> dict[str, Any]:
        response = self.as_(who).get(f"{TRACKING}/parcels/{parcel_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def ready_parcel(self, name: str, dangerous: bool) -> dict[str, Any]:
        """A scheduled parcel with a puck of two samples, declared ready."""
        shipment = self.shipment(f"shipment-{name}")
        parcel = self.parcel(shipment["id"], name)
        self.items(parcel["id"], puck_with_samples(name, dangerous))
        self.step("paula", parcel["id"], "SCHEDULED", session_id=self.investigation_id)
        return self.step("paula", parcel["id"], "READY")


def puck_with_samples(prefix: str, dangerous: bool = False) -> list[dict[str, Any]]:
    """A dewar holding a puck holding two new samples (one toxic, if `dangerous`)."""
    return [
        {"name": "Dewar", "kind": "container", "container_type": "dewar"},
        {"name": "Puck A", "kind": "container", "container_type": "puck", "parent": "Dewar"},
        {
            "name": f"{prefix}-lysozyme",
            "kind": "sample",
            "parent": "Puck A",
            "sample": {"name": f"{prefix}-lysozyme", "description": "HEWL crystals"},
            "storage": ["liquid_nitrogen"],
        },
        {
            "name": f"{prefix}-thaumatin",
            "kind": "sample",
            "parent": "Puck A",
            "sample": {"name": f"{prefix}-thaumatin"},
            "dangerous_goods": ["6.1"] if dangerous else [],
            "storage": ["liquid_nitrogen", "dark"],
        },
    ]


@pytest.fixture
def team(database_url: str, tmp_path: Path) -> Iterator[Team]:
    """Paula (principal investigator), Colin (collaborator), Lena (local contact), Sam (safety
    group), Tom (stores), Vera (nobody's), Ines (scientist of another beamline), Ivan
    (scientist of ID23-1), Alice (admin); one investigation of proposal MX-2345 on ID23-1,
    starting in ten days."""
    for portal in make_portal(database_url, tmp_path):
        store = portal.store
        tokens = {"alice": portal.admin.token}
        for name in ("paula", "colin", "lena", "sam", "tom", "vera", "ines", "ivan"):
            tokens[name] = add_user(store, name).token
        add_instrument(store, "BM29", ["ines"])
        instruments.add_scientist(store, CLI, INSTRUMENT, "ivan")
        for group, member in (("safety", "sam"), ("stores", "tom")):
            identity.ensure_group(store, CLI, group, f"the {group}")
            identity.add_member(store, CLI, group, member)
        investigation = portal.create_investigation(
            "MX-2345", start=iso(SESSION_START), end=iso(SESSION_START + timedelta(days=2))
        )
        for username, role in (
            ("paula", "principal_investigator"),
            ("colin", "collaborator"),
            ("lena", "local_contact"),
        ):
            response = portal.client.put(
                f"{INVESTIGATIONS}/{investigation['id']}/participants/{username}",
                json={"role": role},
            )
            assert response.status_code == 200, response.text
        yield Team(portal, investigation["id"], tokens, tmp_path)


def statuses(parcel: dict[str, Any]) -> list[str]:
    return [step["status"] for step in parcel["steps"]]


def wait_for(predicate: Any, what: str, seconds: float = 20.0) -> Any:
    """Poll until `predicate()` returns something true (the catch-up runners are threads)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- the life cycle ---------------------------------------------------------------------------


def test_a_dangerous_parcel_goes_through_its_whole_life_cycle(team: Team) -> None:
    shipment = team.shipment()
    parcel = team.parcel(shipment["id"], comment="two pucks")
    assert parcel["status"] == "CREATED"
    assert parcel["location"] == "with the user"
    parcel_id = parcel["id"]
    declared = team.items(parcel_id, puck_with_samples("p1", dangerous=True))
    assert declared["item_count"] == 4
    assert declared["dangerous_goods"] == ["6.1"]
    assert declared["storage"] == ["dark", "liquid_nitrogen"]

    team.step("paula", parcel_id, "SCHEDULED", session_id=team.investigation_id)
    ready = team.step("paula", parcel_id, "READY")
    assert ready["status"] == "READY"  # dangerous goods: no automatic approval

    # The safety group sees it in its worklist; the participant may not approve it.
    worklist = team.as_("sam").get(f"{TRACKING}/worklists/safety").json()
    assert [p["id"] for p in worklist["items"]] == [parcel_id]
    refused = team.as_("paula").post(
        f"{TRACKING}/parcels/{parcel_id}/steps", json={"status": "APPROVED"}
    )
    assert "safety" in assert_problem(refused, 403, "forbidden")["detail"]

    team.step("sam", parcel_id, "APPROVED", comment="6.1 in small quantities: fine")
    team.step("paula", parcel_id, "SENT", tracking_number="1Z999AA10123456784")
    expected = team.as_("tom").get(f"{TRACKING}/worklists/stores", params={"section": "expected"})
    assert [p["id"] for p in expected.json()["items"]] == [parcel_id]
    team.step("tom", parcel_id, "STORES", location="Stores, shelf B4")
    team.step("lena", parcel_id, "BEAMLINE")
    team.step("tom", parcel_id, "BACK_STORES")
    done = team.step("tom", parcel_id, "BACK_USER", tracking_number="RET-0042")

    assert statuses(done) == [
        "CREATED",
        "SCHEDULED",
        "READY",
        "APPROVED",
        "SENT",
        "STORES",
        "BEAMLINE",
        "BACK_STORES",
        "BACK_USER",
    ]
    by_step = {step["status"]: step for step in done["steps"]}
    assert by_step["APPROVED"]["actor"] == "user:sam"
    assert by_step["APPROVED"]["role"] == "safety"
    assert by_step["APPROVED"]["comment"] == "6.1 in small quantities: fine"
    assert by_step["STORES"]["location"] == "Stores, shelf B4"
    assert by_step["BEAMLINE"]["location"] == INSTRUMENT
    assert by_step["BEAMLINE"]["role"] == "local_contact"
    assert by_step["SENT"]["tracking_number"] == "1Z999AA10123456784"
    assert [s["version"] for s in done["steps"]] == sorted(s["version"] for s in done["steps"])
    assert done["tracking_number"] == "1Z999AA10123456784"
    assert done["return_tracking_number"] == "RET-0042"
    assert done["next_steps"] == []
    assert done["location"] == "in transit to the user"


def test_a_parcel_without_dangerous_goods_is_approved_automatically(team: Team) -> None:
    ready = team.ready_parcel("plain", dangerous=False)
    assert ready["status"] == "APPROVED"
    automatic = ready["steps"][-1]
    assert (automatic["status"], automatic["previous"], automatic["role"]) == (
        "APPROVED",
        "READY",
        "system",
    )
    safety = team.as_("sam").get(f"{TRACKING}/worklists/safety").json()
    assert safety["items"] == []


def test_items_register_new_samples_and_link_existing_ones(team: Team) -> None:
    existing = team.portal.create_sample(team.investigation_id, "known-crystal")
    parcel = team.parcel(team.shipment()["id"])
    declared = team.items(
        parcel["id"],
        [
            {"name": "known", "kind": "sample", "sample": {"name": "known-crystal"}},
            {"name": "new", "kind": "sample", "sample": {"name": "fresh-crystal"}},
            {"name": "by id", "kind": "sample", "sample_id": existing["id"]},
        ],
    )
    by_name = {item["name"]: item for item in declared["items"]}
    assert by_name["known"]["sample_id"] == existing["id"]
    assert by_name["by id"]["sample_id"] == existing["id"]
    fresh = str(sample_id_for(UUID(team.investigation_id), "fresh-crystal"))
    assert by_name["new"]["sample_id"] == fresh
    assert by_name["new"]["sample_name"] == "fresh-crystal"
    # The new sample is in the catalogue like any other.
    sample = team.portal.client.get(f"/api/v1/samples/{fresh}")
    assert sample.status_code == 200, sample.text
    assert sample.json()["name"] == "fresh-crystal"


def test_where_is_a_sample_follows_its_parcel(team: Team) -> None:
    ready = team.ready_parcel("w", dangerous=False)
    sample = next(item for item in ready["items"] if item["name"] == "w-lysozyme")
    path = f"{TRACKING}/samples/{sample['sample_id']}"
    where = team.as_("paula").get(path).json()
    assert where["current"]["parcel_id"] == ready["id"]
    assert where["current"]["containers"] == ["Dewar", "Puck A"]
    assert where["current"]["status"] == "APPROVED"
    assert where["current"]["location"] == "with the user"
    team.step("paula", ready["id"], "SENT", tracking_number="TRACK-1")
    team.step("tom", ready["id"], "STORES", location="cold room 2")
    # Stores staff may ask too: they handle the parcel.
    where = team.as_("tom").get(path).json()
    assert (where["current"]["status"], where["current"]["location"]) == ("STORES", "cold room 2")
    # The investigation's view: every sample and where it is; a sample never shipped is null.
    team.portal.create_sample(team.investigation_id, "stay-at-home")
    listing = team.as_("colin").get(
        f"{TRACKING}/samples", params={"investigation_id": team.investigation_id}
    )
    assert listing.status_code == 200, listing.text
    current = {s["name"]: s["current"] for s in listing.json()["items"]}
    assert current["stay-at-home"] is None
    assert current["w-lysozyme"]["status"] == "STORES"
    assert current["w-thaumatin"]["parcel_id"] == ready["id"]
    # Nobody else learns the sample exists.
    assert_problem(team.as_("vera").get(path), 404, "not-found")


def test_stores_worklist_sections_hold_the_right_parcels(team: Team) -> None:
    first = team.ready_parcel("a", dangerous=False)
    second = team.ready_parcel("b", dangerous=False)
    team.step("paula", second["id"], "SENT", tracking_number="TRACK-2")
    team.step("tom", second["id"], "STORES")
    team.step("tom", second["id"], "BEAMLINE")
    stores = team.as_("tom")

    def section(name: str, **params: Any) -> list[str]:
        response = stores.get(f"{TRACKING}/worklists/stores", params={"section": name, **params})
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert section("expected") == [first["id"]]
    assert section("in_stores") == [second["id"]]
    assert section("to_return") == []
    assert section("in_stores", instrument="BM29") == []
    team.step("lena", second["id"], "BACK_STORES")
    assert section("in_stores") == []
    assert section("to_return") == [second["id"]]
    # Worklists are the staff's: a participant or a beamline scientist is refused.
    for who in ("paula", "ines"):
        assert_problem(team.as_(who).get(f"{TRACKING}/worklists/stores"), 403, "forbidden")
        assert_problem(team.as_(who).get(f"{TRACKING}/worklists/safety"), 403, "forbidden")


def test_the_investigations_parcels_list_their_history(team: Team) -> None:
    ready = team.ready_parcel("h", dangerous=True)
    team.step("sam", ready["id"], "REFUSED", comment="declare the quantity of 6.1")
    listing = team.as_("colin").get(
        f"{TRACKING}/parcels", params={"investigation_id": team.investigation_id}
    )
    assert listing.status_code == 200, listing.text
    (parcel,) = listing.json()["items"]
    assert statuses(parcel) == ["CREATED", "SCHEDULED", "READY", "REFUSED"]
    assert parcel["steps"][-1]["comment"] == "declare the quantity of 6.1"
    filtered = team.as_("colin").get(
        f"{TRACKING}/parcels",
        params={"investigation_id": team.investigation_id, "status": "SENT"},
    )
    assert filtered.json()["items"] == []
    # A refused parcel goes back to be amended: scheduled again, its content can change.
    team.step("paula", ready["id"], "SCHEDULED", session_id=team.investigation_id)
    thaumatin = next(i for i in ready["items"] if i["name"] == "h-thaumatin")
    changed = team.as_("paula").put(
        f"{TRACKING}/parcels/{ready['id']}/items/{thaumatin['id']}",
        json={
            "kind": "sample",
            "sample_id": thaumatin["sample_id"],
            "parent_id": thaumatin["parent_id"],
            "dangerous_goods": [],
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["dangerous_goods"] == []
    assert team.step("paula", ready["id"], "READY")["status"] == "APPROVED"


def test_a_parcel_can_be_cancelled_before_it_is_sent_and_not_after(team: Team) -> None:
    ready = team.ready_parcel("c", dangerous=False)
    team.step("paula", ready["id"], "SENT", tracking_number="TRACK-3")
    late = team.as_("paula").post(
        f"{TRACKING}/parcels/{ready['id']}/steps", json={"status": "CANCELLED"}
    )
    body = assert_problem(late, 409, field="status")
    assert "can move to STORES" in body["detail"]
    assert "LOST" in body["detail"]
    other = team.ready_parcel("d", dangerous=False)
    assert team.step("paula", other["id"], "CANCELLED")["status"] == "CANCELLED"
    assert team.get_parcel(other["id"])["location"] is None


# -- bad input: a clear error, nothing written --------------------------------------------------


def test_a_step_the_parcel_cannot_take_is_refused_and_writes_nothing(team: Team) -> None:
    parcel = team.parcel(team.shipment()["id"])
    before = team.get_parcel(parcel["id"])
    response = team.as_("paula").post(
        f"{TRACKING}/parcels/{parcel['id']}/steps", json={"status": "SENT"}
    )
    body = assert_problem(response, 409, field="status")
    assert "a CREATED parcel can move to SCHEDULED (by participant)" in body["detail"]
    assert team.get_parcel(parcel["id"]) == before


#: Malformed steps and the field each answer must name (one parcel serves them all: each
#: refusal must leave it as it was).
MALFORMED_STEPS: list[tuple[dict[str, Any], str]] = [
    ({"status": "FLYING"}, "status"),
    ({"status": "SCHEDULED"}, "session_id"),
    ({"status": "SCHEDULED", "session_id": "not-a-uuid"}, "session_id"),
    ({"status": "SCHEDULED", "session_id": "00000000-0000-4000-8000-000000000009"}, "session_id"),
    ({"status": "SCHEDULED", "time": "2026-01-01T00:00:00"}, "time"),
    ({"status": "SCHEDULED", "unknown": 1}, "unknown"),
    ({"status": "CANCELLED", "tracking_number": "1Z999"}, "tracking_number"),
    ({"status": "CANCELLED", "location": "x" * 201}, "location"),
]


def test_malformed_steps_are_refused_with_the_field_at_fault(team: Team) -> None:
    parcel = team.parcel(team.shipment()["id"])
    for step, field in MALFORMED_STEPS:
        response = team.as_("paula").post(f"{TRACKING}/parcels/{parcel['id']}/steps", json=step)
        assert_problem(response, 422, field=field)
        assert team.get_parcel(parcel["id"]) == parcel, step


def test_a_bad_item_refuses_the_whole_request_and_registers_no_sample(team: Team) -> None:
    parcel = team.parcel(team.shipment()["id"])
    items = [
        {"name": "good", "kind": "sample", "sample": {"name": "would-be-new"}},
        {"name": "bad", "kind": "other", "dangerous_goods": ["6.1", "99"]},
    ]
    response = team.as_("paula").post(
        f"{TRACKING}/parcels/{parcel['id']}/items", json={"items": items}
    )
    body = assert_problem(response, 422, field="items.1.dangerous_goods.1")
    assert "'99' is not a UN hazard class" in body["detail"]
    assert team.get_parcel(parcel["id"])["items"] == []
    samples = team.portal.client.get(f"{INVESTIGATIONS}/{team.investigation_id}/samples")
    assert samples.json()["items"] == []


MALFORMED_ITEMS: list[tuple[dict[str, Any], str]] = [
    ({"name": "s", "kind": "sample"}, "items.0.sample_id"),
    ({"name": "c", "kind": "container"}, "items.0.container_type"),
    ({"name": "t", "kind": "tool", "container_type": "puck"}, "items.0.container_type"),
    ({"name": "o", "kind": "other", "parent": "nowhere"}, "items.0.parent_id"),
    ({"name": "o", "kind": "other", "storage": ["warm"]}, "body.items.0.storage"),
    ({"name": "", "kind": "other"}, "body.items.0.name"),
    ({"name": "o", "kind": "other", "dangerous_goods": ["explosive"]}, "items.0.dangerous_goods.0"),
]


def test_malformed_items_are_refused_with_the_field_at_fault(team: Team) -> None:
    parcel = team.parcel(team.shipment()["id"])
    for item, field in MALFORMED_ITEMS:
        response = team.as_("paula").post(
            f"{TRACKING}/parcels/{parcel['id']}/items", json={"items": [item]}
        )
        assert_problem(response, 422, field=field)
        assert team.get_parcel(parcel["id"]) == parcel, item


def test_content_is_frozen_once_the_parcel_is_ready(team: Team) -> None:
    ready = team.ready_parcel("f", dangerous=False)
    response = team.as_("paula").post(
        f"{TRACKING}/parcels/{ready['id']}/items",
        json={"items": [{"name": "late", "kind": "tool"}]},
    )
    assert "frozen" in assert_problem(response, 409)["detail"]
    item = ready["items"][0]
    removed = team.as_("paula").delete(f"{TRACKING}/parcels/{ready['id']}/items/{item['id']}")
    assert_problem(removed, 409)
    assert team.get_parcel(ready["id"])["item_count"] == 4


BAD_ADDRESSES: list[tuple[dict[str, Any], str]] = [
    ({"country": "France"}, "sender.country"),
    ({"country": "fr"}, "sender.country"),
    ({"street": []}, "sender.street"),
    ({"city": "Grenoble\nFrance"}, "sender.city"),
    ({"phone": "call me"}, "sender.phone"),
    ({"email": "not an address"}, "sender.email"),
]


def test_bad_addresses_are_refused(team: Team) -> None:
    for change, field in BAD_ADDRESSES:
        body = {
            "investigation_id": team.investigation_id,
            "name": "bad address",
            "sender": {**ADDRESS, **change},
        }
        response = team.as_("paula").post(f"{TRACKING}/shipments", json=body)
        assert_problem(response, 422, field=field)
    listing = team.as_("paula").get(
        f"{TRACKING}/shipments", params={"investigation_id": team.investigation_id}
    )
    assert listing.json()["items"] == []


def test_a_parcel_to_return_needs_a_return_address(team: Team) -> None:
    shipment = team.shipment("no return", return_address=None)
    response = team.as_("paula").post(
        f"{TRACKING}/shipments/{shipment['id']}/parcels", json={"name": "p"}
    )
    assert_problem(response, 422, field="after_experiment")
    destroyed = team.parcel(shipment["id"], "p", after_experiment="destroy")
    assert destroyed["after_experiment"] == "destroy"


def test_stale_if_match_is_refused_and_a_fresh_one_accepted(team: Team) -> None:
    parcel = team.parcel(team.shipment()["id"])
    client = team.as_("paula")
    path = f"{TRACKING}/parcels/{parcel['id']}"
    etag = client.get(path).headers["ETag"]
    assert etag == f'"{parcel["version"]}"'
    assert client.patch(path, json={"comment": "fragile"}, headers={"If-Match": etag}).is_success
    stale = client.patch(path, json={"comment": "very fragile"}, headers={"If-Match": etag})
    assert_problem(stale, 412, "precondition-failed")
    assert client.get(path).json()["comment"] == "fragile"
    step = client.post(
        f"{path}/steps",
        json={"status": "SCHEDULED", "session_id": team.investigation_id},
        headers={"If-Match": etag},
    )
    assert_problem(step, 412, "precondition-failed")


def test_shipment_names_are_unique_per_investigation(team: Team) -> None:
    team.shipment("once")
    body = {"investigation_id": team.investigation_id, "name": "once", "sender": ADDRESS}
    response = team.as_("paula").post(f"{TRACKING}/shipments", json=body)
    assert_problem(response, 409, field="name")


# -- access ---------------------------------------------------------------------------------


def test_who_may_see_and_do_what(team: Team) -> None:
    shipment = team.shipment()
    parcel = team.parcel(shipment["id"])
    path = f"{TRACKING}/parcels/{parcel['id']}"
    # Outsiders never learn the parcel exists; a beamline scientist of another beamline
    # neither; anonymous callers see no parcel, even of a released investigation.
    for who in ("vera", "ines"):
        assert_problem(team.as_(who).get(path), 404, "not-found")
        assert_problem(team.as_(who).get(f"{path}/label.pdf"), 404, "not-found")
    assert_problem(team.portal.anonymous.get(path), 404, "not-found")
    # A collaborator reads but does not prepare.
    assert team.as_("colin").get(path).status_code == 200
    response = team.as_("colin").post(
        f"{path}/items", json={"items": [{"name": "x", "kind": "tool"}]}
    )
    assert_problem(response, 403, "forbidden")
    create = team.as_("colin").post(
        f"{TRACKING}/shipments",
        json={"investigation_id": team.investigation_id, "name": "mine", "sender": ADDRESS},
    )
    assert_problem(create, 403, "forbidden")
    # Stores staff act on any parcel; what they may do next is shown.
    seen_by_stores = team.get_parcel(parcel["id"], "tom")
    assert {s["status"]: s["allowed"] for s in seen_by_stores["next_steps"]} == {
        "SCHEDULED": False,
        "CANCELLED": False,
    }
    seen_by_owner = team.get_parcel(parcel["id"], "paula")
    assert all(s["allowed"] for s in seen_by_owner["next_steps"])


def test_the_outbox_is_for_administrators(team: Team) -> None:
    assert_problem(team.as_("paula").get(f"{TRACKING}/notifications"), 403, "forbidden")
    assert_problem(team.as_("sam").get(f"{TRACKING}/notifications"), 403, "forbidden")
    assert team.as_("alice").get(f"{TRACKING}/notifications").status_code == 200


# -- labels and mail ----------------------------------------------------------------------------


def test_the_label_is_a_pdf_whose_qr_code_opens_the_parcel(team: Team) -> None:
    ready = team.ready_parcel("l", dangerous=True)
    response = team.as_("paula").get(f"{TRACKING}/parcels/{ready['id']}/label.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    printed = read(response.content)
    base_url = team.portal.services.settings.base_url
    assert decoded(printed) == [f"{base_url}/api/v1/tracking/parcels/{ready['id']}"]
    assert "MX-2345" in printed.text
    assert "6.1" in printed.text
    assert "Dr Paula Pi" in printed.text


def test_dangerous_goods_are_mailed_to_the_safety_group(team: Team) -> None:
    ready = team.ready_parcel("m", dangerous=True)
    admin = team.as_("alice")

    def sent() -> list[dict[str, Any]]:
        response = admin.get(f"{TRACKING}/notifications", params={"parcel_id": ready["id"]})
        rows = response.json()["items"]
        return rows if rows and all(row["status"] == "sent" for row in rows) else []

    rows = wait_for(sent, "the safety notice to be sent")
    assert [(row["recipient"], row["kind"]) for row in rows] == [
        ("sam@example.org", "parcel.READY")
    ]
    mailbox = team.data_dir / "mail" / "new"
    (path,) = mailbox.iterdir()
    message = email.message_from_bytes(path.read_bytes())
    assert message["To"] == "sam@example.org"
    assert message["Message-ID"] == rows[0]["message_id"]
    assert "MX-2345" in message["Subject"]
    assert f"/api/v1/tracking/parcels/{ready['id']}" in message.get_payload(decode=True).decode()


def test_contact_details_are_for_who_prepares_checks_or_ships(team: Team) -> None:
    shipment = team.shipment()
    parcel = team.parcel(shipment["id"])
    ready = team.ready_parcel("cd", dangerous=False)
    for who in ("paula", "sam", "tom", "alice"):
        seen = team.as_(who).get(f"{TRACKING}/shipments/{shipment['id']}").json()
        assert seen["sender"]["phone"] == ADDRESS["phone"], who
        assert seen["courier_account"] == "123456", who
        assert team.get_parcel(parcel["id"], who)["sender"]["name"] == "Dr Paula Pi", who
    # The beamline's scientist takes beamline steps and the collaborator reads: neither
    # needs the addresses, nor the courier account that could be billed.
    for who in ("ivan", "colin"):
        seen = team.as_(who).get(f"{TRACKING}/shipments/{shipment['id']}").json()
        assert (seen["sender"], seen["return_address"], seen["courier_account"]) == (
            None,
            None,
            None,
        ), who
        listed = team.as_(who).get(
            f"{TRACKING}/shipments", params={"investigation_id": team.investigation_id}
        )
        assert {s["sender"] is None for s in listed.json()["items"]} == {True}, who
        assert team.get_parcel(parcel["id"], who)["sender"] is None, who
        label = team.as_(who).get(f"{TRACKING}/parcels/{ready['id']}/label.pdf")
        assert_problem(label, 403, "forbidden")


def test_parcels_scheduled_for_a_session_are_listed_for_its_staff_only(team: Team) -> None:
    """A parcel of the proposal's other investigation, scheduled for this session, is the
    session's local contact's business, not its participants'."""
    other = team.portal.create_investigation(
        "MX-2345",
        visit_id="mx2345-second-visit",
        start=iso(SESSION_START + timedelta(days=3)),
        end=iso(SESSION_START + timedelta(days=4)),
    )
    response = team.portal.client.put(
        f"{INVESTIGATIONS}/{other['id']}/participants/vera",
        json={"role": "principal_investigator"},
    )
    assert response.status_code == 200, response.text
    shipment = team.as_("vera").post(
        f"{TRACKING}/shipments",
        json={"investigation_id": other["id"], "name": "theirs", "sender": ADDRESS},
    )
    assert shipment.status_code == 201, shipment.text
    parcel = team.as_("vera").post(
        f"{TRACKING}/shipments/{shipment.json()['id']}/parcels",
        json={"name": "p", "after_experiment": "destroy"},
    )
    parcel_id = parcel.json()["id"]
    scheduled = team.as_("vera").post(
        f"{TRACKING}/parcels/{parcel_id}/steps",
        json={"status": "SCHEDULED", "session_id": team.investigation_id},
    )
    assert scheduled.status_code == 200, scheduled.text

    def listed(who: str) -> list[str]:
        response = team.as_(who).get(
            f"{TRACKING}/parcels", params={"investigation_id": team.investigation_id}
        )
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    for who in ("lena", "tom", "alice"):
        assert listed(who) == [parcel_id], who
        assert team.get_parcel(parcel_id, who)["id"] == parcel_id
    for who in ("paula", "colin"):
        assert listed(who) == [], who
        assert_problem(team.as_(who).get(f"{TRACKING}/parcels/{parcel_id}"), 404, "not-found")


def test_a_new_sample_refused_names_its_item(team: Team) -> None:
    parcel = team.parcel(team.shipment()["id"])
    items = [
        {"name": "fine", "kind": "tool"},
        {"name": "bad", "kind": "sample", "sample": {"name": "s", "hazards": ["H999"]}},
    ]
    response = team.as_("paula").post(
        f"{TRACKING}/parcels/{parcel['id']}/items", json={"items": items}
    )
    body = assert_problem(response, 422, field="items.1.sample.hazards.0")
    assert body["detail"].startswith("items[1]: ")
    twice = [{"name": "same", "kind": "tool"}, {"name": "same", "kind": "tool"}]
    response = team.as_("paula").post(
        f"{TRACKING}/parcels/{parcel['id']}/items", json={"items": twice}
    )
    assert_problem(response, 409, field="items.1.name")
    assert team.get_parcel(parcel["id"])["items"] == []


def test_a_null_in_a_shipment_patch_is_refused_not_ignored(team: Team) -> None:
    shipment = team.shipment()
    path = f"{TRACKING}/shipments/{shipment['id']}"
    for field in ("sender", "return_address", "courier_account", "comment"):
        assert_problem(team.as_("paula").patch(path, json={field: None}), 422, field=field)
        assert team.as_("paula").get(path).json() == shipment, field


def test_a_reader_who_may_not_move_a_parcel_learns_nothing_from_session_ids(team: Team) -> None:
    parcel = team.parcel(team.shipment()["id"])
    path = f"{TRACKING}/parcels/{parcel['id']}/steps"
    for session_id in (team.investigation_id, "00000000-0000-4000-8000-000000000009"):
        step = {"status": "SCHEDULED", "session_id": session_id}
        assert_problem(team.as_("colin").post(path, json=step), 403, "forbidden")
    other = team.portal.create_investigation(
        "HC-7777", start=iso(SESSION_START), end=iso(SESSION_START + timedelta(days=1))
    )
    refused = team.as_("paula").post(path, json={"status": "SCHEDULED", "session_id": other["id"]})
    detail = assert_problem(refused, 422, field="session_id")["detail"]
    assert "HC-7777" not in detail
    assert "not a session of proposal MX-2345" in detail


def test_a_sample_in_two_parcels_is_where_the_facility_holds_it(team: Team) -> None:
    first = team.ready_parcel("two", dangerous=False)
    sample_id = next(i["sample_id"] for i in first["items"] if i["name"] == "two-lysozyme")
    team.step("paula", first["id"], "SENT", tracking_number="TRACK-9")
    team.step("tom", first["id"], "STORES")
    # Meanwhile its owners prepare the next beamtime's parcel with the same sample.
    second = team.parcel(team.shipment("next")["id"], "next-dewar")
    team.items(second["id"], [{"name": "again", "kind": "sample", "sample_id": sample_id}])
    path = f"{TRACKING}/samples/{sample_id}"

    def current() -> tuple[str, str]:
        where = team.as_("paula").get(path).json()
        assert len(where["parcels"]) == 2
        return where["current"]["parcel_id"], where["current"]["status"]

    assert current() == (first["id"], "STORES")
    for who, status in (("lena", "BEAMLINE"), ("tom", "BACK_STORES")):
        team.step(who, first["id"], status)
        assert current() == (first["id"], status)
    team.step("tom", first["id"], "BACK_USER", tracking_number="RET-9")
    assert current() == (second["id"], "CREATED")


def test_anonymous_writes_are_told_to_sign_in(team: Team) -> None:
    parcel = team.ready_parcel("anon", dangerous=False)
    item_id = parcel["items"][0]["id"]
    path = f"{TRACKING}/parcels/{parcel['id']}"
    anonymous = team.portal.anonymous
    writes = [
        anonymous.post(
            f"{TRACKING}/shipments",
            json={"investigation_id": team.investigation_id, "name": "x", "sender": ADDRESS},
        ),
        anonymous.patch(f"{TRACKING}/shipments/{parcel['shipment_id']}", json={"comment": "x"}),
        anonymous.post(f"{TRACKING}/shipments/{parcel['shipment_id']}/parcels", json={"name": "x"}),
        anonymous.patch(path, json={"comment": "x"}),
        anonymous.post(f"{path}/items", json={"items": [{"name": "x", "kind": "tool"}]}),
        anonymous.put(f"{path}/items/{item_id}", json={"kind": "tool"}),
        anonymous.delete(f"{path}/items/{item_id}"),
        anonymous.post(f"{path}/steps", json={"status": "CANCELLED"}),
    ]
    for response in writes:
        assert_problem(response, 401, "unauthenticated")
    assert team.get_parcel(parcel["id"]) == parcel
