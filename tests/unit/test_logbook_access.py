"""Who may read, post, tag and edit in a logbook (catalogue.domain.logbook access rules)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from catalogue.domain.access import ANONYMOUS, InvestigationFacts, Principal
from catalogue.domain.logbook import (
    EntryKind,
    LogbookFacts,
    can_edit,
    can_post,
    can_read_logbook,
    can_tag,
    refuse_if_read_only,
)
from catalogue.errors import DomainError
from tests.unit.callers import BEAMLINE, NOW, PARTICIPANTS, api_key, principals, user

EMBARGOED = LogbookFacts(BEAMLINE, InvestigationFacts(BEAMLINE, NOW + timedelta(days=1),
                                                      PARTICIPANTS))  # fmt: skip
RELEASED = LogbookFacts(BEAMLINE, InvestigationFacts(BEAMLINE, NOW - timedelta(days=1),
                                                     PARTICIPANTS))  # fmt: skip
BEAMLINE_BOOK = LogbookFacts(BEAMLINE)
OTHER_BEAMLINE_BOOK = LogbookFacts("BM29")
FACILITY = LogbookFacts(None)


PRINCIPALS = principals()

T, F = True, False

# -- reading ---------------------------------------------------------------------------------

# principal -> read: embargoed investigation, released investigation, beamline, other beamline,
# facility (broadcasts)
READ = {
    "anonymous":                   (F, T, F, F, T),
    "admin":                       (T, T, T, T, T),
    "principal-investigator":      (T, T, F, F, T),
    "co-investigator":             (T, T, F, F, T),
    "local-contact":               (T, T, F, F, T),
    "collaborator":                (T, T, F, F, T),
    "other-user":                  (F, T, F, F, T),
    "scientist-of-this-beamline":  (T, T, T, F, T),
    "scientist-of-other-beamline": (F, T, F, T, T),
    "api-key-of-this-beamline":    (T, T, T, F, T),
    "api-key-of-other-beamline":   (F, T, F, T, T),
}  # fmt: skip
BOOKS = (EMBARGOED, RELEASED, BEAMLINE_BOOK, OTHER_BEAMLINE_BOOK, FACILITY)


@pytest.mark.parametrize(("who", "expected"), list(READ.items()), ids=list(READ))
def test_can_read_logbook(who: str, expected: tuple[bool, ...]) -> None:
    principal = PRINCIPALS[who]
    assert tuple(can_read_logbook(principal, book, NOW) for book in BOOKS) == expected


# -- posting and tagging ---------------------------------------------------------------------

# principal -> post in the embargoed investigation's logbook (annotation, notification,
# broadcast), in the beamline's logbook (annotation, notification), a broadcast to the facility,
# then can_tag in the investigation's and in the beamline's logbook
POST = {
    "anonymous":                   (F, F, F, F, F, F, F, F),
    "admin":                       (T, T, T, T, T, T, T, T),
    "principal-investigator":      (T, F, F, F, F, F, T, F),
    "co-investigator":             (T, F, F, F, F, F, T, F),
    "local-contact":               (T, F, F, F, F, F, T, F),
    "collaborator":                (F, F, F, F, F, F, F, F),
    "other-user":                  (F, F, F, F, F, F, F, F),
    "scientist-of-this-beamline":  (T, T, F, T, T, F, T, T),
    "scientist-of-other-beamline": (F, F, F, F, F, F, F, F),
    "api-key-of-this-beamline":    (F, T, F, F, T, F, T, T),
    "api-key-of-other-beamline":   (F, F, F, F, F, F, F, F),
}  # fmt: skip


@pytest.mark.parametrize(("who", "expected"), list(POST.items()), ids=list(POST))
def test_can_post_and_tag(who: str, expected: tuple[bool, ...]) -> None:
    principal = PRINCIPALS[who]
    assert (
        can_post(principal, EntryKind.ANNOTATION, EMBARGOED),
        can_post(principal, EntryKind.NOTIFICATION, EMBARGOED),
        can_post(principal, EntryKind.BROADCAST, EMBARGOED),
        can_post(principal, EntryKind.ANNOTATION, BEAMLINE_BOOK),
        can_post(principal, EntryKind.NOTIFICATION, BEAMLINE_BOOK),
        can_post(principal, EntryKind.BROADCAST, FACILITY),
        can_tag(principal, EMBARGOED),
        can_tag(principal, BEAMLINE_BOOK),
    ) == expected


POST_ELSEWHERE = [
    pytest.param(api_key(BEAMLINE), EntryKind.NOTIFICATION, OTHER_BEAMLINE_BOOK, False,
                 id="api-key-notification-on-other-beamline"),
    pytest.param(api_key("BM29"), EntryKind.NOTIFICATION, OTHER_BEAMLINE_BOOK, True,
                 id="api-key-notification-on-own-beamline"),
    pytest.param(api_key(BEAMLINE), EntryKind.NOTIFICATION, FACILITY, False,
                 id="api-key-notification-to-facility"),
    pytest.param(PRINCIPALS["scientist-of-this-beamline"], EntryKind.ANNOTATION,
                 OTHER_BEAMLINE_BOOK, False, id="scientist-annotation-on-other-beamline"),
    pytest.param(PRINCIPALS["scientist-of-this-beamline"], EntryKind.NOTIFICATION, FACILITY,
                 False, id="scientist-notification-to-facility"),
    pytest.param(PRINCIPALS["principal-investigator"], EntryKind.ANNOTATION, RELEASED, True,
                 id="participant-may-post-released-refused-later-as-read-only"),
    pytest.param(user("pi", scientist_of=frozenset({"BM29"})), EntryKind.NOTIFICATION,
                 EMBARGOED, False, id="participant-scientist-elsewhere-no-notification"),
]  # fmt: skip


@pytest.mark.parametrize(("principal", "kind", "facts", "allowed"), POST_ELSEWHERE)
def test_can_post_elsewhere(
    principal: Principal, kind: EntryKind, facts: LogbookFacts, allowed: bool
) -> None:
    assert can_post(principal, kind, facts) is allowed


# -- editing ---------------------------------------------------------------------------------

CO = "user:co"
KEY_K1 = "api-key:ID23-1/k1"

# principal, the entry's author, where the entry is -> may edit, delete and restore it
EDIT = [
    pytest.param(user("co"), CO, EMBARGOED, True, id="author"),
    pytest.param(user("co"), CO, BEAMLINE_BOOK, True, id="author-in-beamline-logbook"),
    pytest.param(user("lc"), CO, EMBARGOED, True, id="local-contact"),
    pytest.param(user("pi"), CO, EMBARGOED, False, id="principal-investigator-not-author"),
    pytest.param(user("co"), "user:pi", EMBARGOED, False, id="co-investigator-not-author"),
    pytest.param(user("collab"), CO, EMBARGOED, False, id="collaborator"),
    pytest.param(user("zoe"), CO, EMBARGOED, False, id="other-user"),
    pytest.param(PRINCIPALS["admin"], CO, EMBARGOED, True, id="admin"),
    pytest.param(PRINCIPALS["admin"], KEY_K1, BEAMLINE_BOOK, True, id="admin-beamline"),
    pytest.param(PRINCIPALS["admin"], "user:root", FACILITY, True, id="admin-broadcast"),
    pytest.param(PRINCIPALS["scientist-of-this-beamline"], CO, EMBARGOED, False,
                 id="scientist-not-local-contact-of-investigation"),
    pytest.param(PRINCIPALS["scientist-of-this-beamline"], KEY_K1, BEAMLINE_BOOK, True,
                 id="scientist-in-own-beamline-logbook"),
    pytest.param(PRINCIPALS["scientist-of-other-beamline"], KEY_K1, BEAMLINE_BOOK, False,
                 id="scientist-of-other-beamline"),
    pytest.param(PRINCIPALS["scientist-of-this-beamline"], "user:root", FACILITY, False,
                 id="scientist-broadcast"),
    pytest.param(user("lc"), KEY_K1, BEAMLINE_BOOK, False,
                 id="local-contact-of-an-investigation-in-beamline-logbook"),
    pytest.param(api_key(BEAMLINE), KEY_K1, BEAMLINE_BOOK, True, id="api-key-its-own-entry"),
    pytest.param(api_key(BEAMLINE), KEY_K1, EMBARGOED, True,
                 id="api-key-its-own-entry-in-investigation"),
    pytest.param(api_key(BEAMLINE, "k2"), KEY_K1, BEAMLINE_BOOK, False,
                 id="other-api-key-of-the-beamline"),
    pytest.param(api_key(BEAMLINE), CO, EMBARGOED, False, id="api-key-of-the-beamline"),
    pytest.param(api_key("BM29", "k1"), KEY_K1, BEAMLINE_BOOK, False,
                 id="api-key-of-other-beamline-same-credential-name"),
    pytest.param(ANONYMOUS, CO, EMBARGOED, False, id="anonymous"),
    pytest.param(ANONYMOUS, CO, RELEASED, False, id="anonymous-released"),
    pytest.param(ANONYMOUS, KEY_K1, BEAMLINE_BOOK, False, id="anonymous-beamline"),
    pytest.param(user("lc"), CO, RELEASED, True,
                 id="local-contact-released-refused-later-as-read-only"),
]  # fmt: skip


@pytest.mark.parametrize(("principal", "author", "facts", "allowed"), EDIT)
def test_can_edit(principal: Principal, author: str, facts: LogbookFacts, allowed: bool) -> None:
    assert can_edit(principal, author, facts) is allowed


# -- read-only once released -----------------------------------------------------------------


def investigation(release: datetime) -> LogbookFacts:
    return LogbookFacts(BEAMLINE, InvestigationFacts(BEAMLINE, release, PARTICIPANTS))


READ_ONLY = [
    pytest.param(investigation(NOW - timedelta(days=1)), True, id="released"),
    pytest.param(investigation(NOW), True, id="released-right-now"),
    pytest.param(investigation(NOW + timedelta(microseconds=1)), False, id="one-microsecond-left"),
    pytest.param(investigation(NOW + timedelta(days=365)), False, id="embargoed"),
    pytest.param(BEAMLINE_BOOK, False, id="beamline-logbook"),
    pytest.param(FACILITY, False, id="facility"),
]


@pytest.mark.parametrize(("facts", "read_only"), READ_ONLY)
def test_refuse_if_read_only(facts: LogbookFacts, read_only: bool) -> None:
    if not read_only:
        refuse_if_read_only(facts, NOW)  # writes stay open: no error
        return
    with pytest.raises(DomainError) as raised:
        refuse_if_read_only(facts, NOW)
    assert type(raised.value) is DomainError
    assert raised.value.status == 409
    assert "read-only" in raised.value.detail
    assert facts.investigation is not None
    assert facts.investigation.release_date.isoformat() in raised.value.detail
