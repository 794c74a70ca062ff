"""Fixtures: a real SQLite file and a real PostgreSQL database, migrated by alembic."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.engine import make_url

from catalogue.database import create_engine
from catalogue.revisions import upgrade
from catalogue.schema import metadata as catalogue_metadata
from tests.sample_domain import test_metadata

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_SERVER_URL = os.environ.get(
    "CATALOGUE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _server_dsn(database: str | None = None) -> str:
    url = make_url(POSTGRES_SERVER_URL).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _postgres_reason() -> str | None:
    try:
        with psycopg.connect(_server_dsn(), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {POSTGRES_SERVER_URL}: {str(error).splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, uniquely named database for this session, dropped at the end."""
    reason = _postgres_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    name = f"catalogue_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_server_dsn(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_SERVER_URL).set(drivername="postgresql+psycopg", database=name)
    rendered = url.render_as_string(hide_password=False)
    engine = create_engine(rendered)
    upgrade(engine)
    test_metadata.create_all(engine)
    engine.dispose()
    try:
        yield rendered
    finally:
        with psycopg.connect(_server_dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_database(directory: Path) -> str:
    """A migrated SQLite file in `directory`."""
    url = f"sqlite:///{directory / 'catalogue.db'}"
    engine = create_engine(url)
    upgrade(engine)
    test_metadata.create_all(engine)
    engine.dispose()
    return url


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in reversed(test_metadata.sorted_tables + catalogue_metadata.sorted_tables):
            connection.execute(delete(table))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test, once on a SQLite file and once on PostgreSQL, each starting empty."""
    if request.param == "sqlite":
        return sqlite_database(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test database."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()
