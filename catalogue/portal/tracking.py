"""Sample tracking's commands and queries, with the access rules applied."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from catalogue import outbox
from catalogue.domain import samples as smp
from catalogue.domain import tracking as tr
from catalogue.domain.access import InvestigationFacts, PrincipalKind, require
from catalogue.domain.values import check_aware
from catalogue.errors import DomainError, Forbidden, InvalidCommand, NotFound
from catalogue.events import NO_STREAM, Event, StreamAppend
from catalogue.labels import ParcelLabel, render_label
from catalogue.portal.execution import Caller, Decision, execute, reading, run
from catalogue.readmodels import datasets as sample_queries
from catalogue.readmodels import investigations as investigation_queries
from catalogue.readmodels import tracking as queries
from catalogue.readmodels.paging import Page
from catalogue.store import EventStore

#: Items one request may declare.
MAX_ITEMS_PER_REQUEST = 500


# -- facts and access -------------------------------------------------------------------------


def _investigation(
    connection: Connection, caller: Caller, investigation_id: UUID | None
) -> InvestigationFacts | None:
    if investigation_id is None:
        return None
    return investigation_queries.investigation_facts(
        connection, investigation_id, caller.principal.username
    )


def _tracking_facts(
    connection: Connection,
    caller: Caller,
    investigation_id: UUID,
    session_id: UUID | None,
    what: str,
) -> tr.TrackingFacts:
    """The facts of an investigation's tracking if the caller may see it; else 404."""
    investigation = _investigation(connection, caller, investigation_id)
    if investigation is None:
        raise NotFound(f"no {what} with that id")
    facts = tr.TrackingFacts(investigation, _investigation(connection, caller, session_id))
    if not tr.can_read_parcels(caller.principal, facts):
        raise NotFound(f"no {what} with that id")
    return facts


def _require_signed_in(caller: Caller, action: str) -> None:
    """401 for an anonymous write, before any lookup could answer 404 instead."""
    require(caller.principal.kind is not PrincipalKind.ANONYMOUS, caller.principal, action)


def _require_participant(caller: Caller, facts: tr.TrackingFacts, action: str) -> None:
    require(tr.Actor.PARTICIPANT in tr.roles_of(caller.principal, facts), caller.principal, action)


def _parcel_facts(
    connection: Connection, caller: Caller, parcel_id: UUID
) -> tuple[queries.ParcelRef, tr.TrackingFacts]:
    ref = queries.parcel_ref(connection, parcel_id)
    if ref is None:
        raise NotFound("no parcel with that id")
    facts = _tracking_facts(connection, caller, ref.investigation_id, ref.session_id, "parcel")
    return ref, facts


def _shipment_facts(
    connection: Connection, caller: Caller, shipment_id: UUID
) -> tuple[tuple[UUID, str], tr.TrackingFacts]:
    owner = queries.shipment_investigation(connection, shipment_id)
    if owner is None:
        raise NotFound("no shipment with that id")
    return owner, _tracking_facts(connection, caller, owner[0], None, "shipment")


# -- shipments ------------------------------------------------------------------------------


def create_shipment(
    store: EventStore, caller: Caller, investigation_id: UUID, command: tr.CreateShipment
) -> UUID:
    """Open a shipment for an investigation (its participants do)."""
    with reading(store) as connection:
        _require_signed_in(caller, "open shipments for this investigation")
        facts = _tracking_facts(connection, caller, investigation_id, None, "investigation")
        _require_participant(caller, facts, "open shipments for this investigation")
        proposal = investigation_queries.proposal_of(connection, investigation_id)
    checked = tr.CreateShipment(
        investigation_id=investigation_id,
        proposal=proposal,
        name=command.name,
        sender=command.sender,
        return_address=command.return_address,
        courier_company=command.courier_company,
        courier_account=command.courier_account,
        comment=command.comment,
    )
    shipment_id = tr.shipment_id_for(investigation_id, command.name)
    run(store, caller, tr.SHIPMENT, shipment_id, checked)
    return shipment_id


def update_shipment(
    store: EventStore,
    caller: Caller,
    shipment_id: UUID,
    command: tr.UpdateShipment,
    if_match: int | None,
) -> None:
    """Change a shipment's addresses, courier or comment."""
    with reading(store) as connection:
        _require_signed_in(caller, "change this shipment")
        _, facts = _shipment_facts(connection, caller, shipment_id)
        _require_participant(caller, facts, "change this shipment")
    run(store, caller, tr.SHIPMENT, shipment_id, command, if_match=if_match)


