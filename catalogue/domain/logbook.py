"""The electronic logbook: entries (one stream each), their tags and attachments, and who may
do what with them."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

import pydantic

from catalogue.domain.access import (
    InvestigationFacts,
    Principal,
    PrincipalKind,
    can_read,
    can_write_data,
    is_released,
)
from catalogue.domain.aggregate import Aggregate
from catalogue.domain.investigations import Role
from catalogue.domain.markup import render
from catalogue.domain.values import check_aware, check_name, check_text, derived_id
from catalogue.errors import AlreadyExists, DomainError, InvalidCommand, NotFound, TooLarge
from catalogue.events import Event

#: One machine request may post this many notifications.
MAX_BULK = 1000
MAX_TAGS = 20
MAX_TAG_NAME = 64
MAX_ATTACHMENTS = 50
#: Hard bound on content; the service's setting (`logbook_max_content_chars`) may lower it.
MAX_CONTENT = 1_000_000
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: An image the sanitised HTML still shows (one whose source survived the cleaning).
_SHOWN_IMAGE = re.compile(r"<img\b[^>]*\ssrc=")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:/@+-]{1,200}$")
IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})


class EntryKind(enum.StrEnum):
    """Who wrote an entry, and so whether it may change."""

    #: Written by a person; editable.
    ANNOTATION = "annotation"
    #: Written by a machine (the control system); never edited.
    NOTIFICATION = "notification"
    #: A facility-wide message shown in every logbook.
    BROADCAST = "broadcast"


class Category(enum.StrEnum):
    """What an entry is about."""

    COMMENT = "comment"
    INFO = "info"
    ERROR = "error"
    DEBUG = "debug"
    COMMAND_LINE = "commandLine"


class Content(pydantic.BaseModel):
    """An entry's content: plain text and/or rich text (Markdown or HTML) made safe."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    text: str = ""
    #: `markdown` or `html` when there is rich content.
    markup: str | None = None
    #: The rich content as written.
    source: str | None = None
    #: The rich content rendered and sanitised: what a browser may show.
    html: str | None = None
    #: The words of the rich content, for full-text search.
    html_text: str | None = None


class Attachment(pydantic.BaseModel):
    """An image attached to an entry; its bytes live in the content-addressed file store."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    sha256: str
    filename: str
    content_type: str
    size: int
    width: int
    height: int
    thumbnail_sha256: str


# -- events ---------------------------------------------------------------------------------


class EntryPosted(Event):
    """An entry was written in a logbook."""

    entry_id: UUID
    kind: EntryKind
    category: Category
    investigation_id: UUID | None
    instrument: str | None
    dataset_id: UUID | None
    #: The actor who wrote it (`user:alice`, `api-key:ID23-1/k1`).
    author: str
    #: The id the writer gave it, which makes posting it again a no-op.
    client_id: str | None
    #: When it happened (a machine may post later than that).
    occurred_at: datetime
    content: Content
    software: str | None
    machine: str | None
    tags: tuple[str, ...]


class EntryEdited(Event):
    """An entry's content (and maybe category) changed; the previous version stays in history."""

    content: Content
    category: Category | None = None
    #: The stream version that held the content this edit replaces.
    previous_version: int


class EntryTagged(Event):
    """Tags were put on an entry."""

    tags: tuple[str, ...]


class EntryUntagged(Event):
    """Tags were taken off an entry."""

    tags: tuple[str, ...]


class EntryDeleted(Event):
    """An entry was hidden (soft delete); it can be restored."""

    reason: str


class EntryRestored(Event):
    """A deleted entry was shown again."""


class AttachmentAdded(Event):
    """An image was attached to an entry."""

    attachment: Attachment


class TagDefined(Event):
    """A tag was defined for an investigation's or a beamline's logbook."""

    tag_id: UUID
    investigation_id: UUID | None
    instrument: str | None
    name: str
    colour: str
    description: str


class TagChanged(Event):
    """A tag's colour or description changed (absent fields stay)."""

    colour: str | None = None
    description: str | None = None


