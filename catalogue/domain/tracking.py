"""Sample tracking: shipments, their parcels and items, the parcel life cycle and its actors."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import pydantic

from catalogue.domain.access import WRITING_ROLES, InvestigationFacts, Principal, PrincipalKind
from catalogue.domain.aggregate import Aggregate
from catalogue.domain.investigations import Role
from catalogue.domain.values import check_aware, check_email, check_name, check_text, derived_id
from catalogue.errors import AlreadyExists, DomainError, Forbidden, InvalidCommand, NotFound
from catalogue.events import Event

#: The catalogue groups whose members act as the safety group and as the stores.
SAFETY_GROUP = "safety"
STORES_GROUP = "stores"
MAX_ITEMS = 2000
MAX_DEPTH = 6
MAX_ADDRESS_LINE = 120
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,40}$")
_TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{1,62}[A-Za-z0-9]$")
#: Proposals of paying industrial users: their parcels are also reported to the industry office.
INDUSTRIAL_PREFIXES = ("IN-", "IM-")


class ParcelStatus(enum.StrEnum):
    """Where a parcel is in its life cycle."""

    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    READY = "READY"
    APPROVED = "APPROVED"
    REFUSED = "REFUSED"
    SENT = "SENT"
    STORES = "STORES"
    BEAMLINE = "BEAMLINE"
    BACK_STORES = "BACK_STORES"
    BACK_USER = "BACK_USER"
    DESTROYED = "DESTROYED"
    CANCELLED = "CANCELLED"
    LOST = "LOST"


class Actor(enum.StrEnum):
    """The part a caller plays for a parcel; each step of the life cycle belongs to some."""

    PARTICIPANT = "participant"
    SAFETY = "safety"
    STORES = "stores"
    LOCAL_CONTACT = "local_contact"
    #: The service itself (approving a parcel that declares no dangerous goods).
    SYSTEM = "system"


class ItemKind(enum.StrEnum):
    """What an item in a parcel is."""

    SAMPLE = "sample"
    CONTAINER = "container"
    TOOL = "tool"
    OTHER = "other"


class ContainerType(enum.StrEnum):
    """Kinds of containers, which may hold samples and other containers."""

    DEWAR = "dewar"
    PUCK = "puck"
    CASSETTE = "cassette"
    PLATE = "plate"
    CAPILLARY = "capillary"
    BOX = "box"
    VIAL = "vial"
    OTHER = "other"


class Storage(enum.StrEnum):
    """How an item must be kept."""

    AMBIENT = "ambient"
    REFRIGERATED = "refrigerated"  # +4 °C
    FROZEN = "frozen"  # -20 °C
    DEEP_FROZEN = "deep_frozen"  # -80 °C
    LIQUID_NITROGEN = "liquid_nitrogen"
    DRY_ICE = "dry_ice"
    INERT_ATMOSPHERE = "inert_atmosphere"
    DARK = "dark"


class AfterExperiment(enum.StrEnum):
    """What the stores do with a parcel once the experiment is over."""

    RETURN = "return"
    DESTROY = "destroy"


#: The UN dangerous-goods classes and divisions (ADR/IATA), with what they mean.
HAZARD_CLASSES: Mapping[str, str] = {
    "1": "explosives",
    "1.1": "explosives: mass explosion hazard",
    "1.2": "explosives: projection hazard",
    "1.3": "explosives: fire hazard",
    "1.4": "explosives: minor hazard",
    "1.5": "explosives: very insensitive",
    "1.6": "explosives: extremely insensitive",
    "2.1": "flammable gases",
    "2.2": "non-flammable, non-toxic gases",
    "2.3": "toxic gases",
    "3": "flammable liquids",
    "4.1": "flammable solids",
    "4.2": "substances liable to spontaneous combustion",
    "4.3": "substances which emit flammable gases with water",
    "5.1": "oxidizing substances",
    "5.2": "organic peroxides",
    "6.1": "toxic substances",
    "6.2": "infectious substances",
    "7": "radioactive material",
    "8": "corrosive substances",
    "9": "miscellaneous dangerous substances",
}

P, S, T, L = Actor.PARTICIPANT, Actor.SAFETY, Actor.STORES, Actor.LOCAL_CONTACT
_ST = ParcelStatus
#: Every allowed step: from a status, to a status, by whom. Anything else is refused.
TRANSITIONS: Mapping[ParcelStatus, Mapping[ParcelStatus, frozenset[Actor]]] = {
    _ST.CREATED: {_ST.SCHEDULED: frozenset({P}), _ST.CANCELLED: frozenset({P})},
    # Scheduling again binds the parcel to another session of the proposal.
    _ST.SCHEDULED: {
        _ST.SCHEDULED: frozenset({P}),
        _ST.READY: frozenset({P}),
        _ST.CANCELLED: frozenset({P}),
    },
    _ST.READY: {
        _ST.APPROVED: frozenset({S}),
        _ST.REFUSED: frozenset({S}),
        _ST.CANCELLED: frozenset({P}),
    },
    # A refused parcel goes back to its owners to be amended (and declared ready again).
    _ST.REFUSED: {_ST.SCHEDULED: frozenset({P}), _ST.CANCELLED: frozenset({P})},
    _ST.APPROVED: {_ST.SENT: frozenset({P}), _ST.CANCELLED: frozenset({P})},
    _ST.SENT: {_ST.STORES: frozenset({T}), _ST.LOST: frozenset({T})},
    _ST.STORES: {
        _ST.BEAMLINE: frozenset({T, L}),
        # Never taken to the beamline (the session was cancelled): straight to the return shelf.
        _ST.BACK_STORES: frozenset({T}),
        _ST.LOST: frozenset({T}),
    },
    _ST.BEAMLINE: {_ST.BACK_STORES: frozenset({T, L})},
    _ST.BACK_STORES: {
        _ST.BACK_USER: frozenset({T}),
        _ST.DESTROYED: frozenset({T}),
        _ST.BEAMLINE: frozenset({T, L}),
        _ST.LOST: frozenset({T}),
    },
    # Found again.
    _ST.LOST: {_ST.STORES: frozenset({T})},
    _ST.BACK_USER: {},
    _ST.DESTROYED: {},
    _ST.CANCELLED: {},
}
#: The content may change only while the parcel is being prepared.
EDITABLE = frozenset({ParcelStatus.CREATED, ParcelStatus.SCHEDULED})


class Address(pydantic.BaseModel):
    """A postal address for a courier, with who to call."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: str
    organisation: str = ""
    street: tuple[str, ...]
    postcode: str = ""
    city: str
    #: ISO 3166-1 alpha-2 code (`FR`, `DE`).
    country: str
    email: str | None = None
    phone: str | None = None

    def lines(self) -> tuple[str, ...]:
        """The address as a label prints it."""
        city = f"{self.postcode} {self.city}".strip()
        return tuple(
            line
            for line in (self.name, self.organisation, *self.street, city, self.country)
            if line
        )