#: What only who may see contact details is shown (see `tr.can_see_contact_details`).
_CONTACT_DETAILS = ("sender", "return_address", "courier_account")


def _without_contact_details(
    caller: Caller, facts: tr.TrackingFacts, found: dict[str, Any]
) -> dict[str, Any]:
    if not tr.can_see_contact_details(caller.principal, facts):
        found.update(dict.fromkeys(_CONTACT_DETAILS))
    return found


def get_shipment(store: EventStore, caller: Caller, shipment_id: UUID) -> dict[str, Any]:
    """One shipment (addresses and courier account for who may see them)."""
    with reading(store) as connection:
        _, facts = _shipment_facts(connection, caller, shipment_id)
        found = queries.get_shipment(connection, shipment_id)
    assert found is not None
    return _without_contact_details(caller, facts, found)


def list_shipments(
    store: EventStore, caller: Caller, investigation_id: UUID, cursor: str | None, limit: int
) -> Page:
    """An investigation's shipments."""
    with reading(store) as connection:
        facts = _tracking_facts(connection, caller, investigation_id, None, "investigation")
        page = queries.list_shipments(connection, investigation_id, cursor, limit)
    for shipment in page.items:
        _without_contact_details(caller, facts, shipment)
    return page


# -- parcels --------------------------------------------------------------------------------


def create_parcel(
    store: EventStore,
    caller: Caller,
    shipment_id: UUID,
    name: str,
    after_experiment: tr.AfterExperiment,
    comment: str,
) -> UUID:
    """Add a parcel to a shipment."""
    with reading(store) as connection:
        _require_signed_in(caller, "add parcels to this shipment")
        (investigation_id, proposal), facts = _shipment_facts(connection, caller, shipment_id)
        _require_participant(caller, facts, "add parcels to this shipment")
        shipment = queries.get_shipment(connection, shipment_id)
    assert shipment is not None
    command = tr.CreateParcel(
        shipment_id=shipment_id,
        investigation_id=investigation_id,
        proposal=proposal,
        name=name,
        now=caller.now,
        after_experiment=after_experiment,
        comment=comment,
        has_return_address=shipment["return_address"] is not None,
    )
    parcel_id = tr.parcel_id_for(shipment_id, name)
    run(store, caller, tr.PARCEL, parcel_id, command)
    return parcel_id


def change_parcel(
    store: EventStore,
    caller: Caller,
    parcel_id: UUID,
    command: tr.ChangeParcel,
    if_match: int | None,
) -> None:
    """Change a parcel's comment or what happens to it after the experiment."""
    with reading(store) as connection:
        _require_signed_in(caller, "change this parcel")
        ref, facts = _parcel_facts(connection, caller, parcel_id)
        _require_participant(caller, facts, "change this parcel")
        shipment = queries.get_shipment(connection, ref.shipment_id)
    assert shipment is not None
    checked = tr.ChangeParcel(
        name=command.name,
        after_experiment=command.after_experiment,
        comment=command.comment,
        has_return_address=shipment["return_address"] is not None,
    )
    run(store, caller, tr.PARCEL, parcel_id, checked, if_match=if_match)


@dataclass(frozen=True, slots=True)
class NewSample:
    """A sample to register with the item that declares it, when the investigation has
    no sample of that name yet."""

    name: str
    description: str = ""
    chemical_formula: str | None = None
    safety_information: str = ""
    hazards: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemInput:
    """An item as its owners declare it: containers and samples may be named, not only
    referred to by id."""

    spec: tr.ItemSpec
    #: The container, by item name, when `spec.parent_id` is not given.
    parent: str | None = None
    #: A sample of the investigation by name, registered if new (for sample items).
    sample: NewSample | None = None


