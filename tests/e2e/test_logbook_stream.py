"""The live logbook (`GET /api/v1/logbook/stream`, Server-Sent Events) over real HTTP.

uvicorn serves the app in a thread on a free port of 127.0.0.1, over a SQLite file and over
PostgreSQL; httpx follows the stream and the messages are parsed here as a browser's
EventSource parses them (`id`/`event`/`data` lines, a blank line ends a message, a line
starting with `:` is a comment). Nothing here asserts on timing: a read waits (up to
`READ_TIMEOUT`) for what must come, and "nothing else came" is shown by a later entry arriving
next.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from catalogue.api import logbook as logbook_api
from catalogue.api.app import create_app
from catalogue.cli import GRACEFUL_SHUTDOWN_SECONDS
from catalogue.portal import instruments
from catalogue.settings import Settings
from tests.conftest import sqlite_database
from tests.e2e.portal import CLI, INSTRUMENT, add_instrument, add_user, assert_problem, bearer

pytestmark = pytest.mark.timeout(180)

LOGBOOK = "/api/v1/logbook"
STREAM = "/api/v1/logbook/stream"
ENTRIES = "/api/v1/logbook/entries"
NOTIFICATIONS = "/api/v1/logbook/notifications"
INVESTIGATIONS = "/api/v1/investigations"
#: How long a read may wait for the next bytes (the stream's keep-alive comes every 15 s).
READ_TIMEOUT = 10.0
#: How long the server may take to start, and to stop once asked.
START_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0
POLL = 0.02
#: The admin, a participant of investigation A, and a user of no investigation.
NAMES = ("alice", "bob", "eve")


# -- a running server -----------------------------------------------------------------------


class LiveServer:
    """The app under uvicorn (configured as `catalogue serve` runs it) in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        # The defaults `uvicorn.run(app, host=..., port=..., log_level=...)` uses in the CLI.
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            )
        )
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        host, port = self.socket.getsockname()
        self.url = f"http://{host}:{port}"
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="uvicorn", daemon=True
        )
        self.clients: list[httpx.Client] = []

    def start(self) -> None:
        """Serve, and wait until the app has started (its lifespan ran)."""
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            assert self.thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)

    @property
    def services(self) -> Any:
        """The running app's services (for accounts, as the operator's CLI makes them)."""
        return self.app.state.services

    def client(self, token: str | None = None) -> httpx.Client:
        """A client of the server, closed when the server stops."""
        client = httpx.Client(
            base_url=self.url,
            headers=bearer(token) if token else {},
            timeout=httpx.Timeout(READ_TIMEOUT),
            trust_env=False,  # never through a proxy from the environment
        )
        self.clients.append(client)
        return client

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT) -> bool:
        """Ask the server to shut down gracefully; whether it stopped within `timeout`."""
        self.server.should_exit = True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def kill(self) -> None:
        """Force the server to stop (skipping the graceful wait for open connections)."""
        self.server.force_exit = True
        self.thread.join(SHUTDOWN_TIMEOUT)


@contextmanager
def serving(settings: Settings) -> Iterator[LiveServer]:
    """A started server, always stopped afterwards (a hanging shutdown fails the test)."""
    server = LiveServer(settings)
    try:
        server.start()
        yield server
    finally:
        for client in server.clients:
            client.close()
        stopped = server.stop()
        if not stopped:
            server.kill()
        server.socket.close()
        if not stopped:
            pytest.fail(
                "uvicorn did not shut down within "
                f"{SHUTDOWN_TIMEOUT} s after every client had disconnected"
            )


# -- reading Server-Sent Events -------------------------------------------------------------


@dataclass
class Message:
    """One dispatched Server-Sent Event."""

    event: str
    data: str
    #: The `id` field of this message's own lines (None if it had none).
    id: str | None

    def json(self) -> Any:
        """The data as JSON."""
        return json.loads(self.data)


