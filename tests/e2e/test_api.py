"""The HTTP service: health, OpenAPI, problem+json errors, and refusing a stale schema."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from catalogue.api.app import create_app
from catalogue.errors import SchemaOutOfDate
from catalogue.events import StreamAppend
from catalogue.revisions import head_revision
from catalogue.settings import Settings
from tests.sample_domain import ThingCreated, make_store


@pytest.fixture
def client(database_url, tmp_path):
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        yield client


def test_health_reports_revision_head_and_projections(client, engine):
    make_store(engine).append([StreamAppend("thing-1", [ThingCreated(name="a")])])
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["schema_revision"] == head_revision()
    assert body["head_position"] == 1
    summaries = {p["name"]: p for p in body["projections"]}
    assert summaries["stream_summaries"] == {
        "name": "stream_summaries",
        "mode": "inline",
        "status": "live",
        "position": 1,
        "lag": 0,
    }
    # The catalogue's projections do not handle the sample event, so they stay at 0, live.
    assert {(p["name"], p["status"]) for p in body["projections"]} == {
        ("stream_summaries", "live"),
        ("identity", "live"),
        ("catalogue", "live"),
        ("logbook", "live"),
        ("tracking", "live"),
        ("ingest", "live"),
        ("tracking-notifications", "live"),
    }


def test_openapi_and_docs_are_served(client):
    spec = client.get("/openapi.json").json()
    assert "/health" in spec["paths"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status", "slug"),
    [("get", "/nowhere", 404, "not-found"), ("post", "/health", 405, "method-not-allowed")],
)
def test_errors_are_problem_json(client, method, path, status, slug):
    response = client.request(method.upper(), path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert "Traceback" not in response.text


def test_service_refuses_to_start_on_an_unmigrated_database(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", data_dir=tmp_path)
    with (
        pytest.raises(SchemaOutOfDate, match="catalogue db upgrade"),
        TestClient(create_app(settings)),
    ):
        pass


def test_health_is_a_503_problem_when_the_database_is_gone(tmp_path):
    from tests.conftest import sqlite_database

    url = sqlite_database(tmp_path)
    settings = Settings(database_url=url, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        database = tmp_path / "catalogue.db"
        for path in tmp_path.glob("catalogue.db*"):
            path.unlink()
        database.mkdir()  # SQLite cannot open a directory: the database is unreachable
        client.app.state.services.engine.dispose()
        response = client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/database-unavailable"
    assert "cannot reach the database" in body["detail"]
    assert "Traceback" not in response.text