def _resolve_items(
    connection: Connection,
    investigation_id: UUID,
    parcel_id: UUID,
    inputs: Sequence[ItemInput],
) -> tuple[list[tr.AddItem], list[tuple[int, smp.RegisterSample]]]:
    """The decider's commands for the inputs, and the samples that must be registered (with
    the index of the first item that names each)."""
    specs: list[tr.ItemSpec] = []
    for index, item in enumerate(inputs):
        spec = item.spec
        if item.parent is not None:
            if spec.parent_id is not None:
                raise InvalidCommand("give parent or parent_id, not both", f"items.{index}.parent")
            spec = spec.model_copy(update={"parent_id": tr.item_id_for(parcel_id, item.parent)})
        if item.sample is not None:
            if spec.sample_id is not None:
                raise InvalidCommand(
                    "give sample or sample_id, not both", f"items.{index}.sample_id"
                )
            sample_id = smp.sample_id_for(investigation_id, item.sample.name)
            spec = spec.model_copy(update={"sample_id": sample_id})
        specs.append(spec)
    # One lookup for every sample a request names (up to 500).
    owners = sample_queries.owners_of_samples(
        connection, {s.sample_id for s in specs if s.sample_id is not None}
    )
    commands: list[tr.AddItem] = []
    new_samples: dict[UUID, tuple[int, smp.RegisterSample]] = {}
    for index, (item, spec) in enumerate(zip(inputs, specs, strict=True)):
        owner = None if spec.sample_id is None else owners.get(spec.sample_id)
        if item.sample is not None and owner is None:
            assert spec.sample_id is not None
            # Named and new: registered in the same append, so it belongs to this investigation.
            owner = investigation_id
            register = smp.RegisterSample(
                investigation_id=investigation_id,
                name=item.sample.name,
                description=item.sample.description,
                chemical_formula=item.sample.chemical_formula,
                safety_information=item.sample.safety_information,
                hazards=item.sample.hazards,
            )
            new_samples.setdefault(spec.sample_id, (index, register))
        commands.append(tr.AddItem(spec, owner))
    return commands, list(new_samples.values())


def _at_item(index: int, error: DomainError, within: str = "") -> DomainError:
    """The error of one item of a request, naming it: one request declares up to 500."""
    field = ".".join(part for part in (f"items.{index}", within, error.field or "") if part)
    return type(error)(f"items[{index}]: {error.detail}", field)


def add_items(
    store: EventStore,
    caller: Caller,
    parcel_id: UUID,
    items: Sequence[ItemInput],
    if_match: int | None,
) -> int:
    """Declare items in a parcel, all or none, registering new samples in the same append;
    return the parcel's new version."""
    if not 1 <= len(items) <= MAX_ITEMS_PER_REQUEST:
        raise InvalidCommand(f"send 1 to {MAX_ITEMS_PER_REQUEST} items a request", "items")
    with reading(store) as connection:
        _require_signed_in(caller, "declare items in this parcel")
        ref, facts = _parcel_facts(connection, caller, parcel_id)
        _require_participant(caller, facts, "declare items in this parcel")

    def decide(state: tr.Parcel) -> Decision:
        # Looked up on every attempt: a sample another request registered meanwhile is
        # then linked, not registered a second time.
        with reading(store) as connection:
            commands, new_samples = _resolve_items(
                connection, ref.investigation_id, parcel_id, items
            )
        events: list[Event] = []
        for index, command in enumerate(commands):
            try:
                decided = tr.decide_parcel(state, command)
            except DomainError as error:
                raise _at_item(index, error) from None
            for event in decided:
                state = tr.evolve_parcel(state, event)
            events.extend(decided)
        registrations = []
        for index, sample in new_samples:
            try:
                registered = smp.decide_sample(smp.Sample(), sample)
            except DomainError as error:
                raise _at_item(index, error, "sample") from None
            stream = smp.sample_stream(smp.sample_id_for(sample.investigation_id, sample.name))
            registrations.append(StreamAppend(stream, registered, NO_STREAM))
        return Decision(events, registrations)

    return execute(store, caller, tr.PARCEL, parcel_id, decide, if_match=if_match).version


def change_item(
    store: EventStore,
    caller: Caller,
    parcel_id: UUID,
    item_id: UUID,
    spec: tr.ItemSpec,
    if_match: int | None,
) -> None:
    """Replace an item's declaration (its name stays)."""
    with reading(store) as connection:
        _require_signed_in(caller, "change items of this parcel")
        _, facts = _parcel_facts(connection, caller, parcel_id)
        _require_participant(caller, facts, "change items of this parcel")
        owner = (
            None
            if spec.sample_id is None
            else sample_queries.owner_of_sample(connection, spec.sample_id)
        )

    def decide(state: tr.Parcel) -> list[Event]:
        # The item keeps its name (its id derives from it): take it from the parcel.
        old = state.items.get(item_id)
        named = spec if old is None else spec.model_copy(update={"name": old.name})
        return tr.decide_parcel(state, tr.ChangeItem(item_id, named, owner))

    execute(store, caller, tr.PARCEL, parcel_id, decide, if_match=if_match)


