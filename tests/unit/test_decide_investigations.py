"""Investigations and participants (catalogue.domain.investigations), as tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import reduce
from typing import Any

import pytest

from catalogue.domain.investigations import (
    AddParticipant,
    CreateInvestigation,
    Investigation,
    InvestigationCreated,
    InvestigationUpdated,
    ParticipantAdded,
    ParticipantRemoved,
    RemoveParticipant,
    Role,
    UpdateInvestigation,
    decide_investigation,
    default_visit_id,
    evolve_investigation,
    investigation_id_for,
)
from catalogue.domain.values import derived_id
from catalogue.errors import AlreadyExists, CatalogueError, DomainError, InvalidCommand, NotFound
from catalogue.events import Event

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
END = START + timedelta(days=2)
EMBARGO = timedelta(days=3 * 365)
NAIVE = datetime(2026, 11, 24, 8, 0)
VISIT = "id23-1-20261124"
INVESTIGATION_ID = investigation_id_for("MX-2345", VISIT)
DOI = "10.15151/ESRF-ES-1234"
OTHER_DOI = "10.15151/ESRF-ES-9999"
PI = Role.PRINCIPAL_INVESTIGATOR
CO = Role.CO_INVESTIGATOR
LC = Role.LOCAL_CONTACT
COLLABORATOR = Role.COLLABORATOR


@dataclass(frozen=True)
class Rejected:
    """The error a command must raise: exact class, field at fault, fragment of the detail."""

    error: type[CatalogueError]
    field: str | None
    fragment: str


def given(events: Iterable[Event]) -> Investigation:
    return reduce(evolve_investigation, events, Investigation())


def create(**changes: Any) -> CreateInvestigation:
    base = CreateInvestigation(
        proposal="MX-2345",
        instrument="ID23-1",
        instrument_exists=True,
        title="Lysozyme soaks",
        start=START,
        end=END,
        embargo=EMBARGO,
    )
    return replace(base, **changes)


def created(**changes: Any) -> InvestigationCreated:
    fields: dict[str, Any] = {
        "investigation_id": INVESTIGATION_ID,
        "proposal": "MX-2345",
        "visit_id": VISIT,
        "instrument": "ID23-1",
        "title": "Lysozyme soaks",
        "summary": "",
        "start": START,
        "end": END,
        "release_date": END + EMBARGO,
        "doi": None,
        "release_date_defaulted": True,
    }
    return InvestigationCreated(**{**fields, **changes})


CREATED = created()


def added(username: str, role: Role) -> ParticipantAdded:
    return ParticipantAdded(username=username, role=role)


CREATE_CASES = [
    pytest.param([], create(), [CREATED], id="create-release-is-end-plus-embargo"),
    pytest.param([], create(end=None), [created(end=None, release_date=START + EMBARGO)],
                 id="create-open-ended-release-is-start-plus-embargo"),
    pytest.param([], create(release_date=START + timedelta(days=1)),
                 [created(release_date=START + timedelta(days=1), release_date_defaulted=False)],
                 id="create-explicit-release"),
    pytest.param([], create(embargo=timedelta(0)), [created(release_date=END)],
                 id="create-no-embargo"),
    pytest.param([], create(visit_id="mx2345-a"),
                 [created(investigation_id=investigation_id_for("MX-2345", "mx2345-a"),
                          visit_id="mx2345-a")], id="create-explicit-visit"),
    pytest.param([], create(end=START), [created(end=START, release_date=START + EMBARGO)],
                 id="create-end-equals-start"),
    pytest.param([], create(doi=DOI, summary="Soaking\ttrials"),
                 [created(doi=DOI, summary="Soaking\ttrials")], id="create-with-doi-summary"),
    pytest.param([CREATED], create(), Rejected(AlreadyExists, "proposal",
                 f"MX-2345 visit {VISIT} already exists"), id="create-twice"),
    pytest.param([], create(proposal="mx-2345"), Rejected(InvalidCommand, "proposal",
                 "upper-case"), id="create-bad-proposal"),
    pytest.param([], create(instrument="id23-1"), Rejected(InvalidCommand, "instrument",
                 "must be 1-32"), id="create-bad-instrument-name"),
    pytest.param([], create(instrument_exists=False), Rejected(InvalidCommand, "instrument",
                 "'ID23-1' is not registered"), id="create-unregistered-instrument"),
    pytest.param([], create(start=NAIVE), Rejected(InvalidCommand, "start",
                 "needs a timezone"), id="create-naive-start"),
    pytest.param([], create(end=NAIVE + timedelta(days=1)), Rejected(InvalidCommand, "end",
                 "needs a timezone"), id="create-naive-end"),
    pytest.param([], create(end=START - timedelta(seconds=1)), Rejected(InvalidCommand,
                 "end", "is before start"), id="create-end-before-start"),
    pytest.param([], create(visit_id="visit 1"), Rejected(InvalidCommand, "visit_id",
                 "must be 1-64"), id="create-bad-visit"),
    pytest.param([], create(visit_id="v" * 65), Rejected(InvalidCommand, "visit_id",
                 "must be 1-64"), id="create-long-visit"),
    pytest.param([], create(release_date=NAIVE), Rejected(InvalidCommand, "release_date",
                 "needs a timezone"), id="create-naive-release"),
    pytest.param([], create(doi="doi:10.15151/x"), Rejected(InvalidCommand, "doi",
                 "is not a DOI"), id="create-bad-doi"),
    pytest.param([], create(doi="10.12/x"), Rejected(InvalidCommand, "doi", "is not a DOI"),
                 id="create-doi-short-registrant"),
    pytest.param([], create(doi=DOI + "\n"), Rejected(InvalidCommand, "doi", "is not a DOI"),
                 id="create-doi-trailing-newline"),
    pytest.param([], create(visit_id="v1\n"), Rejected(InvalidCommand, "visit_id",
                 "must be 1-64"), id="create-visit-trailing-newline"),
    pytest.param([], create(title="  "), Rejected(InvalidCommand, "title",
                 "must not be empty"), id="create-blank-title"),
    pytest.param([], create(title="t" * 501), Rejected(InvalidCommand, "title", "at most 500"),
                 id="create-long-title"),
    pytest.param([], create(summary="a\x00"), Rejected(InvalidCommand, "summary",
                 "control character"), id="create-control-char-summary"),
]  # fmt: skip

UPDATE_CASES = [
    pytest.param([], UpdateInvestigation(title="x"), Rejected(NotFound, None,
                 "no such investigation"), id="update-missing"),
    pytest.param([CREATED], UpdateInvestigation(title="Lysozyme soaks, day 2"),
                 [InvestigationUpdated(title="Lysozyme soaks, day 2")], id="update-title"),
    pytest.param([CREATED], UpdateInvestigation(), [], id="update-nothing"),
    pytest.param([CREATED], UpdateInvestigation(title="Lysozyme soaks", start=START, end=END),
                 [], id="update-same-values"),
    pytest.param([CREATED], UpdateInvestigation(title="Lysozyme soaks", summary="More"),
                 [InvestigationUpdated(summary="More")], id="update-emits-only-changed"),
    pytest.param([CREATED], UpdateInvestigation(start=START + timedelta(hours=1)),
                 [InvestigationUpdated(start=START + timedelta(hours=1))], id="update-start"),
    pytest.param([CREATED], UpdateInvestigation(end=END + timedelta(days=1)),
                 [InvestigationUpdated(end=END + timedelta(days=1))], id="update-end"),
    pytest.param([CREATED], UpdateInvestigation(start=END + timedelta(seconds=1)),
                 Rejected(InvalidCommand, "end", "is before start"),
                 id="update-start-after-end"),
    pytest.param([CREATED], UpdateInvestigation(end=START - timedelta(seconds=1)),
                 Rejected(InvalidCommand, "end", "is before start"),
                 id="update-end-before-start"),
    pytest.param([created(end=None)], UpdateInvestigation(end=END),
                 [InvestigationUpdated(end=END)], id="update-sets-end"),
    pytest.param([CREATED], UpdateInvestigation(start=NAIVE), Rejected(InvalidCommand,
                 "start", "needs a timezone"), id="update-naive-start"),
    pytest.param([CREATED], UpdateInvestigation(end=NAIVE + timedelta(days=3)),
                 Rejected(InvalidCommand, "end", "needs a timezone"), id="update-naive-end"),
    pytest.param([CREATED], UpdateInvestigation(release_date=START),
                 [InvestigationUpdated(release_date=START, release_date_defaulted=False)],
                 id="update-release-date"),
    pytest.param([CREATED], UpdateInvestigation(embargo=EMBARGO, end=END + timedelta(days=5)),
                 [InvestigationUpdated(end=END + timedelta(days=5),
                                       release_date=END + timedelta(days=5) + EMBARGO)],
                 id="update-end-moves-a-default-release-date"),
    pytest.param([created(release_date=START, release_date_defaulted=False)],
                 UpdateInvestigation(embargo=EMBARGO, end=END + timedelta(days=5)),
                 [InvestigationUpdated(end=END + timedelta(days=5))],
                 id="update-end-keeps-a-given-release-date"),
    pytest.param([CREATED], UpdateInvestigation(release_date=NAIVE), Rejected(InvalidCommand,
                 "release_date", "needs a timezone"), id="update-naive-release"),
    pytest.param([CREATED], UpdateInvestigation(title=""), Rejected(InvalidCommand, "title",
                 "must not be empty"), id="update-empty-title"),
    pytest.param([CREATED], UpdateInvestigation(summary="s" * 4001), Rejected(InvalidCommand,
                 "summary", "at most 4000"), id="update-long-summary"),
    pytest.param([CREATED], UpdateInvestigation(doi=DOI), [InvestigationUpdated(doi=DOI)],
                 id="update-sets-first-doi"),
    pytest.param([CREATED, InvestigationUpdated(doi=DOI)], UpdateInvestigation(doi=DOI), [],
                 id="update-same-doi"),
    pytest.param([CREATED, InvestigationUpdated(doi=DOI)], UpdateInvestigation(doi=OTHER_DOI),
                 Rejected(DomainError, "doi", f"already has DOI {DOI}"),
                 id="update-doi-may-not-change"),
    pytest.param([created(doi=DOI)], UpdateInvestigation(doi=OTHER_DOI, title="New"),
                 Rejected(DomainError, "doi", "already has DOI"),
                 id="update-doi-from-creation-may-not-change"),
    pytest.param([created(doi=DOI)], UpdateInvestigation(title="New"),
                 [InvestigationUpdated(title="New")], id="update-keeps-doi"),
    pytest.param([CREATED], UpdateInvestigation(doi="10.15151/has space"),
                 Rejected(InvalidCommand, "doi", "is not a DOI"), id="update-bad-doi"),
]  # fmt: skip

PARTICIPANT_CASES = [
    pytest.param([], AddParticipant("alice", PI, True), Rejected(NotFound, None,
                 "no such investigation"), id="add-to-missing"),
    pytest.param([CREATED], AddParticipant("alice", PI, True), [added("alice", PI)],
                 id="add-pi"),
    pytest.param([CREATED], AddParticipant("carol", COLLABORATOR, True),
                 [added("carol", COLLABORATOR)], id="add-collaborator-without-pi"),
    pytest.param([CREATED], AddParticipant("zoe", CO, False), Rejected(InvalidCommand,
                 "username", "no user 'zoe'"), id="add-unknown-user"),
    pytest.param([CREATED], AddParticipant("Zoe", CO, True), Rejected(InvalidCommand,
                 "username", "must be 1-64"), id="add-bad-username"),
    pytest.param([CREATED, added("alice", PI)], AddParticipant("alice", PI, True), [],
                 id="add-same-role-again"),
    pytest.param([CREATED, added("alice", PI), added("bob", PI)],
                 AddParticipant("alice", CO, True), [added("alice", CO)],
                 id="demote-one-of-two-pis"),
    pytest.param([CREATED, added("alice", PI)], AddParticipant("alice", COLLABORATOR, True),
                 Rejected(DomainError, "role", "'alice' is the only principal investigator"),
                 id="demote-last-pi"),
    pytest.param([CREATED, added("alice", PI), added("bob", CO)],
                 AddParticipant("alice", LC, True),
                 Rejected(DomainError, "role", "only principal investigator"),
                 id="demote-last-pi-among-others"),
    pytest.param([CREATED, added("alice", PI), added("bob", CO)],
                 AddParticipant("bob", PI, True), [added("bob", PI)], id="promote-to-pi"),
    pytest.param([CREATED, added("alice", PI), added("bob", CO)],
                 AddParticipant("bob", LC, True), [added("bob", LC)], id="change-non-pi-role"),
    pytest.param([CREATED, added("alice", PI), added("bob", CO)], RemoveParticipant("bob"),
                 [ParticipantRemoved(username="bob")], id="remove-co-investigator"),
    pytest.param([CREATED, added("alice", PI), added("bob", PI)], RemoveParticipant("alice"),
                 [ParticipantRemoved(username="alice")], id="remove-one-of-two-pis"),
    pytest.param([CREATED, added("alice", PI), added("bob", CO)], RemoveParticipant("alice"),
                 Rejected(DomainError, "username", "only principal investigator; add another"),
                 id="remove-last-pi"),
    pytest.param([CREATED, added("alice", PI), added("bob", PI),
                  ParticipantRemoved(username="bob")], RemoveParticipant("alice"),
                 Rejected(DomainError, "username", "only principal investigator"),
                 id="remove-last-pi-after-other-left"),
    pytest.param([CREATED, added("alice", PI), added("bob", PI), added("bob", CO)],
                 RemoveParticipant("alice"),
                 Rejected(DomainError, "username", "only principal investigator"),
                 id="remove-last-pi-after-other-demoted"),
    pytest.param([CREATED, added("alice", PI)], RemoveParticipant("zoe"),
                 Rejected(NotFound, None, "'zoe' is not a participant"),
                 id="remove-non-participant"),
    pytest.param([], RemoveParticipant("zoe"), Rejected(NotFound, None,
                 "no such investigation"), id="remove-from-missing"),
    pytest.param([CREATED], object(), Rejected(InvalidCommand, None, "unknown command"),
                 id="unknown-command"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("events", "command", "then"), CREATE_CASES + UPDATE_CASES + PARTICIPANT_CASES
)
def test_decide_investigation(events: list[Event], command: Any, then: Any) -> None:
    state = given(events)
    if isinstance(then, Rejected):
        with pytest.raises(then.error) as raised:
            decide_investigation(state, command)
        assert type(raised.value) is then.error
        assert getattr(raised.value, "field", None) == then.field
        assert then.fragment in raised.value.detail
    else:
        assert decide_investigation(state, command) == then


FULL = Investigation(
    investigation_id=INVESTIGATION_ID,
    proposal="MX-2345",
    visit_id=VISIT,
    instrument="ID23-1",
    title="Lysozyme soaks",
    summary="",
    start=START,
    end=END,
    release_date=END + EMBARGO,
    doi=None,
    release_date_defaulted=True,
)

STATES = [
    pytest.param([], Investigation(), id="nothing"),
    pytest.param([CREATED], FULL, id="created"),
    pytest.param([CREATED, InvestigationUpdated(title="New", doi=DOI)],
                 replace(FULL, title="New", doi=DOI), id="updated-fields-only"),
    pytest.param([CREATED, InvestigationUpdated(release_date=START)],
                 replace(FULL, release_date=START), id="release-moved"),
    pytest.param([CREATED, InvestigationUpdated(release_date=START, release_date_defaulted=False)],
                 replace(FULL, release_date=START, release_date_defaulted=False),
                 id="release-given"),
    pytest.param([CREATED, added("alice", PI), added("bob", CO)],
                 replace(FULL, participants={"alice": PI, "bob": CO}), id="participants"),
    pytest.param([CREATED, added("alice", PI), added("alice", CO)],
                 replace(FULL, participants={"alice": CO}), id="role-changed"),
    pytest.param([CREATED, added("alice", PI), ParticipantRemoved(username="alice")], FULL,
                 id="participant-removed"),
    pytest.param([CREATED, ParticipantRemoved(username="zoe")], FULL,
                 id="removing-unknown-is-harmless"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "state"), STATES)
def test_evolve_investigation(events: list[Event], state: Investigation) -> None:
    assert given(events) == state


# instrument, start -> default visit id
VISITS = [
    pytest.param("ID23-1", START, "id23-1-20261124", id="lower-cased-beamline-and-day"),
    pytest.param("BM29", datetime(2027, 1, 5, 23, 59, tzinfo=UTC), "bm29-20270105", id="bm29"),
]


@pytest.mark.parametrize(("instrument", "start", "visit"), VISITS)
def test_default_visit_id(instrument: str, start: datetime, visit: str) -> None:
    assert default_visit_id(instrument, start) == visit
    [event] = decide_investigation(
        Investigation(), create(instrument=instrument, start=start, end=None)
    )
    assert isinstance(event, InvestigationCreated)
    assert (event.visit_id, event.investigation_id) == (
        visit,
        investigation_id_for("MX-2345", visit),
    )


def test_default_visit_id_does_not_depend_on_the_offset_of_the_same_instant() -> None:
    late_utc = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    same_in_paris = late_utc.astimezone(timezone(timedelta(hours=1)))  # 2026-11-25 00:30+01
    from_utc = decide_investigation(Investigation(), create(start=late_utc, end=None))
    from_paris = decide_investigation(Investigation(), create(start=same_in_paris, end=None))
    assert from_utc[0].investigation_id == from_paris[0].investigation_id  # type: ignore[attr-defined]


# (proposal, visit) pairs: the id is derived from the natural key
def test_investigation_id_is_derived_from_proposal_and_visit() -> None:
    assert investigation_id_for("MX-2345", VISIT) == derived_id("investigation", "MX-2345", VISIT)
    assert investigation_id_for("MX-2345", VISIT) == INVESTIGATION_ID
    assert len({
        investigation_id_for("MX-2345", VISIT),
        investigation_id_for("MX-2345", "id23-1-20261125"),
        investigation_id_for("MX-2346", VISIT),
    }) == 3  # fmt: skip