def check_address(address: Address, field: str) -> Address:
    """An address a courier can use: every line short, one line each, a country code."""

    def line(value: str, name: str, *, required: bool = False) -> None:
        check_text(value, f"{field}.{name}", max_length=MAX_ADDRESS_LINE, required=required)
        if "\n" in value or "\r" in value or "\t" in value:
            raise InvalidCommand(f"{field}.{name} must be a single line", f"{field}.{name}")

    line(address.name, "name", required=True)
    line(address.organisation, "organisation")
    if not 1 <= len(address.street) <= 4:
        raise InvalidCommand(f"{field}.street needs 1 to 4 lines", f"{field}.street")
    for index, street in enumerate(address.street):
        line(street, f"street.{index}", required=True)
    line(address.postcode, "postcode")
    line(address.city, "city", required=True)
    if not _COUNTRY.fullmatch(address.country):
        raise InvalidCommand(
            f"{field}.country {address.country[:10]!r} is not an ISO 3166 code (e.g. 'FR')",
            f"{field}.country",
        )
    if address.email is not None:
        check_email(address.email, f"{field}.email")
    if address.phone is not None and not _PHONE.fullmatch(address.phone):
        raise InvalidCommand(
            f"{field}.phone {address.phone[:50]!r} is not a telephone number", f"{field}.phone"
        )
    return address


