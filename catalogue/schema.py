"""The database tables, as SQLAlchemy Core metadata; alembic migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    func,
    text,
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


# -- identity: users, groups, credentials (projection `identity`) ---------------------------

users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("full_name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_name", String(64), primary_key=True),
    Column("username", String(64), primary_key=True, index=True),
)

# Bearer tokens of users and API keys of beamlines: only a hash of the secret is kept.
credentials = Table(
    "credentials",
    metadata,
    Column("id", String(32), primary_key=True),
    # "token" (subject is a username) or "api_key" (subject is an instrument name)
    Column("kind", String(16), nullable=False),
    Column("subject", String(64), nullable=False, index=True),
    Column("secret_hash", String(64), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

# -- catalogue: instruments, investigations, samples, datasets (projection `catalogue`) ----

instruments = Table(
    "instruments",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("full_name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

instrument_scientists = Table(
    "instrument_scientists",
    metadata,
    Column("instrument", String(32), primary_key=True),
    Column("username", String(64), primary_key=True, index=True),
)

investigations = Table(
    "investigations",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("proposal", String(64), nullable=False),
    Column("visit_id", String(64), nullable=False),
    Column("instrument", String(32), nullable=False),
    Column("title", String(500), nullable=False),
    Column("summary", Text, nullable=False),
    Column("start_time", UTCDateTime(), nullable=False),
    Column("end_time", UTCDateTime(), nullable=True),
    Column("release_date", UTCDateTime(), nullable=False, index=True),
    Column("doi", String(255), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Kept by the projection so that unfiltered list totals cost one row read.
    Column("sample_count", Integer, nullable=False),
    Column("dataset_count", Integer, nullable=False),
    UniqueConstraint("proposal", "visit_id"),
    Index("ix_investigations_instrument_start", "instrument", "start_time", "id"),
    Index("ix_investigations_start", "start_time", "id"),
)

participants = Table(
    "participants",
    metadata,
    Column("investigation_id", Uuid(), primary_key=True),
    Column("username", String(64), primary_key=True, index=True),
    Column("role", String(32), nullable=False),
)

samples = Table(
    "samples",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("investigation_id", Uuid(), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("chemical_formula", String(200), nullable=True),
    Column("safety_information", Text, nullable=False),
    Column("hazards", JSON, nullable=False),
    Column("parent_id", Uuid(), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("dataset_count", Integer, nullable=False),
    UniqueConstraint("investigation_id", "name"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("investigation_id", Uuid(), nullable=False),
    Column("name", String(200), nullable=False),
    Column("sample_id", Uuid(), nullable=True, index=True),
    Column("collection", String(200), nullable=True),
    Column("location", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_time", UTCDateTime(), nullable=False),
    Column("end_time", UTCDateTime(), nullable=True),
    Column("complete", Boolean, nullable=False),
    Column("techniques", JSON, nullable=False),
    Column("scan_type", String(32), nullable=True),
    Column("deleted", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("parameter_count", Integer, nullable=False),
    Column("file_count", BigInteger, nullable=False),
    Column("volume", BigInteger, nullable=False),
    # Filled by the archive (a later issue): online, archiving, archived, restoring...
    Column("archive_status", String(32), nullable=True),
    UniqueConstraint("investigation_id", "name"),
    Index("ix_datasets_investigation_start", "investigation_id", "start_time", "id"),
)

dataset_inputs = Table(
    "dataset_inputs",
    metadata,
    Column("dataset_id", Uuid(), primary_key=True),
    Column("input_id", Uuid(), primary_key=True, index=True),
)

dataset_techniques = Table(
    "dataset_techniques",
    metadata,
    Column("dataset_id", Uuid(), primary_key=True),
    Column("technique", String(32), primary_key=True),
    Index("ix_dataset_techniques_technique", "technique", "dataset_id"),
)

dataset_parameters = Table(
    "dataset_parameters",
    metadata,
    Column("dataset_id", Uuid(), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("unit", String(64), nullable=True),
    Column("numeric", Float, nullable=True),
    # The value in SI base units, so that filters compare like with like.
    Column("si_value", Float, nullable=True),
    Column("si_unit", String(200), nullable=True),
    Index("ix_dataset_parameters_name_si", "name", "si_value"),
)

datafiles = Table(
    "datafiles",
    metadata,
    Column("dataset_id", Uuid(), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("checksum", String(200), nullable=True),
    Column("format", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=True),
    Column("modified_at", UTCDateTime(), nullable=True),
    Column("registered_at", UTCDateTime(), nullable=False),
)

# -- ingest ---------------------------------------------------------------------------------

ingest_folders = Table(
    "ingest_folders",
    metadata,
    # The dataset folder (or a lone NeXus file outside the ESRF layout).
    Column("path", String(1024), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("beamline", String(32), nullable=True),
    Column("dataset_id", Uuid(), nullable=True),
    # The fingerprint (file names, sizes, times) of what the catalogue holds...
    Column("fingerprint", String(64), nullable=True),
    # ...and of what failed: a failure is retried early when the files change.
    Column("failed_fingerprint", String(64), nullable=True),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("retry_at", UTCDateTime(), nullable=True),
    Column("warnings", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_ingest_folders_status", "status", "updated_at", "path"),
)

# -- the electronic logbook -----------------------------------------------------------------

#: The partial indexes' predicate; queries repeat it as a literal so that a prepared
#: statement's generic plan can still prove it and use them.
BROADCAST_PREDICATE = "kind = 'broadcast'"

logbook_entries = Table(
    "logbook_entries",
    metadata,
    Column("id", Uuid(), primary_key=True),
    # The position of the entry's first event: an integer key for SQLite's full-text index
    # and the tie-breaker of the newest-first order.
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("category", String(16), nullable=False),
    Column("investigation_id", Uuid(), nullable=True),
    Column("instrument", String(32), nullable=True),
    Column("dataset_id", Uuid(), nullable=True),
    Column("author", String(200), nullable=False),
    Column("client_id", String(200), nullable=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("text", Text, nullable=False),
    Column("markup", String(16), nullable=True),
    Column("source", Text, nullable=True),
    Column("html", Text, nullable=True),
    # The words of the text and rich text, normalised (`fulltext.search_words`): what both
    # databases' full-text indexes read, so that they split and match words alike.
    Column("search_text", Text, nullable=False),
    Column("software", String(200), nullable=True),
    Column("machine", String(200), nullable=True),
    Column("attachment_count", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("deleted_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("content_version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The position and type of the last event that changed the entry: live followers ask
    # for everything changed after the position they last saw.
    Column("changed_position", BigInteger, nullable=False),
    Column("last_change", String(32), nullable=False),
    Index("ix_logbook_entries_investigation", "investigation_id", "occurred_at", "seq"),
    Index("ix_logbook_entries_instrument", "instrument", "occurred_at", "seq"),
    Index("ix_logbook_entries_investigation_changes", "investigation_id", "changed_position"),
    Index("ix_logbook_entries_instrument_changes", "instrument", "changed_position"),
    # Partial: most entries (machine notifications) name no dataset and are no broadcast, so
    # these indexes cost them nothing to write.
    Index(
        "ix_logbook_entries_dataset",
        "dataset_id",
        "occurred_at",
        "seq",
        postgresql_where=text("dataset_id IS NOT NULL"),
        sqlite_where=text("dataset_id IS NOT NULL"),
    ),
    Index(
        "ix_logbook_entries_broadcasts",
        "occurred_at",
        "seq",
        postgresql_where=text(BROADCAST_PREDICATE),
        sqlite_where=text(BROADCAST_PREDICATE),
    ),
    Index(
        "ix_logbook_entries_broadcast_changes",
        "changed_position",
        postgresql_where=text(BROADCAST_PREDICATE),
        sqlite_where=text(BROADCAST_PREDICATE),
    ),
)

logbook_entry_tags = Table(
    "logbook_entry_tags",
    metadata,
    Column("entry_id", Uuid(), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Index("ix_logbook_entry_tags_tag", "tag", "entry_id"),
)

logbook_attachments = Table(
    "logbook_attachments",
    metadata,
    Column("entry_id", Uuid(), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("thumbnail_sha256", String(64), nullable=False),
    Column("added_at", UTCDateTime(), nullable=False),
    Column("added_by", String(200), nullable=False),
)

logbook_tags = Table(
    "logbook_tags",
    metadata,
    Column("id", Uuid(), primary_key=True),
    # `investigation:<id>` or `instrument:<name>`: tag names are unique per logbook.
    Column("scope", String(64), nullable=False),
    Column("investigation_id", Uuid(), nullable=True),
    Column("instrument", String(32), nullable=True),
    Column("name", String(64), nullable=False),
    Column("colour", String(7), nullable=False),
    Column("description", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("scope", "name"),
)

# -- sample tracking ------------------------------------------------------------------------

shipments = Table(
    "shipments",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("investigation_id", Uuid(), nullable=False),
    Column("proposal", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("sender", JSON(), nullable=False),
    Column("return_address", JSON(), nullable=True),
    Column("courier_company", String(120), nullable=False),
    Column("courier_account", String(64), nullable=False),
    Column("comment", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_shipments_investigation", "investigation_id", "name"),
)

parcels = Table(
    "parcels",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("shipment_id", Uuid(), nullable=False),
    Column("investigation_id", Uuid(), nullable=False),
    Column("proposal", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_at", UTCDateTime(), nullable=False),
    # Where the parcel is: the place its last step named, or what its status implies.
    Column("location", String(200), nullable=True),
    Column("after_experiment", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    # The session (investigation) it is scheduled for, that session's beamline and start.
    Column("session_id", Uuid(), nullable=True),
    Column("instrument", String(32), nullable=True),
    Column("session_start", UTCDateTime(), nullable=True),
    Column("tracking_number", String(64), nullable=True),
    Column("return_tracking_number", String(64), nullable=True),
    Column("dangerous_goods", JSON(), nullable=False),
    Column("storage", JSON(), nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_parcels_investigation", "investigation_id", "created_at", "id"),
    Index("ix_parcels_shipment", "shipment_id", "name"),
    Index("ix_parcels_session", "session_id"),
    # The worklists: parcels in a few statuses, soonest session first.
    Index("ix_parcels_status", "status", "session_start", "id"),
    # One beamline's worklist (`instrument=`): its few parcels in those statuses at once,
    # where the index above would visit every parcel of the statuses.
    Index("ix_parcels_instrument_status", "instrument", "status", "session_start", "id"),
)

parcel_steps = Table(
    "parcel_steps",
    metadata,
    Column("parcel_id", Uuid(), primary_key=True),
    # The stream version of the step's event: the history's order.
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("previous", String(16), nullable=True),
    Column("role", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("location", String(200), nullable=True),
    Column("comment", Text, nullable=False),
    Column("session_id", Uuid(), nullable=True),
    Column("tracking_number", String(64), nullable=True),
)

parcel_items = Table(
    "parcel_items",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("parcel_id", Uuid(), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("container_type", String(16), nullable=True),
    Column("parent_id", Uuid(), nullable=True),
    Column("sample_id", Uuid(), nullable=True),
    Column("description", Text, nullable=False),
    Column("dangerous_goods", JSON(), nullable=False),
    Column("storage", JSON(), nullable=False),
    Column("comment", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    Index("ix_parcel_items_parcel", "parcel_id", "position"),
    Index(
        "ix_parcel_items_sample",
        "sample_id",
        postgresql_where=text("sample_id IS NOT NULL"),
        sqlite_where=text("sample_id IS NOT NULL"),
    ),
)

#: Mail to send: one row per recipient and event, written by notification projections and
#: emptied by the mail sender. Its rows are not derivable from events (they say what was
#: sent), so a rebuild keeps them.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("event_id", Uuid(), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("kind", String(64), nullable=False),
    # What the mail is about (`parcel:<id>`), for listings.
    Column("subject_ref", String(100), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("message_id", String(200), nullable=False),
    # pending, sending, sent, failed (given up), suppressed (old when first seen: never mailed).
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    UniqueConstraint("event_id", "recipient"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_subject", "subject_ref", "position"),
)

#: Full-text objects the migrations create outside this metadata, one kind per database:
#: SQLite's FTS5 table (and its shadow tables and triggers), PostgreSQL's stored tsvector
#: column and its GIN index.
FULL_TEXT_TABLE = "logbook_fts"
FULL_TEXT_INDEX = "ix_logbook_entries_fulltext"
FULL_TEXT_COLUMN = "search_vector"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: leave the full-text objects that metadata cannot describe alone."""
    if name is None:
        return True
    if type_ == "table" and name.startswith(FULL_TEXT_TABLE):
        return False
    if type_ == "column" and name == FULL_TEXT_COLUMN:
        return False
    return not (type_ == "index" and name == FULL_TEXT_INDEX)