def remove_item(
    store: EventStore, caller: Caller, parcel_id: UUID, item_id: UUID, if_match: int | None
) -> None:
    """Take an item out of a parcel."""
    with reading(store) as connection:
        _require_signed_in(caller, "remove items of this parcel")
        _, facts = _parcel_facts(connection, caller, parcel_id)
        _require_participant(caller, facts, "remove items of this parcel")
    run(store, caller, tr.PARCEL, parcel_id, tr.RemoveItem(item_id), if_match=if_match)


@dataclass(frozen=True, slots=True)
class Step:
    """A step a caller asks a parcel to take."""

    to: tr.ParcelStatus
    location: str | None = None
    comment: str = ""
    session_id: UUID | None = None
    tracking_number: str | None = None
    #: When it happened, if earlier than now (a scan at the stores recorded late).
    time: datetime | None = None


def move_parcel(
    store: EventStore, caller: Caller, parcel_id: UUID, step: Step, if_match: int | None
) -> dict[str, Any]:
    """Take a parcel a step in its life cycle; return the parcel as the caller now sees it."""
    _require_signed_in(caller, "move this parcel")
    with reading(store) as connection:
        _, facts = _parcel_facts(connection, caller, parcel_id)
        # Who may act is settled before the session is looked up: a reader who may not
        # move the parcel must not learn which investigation ids exist.
        roles = tr.roles_of(caller.principal, facts)
        require(bool(roles), caller.principal, "move this parcel")
        session = None
        if step.session_id is not None:
            session = queries.session_of(connection, step.session_id)
            if session is None:
                raise InvalidCommand("no investigation with that session_id", "session_id")
    when = check_aware(step.time or caller.now, "time")
    if when > caller.now:
        raise InvalidCommand("time is in the future", "time")
    command = tr.MoveParcel(
        to=step.to,
        roles=roles,
        now=when,
        location=step.location,
        comment=step.comment,
        session=session,
        tracking_number=step.tracking_number,
    )
    execute(
        store,
        caller,
        tr.PARCEL,
        parcel_id,
        lambda state: tr.decide_parcel(state, command),
        if_match=if_match,
    )
    with reading(store) as connection:
        if step.to is tr.ParcelStatus.SCHEDULED:
            # Bound to a session: its people may now play a part, so the facts are new.
            _, facts = _parcel_facts(connection, caller, parcel_id)
        return _parcel_view(connection, caller, facts, parcel_id)


def get_parcel(store: EventStore, caller: Caller, parcel_id: UUID) -> dict[str, Any]:
    """A parcel with its addresses, items, steps, and what the caller may do next."""
    with reading(store) as connection:
        _, facts = _parcel_facts(connection, caller, parcel_id)
        return _parcel_view(connection, caller, facts, parcel_id)


def _parcel_view(
    connection: Connection, caller: Caller, facts: tr.TrackingFacts, parcel_id: UUID
) -> dict[str, Any]:
    found = queries.get_parcel(connection, parcel_id)
    assert found is not None
    roles = tr.roles_of(caller.principal, facts)
    steps = tr.TRANSITIONS[tr.ParcelStatus(found["status"])]
    found["next_steps"] = [
        {"status": to, "by": sorted(actors), "allowed": bool(actors & roles)}
        for to, actors in steps.items()
    ]
    return _without_contact_details(caller, facts, found)


