"""The database tables, as SQLAlchemy Core metadata; alembic migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times must be timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_document() -> TypeEngine[Any]:
    """JSONB on PostgreSQL, JSON text on SQLite."""
    return JSON().with_variant(JSONB(), "postgresql")


events = Table(
    "events",
    metadata,
    # Assigned by the append transaction as max + 1 while it holds the append lock, so
    # positions are gap-free and commit in order. INTEGER on SQLite makes it the rowid.
    Column(
        "position",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("stream", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", Uuid(), nullable=False),
    Column("type", String(100), nullable=False),
    Column("schema_version", SmallInteger, nullable=False),
    Column("data", json_document(), nullable=False),
    Column("metadata", json_document(), nullable=False),
    Column(
        "recorded_at",
        UTCDateTime(),
        nullable=False,
        server_default=func.now(),
    ),
    UniqueConstraint("stream", "version"),
    UniqueConstraint("event_id"),
)

projection_checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(100), primary_key=True),
    # Every event at or below this position has been applied to the projection's rows.
    Column("position", BigInteger, nullable=False),
    # "live" or "rebuilding"; inline projections are skipped by appends while rebuilding.
    Column("status", String(20), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

stream_summaries = Table(
    "stream_summaries",
    metadata,
    Column("stream", String(200), primary_key=True),
    # The part of the stream name before the first "-": dataset, investigation, parcel...
    Column("category", String(100), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("first_position", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("last_type", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
