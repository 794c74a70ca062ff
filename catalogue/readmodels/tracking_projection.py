"""The sample-tracking projection: shipments, parcels with their steps and items (inline)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, delete, select, update

from catalogue.domain import tracking as tr
from catalogue.domain.investigations import InvestigationUpdated
from catalogue.events import RecordedEvent
from catalogue.projections import Mode, Projection
from catalogue.readmodels.projection import partial_update, set_versions, stream_key, type_names
from catalogue.readmodels.writes import OrderedWrites
from catalogue.schema import parcel_items, parcel_steps, parcels, shipments


def _address(address: tr.Address | None) -> dict[str, Any] | None:
    return None if address is None else address.model_dump(mode="json")


def _item_row(item_id: UUID, parcel_id: UUID, item: tr.ItemSpec) -> dict[str, Any]:
    return {
        "id": item_id,
        "parcel_id": parcel_id,
        "name": item.name,
        "kind": item.kind.value,
        "container_type": None if item.container_type is None else item.container_type.value,
        "parent_id": item.parent_id,
        "sample_id": item.sample_id,
        "description": item.description,
        "dangerous_goods": list(item.dangerous_goods),
        "storage": [s.value for s in item.storage],
        "comment": item.comment,
    }


class TrackingProjection(Projection):
    """Shipments; parcels with their current status, steps, items and what they declare."""

    name = "tracking"
    mode = Mode.INLINE
    # A session that moves moves the parcels scheduled for it (the worklists' order, labels).
    handles = type_names((*tr.SHIPMENT_EVENTS, *tr.PARCEL_EVENTS, InvestigationUpdated))
    tables = (shipments, parcels, parcel_steps, parcel_items)

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Fold the batch into the tracking tables, then each touched parcel's summary."""
        writes = OrderedWrites(connection)
        latest_shipment: dict[UUID, RecordedEvent] = {}
        latest_parcel: dict[UUID, RecordedEvent] = {}
        #: Parcels whose items changed: their declared hazards and storage are summed again.
        content_changed: set[UUID] = set()
        for event in batch:
            key = UUID(stream_key(event.stream))
            payload = event.payload
            if isinstance(payload, InvestigationUpdated):
                if payload.start is not None:
                    # Rare, and it touches many rows: the queued writes go first, in order.
                    writes.flush()
                    connection.execute(
                        update(parcels)
                        .where(parcels.c.session_id == key)
                        .values(session_start=payload.start)
                    )
                continue
            if isinstance(payload, tr.ShipmentCreated | tr.ShipmentUpdated):
                self._apply_shipment(writes, key, payload, event)
                latest_shipment[key] = event
                continue
            match payload:
                case tr.ParcelCreated() as created:
                    writes.insert("parcel", parcels, _created_row(created, event), key)
                    writes.insert(
                        "step",
                        parcel_steps,
                        _step_row(key, event, tr.ParcelStatus.CREATED, None, tr.Actor.PARTICIPANT),
                        (key, event.version),
                    )
                case tr.ParcelChanged() as changed:
                    fields = tr.changed_fields(changed)
                    if "after_experiment" in fields:
                        fields["after_experiment"] = fields["after_experiment"].value
                    partial_update(writes, parcels, "id", key, fields)
                case tr.ItemAdded() as added:
                    row = _item_row(added.item_id, key, added.item) | {"position": event.position}
                    writes.insert("item", parcel_items, row, added.item_id)
                    content_changed.add(key)
                case tr.ItemChanged() as item_changed:
                    row = _item_row(item_changed.item_id, key, item_changed.item)
                    partial_update(writes, parcel_items, "id", item_changed.item_id, row)
                    content_changed.add(key)
                case tr.ItemRemoved() as removed:
                    writes.add(
                        "item-",
                        "parcel_items",
                        lambda: delete(parcel_items).where(parcel_items.c.id == bindparam("_id")),
                        {"_id": removed.item_id},
                        removed.item_id,
                    )
                    content_changed.add(key)
                case tr.ParcelStatusChanged() as moved:
                    self._apply_step(writes, key, moved, event)
            latest_parcel[key] = event
        writes.flush()
        if content_changed:
            _summarise_content(connection, content_changed)
        set_versions(connection, shipments, "id", latest_shipment)
        set_versions(connection, parcels, "id", latest_parcel)

    @staticmethod
    def _apply_shipment(
        writes: OrderedWrites,
        key: UUID,
        payload: tr.ShipmentCreated | tr.ShipmentUpdated,
        event: RecordedEvent,
    ) -> None:
        if isinstance(payload, tr.ShipmentCreated):
            row = {
                "id": payload.shipment_id,
                "investigation_id": payload.investigation_id,
                "proposal": payload.proposal,
                "name": payload.name,
                "sender": _address(payload.sender),
                "return_address": _address(payload.return_address),
                "courier_company": payload.courier_company,
                "courier_account": payload.courier_account,
                "comment": payload.comment,
                "version": event.version,
                "created_at": event.recorded_at,
                "updated_at": event.recorded_at,
            }
            writes.insert("shipment", shipments, row, key)
            return
        changes: dict[str, Any] = {}
        for name, value in tr.changed_fields(payload).items():
            changes[name] = _address(value) if isinstance(value, tr.Address) else value
        partial_update(writes, shipments, "id", key, changes)

    @staticmethod
    def _apply_step(
        writes: OrderedWrites, key: UUID, moved: tr.ParcelStatusChanged, event: RecordedEvent
    ) -> None:
        writes.insert(
            "step", parcel_steps, _step_row(key, event, moved.status, moved, moved.role), None
        )
        changes: dict[str, Any] = {
            "status": moved.status.value,
            "status_at": moved.occurred_at,
            "location": moved.location,
        }
        if moved.session_id is not None:
            changes |= {
                "session_id": moved.session_id,
                "instrument": moved.instrument,
                "session_start": moved.session_start,
            }
        if moved.status is tr.ParcelStatus.SENT:
            changes["tracking_number"] = moved.tracking_number
        elif moved.status is tr.ParcelStatus.BACK_USER:
            changes["return_tracking_number"] = moved.tracking_number
        partial_update(writes, parcels, "id", key, changes)