ENTRY_EVENTS = (
    EntryPosted,
    EntryEdited,
    EntryTagged,
    EntryUntagged,
    EntryDeleted,
    EntryRestored,
    AttachmentAdded,
)
TAG_EVENTS = (TagDefined, TagChanged)


# -- who may do what ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogbookFacts:
    """Where a logbook lives: an investigation (with its access facts), a beamline, or the
    whole facility (broadcasts)."""

    instrument: str | None
    investigation: InvestigationFacts | None = None


def can_read_logbook(principal: Principal, facts: LogbookFacts, now: datetime) -> bool:
    """Read the entries: an investigation's as its data; a beamline's by its staff."""
    if facts.investigation is not None:
        return can_read(principal, facts.investigation, now)
    if facts.instrument is None:
        return True
    return (
        principal.is_admin
        or facts.instrument in principal.scientist_of
        or (principal.kind is PrincipalKind.API_KEY and principal.instrument == facts.instrument)
    )


def _is_staff(principal: Principal, instrument: str | None) -> bool:
    return principal.is_admin or (
        principal.kind is PrincipalKind.USER
        and instrument is not None
        and instrument in principal.scientist_of
    )


def can_post(principal: Principal, kind: EntryKind, facts: LogbookFacts) -> bool:
    """Write an entry of this kind: people annotate, machines notify, admins broadcast."""
    if kind is EntryKind.BROADCAST:
        return principal.is_admin
    if kind is EntryKind.NOTIFICATION:
        return _is_staff(principal, facts.instrument) or (
            principal.kind is PrincipalKind.API_KEY and principal.instrument == facts.instrument
        )
    if principal.kind is not PrincipalKind.USER:
        return False
    if facts.investigation is not None:
        return can_write_data(principal, facts.investigation)
    return _is_staff(principal, facts.instrument)


def can_tag(principal: Principal, facts: LogbookFacts) -> bool:
    """Put tags on entries and define the logbook's tags."""
    return can_post(principal, EntryKind.ANNOTATION, facts) or can_post(
        principal, EntryKind.NOTIFICATION, facts
    )


def can_edit(principal: Principal, author: str, facts: LogbookFacts) -> bool:
    """Edit, delete or restore an entry: its author, a local contact, or an admin."""
    if principal.is_admin or principal.actor == author:
        return True
    if facts.investigation is not None:
        username = principal.username or ""
        return facts.investigation.participants.get(username) is Role.LOCAL_CONTACT
    # Outside an investigation the beamline's scientists are its local contacts.
    return _is_staff(principal, facts.instrument)


def refuse_if_read_only(facts: LogbookFacts, now: datetime) -> None:
    """Once an investigation's data is released, its logbook is a record: no more writes."""
    if facts.investigation is not None and is_released(facts.investigation, now):
        raise DomainError(
            "the logbook of a released investigation is read-only (released "
            f"{facts.investigation.release_date.isoformat()})"
        )


# -- entries --------------------------------------------------------------------------------


def entry_id_for(writer: str, client_id: str) -> UUID:
    """An entry's id from its writer's own id: posting it again lands on the same stream."""
    return derived_id("logbook-entry", writer, client_id)


@dataclass(frozen=True, slots=True)
class Entry:
    """A logbook entry as its events leave it."""

    entry_id: UUID | None = None
    kind: EntryKind = EntryKind.ANNOTATION
    category: Category = Category.COMMENT
    investigation_id: UUID | None = None
    instrument: str | None = None
    author: str = ""
    content: Content = field(default_factory=Content)
    #: The stream version whose event wrote the current content.
    content_version: int = 0
    tags: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    deleted: bool = False
    #: Versions applied so far (evolve does not see the stream version, so it counts).
    version: int = 0

    @property
    def exists(self) -> bool:
        """Whether the entry was posted."""
        return self.entry_id is not None


