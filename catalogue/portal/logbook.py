"""The electronic logbook's commands and queries, with the access rules applied."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from catalogue.attachments import AttachmentStore, check_picture
from catalogue.domain import logbook as lb
from catalogue.domain.access import Principal, PrincipalKind, require, require_read
from catalogue.domain.values import check_instrument_name
from catalogue.errors import (
    CatalogueError,
    ConcurrencyConflict,
    InvalidCommand,
    NotFound,
    StoreError,
)
from catalogue.events import NO_STREAM, StreamAppend, new_event_ids
from catalogue.portal.execution import Caller, execute, reading, run
from catalogue.projections import Status, read_checkpoint
from catalogue.readmodels import datasets as dataset_queries
from catalogue.readmodels import instruments as instrument_queries
from catalogue.readmodels import investigations as investigation_queries
from catalogue.readmodels import logbook as queries
from catalogue.readmodels.logbook_projection import LogbookProjection
from catalogue.readmodels.paging import Page
from catalogue.store import EventStore

#: A bulk post that raced another post of the same ids is sorted out again this often.
BULK_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Limits:
    """The service's configured bounds on what a logbook takes."""

    max_content: int = lb.MAX_CONTENT
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 50_000_000


@dataclass(frozen=True, slots=True)
class EntryInput:
    """An entry as a person or a machine writes it."""

    kind: lb.EntryKind
    category: lb.Category
    content: lb.NewContent
    investigation_id: UUID | None = None
    instrument: str | None = None
    dataset_id: UUID | None = None
    client_id: str | None = None
    time: datetime | None = None
    software: str | None = None
    machine: str | None = None
    tags: tuple[str, ...] = ()


# -- where a logbook lives, and who may read it ---------------------------------------------


def _facts(
    connection: Connection, caller: Caller, investigation_id: UUID | None, instrument: str | None
) -> lb.LogbookFacts:
    """The logbook's facts if the caller may read its own entries; else 404."""
    if investigation_id is not None:
        found = investigation_queries.investigation_facts(
            connection, investigation_id, caller.principal.username
        )
        facts = require_read(caller.principal, found, caller.now, "investigation")
        if instrument is not None and instrument != facts.instrument:
            raise InvalidCommand(
                f"investigation {investigation_id} is on {facts.instrument}, not {instrument}",
                "instrument",
            )
        return lb.LogbookFacts(facts.instrument, facts)
    if instrument is not None:
        beamline = lb.LogbookFacts(_known_beamline(connection, instrument))
        if not lb.can_read_logbook(caller.principal, beamline, caller.now):
            raise NotFound("no beamline with that name")
        return beamline
    return lb.LogbookFacts(None)


def _known_beamline(connection: Connection, instrument: str) -> str:
    """The beamline's name if it is one the catalogue holds; else 404."""
    check_instrument_name(instrument)
    if not instrument_queries.instrument_exists(connection, instrument):
        raise NotFound("no beamline with that name")
    return instrument


def _scope(
    connection: Connection,
    caller: Caller,
    investigation_id: UUID | None,
    instrument: str | None,
    include_broadcasts: bool,
) -> queries.LogbookScope:
    """The entries a listing covers for this caller: one investigation's, a beamline's (only
    the investigations the caller may read, unless they are its staff), or broadcasts only."""
    if investigation_id is not None:
        _facts(connection, caller, investigation_id, instrument)
        window = queries.investigation_window(connection, investigation_id)
        assert window is not None
        return queries.LogbookScope(
            investigation_id=investigation_id,
            broadcasts_from=window[0],
            broadcasts_to=window[1],
            include_broadcasts=include_broadcasts,
        )
    if instrument is None:
        return queries.LogbookScope(include_broadcasts=True)
    beamline = lb.LogbookFacts(_known_beamline(connection, instrument))
    staff = lb.can_read_logbook(caller.principal, beamline, caller.now)
    readable = (
        None
        if staff
        else queries.readable_on_beamline(connection, caller.principal, caller.now, instrument)
    )
    return queries.LogbookScope(
        instrument=instrument,
        readable_investigations=readable,
        include_broadcasts=include_broadcasts,
    )


