"""Sample tracking (catalogue.domain.tracking): shipments, parcels, their items and the parcel
life cycle with its actors, as tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import reduce
from typing import Any

import pytest

from catalogue.domain.access import ANONYMOUS, InvestigationFacts, Principal, PrincipalKind
from catalogue.domain.investigations import Role
from catalogue.domain.tracking import (
    EDITABLE,
    MAX_DEPTH,
    MAX_ITEMS,
    TRANSITIONS,
    Actor,
    AddItem,
    Address,
    AfterExperiment,
    ChangeItem,
    ChangeParcel,
    ContainerType,
    CreateParcel,
    CreateShipment,
    ItemAdded,
    ItemChanged,
    ItemKind,
    ItemRemoved,
    ItemSpec,
    MoveParcel,
    Parcel,
    ParcelChanged,
    ParcelCreated,
    ParcelStatus,
    ParcelStatusChanged,
    RemoveItem,
    Session,
    Shipment,
    ShipmentCreated,
    ShipmentUpdated,
    Storage,
    TrackingFacts,
    UpdateShipment,
    allowed_steps,
    can_read_parcels,
    decide_parcel,
    decide_shipment,
    default_location,
    evolve_parcel,
    evolve_shipment,
    is_tracking_staff,
    item_id_for,
    parcel_id_for,
    roles_of,
    shipment_id_for,
)
from catalogue.errors import (
    AlreadyExists,
    CatalogueError,
    DomainError,
    Forbidden,
    InvalidCommand,
    NotFound,
)
from catalogue.events import Event
from tests.unit.callers import BEAMLINE, PARTICIPANTS, api_key, user

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
#: When the commands under test happen: after every step the paths below take.
NOW = T0 + timedelta(days=1)
PROPOSAL = "MX-2345"
INVESTIGATION = uuid.UUID("00000000-0000-4000-8000-000000000001")
SESSION_ID = uuid.UUID("00000000-0000-4000-8000-000000000002")
SAMPLE_ID = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
SHIPMENT = shipment_id_for(INVESTIGATION, "to-grenoble")
PARCEL = parcel_id_for(SHIPMENT, "parcel-1")
SESSION_START = T0 + timedelta(days=3)
SESSION = Session(SESSION_ID, PROPOSAL, BEAMLINE, SESSION_START, SESSION_START + timedelta(days=2))
TRACKING = "1Z999AA10123456784"
RETURN_TRACKING = "JD014600006281234567"
LOCATION = "loading dock 3"
COMMENT = "checked by hand: no safety data sheet for the crystals"

P, S, T, L = Actor.PARTICIPANT, Actor.SAFETY, Actor.STORES, Actor.LOCAL_CONTACT
SYSTEM = Actor.SYSTEM
ST = ParcelStatus
ALL_ROLES = frozenset({P, S, T, L})


@dataclass(frozen=True)
class Rejected:
    """The error a command must raise: exact class, field at fault, fragment of the detail."""

    error: type[CatalogueError]
    field: str | None
    fragment: str


def _then(decide: Any, state: Any, command: Any, then: Any) -> None:
    if isinstance(then, Rejected):
        with pytest.raises(then.error) as raised:
            decide(state, command)
        assert type(raised.value) is then.error
        assert raised.value.field == then.field
        assert then.fragment in raised.value.detail
    else:
        assert decide(state, command) == then


# -- the life cycle, written out by hand -------------------------------------------------------

#: Every allowed step (from, to, actor), as the issue describes the life cycle. The tests
#: below are generated from this list, never from TRANSITIONS, which it must equal.
ALLOWED: list[tuple[ParcelStatus, ParcelStatus, Actor]] = [
    (ST.CREATED, ST.SCHEDULED, P),
    (ST.CREATED, ST.CANCELLED, P),
    (ST.SCHEDULED, ST.SCHEDULED, P),  # scheduled again, for another session
    (ST.SCHEDULED, ST.READY, P),
    (ST.SCHEDULED, ST.CANCELLED, P),
    (ST.READY, ST.APPROVED, S),
    (ST.READY, ST.REFUSED, S),
    (ST.READY, ST.CANCELLED, P),
    (ST.REFUSED, ST.SCHEDULED, P),  # back to its owners, to be amended
    (ST.REFUSED, ST.CANCELLED, P),
    (ST.APPROVED, ST.SENT, P),
    (ST.APPROVED, ST.CANCELLED, P),
    (ST.SENT, ST.STORES, T),
    (ST.SENT, ST.LOST, T),
    (ST.STORES, ST.BEAMLINE, T),
    (ST.STORES, ST.BEAMLINE, L),
    (ST.STORES, ST.BACK_STORES, T),
    (ST.STORES, ST.LOST, T),
    (ST.BEAMLINE, ST.BACK_STORES, T),
    (ST.BEAMLINE, ST.BACK_STORES, L),
    (ST.BACK_STORES, ST.BACK_USER, T),
    (ST.BACK_STORES, ST.DESTROYED, T),
    (ST.BACK_STORES, ST.BEAMLINE, T),
    (ST.BACK_STORES, ST.BEAMLINE, L),
    (ST.BACK_STORES, ST.LOST, T),
    (ST.LOST, ST.STORES, T),
]
TERMINAL = (ST.BACK_USER, ST.DESTROYED, ST.CANCELLED)
NOT_EDITABLE = [s for s in ST if s not in (ST.CREATED, ST.SCHEDULED)]


def _steps() -> dict[ParcelStatus, dict[ParcelStatus, frozenset[Actor]]]:
    steps: dict[ParcelStatus, dict[ParcelStatus, frozenset[Actor]]] = {s: {} for s in ST}
    for start, to, actor in ALLOWED:
        steps[start][to] = steps[start].get(to, frozenset()) | {actor}
    return steps


STEPS = _steps()

#: What the refusal of any other step says, status by status.
STEPS_TEXT = {
    ST.CREATED: "a CREATED parcel can move to SCHEDULED (by participant), "
    "CANCELLED (by participant)",
    ST.SCHEDULED: "a SCHEDULED parcel can move to SCHEDULED (by participant), "
    "READY (by participant), CANCELLED (by participant)",
    ST.READY: "a READY parcel can move to APPROVED (by safety), REFUSED (by safety), "
    "CANCELLED (by participant)",
    ST.REFUSED: "a REFUSED parcel can move to SCHEDULED (by participant), "
    "CANCELLED (by participant)",
    ST.APPROVED: "a APPROVED parcel can move to SENT (by participant), CANCELLED (by participant)",
    ST.SENT: "a SENT parcel can move to STORES (by stores), LOST (by stores)",
    ST.STORES: "a STORES parcel can move to BEAMLINE (by local_contact or stores), "
    "BACK_STORES (by stores), LOST (by stores)",
    ST.BEAMLINE: "a BEAMLINE parcel can move to BACK_STORES (by local_contact or stores)",
    ST.BACK_STORES: "a BACK_STORES parcel can move to BACK_USER (by stores), "
    "DESTROYED (by stores), BEAMLINE (by local_contact or stores), LOST (by stores)",
    ST.LOST: "a LOST parcel can move to STORES (by stores)",
    ST.BACK_USER: "a BACK_USER parcel goes nowhere else",
    ST.DESTROYED: "a DESTROYED parcel goes nowhere else",
    ST.CANCELLED: "a CANCELLED parcel goes nowhere else",
}

_TO_BACK_STORES = (
    ST.SCHEDULED, ST.READY, ST.APPROVED, ST.SENT, ST.STORES, ST.BEAMLINE, ST.BACK_STORES,
)  # fmt: skip
#: How a parcel gets to each status from CREATED.
PATHS: dict[ParcelStatus, tuple[ParcelStatus, ...]] = {
    ST.CREATED: (),
    ST.SCHEDULED: (ST.SCHEDULED,),
    ST.READY: (ST.SCHEDULED, ST.READY),
    ST.REFUSED: (ST.SCHEDULED, ST.READY, ST.REFUSED),
    ST.APPROVED: (ST.SCHEDULED, ST.READY, ST.APPROVED),
    ST.SENT: (ST.SCHEDULED, ST.READY, ST.APPROVED, ST.SENT),
    ST.STORES: (ST.SCHEDULED, ST.READY, ST.APPROVED, ST.SENT, ST.STORES),
    ST.BEAMLINE: _TO_BACK_STORES[:-1],
    ST.BACK_STORES: _TO_BACK_STORES,
    ST.BACK_USER: (*_TO_BACK_STORES, ST.BACK_USER),
    ST.DESTROYED: (*_TO_BACK_STORES, ST.DESTROYED),
    ST.CANCELLED: (ST.CANCELLED,),
    ST.LOST: (ST.SCHEDULED, ST.READY, ST.APPROVED, ST.SENT, ST.LOST),
}


def test_the_table_written_here_is_the_table_in_the_code() -> None:
    assert {start: dict(steps) for start, steps in TRANSITIONS.items()} == STEPS


def test_terminal_and_editable_statuses() -> None:
    assert [s for s in ST if not TRANSITIONS[s]] == list(TERMINAL)
    assert frozenset(EDITABLE) == {ST.CREATED, ST.SCHEDULED}


@pytest.mark.parametrize("status", list(ST))
def test_allowed_steps_names_each_step_and_its_actors(status: ParcelStatus) -> None:
    assert allowed_steps(status) == STEPS_TEXT[status]


# -- parcels in each status ----------------------------------------------------------------


def item_id(name: str) -> uuid.UUID:
    return item_id_for(PARCEL, name)


DEWAR = ItemSpec(name="dewar-1", kind=ItemKind.CONTAINER, container_type=ContainerType.DEWAR,
                 dangerous_goods=("9",), storage=(Storage.DRY_ICE,))  # fmt: skip
PUCK = ItemSpec(name="puck-1", kind=ItemKind.CONTAINER, container_type=ContainerType.PUCK,
                parent_id=item_id("dewar-1"))  # fmt: skip
CRYSTAL = ItemSpec(name="crystal-1", kind=ItemKind.SAMPLE, sample_id=SAMPLE_ID,
                   parent_id=item_id("puck-1"), dangerous_goods=("2.2", "6.1"),
                   storage=(Storage.LIQUID_NITROGEN,))  # fmt: skip
TOOL = ItemSpec(name="tongs", kind=ItemKind.TOOL)
#: A dewar holding a puck holding a crystal; dry ice (9), a gas (2.2) and a toxic crystal (6.1).
CONTENT = [ItemAdded(item_id=item_id(i.name), item=i) for i in (DEWAR, PUCK, CRYSTAL)]
HAZARDS = ("2.2", "6.1", "9")
#: Nothing dangerous.
SAFE_CONTENT = [ItemAdded(item_id=item_id("tongs"), item=TOOL)]


def created(**changes: Any) -> ParcelCreated:
    fields: dict[str, Any] = {
        "parcel_id": PARCEL,
        "shipment_id": SHIPMENT,
        "investigation_id": INVESTIGATION,
        "proposal": PROPOSAL,
        "name": "parcel-1",
        "after_experiment": AfterExperiment.RETURN,
        "comment": "",
        "occurred_at": T0,
    }
    return ParcelCreated(**{**fields, **changes})


def hour(number: int) -> datetime:
    return T0 + timedelta(hours=number)


def walk(
    path: Sequence[ParcelStatus],
    content: Sequence[Event] = tuple(CONTENT),
    after: AfterExperiment = AfterExperiment.RETURN,
) -> list[Event]:
    """A parcel created at T0 with `content`, taken along `path` one step an hour, each step
    by an actor the hand-written table allows (a path it does not allow raises KeyError)."""
    hazards = tuple(sorted({c for e in content if isinstance(e, ItemAdded)
                            for c in e.item.dangerous_goods}))  # fmt: skip
    events: list[Event] = [created(after_experiment=after), *content]
    previous = ST.CREATED
    for number, status in enumerate(path, start=1):
        details: dict[str, Any] = {}
        if status is ST.SCHEDULED:
            details = {"session_id": SESSION_ID, "instrument": BEAMLINE,
                       "session_start": SESSION_START}  # fmt: skip
        elif status is ST.READY:
            details = {"dangerous_goods": hazards}
        elif status is ST.SENT:
            details = {"tracking_number": TRACKING}
        elif status is ST.BACK_USER:
            details = {"tracking_number": RETURN_TRACKING}
        elif status in (ST.REFUSED, ST.DESTROYED):
            details = {"comment": COMMENT}
        events.append(
            ParcelStatusChanged(
                status=status,
                previous=previous,
                role=min(STEPS[previous][status]),
                occurred_at=hour(number),
                **details,
            )
        )
        previous = status
    return events


def at(status: ParcelStatus, **changes: Any) -> list[Event]:
    """The events that leave a parcel in `status`."""
    return walk(PATHS[status], **changes)


def given(events: Iterable[Event]) -> Parcel:
    return reduce(evolve_parcel, events, Parcel())


def _command_for(event: ParcelStatusChanged) -> MoveParcel:
    return MoveParcel(
        to=event.status,
        roles=frozenset({event.role}),
        now=event.occurred_at,
        comment=event.comment,
        session=SESSION if event.status is ST.SCHEDULED else None,
        tracking_number=event.tracking_number,
    )


@pytest.mark.parametrize("status", list(ST))
def test_each_path_is_what_the_decider_decides_and_ends_in_its_status(
    status: ParcelStatus,
) -> None:
    events = at(status)
    state = given(events[:4])
    for event in events[4:]:
        assert isinstance(event, ParcelStatusChanged)
        assert decide_parcel(state, _command_for(event)) == [event]
        state = evolve_parcel(state, event)
    assert state == given(events)
    assert state.status is status
    assert state.status_at == hour(len(PATHS[status]))
    assert state.items == {item_id(i.name): i for i in (DEWAR, PUCK, CRYSTAL)}
    assert state.session_id == (SESSION_ID if PATHS[status][:1] == (ST.SCHEDULED,) else None)


# -- every allowed step --------------------------------------------------------------------


def move(to: ParcelStatus, *roles: Actor, **changes: Any) -> MoveParcel:
    """A step with what it needs: a session to schedule, a tracking number to send or return."""
    base = MoveParcel(
        to=to,
        roles=frozenset(roles),
        now=NOW,
        location=LOCATION,
        comment=COMMENT,
        session=SESSION if to is ST.SCHEDULED else None,
        tracking_number={ST.SENT: TRACKING, ST.BACK_USER: RETURN_TRACKING}.get(to),
    )
    return replace(base, **changes)


def moved(to: ParcelStatus, previous: ParcelStatus, role: Actor, **changes: Any) -> Event:
    fields: dict[str, Any] = {
        "status": to,
        "previous": previous,
        "role": role,
        "occurred_at": NOW,
        "location": LOCATION,
        "comment": COMMENT,
    }
    return ParcelStatusChanged(**{**fields, **changes})


#: What each step records beside status, actor, time, place and comment.
DETAILS: dict[ParcelStatus, dict[str, Any]] = {
    ST.SCHEDULED: {"session_id": SESSION_ID, "instrument": BEAMLINE,
                   "session_start": SESSION_START},
    ST.READY: {"dangerous_goods": HAZARDS},
    ST.SENT: {"tracking_number": TRACKING},
    ST.BACK_USER: {"tracking_number": RETURN_TRACKING},
}  # fmt: skip

ALLOWED_ROWS = [
    pytest.param(start, to, actor, id=f"{start}-to-{to}-by-{actor}") for start, to, actor in ALLOWED
]


@pytest.mark.parametrize(("start", "to", "actor"), ALLOWED_ROWS)
def test_allowed_step(start: ParcelStatus, to: ParcelStatus, actor: Actor) -> None:
    state = given(at(start))
    assert state.status is start
    events = decide_parcel(state, move(to, actor))
    assert events == [moved(to, start, actor, **DETAILS.get(to, {}))]
    after = reduce(evolve_parcel, events, state)
    assert after.status is to
    assert after.status_at == NOW


ROLE_CASES = [
    pytest.param(ST.STORES, ST.BEAMLINE, ALL_ROLES, T, id="all-roles-hand-over-as-stores"),
    pytest.param(ST.STORES, ST.BEAMLINE, {P, L}, L, id="participant-and-local-contact"),
    pytest.param(ST.BEAMLINE, ST.BACK_STORES, {L, S}, L, id="local-contact-and-safety"),
    pytest.param(ST.READY, ST.APPROVED, ALL_ROLES, S, id="all-roles-approve-as-safety"),
    pytest.param(ST.READY, ST.CANCELLED, ALL_ROLES, P, id="all-roles-cancel-as-participant"),
    pytest.param(ST.APPROVED, ST.SENT, {P, L}, P, id="local-contact-of-team-sends"),
]


@pytest.mark.parametrize(("start", "to", "roles", "role"), ROLE_CASES)
def test_the_part_played_is_recorded(
    start: ParcelStatus, to: ParcelStatus, roles: frozenset[Actor], role: Actor
) -> None:
    [event] = decide_parcel(given(at(start)), move(to, *roles))
    assert isinstance(event, ParcelStatusChanged)
    assert event.role is role


# -- every other step is refused -------------------------------------------------------------

FORBIDDEN_ROWS = [
    pytest.param(start, to, id=f"{start}-to-{to}")
    for start in ST
    for to in ST
    if to not in STEPS[start]
]


@pytest.mark.parametrize(("start", "to"), FORBIDDEN_ROWS)
def test_step_not_in_the_life_cycle_is_refused_naming_the_allowed_ones(
    start: ParcelStatus, to: ParcelStatus
) -> None:
    # Whoever asks: the caller plays every part.
    _then(decide_parcel, given(at(start)), move(to, *ALL_ROLES),
          Rejected(DomainError, "status", f"{STEPS_TEXT[start]}; not {to}"))  # fmt: skip


@pytest.mark.parametrize("start", TERMINAL)
def test_terminal_status_refuses_everything(start: ParcelStatus) -> None:
    state = given(at(start))
    for to in ST:
        with pytest.raises(DomainError) as raised:
            decide_parcel(state, move(to, *ALL_ROLES))
        assert type(raised.value) is DomainError
        assert raised.value.detail == f"a {start} parcel goes nowhere else; not {to}"


WRONG_ACTOR_ROWS = [
    pytest.param(start, to, actor, " or ".join(sorted(actors)),
                 id=f"{start}-to-{to}-not-by-{actor}")
    for start, steps in STEPS.items()
    for to, actors in steps.items()
    for actor in (P, S, T, L, SYSTEM)
    if actor not in actors
]  # fmt: skip


@pytest.mark.parametrize(("start", "to", "actor", "who"), WRONG_ACTOR_ROWS)
def test_right_step_by_the_wrong_actor_is_forbidden(
    start: ParcelStatus, to: ParcelStatus, actor: Actor, who: str
) -> None:
    detail = f"moving a {start} parcel to {to} is for the {who}"
    _then(decide_parcel, given(at(start)), move(to, actor), Rejected(Forbidden, None, detail))


NO_PART_ROWS = [
    pytest.param(start, to, id=f"{start}-to-{to}") for start, steps in STEPS.items() for to in steps
]


@pytest.mark.parametrize(("start", "to"), NO_PART_ROWS)
def test_a_caller_playing_no_part_is_forbidden(start: ParcelStatus, to: ParcelStatus) -> None:
    _then(decide_parcel, given(at(start)), move(to),
          Rejected(Forbidden, None, f"moving a {start} parcel to {to} is for the"))  # fmt: skip


#: The same rules, case by case, as the issue names them.
NAMED_CASES = [
    pytest.param(ST.READY, move(ST.APPROVED, P), Rejected(Forbidden, None,
                 "READY parcel to APPROVED is for the safety"), id="participant-cannot-approve"),
    pytest.param(ST.READY, move(ST.REFUSED, P, L, T), Rejected(Forbidden, None,
                 "to REFUSED is for the safety"), id="only-safety-refuses"),
    pytest.param(ST.APPROVED, move(ST.SENT, S), Rejected(Forbidden, None,
                 "APPROVED parcel to SENT is for the participant"), id="safety-cannot-send"),
    pytest.param(ST.APPROVED, move(ST.SENT, T), Rejected(Forbidden, None,
                 "to SENT is for the participant"), id="stores-cannot-send"),
    pytest.param(ST.BACK_STORES, move(ST.DESTROYED, L), Rejected(Forbidden, None,
                 "to DESTROYED is for the stores"), id="local-contact-cannot-destroy"),
    pytest.param(ST.BACK_STORES, move(ST.BACK_USER, L, P), Rejected(Forbidden, None,
                 "to BACK_USER is for the stores"), id="only-stores-return"),
    pytest.param(ST.SENT, move(ST.STORES, P, L), Rejected(Forbidden, None,
                 "to STORES is for the stores"), id="only-stores-receive"),
    pytest.param(ST.STORES, move(ST.LOST, L, P, S), Rejected(Forbidden, None,
                 "to LOST is for the stores"), id="only-stores-mark-lost"),
    pytest.param(ST.STORES, move(ST.BEAMLINE, P, S), Rejected(Forbidden, None,
                 "to BEAMLINE is for the local_contact or stores"),
                 id="participant-cannot-take-to-beamline"),
    pytest.param(ST.SCHEDULED, move(ST.CANCELLED, T, S, L), Rejected(Forbidden, None,
                 "to CANCELLED is for the participant"), id="only-participants-cancel"),
    pytest.param(ST.SCHEDULED, move(ST.READY, L), Rejected(Forbidden, None,
                 "to READY is for the participant"), id="only-participants-declare-ready"),
    pytest.param(ST.READY, move(ST.APPROVED, SYSTEM), Rejected(Forbidden, None,
                 "to APPROVED is for the safety"), id="system-role-cannot-be-claimed"),
    pytest.param(ST.SENT, move(ST.CANCELLED, *ALL_ROLES), Rejected(DomainError, "status",
                 "a SENT parcel can move to STORES"), id="sent-cannot-be-cancelled"),
    pytest.param(ST.STORES, move(ST.CANCELLED, P), Rejected(DomainError, "status",
                 "; not CANCELLED"), id="received-cannot-be-cancelled"),
    pytest.param(ST.CREATED, move(ST.READY, P), Rejected(DomainError, "status",
                 "a CREATED parcel can move to SCHEDULED"), id="ready-needs-scheduling"),
    pytest.param(ST.READY, move(ST.SENT, P), Rejected(DomainError, "status",
                 "; not SENT"), id="send-needs-approval"),
    pytest.param(ST.REFUSED, move(ST.READY, P), Rejected(DomainError, "status",
                 "a REFUSED parcel can move to SCHEDULED"), id="refused-is-scheduled-again"),
    pytest.param(ST.REFUSED, move(ST.SENT, P), Rejected(DomainError, "status",
                 "; not SENT"), id="refused-cannot-be-sent"),
    pytest.param(ST.BEAMLINE, move(ST.LOST, T), Rejected(DomainError, "status",
                 "; not LOST"), id="lost-at-the-beamline-is-not-a-step"),
    pytest.param(ST.BEAMLINE, move(ST.BACK_USER, T), Rejected(DomainError, "status",
                 "BACK_STORES (by local_contact or stores); not BACK_USER"),
                 id="return-goes-through-the-stores"),
    pytest.param(ST.LOST, move(ST.BEAMLINE, T), Rejected(DomainError, "status",
                 "a LOST parcel can move to STORES"), id="found-goes-to-the-stores"),
    pytest.param(ST.APPROVED, move(ST.CREATED, P), Rejected(DomainError, "status",
                 "; not CREATED"), id="nothing-goes-back-to-created"),
    pytest.param(ST.CANCELLED, move(ST.SCHEDULED, P), Rejected(DomainError, "status",
                 "a CANCELLED parcel goes nowhere else"), id="cancelled-is-final"),
    pytest.param(ST.DESTROYED, move(ST.BACK_USER, T), Rejected(DomainError, "status",
                 "a DESTROYED parcel goes nowhere else"), id="destroyed-is-final"),
    pytest.param(ST.BACK_USER, move(ST.BACK_STORES, T), Rejected(DomainError, "status",
                 "a BACK_USER parcel goes nowhere else"), id="returned-is-final"),
    # The actor is checked before the step's details.
    pytest.param(ST.APPROVED, move(ST.SENT, S, tracking_number=None), Rejected(Forbidden,
                 None, "is for the participant"), id="actor-checked-before-details"),
]  # fmt: skip


@pytest.mark.parametrize(("start", "command", "then"), NAMED_CASES)
def test_named_refusal(start: ParcelStatus, command: MoveParcel, then: Rejected) -> None:
    _then(decide_parcel, given(at(start)), command, then)


# -- automatic approval --------------------------------------------------------------------

AUTO_APPROVED = ParcelStatusChanged(
    status=ST.APPROVED,
    previous=ST.READY,
    role=SYSTEM,
    occurred_at=NOW,
    comment="approved automatically: no dangerous goods declared",
)


def test_ready_without_dangerous_goods_is_approved_at_once_by_the_system() -> None:
    state = given(at(ST.SCHEDULED, content=SAFE_CONTENT))
    events = decide_parcel(state, move(ST.READY, P))
    assert events == [moved(ST.READY, ST.SCHEDULED, P, dangerous_goods=()), AUTO_APPROVED]
    after = reduce(evolve_parcel, events, state)
    assert after.status is ST.APPROVED
    assert after.status_at == NOW


def test_ready_with_dangerous_goods_waits_for_the_safety_group() -> None:
    state = given(at(ST.SCHEDULED))
    events = decide_parcel(state, move(ST.READY, P))
    assert events == [moved(ST.READY, ST.SCHEDULED, P, dangerous_goods=HAZARDS)]
    assert reduce(evolve_parcel, events, state).status is ST.READY


def test_ready_carries_the_sorted_union_of_every_items_hazard_classes() -> None:
    content = [
        *CONTENT,
        ItemAdded(item_id=item_id("vial"), item=ItemSpec(name="vial", kind=ItemKind.OTHER,
                                                         dangerous_goods=("8", "2.2"))),
    ]  # fmt: skip
    [event] = decide_parcel(given(at(ST.SCHEDULED, content=content)), move(ST.READY, P))
    assert isinstance(event, ParcelStatusChanged)
    assert event.dangerous_goods == ("2.2", "6.1", "8", "9")


def test_ready_again_after_a_refusal_and_amendment() -> None:
    events = [*at(ST.REFUSED), *decide_parcel(given(at(ST.REFUSED)), move(ST.SCHEDULED, P))]
    events.append(ItemRemoved(item_id=item_id("crystal-1")))
    assert decide_parcel(given(events), move(ST.READY, P)) == [
        moved(ST.READY, ST.SCHEDULED, P, dangerous_goods=("9",))
    ]


# -- what each step needs ------------------------------------------------------------------

ENDED = replace(SESSION, start=T0 - timedelta(days=3), end=T0)
SCHEDULED_EVENT = {"session_id": SESSION_ID, "instrument": BEAMLINE}

DETAIL_CASES = [
    pytest.param(at(ST.CREATED), move(ST.SCHEDULED, P, session=None), Rejected(InvalidCommand,
                 "session_id", "names the session the parcel is for"), id="schedule-no-session"),
    pytest.param(at(ST.CREATED), move(ST.SCHEDULED, P, session=replace(SESSION,
                 proposal="MX-9999")), Rejected(InvalidCommand, "session_id",
                 "is not a session of proposal MX-2345"), id="schedule-other-proposal"),
    pytest.param(at(ST.CREATED), move(ST.SCHEDULED, P, session=ENDED), Rejected(InvalidCommand,
                 "session_id", f"session {SESSION_ID} ended on 2026-11-24"),
                 id="schedule-ended-session"),
    pytest.param(at(ST.CREATED), move(ST.SCHEDULED, P, session=replace(ENDED, end=NOW)),
                 [moved(ST.SCHEDULED, ST.CREATED, P, session_start=ENDED.start,
                        **SCHEDULED_EVENT)], id="schedule-session-ending-now"),
    pytest.param(at(ST.CREATED), move(ST.SCHEDULED, P, session=replace(SESSION, end=None,
                 instrument="BM29")), [moved(ST.SCHEDULED, ST.CREATED, P, session_id=SESSION_ID,
                 instrument="BM29", session_start=SESSION_START)],
                 id="schedule-open-ended-session-elsewhere"),
    pytest.param(at(ST.REFUSED), move(ST.SCHEDULED, P, session=ENDED), Rejected(InvalidCommand,
                 "session_id", "ended on"), id="reschedule-ended-session"),
    pytest.param(at(ST.SCHEDULED), move(ST.READY, P, session=SESSION), Rejected(InvalidCommand,
                 "session_id", "only scheduling names a session"), id="session-for-ready"),
    pytest.param(at(ST.CREATED), move(ST.CANCELLED, P, session=SESSION),
                 Rejected(InvalidCommand, "session_id", "only scheduling names a session"),
                 id="session-for-cancel"),
    pytest.param(at(ST.SENT), move(ST.STORES, T, session=SESSION), Rejected(InvalidCommand,
                 "session_id", "only scheduling"), id="session-for-receive"),
    pytest.param(at(ST.APPROVED), move(ST.SENT, P, tracking_number=None),
                 Rejected(InvalidCommand, "tracking_number", "needs the courier's tracking"),
                 id="send-without-tracking-number"),
    pytest.param(at(ST.BACK_STORES), move(ST.BACK_USER, T, tracking_number=None),
                 Rejected(InvalidCommand, "tracking_number", "needs the courier's tracking"),
                 id="return-without-tracking-number"),
    pytest.param(at(ST.SENT), move(ST.STORES, T, tracking_number=TRACKING),
                 Rejected(InvalidCommand, "tracking_number",
                          "belongs to sending (SENT) or returning (BACK_USER)"),
                 id="tracking-number-for-receive"),
    pytest.param(at(ST.APPROVED), move(ST.CANCELLED, P, tracking_number=TRACKING),
                 Rejected(InvalidCommand, "tracking_number", "belongs to sending"),
                 id="tracking-number-for-cancel"),
    pytest.param(at(ST.BACK_STORES), move(ST.DESTROYED, T, tracking_number=TRACKING),
                 Rejected(InvalidCommand, "tracking_number", "belongs to sending"),
                 id="tracking-number-for-destroy"),
    pytest.param(at(ST.READY), move(ST.REFUSED, S, comment=""), Rejected(InvalidCommand,
                 "comment", "a refusal says why in its comment"), id="refuse-without-reason"),
    pytest.param(at(ST.READY), move(ST.REFUSED, S, comment=" \n\t"), Rejected(InvalidCommand,
                 "comment", "says why"), id="refuse-with-blank-reason"),
    pytest.param(at(ST.READY), move(ST.APPROVED, S, comment=""),
                 [moved(ST.APPROVED, ST.READY, S, comment="")], id="approve-without-comment"),
    pytest.param(at(ST.BACK_STORES, after=AfterExperiment.DESTROY), move(ST.BACK_USER, T),
                 Rejected(DomainError, None, "asked for this parcel to be destroyed, not returned"),
                 id="return-a-parcel-to-destroy"),
    pytest.param(at(ST.BACK_STORES, after=AfterExperiment.DESTROY), move(ST.DESTROYED, T),
                 [moved(ST.DESTROYED, ST.BACK_STORES, T)], id="destroy-a-parcel-to-destroy"),
    pytest.param(at(ST.BACK_STORES), move(ST.DESTROYED, T, comment=" "), Rejected(InvalidCommand,
                 "comment", "asked for this parcel back: destroying it says why"),
                 id="destroy-a-parcel-to-return-without-reason"),
    pytest.param(at(ST.BACK_STORES), move(ST.DESTROYED, T, comment="leaking: unsafe to ship"),
                 [moved(ST.DESTROYED, ST.BACK_STORES, T, comment="leaking: unsafe to ship")],
                 id="destroy-a-parcel-to-return-with-reason"),
    pytest.param(walk((ST.SCHEDULED,), content=()), move(ST.READY, P), Rejected(DomainError,
                 "items", "an empty parcel cannot be declared ready"), id="ready-when-empty"),
    pytest.param([*at(ST.SCHEDULED, content=SAFE_CONTENT),
                  ItemRemoved(item_id=item_id("tongs"))], move(ST.READY, P),
                 Rejected(DomainError, "items", "empty parcel"), id="ready-when-emptied"),
    pytest.param(at(ST.SCHEDULED), move(ST.READY, P, now=datetime(2026, 11, 25, 8, 0)),
                 Rejected(InvalidCommand, "time", "needs a timezone"), id="naive-time"),
    pytest.param(at(ST.SCHEDULED), move(ST.READY, P, now=datetime(2200, 1, 1, tzinfo=UTC)),
                 Rejected(InvalidCommand, "time", "not between 1900 and 2199"),
                 id="time-out-of-range"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, now=hour(4)), Rejected(InvalidCommand,
                 "time", f"is before the parcel's last step ({hour(5).isoformat()})"),
                 id="time-before-last-step"),
    pytest.param(at(ST.CREATED), move(ST.CANCELLED, P, now=T0 - timedelta(seconds=1)),
                 Rejected(InvalidCommand, "time", "before the parcel's last step"),
                 id="time-before-creation"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, now=hour(5)),
                 [moved(ST.BEAMLINE, ST.STORES, L, occurred_at=hour(5))],
                 id="time-same-as-last-step"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, now=datetime(2026, 11, 25, 9, 0,
                 tzinfo=timezone(timedelta(hours=1)))),
                 [moved(ST.BEAMLINE, ST.STORES, L)], id="time-with-offset"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, location=None),
                 [moved(ST.BEAMLINE, ST.STORES, L, location=None)], id="no-location"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, location="x" * 200),
                 [moved(ST.BEAMLINE, ST.STORES, L, location="x" * 200)], id="location-200"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, location=""), Rejected(InvalidCommand,
                 "location", "must not be empty"), id="location-empty"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, location="  "), Rejected(InvalidCommand,
                 "location", "must not be empty"), id="location-blank"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, location="shelf B4\nrow 2"),
                 Rejected(InvalidCommand, "location", "single line"), id="location-two-lines"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, location="x" * 201),
                 Rejected(InvalidCommand, "location", "at most 200"), id="location-201"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, location="shelf\x00"),
                 Rejected(InvalidCommand, "location", "control character"),
                 id="location-control-char"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, comment="x\x07"), Rejected(InvalidCommand,
                 "comment", "control character"), id="comment-control-char"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, comment="x" * 4001),
                 Rejected(InvalidCommand, "comment", "at most 4000"), id="comment-too-long"),
    pytest.param(at(ST.STORES), move(ST.BEAMLINE, L, comment=""),
                 [moved(ST.BEAMLINE, ST.STORES, L, comment="")], id="comment-optional"),
    pytest.param([], move(ST.SCHEDULED, P), Rejected(NotFound, None, "no such parcel"),
                 id="move-missing-parcel"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), DETAIL_CASES)
def test_step_details(events: list[Event], command: MoveParcel, then: Any) -> None:
    _then(decide_parcel, given(events), command, then)


TRACKING_ACCEPTED = [
    pytest.param("ABC", id="3-chars"),
    pytest.param("1Z999AA10123456784", id="ups"),
    pytest.param("JD 0146 0000 6281", id="inner-spaces"),
    pytest.param("a.b_c/d-e", id="punctuation"),
    pytest.param("A" * 64, id="64-chars"),
]


@pytest.mark.parametrize("number", TRACKING_ACCEPTED)
def test_tracking_number_accepted(number: str) -> None:
    _then(decide_parcel, given(at(ST.APPROVED)), move(ST.SENT, P, tracking_number=number),
          [moved(ST.SENT, ST.APPROVED, P, tracking_number=number)])  # fmt: skip


TRACKING_REFUSED = [
    pytest.param("", id="empty"),
    pytest.param("AB", id="2-chars"),
    pytest.param("A" * 65, id="65-chars"),
    pytest.param(" ABC", id="leading-space"),
    pytest.param("ABC ", id="trailing-space"),
    pytest.param("ABC-", id="trailing-dash"),
    pytest.param("-ABC", id="leading-dash"),
    pytest.param("ABC#1", id="hash"),
    pytest.param("ABC\n", id="trailing-newline"),
    pytest.param("ABC\tD", id="tab"),
    pytest.param("ÀBC1", id="non-ascii"),
]


@pytest.mark.parametrize("number", TRACKING_REFUSED)
def test_tracking_number_refused(number: str) -> None:
    for start, to, actor in ((ST.APPROVED, ST.SENT, P), (ST.BACK_STORES, ST.BACK_USER, T)):
        _then(decide_parcel, given(at(start)), move(to, actor, tracking_number=number),
              Rejected(InvalidCommand, "tracking_number", "must be 3-64 letters"))  # fmt: skip


# -- items ---------------------------------------------------------------------------------


def added(item: ItemSpec) -> ItemAdded:
    return ItemAdded(item_id=item_id(item.name), item=item)


def item(base: ItemSpec, **changes: Any) -> ItemSpec:
    return base.model_copy(update=changes)


def nested(depth: int) -> list[Event]:
    """A parcel with containers c1 to c<depth>, each inside the one before."""
    events: list[Event] = [created()]
    for number in range(1, depth + 1):
        parent = item_id(f"c{number - 1}") if number > 1 else None
        box = ItemSpec(name=f"c{number}", kind=ItemKind.CONTAINER,
                       container_type=ContainerType.BOX, parent_id=parent)  # fmt: skip
        events.append(added(box))
    return events


OUTER = ItemSpec(name="outer", kind=ItemKind.CONTAINER, container_type=ContainerType.DEWAR)
INNER = ItemSpec(name="inner", kind=ItemKind.CONTAINER, container_type=ContainerType.BOX,
                 parent_id=item_id("outer"))  # fmt: skip
C1_IN_OUTER = ItemSpec(name="c1", kind=ItemKind.CONTAINER, container_type=ContainerType.BOX,
                       parent_id=item_id("outer"))  # fmt: skip

EMPTY = [created()]
FILLED = at(ST.CREATED)
IN_PUCK = item_id("puck-1")
SPARE = ItemSpec(name="spare", kind=ItemKind.SAMPLE, sample_id=SAMPLE_ID, parent_id=IN_PUCK)
SAMPLE_OF = {"sample_investigation_id": INVESTIGATION}

ITEM_CASES = [
    pytest.param(EMPTY, AddItem(DEWAR), [added(DEWAR)], id="add-container"),
    pytest.param(EMPTY, AddItem(TOOL), [added(TOOL)], id="add-tool"),
    pytest.param(at(ST.SCHEDULED, content=()), AddItem(TOOL), [added(TOOL)],
                 id="add-when-scheduled"),
    pytest.param(FILLED, AddItem(SPARE, **SAMPLE_OF), [added(SPARE)],
                 id="add-sample-of-this-investigation-in-a-puck"),
    pytest.param(EMPTY, AddItem(item(DEWAR, container_type=None)), Rejected(InvalidCommand,
                 "container_type", "a container needs a container_type"),
                 id="container-without-type"),
    pytest.param(EMPTY, AddItem(item(TOOL, container_type=ContainerType.BOX)),
                 Rejected(InvalidCommand, "container_type", "a tool item has no container_type"),
                 id="tool-with-container-type"),
    pytest.param(EMPTY, AddItem(item(SPARE, parent_id=None, sample_id=None), **SAMPLE_OF),
                 Rejected(InvalidCommand, "sample_id", "a sample item names its sample"),
                 id="sample-without-sample-id"),
    pytest.param(FILLED, AddItem(SPARE, sample_investigation_id=uuid.uuid4()),
                 Rejected(InvalidCommand, "sample_id",
                          f"sample {SAMPLE_ID} is not a sample of this investigation"),
                 id="sample-of-another-investigation"),
    pytest.param(FILLED, AddItem(SPARE), Rejected(InvalidCommand, "sample_id",
                 "is not a sample of this investigation"), id="sample-that-does-not-exist"),
    pytest.param(EMPTY, AddItem(item(TOOL, sample_id=SAMPLE_ID), **SAMPLE_OF),
                 Rejected(InvalidCommand, "sample_id", "a tool item has no sample_id"),
                 id="tool-with-sample-id"),
    pytest.param(EMPTY, AddItem(item(TOOL, parent_id=IN_PUCK)), Rejected(InvalidCommand,
                 "parent_id", f"parent_id {IN_PUCK} is not an item of this parcel"),
                 id="parent-not-in-parcel"),
    pytest.param([*FILLED, added(TOOL)], AddItem(item(SPARE, parent_id=item_id("tongs")),
                 **SAMPLE_OF), Rejected(InvalidCommand, "parent_id",
                 "parent 'tongs' is not a container"), id="parent-not-a-container"),
    pytest.param(FILLED, AddItem(item(SPARE, parent_id=item_id("crystal-1")), **SAMPLE_OF),
                 Rejected(InvalidCommand, "parent_id", "parent 'crystal-1' is not a container"),
                 id="parent-is-a-sample"),
    pytest.param(nested(MAX_DEPTH), AddItem(item(TOOL, parent_id=item_id(f"c{MAX_DEPTH}"))),
                 [added(item(TOOL, parent_id=item_id(f"c{MAX_DEPTH}")))], id="at-max-depth"),
    pytest.param(nested(MAX_DEPTH + 1),
                 AddItem(item(TOOL, parent_id=item_id(f"c{MAX_DEPTH + 1}"))),
                 Rejected(InvalidCommand, "parent_id", "containers nest at most 6 deep"),
                 id="beyond-max-depth"),
    pytest.param(EMPTY, AddItem(item(TOOL, dangerous_goods=("2.2", "2.4"))),
                 Rejected(InvalidCommand, "dangerous_goods.1", "'2.4' is not a UN hazard class"),
                 id="unknown-hazard-class"),
    pytest.param(EMPTY, AddItem(item(TOOL, dangerous_goods=("UN1845",))),
                 Rejected(InvalidCommand, "dangerous_goods.0", "is not a UN hazard class"),
                 id="un-number-is-not-a-class"),
    pytest.param(EMPTY, AddItem(item(TOOL, dangerous_goods=("9", "2.2", "9", "1.4"),
                                     storage=(Storage.DRY_ICE, Storage.AMBIENT, Storage.DRY_ICE,
                                              Storage.DARK))),
                 [added(item(TOOL, dangerous_goods=("1.4", "2.2", "9"),
                             storage=(Storage.AMBIENT, Storage.DARK, Storage.DRY_ICE)))],
                 id="hazards-and-storage-sorted-once"),
    pytest.param(FILLED, AddItem(item(TOOL, name="puck-1")), Rejected(AlreadyExists, "name",
                 "the parcel already holds an item 'puck-1'"), id="duplicate-name"),
    pytest.param(EMPTY, AddItem(item(TOOL, name="")), Rejected(InvalidCommand, "name",
                 "must not be empty"), id="empty-name"),
    pytest.param(EMPTY, AddItem(item(TOOL, name="a\nb")), Rejected(InvalidCommand, "name",
                 "single line"), id="two-line-name"),
    pytest.param(EMPTY, AddItem(item(TOOL, description="\x00")), Rejected(InvalidCommand,
                 "description", "control character"), id="description-control-char"),
    pytest.param(EMPTY, AddItem(item(TOOL, comment="c" * 4001)), Rejected(InvalidCommand,
                 "comment", "at most 4000"), id="comment-too-long"),
    # Changes.
    pytest.param(FILLED, ChangeItem(item_id("puck-1"), item(PUCK,
                 container_type=ContainerType.CASSETTE)),
                 [ItemChanged(item_id=item_id("puck-1"), item=item(PUCK,
                  container_type=ContainerType.CASSETTE))],
                 id="change-container-type-of-a-full-container"),
    pytest.param(FILLED, ChangeItem(item_id("crystal-1"), item(CRYSTAL, parent_id=None,
                 dangerous_goods=("6.1",)), **SAMPLE_OF),
                 [ItemChanged(item_id=item_id("crystal-1"), item=item(CRYSTAL, parent_id=None,
                  dangerous_goods=("6.1",)))], id="change-take-out-of-container"),
    pytest.param(FILLED, ChangeItem(item_id("crystal-1"), item(CRYSTAL,
                 dangerous_goods=("6.1", "2.2", "6.1"),
                 storage=(Storage.LIQUID_NITROGEN, Storage.LIQUID_NITROGEN)), **SAMPLE_OF), [],
                 id="change-nothing-but-order-and-repeats"),
    pytest.param(FILLED, ChangeItem(item_id("dewar-1"), DEWAR), [], id="change-same"),
    pytest.param([*nested(MAX_DEPTH), added(OUTER)], ChangeItem(item_id("c1"), C1_IN_OUTER),
                 [ItemChanged(item_id=item_id("c1"), item=C1_IN_OUTER)],
                 id="move-a-full-container-to-the-deepest-allowed"),
    pytest.param([*nested(MAX_DEPTH), added(OUTER), added(INNER)],
                 ChangeItem(item_id("c1"), item(C1_IN_OUTER, parent_id=item_id("inner"))),
                 Rejected(InvalidCommand, "parent_id", "'c1' holds items 5 levels down"),
                 id="move-a-full-container-too-deep"),
    pytest.param(FILLED, ChangeItem(item_id("puck-1"), item(PUCK, kind=ItemKind.OTHER,
                 container_type=None)), Rejected(DomainError, "kind",
                 "'puck-1' holds items: it must stay a container"),
                 id="full-container-stays-a-container"),
    pytest.param([*EMPTY, added(item(PUCK, parent_id=None))], ChangeItem(item_id("puck-1"),
                 item(PUCK, parent_id=None, kind=ItemKind.OTHER, container_type=None)),
                 [ItemChanged(item_id=item_id("puck-1"), item=item(PUCK, parent_id=None,
                  kind=ItemKind.OTHER, container_type=None))],
                 id="empty-container-may-become-other"),
    pytest.param(FILLED, ChangeItem(item_id("dewar-1"), item(DEWAR, parent_id=IN_PUCK)),
                 Rejected(InvalidCommand, "parent_id", "an item cannot be inside itself"),
                 id="cycle-container-into-its-child"),
    pytest.param(FILLED, ChangeItem(item_id("dewar-1"), item(DEWAR,
                 parent_id=item_id("dewar-1"))),
                 Rejected(InvalidCommand, "parent_id", "an item cannot be inside itself"),
                 id="cycle-container-into-itself"),
    pytest.param(FILLED, ChangeItem(item_id("crystal-1"), item(CRYSTAL, name="crystal-2"),
                 **SAMPLE_OF), Rejected(DomainError, "name", "an item's name cannot change"),
                 id="change-name"),
    pytest.param(FILLED, ChangeItem(item_id("crystal-1"), CRYSTAL), Rejected(InvalidCommand,
                 "sample_id", "is not a sample of this investigation"),
                 id="change-sample-unknown"),
    pytest.param(FILLED, ChangeItem(item_id("tongs"), TOOL), Rejected(NotFound, None,
                 "no such item in this parcel"), id="change-missing-item"),
    pytest.param(FILLED, ChangeItem(item_id("dewar-1"), item(DEWAR, dangerous_goods=("10",))),
                 Rejected(InvalidCommand, "dangerous_goods.0", "'10' is not a UN hazard class"),
                 id="change-unknown-hazard-class"),
    # Removals.
    pytest.param(FILLED, RemoveItem(item_id("crystal-1")),
                 [ItemRemoved(item_id=item_id("crystal-1"))], id="remove-sample"),
    pytest.param(FILLED, RemoveItem(item_id("puck-1")), Rejected(DomainError, "item_id",
                 "'puck-1' still holds crystal-1; take them out first"),
                 id="remove-full-container"),
    pytest.param(FILLED, RemoveItem(item_id("dewar-1")), Rejected(DomainError, "item_id",
                 "'dewar-1' still holds puck-1"), id="remove-container-holding-a-container"),
    pytest.param([*FILLED, ItemRemoved(item_id=item_id("crystal-1"))],
                 RemoveItem(item_id("puck-1")), [ItemRemoved(item_id=IN_PUCK)],
                 id="remove-emptied-container"),
    pytest.param(FILLED, RemoveItem(item_id("tongs")), Rejected(NotFound, None,
                 "no such item in this parcel"), id="remove-missing-item"),
    pytest.param([], AddItem(TOOL), Rejected(NotFound, None, "no such parcel"),
                 id="add-to-missing-parcel"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), ITEM_CASES)
def test_items(events: list[Event], command: Any, then: Any) -> None:
    _then(decide_parcel, given(events), command, then)


FROZEN_COMMANDS = [
    pytest.param(AddItem(TOOL), id="add"),
    pytest.param(ChangeItem(item_id("dewar-1"), item(DEWAR, description="big")), id="change"),
    pytest.param(RemoveItem(item_id("crystal-1")), id="remove"),
    pytest.param(ChangeParcel(comment="fragile"), id="change-parcel"),
]


@pytest.mark.parametrize("command", FROZEN_COMMANDS)
@pytest.mark.parametrize("status", NOT_EDITABLE)
def test_content_is_frozen_once_declared_ready(status: ParcelStatus, command: Any) -> None:
    _then(decide_parcel, given(at(status)), command, Rejected(DomainError, "status",
          f"the parcel is {status}: its content is frozen once declared ready"))  # fmt: skip


@pytest.mark.parametrize("command", FROZEN_COMMANDS)
@pytest.mark.parametrize("status", [ST.CREATED, ST.SCHEDULED])
def test_content_may_change_while_being_prepared(status: ParcelStatus, command: Any) -> None:
    [event] = decide_parcel(given(at(status)), command)
    assert type(event) in (ItemAdded, ItemChanged, ItemRemoved, ParcelChanged)


def test_a_parcel_holds_at_most_max_items() -> None:
    full = {item_id(f"t{n}"): item(TOOL, name=f"t{n}") for n in range(MAX_ITEMS)}
    state = replace(given(EMPTY), items=full)
    _then(decide_parcel, state, AddItem(TOOL),
          Rejected(DomainError, "items", f"a parcel holds at most {MAX_ITEMS} items"))  # fmt: skip
    almost = replace(state, items=dict(list(full.items())[:-1]))
    assert decide_parcel(almost, AddItem(TOOL)) == [added(TOOL)]


# -- the parcel itself ----------------------------------------------------------------------


def create_parcel(**changes: Any) -> CreateParcel:
    base = CreateParcel(shipment_id=SHIPMENT, investigation_id=INVESTIGATION, proposal=PROPOSAL,
                        name="parcel-1", now=T0)  # fmt: skip
    return replace(base, **changes)


PARCEL_CASES = [
    pytest.param([], create_parcel(), [created()], id="create"),
    pytest.param([], create_parcel(comment="keep upright"), [created(comment="keep upright")],
                 id="create-with-comment"),
    pytest.param([], create_parcel(after_experiment=AfterExperiment.DESTROY,
                                   has_return_address=False),
                 [created(after_experiment=AfterExperiment.DESTROY)],
                 id="create-to-destroy-without-return-address"),
    pytest.param([], create_parcel(has_return_address=False), Rejected(InvalidCommand,
                 "after_experiment", "the shipment has no return address"),
                 id="create-to-return-without-return-address"),
    pytest.param(EMPTY, create_parcel(), Rejected(AlreadyExists, "name",
                 "parcel 'parcel-1' already exists in this shipment"), id="create-twice"),
    pytest.param([], create_parcel(name=" p"), Rejected(InvalidCommand, "name",
                 "start or end with spaces"), id="create-padded-name"),
    pytest.param([], create_parcel(comment="\x1b"), Rejected(InvalidCommand, "comment",
                 "control character"), id="create-control-char-comment"),
    pytest.param(EMPTY, ChangeParcel(comment="fragile"), [ParcelChanged(comment="fragile")],
                 id="change-comment"),
    pytest.param(EMPTY, ChangeParcel(name="parcel-1", after_experiment=AfterExperiment.DESTROY,
                                     comment=""),
                 [ParcelChanged(after_experiment=AfterExperiment.DESTROY)],
                 id="change-only-what-changed"),
    pytest.param(EMPTY, ChangeParcel(name="parcel-1", comment=""), [], id="change-nothing"),
    pytest.param(EMPTY, ChangeParcel(name="parcel-2"), Rejected(DomainError, "name",
                 "a parcel's name cannot change"), id="change-name"),
    pytest.param(EMPTY, ChangeParcel(after_experiment=AfterExperiment.RETURN,
                                     has_return_address=False),
                 Rejected(InvalidCommand, "after_experiment", "no return address"),
                 id="change-to-return-without-return-address"),
    pytest.param(EMPTY, ChangeParcel(comment="\x00"), Rejected(InvalidCommand, "comment",
                 "control character"), id="change-control-char-comment"),
    pytest.param([], ChangeParcel(comment="x"), Rejected(NotFound, None, "no such parcel"),
                 id="change-missing-parcel"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), PARCEL_CASES)
def test_parcel(events: list[Event], command: Any, then: Any) -> None:
    _then(decide_parcel, given(events), command, then)


RESCHEDULED = ParcelStatusChanged(status=ST.SCHEDULED, previous=ST.SCHEDULED, role=P,
                                  occurred_at=hour(2), session_id=uuid.UUID(int=7))  # fmt: skip
CANCELLED_LATER = ParcelStatusChanged(status=ST.CANCELLED, previous=ST.SCHEDULED, role=P,
                                      occurred_at=hour(3))  # fmt: skip
BASE = Parcel(PARCEL, SHIPMENT, INVESTIGATION, PROPOSAL, "parcel-1", status_at=T0)

PARCEL_STATES = [
    pytest.param([], Parcel(), id="nothing"),
    pytest.param(EMPTY, BASE, id="created"),
    pytest.param([created(after_experiment=AfterExperiment.DESTROY, comment="c")],
                 replace(BASE, after_experiment=AfterExperiment.DESTROY, comment="c"),
                 id="created-to-destroy"),
    pytest.param([*EMPTY, ParcelChanged(comment="fragile")], replace(BASE, comment="fragile"),
                 id="changed-comment-only"),
    pytest.param([*EMPTY, ParcelChanged(after_experiment=AfterExperiment.DESTROY)],
                 replace(BASE, after_experiment=AfterExperiment.DESTROY),
                 id="changed-after-experiment-only"),
    pytest.param(FILLED, replace(BASE, items={item_id(i.name): i for i in (DEWAR, PUCK,
                 CRYSTAL)}), id="with-items"),
    pytest.param([*FILLED, ItemChanged(item_id=item_id("dewar-1"), item=TOOL),
                  ItemRemoved(item_id=item_id("crystal-1")),
                  ItemRemoved(item_id=item_id("crystal-1"))],
                 replace(BASE, items={item_id("dewar-1"): TOOL, IN_PUCK: PUCK}),
                 id="item-changed-and-removed"),
    pytest.param(at(ST.SCHEDULED, content=()), replace(BASE, status=ST.SCHEDULED,
                 status_at=hour(1), session_id=SESSION_ID), id="scheduled"),
    pytest.param([*at(ST.SCHEDULED, content=()), RESCHEDULED, CANCELLED_LATER],
                 replace(BASE, status=ST.CANCELLED, status_at=hour(3),
                         session_id=uuid.UUID(int=7)),
                 id="rescheduled-keeps-the-last-session"),
]  # fmt: skip


def stored(events: Iterable[Event]) -> list[Event]:
    """The events as the store gives them back: from their JSON, every field present."""
    return [type(e).model_validate(e.model_dump(mode="json")) for e in events]


@pytest.mark.parametrize(("events", "state"), PARCEL_STATES)
def test_evolve_parcel(events: list[Event], state: Parcel) -> None:
    assert given(events) == state
    assert given(stored(events)) == state


def test_parcel_dangerous_goods_are_the_sorted_union() -> None:
    assert given(FILLED).dangerous_goods == HAZARDS
    assert given(EMPTY).dangerous_goods == ()


# -- shipments ----------------------------------------------------------------------------

SENDER = Address(name="Dr. Ada Lovelace", organisation="University of Grenoble",
                 street=("1 rue de la Chimie", "Bâtiment C"), postcode="38000", city="Grenoble",
                 country="FR", email="ada@example.org", phone="+33 4 76 00 00 00")  # fmt: skip
RETURN_TO = Address(name="Stores", street=("71 avenue des Martyrs",), city="Grenoble",
                    country="FR")  # fmt: skip
SHIPMENT_NAME = "to-grenoble"


def address(**changes: Any) -> Address:
    return SENDER.model_copy(update=changes)


def create_shipment(**changes: Any) -> CreateShipment:
    base = CreateShipment(investigation_id=INVESTIGATION, proposal=PROPOSAL, name=SHIPMENT_NAME,
                          sender=SENDER, return_address=RETURN_TO, courier_company="DHL",
                          courier_account="123456")  # fmt: skip
    return replace(base, **changes)


def shipment_created(**changes: Any) -> ShipmentCreated:
    fields: dict[str, Any] = {
        "shipment_id": SHIPMENT,
        "investigation_id": INVESTIGATION,
        "proposal": PROPOSAL,
        "name": SHIPMENT_NAME,
        "sender": SENDER,
        "return_address": RETURN_TO,
        "courier_company": "DHL",
        "courier_account": "123456",
        "comment": "",
    }
    return ShipmentCreated(**{**fields, **changes})


OPENED = shipment_created()
FOUR_STREETS = ("a", "b", "c", "d" * 120)


def bad_sender(field: str, fragment: str) -> Rejected:
    return Rejected(InvalidCommand, f"sender.{field}", fragment)


SHIPMENT_CASES = [
    pytest.param([], create_shipment(), [OPENED], id="create"),
    pytest.param([], create_shipment(return_address=None, courier_company="", courier_account="",
                                     comment="first of two"),
                 [shipment_created(return_address=None, courier_company="", courier_account="",
                                   comment="first of two")], id="create-minimal"),
    pytest.param([], create_shipment(sender=address(street=FOUR_STREETS, email=None, phone=None,
                                                    organisation="")),
                 [shipment_created(sender=address(street=FOUR_STREETS, email=None, phone=None,
                                                  organisation=""))],
                 id="create-four-street-lines-of-120"),
    pytest.param([], create_shipment(sender=address(phone="(0)4 76-88.20/00")),
                 [shipment_created(sender=address(phone="(0)4 76-88.20/00"))],
                 id="create-phone-punctuation"),
    pytest.param([OPENED], create_shipment(), Rejected(AlreadyExists, "name",
                 "shipment 'to-grenoble' already exists"), id="create-twice"),
    pytest.param([], create_shipment(name=""), Rejected(InvalidCommand, "name",
                 "must not be empty"), id="create-empty-name"),
    pytest.param([], create_shipment(comment="\x00"), Rejected(InvalidCommand, "comment",
                 "control character"), id="create-control-char-comment"),
    pytest.param([], create_shipment(courier_company="c" * 121), Rejected(InvalidCommand,
                 "courier_company", "at most 120"), id="create-long-courier-company"),
    pytest.param([], create_shipment(courier_account="1" * 65), Rejected(InvalidCommand,
                 "courier_account", "at most 64"), id="create-long-courier-account"),
    pytest.param([], create_shipment(sender=address(country="fr")), bad_sender("country",
                 "'fr' is not an ISO 3166 code"), id="country-lower-case"),
    pytest.param([], create_shipment(sender=address(country="FRA")), bad_sender("country",
                 "is not an ISO 3166 code"), id="country-three-letters"),
    pytest.param([], create_shipment(sender=address(country="")), bad_sender("country",
                 "is not an ISO 3166 code"), id="country-empty"),
    pytest.param([], create_shipment(sender=address(country="F1")), bad_sender("country",
                 "is not an ISO 3166 code"), id="country-digit"),
    pytest.param([], create_shipment(sender=address(country="FR\n")), bad_sender("country",
                 "is not an ISO 3166 code"), id="country-trailing-newline"),
    pytest.param([], create_shipment(sender=address(name="")), bad_sender("name",
                 "must not be empty"), id="name-empty"),
    pytest.param([], create_shipment(sender=address(name="Ada\nLovelace")), bad_sender("name",
                 "sender.name must be a single line"), id="name-two-lines"),
    pytest.param([], create_shipment(sender=address(organisation="Uni\tGrenoble")),
                 bad_sender("organisation", "single line"), id="organisation-tab"),
    pytest.param([], create_shipment(sender=address(organisation="o" * 121)),
                 bad_sender("organisation", "at most 120"), id="organisation-121"),
    pytest.param([], create_shipment(sender=address(street=())), bad_sender("street",
                 "sender.street needs 1 to 4 lines"), id="street-none"),
    pytest.param([], create_shipment(sender=address(street=(*FOUR_STREETS, "e"))),
                 bad_sender("street", "needs 1 to 4 lines"), id="street-five-lines"),
    pytest.param([], create_shipment(sender=address(street=("1 rue", " "))),
                 bad_sender("street.1", "must not be empty"), id="street-blank-line"),
    pytest.param([], create_shipment(sender=address(street=("1 rue\r\nBât C",))),
                 bad_sender("street.0", "single line"), id="street-line-with-newline"),
    pytest.param([], create_shipment(sender=address(street=("s" * 121,))),
                 bad_sender("street.0", "at most 120"), id="street-line-121"),
    pytest.param([], create_shipment(sender=address(postcode="\x00")), bad_sender("postcode",
                 "control character"), id="postcode-control-char"),
    pytest.param([], create_shipment(sender=address(city="")), bad_sender("city",
                 "must not be empty"), id="city-empty"),
    pytest.param([], create_shipment(sender=address(city="Grenoble\nCedex")), bad_sender("city",
                 "single line"), id="city-two-lines"),
    pytest.param([], create_shipment(sender=address(email="ada")), bad_sender("email",
                 "'ada' is not an e-mail address"), id="email-bad"),
    pytest.param([], create_shipment(sender=address(phone="call me")), bad_sender("phone",
                 "'call me' is not a telephone number"), id="phone-words"),
    pytest.param([], create_shipment(sender=address(phone="123")), bad_sender("phone",
                 "is not a telephone number"), id="phone-too-short"),
    pytest.param([], create_shipment(sender=address(phone="+33 4\n76")), bad_sender("phone",
                 "is not a telephone number"), id="phone-newline"),
    pytest.param([], create_shipment(return_address=address(country="XX1")),
                 Rejected(InvalidCommand, "return_address.country", "not an ISO 3166 code"),
                 id="return-address-checked-too"),
    # Updates.
    pytest.param([], UpdateShipment(comment="x"), Rejected(NotFound, None, "no such shipment"),
                 id="update-missing"),
    pytest.param([OPENED], UpdateShipment(name="elsewhere"), Rejected(DomainError, "name",
                 "a shipment's name cannot change"), id="update-rename"),
    pytest.param([OPENED], UpdateShipment(name=SHIPMENT_NAME), [], id="update-same-name"),
    pytest.param([OPENED], UpdateShipment(), [], id="update-nothing"),
    pytest.param([OPENED], UpdateShipment(sender=SENDER, return_address=RETURN_TO,
                                          courier_company="DHL", courier_account="123456",
                                          comment=""), [], id="update-same-values"),
    pytest.param([OPENED], UpdateShipment(comment="fragile", courier_company="DHL"),
                 [ShipmentUpdated(comment="fragile")], id="update-only-what-changed"),
    pytest.param([OPENED], UpdateShipment(sender=address(city="Lyon")),
                 [ShipmentUpdated(sender=address(city="Lyon"))], id="update-sender"),
    pytest.param([shipment_created(return_address=None)],
                 UpdateShipment(return_address=RETURN_TO),
                 [ShipmentUpdated(return_address=RETURN_TO)], id="update-add-return-address"),
    pytest.param([OPENED], UpdateShipment(courier_company="FedEx", courier_account="9"),
                 [ShipmentUpdated(courier_company="FedEx", courier_account="9")],
                 id="update-courier"),
    pytest.param([OPENED], UpdateShipment(sender=address(country="fr")), bad_sender("country",
                 "not an ISO 3166 code"), id="update-bad-sender"),
    pytest.param([OPENED], UpdateShipment(return_address=address(street=())),
                 Rejected(InvalidCommand, "return_address.street", "1 to 4 lines"),
                 id="update-bad-return-address"),
    pytest.param([OPENED], UpdateShipment(courier_account="1" * 65), Rejected(InvalidCommand,
                 "courier_account", "at most 64"), id="update-long-courier-account"),
    pytest.param([OPENED], UpdateShipment(comment="\x07"), Rejected(InvalidCommand, "comment",
                 "control character"), id="update-control-char-comment"),
]  # fmt: skip


def given_shipment(events: Iterable[Event]) -> Shipment:
    return reduce(evolve_shipment, events, Shipment())


@pytest.mark.parametrize(("events", "command", "then"), SHIPMENT_CASES)
def test_shipment(events: list[Event], command: Any, then: Any) -> None:
    _then(decide_shipment, given_shipment(events), command, then)


def test_shipment_update_sets_only_the_changed_fields() -> None:
    [event] = decide_shipment(given_shipment([OPENED]),
                              UpdateShipment(name=SHIPMENT_NAME, sender=SENDER, comment="fragile",
                                             courier_company="UPS"))  # fmt: skip
    assert isinstance(event, ShipmentUpdated)
    assert event.model_fields_set == {"comment", "courier_company"}


OPENED_STATE = Shipment(SHIPMENT, INVESTIGATION, PROPOSAL, SHIPMENT_NAME, SENDER, RETURN_TO,
                        "DHL", "123456", "")  # fmt: skip

SHIPMENT_STATES = [
    pytest.param([], Shipment(), id="nothing"),
    pytest.param([OPENED], OPENED_STATE, id="created"),
    pytest.param([OPENED, ShipmentUpdated(comment="fragile")],
                 replace(OPENED_STATE, comment="fragile"), id="updated-comment-only"),
    pytest.param([OPENED, ShipmentUpdated(sender=RETURN_TO, courier_account="")],
                 replace(OPENED_STATE, sender=RETURN_TO, courier_account=""),
                 id="updated-sender-and-account"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "state"), SHIPMENT_STATES)
def test_evolve_shipment(events: list[Event], state: Shipment) -> None:
    assert given_shipment(events) == state
    assert given_shipment(stored(events)) == state
    assert given_shipment(events).exists is bool(events)


def test_address_lines_as_a_label_prints_them() -> None:
    assert SENDER.lines() == (
        "Dr. Ada Lovelace", "University of Grenoble", "1 rue de la Chimie", "Bâtiment C",
        "38000 Grenoble", "FR",
    )  # fmt: skip
    assert RETURN_TO.lines() == ("Stores", "71 avenue des Martyrs", "Grenoble", "FR")


# -- who plays which part ------------------------------------------------------------------

SESSION_BEAMLINE = "ID30A-1"
EMBARGO = datetime(2027, 11, 24, tzinfo=UTC)
INVESTIGATION_FACTS = InvestigationFacts(BEAMLINE, EMBARGO, PARTICIPANTS)
SESSION_FACTS = InvestigationFacts(SESSION_BEAMLINE, EMBARGO, {
    "lc2": Role.LOCAL_CONTACT,
    "spi": Role.PRINCIPAL_INVESTIGATOR,
    "pi": Role.PRINCIPAL_INVESTIGATOR,
})  # fmt: skip
#: Not yet scheduled: the investigation's own beamline counts.
UNSCHEDULED = TrackingFacts(INVESTIGATION_FACTS)
#: Scheduled for a session on another beamline of the same proposal.
SCHEDULED = TrackingFacts(INVESTIGATION_FACTS, session=SESSION_FACTS)


def member(name: str, *groups: str) -> Principal:
    return Principal(PrincipalKind.USER, username=name, groups=frozenset(groups))


ADMIN = user("root", admin=True)
SAFETY_OFFICER = member("sam", "safety")
STOREKEEPER = member("sto", "stores")
NONE: frozenset[Actor] = frozenset()

# who, principal, facts -> parts played, reads parcels, safety staff, stores staff
F, Y = False, True
ROLES_TABLE = [
    ("admin", ADMIN, UNSCHEDULED, {P, S, T, L}, Y, Y, Y),
    ("admin-scheduled", ADMIN, SCHEDULED, {P, S, T, L}, Y, Y, Y),
    ("principal-investigator", user("pi"), UNSCHEDULED, {P}, Y, F, F),
    ("principal-investigator-scheduled", user("pi"), SCHEDULED, {P}, Y, F, F),
    ("co-investigator", user("co"), UNSCHEDULED, {P}, Y, F, F),
    ("local-contact-of-investigation", user("lc"), UNSCHEDULED, {P, L}, Y, F, F),
    ("local-contact-of-investigation-scheduled", user("lc"), SCHEDULED, {P, L}, Y, F, F),
    ("collaborator", user("collab"), UNSCHEDULED, NONE, Y, F, F),
    ("collaborator-scheduled", user("collab"), SCHEDULED, NONE, Y, F, F),
    ("local-contact-of-session-only", user("lc2"), SCHEDULED, {L}, Y, F, F),
    ("local-contact-of-session-before-scheduling", user("lc2"), UNSCHEDULED, NONE, F, F, F),
    ("principal-investigator-of-session-only", user("spi"), SCHEDULED, NONE, F, F, F),
    ("scientist-of-session-beamline", user("sci", scientist_of=frozenset({SESSION_BEAMLINE})),
     SCHEDULED, {L}, Y, F, F),
    ("scientist-of-session-beamline-before-scheduling",
     user("sci", scientist_of=frozenset({SESSION_BEAMLINE})), UNSCHEDULED, NONE, F, F, F),
    ("scientist-of-investigation-beamline", user("sci", scientist_of=frozenset({BEAMLINE})),
     UNSCHEDULED, {L}, Y, F, F),
    ("scientist-of-investigation-beamline-session-elsewhere",
     user("sci", scientist_of=frozenset({BEAMLINE})), SCHEDULED, NONE, F, F, F),
    ("scientist-of-other-beamline", user("sci2", scientist_of=frozenset({"BM29"})), SCHEDULED,
     NONE, F, F, F),
    ("safety-group", SAFETY_OFFICER, UNSCHEDULED, {S}, Y, Y, F),
    ("safety-group-scheduled", SAFETY_OFFICER, SCHEDULED, {S}, Y, Y, F),
    ("stores", STOREKEEPER, UNSCHEDULED, {T}, Y, F, Y),
    ("stores-scheduled", STOREKEEPER, SCHEDULED, {T}, Y, F, Y),
    ("safety-and-stores", member("both", "safety", "stores"), UNSCHEDULED, {S, T}, Y, Y, Y),
    ("principal-investigator-in-safety", member("pi", "safety"), UNSCHEDULED, {P, S}, Y, Y, F),
    ("collaborator-in-stores", member("collab", "stores"), UNSCHEDULED, {T}, Y, F, Y),
    ("other-group", member("fin", "finance"), UNSCHEDULED, NONE, F, F, F),
    ("api-key-of-investigation-beamline", api_key(BEAMLINE), UNSCHEDULED, {L}, Y, F, F),
    ("api-key-of-investigation-beamline-session-elsewhere", api_key(BEAMLINE), SCHEDULED, NONE,
     F, F, F),
    ("api-key-of-session-beamline", api_key(SESSION_BEAMLINE), SCHEDULED, {L}, Y, F, F),
    ("api-key-of-wrong-beamline", api_key("BM29"), UNSCHEDULED, NONE, F, F, F),
    ("api-key-claiming-groups", Principal(PrincipalKind.API_KEY, instrument="BM29",
     credential_id="k9", groups=frozenset({"safety", "stores"})), UNSCHEDULED, NONE, F, F, F),
    ("api-key-named-like-a-participant", Principal(PrincipalKind.API_KEY, username="pi",
     instrument="BM29", credential_id="k9"), UNSCHEDULED, NONE, F, F, F),
    ("anonymous", ANONYMOUS, UNSCHEDULED, NONE, F, F, F),
    ("anonymous-scheduled", ANONYMOUS, SCHEDULED, NONE, F, F, F),
    ("unrelated-user", user("zoe"), UNSCHEDULED, NONE, F, F, F),
    ("unrelated-user-scheduled", user("zoe"), SCHEDULED, NONE, F, F, F),
]  # fmt: skip


@pytest.mark.parametrize(
    ("principal", "facts", "roles", "reads", "safety", "stores"),
    [pytest.param(*row[1:], id=row[0]) for row in ROLES_TABLE],
)
def test_roles_and_reading(
    principal: Principal,
    facts: TrackingFacts,
    roles: set[Actor],
    reads: bool,
    safety: bool,
    stores: bool,
) -> None:
    assert roles_of(principal, facts) == roles
    assert can_read_parcels(principal, facts) is reads
    assert is_tracking_staff(principal, "safety") is safety
    assert is_tracking_staff(principal, "stores") is stores


def test_the_roles_table_names_each_caller_once() -> None:
    names = [row[0] for row in ROLES_TABLE]
    assert len(names) == len(set(names))


# -- where a parcel is ---------------------------------------------------------------------

LOCATIONS = [
    (ST.CREATED, "with the user"),
    (ST.SCHEDULED, "with the user"),
    (ST.READY, "with the user"),
    (ST.APPROVED, "with the user"),
    (ST.REFUSED, "with the user"),
    (ST.SENT, "in transit to the facility"),
    (ST.STORES, "stores"),
    (ST.BEAMLINE, BEAMLINE),
    (ST.BACK_STORES, "stores"),
    (ST.BACK_USER, "in transit to the user"),
    (ST.DESTROYED, None),
    (ST.CANCELLED, None),
    (ST.LOST, "unknown"),
]


@pytest.mark.parametrize(("status", "where"), [pytest.param(*row, id=row[0]) for row in LOCATIONS])
def test_default_location(status: ParcelStatus, where: str | None) -> None:
    assert default_location(status, BEAMLINE) == where
    expected = "beamline" if status is ST.BEAMLINE else where
    assert default_location(status, None) == expected


def test_every_status_has_a_default_location_row() -> None:
    assert len(LOCATIONS) == len(ST)
    assert {row[0] for row in LOCATIONS} == set(ST)
