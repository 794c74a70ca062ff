"""Investigations and participants: reads with access checks, and the commands that change them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from catalogue.domain import investigations as inv
from catalogue.domain.access import (
    InvestigationFacts,
    can_create_investigation,
    can_manage,
    can_see_emails,
    require,
    require_read,
)
from catalogue.domain.values import check_instrument_name
from catalogue.errors import NotFound
from catalogue.portal.execution import Caller, reading, run
from catalogue.portal.history import history_page, state_as_of
from catalogue.readmodels import identity as identity_queries
from catalogue.readmodels import instruments as instrument_queries
from catalogue.readmodels import investigations as queries
from catalogue.readmodels.paging import Page
from catalogue.store import EventStore


def readable_facts(
    connection: Connection, caller: Caller, investigation_id: UUID
) -> InvestigationFacts:
    """The investigation's access facts if the caller may read it; else 404."""
    facts = queries.investigation_facts(connection, investigation_id, caller.principal.username)
    return require_read(caller.principal, facts, caller.now, "investigation")


def list_investigations(
    store: EventStore,
    caller: Caller,
    where: queries.InvestigationFilter,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page:
    """The investigations the caller may read."""
    with reading(store) as connection:
        return queries.list_investigations(
            connection, caller.principal, caller.now, where, sort, cursor, limit
        )


def get_investigation(
    store: EventStore, caller: Caller, investigation_id: UUID, as_of: datetime | None = None
) -> dict[str, Any]:
    """One investigation now, or as it was at `as_of`."""
    with reading(store) as connection:
        readable_facts(connection, caller, investigation_id)
        if as_of is None:
            found = queries.get_investigation(connection, investigation_id, caller.principal)
    if as_of is not None:
        return investigation_as_of(store, caller, investigation_id, as_of)
    if found is None:
        raise NotFound("no investigation with that id")
    return found


def investigation_as_of(
    store: EventStore, caller: Caller, investigation_id: UUID, as_of: datetime
) -> dict[str, Any]:
    """The investigation folded from its events up to `as_of`."""
    state, version, changed = state_as_of(store, inv.INVESTIGATION, investigation_id, as_of)
    if not state.exists:
        raise NotFound(f"the investigation did not exist at {as_of.isoformat()}")
    show_email = can_see_emails(caller.principal)
    people = []
    with reading(store) as connection:
        accounts = identity_queries.users_by_name(connection, list(state.participants))
    for username, role in sorted(state.participants.items(), key=lambda p: (p[1], p[0])):
        account = accounts.get(username, {})
        people.append(
            {
                "username": username,
                "role": role.value,
                "full_name": account.get("full_name", ""),
                "email": account.get("email") if show_email else None,
            }
        )
    return {
        "id": state.investigation_id,
        "proposal": state.proposal,
        "visit_id": state.visit_id,
        "instrument": state.instrument,
        "title": state.title,
        "summary": state.summary,
        "start": state.start,
        "end": state.end,
        "release_date": state.release_date,
        "doi": state.doi,
        "version": version,
        "created_at": None,
        "updated_at": changed,
        "sample_count": None,
        "dataset_count": None,
        "participants": people,
    }


def investigation_history(
    store: EventStore, caller: Caller, investigation_id: UUID, cursor: str | None, limit: int
) -> Page:
    """Who changed the investigation, when, and what."""
    with reading(store) as connection:
        readable_facts(connection, caller, investigation_id)
    return history_page(store, inv.INVESTIGATION, investigation_id, cursor, limit)


def create_investigation(
    store: EventStore,
    caller: Caller,
    embargo: timedelta,
    *,
    proposal: str,
    instrument: str,
    title: str,
    start: datetime,
    visit_id: str | None = None,
    summary: str = "",
    end: datetime | None = None,
    release_date: datetime | None = None,
    doi: str | None = None,
) -> UUID:
    """Schedule an investigation (admins, and scientists of its beamline)."""
    require(
        can_create_investigation(caller.principal, instrument),
        caller.principal,
        f"create investigations on {instrument}",
    )
    check_instrument_name(instrument)  # before it reaches a query
    with reading(store) as connection:
        known = instrument_queries.instrument_exists(connection, instrument)
    command = inv.CreateInvestigation(
        proposal=proposal,
        instrument=instrument,
        instrument_exists=known,
        title=title,
        start=start,
        embargo=embargo,
        visit_id=visit_id,
        summary=summary,
        end=end,
        release_date=release_date,
        doi=doi,
    )
    visit = visit_id or inv.default_visit_id(instrument, start)
    investigation_id = inv.investigation_id_for(proposal, visit)
    run(store, caller, inv.INVESTIGATION, investigation_id, command)
    return investigation_id


def change_investigation(
    store: EventStore,
    caller: Caller,
    investigation_id: UUID,
    command: inv.UpdateInvestigation | inv.RemoveParticipant,
    if_match: int | None = None,
) -> int:
    """Update fields or remove a participant (admins and the beamline's scientists)."""
    with reading(store) as connection:
        facts = readable_facts(connection, caller, investigation_id)
    require(can_manage(caller.principal, facts), caller.principal, "change this investigation")
    outcome = run(store, caller, inv.INVESTIGATION, investigation_id, command, if_match=if_match)
    return outcome.version


def add_participant(
    store: EventStore,
    caller: Caller,
    investigation_id: UUID,
    username: str,
    role: inv.Role,
    if_match: int | None = None,
) -> int:
    """Add a participant or change their role."""
    with reading(store) as connection:
        facts = readable_facts(connection, caller, investigation_id)
        require(can_manage(caller.principal, facts), caller.principal, "change this investigation")
        exists = identity_queries.user_exists(connection, username)
    command = inv.AddParticipant(username, role, exists)
    outcome = run(store, caller, inv.INVESTIGATION, investigation_id, command, if_match=if_match)
    return outcome.version
