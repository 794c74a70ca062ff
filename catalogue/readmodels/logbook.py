"""Queries on the logbook: newest-first pages, timelines, live changes, tags, attachments.

A logbook is an investigation's entries or a beamline's, plus the facility's broadcasts.
The two parts are read by two index range scans and merged (UNION ALL of two ordered,
limited selects), so neither part's size slows the other's page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    exists,
    func,
    literal_column,
    select,
    union_all,
)

from catalogue.domain.access import Principal
from catalogue.domain.logbook import EntryKind, tag_scope
from catalogue.readmodels.fulltext import Term, pg_document, text_condition
from catalogue.readmodels.investigations import readable_clause
from catalogue.readmodels.paging import (
    COUNT_CAP,
    Ordering,
    Page,
    decode_cursor,
    encode_cursor,
)
from catalogue.schema import (
    investigations,
    logbook_attachments,
    logbook_entries,
    logbook_entry_tags,
    logbook_tags,
)

NEWEST_FIRST = Ordering(
    "logbook:-time", (logbook_entries.c.occurred_at, logbook_entries.c.seq), descending=True
)
#: Every column a page shows (not `search_text`: up to 200,000 characters no one reads).
_ENTRY_COLUMNS = tuple(c for c in logbook_entries.c if c.name != "search_text")


@dataclass(frozen=True)
class LogbookScope:
    """Which entries make up a logbook for this caller."""

    investigation_id: UUID | None = None
    instrument: str | None = None
    #: For a beamline read by someone who is not its staff: the SQL condition on
    #: `investigation_id` naming the investigations they may read (None: all entries).
    readable_investigations: ColumnElement[bool] | None = None
    #: Broadcasts shown with the logbook: those in this window (None: no broadcasts).
    broadcasts_from: datetime | None = None
    broadcasts_to: datetime | None = None
    include_broadcasts: bool = True


@dataclass(frozen=True)
class EntryFilter:
    """Filters of a logbook listing; each narrows it."""

    kinds: frozenset[EntryKind] = frozenset()
    categories: frozenset[str] = frozenset()
    tags: tuple[str, ...] = ()
    dataset_id: UUID | None = None
    author: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: list[Term] = field(default_factory=list)
    include_deleted: bool = False


def plan_each_query(connection: Connection) -> None:
    """Plan this transaction's queries for their own values (PostgreSQL).

    The server plans a prepared statement once for any values after a few runs. For a
    logbook that generic plan is a trap: it cannot see how rare a word or how readable a
    beamline is, and a plan that suits `scan` (walk the time index, test each entry) reads
    a whole beamline for `quench`. Planning each query costs well under a millisecond.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def _own_part(scope: LogbookScope) -> ColumnElement[bool] | None:
    """The logbook's own entries (None: it has none, as the facility's has not)."""
    entries = logbook_entries.c
    if scope.investigation_id is not None:
        return entries.investigation_id == scope.investigation_id
    if scope.instrument is not None:
        own = entries.instrument == scope.instrument
        if scope.readable_investigations is not None:
            own = and_(own, scope.readable_investigations)
        return own
    return None


def _broadcast_part(scope: LogbookScope) -> ColumnElement[bool] | None:
    if not scope.include_broadcasts:
        return None
    # A literal, not a parameter: the partial indexes on broadcasts (schema.BROADCAST_PREDICATE)
    # must match it in any plan, a prepared statement's generic plan too.
    condition = logbook_entries.c.kind == literal_column(f"'{EntryKind.BROADCAST.value}'")
    # The same window live as in listings: a follower never sees what a reload would hide.
    if scope.broadcasts_from is not None:
        condition = and_(condition, logbook_entries.c.occurred_at >= scope.broadcasts_from)
    if scope.broadcasts_to is not None:
        condition = and_(condition, logbook_entries.c.occurred_at <= scope.broadcasts_to)
    return condition


