"""Alembic environment: the URL comes from the caller's engine or from the catalogue settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from catalogue.database import create_engine
from catalogue.schema import include_object, metadata
from catalogue.settings import Settings


def run_with(connection: Connection) -> None:
    """Run migrations on an open connection."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate the connection the CLI handed over, or the database the settings name."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    engine = create_engine(Settings().database_url)
    try:
        with engine.connect() as own:
            run_with(own)
            own.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=Settings().database_url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_online()