def _created_row(created: tr.ParcelCreated, event: RecordedEvent) -> dict[str, Any]:
    return {
        "id": created.parcel_id,
        "shipment_id": created.shipment_id,
        "investigation_id": created.investigation_id,
        "proposal": created.proposal,
        "name": created.name,
        "status": tr.ParcelStatus.CREATED.value,
        "status_at": created.occurred_at,
        "location": None,
        "after_experiment": created.after_experiment.value,
        "comment": created.comment,
        "session_id": None,
        "instrument": None,
        "session_start": None,
        "tracking_number": None,
        "return_tracking_number": None,
        "dangerous_goods": [],
        "storage": [],
        "item_count": 0,
        "version": event.version,
        "created_at": event.recorded_at,
        "updated_at": event.recorded_at,
    }


def _step_row(
    parcel_id: UUID,
    event: RecordedEvent,
    status: tr.ParcelStatus,
    moved: tr.ParcelStatusChanged | None,
    role: tr.Actor,
) -> dict[str, Any]:
    return {
        "parcel_id": parcel_id,
        "version": event.version,
        "status": status.value,
        "previous": None if moved is None else moved.previous.value,
        "role": role.value,
        "actor": event.metadata.actor or "",
        "occurred_at": getattr(event.payload, "occurred_at", event.recorded_at),
        "location": None if moved is None else moved.location,
        "comment": "" if moved is None else moved.comment,
        "session_id": None if moved is None else moved.session_id,
        "tracking_number": None if moved is None else moved.tracking_number,
    }


def _summarise_content(connection: Connection, parcel_ids: set[UUID]) -> None:
    """Each parcel's item count and the union of its items' hazard classes and storage."""
    summary: dict[UUID, tuple[set[str], set[str], list[int]]] = defaultdict(
        lambda: (set(), set(), [0])
    )
    ids = sorted(parcel_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = connection.execute(
            select(
                parcel_items.c.parcel_id, parcel_items.c.dangerous_goods, parcel_items.c.storage
            ).where(parcel_items.c.parcel_id.in_(chunk))
        )
        for parcel_id, dangerous, storage in rows:
            classes, kept, count = summary[parcel_id]
            classes.update(dangerous)
            kept.update(storage)
            count[0] += 1
    connection.execute(
        update(parcels)
        .where(parcels.c.id == bindparam("_key"))
        .values(
            dangerous_goods=bindparam("_dangerous"),
            storage=bindparam("_storage"),
            item_count=bindparam("_count"),
        ),
        [
            {
                "_key": parcel_id,
                "_dangerous": sorted(summary[parcel_id][0]) if parcel_id in summary else [],
                "_storage": sorted(summary[parcel_id][1]) if parcel_id in summary else [],
                "_count": summary[parcel_id][2][0] if parcel_id in summary else 0,
            }
            for parcel_id in ids
        ],
    )
