"""`catalogue users|groups|tokens|api-keys|instruments` as an operator runs them, on SQLite.

The tokens and keys they print are used against the HTTP API built on the same database file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from catalogue.api.app import create_app
from catalogue.database import read_transaction
from catalogue.portal import identity
from catalogue.readmodels.identity import list_users
from catalogue.runner import register_checkpoints
from catalogue.services import all_projections, build_services
from catalogue.settings import Settings
from tests.conftest import sqlite_database
from tests.e2e.portal import (
    CLI,
    INVESTIGATIONS,
    START,
    add_instrument,
    add_user,
    assert_problem,
    bearer,
    iso,
)

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Operator:
    """Runs `python -m catalogue` on one database file, as the facility's operator would."""

    def __init__(self, directory: Path, url: str) -> None:
        self.directory = directory
        self.services = build_services(Settings(database_url=url, data_dir=directory))
        self.store = self.services.store
        self.engine = self.services.engine
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CATALOGUE_")}
        # Wide enough that rich never wraps a table cell.
        self.env = {**clean, "CATALOGUE_DATABASE_URL": url, "COLUMNS": "250"}

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "catalogue", *args],
            cwd=self.directory,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_all(self, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        """Commands that do not depend on one another, run at the same time."""
        started = [(command, self.start(*command)) for command in commands]
        results = []
        for command, process in started:
            stdout, stderr = process.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
        return results

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        (result,) = self.run_all(args)
        return result

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; its standard output."""
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout

    def secret(self, *args: str) -> tuple[str, str]:
        """(id, secret) printed by `tokens create` or `api-keys create`."""
        lines = self.ok(*args).strip().splitlines()
        token = lines[-1]
        assert re.fullmatch(r"cat_[0-9a-f]{16}\.[A-Za-z0-9_-]+", token), lines
        credential_id = token[4:].split(".")[0]
        assert credential_id in lines[0]
        return credential_id, token


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    """A refused command: non-zero exit, one `error: ...` line naming the problem, no trace."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]


def row(table: str, key: str) -> list[str]:
    """The cells of the rich table row whose first cell is `key`."""
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0] == key:
            return cells
    raise AssertionError(f"no row {key!r} in\n{table}")


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    """The CLI on a migrated SQLite file; `store` sets up accounts in-process, as the CLI does."""
    operator = Operator(tmp_path, sqlite_database(tmp_path))
    register_checkpoints(operator.store, all_projections(operator.services.settings))
    yield operator
    operator.services.close()


