"""Schema revisions: upgrade a database with alembic and check that it is current."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from catalogue.database import describe, translate_errors
from catalogue.errors import ConfigurationError, SchemaOutOfDate


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(files("catalogue") / "migrations"))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with translate_errors(engine), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the database schema."""
    config = alembic_config()
    try:
        with translate_errors(engine), engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except CommandError as error:
        raise ConfigurationError(f"cannot upgrade to {revision!r}: {error}") from None


def require_current(engine: Engine) -> None:
    """Refuse to run on a database whose schema is not at this code's head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        found = "no catalogue schema" if current is None else f"schema revision {current}"
        raise SchemaOutOfDate(
            f"the database at {describe(engine)} has {found}, this code needs {head}: "
            "run `catalogue db upgrade`"
        )