class ItemSpec(pydantic.BaseModel):
    """What an item is, as declared by its owners."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: ItemKind
    #: For containers.
    container_type: ContainerType | None = None
    #: The container (another item of the parcel) this item is in.
    parent_id: UUID | None = None
    #: For samples: the catalogue sample.
    sample_id: UUID | None = None
    description: str = ""
    #: UN dangerous-goods classes (`2.2`, `6.1`); empty when nothing is dangerous.
    dangerous_goods: tuple[str, ...] = ()
    storage: tuple[Storage, ...] = ()
    comment: str = ""


# -- events ---------------------------------------------------------------------------------


class ShipmentCreated(Event):
    """An investigation's team opened a shipment of parcels to the facility."""

    shipment_id: UUID
    investigation_id: UUID
    proposal: str
    name: str
    sender: Address
    return_address: Address | None
    courier_company: str
    courier_account: str
    comment: str


class ShipmentUpdated(Event):
    """Some of a shipment's fields changed; the others are absent."""

    name: str | None = None
    sender: Address | None = None
    return_address: Address | None = None
    courier_company: str | None = None
    courier_account: str | None = None
    comment: str | None = None


class ParcelCreated(Event):
    """A parcel was added to a shipment."""

    parcel_id: UUID
    shipment_id: UUID
    investigation_id: UUID
    proposal: str
    name: str
    after_experiment: AfterExperiment
    comment: str
    occurred_at: datetime


class ParcelChanged(Event):
    """Some of a parcel's own fields changed while it was being prepared."""

    name: str | None = None
    after_experiment: AfterExperiment | None = None
    comment: str | None = None


class ItemAdded(Event):
    """An item was declared in a parcel."""

    item_id: UUID
    item: ItemSpec


class ItemChanged(Event):
    """An item's declaration was replaced."""

    item_id: UUID
    item: ItemSpec


class ItemRemoved(Event):
    """An item was taken out of a parcel."""

    item_id: UUID


class ParcelStatusChanged(Event):
    """A parcel moved a step in its life cycle; who moved it is the event's actor."""

    status: ParcelStatus
    previous: ParcelStatus
    #: The part the actor played (`stores`, `safety`, `system` for automatic approval).
    role: Actor
    occurred_at: datetime
    location: str | None = None
    comment: str = ""
    #: SCHEDULED: the session (investigation) the parcel is for, and its beamline and start.
    session_id: UUID | None = None
    instrument: str | None = None
    session_start: datetime | None = None
    #: SENT and BACK_USER: the courier's tracking number.
    tracking_number: str | None = None
    #: READY: the hazard classes declared, which the safety group is asked to check.
    dangerous_goods: tuple[str, ...] = ()


SHIPMENT_EVENTS = (ShipmentCreated, ShipmentUpdated)
PARCEL_EVENTS = (
    ParcelCreated,
    ParcelChanged,
    ItemAdded,
    ItemChanged,
    ItemRemoved,
    ParcelStatusChanged,
)


def changed_fields(event: ShipmentUpdated | ParcelChanged) -> dict[str, Any]:
    """The fields a change event sets. Absent fields are None: an event read back from the
    store carries every field, so which were set is told by value, not by `model_fields_set`."""
    return {
        name: value
        for name in type(event).model_fields
        if (value := getattr(event, name)) is not None
    }


def shipment_id_for(investigation_id: UUID, name: str) -> UUID:
    """A shipment's id: names are unique within an investigation."""
    return derived_id("shipment", str(investigation_id), name)


def parcel_id_for(shipment_id: UUID, name: str) -> UUID:
    """A parcel's id: names are unique within a shipment."""
    return derived_id("parcel", str(shipment_id), name)


def item_id_for(parcel_id: UUID, name: str) -> UUID:
    """An item's id: names are unique within a parcel."""
    return derived_id("parcel-item", str(parcel_id), name)


def is_industrial(proposal: str) -> bool:
    """Whether a proposal is an industrial (paying) one."""
    return proposal.startswith(INDUSTRIAL_PREFIXES)


# -- who plays which part --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackingFacts:
    """What the rules need to know of a parcel's investigation and the session it is for."""

    investigation: InvestigationFacts
    #: The session (investigation) the parcel is scheduled for, if any.
    session: InvestigationFacts | None = None


