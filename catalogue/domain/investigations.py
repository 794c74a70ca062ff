"""Investigations (a proposal's session on one beamline) and their participants."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from catalogue.domain.aggregate import Aggregate
from catalogue.domain.values import (
    check_aware,
    check_instrument_name,
    check_period,
    check_proposal,
    check_text,
    check_username,
    derived_id,
)
from catalogue.errors import AlreadyExists, DomainError, InvalidCommand, NotFound
from catalogue.events import Event

_DOI = re.compile(r"^10\.\d{4,9}/[^\s]{1,200}$")
_VISIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Role(enum.StrEnum):
    """What a person is to an investigation."""

    PRINCIPAL_INVESTIGATOR = "principal_investigator"
    CO_INVESTIGATOR = "co_investigator"
    LOCAL_CONTACT = "local_contact"
    COLLABORATOR = "collaborator"


class InvestigationCreated(Event):
    """A proposal's session on a beamline was scheduled."""

    investigation_id: UUID
    proposal: str
    visit_id: str
    instrument: str
    title: str
    summary: str
    start: datetime
    end: datetime | None
    release_date: datetime
    doi: str | None
    #: True when release_date was the default (end + embargo): it then follows the end.
    release_date_defaulted: bool = False


class InvestigationUpdated(Event):
    """Some of an investigation's fields changed; the others are absent."""

    title: str | None = None
    summary: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    release_date: datetime | None = None
    doi: str | None = None
    #: Whether a new release_date is the default (moved with the end) or was given.
    release_date_defaulted: bool | None = None


class ParticipantAdded(Event):
    """A user joined an investigation, or took a new role in it."""

    username: str
    role: Role


class ParticipantRemoved(Event):
    """A user left an investigation."""

    username: str


INVESTIGATION_EVENTS = (
    InvestigationCreated,
    InvestigationUpdated,
    ParticipantAdded,
    ParticipantRemoved,
)


def investigation_id_for(proposal: str, visit_id: str) -> UUID:
    """The id of a proposal's visit: the natural key (proposal, visit) is unique."""
    return derived_id("investigation", proposal, visit_id)


def investigation_stream(investigation_id: UUID) -> str:
    """The stream of one investigation."""
    return INVESTIGATION.stream(investigation_id)


@dataclass(frozen=True, slots=True)
class Investigation:
    """An investigation as its events leave it."""

    investigation_id: UUID | None = None
    proposal: str = ""
    visit_id: str = ""
    instrument: str = ""
    title: str = ""
    summary: str = ""
    start: datetime | None = None
    end: datetime | None = None
    release_date: datetime | None = None
    doi: str | None = None
    release_date_defaulted: bool = False
    participants: dict[str, Role] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether the investigation was created."""
        return self.investigation_id is not None


@dataclass(frozen=True, slots=True)
class CreateInvestigation:
    """Schedule a proposal's session; `release_date` defaults to end (or start) + embargo."""

    proposal: str
    instrument: str
    instrument_exists: bool
    title: str
    start: datetime
    embargo: timedelta
    visit_id: str | None = None
    summary: str = ""
    end: datetime | None = None
    release_date: datetime | None = None
    doi: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateInvestigation:
    """Change fields (None leaves a field as it is); a defaulted release date follows the end."""

    embargo: timedelta | None = None
    title: str | None = None
    summary: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    release_date: datetime | None = None
    doi: str | None = None


@dataclass(frozen=True, slots=True)
class AddParticipant:
    """Add a user with a role, or change their role (`user_exists` looked up by the caller)."""

    username: str
    role: Role
    user_exists: bool


@dataclass(frozen=True, slots=True)
class RemoveParticipant:
    """Remove a user from the investigation."""

    username: str


InvestigationCommand = (
    CreateInvestigation | UpdateInvestigation | AddParticipant | RemoveParticipant
)


def default_visit_id(instrument: str, start: datetime) -> str:
    """The visit name when none is given: beamline and start day (`id23-1-20261124`)."""
    # The UTC day: the same instant sent with another offset must name the same visit.
    return f"{instrument.lower()}-{start.astimezone(UTC):%Y%m%d}"


def evolve_investigation(state: Investigation, event: Event) -> Investigation:
    """Fold one event into an investigation."""
    match event:
        case InvestigationCreated():
            return Investigation(
                investigation_id=event.investigation_id,
                proposal=event.proposal,
                visit_id=event.visit_id,
                instrument=event.instrument,
                title=event.title,
                summary=event.summary,
                start=event.start,
                end=event.end,
                release_date=event.release_date,
                doi=event.doi,
                release_date_defaulted=event.release_date_defaulted,
            )
        case InvestigationUpdated():
            changes = {k: v for k, v in event.model_dump().items() if v is not None}
            return replace(state, **changes)
        case ParticipantAdded():
            return replace(state, participants={**state.participants, event.username: event.role})
        case ParticipantRemoved():
            participants = dict(state.participants)
            participants.pop(event.username, None)
            return replace(state, participants=participants)
    return state


