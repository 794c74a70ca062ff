"""`/api/v1/logbook`: the electronic logbook: entries, machine notifications in bulk, tags,
image attachments, timelines, and a live stream (Server-Sent Events)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from catalogue.api.auth import BearerCredentials, CallerDep, get_caller
from catalogue.api.dependencies import ServicesDep
from catalogue.api.live import HeadWatcher, sse_message
from catalogue.api.pages import DEFAULT, CursorQuery, LimitQuery, PageOf
from catalogue.api.times import Instant
from catalogue.api.versions import IfMatchHeader, parse_if_match, set_etag
from catalogue.domain import logbook as lb
from catalogue.domain.markup import Markup
from catalogue.errors import CatalogueError, InvalidCommand, InvalidQuery, TooLarge
from catalogue.portal import logbook as portal
from catalogue.readmodels.fulltext import parse_text_query
from catalogue.readmodels.logbook import EntryFilter, LogbookScope

router = APIRouter(prefix="/api/v1/logbook", tags=["logbook"])

#: Changes sent per query while a live stream catches up.
LIVE_BATCH = 500
#: A comment line this often keeps proxies from closing an idle stream.
KEEP_ALIVE_SECONDS = 15.0
#: A follower's access is checked again this often: a revoked token or a participant
#: removed from the investigation stops receiving within this many seconds.
RECHECK_SECONDS = 5.0


# -- models ---------------------------------------------------------------------------------


class EntryContent(BaseModel):
    """An entry's content: plain text, and the rich text as written and as safe HTML."""

    text: str
    markup: str | None = Field(description="`markdown` or `html` when there is rich text.")
    source: str | None = Field(description="The rich text as written.")
    html: str | None = Field(description="The rich text rendered and sanitised: safe to show.")


class AttachmentOut(BaseModel):
    """An image attached to an entry."""

    sha256: str
    filename: str
    content_type: str
    size: int
    width: int
    height: int
    url: str
    thumbnail_url: str
    added_at: datetime
    added_by: str


class Entry(BaseModel):
    """A logbook entry."""

    id: UUID
    kind: lb.EntryKind
    category: lb.Category
    investigation_id: UUID | None
    instrument: str | None
    dataset_id: UUID | None
    author: str = Field(examples=["user:alice", "api-key:ID23-1/bliss"])
    client_id: str | None = Field(description="The writer's own id for the entry.")
    time: datetime = Field(description="When it happened.")
    content: EntryContent | None = Field(description="Null in listings for deleted entries.")
    software: str | None
    machine: str | None
    tags: list[str]
    attachments: list[AttachmentOut]
    deleted: bool
    deleted_reason: str | None
    version: int
    content_version: int = Field(description="The version whose event wrote the content.")
    created_at: datetime
    updated_at: datetime
    position: int = Field(description="Event position of the last change (the SSE id).")
    last_change: str


class EntryVersion(BaseModel):
    """One version of an entry's content."""

    version: int
    previous_version: int | None = Field(description="The version this one replaced.")
    category: lb.Category | None
    content: EntryContent
    written_by: str | None
    written_at: datetime


class ContentIn(BaseModel):
    """Content: plain `text`, and/or rich text as `markdown` or `html` (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field("", max_length=lb.MAX_CONTENT)
    markdown: str | None = Field(None, max_length=lb.MAX_CONTENT)
    html: str | None = Field(
        None,
        max_length=lb.MAX_CONTENT,
        description="Refused if it holds scripts, event handlers or external resources.",
    )

    @model_validator(mode="after")
    def _one_rich_format(self) -> ContentIn:
        if self.markdown is not None and self.html is not None:
            raise ValueError("give markdown or html, not both")
        return self

    def domain(self) -> lb.NewContent:
        """The domain's form."""
        if self.markdown is not None:
            return lb.NewContent(self.text, Markup.MARKDOWN, self.markdown)
        if self.html is not None:
            return lb.NewContent(self.text, Markup.HTML, self.html)
        return lb.NewContent(self.text)


_SHORT = Field(None, max_length=200)