def roles_of(principal: Principal, facts: TrackingFacts) -> frozenset[Actor]:
    """The parts the caller may play for parcels of this investigation."""
    if principal.is_admin:
        return frozenset({P, S, T, L})
    roles: set[Actor] = set()
    beamline = facts.session or facts.investigation
    if principal.kind is PrincipalKind.USER and principal.username is not None:
        if facts.investigation.participants.get(principal.username) in WRITING_ROLES:
            roles.add(P)
        local = {facts.investigation.participants.get(principal.username)}
        if facts.session is not None:
            local.add(facts.session.participants.get(principal.username))
        if Role.LOCAL_CONTACT in local or beamline.instrument in principal.scientist_of:
            roles.add(L)
        if SAFETY_GROUP in principal.groups:
            roles.add(S)
        if STORES_GROUP in principal.groups:
            roles.add(T)
    elif principal.kind is PrincipalKind.API_KEY and principal.instrument == beamline.instrument:
        # The beamline's own software (a sample changer reading barcodes) does beamline steps.
        roles.add(L)
    return frozenset(roles)


def can_read_parcels(principal: Principal, facts: TrackingFacts) -> bool:
    """See the investigation's shipments and parcels (addresses are personal: never public)."""
    if roles_of(principal, facts):
        return True
    # Collaborators read what their team ships without preparing it.
    return principal.kind is PrincipalKind.USER and (
        principal.username in facts.investigation.participants
    )


def can_see_contact_details(principal: Principal, facts: TrackingFacts) -> bool:
    """Addresses, telephone numbers and the courier account: for who prepares, checks or
    ships the parcel; not for the beamline's staff and software, nor read-only collaborators
    (a courier account can be billed)."""
    return bool(roles_of(principal, facts) & {P, S, T})


def is_tracking_staff(principal: Principal, group: str) -> bool:
    """Whether the caller works in the safety group or the stores (worklists)."""
    return principal.is_admin or (
        principal.kind is PrincipalKind.USER and group in principal.groups
    )


# -- shipments ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shipment:
    """A shipment as its events leave it."""

    shipment_id: UUID | None = None
    investigation_id: UUID | None = None
    proposal: str = ""
    name: str = ""
    sender: Address | None = None
    return_address: Address | None = None
    courier_company: str = ""
    courier_account: str = ""
    comment: str = ""

    @property
    def exists(self) -> bool:
        """Whether the shipment was created."""
        return self.shipment_id is not None


@dataclass(frozen=True, slots=True)
class CreateShipment:
    """Open a shipment for an investigation."""

    investigation_id: UUID
    proposal: str
    name: str
    sender: Address
    return_address: Address | None = None
    courier_company: str = ""
    courier_account: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class UpdateShipment:
    """Change a shipment's fields (None leaves a field as it is)."""

    name: str | None = None
    sender: Address | None = None
    return_address: Address | None = None
    courier_company: str | None = None
    courier_account: str | None = None
    comment: str | None = None


ShipmentCommand = CreateShipment | UpdateShipment


def _check_courier(company: str | None, account: str | None) -> None:
    if company is not None:
        check_text(company, "courier_company", max_length=MAX_ADDRESS_LINE)
    if account is not None:
        check_text(account, "courier_account", max_length=64)


def evolve_shipment(state: Shipment, event: Event) -> Shipment:
    """Fold one event into a shipment."""
    match event:
        case ShipmentCreated():
            return Shipment(**{k: getattr(event, k) for k in Shipment.__slots__})
        case ShipmentUpdated():
            return replace(state, **changed_fields(event))
    return state


def decide_shipment(state: Shipment, command: ShipmentCommand) -> list[Event]:
    """The events a shipment command produces, or a domain error."""
    if isinstance(command, CreateShipment):
        check_name(command.name, "name")
        if state.exists:
            raise AlreadyExists(f"shipment {command.name!r} already exists", "name")
        check_address(command.sender, "sender")
        if command.return_address is not None:
            check_address(command.return_address, "return_address")
        _check_courier(command.courier_company, command.courier_account)
        return [
            ShipmentCreated(
                shipment_id=shipment_id_for(command.investigation_id, command.name),
                investigation_id=command.investigation_id,
                proposal=command.proposal,
                name=command.name,
                sender=command.sender,
                return_address=command.return_address,
                courier_company=command.courier_company,
                courier_account=command.courier_account,
                comment=check_text(command.comment, "comment"),
            )
        ]
    if not state.exists:
        raise NotFound("no such shipment")
    if command.name is not None and command.name != state.name:
        # The name is the natural key of the id: renaming would orphan the id.
        raise DomainError("a shipment's name cannot change; give it a comment instead", "name")
    if command.sender is not None:
        check_address(command.sender, "sender")
    if command.return_address is not None:
        check_address(command.return_address, "return_address")
    _check_courier(command.courier_company, command.courier_account)
    if command.comment is not None:
        check_text(command.comment, "comment")
    changes = {
        name: new
        for name in ("sender", "return_address", "courier_company", "courier_account", "comment")
        if (new := getattr(command, name)) is not None and new != getattr(state, name)
    }
    return [ShipmentUpdated(**changes)] if changes else []


