"""`/api/v1/tracking`: shipments, parcels and their items and steps, where samples are, the
stores' and safety worklists, parcel labels and the mail outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from catalogue.api.auth import CallerDep
from catalogue.api.dependencies import ServicesDep
from catalogue.api.pages import DEFAULT, CursorQuery, LimitQuery, PageOf
from catalogue.api.times import Instant
from catalogue.api.versions import IfMatchHeader, parse_if_match, set_etag
from catalogue.domain import tracking as tr
from catalogue.errors import InvalidCommand
from catalogue.outbox import OutboxStatus
from catalogue.portal import tracking as portal

router = APIRouter(prefix="/api/v1/tracking", tags=["sample tracking"])

Name = Annotated[str, Field(min_length=1, max_length=200)]
Line = Annotated[str, Field(max_length=120)]
Text = Annotated[str, Field(max_length=4000)]
InstrumentQuery = Annotated[
    str | None, Query(max_length=32, description="Only parcels for this beamline.")
]


class AddressModel(BaseModel):
    """A postal address."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Dr Ada Lovelace",
                    "organisation": "University of Grenoble",
                    "street": ["1 rue de la Chimie"],
                    "postcode": "38000",
                    "city": "Grenoble",
                    "country": "FR",
                    "email": "ada@example.org",
                    "phone": "+33 4 76 00 00 00",
                }
            ]
        },
    )

    name: Line
    organisation: Line = ""
    street: list[Line] = Field(min_length=1, max_length=4)
    postcode: Line = ""
    city: Line
    country: str = Field(max_length=2, description="ISO 3166-1 alpha-2 code.")
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)

    def domain(self) -> tr.Address:
        """The domain's value."""
        return tr.Address(**{**self.model_dump(), "street": tuple(self.street)})


class ShipmentCreate(BaseModel):
    """A new shipment of an investigation."""

    model_config = ConfigDict(extra="forbid")

    investigation_id: UUID
    name: Name
    sender: AddressModel
    return_address: AddressModel | None = None
    courier_company: Line = ""
    courier_account: str = Field("", max_length=64)
    comment: Text = ""


class ShipmentPatch(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    sender: AddressModel | None = None
    return_address: AddressModel | None = None
    courier_company: Line | None = None
    courier_account: str | None = Field(None, max_length=64)
    comment: Text | None = None


#: Contact details are null for callers who may not see them.
HIDDEN = "null for callers who do not prepare, check or ship the parcel"


class Shipment(BaseModel):
    """A shipment."""

    id: UUID
    investigation_id: UUID
    proposal: str
    name: str
    sender: AddressModel | None = Field(description=f"The sender; {HIDDEN}.")
    return_address: AddressModel | None = Field(description=f"Where to return; {HIDDEN}.")
    courier_company: str
    courier_account: str | None = Field(description=f"The courier account; {HIDDEN}.")
    comment: str
    version: int
    created_at: datetime
    updated_at: datetime


class ParcelCreate(BaseModel):
    """A new parcel in a shipment."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    after_experiment: tr.AfterExperiment = tr.AfterExperiment.RETURN
    comment: Text = ""


class ParcelPatch(BaseModel):
    """Fields to change while the parcel is being prepared."""

    model_config = ConfigDict(extra="forbid")

    after_experiment: tr.AfterExperiment | None = None
    comment: Text | None = None


class NewSampleModel(BaseModel):
    """A sample named by an item: linked if the investigation has it, registered if not."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Text = ""
    chemical_formula: str | None = Field(None, max_length=200)
    safety_information: Text = ""
    hazards: list[str] = Field(default_factory=list, max_length=50)


class ItemModel(BaseModel):
    """An item in a parcel."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Puck A", "kind": "container", "container_type": "puck"},
                {
                    "name": "lysozyme_01",
                    "kind": "sample",
                    "parent": "Puck A",
                    "sample": {"name": "lysozyme_01"},
                    "storage": ["liquid_nitrogen"],
                },
            ]
        },
    )

    name: Name
    kind: tr.ItemKind
    container_type: tr.ContainerType | None = None
    parent_id: UUID | None = None
    parent: Name | None = Field(
        None, description="The container, by item name (declared before it, here or earlier)."
    )
    sample_id: UUID | None = None
    sample: NewSampleModel | None = Field(
        None, description="A sample of the investigation by name; registered if new."
    )
    description: Text = ""
    dangerous_goods: list[str] = Field(
        default_factory=list, max_length=21, description="UN hazard classes (e.g. 2.2, 6.1)."
    )
    storage: list[tr.Storage] = Field(default_factory=list, max_length=8)
    comment: Text = ""

    def spec(self) -> tr.ItemSpec:
        """The domain's declaration."""
        return tr.ItemSpec(
            name=self.name,
            kind=self.kind,
            container_type=self.container_type,
            parent_id=self.parent_id,
            sample_id=self.sample_id,
            description=self.description,
            dangerous_goods=tuple(self.dangerous_goods),
            storage=tuple(self.storage),
            comment=self.comment,
        )

    def as_input(self) -> portal.ItemInput:
        """The portal's input."""
        sample = None
        if self.sample is not None:
            sample = portal.NewSample(
                name=self.sample.name,
                description=self.sample.description,
                chemical_formula=self.sample.chemical_formula,
                safety_information=self.sample.safety_information,
                hazards=tuple(self.sample.hazards),
            )
        return portal.ItemInput(self.spec(), self.parent, sample)


class ItemsCreate(BaseModel):
    """Items to declare, all or none."""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemModel] = Field(min_length=1, max_length=portal.MAX_ITEMS_PER_REQUEST)


