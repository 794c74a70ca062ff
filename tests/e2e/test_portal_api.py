"""The data-portal API as a client uses it: investigations, samples, datasets, paging, errors.

Each test runs on a SQLite file and on PostgreSQL (`database_url`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from catalogue.domain.instruments import RegisterInstrument
from catalogue.portal import identity, instruments
from tests.e2e.portal import (
    CLI,
    EMBARGO_DAYS,
    INSTRUMENT,
    INVESTIGATIONS,
    PROBLEM,
    START,
    Portal,
    add_instrument,
    add_user,
    assert_problem,
    bearer,
    iso,
    names_field,
    parse_time,
    problem_fields,
)

ENERGY = "InstrumentMonochromator_energy"


def history(portal: Portal, path: str) -> list[dict[str, Any]]:
    """An entity's whole history, oldest first."""
    return portal.walk(f"{path}/history")


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# -- investigations -------------------------------------------------------------------------


def test_create_investigation_answers_201_with_location_etag_and_embargoed_release(portal):
    end = START + timedelta(days=2)
    response = portal.client.post(
        INVESTIGATIONS,
        json={
            "proposal": "MX-2345",
            "instrument": INSTRUMENT,
            "title": "Lysozyme crystals under pressure",
            "start": iso(START),
            "end": iso(end),
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{INVESTIGATIONS}/{created['id']}"
    assert response.headers["ETag"] == '"1"'
    assert created["version"] == 1
    assert created["visit_id"] == "id23-1-20261124"
    # The embargo comes from the settings (30 days here, not the 3-year default).
    assert parse_time(created["release_date"]) == end + timedelta(days=EMBARGO_DAYS)

    fetched = portal.client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == '"1"'
    assert fetched.json()["title"] == "Lysozyme crystals under pressure"

    # Without an end, the embargo runs from the start; an explicit release date wins.
    open_ended = portal.create_investigation("MX-2346", end=None)
    assert parse_time(open_ended["release_date"]) == START + timedelta(days=EMBARGO_DAYS)
    chosen = START + timedelta(days=400)
    explicit = portal.create_investigation("MX-2347", release_date=iso(chosen))
    assert parse_time(explicit["release_date"]) == chosen


def test_same_proposal_and_visit_twice_is_409_and_writes_nothing(portal):
    first = portal.create_investigation("MX-2345", title="First")
    again = portal.client.post(
        INVESTIGATIONS,
        json={
            "proposal": "MX-2345",
            "instrument": INSTRUMENT,
            "title": "Second",
            "start": iso(START + timedelta(hours=3)),  # same day: same default visit id
        },
    )
    assert_problem(again, 409, "already-exists")
    path = f"{INVESTIGATIONS}/{first['id']}"
    assert portal.client.get(path).json()["title"] == "First"
    assert len(history(portal, path)) == 1
    # Another visit of the same proposal is another investigation.
    other = portal.create_investigation("MX-2345", visit_id="id23-1-second")
    assert other["id"] != first["id"]


def test_unknown_instrument_is_422_naming_the_instrument(portal):
    response = portal.client.post(
        INVESTIGATIONS,
        json={"proposal": "MX-1", "instrument": "ID99", "title": "t", "start": iso(START)},
    )
    assert_problem(response, 422, "invalid-value", field="instrument")
    assert portal.client.get(INVESTIGATIONS).json()["total"] == 0


def test_only_admins_and_the_beamlines_scientists_create_investigations(portal):
    body = {"proposal": "MX-1", "instrument": INSTRUMENT, "title": "t", "start": iso(START)}
    assert_problem(portal.anonymous.post(INVESTIGATIONS, json=body), 401, "unauthenticated")
    user = add_user(portal.store, "bob")
    assert_problem(
        portal.client.post(INVESTIGATIONS, json=body, headers=bearer(user.token)), 403, "forbidden"
    )
    instruments.add_scientist(portal.store, CLI, INSTRUMENT, "bob")
    created = portal.client.post(INVESTIGATIONS, json=body, headers=bearer(user.token))
    assert created.status_code == 201, created.text


def _listing_fixture(portal: Portal) -> dict[str, str]:
    """Three investigations on two beamlines; alice is PI of A and co-investigator of B."""
    add_instrument(portal.store, "BM29")
    past = datetime.now(UTC) - timedelta(days=1)
    a = portal.create_investigation("MX-1", title="Lysozyme at 100% humidity")
    b = portal.create_investigation(
        "MX-2", title="LYSOZYME dry", start=iso(START + timedelta(days=1)), end=None
    )
    c = portal.create_investigation(
        "SC-3",
        instrument="BM29",
        title="Insulin at 1000 bar",
        start=iso(START + timedelta(days=2)),
        end=None,
        release_date=iso(past),
    )
    for investigation, role in ((a, "principal_investigator"), (b, "co_investigator")):
        response = portal.client.put(
            f"{INVESTIGATIONS}/{investigation['id']}/participants/alice", json={"role": role}
        )
        assert response.status_code == 200, response.text
    return {"A": a["id"], "B": b["id"], "C": c["id"]}


def test_investigation_listing_filters_and_sorts(portal):
    by_name = _listing_fixture(portal)
    name_of = {v: k for k, v in by_name.items()}

    def listed(**params: Any) -> list[str]:
        response = portal.client.get(INVESTIGATIONS, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == len(page["items"])
        assert page["total_exact"] is True
        return [name_of[i] for i in ids(page["items"])]

    assert listed() == ["C", "B", "A"]  # newest first by default
    assert listed(sort="start_time") == ["A", "B", "C"]
    assert listed(sort="-start_time") == ["C", "B", "A"]
    assert listed(instrument="BM29") == ["C"]
    assert listed(instrument=INSTRUMENT, sort="start_time") == ["A", "B"]
    assert listed(proposal="MX-2") == ["B"]
    assert listed(proposal="MX") == []  # proposals match exactly
    assert listed(text="lysozyme", sort="start_time") == ["A", "B"]  # case-insensitive
    assert listed(text="LySoZyMe DRY") == ["B"]
    # '%' and '_' are literal: "100%" is not "100 followed by anything" (which finds "1000").
    assert listed(text="100%") == ["A"]
    assert listed(text="%") == ["A"]
    assert listed(text="at_") == []
    assert listed(text="1000") == ["C"]
    # Start range, inclusive, with times in any offset.
    day1 = START + timedelta(days=1)
    assert listed(start_from=iso(day1), sort="start_time") == ["B", "C"]
    assert listed(start_to=iso(day1), sort="start_time") == ["A", "B"]
    in_paris = day1.astimezone(datetime.fromisoformat("2026-01-01T00:00+01:00").tzinfo)
    assert listed(start_from=iso(in_paris), start_to=iso(in_paris)) == ["B"]
    assert listed(start_from=iso(START + timedelta(days=5))) == []
    # Roles are the caller's own.
    assert listed(role="principal_investigator") == ["A"]
    assert listed(role="co_investigator") == ["B"]
    assert listed(role="local_contact") == []
    # Released: the embargo is over.
    assert listed(released="true") == ["C"]
    assert listed(released="false", sort="start_time") == ["A", "B"]
    # Filters combine.
    assert listed(text="lysozyme", role="co_investigator") == ["B"]
    # One row per page, through the cursor, with and without filters.
    walked = portal.walk(INVESTIGATIONS, limit=1, sort="start_time")
    assert [name_of[i] for i in ids(walked)] == ["A", "B", "C"]
    walked = portal.walk(INVESTIGATIONS, limit=1, text="lysozyme")
    assert [name_of[i] for i in ids(walked)] == ["B", "A"]


def test_anonymous_callers_list_only_open_data(portal):
    by_name = _listing_fixture(portal)
    page = portal.anonymous.get(INVESTIGATIONS).json()
    assert ids(page["items"]) == [by_name["C"]]
    assert page["total"] == 1
    assert_problem(portal.anonymous.get(f"{INVESTIGATIONS}/{by_name['A']}"), 404, "not-found")


def test_investigation_text_filter_is_case_insensitive_beyond_ascii(portal):
    created = portal.create_investigation("MX-1", title="Über Ångström crystals")
    for text in ("über", "ÅNGSTRÖM"):
        page = portal.client.get(INVESTIGATIONS, params={"text": text}).json()
        assert ids(page["items"]) == [created["id"]], text


def test_patch_with_if_match(portal):
    created = portal.create_investigation(title="Before")
    path = f"{INVESTIGATIONS}/{created['id']}"

    changed = portal.client.patch(path, json={"title": "After"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"2"'
    assert changed.json()["title"] == "After"
    assert changed.json()["version"] == 2

    stale = portal.client.patch(path, json={"title": "Lost"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    malformed = portal.client.patch(path, json={"title": "Lost"}, headers={"If-Match": "one"})
    assert_problem(malformed, 400, "invalid-query", field="If-Match")
    current = portal.client.get(path)
    assert current.json()["title"] == "After"
    assert current.headers["ETag"] == '"2"'
    assert [h["version"] for h in history(portal, path)] == [1, 2]

    # Weak tags and '*' are understood; no change is no new version.
    weak = portal.client.patch(path, json={"summary": "s"}, headers={"If-Match": 'W/"2"'})
    assert weak.headers["ETag"] == '"3"'
    same = portal.client.patch(path, json={"summary": "s"}, headers={"If-Match": "*"})
    assert same.status_code == 200
    assert same.headers["ETag"] == '"3"'
    # A rule of the domain: the end may not precede the start.
    backwards = portal.client.patch(path, json={"end": iso(START - timedelta(days=1))})
    assert_problem(backwards, 422, "invalid-value", field="end")


def test_participants_put_and_delete_and_the_last_pi_stays(portal):
    add_user(portal.store, "bob")
    add_user(portal.store, "carol")
    created = portal.create_investigation()
    path = f"{INVESTIGATIONS}/{created['id']}"

    def people() -> dict[str, str]:
        return {p["username"]: p["role"] for p in portal.client.get(path).json()["participants"]}

    added = portal.client.put(f"{path}/participants/bob", json={"role": "principal_investigator"})
    assert added.status_code == 200, added.text
    assert added.headers["ETag"] == '"2"'
    assert {p["username"]: p["email"] for p in added.json()["participants"]} == {
        "bob": "bob@example.org"
    }
    assert portal.client.put(
        f"{path}/participants/carol", json={"role": "co_investigator"}
    ).status_code == (200)
    assert people() == {"bob": "principal_investigator", "carol": "co_investigator"}

    stale = portal.client.put(
        f"{path}/participants/carol", json={"role": "collaborator"}, headers={"If-Match": '"2"'}
    )
    assert_problem(stale, 412, "precondition-failed")
    last_pi = portal.client.delete(f"{path}/participants/bob")
    assert_problem(last_pi, 409, "command-rejected", field="username")
    demoted = portal.client.put(f"{path}/participants/bob", json={"role": "collaborator"})
    assert_problem(demoted, 409, "command-rejected", field="role")
    assert people() == {"bob": "principal_investigator", "carol": "co_investigator"}

    removed = portal.client.delete(f"{path}/participants/carol", headers={"If-Match": '"3"'})
    assert removed.status_code == 200, removed.text
    assert removed.headers["ETag"] == '"4"'
    assert people() == {"bob": "principal_investigator"}
    assert_problem(portal.client.delete(f"{path}/participants/carol"), 404, "not-found")
    unknown = portal.client.put(f"{path}/participants/zed", json={"role": "collaborator"})
    assert_problem(unknown, 422, "invalid-value", field="username")
    bad_role = portal.client.put(f"{path}/participants/carol", json={"role": "boss"})
    assert_problem(bad_role, 422, "validation-error", field="body.role")
    assert people() == {"bob": "principal_investigator"}


def test_history_and_as_of(portal):
    scientist = add_user(portal.store, "bob")
    instruments.add_scientist(portal.store, CLI, INSTRUMENT, "bob")
    as_bob = bearer(scientist.token)
    created = portal.create_investigation(title="Old title")
    path = f"{INVESTIGATIONS}/{created['id']}"
    time.sleep(0.01)  # SQLite records milliseconds: keep the versions' times apart
    assert portal.client.patch(path, json={"title": "New title"}, headers=as_bob).status_code == (
        200
    )
    time.sleep(0.01)
    assert portal.client.put(
        f"{path}/participants/alice", json={"role": "principal_investigator"}, headers=as_bob
    ).status_code == (200)

    # History: who, what, when; oldest first; one entry per page through the cursor.
    entries, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 1} if cursor is None else {"limit": 1, "cursor": cursor}
        page = portal.client.get(f"{path}/history", params=params).json()
        assert page["total"] == 3
        entries.extend(page["items"])
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
    assert pages == 3
    assert [e["version"] for e in entries] == [1, 2, 3]
    assert [e["type"] for e in entries] == [
        "InvestigationCreated",
        "InvestigationUpdated",
        "ParticipantAdded",
    ]
    assert [e["actor"] for e in entries] == ["user:alice", "user:bob", "user:bob"]
    assert {e["source"] for e in entries} == {"api"}
    assert entries[1]["changes"] == {"title": "New title"}
    assert entries[2]["changes"] == {"username": "alice", "role": "principal_investigator"}
    times = [parse_time(e["recorded_at"]) for e in entries]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions)

    # As of a time: the state then, with the version it had.
    first = portal.client.get(path, params={"as_of": entries[0]["recorded_at"]})
    assert first.status_code == 200, first.text
    assert first.json()["title"] == "Old title"
    assert first.json()["version"] == 1
    assert first.headers["ETag"] == '"1"'
    assert first.json()["participants"] == []
    second = portal.client.get(path, params={"as_of": entries[1]["recorded_at"]}).json()
    assert (second["title"], second["version"], second["participants"]) == ("New title", 2, [])
    later = iso(times[2].astimezone(datetime.fromisoformat("2026-01-01T00:00-05:00").tzinfo))
    third = portal.client.get(path, params={"as_of": later}).json()
    assert third["version"] == 3
    assert [p["username"] for p in third["participants"]] == ["alice"]
    before = iso(times[0] - timedelta(seconds=1))
    assert_problem(portal.client.get(path, params={"as_of": before}), 404, "not-found")
    # The present is unchanged by looking back.
    assert portal.client.get(path).json()["version"] == 3
    assert_problem(
        portal.client.get(f"{path}/history", params={"cursor": "x1"}), 400, field="cursor"
    )


# -- samples --------------------------------------------------------------------------------


def samples_of(investigation_id: str) -> str:
    return f"{INVESTIGATIONS}/{investigation_id}/samples"


def test_register_sample_and_its_rules(portal):
    investigation = portal.create_investigation()
    other = portal.create_investigation("MX-9999")
    response = portal.client.post(
        samples_of(investigation["id"]),
        json={
            "name": "lysozyme_01",
            "chemical_formula": "C613H951N193O185S10",
            "hazards": ["H334", "H301", "H301"],
        },
    )
    assert response.status_code == 201, response.text
    sample = response.json()
    assert response.headers["Location"] == f"/api/v1/samples/{sample['id']}"
    assert response.headers["ETag"] == '"1"'
    assert sample["hazards"] == ["H301", "H334"]
    assert sample["investigation_id"] == investigation["id"]
    assert sample["datasets"] == []

    duplicate = portal.client.post(samples_of(investigation["id"]), json={"name": "lysozyme_01"})
    assert_problem(duplicate, 409, "already-exists", field="name")
    bad_hazard = portal.client.post(
        samples_of(investigation["id"]), json={"name": "s2", "hazards": ["X999"]}
    )
    assert_problem(bad_hazard, 422, "invalid-value", field="hazards.0")
    foreign = portal.create_sample(other["id"], "foreign")
    adopted = portal.client.post(
        samples_of(investigation["id"]), json={"name": "s3", "parent_id": foreign["id"]}
    )
    assert_problem(adopted, 422, "invalid-value", field="parent_id")
    child = portal.create_sample(investigation["id"], "s4", parent_id=sample["id"])
    assert child["parent_id"] == sample["id"]
    names = [s["name"] for s in portal.walk(samples_of(investigation["id"]))]
    assert names == ["lysozyme_01", "s4"]


def test_samples_are_listed_by_name_one_page_at_a_time(portal):
    investigation = portal.create_investigation()
    names = ["delta", "alpha", "echo", "charlie", "bravo"]
    for name in names:
        portal.create_sample(investigation["id"], name)
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = portal.client.get(samples_of(investigation["id"]), params=params).json()
        assert page["total"] == 5
        assert len(page["items"]) <= 2
        seen.extend(s["name"] for s in page["items"])
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
    assert seen == sorted(names)
    assert pages == 3


def test_sample_with_datasets_patch_and_history(portal):
    investigation = portal.create_investigation()
    sample = portal.create_sample(investigation["id"], "lyso", description="first")
    path = f"/api/v1/samples/{sample['id']}"
    dataset = portal.create_dataset(investigation["id"], "lyso_0001", sample_id=sample["id"])
    portal.create_dataset(investigation["id"], "blank_0001")  # of no sample

    found = portal.client.get(path)
    assert found.status_code == 200
    assert found.headers["ETag"] == '"1"'
    assert [(d["id"], d["name"]) for d in found.json()["datasets"]] == [
        (dataset["id"], "lyso_0001")
    ]
    assert found.json()["dataset_count"] == 1

    patched = portal.client.patch(
        path, json={"description": "second", "hazards": ["H350"]}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    assert (patched.json()["description"], patched.json()["hazards"]) == ("second", ["H350"])
    stale = portal.client.patch(path, json={"description": "third"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    bad = portal.client.patch(path, json={"hazards": ["H301", "nope"]})
    assert_problem(bad, 422, "invalid-value", field="hazards.1")
    assert portal.client.get(path).json()["description"] == "second"

    entries = history(portal, path)
    assert [(e["version"], e["type"]) for e in entries] == [
        (1, "SampleRegistered"),
        (2, "SampleUpdated"),
    ]
    assert entries[1]["changes"] == {"description": "second", "hazards": ["H350"]}
    assert entries[1]["actor"] == "user:alice"
    then = portal.client.get(path, params={"as_of": entries[0]["recorded_at"]}).json()
    assert (then["description"], then["version"]) == ("first", 1)


# -- datasets -------------------------------------------------------------------------------


def datasets_of(investigation_id: str) -> str:
    return f"{INVESTIGATIONS}/{investigation_id}/datasets"


def test_dataset_parameters_keep_their_unit_and_compare_in_si(portal):
    investigation = portal.create_investigation()
    kev = portal.create_dataset(
        investigation["id"],
        "kev",
        techniques=["MX"],
        scan_type="continuous",
        parameters=[
            {"name": ENERGY, "value": 12.4, "unit": "keV"},
            {"name": "Sample_name", "value": "lysozyme"},
        ],
    )
    ev = portal.create_dataset(
        investigation["id"], "ev", parameters=[{"name": ENERGY, "value": 12400, "unit": "eV"}]
    )
    a = {p["name"]: p for p in kev["parameters"]}[ENERGY]
    b = {p["name"]: p for p in ev["parameters"]}[ENERGY]
    assert (a["value"], a["unit"], a["numeric"]) == ("12.4", "keV", 12.4)
    assert (b["value"], b["unit"], b["numeric"]) == ("12400", "eV", 12400.0)
    assert a["si_unit"] == b["si_unit"]
    assert a["si_value"] == pytest.approx(b["si_value"], rel=1e-12)
    assert a["si_value"] == pytest.approx(12.4e3 * 1.602176634e-19, rel=1e-12)
    assert kev["parameter_count"] == 2
    assert kev["techniques"] == ["MX"]
    # The same values come back from a fresh read.
    again = portal.client.get(f"/api/v1/datasets/{kev['id']}").json()
    assert again["parameters"] == kev["parameters"]


INVALID_DATASETS: list[tuple[dict[str, Any], str]] = [
    ({"parameters": [{"name": ENERGY, "value": 12.4, "unit": "mm"}]}, "parameters.0.unit"),
    (
        {
            "parameters": [
                {"name": "Sample_name", "value": "x"},
                {"name": ENERGY, "value": "high", "unit": "keV"},
            ]
        },
        "parameters.1.value",
    ),
    ({"parameters": [{"name": "MX_exposuretime", "value": 1}]}, "parameters.0.name"),
    ({"parameters": [{"name": "Sample_name", "value": 1, "unit": "m"}]}, "parameters.0.value"),
    ({"parameters": [{"name": "Sample_name", "value": "x", "unit": "m"}]}, "parameters.0.unit"),
    ({"techniques": ["XRAY"]}, "techniques.0"),
    ({"techniques": ["MX", "XRAY"]}, "techniques.1"),
    ({"kind": "processed"}, "input_ids"),
    ({"location": "/data/../etc"}, "location"),
    ({"name": " padded"}, "name"),
]


def test_invalid_dataset_is_422_naming_the_field(portal):
    investigation = portal.create_investigation()
    failures = []
    for fields, field in INVALID_DATASETS:
        body = {"name": "d", "location": "/data/d", "start": iso(START), **fields}
        response = portal.client.post(datasets_of(investigation["id"]), json=body)
        mismatch = problem_mismatch(response, {422}, field)
        if mismatch is None and response.json()["type"] != "/problems/invalid-value":
            mismatch = f"type {response.json()['type']}"
        if mismatch is not None:
            failures.append(f"{fields}: {mismatch}")
    assert failures == []
    assert portal.client.get(datasets_of(investigation["id"])).json()["total"] == 0


def test_processed_dataset_names_existing_inputs(portal):
    investigation = portal.create_investigation()
    raw = portal.create_dataset(investigation["id"], "raw")
    processed = portal.create_dataset(
        investigation["id"], "processed", kind="processed", input_ids=[raw["id"]]
    )
    assert processed["input_ids"] == [raw["id"]]
    assert processed["kind"] == "processed"
    missing = portal.client.post(
        datasets_of(investigation["id"]),
        json={
            "name": "p2",
            "location": "/p2",
            "start": iso(START),
            "kind": "processed",
            "input_ids": [raw["id"], "00000000-0000-0000-0000-000000000001"],
        },
    )
    assert_problem(missing, 422, "invalid-value", field="input_ids.1")
    duplicate = portal.client.post(
        datasets_of(investigation["id"]),
        json={"name": "raw", "location": "/raw", "start": iso(START)},
    )
    assert_problem(duplicate, 409, "already-exists", field="name")


def test_dataset_listing_filters_and_sorts(portal):
    investigation = portal.create_investigation()
    sample = portal.create_sample(investigation["id"], "lyso")
    energy = [{"name": ENERGY, "value": 12.4, "unit": "keV"}]
    made = {
        "c_scan": portal.create_dataset(
            investigation["id"], "c_scan", START, sample_id=sample["id"], techniques=["MX"],
            parameters=energy,
        ),
        "a_scan": portal.create_dataset(
            investigation["id"], "a_scan", START + timedelta(hours=1), techniques=["SAXS"]
        ),
        "b_scan": portal.create_dataset(
            investigation["id"], "b_scan", START + timedelta(hours=2), sample_id=sample["id"],
            techniques=["MX", "XRF"],
        ),
    }  # fmt: skip
    name_of = {d["id"]: name for name, d in made.items()}

    def listed(**params: Any) -> list[str]:
        response = portal.client.get(datasets_of(investigation["id"]), params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == len(page["items"])
        assert page["total_exact"] is True
        return [name_of[i] for i in ids(page["items"])]

    assert listed() == ["c_scan", "a_scan", "b_scan"]  # by start time by default
    assert listed(sort="start_time") == ["c_scan", "a_scan", "b_scan"]
    assert listed(sort="-start_time") == ["b_scan", "a_scan", "c_scan"]
    assert listed(sort="name") == ["a_scan", "b_scan", "c_scan"]
    assert listed(sort="-name") == ["c_scan", "b_scan", "a_scan"]
    assert listed(sample=sample["id"]) == ["c_scan", "b_scan"]
    assert listed(technique="MX") == ["c_scan", "b_scan"]
    assert listed(technique="XRF") == ["b_scan"]
    assert listed(technique="TOMO") == []
    assert listed(parameter=ENERGY) == ["c_scan"]
    assert listed(parameter="MX_flux") == []
    hour = START + timedelta(hours=1)
    assert listed(start_from=iso(hour)) == ["a_scan", "b_scan"]
    assert listed(start_to=iso(hour)) == ["c_scan", "a_scan"]
    in_tokyo = hour.astimezone(datetime.fromisoformat("2026-01-01T00:00+09:00").tzinfo)
    assert listed(start_from=iso(in_tokyo), start_to=iso(in_tokyo)) == ["a_scan"]
    assert listed(technique="MX", sort="-name", sample=sample["id"]) == ["c_scan", "b_scan"]


def test_close_dataset_with_if_match_and_only_once(portal):
    investigation = portal.create_investigation()
    dataset = portal.create_dataset(investigation["id"], "scan")
    path = f"/api/v1/datasets/{dataset['id']}"
    end = START + timedelta(minutes=3)

    early = portal.client.post(f"{path}/close", json={"end": iso(START - timedelta(minutes=1))})
    assert_problem(early, 422, "invalid-value", field="end")
    stale = portal.client.post(f"{path}/close", json={"end": iso(end)}, headers={"If-Match": '"7"'})
    assert_problem(stale, 412, "precondition-failed")
    closed = portal.client.post(
        f"{path}/close",
        json={"end": iso(end), "parameters": [{"name": "MX_exposureTime", "value": 0.1}]},
        headers={"If-Match": '"1"'},
    )
    assert closed.status_code == 200, closed.text
    assert closed.headers["ETag"] == '"2"'
    body = closed.json()
    assert body["complete"] is True
    assert parse_time(body["end"]) == end
    assert [(p["name"], p["unit"]) for p in body["parameters"]] == [("MX_exposureTime", None)]
    again = portal.client.post(f"{path}/close", json={"end": iso(end)})
    assert_problem(again, 409, "command-rejected")
    assert portal.client.get(path).headers["ETag"] == '"2"'


def test_update_parameters_adds_and_replaces_by_name(portal):
    investigation = portal.create_investigation()
    dataset = portal.create_dataset(
        investigation["id"], "scan", parameters=[{"name": ENERGY, "value": 12.4, "unit": "keV"}]
    )
    path = f"/api/v1/datasets/{dataset['id']}/parameters"
    updated = portal.client.post(
        path,
        json={
            "parameters": [
                {"name": ENERGY, "value": 13, "unit": "keV"},
                {"name": "MX_detectorDistance", "value": 0.25, "unit": "m"},
            ]
        },
        headers={"If-Match": '"1"'},
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["ETag"] == '"2"'
    params = {p["name"]: p for p in updated.json()["parameters"]}
    assert updated.json()["parameter_count"] == 2
    assert (params[ENERGY]["value"], params[ENERGY]["numeric"]) == ("13", 13.0)
    assert params["MX_detectorDistance"]["si_value"] == pytest.approx(0.25)
    # Setting the same values again changes nothing.
    same = portal.client.post(
        path, json={"parameters": [{"name": ENERGY, "value": 13, "unit": "keV"}]}
    )
    assert same.headers["ETag"] == '"2"'
    wrong = portal.client.post(
        path, json={"parameters": [{"name": "MX_detectorDistance", "value": 1, "unit": "s"}]}
    )
    assert_problem(wrong, 422, "invalid-value", field="parameters.0.unit")
    empty = portal.client.post(path, json={"parameters": []})
    assert_problem(empty, 422, "validation-error", field="body.parameters")


def _files(prefix: str, count: int, size: int = 1000) -> list[dict[str, Any]]:
    return [{"path": f"{prefix}/f{i:05d}.h5", "size": size + i} for i in range(count)]


def test_ten_thousand_files_in_one_request(portal):
    investigation = portal.create_investigation()
    dataset = portal.create_dataset(investigation["id"], "big")
    path = f"/api/v1/datasets/{dataset['id']}"
    files = _files("/data/big", 10_000)
    response = portal.client.post(f"{path}/files", json={"files": files})
    assert response.status_code == 201, response.text
    assert response.json() == {"dataset_id": dataset["id"], "version": 2, "file_count": 10_000}
    assert response.headers["ETag"] == '"2"'
    found = portal.client.get(path).json()
    assert found["file_count"] == 10_000
    assert found["volume"] == sum(f["size"] for f in files)
    page = portal.client.get(f"{path}/files", params={"limit": 3}).json()
    assert page["total"] == 10_000
    assert [f["path"] for f in page["items"]] == [f["path"] for f in files[:3]]
    entry = history(portal, path)[-1]
    assert entry["type"] == "DatafilesRegistered"
    assert entry["changes"]["file_count"] == 10_000
    assert len(entry["changes"]["first_paths"]) == 10  # summarised, not repeated

    too_many = portal.client.post(f"{path}/files", json={"files": _files("/data/more", 10_001)})
    assert_problem(too_many, 422, "validation-error", field="body.files")
    assert portal.client.get(path).json()["file_count"] == 10_000


def test_a_path_already_registered_is_409_and_nothing_is_written(portal):
    investigation = portal.create_investigation()
    dataset = portal.create_dataset(investigation["id"], "scan")
    path = f"/api/v1/datasets/{dataset['id']}"
    first = portal.client.post(f"{path}/files", json={"files": _files("/data/scan", 3)})
    assert first.status_code == 201, first.text
    mixed = [{"path": "/data/scan/new.h5", "size": 5}, _files("/data/scan", 3)[1]]
    clash = portal.client.post(f"{path}/files", json={"files": mixed})
    assert_problem(clash, 409, "already-exists", field="files.1.path")
    twice = portal.client.post(f"{path}/files", json={"files": [mixed[0], mixed[0]]})
    assert_problem(twice, 422, "invalid-value", field="files.1.path")
    stale = portal.client.post(
        f"{path}/files", json={"files": [mixed[0]]}, headers={"If-Match": '"1"'}
    )
    assert_problem(stale, 412, "precondition-failed")
    bad_sum = portal.client.post(
        f"{path}/files", json={"files": [{**mixed[0], "checksum": "sha256:XYZ"}]}
    )
    assert_problem(bad_sum, 422, "invalid-value", field="files.0.checksum")
    found = portal.client.get(path).json()
    assert (found["file_count"], found["version"]) == (3, 2)
    listed = [f["path"] for f in portal.walk(f"{path}/files")]
    assert "/data/scan/new.h5" not in listed
    assert len(listed) == 3
    assert len(history(portal, path)) == 2


def test_file_listing_pages_through_every_file_exactly_once(portal):
    investigation = portal.create_investigation()
    dataset = portal.create_dataset(investigation["id"], "scan")
    path = f"/api/v1/datasets/{dataset['id']}"
    files = _files("/data/scan/a", 130) + _files("/data/scan/B", 120)  # upper case sorts first
    for chunk in (files[:100], files[100:]):
        response = portal.client.post(f"{path}/files", json={"files": chunk})
        assert response.status_code == 201, response.text
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 37}
        if cursor is not None:
            params["cursor"] = cursor
        page = portal.client.get(f"{path}/files", params=params).json()
        assert page["total"] == 250
        seen.extend(f["path"] for f in page["items"])
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
    assert pages == 7  # ceil(250 / 37)
    assert Counter(seen) == Counter(f["path"] for f in files)
    assert seen == sorted(seen)
    first = portal.client.get(f"{path}/files", params={"limit": 1}).json()["items"][0]
    assert first["size"] == 1000
    assert parse_time(first["registered_at"]).tzinfo is not None


def test_delete_dataset_then_404_while_history_stays(portal):
    investigation = portal.create_investigation()
    sample = portal.create_sample(investigation["id"], "lyso")
    keep = portal.create_dataset(investigation["id"], "keep", sample_id=sample["id"])
    gone = portal.create_dataset(investigation["id"], "gone", sample_id=sample["id"])
    path = f"/api/v1/datasets/{gone['id']}"

    assert_problem(portal.client.delete(path), 422, "validation-error", field="query.reason")
    stale = portal.client.delete(path, params={"reason": "x"}, headers={"If-Match": '"5"'})
    assert_problem(stale, 412, "precondition-failed")
    deleted = portal.client.delete(path, params={"reason": "aborted scan"})
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(portal.client.get(path), 404, "not-found")
    assert_problem(portal.client.get(f"{path}/files"), 404, "not-found")
    again = portal.client.delete(path, params={"reason": "again"})
    assert_problem(again, 404, "not-found")

    entries = history(portal, path)
    assert [e["type"] for e in entries] == ["DatasetCreated", "DatasetDeleted"]
    assert entries[-1]["changes"] == {"reason": "aborted scan"}
    then = portal.client.get(path, params={"as_of": entries[0]["recorded_at"]})
    assert then.status_code == 200
    assert (then.json()["deleted"], then.json()["version"]) == (False, 1)

    page = portal.client.get(datasets_of(investigation["id"])).json()
    assert ids(page["items"]) == [keep["id"]]
    assert page["total"] == 1
    sample_now = portal.client.get(f"/api/v1/samples/{sample['id']}").json()
    assert [d["id"] for d in sample_now["datasets"]] == [keep["id"]]


def test_dataset_as_of_before_it_closed(portal):
    investigation = portal.create_investigation()
    dataset = portal.create_dataset(investigation["id"], "scan")
    path = f"/api/v1/datasets/{dataset['id']}"
    time.sleep(0.01)
    closed = portal.client.post(f"{path}/close", json={"end": iso(START + timedelta(hours=1))})
    assert closed.status_code == 200
    created_at = history(portal, path)[0]["recorded_at"]
    then = portal.client.get(path, params={"as_of": created_at})
    assert then.status_code == 200
    assert then.headers["ETag"] == '"1"'
    assert (then.json()["complete"], then.json()["end"], then.json()["version"]) == (
        False,
        None,
        1,
    )
    now = portal.client.get(path).json()
    assert (now["complete"], now["version"]) == (True, 2)


# -- keyset paging --------------------------------------------------------------------------

KEYS: dict[str, tuple[Callable[[dict[str, Any]], Any], bool]] = {
    "start_time": (lambda d: (parse_time(d["start"]), d["id"]), False),
    "-start_time": (lambda d: (parse_time(d["start"]), d["id"]), True),
    "name": (lambda d: (d["name"], d["id"]), False),
    "-name": (lambda d: (d["name"], d["id"]), True),
}


@pytest.mark.parametrize("sort", ["-start_time", "name"])  # each direction, each key
def test_keyset_paging_is_stable_under_concurrent_inserts(portal, sort):
    key, descending = KEYS[sort]
    investigation = portal.create_investigation()
    listing = datasets_of(investigation["id"])
    initial = {}
    for i in range(20):  # start times repeat: ties are broken by id
        made = portal.create_dataset(
            investigation["id"], f"m{i:03d}", START + timedelta(hours=i % 4), techniques=["MX"]
        )
        initial[made["id"]] = made

    def after(item: dict[str, Any], cursor_item: dict[str, Any]) -> bool:
        return key(item) < key(cursor_item) if descending else key(item) > key(cursor_item)

    seen: list[dict[str, Any]] = []
    inserted: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (dataset, last item seen)
    cursor, n = None, 0
    while True:
        params: dict[str, Any] = {"sort": sort, "limit": 6}
        if cursor is not None:
            params["cursor"] = cursor
        response = portal.client.get(listing, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        last = page["items"][-1]
        # Between pages: rows that sort before the cursor, after it, and level with it.
        for name, start in (
            (f"a{n:03d}", START - timedelta(hours=n + 1)),
            (f"z{n:03d}", START + timedelta(days=1, hours=n)),
            (f"{last['name']}x{n}", parse_time(last["start"])),
        ):
            inserted.append((portal.create_dataset(investigation["id"], name, start), last))
        n += 1

    counts = Counter(ids(seen))
    assert all(count == 1 for count in counts.values()), "a dataset was listed twice"
    assert all(counts[i] == 1 for i in initial), "a dataset that existed was skipped"
    keys = [key(item) for item in seen]
    assert keys == sorted(keys, reverse=descending)
    assert n >= 3
    for dataset, cursor_item in inserted:
        # Keyset semantics: a row inserted beyond the cursor is met later; one behind it is not.
        assert (dataset["id"] in counts) == after(dataset, cursor_item), dataset["name"]

    everything = portal.client.get(listing, params={"limit": 1}).json()
    assert everything["total"] == len(initial) + len(inserted)
    assert everything["total_exact"] is True
    technique = portal.client.get(listing, params={"technique": "MX", "limit": 1}).json()
    assert (technique["total"], technique["total_exact"]) == (len(initial), True)


def test_limits_and_foreign_or_garbage_cursors_are_refused(portal):
    investigation = portal.create_investigation()
    portal.create_investigation("MX-2")
    for name in ("a", "b", "c"):
        dataset = portal.create_dataset(investigation["id"], name)
        portal.create_sample(investigation["id"], name)
    listing = datasets_of(investigation["id"])
    for limit in (0, 1001, -1):
        response = portal.client.get(listing, params={"limit": limit})
        assert_problem(response, 422, "validation-error", field="query.limit")
    assert portal.client.get(listing, params={"limit": 1000}).status_code == 200

    by_name = portal.client.get(listing, params={"sort": "name", "limit": 1}).json()["next_cursor"]
    samples = portal.client.get(samples_of(investigation["id"]), params={"limit": 1}).json()
    investigations = portal.client.get(INVESTIGATIONS, params={"limit": 1}).json()
    portal.client.post(
        f"/api/v1/datasets/{dataset['id']}/files", json={"files": _files("/data/c", 2)}
    )
    files = portal.client.get(f"/api/v1/datasets/{dataset['id']}/files", params={"limit": 1})
    foreign = [
        by_name,  # the same listing in another order
        samples["next_cursor"],
        investigations["next_cursor"],
        files.json()["next_cursor"],
    ]
    assert all(foreign)
    garbage = ["garbage", "", "eyJ4Ijoi", "W10", "WyJkYXRhc2V0czpzdGFydCIsWzEsMl1d", "%%%"]
    for cursor in foreign + garbage:
        response = portal.client.get(listing, params={"cursor": cursor, "limit": 1})
        assert_problem(response, 400, "invalid-query", field="cursor")
    # The right cursor works.
    assert portal.client.get(listing, params={"sort": "name", "cursor": by_name}).status_code == (
        200
    )


# -- malformed input ------------------------------------------------------------------------


@pytest.fixture
def entities(portal: Portal) -> dict[str, str]:
    """One investigation with a sample and a dataset, for the malformed-input tables."""
    investigation = portal.create_investigation()
    sample = portal.create_sample(investigation["id"], "lyso")
    dataset = portal.create_dataset(investigation["id"], "scan")
    return {"investigation": investigation["id"], "sample": sample["id"], "dataset": dataset["id"]}


def _investigation(**fields: Any) -> dict[str, Any]:
    return {
        "proposal": "MX-1",
        "instrument": INSTRUMENT,
        "title": "t",
        "start": iso(START),
        **fields,
    }


def _files_body(**fields: Any) -> dict[str, Any]:
    return {"files": [{"path": "/data/f.h5", "size": 1, **fields}]}


def problem_mismatch(response: httpx.Response, statuses: set[int], field: str) -> str | None:
    """Why the response is not a problem with one of the statuses naming the field (or None)."""
    if response.status_code not in statuses:
        return f"status {response.status_code}: {response.text[:300]}"
    if response.headers.get("content-type") != PROBLEM:
        return f"content-type {response.headers.get('content-type')}"
    body = response.json()
    if body.get("status") != response.status_code or not body.get("detail"):
        return f"not a problem document: {body}"
    if not names_field(body, field):
        return f"no field {field!r} in {body}"
    return None


def assert_nothing_written(portal: Portal, entities: dict[str, str]) -> None:
    """The entities of the `entities` fixture are as they were made."""
    assert portal.client.get(INVESTIGATIONS).json()["total"] == 1
    investigation = portal.client.get(f"{INVESTIGATIONS}/{entities['investigation']}").json()
    assert (investigation["version"], investigation["participants"]) == (1, [])
    sample = portal.client.get(f"/api/v1/samples/{entities['sample']}").json()
    assert sample["version"] == 1
    dataset = portal.client.get(f"/api/v1/datasets/{entities['dataset']}").json()
    assert (dataset["version"], dataset["file_count"], dataset["parameter_count"]) == (1, 0, 0)


# fmt: off
MALFORMED: list[tuple[str, str, str, dict[str, Any], str]] = [
    # (case, method, path template, request arguments, field the problem names)
    ("uuid-in-path", "GET", "/api/v1/investigations/not-a-uuid", {}, "path.investigation_id"),
    ("short-uuid", "GET", "/api/v1/datasets/1234", {}, "path.dataset_id"),
    ("uuid-in-history", "GET", "/api/v1/samples/zz/history", {}, "path.sample_id"),
    ("uuid-in-body", "POST", "/api/v1/investigations/{investigation}/samples",
     {"json": {"name": "s", "parent_id": "nope"}}, "body.parent_id"),
    ("naive-start", "POST", INVESTIGATIONS, {"json": _investigation(start="2026-11-24T08:00:00")},
     "body.start"),
    ("impossible-date", "POST", INVESTIGATIONS,
     {"json": _investigation(start="2026-13-45T00:00:00Z")}, "body.start"),
    ("naive-as-of", "GET", "/api/v1/investigations/{investigation}",
     {"params": {"as_of": "2026-11-24T08:00:00"}}, "query.as_of"),
    ("garbage-as-of", "GET", "/api/v1/datasets/{dataset}", {"params": {"as_of": "yesterday"}},
     "query.as_of"),
    ("naive-start-from", "GET", "/api/v1/investigations/{investigation}/datasets",
     {"params": {"start_from": "2026-11-24"}}, "query.start_from"),
    ("naive-close", "POST", "/api/v1/datasets/{dataset}/close",
     {"json": {"end": "2026-11-24T09:00:00"}}, "body.end"),
    ("naive-file-time", "POST", "/api/v1/datasets/{dataset}/files",
     {"json": _files_body(created_at="2026-11-24T08:00:00")}, "body.files.0.created_at"),
    ("extra-field", "POST", INVESTIGATIONS, {"json": _investigation(owner="me")}, "body.owner"),
    ("extra-in-patch", "PATCH", "/api/v1/samples/{sample}", {"json": {"name": "x"}}, "body.name"),
    ("extra-in-file", "POST", "/api/v1/datasets/{dataset}/files",
     {"json": _files_body(owner="me")}, "body.files.0.owner"),
    ("extra-in-parameter", "POST", "/api/v1/datasets/{dataset}/parameters",
     {"json": {"parameters": [{"name": ENERGY, "value": 1, "unit": "keV", "si": 1}]}},
     "body.parameters.0.si"),
    ("missing-field", "POST", INVESTIGATIONS, {"json": {"proposal": "MX-1"}}, "body.instrument"),
    ("number-as-title", "POST", INVESTIGATIONS, {"json": _investigation(title=5)}, "body.title"),
    ("text-as-size", "POST", "/api/v1/datasets/{dataset}/files",
     {"json": _files_body(size="big")}, "body.files.0.size"),
    ("negative-size", "POST", "/api/v1/datasets/{dataset}/files", {"json": _files_body(size=-1)},
     "body.files.0.size"),
    ("huge-size", "POST", "/api/v1/datasets/{dataset}/files", {"json": _files_body(size=2**64)},
     "body.files.0.size"),
    ("object-as-list", "POST", "/api/v1/datasets/{dataset}/parameters",
     {"json": {"parameters": {"name": ENERGY}}}, "body.parameters"),
    ("list-as-value", "POST", "/api/v1/datasets/{dataset}/parameters",
     {"json": {"parameters": [{"name": ENERGY, "value": [1]}]}}, "body.parameters.0.value"),
    ("text-as-limit", "GET", INVESTIGATIONS, {"params": {"limit": "ten"}}, "query.limit"),
    ("text-as-bool", "GET", INVESTIGATIONS, {"params": {"released": "perhaps"}}, "query.released"),
    ("text-as-uuid-filter", "GET", "/api/v1/investigations/{investigation}/datasets",
     {"params": {"sample": "lyso"}}, "query.sample"),
    ("unknown-sort", "GET", INVESTIGATIONS, {"params": {"sort": "title"}}, "query.sort"),
    ("unknown-role", "GET", INVESTIGATIONS, {"params": {"role": "boss"}}, "query.role"),
    ("unknown-kind", "POST", "/api/v1/investigations/{investigation}/datasets",
     {"json": {"name": "d", "location": "/d", "start": iso(START), "kind": "cooked"}},
     "body.kind"),
    ("huge-title", "POST", INVESTIGATIONS, {"json": _investigation(title="x" * 100_000)},
     "body.title"),
    ("huge-summary", "POST", INVESTIGATIONS, {"json": _investigation(summary="y" * 2_000_000)},
     "body.summary"),
    ("huge-text-filter", "GET", INVESTIGATIONS, {"params": {"text": "z" * 5000}}, "query.text"),
    ("huge-path", "POST", "/api/v1/datasets/{dataset}/files",
     {"json": _files_body(path="/" + "p" * 5000)}, "body.files.0.path"),
    ("huge-cursor", "GET", INVESTIGATIONS, {"params": {"cursor": "c" * 5000}}, "query.cursor"),
    ("huge-if-match", "PATCH", "/api/v1/investigations/{investigation}",
     {"json": {"title": "t"}, "headers": {"If-Match": '"' + "1" * 500 + '"'}}, "header.If-Match"),
    ("huge-username", "PUT", "/api/v1/investigations/{investigation}/participants/" + "u" * 300,
     {"json": {"role": "collaborator"}}, "path.username"),
    ("not-json", "POST", INVESTIGATIONS,
     {"content": b'{"proposal": "MX-1",', "headers": {"content-type": "application/json"}},
     "body"),
    ("json-array", "POST", INVESTIGATIONS, {"json": [1, 2, 3]}, "body"),
    ("no-body", "POST", INVESTIGATIONS, {}, "body"),
    ("text-plain", "POST", INVESTIGATIONS,
     {"content": b'{"proposal": "MX-1"}', "headers": {"content-type": "text/plain"}}, "body"),
    ("form-encoded", "POST", "/api/v1/investigations/{investigation}/samples",
     {"data": {"name": "lyso2"}}, "body"),
    # NUL characters that the domain's checks meet before any SQL does.
    ("nul-in-title", "POST", INVESTIGATIONS, {"json": _investigation(title="a\x00b")}, "title"),
    ("nul-in-sample-name", "POST", "/api/v1/investigations/{investigation}/samples",
     {"json": {"name": "lyso\x00"}}, "name"),
    ("nul-in-parameter", "POST", "/api/v1/datasets/{dataset}/parameters",
     {"json": {"parameters": [{"name": "Sample_name", "value": "a\x00"}]}},
     "parameters.0.value"),
    ("nul-in-reason", "DELETE", "/api/v1/datasets/{dataset}", {"params": {"reason": "a\x00"}},
     "reason"),
    ("nul-in-checksum", "POST", "/api/v1/datasets/{dataset}/files",
     {"json": _files_body(checksum="md5:\x00")}, "files.0.checksum"),
    ("nul-in-username", "PUT", "/api/v1/investigations/{investigation}/participants/a%00b",
     {"json": {"role": "collaborator"}}, "username"),
    ("nul-in-text", "GET", INVESTIGATIONS, {"params": {"text": "a\x00b"}}, "text"),
    ("nul-in-proposal", "GET", INVESTIGATIONS, {"params": {"proposal": "MX\x00"}}, "proposal"),
    ("nul-in-instrument", "GET", INVESTIGATIONS, {"params": {"instrument": "\x00"}},
     "instrument"),
    ("nul-in-technique", "GET", "/api/v1/investigations/{investigation}/datasets",
     {"params": {"technique": "M\x00X"}}, "technique"),
    ("nul-in-parameter-filter", "GET", "/api/v1/investigations/{investigation}/datasets",
     {"params": {"parameter": "\x00"}}, "parameter"),
    ("nul-in-instrument-path", "GET", "/api/v1/instruments/a%00b", {}, "name"),
]
# fmt: on


def test_malformed_input_is_a_problem_naming_the_field(portal, entities):
    failures = []
    for case, method, template, arguments, field in MALFORMED:
        response = portal.client.request(method, template.format(**entities), **arguments)
        mismatch = problem_mismatch(response, {400, 422}, field)
        if mismatch is not None:
            failures.append(f"{case}: {mismatch}")
    assert failures == []
    assert_nothing_written(portal, entities)


def test_a_body_that_is_not_utf8_is_a_problem_naming_the_body(portal, entities):
    response = portal.client.post(
        f"{INVESTIGATIONS}/{entities['investigation']}/samples",
        content=b'{"name": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == PROBLEM
    assert "body" in problem_fields(response.json()), response.json()


# fmt: off
NUL_BEFORE_CHECKS: list[tuple[str, str, str, dict[str, Any], str, str]] = [
    # (case, method, path template, arguments, field, where the value reaches SQL unchecked)
    ("instrument", "POST", INVESTIGATIONS, {"json": _investigation(instrument="ID\x0023")},
     "instrument",
     "portal/investigations.py create_investigation: instrument_exists() runs before the check"),
    ("file-path", "POST", "/api/v1/datasets/{dataset}/files",
     {"json": _files_body(path="/data/a\x00b")}, "files.0.path",
     "portal/datasets.py register_files: existing_paths() runs before check_files"),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "template", "arguments", "field", "where"),
    [pytest.param(*case[1:], id=case[0]) for case in NUL_BEFORE_CHECKS],
)
def test_nul_in_a_body_is_refused_naming_the_field(
    portal, entities, method, template, arguments, field, where
):
    response = portal.client.request(method, template.format(**entities), **arguments)
    assert problem_mismatch(response, {400, 422}, field) is None
    assert_nothing_written(portal, entities)


BAD_AUTHORIZATION = ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer ", "bearer", "garbage", "Token x"]


def test_a_bad_authorization_header_is_401_with_www_authenticate(portal):
    for authorization in BAD_AUTHORIZATION:
        response = portal.anonymous.get(INVESTIGATIONS, headers={"Authorization": authorization})
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer", authorization
    # Without the header the caller is anonymous, not refused.
    assert portal.anonymous.get(INVESTIGATIONS).status_code == 200


def test_unknown_revoked_and_expired_tokens_are_401(portal):
    bob = add_user(portal.store, "bob")
    carol = add_user(portal.store, "carol", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    # Bob's own investigation is embargoed: only his token shows it.
    created = portal.create_investigation()
    path = f"{INVESTIGATIONS}/{created['id']}"
    portal.client.put(f"{path}/participants/bob", json={"role": "principal_investigator"})
    assert portal.anonymous.get(path).status_code == 404
    assert portal.anonymous.get(path, headers=bearer(bob.token)).status_code == 200

    credential, _, secret = bob.token.partition(".")
    for token in (
        f"{credential}.{'A' * len(secret)}",  # the right id with the wrong secret
        "cat_0000000000000000.secret",  # an id nobody has
        "cat_.secret",
        "not-a-token",
        "cat_" + "1" * 300 + ".x",
        carol.token,  # expired
    ):
        response = portal.anonymous.get(INVESTIGATIONS, headers=bearer(token))
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer"

    identity.revoke_credential(portal.store, CLI, bob.credential_id)
    revoked = portal.anonymous.get(path, headers=bearer(bob.token))
    body = assert_problem(revoked, 401, "unauthenticated")
    assert "revoked" in body["detail"]
    assert revoked.headers["WWW-Authenticate"] == "Bearer"
    # A write with a bad token is refused as unauthenticated too, and writes nothing.
    write = portal.anonymous.patch(path, json={"title": "x"}, headers=bearer(bob.token))
    assert_problem(write, 401, "unauthenticated")
    assert portal.client.get(path).json()["version"] == 2


def test_api_key_writes_data_on_its_own_beamline_only(portal):
    instruments.run_instrument_command(portal.store, CLI, "BM29", RegisterInstrument("BM29"))
    key = instruments.issue_api_key(portal.store, CLI, INSTRUMENT, "control", None)
    mine = portal.create_investigation()
    theirs = portal.create_investigation("MX-9", instrument="BM29")
    body = {"name": "scan", "location": "/data/scan", "start": iso(START)}
    made = portal.anonymous.post(datasets_of(mine["id"]), json=body, headers=bearer(key.token))
    assert made.status_code == 201, made.text
    entry = history(portal, f"/api/v1/datasets/{made.json()['id']}")[0]
    assert entry["actor"] == f"api-key:{INSTRUMENT}/{key.credential_id}"
    refused = portal.anonymous.post(datasets_of(theirs["id"]), json=body, headers=bearer(key.token))
    assert_problem(refused, 404, "not-found")  # another beamline's embargoed data is unseen
    create = portal.anonymous.post(INVESTIGATIONS, json=_investigation(), headers=bearer(key.token))
    assert_problem(create, 403, "forbidden")


def test_errors_are_problem_json_not_plain_json(portal):
    response = portal.client.get("/api/v1/investigations/00000000-0000-0000-0000-000000000000")
    assert response.headers["content-type"] == PROBLEM
    assert_problem(response, 404, "not-found")
