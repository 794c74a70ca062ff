"""The electronic logbook over HTTP: annotations, broadcasts, machine notifications in bulk,
listings and filters, timelines, edits and their versions, soft delete, tags, attachments,
limits, read-only released logbooks and who may do what.

Each test runs on a SQLite file and on PostgreSQL (`portal`). Every refused write is checked
to leave the store as it was (no event appended, no entry row written).
"""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from catalogue.api.app import create_app
from catalogue.portal import identity, instruments
from catalogue.projections import Status, read_checkpoint, save_checkpoint
from catalogue.readmodels.logbook_projection import LogbookProjection
from catalogue.schema import events, logbook_attachments, logbook_entries
from catalogue.services import Services
from catalogue.settings import Settings
from tests.e2e.portal import (
    CLI,
    EMBARGO_DAYS,
    INSTRUMENT,
    INVESTIGATIONS,
    START,
    Portal,
    add_instrument,
    add_user,
    assert_problem,
    bearer,
    iso,
    parse_time,
)

LOGBOOK = "/api/v1/logbook"
ENTRIES = f"{LOGBOOK}/entries"
NOTIFICATIONS = f"{LOGBOOK}/notifications"
TAGS = f"{LOGBOOK}/tags"
OTHER_BEAMLINE = "BM29"


# -- helpers --------------------------------------------------------------------------------


def written(portal: Portal) -> list[int]:
    """How many events, entry rows and attachment rows the store holds."""
    with portal.store.engine.connect() as connection:
        return [
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (events, logbook_entries, logbook_attachments)
        ]