def list_parcels(
    store: EventStore,
    caller: Caller,
    investigation_id: UUID,
    status: tr.ParcelStatus | None,
    shipment_id: UUID | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """Parcels of an investigation, with their steps; for the staff and the session's local
    contacts also those of other investigations scheduled for it."""
    with reading(store) as connection:
        facts = _tracking_facts(connection, caller, investigation_id, None, "investigation")
        # A parcel scheduled for this session is readable by whoever plays a part in the
        # session (its local contacts, the beamline, the stores, safety), not by its
        # participants as such: it is another investigation's.
        as_session = tr.TrackingFacts(facts.investigation, facts.investigation)
        session_roles = tr.roles_of(caller.principal, as_session) - {tr.Actor.PARTICIPANT}
        return queries.list_parcels(
            connection,
            investigation_id,
            status,
            shipment_id,
            cursor,
            limit,
            include_scheduled=bool(session_roles),
        )


def parcel_label(
    store: EventStore, caller: Caller, parcel_id: UUID, base_url: str, stores: Sequence[str]
) -> bytes:
    """The parcel's printable label (PDF), its QR code linking to its page in the API."""
    parcel = get_parcel(store, caller, parcel_id)
    if parcel["sender"] is None:
        raise Forbidden("a parcel's label, with its addresses, is for who prepares or ships it")
    sender = tr.Address.model_validate(parcel["sender"])
    back = parcel["return_address"]
    returned = parcel["after_experiment"] == tr.AfterExperiment.RETURN and back is not None
    label = ParcelLabel(
        parcel_id=parcel_id,
        parcel_name=parcel["name"],
        shipment_name=parcel["shipment_name"],
        proposal=parcel["proposal"],
        instrument=parcel["instrument"],
        session_start=parcel["session_start"],
        sender=sender.lines(),
        recipient=tuple(stores),
        return_address=tr.Address.model_validate(back).lines() if returned else (),
        dangerous_goods=tuple(parcel["dangerous_goods"]),
        storage_conditions=tuple(parcel["storage"]),
        item_count=parcel["item_count"],
        url=f"{base_url}/api/v1/tracking/parcels/{parcel_id}",
    )
    return render_label(label)


# -- where samples are ------------------------------------------------------------------------


def sample_whereabouts(store: EventStore, caller: Caller, sample_id: UUID) -> dict[str, Any]:
    """Where a sample is now, and every parcel it travelled in that the caller may see."""
    with reading(store) as connection:
        owner = sample_queries.owner_of_sample(connection, sample_id)
        if owner is None:
            raise NotFound("no sample with that id")
        readable: list[UUID] | None = None
        try:
            _tracking_facts(connection, caller, owner, None, "sample")
        except NotFound:
            # Staff who handle a parcel it is in (stores, the session's local contact) may
            # ask too, and see those parcels only.
            readable = _readable_parcels(connection, caller, sample_id)
            if not readable:
                raise
        found = queries.sample_whereabouts(connection, sample_id, readable)
    assert found is not None
    return found


def _readable_parcels(connection: Connection, caller: Caller, sample_id: UUID) -> list[UUID]:
    readable = []
    for parcel_id in queries.parcels_for_sample(connection, sample_id):
        try:
            _parcel_facts(connection, caller, parcel_id)
        except NotFound:
            continue
        readable.append(parcel_id)
    return readable


def investigation_whereabouts(
    store: EventStore, caller: Caller, investigation_id: UUID, cursor: str | None, limit: int
) -> Page:
    """Where every sample of an investigation is now."""
    with reading(store) as connection:
        _tracking_facts(connection, caller, investigation_id, None, "investigation")
        return queries.investigation_whereabouts(connection, investigation_id, cursor, limit)


# -- worklists and the outbox -----------------------------------------------------------------


def stores_worklist(
    store: EventStore,
    caller: Caller,
    section: str,
    instrument: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """The stores' parcels: expected, in the stores (or at a beamline), to return."""
    statuses = queries.Worklist.STORES[section]
    return _worklist(store, caller, tr.STORES_GROUP, statuses, instrument, cursor, limit)


def safety_worklist(
    store: EventStore, caller: Caller, instrument: str | None, cursor: str | None, limit: int
) -> Page:
    """Parcels awaiting the safety group's approval."""
    statuses = queries.Worklist.SAFETY["awaiting_approval"]
    return _worklist(store, caller, tr.SAFETY_GROUP, statuses, instrument, cursor, limit)


def _worklist(
    store: EventStore,
    caller: Caller,
    group: str,
    statuses: Sequence[tr.ParcelStatus],
    instrument: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    require(
        tr.is_tracking_staff(caller.principal, group),
        caller.principal,
        f"read the {group} worklist",
    )
    with reading(store) as connection:
        return queries.worklist(connection, statuses, instrument, cursor, limit)


def list_outbox(
    store: EventStore,
    caller: Caller,
    status: str | None,
    parcel_id: UUID | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """Mail the catalogue sent, is sending or gave up on (administrators)."""
    require(caller.principal.is_admin, caller.principal, "read the mail outbox")
    subject = None if parcel_id is None else f"parcel:{parcel_id}"
    with reading(store) as connection:
        return outbox.list_outbox(connection, status, subject, cursor, limit)


def requeue_mail(store: EventStore, caller: Caller, row_id: UUID) -> dict[str, Any]:
    """Send a failed (or suppressed) mail again (administrators)."""
    require(caller.principal.is_admin, caller.principal, "resend mail")
    return outbox.requeue(store.engine, row_id, caller.now)