def _entry_facts(
    connection: Connection, caller: Caller, entry_id: UUID
) -> tuple[queries.EntryRef, lb.LogbookFacts]:
    """An entry's place and author if the caller may read it; else 404."""
    ref = queries.entry_ref(connection, entry_id)
    if ref is None:
        raise NotFound("no logbook entry with that id")
    try:
        facts = _facts(connection, caller, ref.investigation_id, ref.instrument)
    except NotFound:
        raise NotFound("no logbook entry with that id") from None
    return ref, facts


# -- reading --------------------------------------------------------------------------------


def list_entries(
    store: EventStore,
    caller: Caller,
    investigation_id: UUID | None,
    instrument: str | None,
    where: queries.EntryFilter,
    cursor: str | None,
    limit: int,
    include_broadcasts: bool = True,
) -> Page:
    """A logbook's entries, newest first."""
    with reading(store) as connection:
        scope = _scope(connection, caller, investigation_id, instrument, include_broadcasts)
        return queries.list_entries(connection, scope, where, cursor, limit)


def timeline(
    store: EventStore,
    caller: Caller,
    investigation_id: UUID | None,
    instrument: str | None,
    where: queries.EntryFilter,
    include_broadcasts: bool = True,
) -> dict[str, Any]:
    """Counts of a logbook's entries per category and per day."""
    with reading(store) as connection:
        scope = _scope(connection, caller, investigation_id, instrument, include_broadcasts)
        return queries.timeline(connection, scope, where)


def live_scope(
    store: EventStore, caller: Caller, investigation_id: UUID | None, instrument: str | None
) -> queries.LogbookScope:
    """The scope a live follower gets, checked once when it connects."""
    with reading(store) as connection:
        return _scope(connection, caller, investigation_id, instrument, True)


def changes_after(
    store: EventStore, scope: queries.LogbookScope, position: int, limit: int
) -> list[dict[str, Any]]:
    """Entries of the scope changed after `position`, oldest change first."""
    with reading(store) as connection:
        return queries.changes_after(connection, scope, position, limit)


def _readable_content(
    connection: Connection, caller: Caller, entry_id: UUID
) -> tuple[queries.EntryRef, lb.LogbookFacts]:
    """An entry whose content the caller may see: a deleted one's only by who may restore it."""
    ref, facts = _entry_facts(connection, caller, entry_id)
    if ref.deleted and not lb.can_edit(caller.principal, ref.author, facts):
        raise NotFound("the entry was deleted; only who may restore it can see its content")
    return ref, facts


def get_entry(store: EventStore, caller: Caller, entry_id: UUID) -> dict[str, Any]:
    """One entry; a deleted one shows its content only to who may restore it."""
    with reading(store) as connection:
        ref, facts = _entry_facts(connection, caller, entry_id)
        restorer = lb.can_edit(caller.principal, ref.author, facts)
        found = queries.get_entry(connection, entry_id, hide_deleted=not restorer)
    assert found is not None
    return found


def entry_versions(store: EventStore, caller: Caller, entry_id: UUID) -> list[dict[str, Any]]:
    """Every version of an entry's content, newest first, each linking to the one before."""
    with reading(store) as connection:
        _readable_content(connection, caller, entry_id)
    versions = []
    category: lb.Category | None = None
    for recorded in store.read_stream(lb.ENTRY.stream(entry_id)):
        payload = recorded.payload
        if isinstance(payload, lb.EntryPosted | lb.EntryEdited):
            content = payload.content
            category = payload.category or category
            versions.append(
                {
                    "version": recorded.version,
                    "previous_version": payload.previous_version
                    if isinstance(payload, lb.EntryEdited)
                    else None,
                    "category": category,
                    "content": {
                        "text": content.text,
                        "markup": content.markup,
                        "source": content.source,
                        "html": content.html,
                    },
                    "written_by": recorded.metadata.actor,
                    "written_at": recorded.recorded_at,
                }
            )
    versions.reverse()
    return versions


def attachment_bytes(
    store: EventStore,
    files: AttachmentStore,
    caller: Caller,
    entry_id: UUID,
    sha256: str,
    thumbnail: bool,
) -> tuple[bytes, str, str]:
    """An attachment's bytes, content type and file name (or its thumbnail's)."""
    with reading(store) as connection:
        _readable_content(connection, caller, entry_id)
        row = queries.find_attachment(connection, entry_id, sha256)
    if row is None:
        raise NotFound("no such attachment on this entry")
    if thumbnail:
        return files.read(row.thumbnail_sha256), row.content_type, f"thumbnail-{row.filename}"
    return files.read(row.sha256), row.content_type, row.filename