class EntryCreate(ContentIn):
    """A new entry: in an investigation's logbook, a beamline's, or (broadcast) everyone's."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "investigation_id": "0b8a3f0e-4f7e-5d8c-9a43-2b9d1c0f5e17",
                    "category": "comment",
                    "markdown": "Crystal **3** diffracts to 1.8 Å; moving to the next pin.",
                    "tags": ["important"],
                }
            ]
        },
    )

    kind: lb.EntryKind = lb.EntryKind.ANNOTATION
    category: lb.Category = lb.Category.COMMENT
    investigation_id: UUID | None = None
    instrument: str | None = Field(None, max_length=32)
    dataset_id: UUID | None = None
    id: str | None = Field(
        None, max_length=200, description="Your own id: posting it again changes nothing."
    )
    time: Instant | None = Field(None, description="When it happened (default: now).")
    software: str | None = _SHORT
    machine: str | None = _SHORT
    tags: list[str] = Field(default_factory=list, max_length=lb.MAX_TAGS)

    def entry(self) -> portal.EntryInput:
        """The portal's form."""
        return portal.EntryInput(
            kind=self.kind,
            category=self.category,
            content=self.domain(),
            investigation_id=self.investigation_id,
            instrument=self.instrument,
            dataset_id=self.dataset_id,
            client_id=self.id,
            time=self.time,
            software=self.software,
            machine=self.machine,
            tags=tuple(self.tags),
        )


class NotificationIn(ContentIn):
    """A machine's notification; `id` is required so that a retried request is harmless."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=200, examples=["bliss:id231:2026-11-24:000123"])
    category: lb.Category = lb.Category.INFO
    investigation_id: UUID | None = None
    instrument: str | None = Field(None, max_length=32)
    dataset_id: UUID | None = None
    time: Instant | None = None
    software: str | None = _SHORT
    machine: str | None = _SHORT
    tags: list[str] = Field(default_factory=list, max_length=lb.MAX_TAGS)


class NotificationBatch(BaseModel):
    """Up to 1,000 notifications, written all or none."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "entries": [
                        {
                            "id": "bliss:id231:000123",
                            "category": "commandLine",
                            "text": "ascan samy 0 1 10 0.1",
                            "software": "bliss 2.1",
                            "machine": "lid231",
                        }
                    ]
                }
            ]
        },
    )

    entries: list[NotificationIn] = Field(min_length=1, max_length=lb.MAX_BULK)


class BatchResult(BaseModel):
    """What a bulk post did: the entries' ids in request order, and how many were new."""

    ids: list[UUID]
    created: int
    existing: int


class EntryPatch(ContentIn):
    """New content for an annotation (the previous content stays in its versions)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"markdown": "Resolution *1.7* Å"}]}
    )

    category: lb.Category | None = None


class TagChange(BaseModel):
    """Tags to put on an entry and tags to take off."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"add": ["beam"]}]})

    add: list[str] = Field(default_factory=list, max_length=lb.MAX_TAGS)
    remove: list[str] = Field(default_factory=list, max_length=lb.MAX_TAGS)


class Tag(BaseModel):
    """A tag of an investigation's or a beamline's logbook."""

    id: UUID
    name: str
    colour: str = Field(examples=["#e53935"])
    description: str
    investigation_id: UUID | None
    instrument: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class TagCreate(BaseModel):
    """A new tag: for an investigation, or for a beamline (then every investigation's)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"instrument": "ID23-1", "name": "beam", "colour": "#e53935"}]
        },
    )

    investigation_id: UUID | None = None
    instrument: str | None = Field(None, max_length=32)
    name: str = Field(max_length=lb.MAX_TAG_NAME)
    colour: str = Field("#607d8b", max_length=7)
    description: str = Field("", max_length=1000)


class TagPatch(BaseModel):
    """A tag's new colour or description."""

    model_config = ConfigDict(extra="forbid")

    colour: str | None = Field(None, max_length=7)
    description: str | None = Field(None, max_length=1000)


class Timeline(BaseModel):
    """Counts of entries per category, and per UTC day and category."""

    class Day(BaseModel):
        """One day's counts."""

        day: str = Field(examples=["2026-11-24"])
        total: int
        categories: dict[str, int]

    total: int
    categories: dict[str, int]
    days: list[Day]


# -- query parameters -----------------------------------------------------------------------