@dataclass
class EventStream:
    """A Server-Sent Events parser over a streaming httpx response."""

    response: httpx.Response
    last_event_id: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lines = self.response.iter_lines()

    def _fields(self) -> tuple[list[tuple[str, str]], bool]:
        """The fields of the next block (up to a blank line); False if the stream ended."""
        fields: list[tuple[str, str]] = []
        for line in self._lines:
            if line == "":
                return fields, True
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields.append((name, value.removeprefix(" ")))
        return fields, False

    def open(self) -> int:
        """Read the opening block: the retry delay and the position the stream follows from."""
        fields, _ = self._fields()
        self._apply(fields)
        assert self.comments, "the stream opens with a comment naming its position"
        found = re.fullmatch(r"following from position (\d+)", self.comments[-1])
        assert found, self.comments
        return int(found[1])

    def _apply(self, fields: list[tuple[str, str]]) -> tuple[str, list[str], str | None]:
        event, data, own_id = "message", [], None
        for name, value in fields:
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id" and "\0" not in value:
                self.last_event_id = own_id = value
            elif name == "retry" and value.isdigit():
                self.retry = int(value)
        return event, data, own_id

    def next(self) -> Message:
        """The next message (comments and blocks without data are not messages)."""
        while True:
            fields, more = self._fields()
            event, data, own_id = self._apply(fields)
            if data:
                return Message(event, "\n".join(data), own_id)
            assert more, "the server ended the stream"

    def until_end(self) -> list[Message]:
        """Every message left, up to the server's end of the stream."""
        messages = []
        while True:
            fields, more = self._fields()
            event, data, own_id = self._apply(fields)
            if data:
                messages.append(Message(event, "\n".join(data), own_id))
            if not more:
                return messages

    def entries(self, count: int) -> list[dict[str, Any]]:
        """The next `count` messages, each an `entry` whose id is the entry's position."""
        entries = []
        for _ in range(count):
            message = self.next()
            assert message.event == "entry", message
            entry = message.json()
            assert message.id == str(entry["position"]), message
            entries.append(entry)
        return entries