# -- writing --------------------------------------------------------------------------------


@dataclass
class _Places:
    """What one request learns of the logbooks and datasets it writes to, learnt once each:
    a bulk post of 1,000 notifications to one logbook checks its access once, not 1,000 times."""

    connection: Connection
    caller: Caller
    checked: dict[tuple[lb.EntryKind, UUID | None, str | None], lb.LogbookFacts] = field(
        default_factory=dict
    )
    tags: dict[tuple[UUID | None, str | None], frozenset[str]] = field(default_factory=dict)
    datasets: dict[UUID, UUID | None] = field(default_factory=dict)

    def writable(self, entry: EntryInput) -> lb.LogbookFacts:
        """The logbook's facts, if the caller may post this kind of entry there."""
        key = (entry.kind, entry.investigation_id, entry.instrument)
        if key not in self.checked:
            facts = _facts(self.connection, self.caller, entry.investigation_id, entry.instrument)
            if entry.kind is not lb.EntryKind.BROADCAST and facts.instrument is None:
                raise InvalidCommand(
                    "give investigation_id or instrument: where does the entry belong?",
                    "investigation_id",
                )
            principal = self.caller.principal
            require(
                lb.can_post(principal, entry.kind, facts),
                principal,
                f"post {entry.kind.value}s in this logbook",
            )
            lb.refuse_if_read_only(facts, self.caller.now)
            self.checked[key] = facts
        return self.checked[key]

    def known_tags(
        self, kind: lb.EntryKind, place: tuple[UUID | None, str | None]
    ) -> frozenset[str]:
        """The tags defined for the logbook (a broadcast has none)."""
        if kind is lb.EntryKind.BROADCAST:
            return frozenset()
        if place not in self.tags:
            self.tags[place] = queries.known_tags(self.connection, *place)
        return self.tags[place]

    def dataset_owner(self, dataset_id: UUID) -> UUID | None:
        """The investigation of a dataset (None if there is no such dataset)."""
        if dataset_id not in self.datasets:
            owner = dataset_queries.owner_of_dataset(self.connection, dataset_id)
            self.datasets[dataset_id] = None if owner is None else owner[0]
        return self.datasets[dataset_id]


def _writer(principal: Principal) -> str:
    """Whose client ids an entry's id is derived from: a beamline's (whichever of its keys
    posts, so that a retry after a key is rotated still finds the entry) or a person's."""
    if principal.kind is PrincipalKind.API_KEY:
        return f"beamline:{principal.instrument}"
    return principal.actor


def _post_command(places: _Places, entry: EntryInput, limits: Limits) -> lb.PostEntry:
    """Check that the caller may write the entry there, and gather the facts its rules need."""
    facts = places.writable(entry)
    owner = None if entry.dataset_id is None else places.dataset_owner(entry.dataset_id)
    dataset_found = owner is not None and owner == entry.investigation_id
    principal = places.caller.principal
    entry_id = (
        lb.entry_id_for(_writer(principal), entry.client_id)
        if entry.client_id is not None
        else new_event_ids(1)[0]
    )
    return lb.PostEntry(
        entry_id=entry_id,
        kind=entry.kind,
        category=entry.category,
        investigation_id=entry.investigation_id,
        # A broadcast given a place is refused by the rules, not silently moved.
        instrument=entry.instrument if entry.kind is lb.EntryKind.BROADCAST else facts.instrument,
        author=principal.actor,
        occurred_at=entry.time or places.caller.now,
        content=entry.content,
        dataset_id=entry.dataset_id,
        client_id=entry.client_id,
        software=entry.software,
        machine=entry.machine,
        tags=entry.tags,
        known_tags=places.known_tags(entry.kind, (entry.investigation_id, facts.instrument)),
        dataset_found=dataset_found,
        max_content=limits.max_content,
    )


def post_entry(
    store: EventStore, caller: Caller, entry: EntryInput, limits: Limits
) -> tuple[UUID, bool]:
    """Write one entry; return its id and whether it is new (a repeated client id is not)."""
    ids, created = post_entries(store, caller, [entry], limits, field_prefix=None)
    return ids[0], bool(created)