SHIPMENT: Aggregate[Shipment, ShipmentCommand] = Aggregate(
    "shipment", Shipment(), evolve_shipment, decide_shipment
)


# -- parcels ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parcel:
    """A parcel as its events leave it."""

    parcel_id: UUID | None = None
    shipment_id: UUID | None = None
    investigation_id: UUID | None = None
    proposal: str = ""
    name: str = ""
    after_experiment: AfterExperiment = AfterExperiment.RETURN
    comment: str = ""
    status: ParcelStatus = ParcelStatus.CREATED
    status_at: datetime | None = None
    session_id: UUID | None = None
    items: dict[UUID, ItemSpec] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether the parcel was created."""
        return self.parcel_id is not None

    @property
    def dangerous_goods(self) -> tuple[str, ...]:
        """Every hazard class declared by an item, sorted."""
        return tuple(sorted({c for item in self.items.values() for c in item.dangerous_goods}))


@dataclass(frozen=True, slots=True)
class CreateParcel:
    """Add a parcel to a shipment."""

    shipment_id: UUID
    investigation_id: UUID
    proposal: str
    name: str
    now: datetime
    after_experiment: AfterExperiment = AfterExperiment.RETURN
    comment: str = ""
    #: Whether the shipment has a return address (a parcel to return needs one).
    has_return_address: bool = True


@dataclass(frozen=True, slots=True)
class ChangeParcel:
    """Change a parcel's own fields while it is being prepared (None leaves a field)."""

    name: str | None = None
    after_experiment: AfterExperiment | None = None
    comment: str | None = None
    has_return_address: bool = True


@dataclass(frozen=True, slots=True)
class AddItem:
    """Declare an item; a sample item names a sample of the parcel's investigation."""

    item: ItemSpec
    #: The investigation of `item.sample_id`, looked up by the caller (None: no such sample).
    sample_investigation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class ChangeItem:
    """Replace an item's declaration (its name, and so its id, stay)."""

    item_id: UUID
    item: ItemSpec
    sample_investigation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class RemoveItem:
    """Take an item out of the parcel (a container only when empty)."""

    item_id: UUID


@dataclass(frozen=True, slots=True)
class Session:
    """The session (an investigation of the same proposal) a parcel is scheduled for."""

    investigation_id: UUID
    proposal: str
    instrument: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class MoveParcel:
    """Take a parcel a step in its life cycle; `roles` are the parts the caller plays."""

    to: ParcelStatus
    roles: frozenset[Actor]
    now: datetime
    location: str | None = None
    comment: str = ""
    #: SCHEDULED: the session, looked up by the caller.
    session: Session | None = None
    tracking_number: str | None = None


ParcelCommand = CreateParcel | ChangeParcel | AddItem | ChangeItem | RemoveItem | MoveParcel


def evolve_parcel(state: Parcel, event: Event) -> Parcel:
    """Fold one event into a parcel."""
    match event:
        case ParcelCreated():
            return Parcel(
                parcel_id=event.parcel_id,
                shipment_id=event.shipment_id,
                investigation_id=event.investigation_id,
                proposal=event.proposal,
                name=event.name,
                after_experiment=event.after_experiment,
                comment=event.comment,
                status_at=event.occurred_at,
            )
        case ParcelChanged():
            return replace(state, **changed_fields(event))
        case ItemAdded() | ItemChanged():
            return replace(state, items={**state.items, event.item_id: event.item})
        case ItemRemoved():
            items = dict(state.items)
            items.pop(event.item_id, None)
            return replace(state, items=items)
        case ParcelStatusChanged():
            session = event.session_id if event.session_id is not None else state.session_id
            return replace(
                state, status=event.status, status_at=event.occurred_at, session_id=session
            )
    return state


def where_is(status: ParcelStatus, named: str | None, instrument: str | None) -> str | None:
    """Where a parcel is: the place its last step named, else what its status implies."""
    return named or default_location(status, instrument)


