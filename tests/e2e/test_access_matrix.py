"""Who may read and write what, over HTTP: every role x endpoint x investigation, on both backends.

The expected outcomes are written out here as tables (an oracle independent of
`catalogue.domain.access`):

* reads answer 200 or 404, never 403: a caller who may not read an entity cannot learn that
  it exists;
* writes answer 2xx, 404 when the caller may not read the entity, 401 for an anonymous
  caller who may read it, and 403 for a signed-in caller who may read but not do this;
* a refused write appends no event;
* the investigation listing holds exactly the investigations the Python rule lets the caller
  read (the SQL form of the rule agrees with the Python one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from catalogue.domain.access import ANONYMOUS, Principal, can_read
from catalogue.readmodels.identity import resolve_principal
from catalogue.readmodels.investigations import investigation_facts
from catalogue.readmodels.paging import MAX_LIMIT
from catalogue.schema import investigations as investigations_table
from tests.conftest import sqlite_database
from tests.e2e.access_world import (
    OTHER_BEAMLINE,
    OWN_BEAMLINE,
    Seeded,
    World,
    email_of,
    empty_database,
    running_world,
)

ROLES = (
    "admin",
    "scientist",
    "pi",
    "coi",
    "contact",
    "collab",
    "stranger",
    "key_id23",
    "key_bm29",
    "anonymous",
)
TARGETS = ("own", "foreign", "public")
ALL = frozenset(TARGETS)
WRITING_PARTICIPANTS = ("pi", "coi", "contact")

#: Which of OWN (ID23-1, embargoed), FOREIGN (BM29, embargoed), PUBLIC (BM29, released) each
#: role may read.
READABLE: dict[str, frozenset[str]] = {
    "admin": ALL,
    "scientist": frozenset({"own", "public"}),
    **{role: frozenset({"own", "public"}) for role in (*WRITING_PARTICIPANTS, "collab")},
    "stranger": frozenset({"public"}),
    "key_id23": frozenset({"own", "public"}),
    "key_bm29": frozenset({"foreign", "public"}),
    "anonymous": frozenset({"public"}),
}
#: Change the investigation itself and its participants.
MANAGE: dict[str, frozenset[str]] = {"admin": ALL, "scientist": frozenset({"own"})}
#: Add samples, datasets, parameters and files.
WRITE_DATA: dict[str, frozenset[str]] = {
    "admin": ALL,
    "scientist": frozenset({"own"}),
    **{role: frozenset({"own"}) for role in WRITING_PARTICIPANTS},
    "key_id23": frozenset({"own"}),
    "key_bm29": frozenset({"foreign", "public"}),
}
#: Schedule investigations on a beamline.
CREATE_ON: dict[str, frozenset[str]] = {
    "admin": frozenset({OWN_BEAMLINE, OTHER_BEAMLINE}),
    "scientist": frozenset({OWN_BEAMLINE}),
}


@dataclass(frozen=True)
class Call:
    """One HTTP request of the matrix."""

    method: str
    path: str
    params: dict[str, str] | None = None
    json: Any = None


# -- fixtures ---------------------------------------------------------------------------------


@dataclass
class Harness:
    """The seeded world and a client of the service running on it."""

    world: World
    client: TestClient
    backend: str

    def request(self, role: str, call: Call) -> Any:
        headers = (
            {} if role == "anonymous" else {"Authorization": f"Bearer {self.world.tokens[role]}"}
        )
        return self.client.request(
            call.method, call.path, params=call.params, json=call.json, headers=headers
        )

    def head(self) -> int:
        return self.world.services.store.head_position()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """One world per backend for the whole module: every write below adds, never breaks it."""
    directory = tmp_path_factory.mktemp(f"access-{request.param}")
    if request.param == "sqlite":
        url = sqlite_database(directory)
    else:
        url = request.getfixturevalue("postgres_url")
        empty_database(url)
    with running_world(url, directory) as (world, client):
        yield Harness(world, client, request.param)


# -- reads ------------------------------------------------------------------------------------


def _as_of(world: World) -> dict[str, str]:
    return {"as_of": world.seeded_at.isoformat()}


READS: dict[str, Callable[[World, Seeded], Call]] = {
    "get investigation": lambda w, s: Call("GET", f"/api/v1/investigations/{s.id}"),
    "investigation as_of": lambda w, s: Call(
        "GET", f"/api/v1/investigations/{s.id}", params=_as_of(w)
    ),
    "investigation history": lambda w, s: Call("GET", f"/api/v1/investigations/{s.id}/history"),
    "list samples": lambda w, s: Call("GET", f"/api/v1/investigations/{s.id}/samples"),
    "get sample": lambda w, s: Call("GET", f"/api/v1/samples/{s.sample_id}"),
    "sample as_of": lambda w, s: Call("GET", f"/api/v1/samples/{s.sample_id}", params=_as_of(w)),
    "sample history": lambda w, s: Call("GET", f"/api/v1/samples/{s.sample_id}/history"),
    "list datasets": lambda w, s: Call("GET", f"/api/v1/investigations/{s.id}/datasets"),
    "get dataset": lambda w, s: Call("GET", f"/api/v1/datasets/{s.dataset_id}"),
    "dataset as_of": lambda w, s: Call("GET", f"/api/v1/datasets/{s.dataset_id}", params=_as_of(w)),
    "dataset history": lambda w, s: Call("GET", f"/api/v1/datasets/{s.dataset_id}/history"),
    "list files": lambda w, s: Call("GET", f"/api/v1/datasets/{s.dataset_id}/files"),
}


def _check_read_body(endpoint: str, role: str, seeded: Seeded, body: Any) -> None:
    """A 200 shows the seeded entity, with e-mails only for signed-in callers."""
    if endpoint in ("get investigation", "investigation as_of"):
        assert body["id"] == str(seeded.id)
        assert body["participants"], "every seeded investigation has participants"
        for person in body["participants"]:
            expected = None if role == "anonymous" else email_of(person["username"])
            assert person["email"] == expected, (role, person)
    elif endpoint.endswith("history"):
        assert body["total"] >= 1
        assert body["items"][0]["version"] == 1
    elif endpoint == "list samples":
        assert str(seeded.sample_id) in {item["id"] for item in body["items"]}
    elif endpoint in ("get sample", "sample as_of"):
        assert body["id"] == str(seeded.sample_id)
        assert body["investigation_id"] == str(seeded.id)
    elif endpoint == "list datasets":
        assert str(seeded.dataset_id) in {item["id"] for item in body["items"]}
    elif endpoint in ("get dataset", "dataset as_of"):
        assert body["id"] == str(seeded.dataset_id)
        assert body["investigation_id"] == str(seeded.id)
    elif endpoint == "list files":
        assert seeded.file_path in {item["path"] for item in body["items"]}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("endpoint", READS)
@pytest.mark.parametrize("role", ROLES)
def test_reads_answer_200_or_404(harness: Harness, role: str, endpoint: str, target: str) -> None:
    seeded = harness.world.investigations[target]
    response = harness.request(role, READS[endpoint](harness.world, seeded))
    expected = 200 if target in READABLE[role] else 404
    assert response.status_code == expected, response.text
    if expected == 200:
        _check_read_body(endpoint, role, seeded, response.json())
    else:
        assert response.headers["content-type"] == "application/problem+json"
        assert str(seeded.id) not in response.text


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", ROLES)
def test_listing_membership(harness: Harness, role: str, target: str) -> None:
    seeded = harness.world.investigations[target]
    call = Call("GET", "/api/v1/investigations", params={"proposal": seeded.proposal})
    response = harness.request(role, call)
    assert response.status_code == 200, response.text
    ids = {item["id"] for item in response.json()["items"]}
    assert (str(seeded.id) in ids) == (target in READABLE[role])


# -- writes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """A write endpoint: who may do it, its success status, and how to build the request."""

    allowed: dict[str, frozenset[str]]
    success: int
    build: Callable[[World, str, str], Call]


def _patch_investigation(w: World, target: str, role: str) -> Call:
    seeded = w.investigations[target]
    return Call("PATCH", f"/api/v1/investigations/{seeded.id}", json={"summary": w.unique(role)})


def _put_participant(w: World, target: str, role: str) -> Call:
    seeded = w.investigations[target]
    path = f"/api/v1/investigations/{seeded.id}/participants/extra"
    return Call("PUT", path, json={"role": "collaborator"})


def _delete_participant(w: World, target: str, role: str) -> Call:
    w.ensure_participant(target, "extra")
    seeded = w.investigations[target]
    return Call("DELETE", f"/api/v1/investigations/{seeded.id}/participants/extra")


def _post_sample(w: World, target: str, role: str) -> Call:
    seeded = w.investigations[target]
    body = {"name": w.unique(f"sample-{role}"), "hazards": ["H301"]}
    return Call("POST", f"/api/v1/investigations/{seeded.id}/samples", json=body)


def _patch_sample(w: World, target: str, role: str) -> Call:
    seeded = w.investigations[target]
    body = {"description": w.unique(f"described by {role}")}
    return Call("PATCH", f"/api/v1/samples/{seeded.sample_id}", json=body)


def _post_dataset(w: World, target: str, role: str) -> Call:
    seeded = w.investigations[target]
    body = {
        "name": w.unique(f"dataset-{role}"),
        "location": f"/data/visitor/{seeded.proposal.lower()}/{role}",
        "start": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "sample_id": str(seeded.sample_id),
        "parameters": [{"name": "InstrumentMonochromator_energy", "value": 8, "unit": "keV"}],
    }
    return Call("POST", f"/api/v1/investigations/{seeded.id}/datasets", json=body)


def _close_dataset(w: World, target: str, role: str) -> Call:
    dataset_id = w.fresh_dataset(target)
    body = {"end": datetime.now(UTC).isoformat()}
    return Call("POST", f"/api/v1/datasets/{dataset_id}/close", json=body)


def _add_parameters(w: World, target: str, role: str) -> Call:
    dataset_id = w.fresh_dataset(target)
    body = {
        "parameters": [{"name": "InstrumentMonochromator_energy", "value": 12.7, "unit": "keV"}]
    }
    return Call("POST", f"/api/v1/datasets/{dataset_id}/parameters", json=body)


def _register_files(w: World, target: str, role: str) -> Call:
    dataset_id = w.fresh_dataset(target)
    body = {"files": [{"path": f"/data/fresh/{w.unique(role)}.h5", "size": 10}]}
    return Call("POST", f"/api/v1/datasets/{dataset_id}/files", json=body)


def _delete_dataset(w: World, target: str, role: str) -> Call:
    dataset_id = w.fresh_dataset(target)
    return Call("DELETE", f"/api/v1/datasets/{dataset_id}", params={"reason": "aborted scan"})


def _create_investigation(w: World, target: str, role: str) -> Call:
    body = {
        "proposal": f"T-{w.unique('x').split('-')[1]}",
        "instrument": w.investigations[target].instrument,
        "title": f"Scheduled by {role}",
        "start": "2030-01-02T08:00:00+01:00",
    }
    return Call("POST", "/api/v1/investigations", json=body)


WRITES: dict[str, Write] = {
    "patch investigation": Write(MANAGE, 200, _patch_investigation),
    "put participant": Write(MANAGE, 200, _put_participant),
    "delete participant": Write(MANAGE, 200, _delete_participant),
    "post sample": Write(WRITE_DATA, 201, _post_sample),
    "patch sample": Write(WRITE_DATA, 200, _patch_sample),
    "post dataset": Write(WRITE_DATA, 201, _post_dataset),
    "close dataset": Write(WRITE_DATA, 200, _close_dataset),
    "add parameters": Write(WRITE_DATA, 200, _add_parameters),
    "register files": Write(WRITE_DATA, 201, _register_files),
    "delete dataset": Write(WRITE_DATA, 204, _delete_dataset),
}


def expected_write(write: Write, role: str, target: str) -> int:
    """The status a write on an existing entity of `target` answers."""
    if target not in READABLE[role]:
        return 404
    if target in write.allowed.get(role, frozenset()):
        return write.success
    return 401 if role == "anonymous" else 403


def _assert_outcome(harness: Harness, role: str, call: Call, expected: int) -> Any:
    before = harness.head()
    response = harness.request(role, call)
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert harness.head() == before, "a refused write must append nothing"
        if expected == 401:
            assert response.headers["www-authenticate"] == "Bearer"
    else:
        assert harness.head() > before
    return response


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize("role", ROLES)
def test_writes(harness: Harness, role: str, endpoint: str, target: str) -> None:
    write = WRITES[endpoint]
    call = write.build(harness.world, target, role)
    expected = expected_write(write, role, target)
    response = _assert_outcome(harness, role, call, expected)
    if expected in (200, 201):
        assert response.json()["version"] >= 1


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", ROLES)
def test_create_investigation_on_a_beamline(harness: Harness, role: str, target: str) -> None:
    call = _create_investigation(harness.world, target, role)
    instrument = call.json["instrument"]
    if instrument in CREATE_ON.get(role, frozenset()):
        expected = 201
    else:
        expected = 401 if role == "anonymous" else 403
    response = _assert_outcome(harness, role, call, expected)
    if expected == 201:
        created = response.json()
        assert created["instrument"] == instrument
        assert response.headers["location"] == f"/api/v1/investigations/{created['id']}"


# -- the listing: SQL rule == Python rule -----------------------------------------------------


def _principal(harness: Harness, role: str, now: datetime) -> Principal:
    if role == "anonymous":
        return ANONYMOUS
    engine = harness.world.services.engine
    with engine.connect() as connection:
        return resolve_principal(connection, harness.world.tokens[role], now)


def _listed(harness: Harness, role: str) -> tuple[set[str], int]:
    ids: set[str] = set()
    params: dict[str, Any] = {"limit": MAX_LIMIT}
    total = -1
    while True:
        response = harness.request(role, Call("GET", "/api/v1/investigations", params=params))
        assert response.status_code == 200, response.text
        body = response.json()
        total = body["total"]
        ids.update(item["id"] for item in body["items"])
        if body["next_cursor"] is None:
            return ids, total
        params["cursor"] = body["next_cursor"]


@pytest.mark.parametrize("role", ROLES)
def test_listing_holds_exactly_the_readable_investigations(harness: Harness, role: str) -> None:
    listed, total = _listed(harness, role)
    now = datetime.now(UTC)
    principal = _principal(harness, role, now)
    engine = harness.world.services.engine
    with engine.connect() as connection:
        every = connection.execute(select(investigations_table.c.id)).scalars().all()
        readable = set()
        for investigation_id in every:
            facts = investigation_facts(connection, investigation_id, principal.username)
            assert facts is not None
            if can_read(principal, facts, now):
                readable.add(str(investigation_id))
    assert listed == readable
    assert total == len(readable)
    # And the hand-written table agrees on the seeded ones.
    seeded = harness.world.investigations
    for target in TARGETS:
        assert (str(seeded[target].id) in listed) == (target in READABLE[role])
    released = str(seeded["edge-released"].id)
    embargoed = str(seeded["edge-embargoed"].id)
    assert released in listed
    assert (embargoed in listed) == (role in ("admin", "key_bm29"))


# -- references to other entities, and bad credentials ----------------------------------------


def _processed(harness: Harness, input_id: str) -> Any:
    own = harness.world.investigations["own"]
    body = {
        "name": harness.world.unique("processed"),
        "location": "/data/visitor/mx-1001/PROCESSED_DATA",
        "start": datetime.now(UTC).isoformat(),
        "kind": "processed",
        "input_ids": [input_id],
    }
    call = Call("POST", f"/api/v1/investigations/{own.id}/datasets", json=body)
    return harness.request("pi", call)


def test_processed_dataset_inputs_must_exist(harness: Harness) -> None:
    readable_input = str(harness.world.investigations["own"].dataset_id)
    assert _processed(harness, readable_input).status_code == 201
    missing = _processed(harness, "00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 422
    assert missing.json()["field"] == "input_ids.0"


def test_processed_dataset_cannot_name_an_unreadable_input(harness: Harness) -> None:
    # The PI of OWN may not read FOREIGN: its dataset must look like one that does not exist.
    hidden = _processed(harness, str(harness.world.investigations["foreign"].dataset_id))
    assert hidden.status_code == 422, hidden.text
    assert hidden.json()["field"] == "input_ids.0"


NUL_TOKEN = "Bearer cat_00\x00.secret"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer cat_0000000000000000.nosuchsecret",
        "Bearer not-a-token",
        "Basic YTpi",
        "Bearer",
        NUL_TOKEN,
    ],
)
def test_a_bad_credential_is_refused_not_anonymous(
    request: pytest.FixtureRequest, harness: Harness, authorization: str
) -> None:
    public = harness.world.investigations["public"]
    response = harness.client.get(
        f"/api/v1/investigations/{public.id}", headers={"Authorization": authorization}
    )
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