class ItemPatch(BaseModel):
    """An item's new declaration (its name stays)."""

    model_config = ConfigDict(extra="forbid")

    kind: tr.ItemKind
    container_type: tr.ContainerType | None = None
    parent_id: UUID | None = None
    sample_id: UUID | None = None
    description: Text = ""
    dangerous_goods: list[str] = Field(default_factory=list, max_length=21)
    storage: list[tr.Storage] = Field(default_factory=list, max_length=8)
    comment: Text = ""


class StepCreate(BaseModel):
    """A step in the parcel's life cycle."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "SENT", "tracking_number": "1Z999AA10123456784"},
                {"status": "STORES", "location": "Stores, shelf B4"},
            ]
        },
    )

    status: tr.ParcelStatus
    location: str | None = Field(None, max_length=200)
    comment: Text = ""
    session_id: UUID | None = Field(None, description="SCHEDULED: the session it is for.")
    tracking_number: str | None = Field(None, max_length=64)
    time: Instant | None = Field(None, description="When it happened, if not now.")


class Step(BaseModel):
    """A step the parcel took: by whom, when, where."""

    version: int
    status: tr.ParcelStatus
    previous: tr.ParcelStatus | None
    role: tr.Actor
    actor: str
    occurred_at: datetime
    location: str | None
    comment: str
    session_id: UUID | None
    tracking_number: str | None


class NextStep(BaseModel):
    """A step the parcel may take next, who takes it, and whether the caller may."""

    status: tr.ParcelStatus
    by: list[tr.Actor]
    allowed: bool


class Item(BaseModel):
    """An item as declared."""

    id: UUID
    name: str
    kind: tr.ItemKind
    container_type: tr.ContainerType | None
    parent_id: UUID | None
    sample_id: UUID | None
    sample_name: str | None = None
    description: str
    dangerous_goods: list[str]
    storage: list[tr.Storage]
    comment: str


class ParcelSummary(BaseModel):
    """A parcel with its current status and place."""

    id: UUID
    shipment_id: UUID
    investigation_id: UUID
    proposal: str
    name: str
    status: tr.ParcelStatus
    status_at: datetime
    location: str | None
    after_experiment: tr.AfterExperiment
    comment: str
    session_id: UUID | None
    instrument: str | None
    session_start: datetime | None
    tracking_number: str | None
    return_tracking_number: str | None
    dangerous: bool
    dangerous_goods: list[str]
    storage: list[tr.Storage]
    item_count: int
    version: int
    created_at: datetime
    updated_at: datetime


class ParcelWithSteps(ParcelSummary):
    """A parcel and its full status history."""

    steps: list[Step]


class Parcel(ParcelWithSteps):
    """A parcel with its shipment's addresses, items, history and possible next steps."""

    shipment_name: str
    sender: AddressModel | None = Field(description=f"The sender; {HIDDEN}.")
    return_address: AddressModel | None = Field(description=f"Where to return; {HIDDEN}.")
    courier_company: str
    items: list[Item]
    next_steps: list[NextStep]


class Placement(BaseModel):
    """A parcel a sample is in, and where that parcel is."""

    parcel_id: UUID
    parcel_name: str
    item_id: UUID | None = None
    containers: list[str] | None = None
    status: tr.ParcelStatus
    status_at: datetime
    location: str | None
    instrument: str | None = None


class SampleWhereabouts(BaseModel):
    """Where a sample is now, and every parcel it travelled in."""

    sample_id: UUID
    name: str
    investigation_id: UUID
    current: Placement | None
    parcels: list[Placement]


class SampleLocation(BaseModel):
    """A sample of an investigation and where it is now (null: never shipped)."""

    sample_id: UUID
    name: str
    current: Placement | None


class OutboxMessage(BaseModel):
    """A mail the catalogue sends, has sent or gave up on."""

    id: UUID
    event_id: UUID
    position: int
    recipient: str
    kind: str
    subject_ref: str
    subject: str
    body: str
    message_id: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    claimed_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


# -- shipments ------------------------------------------------------------------------------


