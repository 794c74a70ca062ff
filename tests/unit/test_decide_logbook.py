"""The logbook's entries and tags (catalogue.domain.logbook deciders), as tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import reduce
from typing import Any

import pytest

from catalogue.domain.logbook import (
    MAX_ATTACHMENTS,
    MAX_CONTENT,
    MAX_TAGS,
    AttachImage,
    Attachment,
    AttachmentAdded,
    Category,
    ChangeTag,
    Content,
    DefineTag,
    DeleteEntry,
    EditEntry,
    Entry,
    EntryDeleted,
    EntryEdited,
    EntryKind,
    EntryPosted,
    EntryRestored,
    EntryTagged,
    EntryUntagged,
    NewContent,
    PostEntry,
    RestoreEntry,
    Tag,
    TagChanged,
    TagDefined,
    TagEntry,
    UntagEntry,
    decide_entry,
    decide_tag,
    entry_id_for,
    evolve_entry,
    evolve_tag,
    tag_id_for,
    tag_scope,
)
from catalogue.errors import (
    AlreadyExists,
    CatalogueError,
    DomainError,
    InvalidCommand,
    NotFound,
    TooLarge,
)
from catalogue.events import Event

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
INVESTIGATION = uuid.UUID("00000000-0000-4000-8000-000000000001")
DATASET = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
ENTRY_ID = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
BEAMLINE = "ID23-1"
ALICE = "user:alice"
KEY = "api-key:ID23-1/k1"
KNOWN = frozenset({"beam", "sample", "alignment", "bad-crystal"})
TEXT = "beam lost at 08:00"
ATTACHMENT_URL = (
    "/api/v1/logbook/entries/00000000-0000-4000-8000-0000000000e1/attachments/" + "ab" * 32
)


@dataclass(frozen=True)
class Rejected:
    """The error a command must raise: exact class, field at fault, fragment of the detail."""

    error: type[CatalogueError]
    field: str | None
    fragment: str


def given(events: Iterable[Event]) -> Entry:
    return reduce(evolve_entry, events, Entry())


def post(**changes: Any) -> PostEntry:
    base = PostEntry(
        entry_id=ENTRY_ID,
        kind=EntryKind.ANNOTATION,
        category=Category.COMMENT,
        investigation_id=INVESTIGATION,
        instrument=BEAMLINE,
        author=ALICE,
        occurred_at=T0,
        content=NewContent(text=TEXT),
        known_tags=KNOWN,
    )
    return replace(base, **changes)


def posted(**changes: Any) -> EntryPosted:
    fields: dict[str, Any] = {
        "entry_id": ENTRY_ID,
        "kind": EntryKind.ANNOTATION,
        "category": Category.COMMENT,
        "investigation_id": INVESTIGATION,
        "instrument": BEAMLINE,
        "dataset_id": None,
        "author": ALICE,
        "client_id": None,
        "occurred_at": T0,
        "content": Content(text=TEXT),
        "software": None,
        "machine": None,
        "tags": (),
    }
    return EntryPosted(**{**fields, **changes})


def text(value: str) -> NewContent:
    return NewContent(text=value)


def rich(markup: str, source: str, plain: str = "") -> NewContent:
    return NewContent(text=plain, markup=markup, source=source)


def attachment(sha: str = "ab" * 32, content_type: str = "image/png") -> Attachment:
    return Attachment(
        sha256=sha,
        filename="sample.png",
        content_type=content_type,
        size=1234,
        width=640,
        height=480,
        thumbnail_sha256="cd" * 32,
    )


def sha(number: int) -> str:
    return f"{number:064x}"


POSTED = posted()
NOTIFICATION = posted(kind=EntryKind.NOTIFICATION, category=Category.INFO, author=KEY,
                      client_id="scan-1", software="bliss 2.1", machine="id231-ctrl")  # fmt: skip
BROADCAST = posted(kind=EntryKind.BROADCAST, category=Category.INFO, investigation_id=None,
                   instrument=None, author="user:root")  # fmt: skip
DELETED = EntryDeleted(reason="duplicate")
EDITED = EntryEdited(content=Content(text="beam back at 08:05"), previous_version=1)
TAGGED = EntryTagged(tags=("beam",))
MANY_TAGS = tuple(f"t{i}" for i in range(MAX_TAGS))
MARKDOWN = Content(
    text="",
    markup="markdown",
    source="**beam** lost",
    html="<p><strong>beam</strong> lost</p>\n",
    html_text="beam lost",
)
LIMIT = Rejected(TooLarge, "content", "at most 20")

# -- posting ---------------------------------------------------------------------------------

POST_CASES = [
    pytest.param([], post(), [POSTED], id="annotation"),
    pytest.param([], post(kind=EntryKind.NOTIFICATION, category=Category.INFO, author=KEY,
                          client_id="scan-1", software="bliss 2.1", machine="id231-ctrl"),
                 [NOTIFICATION], id="notification-with-client-id-software-machine"),
    pytest.param([], post(kind=EntryKind.BROADCAST, category=Category.INFO, investigation_id=None,
                          instrument=None, author="user:root"),
                 [BROADCAST], id="broadcast-facility-wide"),
    pytest.param([], post(investigation_id=None), [posted(investigation_id=None)],
                 id="beamline-entry-outside-investigations"),
    pytest.param([], post(category=Category.COMMAND_LINE),
                 [posted(category=Category.COMMAND_LINE)], id="category-command-line"),
    pytest.param([], post(kind=EntryKind.BROADCAST, instrument=None),
                 Rejected(InvalidCommand, "investigation_id", "whole facility"),
                 id="broadcast-with-investigation"),
    pytest.param([], post(kind=EntryKind.BROADCAST),
                 Rejected(InvalidCommand, "investigation_id", "whole facility"),
                 id="broadcast-with-investigation-and-instrument"),
    pytest.param([], post(instrument=None),
                 Rejected(InvalidCommand, "instrument", "investigation or a beamline"),
                 id="annotation-without-instrument"),
    pytest.param([], post(kind=EntryKind.NOTIFICATION, investigation_id=None, instrument=None),
                 Rejected(InvalidCommand, "instrument", "investigation or a beamline"),
                 id="notification-nowhere"),
    pytest.param([], post(dataset_id=DATASET), Rejected(InvalidCommand, "dataset_id",
                 "is not a dataset of this investigation"), id="dataset-not-found"),
    pytest.param([], post(dataset_id=DATASET, dataset_found=True),
                 [posted(dataset_id=DATASET)], id="dataset-found"),
    pytest.param([], post(client_id="scan 1"), Rejected(InvalidCommand, "id", "1-200"),
                 id="client-id-with-space"),
    pytest.param([], post(client_id=""), Rejected(InvalidCommand, "id", "1-200"),
                 id="client-id-empty"),
    pytest.param([], post(client_id="x" * 201), Rejected(InvalidCommand, "id", "1-200"),
                 id="client-id-201-chars"),
    pytest.param([], post(client_id="scan\n1"), Rejected(InvalidCommand, "id", "1-200"),
                 id="client-id-newline"),
    pytest.param([], post(client_id="é"), Rejected(InvalidCommand, "id", "1-200"),
                 id="client-id-non-ascii"),
    pytest.param([], post(client_id="x" * 200), [posted(client_id="x" * 200)],
                 id="client-id-200-chars"),
    pytest.param([], post(client_id="a.b_c:d/e@f+g-1"), [posted(client_id="a.b_c:d/e@f+g-1")],
                 id="client-id-punctuation"),
    pytest.param([], post(occurred_at=datetime(2026, 11, 24, 8, 0)),
                 Rejected(InvalidCommand, "time", "needs a timezone"), id="time-naive"),
    pytest.param([], post(occurred_at=datetime(1899, 12, 31, 23, 59, tzinfo=UTC)),
                 Rejected(InvalidCommand, "time", "between 1900 and 2199"), id="time-1899"),
    pytest.param([], post(occurred_at=datetime(2200, 1, 1, tzinfo=UTC)),
                 Rejected(InvalidCommand, "time", "between 1900 and 2199"), id="time-2200"),
    pytest.param([], post(occurred_at=datetime(2199, 12, 31, 23, 59, tzinfo=UTC)),
                 [posted(occurred_at=datetime(2199, 12, 31, 23, 59, tzinfo=UTC))],
                 id="time-last-minute-of-2199"),
    pytest.param([], post(occurred_at=datetime(2026, 11, 24, 10, 0,
                                               tzinfo=timezone(timedelta(hours=2)))),
                 [posted(occurred_at=T0)], id="time-with-offset-same-instant"),
    pytest.param([], post(software="bliss\n2"), Rejected(InvalidCommand, "software",
                 "single line"), id="software-two-lines"),
    pytest.param([], post(machine="ctrl\r1"), Rejected(InvalidCommand, "machine", "single line"),
                 id="machine-carriage-return"),
    pytest.param([], post(software="s" * 201), Rejected(InvalidCommand, "software",
                 "at most 200"), id="software-201-chars"),
    pytest.param([], post(machine="m\x00"), Rejected(InvalidCommand, "machine",
                 "control character"), id="machine-control-char"),
    pytest.param([], post(tags=("beam", "nope")), Rejected(InvalidCommand, "tags.1",
                 "unknown tag 'nope'"), id="unknown-tag-named-by-index"),
    pytest.param([], post(tags=("beam",), known_tags=frozenset()), Rejected(InvalidCommand,
                 "tags.0", "known: none"), id="no-tags-defined"),
    pytest.param([], post(tags=("beam", "sample", "beam")), [posted(tags=("beam", "sample"))],
                 id="duplicate-tags-collapsed-in-order"),
    pytest.param([], post(tags=("a,b",), known_tags=frozenset({"a,b"})),
                 Rejected(InvalidCommand, "tags.0", "without commas"), id="tag-with-comma"),
    pytest.param([], post(tags=("",)), Rejected(InvalidCommand, "tags.0", "must not be empty"),
                 id="tag-empty"),
    pytest.param([], post(tags=MANY_TAGS, known_tags=frozenset(MANY_TAGS)),
                 [posted(tags=MANY_TAGS)], id="max-tags"),
    pytest.param([], post(tags=(*MANY_TAGS, "t20"), known_tags=frozenset((*MANY_TAGS, "t20"))),
                 Rejected(InvalidCommand, "tags", "at most 20"), id="too-many-tags"),
    pytest.param([], post(content=text("")), Rejected(InvalidCommand, "content", "is empty"),
                 id="content-empty"),
    pytest.param([], post(content=text(" \n\t")), Rejected(InvalidCommand, "content",
                 "is empty"), id="content-blank"),
    pytest.param([], post(content=rich("markdown", "")), Rejected(InvalidCommand, "content",
                 "is empty"), id="content-empty-markdown"),
    pytest.param([], post(content=rich("html", "<p> </p>")), Rejected(InvalidCommand,
                 "content", "is empty"), id="content-html-without-words"),
    pytest.param([], post(content=NewContent(text="x", source="**y**")),
                 Rejected(InvalidCommand, "content.markup", "no format"),
                 id="content-rich-text-without-format"),
    pytest.param([], post(content=text("x" * 21), max_content=20), LIMIT,
                 id="content-over-configured-limit"),
    pytest.param([], post(content=rich("markdown", "y" * 11, "x" * 10), max_content=20), LIMIT,
                 id="content-text-and-source-add-up"),
    pytest.param([], post(content=text("x" * 20), max_content=20),
                 [posted(content=Content(text="x" * 20))], id="content-at-configured-limit"),
    pytest.param([], post(content=text("x" * (MAX_CONTENT + 1)), max_content=10 * MAX_CONTENT),
                 Rejected(TooLarge, "content", f"at most {MAX_CONTENT}"),
                 id="content-over-hard-bound-whatever-the-setting"),
    pytest.param([], post(content=text("beam\x07")), Rejected(InvalidCommand, "content.text",
                 "control character"), id="content-control-char"),
    pytest.param([], post(content=rich("markdown", "**beam** lost")), [posted(content=MARKDOWN)],
                 id="markdown-rendered"),
    pytest.param([], post(content=rich("html", "<p>ok</p><script>alert(1)</script>")),
                 Rejected(InvalidCommand, "content.html", "<script>"), id="html-with-script"),
    pytest.param([], post(content=rich("html", '<img src="x" onerror="alert(1)">', "see")),
                 Rejected(InvalidCommand, "content.html", "onerror"), id="html-event-handler"),
    pytest.param([], post(content=rich("markdown", "![x](https://evil.example/t.png)", "t")),
                 Rejected(InvalidCommand, "content.markdown", "external resource"),
                 id="markdown-external-image"),
    pytest.param([], post(content=rich("rst", "*x*")), Rejected(InvalidCommand, "content.rst",
                 "markdown, html"), id="unknown-format"),
    pytest.param([POSTED], post(), Rejected(AlreadyExists, "id", "exists already"),
                 id="post-twice"),
]  # fmt: skip


def _decide(events: list[Event], command: Any, then: Any) -> None:
    state = given(events)
    if isinstance(then, Rejected):
        with pytest.raises(then.error) as raised:
            decide_entry(state, command)
        assert type(raised.value) is then.error
        assert raised.value.field == then.field
        assert then.fragment in raised.value.detail
    else:
        assert decide_entry(state, command) == then


@pytest.mark.parametrize(("events", "command", "then"), POST_CASES)
def test_post_entry(events: list[Event], command: PostEntry, then: Any) -> None:
    _decide(events, command, then)


def test_broadcast_with_only_an_instrument_names_the_instrument_field() -> None:
    _decide([], post(kind=EntryKind.BROADCAST, investigation_id=None),
            Rejected(InvalidCommand, "instrument", "whole facility"))  # fmt: skip


def test_html_content_is_sanitised_and_its_words_kept_for_search() -> None:
    source = '<p>Beam <b>lost</b> <a href="https://example.org/status">status</a></p>'
    [event] = decide_entry(Entry(), post(content=rich("html", source)))
    assert isinstance(event, EntryPosted)
    assert event.content.source == source
    assert event.content.html == (
        '<p>Beam <b>lost</b> <a href="https://example.org/status" '
        'rel="noopener noreferrer nofollow">status</a></p>'
    )
    assert event.content.html_text == "Beam lost status"


def test_an_attachment_image_alone_is_content() -> None:
    [event] = decide_entry(Entry(), post(content=rich("markdown", f"![]({ATTACHMENT_URL})")))
    assert isinstance(event, EntryPosted)
    assert f'src="{ATTACHMENT_URL}"' in (event.content.html or "")
    assert event.content.html_text == ""


def test_an_image_without_source_is_not_content() -> None:
    _decide([], post(content=rich("html", "<img>")),
            Rejected(InvalidCommand, "content", "is empty"))  # fmt: skip


# -- editing ---------------------------------------------------------------------------------

NEW = text("beam back at 08:05")

EDIT_CASES = [
    pytest.param([POSTED], EditEntry(NEW), [EDITED], id="edit-text"),
    pytest.param([POSTED], EditEntry(text(TEXT)), [], id="edit-same-content-no-op"),
    pytest.param([POSTED], EditEntry(text(TEXT), Category.COMMENT), [],
                 id="edit-same-content-same-category-no-op"),
    pytest.param([POSTED], EditEntry(text(TEXT), Category.ERROR),
                 [EntryEdited(content=Content(text=TEXT), category=Category.ERROR,
                              previous_version=1)], id="edit-category-only"),
    pytest.param([POSTED], EditEntry(NEW, Category.COMMENT), [EDITED],
                 id="edit-unchanged-category-not-repeated"),
    # No content in the command: the category alone changes, the content stays as it is.
    pytest.param([POSTED], EditEntry(None, Category.ERROR),
                 [EntryEdited(content=Content(text=TEXT), category=Category.ERROR,
                              previous_version=1)], id="edit-category-without-content"),
    pytest.param([posted(content=MARKDOWN)], EditEntry(None, Category.ERROR),
                 [EntryEdited(content=MARKDOWN, category=Category.ERROR, previous_version=1)],
                 id="edit-category-keeps-rich-content"),
    pytest.param([POSTED, EDITED], EditEntry(None, Category.INFO),
                 [EntryEdited(content=EDITED.content, category=Category.INFO,
                              previous_version=2)], id="edit-category-after-an-edit"),
    pytest.param([POSTED], EditEntry(None, Category.COMMENT), [],
                 id="edit-same-category-without-content-no-op"),
    pytest.param([POSTED], EditEntry(None), [], id="edit-nothing-no-op"),
    pytest.param([POSTED], EditEntry(rich("markdown", "**beam** lost")),
                 [EntryEdited(content=MARKDOWN, previous_version=1)], id="edit-to-markdown"),
    pytest.param([posted(content=MARKDOWN)], EditEntry(rich("markdown", "**beam** lost")), [],
                 id="edit-same-markdown-no-op"),
    pytest.param([POSTED, TAGGED], EditEntry(NEW), [EDITED],
                 id="previous-version-is-the-posted-content-not-the-tagging"),
    pytest.param([POSTED, EDITED, TAGGED], EditEntry(text("third")),
                 [EntryEdited(content=Content(text="third"), previous_version=2)],
                 id="previous-version-is-the-last-edit"),
    pytest.param([POSTED, DELETED, EntryRestored()], EditEntry(NEW), [EDITED],
                 id="edit-after-restore"),
    pytest.param([BROADCAST], EditEntry(NEW), [EDITED], id="edit-broadcast"),
    pytest.param([NOTIFICATION], EditEntry(NEW), Rejected(DomainError, None,
                 "notifications are written by machines"), id="edit-notification"),
    pytest.param([POSTED, DELETED], EditEntry(NEW), Rejected(DomainError, None,
                 "restore it before editing"), id="edit-deleted"),
    pytest.param([], EditEntry(NEW), Rejected(NotFound, None, "no logbook entry"),
                 id="edit-missing"),
    pytest.param([POSTED], EditEntry(text("")), Rejected(InvalidCommand, "content", "is empty"),
                 id="edit-to-empty"),
    pytest.param([POSTED], EditEntry(text("x" * 21), max_content=20), LIMIT,
                 id="edit-too-large"),
    pytest.param([POSTED], EditEntry(rich("html", '<a href="javascript:alert(1)">x</a>')),
                 Rejected(InvalidCommand, "content.html", "javascript: URLs"),
                 id="edit-html-javascript-link"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), EDIT_CASES)
def test_edit_entry(events: list[Event], command: EditEntry, then: Any) -> None:
    _decide(events, command, then)


# -- tags on entries, delete and restore, attachments ----------------------------------------

FULL = posted(tags=MANY_TAGS)
ALMOST_FULL = posted(tags=MANY_TAGS[:-1])
EVERY_TAG = frozenset((*MANY_TAGS, *KNOWN))

ENTRY_CASES = [
    pytest.param([POSTED], TagEntry(("beam",), KNOWN), [TAGGED], id="tag"),
    pytest.param([POSTED, TAGGED], TagEntry(("beam",), KNOWN), [], id="tag-again-no-op"),
    pytest.param([POSTED, TAGGED], TagEntry(("sample", "beam", "sample"), KNOWN),
                 [EntryTagged(tags=("sample",))], id="tag-only-new-once"),
    pytest.param([POSTED], TagEntry((), KNOWN), [], id="tag-nothing"),
    pytest.param([POSTED], TagEntry(("beam", "nope"), KNOWN),
                 Rejected(InvalidCommand, "tags.1", "unknown tag 'nope'"), id="tag-unknown"),
    pytest.param([ALMOST_FULL], TagEntry(("beam",), EVERY_TAG), [TAGGED],
                 id="tag-up-to-max"),
    pytest.param([ALMOST_FULL], TagEntry(("beam", "sample"), EVERY_TAG),
                 Rejected(InvalidCommand, "tags", "at most 20 tags"), id="tag-over-max"),
    pytest.param([FULL], TagEntry(("t0",), EVERY_TAG), [], id="tag-present-when-full-no-op"),
    pytest.param([NOTIFICATION], TagEntry(("beam",), KNOWN), [TAGGED], id="tag-notification"),
    pytest.param([], TagEntry(("beam",), KNOWN), Rejected(NotFound, None, "no logbook entry"),
                 id="tag-missing-entry"),
    pytest.param([POSTED, TAGGED], UntagEntry(("beam",)), [EntryUntagged(tags=("beam",))],
                 id="untag"),
    pytest.param([POSTED], UntagEntry(("beam",)), [], id="untag-absent-no-op"),
    pytest.param([posted(tags=("gone",))], UntagEntry(("gone", "beam")),
                 [EntryUntagged(tags=("gone",))], id="untag-tag-no-longer-defined"),
    pytest.param([POSTED], UntagEntry(("",)), Rejected(InvalidCommand, "tags.0",
                 "must not be empty"), id="untag-empty-name"),
    pytest.param([POSTED], DeleteEntry("duplicate"), [DELETED], id="delete"),
    pytest.param([POSTED, DELETED], DeleteEntry("again"), [], id="delete-twice-no-op"),
    pytest.param([NOTIFICATION], DeleteEntry(), [EntryDeleted(reason="")],
                 id="delete-notification"),
    pytest.param([POSTED], DeleteEntry("r\x00"), Rejected(InvalidCommand, "reason",
                 "control character"), id="delete-reason-control-char"),
    pytest.param([POSTED], DeleteEntry("r" * 1001), Rejected(InvalidCommand, "reason",
                 "at most 1000"), id="delete-reason-too-long"),
    pytest.param([], DeleteEntry(), Rejected(NotFound, None, "no logbook entry"),
                 id="delete-missing"),
    pytest.param([POSTED, DELETED], RestoreEntry(), [EntryRestored()], id="restore"),
    pytest.param([POSTED], RestoreEntry(), [], id="restore-not-deleted-no-op"),
    pytest.param([POSTED, DELETED, EntryRestored()], RestoreEntry(), [],
                 id="restore-twice-no-op"),
    pytest.param([POSTED], AttachImage(attachment()),
                 [AttachmentAdded(attachment=attachment())], id="attach"),
    pytest.param([POSTED], AttachImage(attachment(content_type="image/jpeg")),
                 [AttachmentAdded(attachment=attachment(content_type="image/jpeg"))],
                 id="attach-jpeg"),
    pytest.param([POSTED, AttachmentAdded(attachment=attachment())], AttachImage(attachment()),
                 [], id="attach-same-image-no-op"),
    pytest.param([POSTED], AttachImage(attachment(content_type="image/gif")),
                 Rejected(InvalidCommand, "content_type", "not PNG or JPEG"), id="attach-gif"),
    pytest.param([POSTED], AttachImage(attachment(content_type="image/svg+xml")),
                 Rejected(InvalidCommand, "content_type", "not PNG or JPEG"), id="attach-svg"),
    pytest.param([POSTED], AttachImage(attachment(sha="AB" * 32)),
                 Rejected(InvalidCommand, "sha256", "not a stored file"),
                 id="attach-upper-case-sha"),
    pytest.param([POSTED], AttachImage(attachment(sha="../../etc/passwd")),
                 Rejected(InvalidCommand, "sha256", "not a stored file"), id="attach-path"),
    pytest.param([POSTED, *(AttachmentAdded(attachment=attachment(sha(i)))
                            for i in range(MAX_ATTACHMENTS - 1))],
                 AttachImage(attachment(sha(999))),
                 [AttachmentAdded(attachment=attachment(sha(999)))], id="attach-up-to-max"),
    pytest.param([POSTED, *(AttachmentAdded(attachment=attachment(sha(i)))
                            for i in range(MAX_ATTACHMENTS))],
                 AttachImage(attachment(sha(999))),
                 Rejected(DomainError, None, f"at most {MAX_ATTACHMENTS} attachments"),
                 id="attach-over-max"),
    pytest.param([POSTED, *(AttachmentAdded(attachment=attachment(sha(i)))
                            for i in range(MAX_ATTACHMENTS))],
                 AttachImage(attachment(sha(0))), [], id="attach-present-when-full-no-op"),
    pytest.param([], AttachImage(attachment()), Rejected(NotFound, None, "no logbook entry"),
                 id="attach-missing-entry"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), ENTRY_CASES)
def test_entry_commands(events: list[Event], command: Any, then: Any) -> None:
    _decide(events, command, then)


# -- evolving --------------------------------------------------------------------------------


def test_evolve_follows_content_tags_deletion_and_attachments() -> None:
    history: list[Event] = [
        POSTED,
        EntryTagged(tags=("beam", "sample")),
        EDITED,
        EntryUntagged(tags=("beam",)),
        DELETED,
        AttachmentAdded(attachment=attachment()),
        EntryEdited(content=Content(text="x"), category=Category.ERROR, previous_version=3),
    ]
    states = [given(history[: n + 1]) for n in range(len(history))]
    assert [s.version for s in states] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.content_version for s in states] == [1, 1, 3, 3, 3, 3, 7]
    both, sample = ("beam", "sample"), ("sample",)
    assert [s.tags for s in states] == [(), both, both, sample, sample, sample, sample]
    assert [s.deleted for s in states] == [False, False, False, False, True, True, True]
    assert [s.category for s in states][-2:] == [Category.COMMENT, Category.ERROR]
    final = states[-1]
    assert (final.entry_id, final.kind, final.author, final.instrument) == (
        ENTRY_ID,
        EntryKind.ANNOTATION,
        ALICE,
        BEAMLINE,
    )
    assert final.content == Content(text="x")
    assert final.attachments == ("ab" * 32,)
    assert given([*history, EntryRestored()]).deleted is False


def test_edit_links_each_version_to_the_one_it_replaces() -> None:
    """Replaying decide and evolve: every previous_version names the version that held the
    content before, so the history view can walk back from the newest edit."""
    state = Entry()
    version_of_content: dict[int, str] = {}
    commands: list[Any] = [
        post(),
        EditEntry(text("v2")),
        TagEntry(("beam",), KNOWN),
        EditEntry(text("v3")),
        DeleteEntry(),
        RestoreEntry(),
        EditEntry(text("v4")),
    ]
    links = []
    for command in commands:
        for event in decide_entry(state, command):
            if isinstance(event, EntryEdited):
                links.append((event.content.text, version_of_content[event.previous_version]))
            state = evolve_entry(state, event)
            version_of_content[state.version] = state.content.text
    assert links == [("v2", TEXT), ("v3", "v2"), ("v4", "v3")]
    assert state.version == 7


ENTRY_IDS = [
    pytest.param(KEY, "scan-1", KEY, "scan-1", True, id="same-writer-same-id"),
    pytest.param(KEY, "scan-1", KEY, "scan-2", False, id="other-client-id"),
    pytest.param(KEY, "scan-1", "api-key:ID23-1/k2", "scan-1", False, id="other-writer"),
    pytest.param("api-key:ID23-1/k1", "a", "api-key:ID23-1/k", "1a", False,
                 id="no-ambiguity-at-the-join"),
]  # fmt: skip


@pytest.mark.parametrize(("writer", "client_id", "other_writer", "other_id", "same"), ENTRY_IDS)
def test_entry_id_for(
    writer: str, client_id: str, other_writer: str, other_id: str, same: bool
) -> None:
    first = entry_id_for(writer, client_id)
    assert first == entry_id_for(writer, client_id)
    assert (first == entry_id_for(other_writer, other_id)) is same


# -- tag definitions -------------------------------------------------------------------------

SCOPE = tag_scope(INVESTIGATION, BEAMLINE)
BEAM_ID = tag_id_for(SCOPE, "beam")


def define(**changes: Any) -> DefineTag:
    base = DefineTag(INVESTIGATION, BEAMLINE, "beam", "#FF8800", "beam problems")
    return replace(base, **changes)


def defined(**changes: Any) -> TagDefined:
    fields: dict[str, Any] = {
        "tag_id": BEAM_ID,
        "investigation_id": INVESTIGATION,
        "instrument": None,
        "name": "beam",
        "colour": "#ff8800",
        "description": "beam problems",
    }
    return TagDefined(**{**fields, **changes})


DEFINED = defined()

TAG_CASES = [
    pytest.param([], define(), [DEFINED], id="define-in-investigation-colour-lower-cased"),
    pytest.param([], define(investigation_id=None),
                 [defined(tag_id=tag_id_for("instrument:ID23-1", "beam"), investigation_id=None,
                          instrument=BEAMLINE)], id="define-for-beamline"),
    pytest.param([], DefineTag(INVESTIGATION, BEAMLINE, "beam"),
                 [defined(colour="#607d8b", description="")], id="define-default-colour"),
    pytest.param([], define(name="n" * 64), [defined(tag_id=tag_id_for(SCOPE, "n" * 64),
                                                     name="n" * 64)], id="define-64-char-name"),
    pytest.param([DEFINED], define(), Rejected(AlreadyExists, "name", "defined already"),
                 id="define-twice"),
    pytest.param([DEFINED], define(colour="#000000", description="other"),
                 Rejected(AlreadyExists, "name", "defined already"),
                 id="define-twice-other-values"),
    # The name is taken in a logbook sharing entries with this one (the beamline's, for an
    # investigation's tag; one of its investigations', for a beamline's tag).
    pytest.param([], define(name_taken=True),
                 Rejected(AlreadyExists, "name", "one name means one tag"),
                 id="define-in-investigation-name-taken-on-beamline"),
    pytest.param([], define(investigation_id=None, name_taken=True),
                 Rejected(AlreadyExists, "name", "one name means one tag"),
                 id="define-for-beamline-name-taken-in-an-investigation"),
    pytest.param([], define(name="a,b", name_taken=True),
                 Rejected(InvalidCommand, "name", "without commas"),
                 id="bad-name-refused-before-taken-name"),
    pytest.param([], define(colour="red"), Rejected(InvalidCommand, "colour", "'#rrggbb'"),
                 id="colour-name"),
    pytest.param([], define(colour="#f80"), Rejected(InvalidCommand, "colour", "'#rrggbb'"),
                 id="colour-short-form"),
    pytest.param([], define(colour="#gg0000"), Rejected(InvalidCommand, "colour", "'#rrggbb'"),
                 id="colour-not-hex"),
    pytest.param([], define(colour="ff8800"), Rejected(InvalidCommand, "colour", "'#rrggbb'"),
                 id="colour-without-hash"),
    pytest.param([], define(colour="#ff8800\n"), Rejected(InvalidCommand, "colour",
                 "'#rrggbb'"), id="colour-trailing-newline"),
    pytest.param([], define(name=""), Rejected(InvalidCommand, "name", "must not be empty"),
                 id="name-empty"),
    pytest.param([], define(name="n" * 65), Rejected(InvalidCommand, "name", "at most 64"),
                 id="name-65-chars"),
    pytest.param([], define(name="a,b"), Rejected(InvalidCommand, "name", "without commas"),
                 id="name-with-comma"),
    pytest.param([], define(name="a\nb"), Rejected(InvalidCommand, "name", "single line"),
                 id="name-two-lines"),
    pytest.param([], define(description="d\x1b"), Rejected(InvalidCommand, "description",
                 "control character"), id="description-control-char"),
    pytest.param([], define(description="d" * 1001), Rejected(InvalidCommand, "description",
                 "at most 1000"), id="description-too-long"),
    pytest.param([], ChangeTag(colour="#000000"), Rejected(NotFound, None, "no tag"),
                 id="change-missing"),
    pytest.param([DEFINED], ChangeTag(colour="#00AA00"), [TagChanged(colour="#00aa00")],
                 id="change-colour"),
    pytest.param([DEFINED], ChangeTag(description="beam dumps"),
                 [TagChanged(description="beam dumps")], id="change-description"),
    pytest.param([DEFINED], ChangeTag(description=""), [TagChanged(description="")],
                 id="change-clears-description"),
    pytest.param([DEFINED], ChangeTag(colour="#00aa00", description="x"),
                 [TagChanged(colour="#00aa00", description="x")], id="change-both"),
    pytest.param([DEFINED], ChangeTag(), [], id="change-nothing"),
    pytest.param([DEFINED], ChangeTag(colour="#FF8800", description="beam problems"), [],
                 id="change-same-values-no-op"),
    pytest.param([DEFINED], ChangeTag(colour="#ff8800", description="new"),
                 [TagChanged(description="new")], id="change-emits-only-changed"),
    pytest.param([DEFINED], ChangeTag(colour="blue"), Rejected(InvalidCommand, "colour",
                 "'#rrggbb'"), id="change-bad-colour"),
    pytest.param([DEFINED], ChangeTag(description="\x00"), Rejected(InvalidCommand,
                 "description", "control character"), id="change-control-char"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), TAG_CASES)
def test_decide_tag(events: list[Event], command: Any, then: Any) -> None:
    state = reduce(evolve_tag, events, Tag())
    if isinstance(then, Rejected):
        with pytest.raises(then.error) as raised:
            decide_tag(state, command)
        assert type(raised.value) is then.error
        assert raised.value.field == then.field
        assert then.fragment in raised.value.detail
    else:
        assert decide_tag(state, command) == then


def test_evolve_tag() -> None:
    history: list[Event] = [
        DEFINED,
        TagChanged(colour="#00aa00"),
        TagChanged(description=""),
        TagChanged(description="dumps"),
    ]
    states = [reduce(evolve_tag, history[: n + 1], Tag()) for n in range(len(history))]
    assert [(s.colour, s.description) for s in states] == [
        ("#ff8800", "beam problems"),
        ("#00aa00", "beam problems"),
        ("#00aa00", ""),
        ("#00aa00", "dumps"),
    ]
    assert {(s.tag_id, s.name) for s in states} == {(BEAM_ID, "beam")}


TAG_SCOPES = [
    pytest.param(INVESTIGATION, BEAMLINE, f"investigation:{INVESTIGATION}",
                 id="investigation-wins"),
    pytest.param(None, BEAMLINE, "instrument:ID23-1", id="beamline"),
]  # fmt: skip


@pytest.mark.parametrize(("investigation", "instrument", "scope"), TAG_SCOPES)
def test_tag_scope(investigation: uuid.UUID | None, instrument: str, scope: str) -> None:
    assert tag_scope(investigation, instrument) == scope


def test_same_name_in_two_logbooks_is_two_tags() -> None:
    ids = {
        tag_id_for(tag_scope(INVESTIGATION, BEAMLINE), "beam"),
        tag_id_for(tag_scope(None, BEAMLINE), "beam"),
        tag_id_for(tag_scope(None, "BM29"), "beam"),
        tag_id_for(tag_scope(INVESTIGATION, BEAMLINE), "beam "),
    }
    assert len(ids) == 4