InvestigationQuery = Annotated[
    UUID | None, Query(alias="investigation", description="The investigation's logbook.")
]
InstrumentQuery = Annotated[
    str | None,
    Query(
        alias="instrument",
        max_length=32,
        description="A beamline's logbook: its own entries and its investigations' (those "
        "you may read). Without investigation or instrument: the broadcasts.",
    ),
]


class Filters:
    """The filters every logbook listing takes."""

    def __init__(
        self,
        kind: Annotated[list[lb.EntryKind] | None, Query(max_length=3)] = None,
        category: Annotated[list[lb.Category] | None, Query(max_length=5)] = None,
        tag: Annotated[list[str] | None, Query(max_length=10)] = None,
        dataset: UUID | None = None,
        author: Annotated[str | None, Query(max_length=200, examples=["user:alice"])] = None,
        q: Annotated[
            str | None,
            Query(
                max_length=500,
                description='Full text: words, "phrases", prefix*, -excluded. Matches are '
                "not counted: `total` is what the page shows, a lower bound while more follow.",
            ),
        ] = None,
        since: Instant | None = None,
        until: Instant | None = None,
        include_deleted: bool = False,
        include_broadcasts: bool = True,
    ) -> None:
        if tag and any(len(t) > lb.MAX_TAG_NAME for t in tag):
            raise InvalidQuery(f"a tag name has at most {lb.MAX_TAG_NAME} characters", "tag")
        self.where = EntryFilter(
            kinds=frozenset(kind or ()),
            categories=frozenset(c.value for c in category or ()),
            tags=tuple(tag or ()),
            dataset_id=dataset,
            author=author,
            since=since,
            until=until,
            text=[] if q is None or not q.strip() else parse_text_query(q),
            include_deleted=include_deleted,
        )
        self.include_broadcasts = include_broadcasts


FiltersDep = Annotated[Filters, Depends()]


# -- reading --------------------------------------------------------------------------------