def _filters(connection: Connection, where: EntryFilter) -> list[ColumnElement[bool]]:
    entries = logbook_entries.c
    conditions: list[ColumnElement[bool]] = []
    if not where.include_deleted or where.text:
        # Deleted words are never searched: a search must not tell what a deleted entry said.
        conditions.append(entries.deleted.is_(False))
    if where.categories:
        conditions.append(entries.category.in_(sorted(where.categories)))
    for tag in where.tags:
        conditions.append(
            exists().where(
                logbook_entry_tags.c.entry_id == entries.id, logbook_entry_tags.c.tag == tag
            )
        )
    if where.dataset_id is not None:
        conditions.append(entries.dataset_id == where.dataset_id)
    if where.author is not None:
        conditions.append(entries.author == where.author)
    if where.since is not None:
        conditions.append(entries.occurred_at >= where.since)
    if where.until is not None:
        conditions.append(entries.occurred_at < where.until)
    if where.text:
        conditions.append(text_condition(connection.dialect.name, where.text, entries.seq))
    return conditions


def _parts(
    connection: Connection, scope: LogbookScope, where: EntryFilter
) -> list[ColumnElement[bool]]:
    """One condition per part of the logbook (its own entries, broadcasts), filters applied."""
    kinds = where.kinds or frozenset(EntryKind)
    parts = []
    own = _own_part(scope)
    own_kinds = kinds - {EntryKind.BROADCAST}
    if own is not None and own_kinds:
        if own_kinds != {EntryKind.ANNOTATION, EntryKind.NOTIFICATION}:
            own = and_(own, logbook_entries.c.kind.in_(sorted(k.value for k in own_kinds)))
        parts.append(own)
    broadcasts = _broadcast_part(scope)
    if broadcasts is not None and EntryKind.BROADCAST in kinds and where.dataset_id is None:
        parts.append(broadcasts)
    filters = _filters(connection, where)
    return [and_(part, *filters) for part in parts]


def _merged(queries: Sequence[Select[Any]], order: Sequence[str], limit: int) -> Select[Any]:
    """The first `limit` rows of the ordered parts, merged in the same order."""
    if len(queries) == 1:
        return queries[0]
    merged = union_all(*(select(q.subquery()) for q in queries)).subquery()
    terms = [merged.c[name.lstrip("-")] for name in order]
    return (
        select(merged)
        .order_by(
            *(t.desc() if n.startswith("-") else t.asc() for t, n in zip(terms, order, strict=True))
        )
        .limit(limit)
    )