def default_location(status: ParcelStatus, instrument: str | None) -> str | None:
    """Where a parcel in `status` is when its last step named no place."""
    match status:
        case ParcelStatus.SENT:
            return "in transit to the facility"
        case ParcelStatus.STORES | ParcelStatus.BACK_STORES:
            return "stores"
        case ParcelStatus.BEAMLINE:
            return instrument or "beamline"
        case ParcelStatus.BACK_USER:
            return "in transit to the user"
        case ParcelStatus.LOST:
            return "unknown"
        case ParcelStatus.DESTROYED | ParcelStatus.CANCELLED:
            return None
    return "with the user"


def allowed_steps(status: ParcelStatus) -> str:
    """The steps out of a status and who takes them, for error messages."""
    steps = TRANSITIONS[status]
    if not steps:
        return f"a {status} parcel goes nowhere else"
    named = ", ".join(f"{to} (by {' or '.join(sorted(actors))})" for to, actors in steps.items())
    return f"a {status} parcel can move to {named}"


def _check_after_experiment(after: AfterExperiment | None, has_return_address: bool) -> None:
    if after is AfterExperiment.RETURN and not has_return_address:
        raise InvalidCommand(
            "the shipment has no return address: give one, or ask for the parcel to be destroyed",
            "after_experiment",
        )


def _check_item(state: Parcel, item: ItemSpec, sample_investigation: UUID | None, own: UUID) -> int:
    """Check a declaration; return how many containers the item is in."""
    check_name(item.name, "name")
    check_text(item.description, "description")
    check_text(item.comment, "comment")
    if item.kind is ItemKind.CONTAINER:
        if item.container_type is None:
            raise InvalidCommand("a container needs a container_type", "container_type")
    elif item.container_type is not None:
        raise InvalidCommand(f"a {item.kind} item has no container_type", "container_type")
    if item.kind is ItemKind.SAMPLE:
        if item.sample_id is None:
            raise InvalidCommand("a sample item names its sample", "sample_id")
        if sample_investigation != state.investigation_id:
            raise InvalidCommand(
                f"sample {item.sample_id} is not a sample of this investigation", "sample_id"
            )
    elif item.sample_id is not None:
        raise InvalidCommand(f"a {item.kind} item has no sample_id", "sample_id")
    for index, code in enumerate(item.dangerous_goods):
        if code not in HAZARD_CLASSES:
            raise InvalidCommand(
                f"dangerous_goods[{index}] {code[:10]!r} is not a UN hazard class "
                f"(one of {', '.join(HAZARD_CLASSES)})",
                f"dangerous_goods.{index}",
            )
    return _check_parent(state, item.parent_id, own)


def _check_parent(state: Parcel, parent_id: UUID | None, own: UUID) -> int:
    """The parent is a container of this parcel, not the item itself nor inside it; return
    how many containers the item is in."""
    depth = 0
    current = parent_id
    while current is not None:
        parent = state.items.get(current)
        if parent is None:
            raise InvalidCommand(f"parent_id {current} is not an item of this parcel", "parent_id")
        if parent.kind is not ItemKind.CONTAINER:
            raise InvalidCommand(f"parent {parent.name!r} is not a container", "parent_id")
        if current == own:
            raise InvalidCommand("an item cannot be inside itself", "parent_id")
        depth += 1
        if depth > MAX_DEPTH:
            raise InvalidCommand(f"containers nest at most {MAX_DEPTH} deep", "parent_id")
        current = parent.parent_id
    return depth


def _levels_inside(state: Parcel, item_id: UUID) -> int:
    """How many levels of items an item holds (0: none)."""
    children: dict[UUID, list[UUID]] = {}
    for child_id, child in state.items.items():
        if child.parent_id is not None:
            children.setdefault(child.parent_id, []).append(child_id)
    levels, frontier = 0, children.get(item_id, [])
    while frontier and levels <= MAX_DEPTH:
        levels += 1
        frontier = [grandchild for child in frontier for grandchild in children.get(child, [])]
    return levels


def _refuse_if_frozen(state: Parcel) -> None:
    if state.status not in EDITABLE:
        raise DomainError(
            f"the parcel is {state.status}: its content is frozen once declared ready", "status"
        )