@contextmanager
def follow(
    client: httpx.Client,
    investigation: str | None = None,
    *,
    last_event_id: str | None = None,
    instrument: str | None = None,
) -> Iterator[EventStream]:
    """Follow a logbook; the connection is closed (the client disconnects) on leaving."""
    params = {
        name: value
        for name, value in (("investigation", investigation), ("instrument", instrument))
        if value is not None
    }
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    with client.stream("GET", STREAM, params=params, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        stream = EventStream(response)
        stream.open()
        yield stream


def refused(
    client: httpx.Client, params: dict[str, str], headers: dict[str, Any]
) -> httpx.Response:
    """A stream request answered by a problem, read in full (no stream may start)."""
    with client.stream("GET", STREAM, params=params, headers=headers) as response:
        started = response.headers["content-type"].startswith("text/event-stream")
        assert not started, f"a stream started ({response.status_code}) instead of a problem"
        response.read()
        return response


# -- the world: a running server, accounts, two investigations -----------------------------


@dataclass
class World:
    """Admin `alice`, participant `bob` of A, `eve` of nothing, the beamline's API key."""

    server: LiveServer
    admin: httpx.Client
    bob: httpx.Client
    eve: httpx.Client
    machine: httpx.Client
    a: str
    b: str
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def annotate(self, investigation: str, text: str, client: httpx.Client | None = None) -> dict:
        """An annotation (201 asserted), as the admin unless another client is given."""
        response = (client or self.admin).post(
            ENTRIES, json={"investigation_id": investigation, "text": text}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def notify(self, investigation: str | None, count: int, prefix: str = "n") -> list[str]:
        """`count` notifications in one bulk post by the beamline's key; their entry ids."""
        items = []
        for _ in range(count):
            number = next(self._ids)
            item = {"id": f"{prefix}-{number}", "text": f"{prefix} scan {number}"}
            if investigation is not None:
                item["investigation_id"] = investigation
            items.append(item)
        response = self.machine.post(NOTIFICATIONS, json={"entries": items})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["created"] == count, body
        return list(body["ids"])

    def entry(self, entry_id: str) -> dict[str, Any]:
        """An entry as GET shows it."""
        response = self.admin.get(f"{ENTRIES}/{entry_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def as_streamed(self, entry_id: str) -> dict[str, Any]:
        """An entry as a stream must carry it: as GET shows it, a deleted one without content."""
        entry = self.entry(entry_id)
        if entry["deleted"]:
            entry.update(content=None, attachments=[])
        return entry


def _investigation(admin: httpx.Client, proposal: str) -> str:
    now = datetime.now(UTC)
    response = admin.post(
        INVESTIGATIONS,
        json={
            "proposal": proposal,
            "instrument": INSTRUMENT,
            "title": f"Investigation {proposal}",
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(days=2)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def settings_for(database_url: str, data_dir: Path, poll: float = POLL) -> Settings:
    """The app's settings over the test database, polling the store's head every `poll` s."""
    return Settings(database_url=database_url, data_dir=data_dir, live_poll_seconds=poll)


@contextmanager
def world_on(settings: Settings) -> Iterator[World]:
    """A running server with its accounts and investigations A (bob's) and B."""
    with serving(settings) as server:
        store = server.services.store
        tokens = {name: add_user(store, name, admin=name == "alice").token for name in NAMES}
        add_instrument(store, INSTRUMENT)
        key = instruments.issue_api_key(store, CLI, INSTRUMENT, "bliss", None).token
        admin = server.client(tokens["alice"])
        a, b = _investigation(admin, "MX-1"), _investigation(admin, "MX-2")
        joined = admin.put(
            f"{INVESTIGATIONS}/{a}/participants/bob", json={"role": "co_investigator"}
        )
        assert joined.status_code == 200, joined.text
        yield World(
            server,
            admin,
            server.client(tokens["bob"]),
            server.client(tokens["eve"]),
            server.client(key),
            a,
            b,
        )


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """The world on a SQLite file and on PostgreSQL."""
    with world_on(settings_for(database_url, tmp_path)) as built:
        yield built


_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def normal(value: Any) -> Any:
    """JSON with its timestamps as instants (`Z` and `+00:00` name the same one)."""
    if isinstance(value, dict):
        return {key: normal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normal(item) for item in value]
    if isinstance(value, str) and _TIME.match(value):
        return datetime.fromisoformat(value)
    return value


def assert_same_entry(streamed: dict[str, Any], expected: dict[str, Any]) -> None:
    """The streamed entry is the entry (same fields, same values)."""
    assert normal(streamed) == normal(expected)


# -- 1. following a logbook -----------------------------------------------------------------


def test_entries_posted_while_following_arrive_in_order_as_entry_messages(world: World) -> None:
    with follow(world.admin, world.a) as stream:
        first = world.annotate(world.a, "Crystal 3 mounted")
        by_bob = world.annotate(world.a, "Diffraction to 1.8 Å", client=world.bob)
        bulk = world.notify(world.a, 3)
        last = world.annotate(world.a, "Moving to the next pin")
        posted = [first["id"], by_bob["id"], *bulk, last["id"]]

        received = stream.entries(len(posted))

    assert [entry["id"] for entry in received] == posted
    positions = [entry["position"] for entry in received]
    assert positions == sorted(set(positions)), "ids (positions) strictly increase"
    assert stream.last_event_id == str(positions[-1])
    assert [entry["kind"] for entry in received] == ["annotation"] * 2 + ["notification"] * 3 + [
        "annotation"
    ]
    assert received[1]["author"] == "user:bob"
    for entry in received:
        assert_same_entry(entry, world.as_streamed(entry["id"]))
    # The POST's own answer and the stream carry the same entry.
    assert_same_entry(received[0], first)


# -- 2. reconnecting with Last-Event-ID -----------------------------------------------------


def test_a_client_reconnecting_with_last_event_id_receives_exactly_what_it_missed(
    world: World,
) -> None:
    a = world.a
    with follow(world.bob, a) as stream:
        e1 = world.annotate(a, "one")["id"]
        e2 = world.annotate(a, "two")["id"]
        e3, e4 = world.notify(a, 2)
        e5 = world.annotate(a, "five")["id"]
        # The client reads three, then goes away (e4 and e5 were sent, or not, but never read).
        seen = stream.entries(3)
        last_id = stream.last_event_id
    assert [entry["id"] for entry in seen] == [e1, e2, e3]
    assert last_id == str(seen[-1]["position"])

    # While it is away: new entries, an edit of one it had, a deletion of another, an entry
    # changed twice, and entries of another investigation.
    e6 = world.annotate(a, "six")["id"]
    world.notify(world.b, 2)
    edited = world.admin.patch(f"{ENTRIES}/{e2}", json={"markdown": "two, *corrected*"})
    assert edited.status_code == 200, edited.text
    (e7,) = world.notify(a, 1)
    deleted = world.admin.delete(f"{ENTRIES}/{e1}", params={"reason": "wrong sample"})
    assert deleted.status_code == 200, deleted.text
    for text in ("six, again", "six, third time"):
        changed = world.admin.patch(f"{ENTRIES}/{e6}", json={"text": text})
        assert changed.status_code == 200, changed.text
    world.annotate(world.b, "elsewhere")

    missed = sorted(
        (world.as_streamed(entry_id) for entry_id in (e1, e2, e4, e5, e6, e7)),
        key=lambda entry: entry["position"],
    )
    with follow(world.bob, a, last_event_id=last_id) as stream:
        received = stream.entries(len(missed))
        assert [entry["id"] for entry in received] == [entry["id"] for entry in missed]
        for got, expected in zip(received, missed, strict=True):
            assert_same_entry(got, expected)
        by_id = {entry["id"]: entry for entry in received}
        assert by_id[e1]["deleted"] is True
        assert by_id[e1]["content"] is None
        assert by_id[e1]["deleted_reason"] == "wrong sample"
        assert by_id[e2]["content"]["source"] == "two, *corrected*"
        assert by_id[e6]["content"]["text"] == "six, third time"

        # Then it continues live; nothing else came between (e3 and B's entries did not).
        e8 = world.annotate(a, "eight")
        (live,) = stream.entries(1)
        assert live["id"] == e8["id"]
        assert live["position"] > received[-1]["position"]


def test_reconnecting_with_the_last_id_of_a_caught_up_stream_replays_nothing(
    world: World,
) -> None:
    with follow(world.admin, world.a) as stream:
        posted = world.notify(world.a, 2)
        assert [entry["id"] for entry in stream.entries(2)] == posted
        last_id = stream.last_event_id
    with follow(world.admin, world.a, last_event_id=last_id) as stream:
        fresh = world.annotate(world.a, "after the reconnection")
        (entry,) = stream.entries(1)
    assert entry["id"] == fresh["id"]


# -- 3. starting at "now" -------------------------------------------------------------------


def test_without_last_event_id_the_stream_starts_now_and_old_entries_are_not_replayed(
    world: World,
) -> None:
    old = [world.annotate(world.a, "before anyone followed")["id"], *world.notify(world.a, 3)]
    head = world.server.services.store.head_position()
    with world.admin.stream("GET", STREAM, params={"investigation": world.a}) as response:
        assert response.status_code == 200
        stream = EventStream(response)
        assert stream.open() == head
        new = world.annotate(world.a, "after")
        (entry,) = stream.entries(1)
    assert entry["id"] == new["id"]
    assert entry["id"] not in old


def test_a_stream_opened_right_after_a_post_does_not_replay_that_entry(
    database_url: str, tmp_path: Path
) -> None:
    # A slow poll makes the watcher's head stale for the whole test (the race is otherwise
    # one poll interval wide).
    with world_on(settings_for(database_url, tmp_path, poll=10.0)) as world:
        with follow(world.admin, world.a):  # starts the watcher
            pass
        old = world.annotate(world.a, "posted before the second client connected")
        head = world.server.services.store.head_position()
        assert head >= old["position"]
        with world.admin.stream(
            "GET",
            STREAM,
            params={"investigation": world.a},
            # If the stream starts at the true head, the new entry waits for the next poll.
            timeout=httpx.Timeout(READ_TIMEOUT, read=30.0),
        ) as response:
            stream = EventStream(response)
            start = stream.open()
            # Either way, a new entry comes (after at most one poll of the watcher).
            new = world.annotate(world.a, "posted after")
            (entry,) = stream.entries(1)
        assert entry["id"] != old["id"], "the entry posted before connecting was replayed"
        assert entry["id"] == new["id"]
        assert start == head


# -- 4. scope and refusals ------------------------------------------------------------------


def test_a_stream_carries_its_investigation_and_broadcasts_only(world: World) -> None:
    with (
        follow(world.bob, world.a) as stream_a,
        follow(world.admin, world.b) as stream_b,
        follow(world.admin, instrument=INSTRUMENT) as beamline,
    ):
        (b1,) = world.notify(world.b, 1)
        (own_beamline,) = world.notify(None, 1)  # the beamline's own logbook
        a1 = world.annotate(world.a, "in A")["id"]
        broadcast = world.admin.post(
            ENTRIES, json={"kind": "broadcast", "category": "info", "text": "Beam down at 14:00"}
        )
        assert broadcast.status_code == 201, broadcast.text
        news = broadcast.json()["id"]
        a2 = world.annotate(world.a, "in A again")["id"]
        b2 = world.annotate(world.b, "in B again")["id"]

        assert [entry["id"] for entry in stream_a.entries(3)] == [a1, news, a2]
        assert [entry["id"] for entry in stream_b.entries(3)] == [b1, news, b2]
        # The beamline's logbook: its own entries and its investigations', and broadcasts.
        assert [entry["id"] for entry in beamline.entries(6)] == [
            b1,
            own_beamline,
            a1,
            news,
            a2,
            b2,
        ]


def test_broadcasts_outside_the_investigations_period_are_not_streamed_to_it(
    world: World,
) -> None:
    # A and B run from an hour ago to two days from now.
    now = datetime.now(UTC)
    moments = {
        "before A": now - timedelta(days=3),
        "after A": now + timedelta(days=3),
        "during A": now,
    }
    with follow(world.bob, world.a) as stream:
        ids = {}
        for label, moment in moments.items():
            made = world.admin.post(
                ENTRIES,
                json={
                    "kind": "broadcast",
                    "category": "info",
                    "text": label,
                    "time": moment.isoformat(),
                },
            )
            assert made.status_code == 201, made.text
            ids[label] = made.json()["id"]
        tail = world.annotate(world.a, "after the broadcasts")
        # The broadcast of A's period comes, then A's own entry: none of the others between.
        assert [entry["id"] for entry in stream.entries(2)] == [ids["during A"], tail["id"]]
    # The same as a listing of A shows.
    listed = world.bob.get(LOGBOOK, params={"investigation": world.a})
    assert listed.status_code == 200, listed.text
    assert [entry["id"] for entry in listed.json()["items"]] == [tail["id"], ids["during A"]]


def test_a_follower_removed_from_the_investigation_is_told_and_the_stream_ends(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every pass of the stream checks its follower's access again (the server runs here).
    monkeypatch.setattr(logbook_api, "RECHECK_SECONDS", 0.0)
    a = world.a
    with follow(world.admin, a) as admin_stream, follow(world.bob, a) as stream:
        before = world.annotate(a, "before bob left")
        assert [entry["id"] for entry in stream.entries(1)] == [before["id"]]
        removed = world.admin.delete(f"{INVESTIGATIONS}/{a}/participants/bob")
        assert removed.status_code == 200, removed.text
        after = [world.annotate(a, "after bob left")["id"], *world.notify(a, 2)]
        # The next message is the refusal, not an entry; then the server ends the stream.
        told = stream.next()
        assert told.event == "error", f"{told.event} instead of the refusal: {told.data[:300]}"
        assert told.json()["status"] == 404
        assert told.json()["detail"]
        assert stream.until_end() == []
        # The entries were posted, and reached a follower who may still read A.
        assert [entry["id"] for entry in admin_stream.entries(4)] == [before["id"], *after]
    response = refused(world.bob, {"investigation": a}, {})
    assert_problem(response, 404, "not-found")


def test_a_caller_who_may_not_read_the_investigation_gets_404_before_any_stream(
    world: World,
) -> None:
    unknown = "0b8a3f0e-4f7e-5d8c-9a43-2b9d1c0f5e17"
    cases = [
        ("a user who is no participant", world.eve, world.a),
        ("a participant of another investigation", world.bob, world.b),
        ("an anonymous caller", world.server.client(), world.a),
        ("an unknown investigation", world.admin, unknown),
    ]
    for case, client, investigation in cases:
        response = refused(client, {"investigation": investigation}, {})
        assert response.status_code == 404, case
        assert_problem(response, 404, "not-found")
    # The same callers may follow what they may read.
    with follow(world.bob, world.a):
        pass


#: Last-Event-ID values that are no id a stream sends (ids are event positions: digits).
BAD_LAST_EVENT_IDS = ["abc", "-1", "12a", "1.5", "", "0x10", "1e3", "+5", "1 2"]


def test_a_last_event_id_that_no_stream_sent_is_refused_with_400(world: World) -> None:
    for value in BAD_LAST_EVENT_IDS:
        response = refused(world.admin, {"investigation": world.a}, {"Last-Event-ID": value})
        assert response.status_code == 400, value
        assert_problem(response, 400, "invalid-query", "Last-Event-ID")
    # Longer than any id: refused by the header's declared bound.
    response = refused(world.admin, {"investigation": world.a}, {"Last-Event-ID": "1" * 21})
    assert_problem(response, 422, "validation-error", "Last-Event-ID")


def test_a_last_event_id_of_superscript_digits_is_refused_with_400(world: World) -> None:
    response = refused(world.admin, {"investigation": world.a}, {"Last-Event-ID": b"\xb2"})
    assert_problem(response, 400, "invalid-query", "Last-Event-ID")


def test_a_last_event_id_beyond_any_position_is_refused_with_400(world: World) -> None:
    response = refused(
        world.admin, {"investigation": world.a}, {"Last-Event-ID": "99999999999999999999"}
    )
    assert_problem(response, 400, "invalid-query", "Last-Event-ID")


def test_a_last_event_id_beyond_the_stores_head_is_refused_with_400(world: World) -> None:
    head = world.server.services.store.head_position()
    for beyond in (head + 1, head + 1000):
        response = refused(world.admin, {"investigation": world.a}, {"Last-Event-ID": str(beyond)})
        problem = assert_problem(response, 400, "invalid-query", "Last-Event-ID")
        assert str(beyond) in problem["detail"]
    # The head itself is an id a stream may have sent: the stream resumes after it.
    with follow(world.admin, world.a, last_event_id=str(head)) as stream:
        new = world.annotate(world.a, "after the head")
        (entry,) = stream.entries(1)
    assert entry["id"] == new["id"]


# -- 5. many entries at once ----------------------------------------------------------------


def test_many_entries_at_once_are_all_delivered_in_order(world: World) -> None:
    with follow(world.admin, world.a) as stream:
        posted = world.notify(world.a, 1000, "bulk") + world.notify(world.a, 200, "more")
        received = stream.entries(len(posted))
        tail = world.annotate(world.a, "after the burst")
        (after,) = stream.entries(1)

    assert [entry["id"] for entry in received] == posted
    positions = [entry["position"] for entry in received]
    assert positions == sorted(set(positions))
    assert after["id"] == tail["id"]


def test_a_client_catching_up_on_many_missed_entries_gets_them_all_once(world: World) -> None:
    with follow(world.admin, world.a) as stream:
        (first,) = world.notify(world.a, 1)
        assert stream.entries(1)[0]["id"] == first
        last_id = stream.last_event_id
    missed = world.notify(world.a, 700, "away") + world.notify(world.a, 500, "away-too")
    with follow(world.admin, world.a, last_event_id=last_id) as stream:
        received = stream.entries(len(missed))
        tail = world.annotate(world.a, "live again")
        (after,) = stream.entries(1)
    assert [entry["id"] for entry in received] == missed
    assert after["id"] == tail["id"]


# -- shutting down with followers -----------------------------------------------------------


def test_the_server_shuts_down_after_its_followers_disconnected(
    database_url: str, tmp_path: Path
) -> None:
    server = LiveServer(settings_for(database_url, tmp_path))
    try:
        server.start()
        store = server.services.store
        add_instrument(store, INSTRUMENT)
        admin = server.client(add_user(store, "alice", admin=True).token)
        for number in range(3):
            # A fresh logbook each time: nothing of an earlier round can come first.
            investigation = _investigation(admin, f"MX-{number}")
            with follow(admin, investigation) as stream:
                entry = admin.post(ENTRIES, json={"investigation_id": investigation, "text": "x"})
                assert stream.entries(1)[0]["id"] == entry.json()["id"]
        with follow(admin, investigation):  # disconnects before anything came
            pass
        admin.close()
        stopped = server.stop()
    finally:
        if server.thread.is_alive():
            server.kill()
        server.socket.close()
    assert stopped, "uvicorn hung shutting down after the stream's client disconnected"


def test_the_server_shuts_down_while_a_client_still_follows(tmp_path: Path) -> None:
    # The behaviour does not depend on the database: SQLite only, to keep the file fast.
    server = LiveServer(settings_for(sqlite_database(tmp_path), tmp_path))
    stopped = False
    try:
        server.start()
        store = server.services.store
        add_instrument(store, INSTRUMENT)
        admin = server.client(add_user(store, "alice", admin=True).token)
        investigation = _investigation(admin, "MX-9")
        with follow(admin, investigation):
            stopped = server.stop(timeout=5.0)
    finally:
        for client in server.clients:
            client.close()
        if server.thread.is_alive() and not server.stop():
            server.kill()
        server.socket.close()
    assert stopped, "uvicorn waits for the open stream instead of shutting down"