@router.post("/shipments", status_code=status.HTTP_201_CREATED, response_model=Shipment)
def create_shipment(
    body: ShipmentCreate, services: ServicesDep, caller: CallerDep, response: Response
) -> object:
    """Open a shipment for an investigation (its participants do)."""
    command = tr.CreateShipment(
        investigation_id=body.investigation_id,
        proposal="",
        name=body.name,
        sender=body.sender.domain(),
        return_address=None if body.return_address is None else body.return_address.domain(),
        courier_company=body.courier_company,
        courier_account=body.courier_account,
        comment=body.comment,
    )
    shipment_id = portal.create_shipment(services.store, caller, body.investigation_id, command)
    found = portal.get_shipment(services.store, caller, shipment_id)
    response.headers["Location"] = f"/api/v1/tracking/shipments/{shipment_id}"
    set_etag(response, found["version"])
    return found


@router.get("/shipments", response_model=PageOf[Shipment])
def list_shipments(
    investigation_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """An investigation's shipments."""
    page = portal.list_shipments(services.store, caller, investigation_id, cursor, limit)
    return page.as_response()


@router.get("/shipments/{shipment_id}", response_model=Shipment)
def get_shipment(
    shipment_id: UUID, services: ServicesDep, caller: CallerDep, response: Response
) -> object:
    """One shipment."""
    found = portal.get_shipment(services.store, caller, shipment_id)
    set_etag(response, found["version"])
    return found


@router.patch("/shipments/{shipment_id}", response_model=Shipment)
def update_shipment(
    shipment_id: UUID,
    body: ShipmentPatch,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Change a shipment's addresses, courier or comment."""
    for name in ("sender", "return_address", "courier_company", "courier_account", "comment"):
        if name in body.model_fields_set and getattr(body, name) is None:
            # Absent means "unchanged": a null would silently change nothing.
            raise InvalidCommand(f"{name} cannot be null: leave it out to keep it", name)
    command = tr.UpdateShipment(
        sender=None if body.sender is None else body.sender.domain(),
        return_address=None if body.return_address is None else body.return_address.domain(),
        courier_company=body.courier_company,
        courier_account=body.courier_account,
        comment=body.comment,
    )
    portal.update_shipment(services.store, caller, shipment_id, command, parse_if_match(if_match))
    found = portal.get_shipment(services.store, caller, shipment_id)
    set_etag(response, found["version"])
    return found


@router.post(
    "/shipments/{shipment_id}/parcels",
    status_code=status.HTTP_201_CREATED,
    response_model=Parcel,
)
def create_parcel(
    shipment_id: UUID,
    body: ParcelCreate,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
) -> object:
    """Add a parcel to a shipment."""
    parcel_id = portal.create_parcel(
        services.store, caller, shipment_id, body.name, body.after_experiment, body.comment
    )
    response.headers["Location"] = f"/api/v1/tracking/parcels/{parcel_id}"
    return _parcel(services, caller, parcel_id, response)


# -- parcels --------------------------------------------------------------------------------


def _parcel(
    services: ServicesDep, caller: CallerDep, parcel_id: UUID, response: Response
) -> object:
    found = portal.get_parcel(services.store, caller, parcel_id)
    set_etag(response, found["version"])
    return found


@router.get("/parcels", response_model=PageOf[ParcelWithSteps])
def list_parcels(
    investigation_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    status: tr.ParcelStatus | None = None,
    shipment_id: UUID | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """Parcels an investigation sends, or that are scheduled for it, with their history."""
    page = portal.list_parcels(
        services.store, caller, investigation_id, status, shipment_id, cursor, limit
    )
    return page.as_response()


@router.get("/parcels/{parcel_id}", response_model=Parcel)
def get_parcel(
    parcel_id: UUID, services: ServicesDep, caller: CallerDep, response: Response
) -> object:
    """A parcel: addresses, items, every step (who, when, where), and the possible next ones."""
    return _parcel(services, caller, parcel_id, response)


@router.patch("/parcels/{parcel_id}", response_model=Parcel)
def change_parcel(
    parcel_id: UUID,
    body: ParcelPatch,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Change a parcel's comment or what happens to it after the experiment."""
    command = tr.ChangeParcel(after_experiment=body.after_experiment, comment=body.comment)
    portal.change_parcel(services.store, caller, parcel_id, command, parse_if_match(if_match))
    return _parcel(services, caller, parcel_id, response)


@router.post(
    "/parcels/{parcel_id}/items", status_code=status.HTTP_201_CREATED, response_model=Parcel
)
def add_items(
    parcel_id: UUID,
    body: ItemsCreate,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Declare items (up to 500, all or none); samples named by `sample` are registered if new."""
    items = [item.as_input() for item in body.items]
    portal.add_items(services.store, caller, parcel_id, items, parse_if_match(if_match))
    return _parcel(services, caller, parcel_id, response)


@router.put("/parcels/{parcel_id}/items/{item_id}", response_model=Parcel)
def change_item(
    parcel_id: UUID,
    item_id: UUID,
    body: ItemPatch,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Replace an item's declaration while the parcel is being prepared."""
    spec = tr.ItemSpec(
        name="-",  # the item keeps its name; the portal fills it in
        kind=body.kind,
        container_type=body.container_type,
        parent_id=body.parent_id,
        sample_id=body.sample_id,
        description=body.description,
        dangerous_goods=tuple(body.dangerous_goods),
        storage=tuple(body.storage),
        comment=body.comment,
    )
    portal.change_item(services.store, caller, parcel_id, item_id, spec, parse_if_match(if_match))
    return _parcel(services, caller, parcel_id, response)


@router.delete("/parcels/{parcel_id}/items/{item_id}", response_model=Parcel)
def remove_item(
    parcel_id: UUID,
    item_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Take an item out of a parcel while it is being prepared."""
    portal.remove_item(services.store, caller, parcel_id, item_id, parse_if_match(if_match))
    return _parcel(services, caller, parcel_id, response)


@router.post("/parcels/{parcel_id}/steps", response_model=Parcel)
def move_parcel(
    parcel_id: UUID,
    body: StepCreate,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> object:
    """Take the parcel a step in its life cycle; a step it cannot take is refused with the
    ones it can (409), a step that is another actor's with who may (403)."""
    step = portal.Step(
        to=body.status,
        location=body.location,
        comment=body.comment,
        session_id=body.session_id,
        tracking_number=body.tracking_number,
        time=body.time,
    )
    moved = portal.move_parcel(services.store, caller, parcel_id, step, parse_if_match(if_match))
    set_etag(response, moved["version"])
    return moved


@router.get(
    "/parcels/{parcel_id}/label.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The label."}},
)
def parcel_label(parcel_id: UUID, services: ServicesDep, caller: CallerDep) -> Response:
    """A printable label (A5 PDF): addresses, proposal, dangerous goods, and a QR code that
    opens the parcel's page."""
    pdf = portal.parcel_label(
        services.store,
        caller,
        parcel_id,
        services.settings.base_url,
        services.settings.stores_address,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="parcel-{parcel_id}.pdf"',
            "Cache-Control": "private, no-cache",
        },
    )


# -- where samples are ------------------------------------------------------------------------


@router.get("/samples/{sample_id}", response_model=SampleWhereabouts)
def sample_whereabouts(sample_id: UUID, services: ServicesDep, caller: CallerDep) -> object:
    """Where a sample is now (parcel, containers, status, place) and where it has been."""
    return portal.sample_whereabouts(services.store, caller, sample_id)


@router.get("/samples", response_model=PageOf[SampleLocation])
def investigation_whereabouts(
    investigation_id: UUID,
    services: ServicesDep,
    caller: CallerDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """Where every sample of an investigation is now."""
    page = portal.investigation_whereabouts(services.store, caller, investigation_id, cursor, limit)
    return page.as_response()


# -- worklists --------------------------------------------------------------------------------


@router.get("/worklists/stores", response_model=PageOf[ParcelSummary])
def stores_worklist(
    services: ServicesDep,
    caller: CallerDep,
    section: Literal["expected", "in_stores", "to_return"] = "expected",
    instrument: InstrumentQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """The stores' parcels: `expected` (approved or sent), `in_stores` (in the stores or at a
    beamline), `to_return` (back in the stores after the experiment); soonest session first."""
    page = portal.stores_worklist(services.store, caller, section, instrument, cursor, limit)
    return page.as_response()


@router.get("/worklists/safety", response_model=PageOf[ParcelSummary])
def safety_worklist(
    services: ServicesDep,
    caller: CallerDep,
    instrument: InstrumentQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """Parcels declaring dangerous goods that await the safety group's approval."""
    page = portal.safety_worklist(services.store, caller, instrument, cursor, limit)
    return page.as_response()


# -- the outbox -------------------------------------------------------------------------------


@router.get("/notifications", response_model=PageOf[OutboxMessage])
def list_notifications(
    services: ServicesDep,
    caller: CallerDep,
    status: OutboxStatus | None = None,
    parcel_id: UUID | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT,
) -> object:
    """Mail about parcels: sent, waiting for a retry (with the last error), or given up
    (administrators)."""
    page = portal.list_outbox(services.store, caller, status, parcel_id, cursor, limit)
    return page.as_response()


@router.post("/notifications/{message_id}/retry", response_model=OutboxMessage)
def retry_notification(message_id: UUID, services: ServicesDep, caller: CallerDep) -> object:
    """Send a failed or suppressed mail again now (administrators)."""
    return portal.requeue_mail(services.store, caller, message_id)