@dataclass(frozen=True, slots=True)
class NewContent:
    """Content as an author writes it: plain text and/or Markdown or HTML."""

    text: str = ""
    markup: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class PostEntry:
    """Write an entry; the caller supplies the facts the rules need."""

    entry_id: UUID
    kind: EntryKind
    category: Category
    investigation_id: UUID | None
    instrument: str | None
    author: str
    occurred_at: datetime
    content: NewContent
    dataset_id: UUID | None = None
    client_id: str | None = None
    software: str | None = None
    machine: str | None = None
    tags: tuple[str, ...] = ()
    #: Tags defined for this logbook (the investigation's and its beamline's).
    known_tags: frozenset[str] = frozenset()
    #: Whether `dataset_id` names a dataset of this investigation.
    dataset_found: bool = False
    max_content: int = MAX_CONTENT


@dataclass(frozen=True, slots=True)
class EditEntry:
    """Replace an annotation's content or category (the old ones stay in history); None
    leaves either as it is."""

    content: NewContent | None
    category: Category | None = None
    max_content: int = MAX_CONTENT


@dataclass(frozen=True, slots=True)
class TagEntry:
    """Put tags on an entry."""

    tags: tuple[str, ...]
    known_tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class UntagEntry:
    """Take tags off an entry."""

    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeleteEntry:
    """Hide an entry."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class RestoreEntry:
    """Show a deleted entry again."""


@dataclass(frozen=True, slots=True)
class AttachImage:
    """Attach a stored image to an entry."""

    attachment: Attachment


EntryCommand = (
    PostEntry | EditEntry | TagEntry | UntagEntry | DeleteEntry | RestoreEntry | AttachImage
)


def check_content(content: NewContent, max_content: int, field: str = "content") -> Content:
    """Content checked, bounded and, if rich, rendered safe; empty content is refused."""
    limit = min(max_content, MAX_CONTENT)
    size = len(content.text) + len(content.source or "")
    if size > limit:
        raise TooLarge(f"{field} is {size} characters; at most {limit}", field)
    check_text(content.text, f"{field}.text", max_length=limit)
    if content.markup is None:
        if content.source is not None:
            raise InvalidCommand(f"{field} has rich text but no format", f"{field}.markup")
        if not content.text.strip():
            raise InvalidCommand(f"{field} is empty: give text, markdown or html", field)
        # Checked above; constructing without validation saves a machine's bulk post ~10 %.
        return Content.model_construct(text=content.text)
    source = content.source or ""
    check_text(source, f"{field}.{content.markup}", max_length=limit)
    rendered = render(content.markup, source, f"{field}.{content.markup}")
    if not content.text.strip() and not rendered.text and not _SHOWN_IMAGE.search(rendered.html):
        raise InvalidCommand(f"{field} is empty: give text, markdown or html", field)
    return Content(
        text=content.text,
        markup=content.markup,
        source=source,
        html=rendered.html,
        html_text=rendered.text,
    )


def check_tag_name(name: str, field: str = "tags") -> str:
    """A tag name: one line of at most 64 characters."""
    check_name(name, field)
    if len(name) > MAX_TAG_NAME or "," in name:
        raise InvalidCommand(
            f"{field} {name[:80]!r} must be at most {MAX_TAG_NAME} characters without commas",
            field,
        )
    return name


def _checked_tags(tags: Sequence[str], known: frozenset[str] | None, field: str) -> tuple[str, ...]:
    if len(tags) > MAX_TAGS:
        raise InvalidCommand(f"{field} has {len(tags)} tags; at most {MAX_TAGS}", field)
    for index, name in enumerate(tags):
        check_tag_name(name, f"{field}.{index}")
        if known is not None and name not in known:
            raise InvalidCommand(
                f"unknown tag {name!r}: define it for this logbook first "
                f"(known: {', '.join(sorted(known)[:20]) or 'none'})",
                f"{field}.{index}",
            )
    return tuple(dict.fromkeys(tags))


def _check_short(value: str | None, field: str) -> None:
    if value is not None:
        check_text(value, field, max_length=200)
        if "\n" in value or "\r" in value:
            raise InvalidCommand(f"{field} must be a single line", field)


def _post(state: Entry, command: PostEntry) -> list[Event]:
    if state.exists:
        raise AlreadyExists(f"logbook entry {state.entry_id} exists already", "id")
    if command.kind is EntryKind.BROADCAST:
        if command.investigation_id is not None or command.instrument is not None:
            raise InvalidCommand(
                "a broadcast belongs to the whole facility, not to an investigation or beamline",
                "investigation_id" if command.investigation_id is not None else "instrument",
            )
    elif command.instrument is None:
        raise InvalidCommand("an entry belongs to an investigation or a beamline", "instrument")
    if command.dataset_id is not None and not command.dataset_found:
        raise InvalidCommand(
            f"dataset {command.dataset_id} is not a dataset of this investigation", "dataset_id"
        )
    if command.client_id is not None and not _CLIENT_ID.fullmatch(command.client_id):
        raise InvalidCommand(
            "id must be 1-200 of letters, digits and ._:/@+- (the writer's own id)", "id"
        )
    check_aware(command.occurred_at, "time")
    _check_short(command.software, "software")
    _check_short(command.machine, "machine")
    content = check_content(command.content, command.max_content)
    tags = _checked_tags(command.tags, command.known_tags, "tags")
    return [
        EntryPosted(
            entry_id=command.entry_id,
            kind=command.kind,
            category=command.category,
            investigation_id=command.investigation_id,
            instrument=command.instrument,
            dataset_id=command.dataset_id,
            author=command.author,
            client_id=command.client_id,
            occurred_at=command.occurred_at,
            content=content,
            software=command.software,
            machine=command.machine,
            tags=tags,
        )
    ]


def evolve_entry(state: Entry, event: Event) -> Entry:
    """Fold one event into an entry."""
    version = state.version + 1
    match event:
        case EntryPosted():
            return Entry(
                entry_id=event.entry_id,
                kind=event.kind,
                category=event.category,
                investigation_id=event.investigation_id,
                instrument=event.instrument,
                author=event.author,
                content=event.content,
                content_version=version,
                tags=event.tags,
                version=version,
            )
        case EntryEdited():
            return replace(
                state,
                content=event.content,
                category=event.category or state.category,
                content_version=version,
                version=version,
            )
        case EntryTagged():
            return replace(state, tags=(*state.tags, *event.tags), version=version)
        case EntryUntagged():
            gone = set(event.tags)
            return replace(
                state, tags=tuple(t for t in state.tags if t not in gone), version=version
            )
        case EntryDeleted():
            return replace(state, deleted=True, version=version)
        case EntryRestored():
            return replace(state, deleted=False, version=version)
        case AttachmentAdded():
            return replace(
                state,
                attachments=(*state.attachments, event.attachment.sha256),
                version=version,
            )
    return replace(state, version=version)


def decide_entry(state: Entry, command: EntryCommand) -> list[Event]:
    """The events an entry command produces, or a domain error."""
    if isinstance(command, PostEntry):
        return _post(state, command)
    if not state.exists:
        raise NotFound("no logbook entry with that id")
    match command:
        case EditEntry():
            if state.kind is EntryKind.NOTIFICATION:
                raise DomainError(
                    "notifications are written by machines and cannot be edited; "
                    "annotate them instead"
                )
            if state.deleted:
                raise DomainError("the entry is deleted; restore it before editing")
            content = (
                state.content
                if command.content is None
                else check_content(command.content, command.max_content)
            )
            category = command.category if command.category is not state.category else None
            if content == state.content and category is None:
                return []
            return [
                EntryEdited(
                    content=content, category=category, previous_version=state.content_version
                )
            ]
        case TagEntry():
            tags = _checked_tags(command.tags, command.known_tags, "tags")
            new = tuple(t for t in tags if t not in state.tags)
            if len(state.tags) + len(new) > MAX_TAGS:
                raise InvalidCommand(f"an entry carries at most {MAX_TAGS} tags", "tags")
            return [EntryTagged(tags=new)] if new else []
        case UntagEntry():
            tags = _checked_tags(command.tags, None, "tags")
            gone = tuple(t for t in tags if t in state.tags)
            return [EntryUntagged(tags=gone)] if gone else []
        case DeleteEntry():
            check_text(command.reason, "reason", max_length=1000)
            return [] if state.deleted else [EntryDeleted(reason=command.reason)]
        case RestoreEntry():
            return [EntryRestored()] if state.deleted else []
        case AttachImage():
            attachment = command.attachment
            if not _SHA256.fullmatch(attachment.sha256):
                raise InvalidCommand("attachment is not a stored file", "sha256")
            if attachment.content_type not in IMAGE_TYPES:
                raise InvalidCommand(
                    f"attachment type {attachment.content_type} is not PNG or JPEG",
                    "content_type",
                )
            if attachment.sha256 in state.attachments:
                return []
            if len(state.attachments) >= MAX_ATTACHMENTS:
                raise DomainError(f"an entry carries at most {MAX_ATTACHMENTS} attachments")
            return [AttachmentAdded(attachment=attachment)]
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


ENTRY: Aggregate[Entry, EntryCommand] = Aggregate("logbook", Entry(), evolve_entry, decide_entry)


# -- tags -----------------------------------------------------------------------------------


def tag_scope(investigation_id: UUID | None, instrument: str | None) -> str:
    """The logbook a tag belongs to: `investigation:<id>` or `instrument:<name>`."""
    if investigation_id is not None:
        return f"investigation:{investigation_id}"
    return f"instrument:{instrument}"


def tag_id_for(scope: str, name: str) -> UUID:
    """A tag's id: names are unique within a logbook."""
    return derived_id("logbook-tag", scope, name)


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag definition as its events leave it."""

    tag_id: UUID | None = None
    name: str = ""
    colour: str = ""
    description: str = ""

    @property
    def exists(self) -> bool:
        """Whether the tag was defined."""
        return self.tag_id is not None


@dataclass(frozen=True, slots=True)
class DefineTag:
    """Define a tag for an investigation's logbook (or a beamline's, without investigation)."""

    investigation_id: UUID | None
    instrument: str | None
    name: str
    colour: str = "#607d8b"
    description: str = ""
    #: Whether the name is taken in a logbook this tag shares entries with (the beamline's
    #: for an investigation's tag, any of its investigations' for a beamline's tag).
    name_taken: bool = False


@dataclass(frozen=True, slots=True)
class ChangeTag:
    """Change a tag's colour or description (None leaves it)."""

    colour: str | None = None
    description: str | None = None