def post_entries(
    store: EventStore,
    caller: Caller,
    entries: Sequence[EntryInput],
    limits: Limits,
    field_prefix: str | None = "entries",
) -> tuple[list[UUID], int]:
    """Write many entries in one append, all or none; entries whose client id was posted
    before are left as they are. Return every entry's id and how many were new."""
    commands: list[lb.PostEntry] = []
    with reading(store) as connection:
        if read_checkpoint(connection, LogbookProjection.name).status is not Status.LIVE:
            # Posted client ids are looked up in the read model, which a rebuild has not
            # finished refilling: a retry could not be recognised.
            raise StoreError("the logbook read model is being rebuilt; try again later")
        places = _Places(connection, caller)
        for index, entry in enumerate(entries):
            try:
                commands.append(_post_command(places, entry, limits))
            except CatalogueError as error:
                raise _located(error, field_prefix, index) from None
    posted: list[tuple[UUID, list[Any]]] = []
    seen: set[UUID] = set()
    for index, command in enumerate(commands):
        if command.entry_id in seen:
            raise InvalidCommand(
                f"id {command.client_id!r} appears twice in the request",
                f"{field_prefix}.{index}.id" if field_prefix else "id",
            )
        seen.add(command.entry_id)
        try:
            posted.append((command.entry_id, lb.decide_entry(lb.ENTRY.initial, command)))
        except CatalogueError as error:
            raise _located(error, field_prefix, index) from None
    ids = [entry_id for entry_id, _ in posted]
    for attempt in range(BULK_ATTEMPTS):
        with reading(store) as connection:
            existing = queries.existing_entries(connection, ids)
        appends = [
            StreamAppend(lb.ENTRY.stream(entry_id), events, NO_STREAM)
            for entry_id, events in posted
            if entry_id not in existing
        ]
        if not appends:
            return ids, 0
        try:
            store.append(appends, caller.metadata())
        except ConcurrencyConflict:
            # Another request posted some of the same client ids meanwhile: look again.
            if attempt == BULK_ATTEMPTS - 1:
                raise
            continue
        return ids, len(appends)
    raise AssertionError("unreachable")  # pragma: no cover


def _located(error: CatalogueError, prefix: str | None, index: int) -> CatalogueError:
    """The same error, naming the entry of a bulk request it is about."""
    if prefix is None:
        return error
    located = copy.copy(error)
    located.detail = f"{prefix}[{index}]: {error.detail}"
    located.field = f"{prefix}.{index}" + (f".{error.field}" if error.field else "")
    located.args = (located.detail,)
    return located


def check_attachable(store: EventStore, caller: Caller, entry_id: UUID) -> None:
    """Refuse (401, 403, 404, 409) a caller who may not attach files to the entry."""
    with reading(store) as connection:
        _writable_entry(connection, caller, entry_id, "attach files to this entry")


def _writable_entry(
    connection: Connection, caller: Caller, entry_id: UUID, action: str
) -> tuple[queries.EntryRef, lb.LogbookFacts]:
    ref, facts = _entry_facts(connection, caller, entry_id)
    require(lb.can_edit(caller.principal, ref.author, facts), caller.principal, action)
    lb.refuse_if_read_only(facts, caller.now)
    return ref, facts


#: What each change of an entry is called when it is refused.
_ACTIONS: dict[type[Any], str] = {
    lb.EditEntry: "edit this entry",
    lb.DeleteEntry: "delete this entry",
    lb.RestoreEntry: "restore this entry",
}


def change_entry(
    store: EventStore,
    caller: Caller,
    entry_id: UUID,
    command: lb.EditEntry | lb.DeleteEntry | lb.RestoreEntry,
    if_match: int | None,
) -> int:
    """Edit an annotation (its previous content stays in history), or delete or restore an
    entry: its author, a local contact or an admin, while the logbook is writable."""
    with reading(store) as connection:
        _writable_entry(connection, caller, entry_id, _ACTIONS[type(command)])
    return run(store, caller, lb.ENTRY, entry_id, command, if_match=if_match).version


