"""Engines, write transactions and the schema-revision check, on SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, Engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
)

from catalogue.errors import ConfigurationError, DatabaseUnavailable, EventError, StoreError
from catalogue.events import dump_json

#: Execution option that makes SQLite take its write lock at BEGIN (see `write_transaction`).
WRITE_OPTION = "catalogue_write"


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL, defaulting PostgreSQL to the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigurationError(f"not a database URL: {url!s} ({error})") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
        )
    return parsed


def create_engine(url: str | URL, **options: Any) -> Engine:
    """An engine for the catalogue database, with SQLite set up for concurrent use."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(
                f"cannot create the directory of {parsed.database}: {error.strerror}"
            ) from None
    if parsed.get_backend_name() == "postgresql":
        # The append lock's guarantees rest on each statement taking a fresh snapshot
        # (see dialects.PostgresDialect): never inherit a stricter server default.
        options.setdefault("isolation_level", "READ COMMITTED")
    try:
        engine = sqlalchemy.create_engine(parsed, json_serializer=dump_json, **options)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigurationError(f"cannot use database URL {parsed!r}: {error}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of the process; only a power cut can lose the
        # last commits, which is the usual trade for an embedded store.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # SQLite's lower() and LIKE fold ASCII only; queries use this for "Über" = "über".
        dbapi_connection.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred BEGIN that later writes can fail with SQLITE_BUSY without waiting, and
        # two deferred writers can deadlock; writers take the lock up front instead.
        writes = connection.get_execution_options().get(WRITE_OPTION)
        run_on_sqlite_driver(connection, "BEGIN IMMEDIATE" if writes else "BEGIN")


def _unicode_lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def run_on_sqlite_driver(
    connection: Connection, statement: str, parameters: Any = (), *, many: bool = False
) -> list[Any]:
    """Run a statement on the sqlite3 connection itself, skipping SQLAlchemy's per-statement
    work (most of a small append's cost); driver errors are wrapped as SQLAlchemy would."""
    driver = connection.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):  # pragma: no cover - wiring error
        raise TypeError("run_on_sqlite_driver needs a sqlite3 connection")
    try:
        if many:
            driver.executemany(statement, parameters)
            return []
        return list(driver.execute(statement, parameters).fetchall())
    except sqlite3.Error as error:
        raise DBAPIError.instance(
            statement, parameters, error, sqlite3.Error, dialect=connection.dialect
        ) from error


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that will write; commits on success, rolls back on error."""
    with translate_errors(engine), engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            yield connection


@contextlib.contextmanager
def single_statement(engine: Engine) -> Iterator[Connection]:
    """A connection in autocommit mode, for one statement that is atomic by itself."""
    with translate_errors(engine), engine.connect() as connection:
        # SQLAlchemy restores the pool's isolation level when the connection is returned.
        connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a read-only transaction (one snapshot on SQLite)."""
    with translate_errors(engine), engine.connect() as connection, connection.begin():
        yield connection


def describe(engine: Engine) -> str:
    """The engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


@contextlib.contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """Turn driver errors about reaching the database into `DatabaseUnavailable`."""
    try:
        yield
    except OperationalError as error:
        if _is_connection_failure(error):
            raise DatabaseUnavailable(
                f"cannot reach the database at {describe(engine)}: {_first_line(error)}"
            ) from None
        raise StoreError(f"database error: {_first_line(error)}") from error
    except DataError as error:
        raise EventError(f"the database refused a value: {_first_line(error)}") from None
    except DBAPIError as error:
        if error.connection_invalidated:
            raise DatabaseUnavailable(
                f"lost the connection to {describe(engine)}: {_first_line(error)}"
            ) from None
        raise


def _is_connection_failure(error: OperationalError) -> bool:
    message = str(error.orig).lower()
    return error.connection_invalidated or any(
        phrase in message
        for phrase in (
            "connection",
            "could not translate host",
            "unable to open database",
            "does not exist",
            "timeout",
            "password authentication",
            "no such host",
            "name or service not known",
        )
    )


def _first_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