TagCommand = DefineTag | ChangeTag


def _check_colour(colour: str) -> str:
    if not _COLOUR.fullmatch(colour):
        raise InvalidCommand(f"colour {colour[:20]!r} must be '#rrggbb'", "colour")
    return colour.lower()


def evolve_tag(state: Tag, event: Event) -> Tag:
    """Fold one event into a tag."""
    match event:
        case TagDefined():
            return Tag(event.tag_id, event.name, event.colour, event.description)
        case TagChanged():
            return replace(
                state,
                colour=event.colour or state.colour,
                description=state.description if event.description is None else event.description,
            )
    return state


def decide_tag(state: Tag, command: TagCommand) -> list[Event]:
    """The events a tag command produces, or a domain error."""
    if isinstance(command, DefineTag):
        if state.exists:
            raise AlreadyExists(f"tag {command.name!r} is defined already", "name")
        check_tag_name(command.name, "name")
        if command.name_taken:
            raise AlreadyExists(
                f"tag {command.name!r} is defined already for the beamline or one of its "
                "investigations: entries name tags, so one name means one tag",
                "name",
            )
        check_text(command.description, "description", max_length=1000)
        scope = tag_scope(command.investigation_id, command.instrument)
        return [
            TagDefined(
                tag_id=tag_id_for(scope, command.name),
                investigation_id=command.investigation_id,
                instrument=None if command.investigation_id is not None else command.instrument,
                name=command.name,
                colour=_check_colour(command.colour),
                description=command.description,
            )
        ]
    if not state.exists:
        raise NotFound("no tag with that id")
    colour = None if command.colour is None else _check_colour(command.colour)
    if command.description is not None:
        check_text(command.description, "description", max_length=1000)
    changes = {
        name: new
        for name, new, old in (
            ("colour", colour, state.colour),
            ("description", command.description, state.description),
        )
        if new is not None and new != old
    }
    return [TagChanged(**changes)] if changes else []


TAG: Aggregate[Tag, TagCommand] = Aggregate("logbook_tag", Tag(), evolve_tag, decide_tag)