def post(portal: Portal, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    """POST /entries as the admin, or with other headers on the anonymous client."""
    if headers is None:
        return portal.client.post(ENTRIES, json=body)
    return portal.anonymous.post(ENTRIES, json=body, headers=headers)


def annotate(
    portal: Portal, investigation_id: str, text: str, headers: dict[str, str] | None = None, **body
) -> dict[str, Any]:
    """A new entry in the investigation's logbook (201 asserted)."""
    response = post(portal, headers, investigation_id=investigation_id, text=text, **body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def listing(portal: Portal, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a logbook listing, newest first, following the cursors."""
    return portal.walk(LOGBOOK, **params)


def texts(items: list[dict[str, Any]]) -> list[str | None]:
    return [None if item["content"] is None else item["content"]["text"] for item in items]


def png(width: int, height: int, *, noise: bool = False, seed: int = 1) -> bytes:
    """A PNG picture; with noise it does not compress (for size limits)."""
    if noise:
        raw = random.Random(seed).randbytes(width * height * 3)
        image = Image.frombytes("RGB", (width, height), raw)
    else:
        image = Image.new("RGB", (width, height), (seed * 40 % 256, 120, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def picture(kind: str, width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(out, kind)
    return out.getvalue()


def attach(
    portal: Portal,
    entry_id: str,
    data: bytes,
    filename: str = "sample.png",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    client = portal.client if headers is None else portal.anonymous
    return client.post(
        f"{ENTRIES}/{entry_id}/attachments",
        params={"filename": filename},
        content=data,
        headers={"Content-Type": "application/octet-stream", **(headers or {})},
    )


def define_tag(portal: Portal, **body: Any) -> dict[str, Any]:
    response = portal.client.post(TAGS, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- a cast of callers ----------------------------------------------------------------------

#: username -> role in the investigation (None: not a participant)
PEOPLE = {
    "bob": "principal_investigator",
    "carol": "co_investigator",
    "lou": "local_contact",
    "col": "collaborator",
    "stan": None,
    "sam": None,  # the beamline's scientist
}


@dataclass
class Cast:
    """An embargoed investigation on ID23-1 with its participants, and a token per caller."""

    investigation: dict[str, Any]
    tokens: dict[str, str]
    key_id: str

    @property
    def id(self) -> str:
        return str(self.investigation["id"])

    def headers(self, who: str) -> dict[str, str]:
        """The caller's Authorization header (none for `anonymous`)."""
        return {} if who == "anonymous" else bearer(self.tokens[who])


def make_cast(portal: Portal, proposal: str = "MX-2345", **fields: Any) -> Cast:
    tokens = {"alice": portal.admin.token}
    for username in PEOPLE:
        tokens[username] = add_user(portal.store, username).token
    instruments.add_scientist(portal.store, CLI, INSTRUMENT, "sam")
    add_instrument(portal.store, OTHER_BEAMLINE)
    key = instruments.issue_api_key(portal.store, CLI, INSTRUMENT, "bliss", None)
    tokens["key"] = key.token
    tokens["other_key"] = instruments.issue_api_key(
        portal.store, CLI, OTHER_BEAMLINE, "bliss", None
    ).token
    investigation = portal.create_investigation(proposal, **fields)
    for username, role in PEOPLE.items():
        if role is not None:
            response = portal.client.put(
                f"{INVESTIGATIONS}/{investigation['id']}/participants/{username}",
                json={"role": role},
            )
            assert response.status_code == 200, response.text
    return Cast(investigation, tokens, key.credential_id)


def release_now(portal: Portal, investigation_id: str) -> None:
    """Move the investigation's release date to the past: its data (and logbook) is open."""
    past = datetime.now(UTC) - timedelta(hours=1)
    response = portal.client.patch(
        f"{INVESTIGATIONS}/{investigation_id}", json={"release_date": iso(past)}
    )
    assert response.status_code == 200, response.text


# -- annotations ----------------------------------------------------------------------------


def test_annotations_in_text_markdown_and_html_are_stored_and_rendered_safe(portal):
    cast = make_cast(portal)
    plain = post(portal, investigation_id=cast.id, text="Crystal 3 mounted")
    assert plain.status_code == 201, plain.text
    entry = plain.json()
    assert plain.headers["Location"] == f"{ENTRIES}/{entry['id']}"
    assert plain.headers["ETag"] == '"1"'
    assert entry["kind"] == "annotation"
    assert entry["category"] == "comment"
    assert entry["author"] == "user:alice"
    assert entry["instrument"] == INSTRUMENT
    assert entry["investigation_id"] == cast.id
    assert entry["content"] == {
        "text": "Crystal 3 mounted",
        "markup": None,
        "source": None,
        "html": None,
    }
    assert (entry["version"], entry["content_version"], entry["deleted"]) == (1, 1, False)

    markdown = annotate(
        portal, cast.id, "", markdown="Diffracts to **1.8 Å**", category="info", software="mxcube"
    )
    assert markdown["category"] == "info"
    assert markdown["software"] == "mxcube"
    assert markdown["content"]["markup"] == "markdown"
    assert markdown["content"]["source"] == "Diffracts to **1.8 Å**"
    assert "<strong>1.8 Å</strong>" in markdown["content"]["html"]

    source = '<p>See <a href="https://example.org/run">the run</a> and <blink>this</blink></p>'

    html = annotate(portal, cast.id, "", html=source)["content"]
    assert html["markup"] == "html"
    assert html["source"] == source
    # Unknown elements are unwrapped, links made safe to follow.
    assert "<blink>" not in html["html"]
    assert "this" in html["html"]
    assert 'rel="noopener noreferrer nofollow"' in html["html"]

    fetched = portal.client.get(f"{ENTRIES}/{entry['id']}")
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == '"1"'
    assert fetched.json()["content"]["text"] == "Crystal 3 mounted"


XSS = [
    ("html", "<script>alert(1)</script>"),
    ("html", '<img src="https://evil.example/x.png">'),
    ("html", '<p onmouseover="alert(1)">hover</p>'),
    ("html", '<a href="javascript:alert(1)">click</a>'),
    ("html", '<a href="jav&#x09;ascript:alert(1)">click</a>'),
    ("html", "<iframe src='https://evil.example'></iframe>"),
    ("html", '<p style="background:url(https://evil.example/t.png)">x</p>'),
    ("markdown", "fine *text* <script>alert(1)</script>"),
    ("markdown", "![tracker](https://evil.example/pixel.png)"),
]


def test_rich_text_with_scripts_or_external_resources_is_422_and_writes_nothing(portal):
    investigation = portal.create_investigation()
    before = written(portal)
    for markup, source in XSS:
        response = post(portal, investigation_id=investigation["id"], **{markup: source})
        assert_problem(response, 422, "invalid-value", field=f"content.{markup}")
    assert written(portal) == before


def test_empty_content_and_both_rich_formats_are_refused(portal):
    investigation = portal.create_investigation()
    before = written(portal)
    empty = post(portal, investigation_id=investigation["id"], text="   ")
    assert_problem(empty, 422, "invalid-value", field="content")
    both = post(portal, investigation_id=investigation["id"], markdown="a", html="<p>b</p>")
    assert_problem(both, 422, "validation-error")
    nowhere = post(portal, text="where am I?")
    assert_problem(nowhere, 422, field="investigation_id")
    assert written(portal) == before


# -- broadcasts -----------------------------------------------------------------------------


def test_broadcasts_are_for_admins_and_shown_within_each_investigations_period(portal):
    cast = make_cast(portal)
    before = written(portal)
    for who in ("sam", "bob", "key"):
        refused = post(portal, cast.headers(who), kind="broadcast", text="Beam is back")
        assert_problem(refused, 403, "forbidden")
    assert_problem(post(portal, {}, kind="broadcast", text="x"), 401, "unauthenticated")
    tied = post(portal, kind="broadcast", text="x", investigation_id=cast.id)
    assert_problem(tied, 422, field="investigation_id")
    assert written(portal) == before

    # The investigation runs from START to START + 2 days.
    moments = {
        "before": START - timedelta(hours=1),
        "at start": START,
        "during": START + timedelta(days=1),
        "at end": START + timedelta(days=2),
        "after": START + timedelta(days=2, seconds=1),
    }
    for label, moment in moments.items():
        made = post(portal, kind="broadcast", category="info", text=label, time=iso(moment))
        assert made.status_code == 201, made.text
        assert made.json()["investigation_id"] is None
        assert made.json()["instrument"] is None
    own = annotate(portal, cast.id, "own entry", time=iso(START + timedelta(hours=5)))

    shown = listing(portal, investigation=cast.id)
    assert texts(shown) == ["at end", "during", "own entry", "at start"]
    # A participant sees the same; the broadcasts can be left out or asked for alone.
    as_bob = portal.anonymous.get(
        LOGBOOK, params={"investigation": cast.id}, headers=cast.headers("bob")
    )
    assert texts(as_bob.json()["items"]) == texts(shown)
    assert [e["id"] for e in listing(portal, investigation=cast.id, include_broadcasts=False)] == [
        own["id"]
    ]
    assert texts(listing(portal, investigation=cast.id, kind="broadcast")) == [
        "at end",
        "during",
        "at start",
    ]
    # The facility's own logbook: every broadcast, to anyone.
    everyone = portal.anonymous.get(LOGBOOK)
    assert everyone.status_code == 200
    assert texts(everyone.json()["items"]) == ["after", "at end", "during", "at start", "before"]


# -- machine notifications ------------------------------------------------------------------


def test_beamline_api_key_posts_notifications_not_annotations(portal):
    cast = make_cast(portal)
    key = cast.headers("key")
    made = post(
        portal,
        key,
        kind="notification",
        category="commandLine",
        investigation_id=cast.id,
        id="bliss:000001",
        text="ascan samy 0 1 10 0.1",
        software="bliss 2.1",
        machine="lid231",
    )
    assert made.status_code == 201, made.text
    entry = made.json()
    assert entry["author"] == f"api-key:{INSTRUMENT}/{cast.key_id}"
    assert (entry["kind"], entry["client_id"]) == ("notification", "bliss:000001")
    assert (entry["software"], entry["machine"]) == ("bliss 2.1", "lid231")

    # The same client id again is the same entry, unchanged.
    before = written(portal)
    again = post(
        portal, key, kind="notification", investigation_id=cast.id, id="bliss:000001", text="x"
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == entry["id"]
    assert again.json()["content"]["text"] == "ascan samy 0 1 10 0.1"
    assert written(portal) == before

    # Machines notify; people annotate.
    assert_problem(post(portal, key, investigation_id=cast.id, text="hi"), 403, "forbidden")
    for who in ("bob", "carol", "lou", "col"):
        refused = post(
            portal, cast.headers(who), kind="notification", investigation_id=cast.id, text="x"
        )
        assert_problem(refused, 403, "forbidden")
    # Another beamline's key cannot see this embargoed investigation at all.
    other = post(
        portal, cast.headers("other_key"), kind="notification", investigation_id=cast.id, text="x"
    )
    assert_problem(other, 404, "not-found")
    assert written(portal) == before

    # Without an investigation, a key's bulk post goes to its beamline's own logbook.
    bulk = portal.anonymous.post(
        NOTIFICATIONS, json={"entries": [{"id": "machine:1", "text": "ring refill"}]}, headers=key
    )
    assert bulk.status_code == 200, bulk.text
    beamline = portal.client.get(f"{ENTRIES}/{bulk.json()['ids'][0]}").json()
    assert (beamline["investigation_id"], beamline["instrument"]) == (None, INSTRUMENT)
    assert beamline["category"] == "info"


def _notifications(numbers: range, investigation_id: str) -> dict[str, Any]:
    return {
        "entries": [
            {
                "id": f"bliss:scan:{n:05d}",
                "investigation_id": investigation_id,
                "category": "commandLine",
                "text": f"ascan samy 0 1 10 0.1 # scan {n}",
                "time": iso(START + timedelta(seconds=n)),
            }
            for n in numbers
        ]
    }


def test_full_text_totals_are_a_lower_bound_while_more_pages_follow(portal):
    cast = make_cast(portal)
    key = cast.headers("key")
    for numbers in (range(6), range(6, 7)):
        response = portal.anonymous.post(
            NOTIFICATIONS, json=_notifications(numbers, cast.id), headers=key
        )
        assert response.status_code == 200, response.text
    query = {"investigation": cast.id, "include_broadcasts": "false", "limit": 5}
    every = portal.client.get(LOGBOOK, params=query).json()
    assert (every["total"], every["total_exact"]) == (7, True)
    matching = portal.client.get(LOGBOOK, params={**query, "q": "ascan"}).json()
    assert (matching["total"], matching["total_exact"]) == (5, False)
    assert len(matching["items"]) == 5
    assert matching["next_cursor"] is not None
    one = portal.client.get(LOGBOOK, params={**query, "q": '"scan 6"'}).json()
    assert (one["total"], one["total_exact"]) == (1, True)
    # Walking a search page by page gives every match once, newest first.
    walked = portal.walk(LOGBOOK, **{**query, "q": "ascan", "limit": 2})
    assert [e["client_id"] for e in walked] == [f"bliss:scan:{n:05d}" for n in range(6, -1, -1)]


def test_bulk_notifications_are_idempotent_by_client_id(portal):
    cast = make_cast(portal)
    key = cast.headers("key")
    first = portal.anonymous.post(
        NOTIFICATIONS, json=_notifications(range(1000), cast.id), headers=key
    )
    assert first.status_code == 200, first.text
    result = first.json()
    assert (result["created"], result["existing"]) == (1000, 0)
    assert len(set(result["ids"])) == 1000

    before = written(portal)
    repeat = portal.anonymous.post(
        NOTIFICATIONS, json=_notifications(range(1000), cast.id), headers=key
    )
    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == {"ids": result["ids"], "created": 0, "existing": 1000}
    assert written(portal) == before

    overlap = portal.anonymous.post(
        NOTIFICATIONS, json=_notifications(range(500, 1500), cast.id), headers=key
    )
    assert overlap.status_code == 200, overlap.text
    assert (overlap.json()["created"], overlap.json()["existing"]) == (500, 500)
    assert overlap.json()["ids"][:500] == result["ids"][500:]
    assert not set(overlap.json()["ids"][500:]) & set(result["ids"])
    page = portal.client.get(LOGBOOK, params={"investigation": cast.id, "limit": 1})
    assert page.json()["total"] == 1500
    assert page.json()["items"][0]["client_id"] == "bliss:scan:01499"
    assert written(portal)[1] == 1500


def test_bulk_ids_survive_a_rotation_of_the_beamlines_api_key(portal):
    cast = make_cast(portal)
    first = portal.anonymous.post(
        NOTIFICATIONS, json=_notifications(range(5), cast.id), headers=cast.headers("key")
    )
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 5
    # The beamline's control system gets a new key; the old one is revoked.
    second_key = instruments.issue_api_key(portal.store, CLI, INSTRUMENT, "bliss 2", None)
    identity.revoke_credential(portal.store, CLI, cast.key_id)
    assert_problem(
        portal.anonymous.post(
            NOTIFICATIONS, json=_notifications(range(5), cast.id), headers=cast.headers("key")
        ),
        401,
    )
    before = written(portal)
    # A retry of the same request with the new key finds the entries already posted.
    retry = portal.anonymous.post(
        NOTIFICATIONS, json=_notifications(range(5), cast.id), headers=bearer(second_key.token)
    )
    assert retry.status_code == 200, retry.text
    assert retry.json() == {"ids": first.json()["ids"], "created": 0, "existing": 5}
    assert written(portal) == before
    one = post(
        portal,
        bearer(second_key.token),
        kind="notification",
        investigation_id=cast.id,
        id="bliss:scan:00003",
        text="a retry of one",
    )
    assert one.status_code == 200, one.text
    assert one.json()["id"] == first.json()["ids"][3]
    # Each entry keeps the key that wrote it as its author.
    assert one.json()["author"] == f"api-key:{INSTRUMENT}/{cast.key_id}"
    assert written(portal) == before
    # New client ids with the new key are new entries.
    fresh = portal.anonymous.post(
        NOTIFICATIONS, json=_notifications(range(5, 7), cast.id), headers=bearer(second_key.token)
    )
    assert (fresh.json()["created"], fresh.json()["existing"]) == (2, 0)


def logbook_checkpoint(portal: Portal, status: Status) -> None:
    """Mark the logbook projection live, or being rebuilt, at its current position."""
    with portal.store.engine.begin() as connection:
        position = read_checkpoint(connection, LogbookProjection.name).position
        save_checkpoint(connection, LogbookProjection.name, position, status)


def test_posting_while_the_logbook_is_rebuilt_is_503_and_writes_nothing(portal):
    cast = make_cast(portal)
    annotate(portal, cast.id, "before the rebuild")
    logbook_checkpoint(portal, Status.REBUILDING)
    before = written(portal)
    refusals = {
        "annotation": post(portal, cast.headers("bob"), investigation_id=cast.id, text="x"),
        "notification": post(
            portal,
            cast.headers("key"),
            kind="notification",
            investigation_id=cast.id,
            id="bliss:1",
            text="x",
        ),
        "bulk": portal.anonymous.post(
            NOTIFICATIONS, json=_notifications(range(3), cast.id), headers=cast.headers("key")
        ),
        "broadcast": post(portal, kind="broadcast", text="x"),
    }
    for what, response in refusals.items():
        assert response.status_code == 503, (what, response.text)
        assert_problem(response, 503, "store-error")
    assert written(portal) == before
    # Once the read model is live again, the same posts go through.
    logbook_checkpoint(portal, Status.LIVE)
    retried = portal.anonymous.post(
        NOTIFICATIONS, json=_notifications(range(3), cast.id), headers=cast.headers("key")
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["created"] == 3


def test_more_than_1000_notifications_in_one_request_is_422_and_writes_nothing(portal):
    investigation = portal.create_investigation()
    key = instruments.issue_api_key(portal.store, CLI, INSTRUMENT, "bliss", None)
    before = written(portal)
    response = portal.anonymous.post(
        NOTIFICATIONS,
        json=_notifications(range(1001), investigation["id"]),
        headers=bearer(key.token),
    )
    assert_problem(response, 422, "validation-error", field="entries")
    assert written(portal) == before


BAD_ENTRIES = [
    # (index, bad fields, status, field named)
    (5, {"tags": ["no-such-tag"]}, 422, "entries.5.tags.0"),
    (7, {"html": "<script>alert(1)</script>"}, 422, "entries.7.content.html"),
    (2, {"text": " "}, 422, "entries.2.content"),
    (9, {"id": "has spaces"}, 422, "entries.9.id"),
    (4, {"id": "bliss:scan:00001"}, 422, "entries.4.id"),  # the same id twice in one request
    (3, {"investigation_id": "00000000-0000-4000-8000-000000000000"}, 404, "entries.3"),
    (6, {"machine": "two\nlines"}, 422, "entries.6.machine"),
    (8, {"category": "gossip"}, 422, "body.entries.8.category"),
]


def test_one_bad_notification_refuses_the_whole_batch_naming_it(portal):
    cast = make_cast(portal)
    before = written(portal)
    named = {}
    for index, bad, status, field in BAD_ENTRIES:
        body = _notifications(range(10), cast.id)
        body["entries"][index].update(bad)
        response = portal.anonymous.post(NOTIFICATIONS, json=body, headers=cast.headers("key"))
        problem = assert_problem(response, status)
        named[field] = field in {
            problem.get("field"),
            *(error["field"] for error in problem.get("errors", [])),
        }
        assert written(portal) == before, bad
    assert named == dict.fromkeys(named, True)
    # The batch without a bad entry goes through, all of it.
    fine = portal.anonymous.post(
        NOTIFICATIONS, json=_notifications(range(10), cast.id), headers=cast.headers("key")
    )
    assert fine.status_code == 200, fine.text
    assert fine.json()["created"] == 10


def test_dataset_of_another_investigation_is_422(portal):
    investigation = portal.create_investigation()
    other = portal.create_investigation("MX-9")
    dataset = portal.create_dataset(other["id"], "elsewhere")
    before = written(portal)
    response = post(
        portal, investigation_id=investigation["id"], text="x", dataset_id=dataset["id"]
    )
    assert_problem(response, 422, "invalid-value", field="dataset_id")
    assert written(portal) == before


def test_a_beamline_entry_naming_an_unknown_dataset_is_422_and_writes_nothing(portal):
    cast = make_cast(portal)
    dataset = portal.create_dataset(cast.id, "scan1")
    before = written(portal)
    for dataset_id in (str(uuid.uuid4()), dataset["id"]):
        # Outside any investigation there is no dataset to name: an unknown one, or one of
        # an investigation, is refused alike.
        for headers in (None, cast.headers("sam")):
            refused = post(portal, headers, instrument=INSTRUMENT, text="x", dataset_id=dataset_id)
            assert_problem(refused, 422, "invalid-value", field="dataset_id")
        bulk = portal.anonymous.post(
            NOTIFICATIONS,
            json={"entries": [{"id": "ring:1", "text": "refill", "dataset_id": dataset_id}]},
            headers=cast.headers("key"),
        )
        assert_problem(bulk, 422, "invalid-value", field="entries.0.dataset_id")
    assert written(portal) == before
    made = post(portal, instrument=INSTRUMENT, text="x")
    assert made.status_code == 201, made.text
    assert made.json()["dataset_id"] is None


# -- listing, paging, filters, timeline -----------------------------------------------------


def test_listing_is_newest_first_and_keyset_pages_cover_it_exactly_once(portal):
    investigation = portal.create_investigation()
    moments = [START + timedelta(minutes=7 * (n % 5)) for n in range(23)]  # many ties
    # Times a microsecond apart, and one given in another time zone.
    moments += [START + timedelta(minutes=7, microseconds=n) for n in (1, 2, 999_999)]
    for n, moment in enumerate(moments):
        annotate(portal, investigation["id"], f"entry {n}", time=iso(moment))
    eastern = timezone(timedelta(hours=9))
    annotate(
        portal,
        investigation["id"],
        "tokyo",
        time=iso((START + timedelta(minutes=14)).astimezone(eastern)),
    )
    for n in range(3):
        made = post(
            portal,
            kind="broadcast",
            text=f"broadcast {n}",
            time=iso(START + timedelta(minutes=3 + 7 * n)),
        )
        assert made.status_code == 201
    count = 30
    whole = portal.client.get(
        LOGBOOK, params={"investigation": investigation["id"], "limit": 1000}
    ).json()
    assert whole["next_cursor"] is None
    assert whole["total"] == count
    keys = [(parse_time(e["time"]), e["position"]) for e in whole["items"]]
    # Newest first; among entries of the same time, the later posted first.
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == count
    posted = [(moment, f"entry {n}") for n, moment in enumerate(moments)]
    posted.append((START + timedelta(minutes=14), "tokyo"))
    posted += [(START + timedelta(minutes=3 + 7 * n), f"broadcast {n}") for n in range(3)]
    order = sorted(range(count), key=lambda i: (posted[i][0], i), reverse=True)
    assert texts(whole["items"]) == [posted[i][1] for i in order]
    for limit in (1, 4, 7, 29, 30):
        pages, cursor = [], None
        while True:
            params = {"investigation": investigation["id"], "limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            page = portal.client.get(LOGBOOK, params=params).json()
            assert len(page["items"]) <= limit
            assert page["total"] == count
            pages.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        walked = [e["id"] for items in pages for e in items]
        assert walked == [e["id"] for e in whole["items"]], limit
        assert len(pages) == -(-count // limit)
    bad = portal.client.get(
        LOGBOOK, params={"investigation": investigation["id"], "cursor": "bm9wZQ"}
    )
    assert_problem(bad, 400, "invalid-query", field="cursor")


@dataclass
class FilterWorld:
    cast: Cast
    dataset_id: str
    #: label -> entry id
    ids: dict[str, str]

    def labels(self, items: list[dict[str, Any]]) -> list[str]:
        by_id = {entry_id: label for label, entry_id in self.ids.items()}
        return [by_id[item["id"]] for item in items]


def make_filter_world(portal: Portal) -> FilterWorld:
    """Seven entries and a broadcast over two days, with tags, a dataset, three authors."""
    cast = make_cast(portal)
    dataset = portal.create_dataset(cast.id, "scan1")
    define_tag(portal, instrument=INSTRUMENT, name="beam", colour="#e53935")
    define_tag(portal, investigation_id=cast.id, name="interlock")
    bob, key = cast.headers("bob"), cast.headers("key")
    day = timedelta(days=1)
    ids: dict[str, str] = {}

    def add(label: str, headers: dict[str, str] | None, moment: datetime | str, **body: Any):
        when = moment if isinstance(moment, str) else iso(moment)
        response = post(portal, headers, investigation_id=cast.id, time=when, **body)
        assert response.status_code == 201, response.text
        ids[label] = response.json()["id"]

    add(
        "e1",
        None,
        START + timedelta(hours=1),
        text="Beam lost during the lysozyme scan",
        tags=["beam"],
    )
    add(
        "e2",
        bob,
        START + timedelta(hours=2),
        category="info",
        markdown="Crystal **lysozyme** diffracts to 1.8 Å",
        dataset_id=dataset["id"],
    )
    add(
        "e3",
        key,
        START + timedelta(hours=3),
        kind="notification",
        category="commandLine",
        text="ascan samy 0 1 10 0.1",
        dataset_id=dataset["id"],
    )
    add(
        "e4",
        key,
        START + day + timedelta(hours=1),
        kind="notification",
        category="error",
        text="Beam lost: interlock tripped",
        tags=["beam", "interlock"],
    )
    # 23:00 UTC on the second day, written with a +02:00 offset (already the third day there).
    add(
        "e5",
        key,
        "2026-11-26T01:00:00+02:00",
        kind="notification",
        category="debug",
        text="motor samy position 1.25",
    )
    add("e6", bob, START + day + timedelta(hours=3), html="<p>The <em>lost</em> beam came back</p>")
    add("e7", bob, START + timedelta(hours=4), text="beam lost, deleted note")
    deleted = portal.client.delete(f"{ENTRIES}/{ids['e7']}", params={"reason": "duplicate"})
    assert deleted.status_code == 200, deleted.text
    broadcast = post(
        portal,
        kind="broadcast",
        category="info",
        text="Machine: beam lost facility-wide",
        time=iso(START + timedelta(hours=5)),
    )
    assert broadcast.status_code == 201, broadcast.text
    ids["b1"] = broadcast.json()["id"]
    return FilterWorld(cast, dataset["id"], ids)


SINCE_DAY_2 = iso(START + timedelta(days=1))
#: (query parameters, the entries listed, newest first)
FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["e5", "e6", "e4", "b1", "e3", "e2", "e1"]),
    ({"kind": "annotation"}, ["e6", "e2", "e1"]),
    ({"kind": "notification"}, ["e5", "e4", "e3"]),
    ({"kind": "broadcast"}, ["b1"]),
    ({"kind": ["annotation", "broadcast"]}, ["e6", "b1", "e2", "e1"]),
    ({"category": "error"}, ["e4"]),
    ({"category": ["comment", "info"]}, ["e6", "b1", "e2", "e1"]),
    ({"tag": "beam"}, ["e4", "e1"]),
    ({"tag": ["beam", "interlock"]}, ["e4"]),
    ({"tag": "nothing-tagged"}, []),
    ({"dataset": "<dataset>"}, ["e3", "e2"]),
    ({"author": "user:bob"}, ["e6", "e2"]),
    ({"author": "user:bob", "include_deleted": "true"}, ["e6", "e7", "e2"]),
    ({"author": "<key>"}, ["e5", "e4", "e3"]),
    ({"since": SINCE_DAY_2}, ["e5", "e6", "e4"]),
    ({"until": SINCE_DAY_2}, ["b1", "e3", "e2", "e1"]),
    (
        {"since": iso(START + timedelta(hours=2)), "until": iso(START + timedelta(hours=3))},
        ["e2"],
    ),
    ({"q": "beam lost"}, ["e6", "e4", "b1", "e1"]),
    ({"q": "BEAM Lost"}, ["e6", "e4", "b1", "e1"]),
    ({"q": '"beam lost"'}, ["e4", "b1", "e1"]),
    ({"q": '"lost beam"'}, ["e6"]),
    ({"q": "lyso*"}, ["e2", "e1"]),
    ({"q": "lysozyme"}, ["e2", "e1"]),  # e2's word is in its Markdown only
    ({"q": "beam -interlock"}, ["e6", "b1", "e1"]),
    ({"q": "beam -interlock -machine"}, ["e6", "e1"]),
    ({"q": "samy"}, ["e5", "e3"]),
    ({"q": '"ascan samy"'}, ["e3"]),
    ({"q": "strong"}, []),  # markup is not text
    ({"q": "deleted"}, []),
    # A search never looks into deleted entries, even when they are listed.
    ({"q": "deleted", "include_deleted": "true"}, []),
    ({"q": "beam", "kind": "notification", "category": "error"}, ["e4"]),
    ({"q": "lost", "since": SINCE_DAY_2}, ["e6", "e4"]),
    ({"q": "beam", "include_broadcasts": "false"}, ["e6", "e4", "e1"]),
]


def test_filters_narrow_the_listing_alike_on_both_databases(portal):
    world = make_filter_world(portal)
    key_author = f"api-key:{INSTRUMENT}/{world.cast.key_id}"
    mismatches = []
    for params, expected in FILTERS:
        query = {"investigation": world.cast.id, "limit": 3}
        for name, value in params.items():
            if value == "<dataset>":
                value = world.dataset_id
            elif value == "<key>":
                value = key_author
            query[name] = value
        got = world.labels(listing(portal, **query))
        first = portal.client.get(LOGBOOK, params={**query, "limit": 1000}).json()
        if got != expected or first["total"] != len(expected):
            mismatches.append((params, expected, got, first["total"]))
    assert mismatches == []
    # A deleted entry listed on request shows no content; only who may restore it (its
    # author, a local contact, an admin) may still open its content and versions.
    items = listing(portal, investigation=world.cast.id, include_deleted="true", author="user:bob")
    gone = [e for e in items if e["deleted"]]
    assert [(e["deleted_reason"], e["content"]) for e in gone] == [("duplicate", None)]
    path = f"{ENTRIES}/{gone[0]['id']}"
    for who in ("carol", "col"):
        opened = portal.anonymous.get(path, headers=world.cast.headers(who))
        assert opened.status_code == 200, opened.text
        assert (opened.json()["deleted"], opened.json()["content"]) == (True, None)
        versions = portal.anonymous.get(f"{path}/versions", headers=world.cast.headers(who))
        assert_problem(versions, 404, "not-found")
    for who in ("bob", "lou"):
        opened = portal.anonymous.get(path, headers=world.cast.headers(who))
        assert opened.json()["content"]["text"] == "beam lost, deleted note"
        versions = portal.anonymous.get(f"{path}/versions", headers=world.cast.headers(who))
        assert versions.status_code == 200, versions.text


#: (entry text, a query of words in it): each query finds its own entry and no other. The
#: query syntax is words of letters and digits, so `ID23-1` is the phrase `id23 1`.
WORDS_IN_TEXT = [
    ("Crystal mounted on the goniometer", "goniometer"),
    ("Faisceau perdu", "faisc*"),
    ("Beam back on ID23-1 after refill", "ID23-1"),
    ("Resolution 1.8 reached", "1.8"),
    ("Saved /data/visitor/mx2345/scan1.h5", "visitor"),
    ("Restarted the daemon on lid231.esrf.fr", "esrf"),
    ("Ask bob@example.org for the key", "example"),
    ("Réglage du monochromateur", "reglage"),
]


@pytest.mark.parametrize(
    "database_url",
    [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ],
    indirect=True,
)
def test_full_text_finds_words_in_identifiers_numbers_paths_and_without_accents(portal):
    investigation = portal.create_investigation()
    ids = {text: annotate(portal, investigation["id"], text)["id"] for text, _ in WORDS_IN_TEXT}
    found = {
        query: [e["id"] for e in listing(portal, investigation=investigation["id"], q=query)]
        for _, query in WORDS_IN_TEXT
    }
    # The plain text and the rich text are read as one text, alike on both databases.
    both = annotate(portal, investigation["id"], "the beam", markdown="lost everything")
    found['"beam lost"'] = texts(
        listing(portal, investigation=investigation["id"], q='"beam lost"')
    )
    assert found == {
        **{query: [ids[text]] for text, query in WORDS_IN_TEXT},
        '"beam lost"': [both["content"]["text"]],
    }


def test_an_investigation_listed_with_another_beamline_is_422_naming_instrument(portal):
    cast = make_cast(portal)
    annotate(portal, cast.id, "on ID23-1")
    for path in (LOGBOOK, f"{LOGBOOK}/timeline"):
        for instrument in (OTHER_BEAMLINE, "NO-SUCH-1"):
            response = portal.client.get(
                path, params={"investigation": cast.id, "instrument": instrument}
            )
            assert_problem(response, 422, field="instrument")
        # Its own beamline named with it is the same listing as without.
        same = portal.client.get(path, params={"investigation": cast.id, "instrument": INSTRUMENT})
        assert same.status_code == 200, same.text
        assert same.json() == portal.client.get(path, params={"investigation": cast.id}).json()


def test_text_queries_that_cannot_be_run_are_refused_naming_q(portal):
    investigation = portal.create_investigation()
    for q, status in (('"unbalanced', 400), ("-only -negated", 400), ("x" * 501, 422)):
        response = portal.client.get(LOGBOOK, params={"investigation": investigation["id"], "q": q})
        assert_problem(response, status, field="q")


def test_timeline_counts_per_category_and_per_utc_day(portal):
    world = make_filter_world(portal)
    timeline = portal.client.get(f"{LOGBOOK}/timeline", params={"investigation": world.cast.id})
    assert timeline.status_code == 200, timeline.text
    assert timeline.json() == {
        "total": 7,
        "categories": {"commandLine": 1, "comment": 2, "debug": 1, "error": 1, "info": 2},
        "days": [
            {
                "day": "2026-11-24",
                "total": 4,
                "categories": {"commandLine": 1, "comment": 1, "info": 2},
            },
            {
                "day": "2026-11-25",
                "total": 3,
                "categories": {"comment": 1, "debug": 1, "error": 1},
            },
        ],
    }
    notifications = portal.client.get(
        f"{LOGBOOK}/timeline",
        params={"investigation": world.cast.id, "kind": "notification", "q": "samy"},
    ).json()
    assert notifications == {
        "total": 2,
        "categories": {"commandLine": 1, "debug": 1},
        "days": [
            {"day": "2026-11-24", "total": 1, "categories": {"commandLine": 1}},
            {"day": "2026-11-25", "total": 1, "categories": {"debug": 1}},
        ],
    }
    with_deleted = portal.client.get(
        f"{LOGBOOK}/timeline", params={"investigation": world.cast.id, "include_deleted": "true"}
    ).json()
    assert with_deleted["total"] == 8
    assert with_deleted["days"][0]["categories"]["comment"] == 2


# -- edits and versions ---------------------------------------------------------------------


def test_edits_keep_every_version_newest_first(portal):
    cast = make_cast(portal)
    entry = annotate(portal, cast.id, "first words", headers=cast.headers("bob"))
    path = f"{ENTRIES}/{entry['id']}"
    bob = cast.headers("bob")
    second = portal.anonymous.patch(path, json={"text": "second words"}, headers=bob)
    assert second.status_code == 200, second.text
    assert second.headers["ETag"] == '"2"'
    define_tag(portal, investigation_id=cast.id, name="good")
    tagged = portal.anonymous.post(f"{path}/tags", json={"add": ["good"]}, headers=bob)
    assert tagged.status_code == 200, tagged.text
    assert tagged.headers["ETag"] == '"3"'
    third = portal.anonymous.patch(
        path,
        json={"markdown": "third *words*", "category": "info"},
        headers={**bob, "If-Match": '"3"'},
    )
    assert third.status_code == 200, third.text
    body = third.json()
    assert (body["version"], body["content_version"], body["category"]) == (4, 4, "info")
    assert body["content"]["html"] == "<p>third <em>words</em></p>\n"
    assert body["tags"] == ["good"]

    versions = portal.client.get(f"{path}/versions")
    assert versions.status_code == 200, versions.text
    listed = versions.json()
    assert [(v["version"], v["previous_version"]) for v in listed] == [(4, 2), (2, 1), (1, None)]
    assert [v["content"]["text"] for v in listed] == ["", "second words", "first words"]
    assert listed[0]["content"]["source"] == "third *words*"
    # Each version shows the category it had (an edit that kept it keeps showing it).
    assert [v["category"] for v in listed] == ["info", "comment", "comment"]
    assert {v["written_by"] for v in listed} == {"user:bob"}

    # The same content again is no change: no new version.
    same = portal.anonymous.patch(path, json={"markdown": "third *words*"}, headers=bob)
    assert same.status_code == 200, same.text
    assert same.headers["ETag"] == '"4"'
    assert len(portal.client.get(f"{path}/versions").json()) == 3


def test_an_edit_of_the_category_alone_keeps_the_content(portal):
    cast = make_cast(portal)
    bob = cast.headers("bob")
    entry = annotate(portal, cast.id, "beam lost", headers=bob, markdown="beam **lost**")
    path = f"{ENTRIES}/{entry['id']}"
    recategorised = portal.anonymous.patch(path, json={"category": "error"}, headers=bob)
    assert recategorised.status_code == 200, recategorised.text
    body = recategorised.json()
    assert (body["category"], body["version"]) == ("error", entry["version"] + 1)
    assert recategorised.headers["ETag"] == f'"{entry["version"] + 1}"'
    assert body["content"] == entry["content"]
    versions = portal.client.get(f"{path}/versions").json()
    assert [(v["version"], v["category"]) for v in versions] == [(2, "error"), (1, "comment")]
    assert {v["content"]["source"] for v in versions} == {"beam **lost**"}
    assert [e["id"] for e in listing(portal, investigation=cast.id, category="error")] == [
        entry["id"]
    ]

    # Neither content nor category: refused, nothing written.
    before = written(portal)
    for headers in (bob, {**bob, "If-Match": '"2"'}):
        empty = portal.anonymous.patch(path, json={}, headers=headers)
        assert_problem(empty, 422, "invalid-value", field="body")
    assert written(portal) == before
    assert portal.client.get(path).headers["ETag"] == '"2"'


def test_edit_with_a_stale_if_match_is_412_and_changes_nothing(portal):
    cast = make_cast(portal)
    entry = annotate(portal, cast.id, "original")
    path = f"{ENTRIES}/{entry['id']}"
    assert portal.client.patch(path, json={"text": "edited"}).status_code == 200
    before = written(portal)
    stale = portal.client.patch(path, json={"text": "lost update"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    assert written(portal) == before
    current = portal.client.get(path)
    assert current.json()["content"]["text"] == "edited"
    assert current.headers["ETag"] == '"2"'
    for action in (
        lambda h: portal.client.delete(path, headers=h),
        lambda h: portal.client.post(f"{path}/restore", headers=h),
        lambda h: portal.client.post(f"{path}/tags", json={"remove": ["x"]}, headers=h),
    ):
        assert_problem(action({"If-Match": '"1"'}), 412, "precondition-failed")
    assert written(portal) == before
    fresh = portal.client.patch(path, json={"text": "third"}, headers={"If-Match": '"2"'})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] == '"3"'


def test_notifications_cannot_be_edited(portal):
    cast = make_cast(portal)
    made = post(
        portal, cast.headers("key"), kind="notification", investigation_id=cast.id, text="scan 1"
    )
    assert made.status_code == 201, made.text
    path = f"{ENTRIES}/{made.json()['id']}"
    before = written(portal)
    for headers in ({}, cast.headers("key")):
        client = portal.client if not headers else portal.anonymous
        refused = client.patch(path, json={"text": "rewritten"}, headers=headers)
        assert_problem(refused, 409, "command-rejected")
    assert written(portal) == before
    assert portal.client.get(path).json()["content"]["text"] == "scan 1"
    assert len(portal.client.get(f"{path}/versions").json()) == 1


#: Who may edit, delete and restore bob's annotation: its author, the local contact, an admin.
EDITORS = {
    "bob": 200,
    "lou": 200,
    "alice": 200,
    "carol": 403,  # a co-investigator, but not the author
    "col": 403,
    "sam": 403,  # the beamline's scientist is not the investigation's local contact
    "key": 403,
    "stan": 404,
    "other_key": 404,
    "anonymous": 404,
}


def test_only_the_author_a_local_contact_or_an_admin_may_edit(portal):
    cast = make_cast(portal)
    entry = annotate(portal, cast.id, "v0", headers=cast.headers("bob"))
    path = f"{ENTRIES}/{entry['id']}"
    outcomes = {}
    for who in EDITORS:
        before = written(portal)
        headers = cast.headers(who)
        edit = portal.anonymous.patch(path, json={"text": f"by {who}"}, headers=headers)
        delete = portal.anonymous.delete(path, headers=headers)
        restore = portal.anonymous.post(f"{path}/restore", headers=headers)
        outcomes[who] = (edit.status_code, delete.status_code, restore.status_code)
        if EDITORS[who] != 200:
            assert written(portal) == before, who
        else:
            assert portal.client.get(path).json()["content"]["text"] == f"by {who}"
    assert outcomes == {who: (status,) * 3 for who, status in EDITORS.items()}
    assert portal.client.get(path).json()["deleted"] is False


# -- soft delete ----------------------------------------------------------------------------


def test_soft_delete_hides_an_entry_and_restore_shows_it_again(portal):
    cast = make_cast(portal)
    kept = annotate(portal, cast.id, "kept: crystal diffracts")
    gone = annotate(portal, cast.id, "gone: crystal cracked")
    path = f"{ENTRIES}/{gone['id']}"
    deleted = portal.client.delete(path, params={"reason": "wrong sample"})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"] is True
    assert deleted.json()["deleted_reason"] == "wrong sample"
    assert deleted.headers["ETag"] == '"2"'
    # Deleting again changes nothing.
    assert portal.client.delete(path).headers["ETag"] == '"2"'
    # Editing a deleted entry is refused until it is restored.
    assert_problem(portal.client.patch(path, json={"text": "x"}), 409, "command-rejected")

    assert [e["id"] for e in listing(portal, investigation=cast.id)] == [kept["id"]]
    assert [e["id"] for e in listing(portal, investigation=cast.id, q="crystal")] == [kept["id"]]
    assert listing(portal, investigation=cast.id, q="cracked") == []
    everything = listing(portal, investigation=cast.id, include_deleted="true")
    assert [e["id"] for e in everything] == [gone["id"], kept["id"]]
    assert everything[0]["content"] is None
    assert everything[0]["deleted"] is True
    assert everything[1]["content"]["text"] == "kept: crystal diffracts"
    # A search does not look into deleted entries, even when they are listed.
    assert listing(portal, investigation=cast.id, q="cracked", include_deleted="true") == []
    timeline = portal.client.get(f"{LOGBOOK}/timeline", params={"investigation": cast.id})
    assert timeline.json()["total"] == 1

    restored = portal.client.post(f"{path}/restore")
    assert restored.status_code == 200, restored.text
    assert (restored.json()["deleted"], restored.json()["deleted_reason"]) == (False, None)
    assert restored.headers["ETag"] == '"3"'
    shown = listing(portal, investigation=cast.id, q="cracked")
    assert [e["id"] for e in shown] == [gone["id"]]
    assert shown[0]["content"]["text"] == "gone: crystal cracked"


# -- tags -----------------------------------------------------------------------------------


def test_tags_of_an_investigation_and_of_its_beamline(portal):
    cast = make_cast(portal)
    other = portal.create_investigation("MX-9")
    own = define_tag(
        portal, investigation_id=cast.id, name="sample", colour="#00AA00", description="mounted"
    )
    assert (own["investigation_id"], own["instrument"], own["colour"]) == (cast.id, None, "#00aa00")
    beamline = define_tag(portal, instrument=INSTRUMENT, name="beam")
    assert (beamline["investigation_id"], beamline["instrument"]) == (None, INSTRUMENT)
    define_tag(portal, investigation_id=other["id"], name="elsewhere")

    names = [t["name"] for t in portal.client.get(TAGS, params={"investigation": cast.id}).json()]
    assert names == ["beam", "sample"]
    on_beamline = portal.client.get(TAGS, params={"instrument": INSTRUMENT}).json()
    assert [t["name"] for t in on_beamline] == ["beam"]

    before = written(portal)
    again = portal.client.post(TAGS, json={"investigation_id": cast.id, "name": "sample"})
    assert_problem(again, 409, "already-exists", field="name")
    colour = portal.client.post(
        TAGS, json={"investigation_id": cast.id, "name": "c", "colour": "red"}
    )
    assert_problem(colour, 422, field="colour")
    nowhere = portal.client.post(TAGS, json={"name": "floating"})
    assert_problem(nowhere, 422, field="investigation_id")
    assert_problem(
        portal.anonymous.post(
            TAGS, json={"investigation_id": cast.id, "name": "x"}, headers=cast.headers("col")
        ),
        403,
        "forbidden",
    )
    # A tag of another investigation, or none at all, is unknown here.
    for tags in (["elsewhere"], ["sample", "nonexistent"]):
        unknown = post(portal, investigation_id=cast.id, text="x", tags=tags)
        index = len(tags) - 1
        assert_problem(unknown, 422, "invalid-value", field=f"tags.{index}")
    assert written(portal) == before
    assert_problem(portal.client.get(TAGS), 400, "invalid-query")

    # The beamline's tag is usable in each of its investigations.
    entry = annotate(portal, cast.id, "tagged", tags=["beam", "sample", "beam"])
    assert entry["tags"] == ["beam", "sample"]
    path = f"{ENTRIES}/{entry['id']}/tags"
    changed = portal.client.post(path, json={"add": ["sample"], "remove": ["beam"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["tags"] == ["sample"]
    assert changed.json()["version"] == 2
    before = written(portal)
    unknown = portal.client.post(path, json={"add": ["beam", "elsewhere"]})
    assert_problem(unknown, 422, "invalid-value", field="tags.1")
    assert written(portal) == before
    assert portal.client.get(f"{ENTRIES}/{entry['id']}").json()["tags"] == ["sample"]
    # Adding what is there and removing what is not is no change.
    same = portal.client.post(path, json={"add": ["sample"], "remove": ["beam"]})
    assert same.json()["version"] == 2
    assert written(portal) == before
    assert [e["id"] for e in listing(portal, investigation=cast.id, tag="sample")] == [entry["id"]]
    assert listing(portal, investigation=cast.id, tag="beam") == []

    patched = portal.client.patch(
        f"{TAGS}/{own['id']}", json={"colour": "#123456"}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["colour"], patched.json()["description"]) == ("#123456", "mounted")
    assert patched.headers["ETag"] == '"2"'
    stale = portal.client.patch(
        f"{TAGS}/{own['id']}", json={"description": "x"}, headers={"If-Match": '"1"'}
    )
    assert_problem(stale, 412, "precondition-failed")


def test_a_tag_id_that_is_unknown_or_not_the_callers_answers_the_same_404(portal):
    cast = make_cast(portal)
    tag = define_tag(portal, investigation_id=cast.id, name="secret-sample", colour="#00aa00")
    unknown = str(uuid.uuid4())
    before = written(portal)
    answers = {}
    for who in ("stan", "other_key", "anonymous"):
        for label, tag_id in (("hidden", tag["id"]), ("unknown", unknown)):
            response = portal.anonymous.patch(
                f"{TAGS}/{tag_id}", json={"colour": "#000000"}, headers=cast.headers(who)
            )
            problem = assert_problem(response, 404, "not-found")
            answers[who, label] = problem["detail"]
    assert set(answers.values()) == {"no tag with that id"}, answers
    unknown_to_admin = portal.client.patch(f"{TAGS}/{unknown}", json={"colour": "#000000"})
    assert assert_problem(unknown_to_admin, 404)["detail"] == "no tag with that id"
    assert written(portal) == before
    (kept,) = portal.client.get(TAGS, params={"investigation": cast.id}).json()
    assert kept["colour"] == "#00aa00"


def test_one_tag_name_per_beamline_and_its_investigations(portal):
    cast = make_cast(portal)
    other = portal.create_investigation("MX-9")
    define_tag(portal, instrument=INSTRUMENT, name="beam")
    define_tag(portal, investigation_id=cast.id, name="sample")
    before = written(portal)
    taken = {
        "investigation tag named as the beamline's": {"investigation_id": cast.id, "name": "beam"},
        "another investigation's, named as the beamline's": {
            "investigation_id": other["id"],
            "name": "beam",
        },
        "beamline tag named as an investigation's": {"instrument": INSTRUMENT, "name": "sample"},
    }
    for what, body in taken.items():
        response = portal.client.post(TAGS, json=body)
        assert response.status_code == 409, (what, response.text)
        assert_problem(response, 409, "already-exists", field="name")
    assert written(portal) == before
    names = [t["name"] for t in portal.client.get(TAGS, params={"investigation": cast.id}).json()]
    assert names == ["beam", "sample"]
    # Logbooks that share no entries may use the same name.
    define_tag(portal, investigation_id=other["id"], name="sample")
    define_tag(portal, instrument=OTHER_BEAMLINE, name="beam")


# -- attachments ----------------------------------------------------------------------------


def test_png_and_jpeg_images_are_stored_served_and_thumbnailed(portal):
    cast = make_cast(portal)
    bob = cast.headers("bob")
    entry = annotate(portal, cast.id, "the sample", headers=bob)
    path = f"{ENTRIES}/{entry['id']}"
    # (format, content type, width, height, thumbnail size: at most 256 px, aspect kept)
    images = [
        ("PNG", "image/png", 640, 320, (256, 128)),
        ("JPEG", "image/jpeg", 300, 900, (85, 256)),
        ("PNG", "image/png", 40, 30, (40, 30)),  # small pictures are not enlarged
    ]
    attachments = []
    for kind, content_type, width, height, thumbnail_size in images:
        data = picture(kind, width, height)
        response = attach(portal, entry["id"], data, f"sample.{kind.lower()}", bob)
        assert response.status_code == 201, response.text
        attachment = response.json()
        attachments.append(attachment)
        assert attachment["content_type"] == content_type
        assert (attachment["width"], attachment["height"]) == (width, height)
        assert (attachment["size"], attachment["added_by"]) == (len(data), "user:bob")
        assert attachment["url"] == f"{path}/attachments/{attachment['sha256']}"
        # Served to whoever may read the entry, with the right type, byte for byte.
        served = portal.anonymous.get(attachment["url"], headers=cast.headers("col"))
        assert served.status_code == 200
        assert served.headers["content-type"] == content_type
        assert served.content == data
        thumbnail = portal.anonymous.get(attachment["thumbnail_url"], headers=cast.headers("col"))
        assert thumbnail.status_code == 200
        assert thumbnail.headers["content-type"] == content_type
        with Image.open(io.BytesIO(thumbnail.content)) as image:
            assert (image.format, image.size) == (kind, thumbnail_size)
        assert_problem(portal.anonymous.get(attachment["url"], headers=cast.headers("stan")), 404)

    shown = portal.client.get(path).json()
    assert [a["sha256"] for a in shown["attachments"]] == [a["sha256"] for a in attachments]
    assert shown["version"] == 4
    # The same picture again is no change.
    assert attach(portal, entry["id"], picture("PNG", 640, 320)).status_code == 201
    assert portal.client.get(path).json()["version"] == 4
    # An entry's HTML may show its own attachment (and nothing from elsewhere).
    url = attachments[0]["url"]
    edited = portal.client.patch(path, json={"html": f'<p><img src="{url}" alt="pin"></p>'})
    assert edited.status_code == 200, edited.text
    assert f'src="{url}"' in edited.json()["content"]["html"]
    other = f"{url}".replace(attachments[0]["sha256"], "0" * 64)
    assert other != url
    missing = portal.client.get(other)
    assert_problem(missing, 404, "not-found")


def test_phone_pictures_are_shown_upright_and_mpo_is_a_jpeg(portal):
    cast = make_cast(portal)
    bob = cast.headers("bob")
    entry = annotate(portal, cast.id, "from a phone", headers=bob)
    # 200 x 100 pixels stored, to be shown turned a quarter clockwise (EXIF orientation 6).
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.new("RGB", (200, 100), (10, 200, 30)).save(out, "JPEG", exif=exif)
    sideways = out.getvalue()
    response = attach(portal, entry["id"], sideways, "sideways.jpg", bob)
    assert response.status_code == 201, response.text
    attachment = response.json()
    assert (attachment["content_type"], attachment["width"], attachment["height"]) == (
        "image/jpeg",
        100,
        200,
    )
    assert portal.client.get(attachment["url"]).content == sideways  # the original, as sent
    thumbnail = portal.client.get(attachment["thumbnail_url"])
    assert thumbnail.status_code == 200
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert image.size == (100, 200)

    # A JPEG with a multi-picture extension (as phones write them), which Pillow calls MPO.
    out = io.BytesIO()
    Image.new("RGB", (300, 150), (200, 10, 10)).save(
        out, "MPO", save_all=True, append_images=[Image.new("RGB", (300, 150), (0, 0, 0))]
    )
    mpo = out.getvalue()
    with Image.open(io.BytesIO(mpo)) as opened:
        assert opened.format == "MPO"
    response = attach(portal, entry["id"], mpo, "phone.jpg", bob)
    assert response.status_code == 201, response.text
    attachment = response.json()
    assert (attachment["content_type"], attachment["width"], attachment["height"]) == (
        "image/jpeg",
        300,
        150,
    )
    served = portal.client.get(attachment["url"])
    assert (served.headers["content-type"], served.content) == ("image/jpeg", mpo)
    thumbnail = portal.client.get(attachment["thumbnail_url"])
    assert thumbnail.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert (image.format, image.size) == ("JPEG", (256, 128))


def test_a_deleted_entrys_attachments_are_served_only_to_who_may_restore_it(portal):
    cast = make_cast(portal)
    bob = cast.headers("bob")
    entry = annotate(portal, cast.id, "a picture, then deleted", headers=bob)
    response = attach(portal, entry["id"], png(40, 30), headers=bob)
    assert response.status_code == 201, response.text
    attachment = response.json()
    urls = (attachment["url"], attachment["thumbnail_url"])
    for url in urls:
        assert portal.anonymous.get(url, headers=cast.headers("carol")).status_code == 200
    deleted = portal.anonymous.delete(f"{ENTRIES}/{entry['id']}", headers=bob)
    assert deleted.status_code == 200, deleted.text
    for who, status in (("carol", 404), ("col", 404), ("bob", 200), ("lou", 200), ("alice", 200)):
        for url in urls:
            served = portal.anonymous.get(url, headers=cast.headers(who))
            if status == 404:
                assert_problem(served, 404, "not-found")
            else:
                assert served.status_code == 200, (who, url, served.text)
    assert portal.anonymous.get(urls[0], headers=bob).content == png(40, 30)


#: (what, bytes, status) of uploads that are not a PNG or JPEG picture
NOT_PICTURES = [
    ("gif", picture("GIF", 20, 20), 415),
    ("bmp", picture("BMP", 20, 20), 415),
    ("garbage", b"this is not a picture at all" * 10, 415),
    ("empty", b"", 422),
    ("truncated", png(64, 64)[:60], 422),
]


def test_anything_but_png_or_jpeg_is_refused_and_nothing_is_attached(portal):
    investigation = portal.create_investigation()
    entry = annotate(portal, investigation["id"], "no picture")
    files = portal.services.settings.attachments_dir
    before = written(portal)
    statuses = {
        what: attach(portal, entry["id"], data).status_code for what, data, _ in NOT_PICTURES
    }
    assert statuses == {what: status for what, _, status in NOT_PICTURES}
    assert written(portal) == before
    assert portal.client.get(f"{ENTRIES}/{entry['id']}").json()["attachments"] == []
    assert not files.exists() or not any(p.is_file() for p in files.rglob("*"))


def test_who_may_attach_images(portal):
    cast = make_cast(portal)
    entry = annotate(portal, cast.id, "bob's", headers=cast.headers("bob"))
    before = written(portal)
    for who, status in (("carol", 403), ("col", 403), ("stan", 404), ("anonymous", 404)):
        refused = attach(portal, entry["id"], png(10, 10), headers=cast.headers(who))
        assert_problem(refused, status)
    assert written(portal) == before
    assert attach(portal, entry["id"], png(10, 10), headers=cast.headers("lou")).status_code == 201


# -- limits ---------------------------------------------------------------------------------

ATTACHMENT_LIMIT = 4096
CONTENT_LIMIT = 50


@pytest.fixture
def small_portal(database_url: str, tmp_path: Path) -> Iterator[Portal]:
    """The portal with small logbook limits (built as `make_portal` builds it)."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        embargo_days=EMBARGO_DAYS,
        logbook_max_attachment_bytes=ATTACHMENT_LIMIT,
        logbook_max_content_chars=CONTENT_LIMIT,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        services: Services = app.state.services
        admin = add_user(services.store, "alice", admin=True)
        add_instrument(services.store, INSTRUMENT)
        client.headers.update(bearer(admin.token))
        anonymous = TestClient(app, raise_server_exceptions=False)
        yield Portal(client, anonymous, services, admin)


def test_an_attachment_over_the_limit_is_413_and_nothing_is_attached(small_portal):
    portal = small_portal
    cast = make_cast(portal)
    entry = annotate(portal, cast.id, "pictures")
    big = png(64, 64, noise=True)
    assert len(big) > ATTACHMENT_LIMIT
    files = portal.services.settings.attachments_dir
    before = written(portal)
    assert_problem(attach(portal, entry["id"], big), 413, "too-large")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    # Without a Content-Length the body is counted as it arrives.
    streamed = portal.client.post(
        f"{ENTRIES}/{entry['id']}/attachments", content=chunks(), params={"filename": "big.png"}
    )
    assert_problem(streamed, 413, "too-large")
    assert written(portal) == before
    assert not files.exists() or not any(p.is_file() for p in files.rglob("*"))
    small = png(32, 32)
    assert len(small) <= ATTACHMENT_LIMIT
    assert attach(portal, entry["id"], small).status_code == 201


def test_content_over_the_limit_is_413_and_writes_nothing(small_portal):
    portal = small_portal
    cast = make_cast(portal)
    entry = annotate(portal, cast.id, "x" * CONTENT_LIMIT)
    path = f"{ENTRIES}/{entry['id']}"
    before = written(portal)
    too_long = post(portal, investigation_id=cast.id, text="x" * (CONTENT_LIMIT + 1))
    assert_problem(too_long, 413, "too-large", field="content")
    # Text and rich text count together.
    both = post(portal, investigation_id=cast.id, text="x" * 30, markdown="y" * 30)
    assert_problem(both, 413, "too-large", field="content")
    edit = portal.client.patch(path, json={"markdown": "z" * (CONTENT_LIMIT + 1)})
    assert_problem(edit, 413, "too-large", field="content")
    body = _notifications(range(5), cast.id)
    body["entries"][3]["text"] = "n" * (CONTENT_LIMIT + 1)
    bulk = portal.anonymous.post(NOTIFICATIONS, json=body, headers=cast.headers("key"))
    assert_problem(bulk, 413, "too-large", field="entries.3.content")
    assert written(portal) == before
    assert portal.client.get(path).json()["content"]["text"] == "x" * CONTENT_LIMIT


# -- released logbooks are read-only --------------------------------------------------------


def test_a_released_investigations_logbook_is_read_only_but_readable(portal):
    cast = make_cast(portal)
    bob = cast.headers("bob")
    define_tag(portal, investigation_id=cast.id, name="good")
    entry = annotate(portal, cast.id, "before release", headers=bob)
    path = f"{ENTRIES}/{entry['id']}"
    assert attach(portal, entry["id"], png(20, 20), headers=bob).status_code == 201
    release_now(portal, cast.id)
    before = written(portal)

    refusals = {
        "post": post(portal, bob, investigation_id=cast.id, text="after"),
        "post as admin": post(portal, investigation_id=cast.id, text="after"),
        "notify": portal.anonymous.post(
            NOTIFICATIONS, json=_notifications(range(3), cast.id), headers=cast.headers("key")
        ),
        "edit": portal.anonymous.patch(path, json={"text": "rewritten"}, headers=bob),
        "delete": portal.anonymous.delete(path, headers=bob),
        "restore": portal.client.post(f"{path}/restore"),
        "tag": portal.anonymous.post(f"{path}/tags", json={"add": ["good"]}, headers=bob),
        "attach": attach(portal, entry["id"], png(21, 21), headers=bob),
        "define tag": portal.client.post(TAGS, json={"investigation_id": cast.id, "name": "late"}),
    }
    for action, response in refusals.items():
        assert response.status_code == 409, (action, response.text)
        assert_problem(response, 409, "command-rejected")
    assert "read-only" in refusals["edit"].json()["detail"]
    assert refusals["notify"].json()["field"] == "entries.0"
    assert written(portal) == before

    # Reading goes on, now for anyone; a signed-out reader still may not write.
    for client, headers in ((portal.anonymous, {}), (portal.anonymous, cast.headers("stan"))):
        listed = client.get(LOGBOOK, params={"investigation": cast.id}, headers=headers)
        assert listed.status_code == 200
        assert texts(listed.json()["items"]) == ["before release"]
        assert client.get(path, headers=headers).status_code == 200
        assert client.get(f"{path}/versions", headers=headers).status_code == 200
        attachment = client.get(path, headers=headers).json()["attachments"][0]
        assert client.get(attachment["url"], headers=headers).status_code == 200
        assert (
            client.get(TAGS, params={"investigation": cast.id}, headers=headers).status_code == 200
        )
    assert_problem(post(portal, {}, investigation_id=cast.id, text="hi"), 401, "unauthenticated")
    assert_problem(post(portal, cast.headers("stan"), investigation_id=cast.id, text="hi"), 403)
    assert written(portal) == before


def test_a_released_investigations_tags_cannot_be_changed(portal):
    cast = make_cast(portal)
    tag = define_tag(portal, investigation_id=cast.id, name="good")
    release_now(portal, cast.id)
    before = written(portal)
    response = portal.client.patch(f"{TAGS}/{tag['id']}", json={"colour": "#000000"})
    assert_problem(response, 409, "command-rejected")
    assert written(portal) == before


# -- who may read and write -----------------------------------------------------------------

CALLERS = ("alice", "sam", "bob", "carol", "lou", "col", "stan", "key", "other_key", "anonymous")
#: caller -> (list, annotate, notify, broadcast, define tag) on an embargoed investigation
EMBARGOED = {
    "alice": (200, 201, 201, 201, 201),
    "sam": (200, 201, 201, 403, 201),
    "bob": (200, 201, 403, 403, 201),
    "carol": (200, 201, 403, 403, 201),
    "lou": (200, 201, 403, 403, 201),
    "col": (200, 403, 403, 403, 403),  # collaborators read only
    "stan": (404, 404, 404, 403, 404),
    "key": (200, 403, 201, 403, 201),
    "other_key": (404, 404, 404, 403, 404),
    "anonymous": (404, 404, 404, 401, 404),
}
#: caller -> (list, annotate) on a released investigation they take no part in (its logbook
#: read-only: those who could write get 409, the others what they would get anyway)
RELEASED = {
    "alice": (200, 409),
    "sam": (200, 409),
    "bob": (200, 403),
    "carol": (200, 403),
    "lou": (200, 403),
    "col": (200, 403),
    "stan": (200, 403),
    "key": (200, 403),
    "other_key": (200, 403),
    "anonymous": (200, 401),
}


def test_who_may_read_and_write_an_investigations_logbook(portal):
    cast = make_cast(portal)
    released = portal.create_investigation("MX-OPEN")
    annotate(portal, released["id"], "open entry")
    release_now(portal, released["id"])
    outcomes: dict[str, tuple[int, ...]] = {}
    released_outcomes: dict[str, tuple[int, ...]] = {}
    for n, who in enumerate(CALLERS):
        headers = cast.headers(who)
        before = written(portal)
        listed = portal.anonymous.get(LOGBOOK, params={"investigation": cast.id}, headers=headers)
        annotation = post(portal, headers, investigation_id=cast.id, text=f"note {n}")
        notification = post(
            portal, headers, kind="notification", investigation_id=cast.id, text=f"scan {n}"
        )
        broadcast = post(portal, headers, kind="broadcast", text=f"broadcast {n}")
        tag = portal.anonymous.post(
            TAGS, json={"investigation_id": cast.id, "name": f"tag-{n}"}, headers=headers
        )
        statuses = (
            listed.status_code,
            annotation.status_code,
            notification.status_code,
            broadcast.status_code,
            tag.status_code,
        )
        outcomes[who] = statuses
        if all(status >= 400 for status in statuses[1:]):
            assert written(portal) == before, who
        for response in (annotation, notification, broadcast, tag):
            if response.status_code >= 400:
                assert_problem(response, response.status_code)
        open_list = portal.anonymous.get(
            LOGBOOK, params={"investigation": released["id"]}, headers=headers
        )
        if open_list.status_code == 200:
            assert texts(open_list.json()["items"]) == ["open entry"]
        open_post = post(portal, headers, investigation_id=released["id"], text="late")
        released_outcomes[who] = (open_list.status_code, open_post.status_code)
    assert outcomes == EMBARGOED
    assert released_outcomes == RELEASED


def test_a_beamline_logbook_shows_each_caller_what_they_may_read(portal):
    cast = make_cast(portal)
    released = portal.create_investigation("MX-OPEN")
    annotate(portal, cast.id, "embargoed entry")
    annotate(portal, released["id"], "open entry")
    release_now(portal, released["id"])
    machine = portal.anonymous.post(
        NOTIFICATIONS,
        json={"entries": [{"id": "ring:1", "text": "beamline entry"}]},
        headers=cast.headers("key"),
    )
    assert machine.status_code == 200, machine.text
    expected = {
        "alice": ["beamline entry", "open entry", "embargoed entry"],
        "sam": ["beamline entry", "open entry", "embargoed entry"],
        "key": ["beamline entry", "open entry", "embargoed entry"],
        "bob": ["open entry", "embargoed entry"],
        "stan": ["open entry"],
        "anonymous": ["open entry"],
        "other_key": ["open entry"],
    }
    seen = {}
    for who in expected:
        response = portal.anonymous.get(
            LOGBOOK, params={"instrument": INSTRUMENT}, headers=cast.headers(who)
        )
        assert response.status_code == 200, (who, response.text)
        seen[who] = sorted(texts(response.json()["items"]))
    assert seen == {who: sorted(items) for who, items in expected.items()}
    # Only the beamline's staff may write in (or define tags for) the beamline's own logbook.
    before = written(portal)
    for who, status in (("bob", 404), ("stan", 404), ("anonymous", 404), ("other_key", 404)):
        refused = post(portal, cast.headers(who), instrument=INSTRUMENT, text="x")
        assert_problem(refused, status)
    assert_problem(post(portal, cast.headers("key"), instrument=INSTRUMENT, text="x"), 403)
    assert written(portal) == before
    made = post(portal, cast.headers("sam"), instrument=INSTRUMENT, text="staff note")
    assert made.status_code == 201, made.text
    assert made.json()["investigation_id"] is None