def _check_doi(doi: str | None) -> None:
    if doi is not None and not _DOI.fullmatch(doi):
        raise InvalidCommand(f"doi {doi[:80]!r} is not a DOI (e.g. '10.15151/ESRF-ES-1234')", "doi")


def _create(state: Investigation, command: CreateInvestigation) -> list[Event]:
    check_proposal(command.proposal)
    check_instrument_name(command.instrument)
    if not command.instrument_exists:
        raise InvalidCommand(f"instrument {command.instrument!r} is not registered", "instrument")
    check_period(command.start, command.end, "start", "end")
    visit_id = command.visit_id or default_visit_id(command.instrument, command.start)
    if not _VISIT.fullmatch(visit_id):
        raise InvalidCommand(
            f"visit_id {visit_id[:70]!r} must be 1-64 letters, digits, '_.-'", "visit_id"
        )
    if state.exists:
        # No id in the message: the caller may not be allowed to read that investigation.
        raise AlreadyExists(
            f"investigation {command.proposal} visit {visit_id} already exists", "proposal"
        )
    if command.release_date is not None:
        check_aware(command.release_date, "release_date")
    _check_doi(command.doi)
    release = command.release_date or (command.end or command.start) + command.embargo
    return [
        InvestigationCreated(
            investigation_id=investigation_id_for(command.proposal, visit_id),
            proposal=command.proposal,
            visit_id=visit_id,
            instrument=command.instrument,
            title=check_text(command.title, "title", max_length=500, required=True),
            summary=check_text(command.summary, "summary"),
            start=command.start,
            end=command.end,
            release_date=release,
            doi=command.doi,
            release_date_defaulted=command.release_date is None,
        )
    ]


def _update(state: Investigation, command: UpdateInvestigation) -> list[Event]:
    assert state.start is not None
    start = command.start or state.start
    end = command.end or state.end
    check_period(start, end, "start", "end")
    if command.title is not None:
        check_text(command.title, "title", max_length=500, required=True)
    if command.summary is not None:
        check_text(command.summary, "summary")
    if command.release_date is not None:
        check_aware(command.release_date, "release_date")
    _check_doi(command.doi)
    if command.doi is not None and state.doi is not None and command.doi != state.doi:
        # A DOI is a permanent citation: once minted it may not point elsewhere.
        raise DomainError(f"the investigation already has DOI {state.doi}", "doi")
    changes: dict[str, Any] = {}
    for name in ("title", "summary", "start", "end", "release_date", "doi"):
        new = getattr(command, name)
        if new is not None and new != getattr(state, name):
            changes[name] = new
    if command.release_date is not None:
        if state.release_date_defaulted:
            changes["release_date_defaulted"] = False
    elif state.release_date_defaulted and command.embargo is not None:
        # The default embargo runs from the end: moving the end moves the opening of the data.
        release = (end or start) + command.embargo
        if release != state.release_date:
            changes["release_date"] = release
    return [InvestigationUpdated(**changes)] if changes else []


def decide_investigation(state: Investigation, command: InvestigationCommand) -> list[Event]:
    """The events an investigation command produces, or a domain error."""
    if isinstance(command, CreateInvestigation):
        return _create(state, command)
    if not state.exists:
        raise NotFound("no such investigation")
    match command:
        case UpdateInvestigation():
            return _update(state, command)
        case AddParticipant():
            check_username(command.username)
            if not command.user_exists:
                raise InvalidCommand(f"no user {command.username!r}", "username")
            if state.participants.get(command.username) == command.role:
                return []
            if (
                _removes_last_pi(state, command.username)
                and command.role != Role.PRINCIPAL_INVESTIGATOR
            ):
                raise DomainError(
                    f"{command.username!r} is the only principal investigator; add another first",
                    "role",
                )
            return [ParticipantAdded(username=command.username, role=command.role)]
        case RemoveParticipant():
            if command.username not in state.participants:
                raise NotFound(f"{command.username!r} is not a participant")
            if _removes_last_pi(state, command.username):
                raise DomainError(
                    f"{command.username!r} is the only principal investigator; add another first",
                    "username",
                )
            return [ParticipantRemoved(username=command.username)]
    raise InvalidCommand(f"unknown command {type(command).__name__}")


def _removes_last_pi(state: Investigation, username: str) -> bool:
    pis = [u for u, r in state.participants.items() if r == Role.PRINCIPAL_INVESTIGATOR]
    return pis == [username]


INVESTIGATION: Aggregate[Investigation, InvestigationCommand] = Aggregate(
    "investigation", Investigation(), evolve_investigation, decide_investigation
)
