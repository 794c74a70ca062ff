"""Shared fixtures and helpers of the portal API tests: the app over `database_url`, accounts.

Accounts, tokens and beamlines are made as the operator's CLI makes them, through
`catalogue.portal.identity` with `Caller(OPERATOR, source="cli")`; everything else goes
through HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from catalogue.api.app import create_app
from catalogue.domain.access import OPERATOR
from catalogue.domain.instruments import RegisterInstrument
from catalogue.portal import identity, instruments
from catalogue.portal.execution import Caller
from catalogue.services import Services
from catalogue.settings import Settings
from catalogue.store import EventStore

CLI = Caller(OPERATOR, source="cli")
START = datetime(2026, 11, 24, 8, tzinfo=UTC)
EMBARGO_DAYS = 30
INSTRUMENT = "ID23-1"
PROBLEM = "application/problem+json"
INVESTIGATIONS = "/api/v1/investigations"


def add_user(
    store: EventStore,
    username: str,
    *,
    admin: bool = False,
    expires_at: datetime | None = None,
) -> identity.IssuedSecret:
    """A user account with a fresh bearer token."""
    identity.add_user(
        store, CLI, username, username.title(), f"{username}@example.org", admin=admin
    )
    return identity.issue_token(store, CLI, username, "tests", expires_at)


def add_instrument(store: EventStore, name: str, scientists: Sequence[str] = ()) -> None:
    """A registered beamline with its scientists (who must exist)."""
    instruments.run_instrument_command(store, CLI, name, RegisterInstrument(name, name, ""))
    for username in scientists:
        instruments.add_scientist(store, CLI, name, username)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


def iso(moment: datetime) -> str:
    """ISO 8601 as the wire carries it."""
    return moment.isoformat()


def parse_time(text: str) -> datetime:
    """A time from a response."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def problem_fields(body: dict[str, Any]) -> set[str]:
    """Every field a problem names: its own, and those of its validation errors."""
    fields = {error["field"] for error in body.get("errors", [])}
    if "field" in body:
        fields.add(body["field"])
    return fields


def names_field(body: dict[str, Any], field: str) -> bool:
    """Whether the problem names the field, bare or with its location (`query.reason`)."""
    return any(
        named == field
        or named.startswith(f"{field}.")
        or any(named == f"{where}.{field}" for where in ("body", "query", "path", "header"))
        for named in problem_fields(body)
    )


def assert_problem(
    response: httpx.Response,
    status: int,
    slug: str | None = None,
    field: str | None = None,
) -> dict[str, Any]:
    """A problem+json answer with this status (and type and field), and no stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "Traceback" not in response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    if slug is not None:
        assert body["type"] == f"/problems/{slug}", body
    if field is not None:
        assert names_field(body, field), body
    return body


@dataclass
class Portal:
    """The app under test: `client` carries the admin's token, `anonymous` carries none."""

    client: TestClient
    anonymous: TestClient
    services: Services
    admin: identity.IssuedSecret

    @property
    def store(self) -> EventStore:
        """The app's own event store, for setting up accounts."""
        return self.services.store

    def create_investigation(self, proposal: str = "MX-2345", **fields: Any) -> dict[str, Any]:
        """A new investigation on the default beamline (201 asserted)."""
        body = {
            "proposal": proposal,
            "instrument": INSTRUMENT,
            "title": f"Investigation {proposal}",
            "start": iso(START),
            "end": iso(START + timedelta(days=2)),
            **fields,
        }
        response = self.client.post(INVESTIGATIONS, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_sample(self, investigation_id: str, name: str, **fields: Any) -> dict[str, Any]:
        """A new sample (201 asserted)."""
        response = self.client.post(
            f"{INVESTIGATIONS}/{investigation_id}/samples", json={"name": name, **fields}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_dataset(
        self,
        investigation_id: str,
        name: str,
        start: datetime = START,
        **fields: Any,
    ) -> dict[str, Any]:
        """A new dataset (201 asserted)."""
        body = {"name": name, "location": f"/data/visitor/{name}", "start": iso(start), **fields}
        response = self.client.post(f"{INVESTIGATIONS}/{investigation_id}/datasets", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def walk(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a listing, following `next_cursor` to the end."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = dict(params) if cursor is None else {**params, "cursor": cursor}
            response = self.client.get(path, params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items


def make_portal(database_url: str, data_dir: Path) -> Iterator[Portal]:
    """Start the app on the database; an admin `alice` and the beamline ID23-1 exist."""
    settings = Settings(database_url=database_url, data_dir=data_dir, embargo_days=EMBARGO_DAYS)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        services: Services = app.state.services
        admin = add_user(services.store, "alice", admin=True)
        add_instrument(services.store, INSTRUMENT)
        client.headers.update(bearer(admin.token))
        # Shares the running app's services; a request without a token is anonymous.
        anonymous = TestClient(app, raise_server_exceptions=False)
        yield Portal(client, anonymous, services, admin)


@pytest.fixture
def portal(database_url: str, tmp_path: Path) -> Iterator[Portal]:
    """The portal API on a SQLite file and on PostgreSQL."""
    yield from make_portal(database_url, tmp_path)