def list_entries(
    connection: Connection, scope: LogbookScope, where: EntryFilter, cursor: str | None, limit: int
) -> Page:
    """One page of the logbook, newest first, with the count of matching entries."""
    plan_each_query(connection)
    parts = _parts(connection, scope, where)
    if not parts:
        return Page([], None, 0)
    after = None if cursor is None else NEWEST_FIRST.after(decode_cursor(NEWEST_FIRST, cursor))
    if (
        where.text
        and connection.dialect.name == "postgresql"
        and scope.readable_investigations is None
    ):
        # (A visitor's beamline search names their few investigations: the planner reads
        # just those, and a walk of the beamline's newest entries would mostly skip.)
        rows = _newest_matches(connection, scope, where, after, limit + 1)
    else:
        queries = [
            select(*_ENTRY_COLUMNS)
            .where(part, *([after] if after is not None else []))
            .order_by(*NEWEST_FIRST.order_by())
            .limit(limit + 1)
            for part in parts
        ]
        rows = list(connection.execute(_merged(queries, ["-occurred_at", "-seq"], limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(NEWEST_FIRST, rows[-1])
    if where.text:
        # Matches are not counted: the newest 50 of a common word across a beamline come
        # from the time index in a millisecond, while counting them reads thousands of
        # entries (75 ms on a 250,000-entry beamline). The total is what this page shows,
        # a lower bound while more pages follow.
        total, exact = len(rows), next_cursor is None and cursor is None
    else:
        total, exact = _capped_count(connection, parts)
    return Page(entry_documents(connection, rows), next_cursor, total, exact)


#: How many of a logbook's newest entries a full-text page reads in time order first.
RECENT_WINDOW = 10_000


def _newest_matches(
    connection: Connection,
    scope: LogbookScope,
    where: EntryFilter,
    after: ColumnElement[bool] | None,
    count: int,
) -> list[Any]:
    """The newest `count` entries matching a full-text query (PostgreSQL).

    PostgreSQL estimates how many entries hold a phrase or a set of words by multiplying
    the words' frequencies. Words that go together ("beam lost") are then thought rare,
    and it builds bitmaps of every candidate on the beamline (44 ms on 250,000 entries)
    where the newest 50 matches lie among its last few thousand entries (3 ms). So each
    part of the logbook is first read newest first over its latest RECENT_WINDOW entries,
    fenced by a LIMIT the planner cannot see through, and the text tested on those; only
    if that does not fill the page does the planner choose freely (rare words: the index).
    """
    unfiltered = _parts(connection, scope, replace(where, text=[]))
    found: list[Any] = []
    for part, full in zip(unfiltered, _parts(connection, scope, where), strict=True):
        bounds = [part, *([after] if after is not None else [])]
        recent = (
            select(*_ENTRY_COLUMNS, pg_document())
            .where(*bounds)
            .order_by(*NEWEST_FIRST.order_by())
            .limit(RECENT_WINDOW)
            .subquery("recent")
        )
        matching = text_condition("postgresql", where.text, recent.c.seq, table="recent")
        columns = [recent.c[c.name] for c in _ENTRY_COLUMNS]
        rows = list(
            connection.execute(
                select(*columns)
                .where(matching)
                .order_by(recent.c.occurred_at.desc(), recent.c.seq.desc())
                .limit(count)
            )
        )
        if len(rows) < count:
            rows = list(
                connection.execute(
                    select(*_ENTRY_COLUMNS)
                    .where(full, *([after] if after is not None else []))
                    .order_by(*NEWEST_FIRST.order_by())
                    .limit(count)
                )
            )
        found.extend(rows)
    found.sort(key=lambda row: (row.occurred_at, row.seq), reverse=True)
    return found[:count]


def _capped_count(
    connection: Connection, parts: Sequence[ColumnElement[bool]], cap: int = COUNT_CAP
) -> tuple[int, bool]:
    counted = 0
    for part in parts:
        limited = select(logbook_entries.c.seq).where(part).limit(cap + 1 - counted)
        counted += connection.execute(
            select(func.count()).select_from(limited.subquery())
        ).scalar_one()
        if counted > cap:
            return cap, False
    return counted, True


def _day(connection: Connection) -> ColumnElement[str]:
    occurred = logbook_entries.c.occurred_at
    if connection.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", occurred), "YYYY-MM-DD")
    # SQLite keeps UTC times as 'YYYY-MM-DD HH:MM:SS...' text.
    return func.substr(occurred, 1, 10)


def timeline(connection: Connection, scope: LogbookScope, where: EntryFilter) -> dict[str, Any]:
    """How many entries per category, and per UTC day and category, oldest day first."""
    plan_each_query(connection)
    parts = _parts(connection, scope, where)
    days: dict[str, dict[str, int]] = defaultdict(dict)
    categories: dict[str, int] = defaultdict(int)
    total = 0
    day = _day(connection).label("day")
    for part in parts:
        grouped = (
            select(day, logbook_entries.c.category, func.count().label("n"))
            .where(part)
            .group_by(day, logbook_entries.c.category)
        )
        for row in connection.execute(grouped):
            days[row.day][row.category] = days[row.day].get(row.category, 0) + row.n
            categories[row.category] += row.n
            total += row.n
    return {
        "total": total,
        "categories": dict(sorted(categories.items())),
        "days": [
            {"day": name, "total": sum(counts.values()), "categories": dict(sorted(counts.items()))}
            for name, counts in sorted(days.items())
        ],
    }


def changes_after(
    connection: Connection, scope: LogbookScope, position: int, limit: int
) -> list[dict[str, Any]]:
    """Entries changed after `position`, in the order of their last change (deleted too)."""
    plan_each_query(connection)
    parts = _parts(connection, scope, EntryFilter(include_deleted=True))
    changed = logbook_entries.c.changed_position
    queries = [
        select(*_ENTRY_COLUMNS).where(part, changed > position).order_by(changed).limit(limit)
        for part in parts
    ]
    if not queries:
        return []
    rows = list(connection.execute(_merged(queries, ["changed_position"], limit)))
    return entry_documents(connection, rows)


def entry_documents(
    connection: Connection, rows: Sequence[Any], *, hide_deleted: bool = True
) -> list[dict[str, Any]]:
    """Entry rows as the API shows them, with their tags and attachments (two queries);
    listings hide a deleted entry's content."""
    ids = [row.id for row in rows]
    tags: dict[UUID, list[str]] = defaultdict(list)
    files: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for tag_row in connection.execute(
            select(logbook_entry_tags)
            .where(logbook_entry_tags.c.entry_id.in_(ids))
            .order_by(logbook_entry_tags.c.tag)
        ):
            tags[tag_row.entry_id].append(tag_row.tag)
        with_files = [row.id for row in rows if row.attachment_count]
        if with_files:
            for file_row in connection.execute(
                select(logbook_attachments)
                .where(logbook_attachments.c.entry_id.in_(with_files))
                .order_by(logbook_attachments.c.added_at, logbook_attachments.c.sha256)
            ):
                files[file_row.entry_id].append(attachment_document(file_row))
    return [
        _entry_document(row, tags[row.id], files[row.id], row.deleted and hide_deleted)
        for row in rows
    ]


def attachment_document(row: Any) -> dict[str, Any]:
    """An attachment as the API shows it, with the URLs of the image and its thumbnail."""
    url = f"/api/v1/logbook/entries/{row.entry_id}/attachments/{row.sha256}"
    return {
        "sha256": row.sha256,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "width": row.width,
        "height": row.height,
        "url": url,
        "thumbnail_url": f"{url}?thumbnail=true",
        "added_at": row.added_at,
        "added_by": row.added_by,
    }


def _entry_document(
    row: Any, tags: list[str], files: list[dict[str, Any]], hidden: bool
) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "category": row.category,
        "investigation_id": row.investigation_id,
        "instrument": row.instrument,
        "dataset_id": row.dataset_id,
        "author": row.author,
        "client_id": row.client_id,
        "time": row.occurred_at,
        # A deleted entry keeps its place (and history) but not its content in listings.
        "content": None
        if hidden
        else {"text": row.text, "markup": row.markup, "source": row.source, "html": row.html},
        "software": row.software,
        "machine": row.machine,
        "tags": tags,
        "attachments": [] if hidden else files,
        "deleted": row.deleted,
        "deleted_reason": row.deleted_reason,
        "version": row.version,
        "content_version": row.content_version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "position": row.changed_position,
        "last_change": row.last_change,
    }


@dataclass(frozen=True, slots=True)
class EntryRef:
    """What the rules need to know of one entry."""

    investigation_id: UUID | None
    instrument: str | None
    kind: EntryKind
    author: str
    deleted: bool


def entry_ref(connection: Connection, entry_id: UUID) -> EntryRef | None:
    """Where an entry lives and who wrote it, or None if there is no such entry."""
    row = connection.execute(
        select(
            logbook_entries.c.investigation_id,
            logbook_entries.c.instrument,
            logbook_entries.c.kind,
            logbook_entries.c.author,
            logbook_entries.c.deleted,
        ).where(logbook_entries.c.id == entry_id)
    ).first()
    if row is None:
        return None
    return EntryRef(
        row.investigation_id, row.instrument, EntryKind(row.kind), row.author, row.deleted
    )


def get_entry(
    connection: Connection, entry_id: UUID, *, hide_deleted: bool
) -> dict[str, Any] | None:
    """One entry with its tags and attachments (a deleted one's content only if asked)."""
    row = connection.execute(
        select(*_ENTRY_COLUMNS).where(logbook_entries.c.id == entry_id)
    ).first()
    if row is None:
        return None
    return entry_documents(connection, [row], hide_deleted=hide_deleted)[0]


def existing_entries(connection: Connection, entry_ids: Iterable[UUID]) -> set[UUID]:
    """Which of the ids are entries already."""
    ids = list(entry_ids)
    found: set[UUID] = set()
    for start in range(0, len(ids), 1000):
        found.update(
            connection.execute(
                select(logbook_entries.c.id).where(
                    logbook_entries.c.id.in_(ids[start : start + 1000])
                )
            ).scalars()
        )
    return found


def _scopes(investigation_id: UUID | None, instrument: str | None) -> list[str]:
    scopes = []
    if investigation_id is not None:
        scopes.append(tag_scope(investigation_id, None))
    if instrument is not None:
        scopes.append(tag_scope(None, instrument))
    return scopes


def known_tags(
    connection: Connection, investigation_id: UUID | None, instrument: str | None
) -> frozenset[str]:
    """Names of the tags an entry of this logbook may carry (its own and its beamline's)."""
    scopes = _scopes(investigation_id, instrument)
    if not scopes:
        return frozenset()
    return frozenset(
        connection.execute(
            select(logbook_tags.c.name).where(logbook_tags.c.scope.in_(scopes))
        ).scalars()
    )


def tag_name_taken(
    connection: Connection, investigation_id: UUID | None, instrument: str | None, name: str
) -> bool:
    """Whether a tag of this name exists where entries would confuse it with a new one: on
    the beamline (for an investigation's tag) or in any of its investigations (for a
    beamline's tag)."""
    query = select(logbook_tags.c.id).where(logbook_tags.c.name == name)
    if investigation_id is not None:
        query = query.where(logbook_tags.c.scope == tag_scope(None, instrument))
    else:
        on_beamline = select(investigations.c.id).where(investigations.c.instrument == instrument)
        query = query.where(logbook_tags.c.investigation_id.in_(on_beamline))
    return connection.execute(query.limit(1)).first() is not None


def list_tags(
    connection: Connection, investigation_id: UUID | None, instrument: str | None
) -> list[dict[str, Any]]:
    """The tags of a logbook (an investigation's include its beamline's), by name."""
    scopes = _scopes(investigation_id, instrument)
    rows = connection.execute(
        select(logbook_tags)
        .where(logbook_tags.c.scope.in_(scopes))
        .order_by(logbook_tags.c.name, logbook_tags.c.scope)
    )
    return [tag_document(row) for row in rows]


def get_tag(connection: Connection, tag_id: UUID) -> dict[str, Any] | None:
    """One tag definition."""
    row = connection.execute(select(logbook_tags).where(logbook_tags.c.id == tag_id)).first()
    return None if row is None else tag_document(row)


def tag_document(row: Any) -> dict[str, Any]:
    """A tag as the API shows it."""
    return {
        "id": row.id,
        "name": row.name,
        "colour": row.colour,
        "description": row.description,
        "investigation_id": row.investigation_id,
        "instrument": row.instrument,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def find_attachment(connection: Connection, entry_id: UUID, sha256: str) -> Any | None:
    """An entry's attachment row, or None."""
    return connection.execute(
        select(logbook_attachments).where(
            logbook_attachments.c.entry_id == entry_id, logbook_attachments.c.sha256 == sha256
        )
    ).first()


#: Up to this many readable investigations of a beamline are named in its query by id.
READABLE_IDS_INLINE = 2000


def readable_on_beamline(
    connection: Connection, principal: Principal, now: datetime, instrument: str
) -> ColumnElement[bool]:
    """Entries of the beamline's investigations that the caller may read (not its own).

    The ids themselves, not a subquery: the planner then sees how few entries are readable
    (a visitor's own two investigations) and reads just those.
    """
    mine = select(investigations.c.id).where(investigations.c.instrument == instrument)
    clause = readable_clause(principal, now)
    if clause is not None:
        mine = mine.where(clause)
    ids = list(connection.execute(mine.limit(READABLE_IDS_INLINE + 1)).scalars())
    column = logbook_entries.c.investigation_id
    return column.in_(ids) if len(ids) <= READABLE_IDS_INLINE else column.in_(mine)


def investigation_window(
    connection: Connection, investigation_id: UUID
) -> tuple[datetime, datetime | None] | None:
    """An investigation's start and end: the broadcasts its logbook shows fall between."""
    row = connection.execute(
        select(investigations.c.start_time, investigations.c.end_time).where(
            investigations.c.id == investigation_id
        )
    ).first()
    return None if row is None else (row.start_time, row.end_time)
