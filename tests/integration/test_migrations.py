"""Alembic owns the schema: migrations produce exactly the metadata, and old schemas are refused."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from catalogue.database import create_engine
from catalogue.errors import SchemaOutOfDate
from catalogue.revisions import current_revision, head_revision, require_current, upgrade
from catalogue.schema import include_object, metadata


def test_migrations_produce_exactly_the_metadata(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        differences = [d for d in compare_metadata(context, metadata) if not _is_test_table(d)]
    assert differences == []
    assert current_revision(engine) == head_revision()


def _is_test_table(difference: object) -> bool:
    # The test fixtures add their own tables beside the catalogue's.
    return "test_" in repr(difference)[:200]


def test_empty_database_is_refused_with_the_command_to_run(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDate, match=r"no catalogue schema.*run `catalogue db upgrade`"):
        require_current(engine)
    upgrade(engine)
    require_current(engine)
    assert set(inspect(engine).get_table_names()) >= {"events", "projection_checkpoints"}


def test_database_at_an_older_revision_is_refused(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'ancient'")
    with pytest.raises(SchemaOutOfDate, match="schema revision ancient"):
        require_current(engine)