def _item_specs(item: ItemSpec) -> ItemSpec:
    """The declaration as stored: hazard classes and storage sorted and without repeats."""
    return item.model_copy(
        update={
            "dangerous_goods": tuple(sorted(set(item.dangerous_goods))),
            "storage": tuple(sorted(set(item.storage))),
        }
    )


def _create_parcel(state: Parcel, command: CreateParcel) -> list[Event]:
    check_name(command.name, "name")
    if state.exists:
        raise AlreadyExists(f"parcel {command.name!r} already exists in this shipment", "name")
    _check_after_experiment(command.after_experiment, command.has_return_address)
    return [
        ParcelCreated(
            parcel_id=parcel_id_for(command.shipment_id, command.name),
            shipment_id=command.shipment_id,
            investigation_id=command.investigation_id,
            proposal=command.proposal,
            name=command.name,
            after_experiment=command.after_experiment,
            comment=check_text(command.comment, "comment"),
            occurred_at=command.now,
        )
    ]


def _change_parcel(state: Parcel, command: ChangeParcel) -> list[Event]:
    _refuse_if_frozen(state)
    if command.name is not None and command.name != state.name:
        raise DomainError("a parcel's name cannot change; give it a comment instead", "name")
    if command.after_experiment is not None:
        _check_after_experiment(command.after_experiment, command.has_return_address)
    if command.comment is not None:
        check_text(command.comment, "comment")
    changes: dict[str, Any] = {
        name: new
        for name in ("after_experiment", "comment")
        if (new := getattr(command, name)) is not None and new != getattr(state, name)
    }
    return [ParcelChanged(**changes)] if changes else []


def _add_item(state: Parcel, command: AddItem) -> list[Event]:
    _refuse_if_frozen(state)
    assert state.parcel_id is not None
    item_id = item_id_for(state.parcel_id, command.item.name)
    _check_item(state, command.item, command.sample_investigation_id, item_id)
    if item_id in state.items:
        raise AlreadyExists(f"the parcel already holds an item {command.item.name!r}", "name")
    if len(state.items) >= MAX_ITEMS:
        raise DomainError(f"a parcel holds at most {MAX_ITEMS} items", "items")
    return [ItemAdded(item_id=item_id, item=_item_specs(command.item))]


def _change_item(state: Parcel, command: ChangeItem) -> list[Event]:
    _refuse_if_frozen(state)
    old = state.items.get(command.item_id)
    if old is None:
        raise NotFound("no such item in this parcel")
    if command.item.name != old.name:
        raise DomainError("an item's name cannot change; remove it and add another", "name")
    if command.item.kind is not old.kind and any(
        i.parent_id == command.item_id for i in state.items.values()
    ):
        raise DomainError(f"{old.name!r} holds items: it must stay a container", "kind")
    depth = _check_item(state, command.item, command.sample_investigation_id, command.item_id)
    if depth + _levels_inside(state, command.item_id) > MAX_DEPTH:
        # Moving a container moves what it holds: its deepest item must stay within bounds.
        raise InvalidCommand(
            f"containers nest at most {MAX_DEPTH} deep: {old.name!r} holds items "
            f"{_levels_inside(state, command.item_id)} levels down",
            "parent_id",
        )
    new = _item_specs(command.item)
    return [] if new == old else [ItemChanged(item_id=command.item_id, item=new)]


def _remove_item(state: Parcel, command: RemoveItem) -> list[Event]:
    _refuse_if_frozen(state)
    old = state.items.get(command.item_id)
    if old is None:
        raise NotFound("no such item in this parcel")
    inside = sorted(i.name for i in state.items.values() if i.parent_id == command.item_id)
    if inside:
        raise DomainError(
            f"{old.name!r} still holds {', '.join(inside[:5])}; take them out first", "item_id"
        )
    return [ItemRemoved(item_id=command.item_id)]