@router.get("", response_model=PageOf[Entry])
def list_entries(
    services: ServicesDep,
    caller: CallerDep,
    filters: FiltersDep,
    investigation: InvestigationQuery = None,
    instrument: InstrumentQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """A logbook's entries, newest first, with the facility's broadcasts of its period."""
    return portal.list_entries(
        services.store,
        caller,
        investigation,
        instrument,
        filters.where,
        cursor,
        limit,
        filters.include_broadcasts,
    ).as_response()


@router.get("/timeline", response_model=Timeline)
def timeline(
    services: ServicesDep,
    caller: CallerDep,
    filters: FiltersDep,
    investigation: InvestigationQuery = None,
    instrument: InstrumentQuery = None,
) -> object:
    """How many entries per category and per UTC day, for a timeline beside the logbook."""
    return portal.timeline(
        services.store, caller, investigation, instrument, filters.where, filters.include_broadcasts
    )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events: `entry` messages (an Entry as JSON), `id` the "
            "event position; reconnect with `Last-Event-ID` to receive exactly what you missed.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    credentials: BearerCredentials,
    investigation: InvestigationQuery = None,
    instrument: InstrumentQuery = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=20,
            description="The last `id` received; the stream resumes after it.",
        ),
    ] = None,
) -> StreamingResponse:
    """Follow a logbook live: every entry posted, edited, tagged or deleted from now on."""
    watcher: HeadWatcher = request.app.state.head_watcher
    after = None
    if last_event_id is not None:
        # ASCII digits only (str.isdigit() also takes '²'), and within a position's 64 bits.
        if not re.fullmatch(r"[0-9]{1,19}", last_event_id.strip()) or (
            int(last_event_id.strip()) >= 2**63
        ):
            raise InvalidQuery("Last-Event-ID must be an id this stream sent", "Last-Event-ID")
        after = int(last_event_id.strip())
    # Access is checked before the response starts, so a refusal is a plain problem+json.
    scope = await run_in_threadpool(
        portal.live_scope, services.store, caller, investigation, instrument
    )
    # The store's head now, not the watcher's last reading: an entry committed a moment
    # ago is history to this client, not news.
    head = await run_in_threadpool(services.store.head_position)
    if after is not None and after > head:
        raise InvalidQuery(
            f"Last-Event-ID {after} is beyond this catalogue's history (its last event is "
            f"{head}); reconnect without it",
            "Last-Event-ID",
        )
    start = head if after is None else after

    def rechecked_scope() -> LogbookScope:
        # The caller's token may be revoked, or their part in the investigation ended,
        # while they follow: their access is checked again as the stream goes on.
        again = get_caller(request, services, credentials)
        return portal.live_scope(services.store, again, investigation, instrument)

    async def messages() -> AsyncIterator[str]:
        nonlocal scope
        position = start
        checked = time.monotonic()
        yield f"retry: 2000\n: following from position {position}\n\n"
        while True:
            if time.monotonic() - checked > RECHECK_SECONDS:
                try:
                    scope = await run_in_threadpool(rechecked_scope)
                except CatalogueError as error:
                    yield sse_message("error", {"status": error.status, "detail": error.detail})
                    return
                checked = time.monotonic()
            # Read the head first: anything committed later wakes the wait below.
            seen = await watcher.current()
            changes = await run_in_threadpool(
                portal.changes_after, services.store, scope, position, LIVE_BATCH
            )
            for change in changes:
                position = max(position, change["position"])
                yield sse_message("entry", change, change["position"])
            if len(changes) == LIVE_BATCH:
                continue
            if not await watcher.wait_beyond(seen, KEEP_ALIVE_SECONDS):
                yield ": keep-alive\n\n"

    return StreamingResponse(
        messages(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/entries/{entry_id}", response_model=Entry)
def get_entry(
    entry_id: UUID, services: ServicesDep, caller: CallerDep, response: Response
) -> object:
    """One entry, with its tags and attachments."""
    found = portal.get_entry(services.store, caller, entry_id)
    set_etag(response, found["version"])
    return found


@router.get("/entries/{entry_id}/versions", response_model=list[EntryVersion])
def entry_versions(entry_id: UUID, services: ServicesDep, caller: CallerDep) -> object:
    """Every version of the entry's content, newest first, each naming the one it replaced."""
    return portal.entry_versions(services.store, caller, entry_id)


@router.get(
    "/entries/{entry_id}/attachments/{sha256}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "The image."}},
)
def get_attachment(
    entry_id: UUID,
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    services: ServicesDep,
    caller: CallerDep,
    thumbnail: bool = False,
) -> Response:
    """An attached image, or its thumbnail (at most 256 pixels wide and high)."""
    data, content_type, filename = portal.attachment_bytes(
        services.store, services.attachments, caller, entry_id, sha256, thumbnail
    )
    return Response(
        data,
        media_type=content_type,
        headers={
            # Content-addressed: the bytes behind this URL never change.
            "Cache-Control": "private, max-age=31536000, immutable",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- writing --------------------------------------------------------------------------------


def _entry_response(
    services: ServicesDep, caller: CallerDep, entry_id: UUID, response: Response
) -> dict[str, Any]:
    found = portal.get_entry(services.store, caller, entry_id)
    set_etag(response, found["version"])
    return found


@router.post(
    "/entries",
    status_code=status.HTTP_201_CREATED,
    response_model=Entry,
    responses={200: {"model": Entry, "description": "An entry with this `id` exists already."}},
)
def post_entry(
    body: EntryCreate, services: ServicesDep, caller: CallerDep, response: Response
) -> object:
    """Write an entry: people annotate, machines notify, administrators broadcast."""
    entry_id, created = portal.post_entry(
        services.store, caller, body.entry(), services.logbook_limits
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/v1/logbook/entries/{entry_id}"
    return _entry_response(services, caller, entry_id, response)


@router.post("/notifications", response_model=BatchResult)
def post_notifications(body: NotificationBatch, services: ServicesDep, caller: CallerDep) -> object:
    """Post up to 1,000 machine notifications at once: all or none; an `id` posted before is
    left as it is, so a retried request is harmless."""
    entries = [
        portal.EntryInput(
            kind=lb.EntryKind.NOTIFICATION,
            category=item.category,
            content=item.domain(),
            investigation_id=item.investigation_id,
            instrument=item.instrument
            if item.instrument is not None or item.investigation_id is not None
            else caller.principal.instrument,
            dataset_id=item.dataset_id,
            client_id=item.id,
            time=item.time,
            software=item.software,
            machine=item.machine,
            tags=tuple(item.tags),
        )
        for item in body.entries
    ]
    ids, created = portal.post_entries(services.store, caller, entries, services.logbook_limits)
    return {"ids": ids, "created": created, "existing": len(ids) - created}


@router.patch("/entries/{entry_id}", response_model=Entry)
def edit_entry(
    entry_id: UUID,
    body: EntryPatch,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Replace an annotation's content; notifications cannot be edited."""
    content = body.domain() if body.model_fields_set & {"text", "markdown", "html"} else None
    if content is None and body.category is None:
        raise InvalidCommand("give new content (text, markdown or html) or a category", "body")
    command = lb.EditEntry(content, body.category, services.logbook_limits.max_content)
    portal.change_entry(services.store, caller, entry_id, command, parse_if_match(if_match))
    return _entry_response(services, caller, entry_id, response)


@router.delete("/entries/{entry_id}", response_model=Entry)
def delete_entry(
    entry_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    reason: Annotated[str, Query(max_length=1000)] = "",
    if_match: IfMatchHeader = None,
) -> object:
    """Hide an entry; it stays in history and can be restored."""
    command = lb.DeleteEntry(reason)
    portal.change_entry(services.store, caller, entry_id, command, parse_if_match(if_match))
    return _entry_response(services, caller, entry_id, response)


@router.post("/entries/{entry_id}/restore", response_model=Entry)
def restore_entry(
    entry_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Show a deleted entry again."""
    command = lb.RestoreEntry()
    portal.change_entry(services.store, caller, entry_id, command, parse_if_match(if_match))
    return _entry_response(services, caller, entry_id, response)


@router.post("/entries/{entry_id}/tags", response_model=Entry)
def tag_entry(
    entry_id: UUID,
    body: TagChange,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Put tags (defined for this logbook) on the entry and take others off."""
    portal.tag_entry(
        services.store, caller, entry_id, body.add, body.remove, parse_if_match(if_match)
    )
    return _entry_response(services, caller, entry_id, response)


@router.post(
    "/entries/{entry_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def attach_image(
    entry_id: UUID,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    filename: Annotated[str, Query(min_length=1, max_length=255)] = "image",
) -> object:
    """Attach a PNG or JPEG image (the request body); a thumbnail is made of it."""
    # Refuse a caller who may not attach before reading a byte of what they send.
    await run_in_threadpool(portal.check_attachable, services.store, caller, entry_id)
    limit = services.settings.logbook_max_attachment_bytes
    declared = request.headers.get("content-length", "")
    if re.fullmatch(r"[0-9]{1,19}", declared) and int(declared) > limit:
        raise TooLarge(f"the attachment is {declared} bytes; at most {limit}", "body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the attachment is over {limit} bytes", "body")
        chunks.append(chunk)
    return await run_in_threadpool(
        portal.attach_image,
        services.store,
        services.attachments,
        caller,
        entry_id,
        filename,
        b"".join(chunks),
        services.logbook_limits,
    )


# -- tags -----------------------------------------------------------------------------------


@router.get("/tags", response_model=list[Tag])
def list_tags(
    services: ServicesDep,
    caller: CallerDep,
    investigation: InvestigationQuery = None,
    instrument: InstrumentQuery = None,
) -> object:
    """The tags of a logbook: an investigation's own and its beamline's."""
    if investigation is None and instrument is None:
        raise InvalidQuery("give investigation or instrument", "investigation")
    return portal.list_tags(services.store, caller, investigation, instrument)


@router.post("/tags", status_code=status.HTTP_201_CREATED, response_model=Tag)
def define_tag(
    body: TagCreate, services: ServicesDep, caller: CallerDep, response: Response
) -> object:
    """Define a tag for an investigation's logbook, or a beamline's (for all its logbooks)."""
    if body.investigation_id is None and body.instrument is None:
        raise InvalidCommand("give investigation_id or instrument", "investigation_id")
    command = lb.DefineTag(
        body.investigation_id, body.instrument, body.name, body.colour, body.description
    )
    found = portal.define_tag(services.store, caller, command)
    set_etag(response, found["version"])
    return found


@router.patch("/tags/{tag_id}", response_model=Tag)
def change_tag(
    tag_id: UUID,
    body: TagPatch,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Change a tag's colour or description."""
    found = portal.change_tag(
        services.store,
        caller,
        tag_id,
        lb.ChangeTag(body.colour, body.description),
        parse_if_match(if_match),
    )
    set_etag(response, found["version"])
    return found