def tag_entry(
    store: EventStore,
    caller: Caller,
    entry_id: UUID,
    add: Sequence[str],
    remove: Sequence[str],
    if_match: int | None,
) -> int:
    """Put tags on an entry and take others off."""
    with reading(store) as connection:
        ref, facts = _entry_facts(connection, caller, entry_id)
        require(lb.can_tag(caller.principal, facts), caller.principal, "tag entries here")
        lb.refuse_if_read_only(facts, caller.now)
        known = queries.known_tags(connection, ref.investigation_id, ref.instrument)

    def decide(state: lb.Entry) -> list[Any]:
        events = lb.decide_entry(state, lb.TagEntry(tuple(add), known)) if add else []
        for event in events:
            state = lb.evolve_entry(state, event)
        if remove:
            events += lb.decide_entry(state, lb.UntagEntry(tuple(remove)))
        return events

    return execute(store, caller, lb.ENTRY, entry_id, decide, if_match=if_match).version


def attach_image(
    store: EventStore,
    files: AttachmentStore,
    caller: Caller,
    entry_id: UUID,
    filename: str,
    data: bytes,
    limits: Limits,
) -> dict[str, Any]:
    """Check an image, store it and its thumbnail, and attach it to the entry."""
    with reading(store) as connection:
        _writable_entry(connection, caller, entry_id, "attach files to this entry")
    picture = check_picture(data, limits.max_attachment_bytes, limits.max_image_pixels)
    name = filename.strip() or "image"
    if len(name) > 255 or "/" in name or "\\" in name or not name.isprintable():
        raise InvalidCommand(
            "filename must be a printable base name of at most 255 characters", "filename"
        )
    # The bytes go first: an append that then fails leaves only an unreferenced file.
    attachment = lb.Attachment(
        sha256=files.put(data),
        filename=name,
        content_type=picture.content_type,
        size=len(data),
        width=picture.width,
        height=picture.height,
        thumbnail_sha256=files.put(picture.thumbnail),
    )
    run(store, caller, lb.ENTRY, entry_id, lb.AttachImage(attachment))
    with reading(store) as connection:
        row = queries.find_attachment(connection, entry_id, attachment.sha256)
    return queries.attachment_document(row)


# -- tags -----------------------------------------------------------------------------------


def list_tags(
    store: EventStore, caller: Caller, investigation_id: UUID | None, instrument: str | None
) -> list[dict[str, Any]]:
    """The tags an entry of this logbook may carry."""
    with reading(store) as connection:
        facts = _facts(connection, caller, investigation_id, instrument)
        return queries.list_tags(connection, investigation_id, facts.instrument)


def define_tag(store: EventStore, caller: Caller, command: lb.DefineTag) -> dict[str, Any]:
    """Define a tag for an investigation's or a beamline's logbook."""
    with reading(store) as connection:
        facts = _facts(connection, caller, command.investigation_id, command.instrument)
        require(lb.can_tag(caller.principal, facts), caller.principal, "define tags here")
        lb.refuse_if_read_only(facts, caller.now)
        taken = queries.tag_name_taken(
            connection, command.investigation_id, facts.instrument, command.name
        )
    scope = lb.tag_scope(command.investigation_id, facts.instrument)
    tag_id = lb.tag_id_for(scope, command.name)
    checked = lb.DefineTag(
        command.investigation_id,
        facts.instrument,
        command.name,
        command.colour,
        command.description,
        name_taken=taken,
    )
    run(store, caller, lb.TAG, tag_id, checked)
    with reading(store) as connection:
        found = queries.get_tag(connection, tag_id)
    assert found is not None
    return found


def change_tag(
    store: EventStore, caller: Caller, tag_id: UUID, command: lb.ChangeTag, if_match: int | None
) -> dict[str, Any]:
    """Change a tag's colour or description."""
    with reading(store) as connection:
        found = queries.get_tag(connection, tag_id)
        try:
            if found is None:
                raise NotFound("no tag")
            facts = _facts(connection, caller, found["investigation_id"], found["instrument"])
        except NotFound:
            # One answer for "none" and "not yours": tag ids derive from names.
            raise NotFound("no tag with that id") from None
        require(lb.can_tag(caller.principal, facts), caller.principal, "change tags here")
        lb.refuse_if_read_only(facts, caller.now)
    run(store, caller, lb.TAG, tag_id, command, if_match=if_match)
    with reading(store) as connection:
        changed = queries.get_tag(connection, tag_id)
    assert changed is not None
    return changed