def _move(state: Parcel, command: MoveParcel) -> list[Event]:
    steps = TRANSITIONS[state.status]
    actors = steps.get(command.to)
    if actors is None:
        raise DomainError(f"{allowed_steps(state.status)}; not {command.to}", "status")
    role = next((actor for actor in (T, S, L, P) if actor in actors & command.roles), None)
    if role is None:
        parts = " or ".join(sorted(actors))
        raise Forbidden(f"moving a {state.status} parcel to {command.to} is for the {parts}")
    check_aware(command.now, "time")
    if state.status_at is not None and command.now < state.status_at:
        raise InvalidCommand(
            f"time {command.now.isoformat()} is before the parcel's last step "
            f"({state.status_at.isoformat()})",
            "time",
        )
    location = command.location
    if location is not None:
        check_text(location, "location", max_length=200, required=True)
        if "\n" in location or "\r" in location:
            raise InvalidCommand("location must be a single line", "location")
    check_text(command.comment, "comment")
    details: dict[str, Any] = {}
    if command.to is ParcelStatus.SCHEDULED:
        details = _session_details(state, command.session, command.now)
    elif command.session is not None:
        raise InvalidCommand("only scheduling names a session", "session_id")
    if command.to in (ParcelStatus.SENT, ParcelStatus.BACK_USER):
        details["tracking_number"] = _tracking_number(command.tracking_number)
    elif command.tracking_number is not None:
        raise InvalidCommand(
            "a tracking number belongs to sending (SENT) or returning (BACK_USER)",
            "tracking_number",
        )
    if command.to is ParcelStatus.READY:
        if not state.items:
            raise DomainError("an empty parcel cannot be declared ready: add its items", "items")
        details["dangerous_goods"] = state.dangerous_goods
    if command.to is ParcelStatus.REFUSED and not command.comment.strip():
        raise InvalidCommand("a refusal says why in its comment", "comment")
    if command.to is ParcelStatus.BACK_USER and state.after_experiment is AfterExperiment.DESTROY:
        raise DomainError("its owners asked for this parcel to be destroyed, not returned")
    if (
        command.to is ParcelStatus.DESTROYED
        and state.after_experiment is AfterExperiment.RETURN
        and not command.comment.strip()
    ):
        # Destroying is the step that cannot be undone: against the owners' wish, say why.
        raise InvalidCommand(
            "its owners asked for this parcel back: destroying it says why in its comment",
            "comment",
        )
    moved = ParcelStatusChanged(
        status=command.to,
        previous=state.status,
        role=role,
        occurred_at=command.now,
        location=location,
        comment=command.comment,
        **details,
    )
    if command.to is ParcelStatus.READY and not state.dangerous_goods:
        # Nothing for the safety group to check: approval follows at once.
        approved = ParcelStatusChanged(
            status=ParcelStatus.APPROVED,
            previous=ParcelStatus.READY,
            role=Actor.SYSTEM,
            occurred_at=command.now,
            comment="approved automatically: no dangerous goods declared",
        )
        return [moved, approved]
    return [moved]


def _session_details(state: Parcel, session: Session | None, now: datetime) -> dict[str, Any]:
    if session is None:
        raise InvalidCommand("scheduling names the session the parcel is for", "session_id")
    if session.proposal != state.proposal:
        raise InvalidCommand(
            # Not naming the session's own proposal: any investigation id could be probed.
            f"session {session.investigation_id} is not a session of proposal {state.proposal}",
            "session_id",
        )
    if session.end is not None and session.end < now:
        raise InvalidCommand(
            f"session {session.investigation_id} ended on {session.end.date().isoformat()}",
            "session_id",
        )
    return {
        "session_id": session.investigation_id,
        "instrument": session.instrument,
        "session_start": session.start,
    }


def _tracking_number(number: str | None) -> str:
    if number is None:
        raise InvalidCommand("sending needs the courier's tracking number", "tracking_number")
    if not _TRACKING.fullmatch(number):
        raise InvalidCommand(
            f"tracking_number {number[:70]!r} must be 3-64 letters, digits, spaces, '._/-', "
            "beginning and ending with a letter or digit",
            "tracking_number",
        )
    return number


def decide_parcel(state: Parcel, command: ParcelCommand) -> list[Event]:
    """The events a parcel command produces, or a domain error."""
    if isinstance(command, CreateParcel):
        return _create_parcel(state, command)
    if not state.exists:
        raise NotFound("no such parcel")
    match command:
        case ChangeParcel():
            return _change_parcel(state, command)
        case AddItem():
            return _add_item(state, command)
        case ChangeItem():
            return _change_item(state, command)
        case RemoveItem():
            return _remove_item(state, command)
        case MoveParcel():
            return _move(state, command)
    raise InvalidCommand(f"unknown command {type(command).__name__}")


PARCEL: Aggregate[Parcel, ParcelCommand] = Aggregate(
    "parcel", Parcel(), evolve_parcel, decide_parcel
)