@pytest.fixture
def api(operator: Operator, tmp_path: Path) -> Iterator[TestClient]:
    """The HTTP API on the operator's database file."""
    settings = Settings(database_url=operator.env["CATALOGUE_DATABASE_URL"], data_dir=tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def investigation_body(proposal: str = "MX-1") -> dict[str, str]:
    return {"proposal": proposal, "instrument": "ID23-1", "title": "t", "start": iso(START)}


def test_users_and_groups(operator):
    added = operator.ok(
        "users", "add", "alice", "--email", "alice@example.org", "--full-name", "Alice A", "--admin"
    )
    assert "added user alice (admin)" in added
    identity.add_user(operator.store, CLI, "bob", "", "bob@example.org", admin=False)
    assert "added group id23" in operator.ok("groups", "add", "id23", "--description", "ID23 staff")
    bob_in, alice_in = operator.run_all(
        ("groups", "add-member", "id23", "bob"), ("groups", "add-member", "id23", "alice")
    )
    assert (bob_in.returncode, alice_in.returncode) == (0, 0), bob_in.stderr + alice_in.stderr
    assert "bob is in id23" in bob_in.stdout
    assert "alice left id23" in operator.ok("groups", "remove-member", "id23", "alice")

    users, groups = operator.run_all(("users", "list"), ("groups", "list"))
    assert users.returncode == 0, users.stderr
    # --admin put alice in the admins group; bob is only in id23.
    assert row(users.stdout, "alice") == ["alice", "Alice A", "alice@example.org", "admins"]
    assert row(users.stdout, "bob") == ["bob", "", "bob@example.org", "id23"]
    assert groups.returncode == 0, groups.stderr
    assert row(groups.stdout, "admins")[2] == "alice"
    assert row(groups.stdout, "id23")[1:] == ["ID23 staff", "bob"]


def test_refused_commands_write_nothing(operator):
    identity.add_user(operator.store, CLI, "alice", "Alice", "alice@example.org", admin=True)
    identity.add_user(operator.store, CLI, "bob", "Bob", "bob@example.org", admin=False)
    duplicate, bad_email, not_member = operator.run_all(
        ("users", "add", "alice", "--email", "other@example.org"),
        ("users", "add", "carol", "--email", "carol-at-example.org"),
        ("groups", "remove-member", "admins", "bob"),
    )
    assert_one_line_error(duplicate, "user 'alice' already exists")
    assert_one_line_error(bad_email, "'carol-at-example.org' is not an e-mail address")
    assert_one_line_error(not_member, "'bob' is not in group 'admins'")
    with read_transaction(operator.engine) as connection:
        users = list_users(connection)
    assert [(u["username"], u["email"], u["groups"]) for u in users] == [
        ("alice", "alice@example.org", ["admins"]),
        ("bob", "bob@example.org", []),
    ]


def test_tokens_authenticate_until_revoked(operator, api):
    identity.add_user(operator.store, CLI, "alice", "Alice", "alice@example.org", admin=True)
    add_instrument(operator.store, "ID23-1")
    token_id, token = operator.secret("tokens", "create", "alice", "--label", "laptop")

    created = api.post(INVESTIGATIONS, json=investigation_body(), headers=bearer(token))
    assert created.status_code == 201, created.text
    history = api.get(f"{created.headers['Location']}/history", headers=bearer(token)).json()
    assert history["items"][0]["actor"] == "user:alice"

    assert f"revoked {token_id}" in operator.ok("tokens", "revoke", token_id)
    revoked = api.get(INVESTIGATIONS, headers=bearer(token))
    assert_problem(revoked, 401, "unauthenticated")
    assert revoked.headers["WWW-Authenticate"] == "Bearer"

    listed, unknown = operator.run_all(
        ("tokens", "list", "alice"), ("tokens", "revoke", "0123456789abcdef")
    )
    assert_one_line_error(unknown, "no token '0123456789abcdef'")
    assert listed.returncode == 0, listed.stderr
    cells = row(listed.stdout, token_id)
    assert cells[1:3] == ["alice", "laptop"]
    assert cells[4] == "never"
    assert DATE.match(cells[5])  # revoked at


def test_instruments_scientists_and_api_keys(operator, api):
    scientist = add_user(operator.store, "bob")
    assert "added instrument ID23-1" in operator.ok(
        "instruments", "add", "ID23-1", "--full-name", "MX beamline ID23-1"
    )
    added, unknown_user = operator.run_all(
        ("instruments", "add-scientist", "ID23-1", "bob"),
        ("instruments", "add-scientist", "ID23-1", "zed"),
    )
    assert added.returncode == 0, added.stderr
    assert "bob is a scientist of ID23-1" in added.stdout
    assert_one_line_error(unknown_user, "no user 'zed'")
    instruments = operator.ok("instruments", "list")
    assert row(instruments, "ID23-1") == ["ID23-1", "MX beamline ID23-1", "bob"]

    # Bob, now a scientist of the beamline, schedules an investigation; the beamline's control
    # system adds a dataset to it with its API key.
    key_id, key = operator.secret("api-keys", "create", "ID23-1", "--label", "bliss")
    created = api.post(INVESTIGATIONS, json=investigation_body(), headers=bearer(scientist.token))
    assert created.status_code == 201, created.text
    datasets = f"{created.headers['Location']}/datasets"
    body = {"name": "scan", "location": "/data/scan", "start": iso(START)}
    made = api.post(datasets, json=body, headers=bearer(key))
    assert made.status_code == 201, made.text
    history = api.get(f"/api/v1/datasets/{made.json()['id']}/history", headers=bearer(key))
    assert history.json()["items"][0]["actor"] == f"api-key:ID23-1/{key_id}"

    # Each revoke command revokes only its own kind of credential.
    assert_one_line_error(operator.run("tokens", "revoke", key_id), f"no token '{key_id}'")
    assert_one_line_error(
        operator.run("api-keys", "revoke", scientist.credential_id),
        f"no API key '{scientist.credential_id}'",
    )
    assert f"revoked {key_id}" in operator.ok("api-keys", "revoke", key_id)
    refused = api.post(datasets, json={**body, "name": "scan2"}, headers=bearer(key))
    assert_problem(refused, 401, "unauthenticated")
    keys = operator.ok("api-keys", "list")
    cells = row(keys, key_id)
    assert cells[1:3] == ["ID23-1", "bliss"]
    assert DATE.match(cells[5])  # revoked at
    assert scientist.credential_id not in keys  # tokens are not listed as keys
