"""Queries on sample tracking: shipments, parcels with their history, where samples are, and
the stores' and safety group's worklists."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, case, func, or_, select

from catalogue.domain import tracking as tr
from catalogue.readmodels.paging import (
    Ordering,
    Page,
    capped_count,
    fetch_counted_page,
    fetch_page,
)
from catalogue.schema import (
    investigations,
    parcel_items,
    parcel_steps,
    parcels,
    samples,
    shipments,
)

_PARCEL_ORDER = Ordering("parcels:created", (parcels.c.created_at, parcels.c.id))
#: Worklists: the soonest session first (every parcel in a worklist has been scheduled).
_WORKLIST_ORDER = Ordering("parcels:worklist", (parcels.c.session_start, parcels.c.id))
_SHIPMENT_ORDER = Ordering("shipments:created", (shipments.c.created_at, shipments.c.id))


class Worklist:
    """The statuses each worklist section holds."""

    STORES: dict[str, tuple[tr.ParcelStatus, ...]] = {
        # Approved parcels may be sent any day; sent ones are on their way.
        "expected": (tr.ParcelStatus.APPROVED, tr.ParcelStatus.SENT),
        "in_stores": (tr.ParcelStatus.STORES, tr.ParcelStatus.BEAMLINE),
        "to_return": (tr.ParcelStatus.BACK_STORES,),
    }
    SAFETY: dict[str, tuple[tr.ParcelStatus, ...]] = {"awaiting_approval": (tr.ParcelStatus.READY,)}


@dataclass(frozen=True, slots=True)
class ParcelRef:
    """What the access rules need of a parcel: its investigation and session."""

    parcel_id: UUID
    shipment_id: UUID
    investigation_id: UUID
    session_id: UUID | None
    version: int


def shipment_row(row: Any) -> dict[str, Any]:
    """A shipment as the API shows it."""
    return dict(row._mapping)


def get_shipment(connection: Connection, shipment_id: UUID) -> dict[str, Any] | None:
    """One shipment, or None."""
    row = connection.execute(select(shipments).where(shipments.c.id == shipment_id)).first()
    return None if row is None else shipment_row(row)


def list_shipments(
    connection: Connection, investigation_id: UUID, cursor: str | None, limit: int
) -> Page:
    """An investigation's shipments, oldest first."""
    query = select(shipments).where(shipments.c.investigation_id == investigation_id)
    rows, next_cursor = fetch_page(connection, query, _SHIPMENT_ORDER, cursor, limit)
    total, exact = capped_count(connection, query)
    return Page([shipment_row(r) for r in rows], next_cursor, total, exact)


def parcel_ref(connection: Connection, parcel_id: UUID) -> ParcelRef | None:
    """A parcel's investigation, session and version, or None if there is no such parcel."""
    row = connection.execute(
        select(
            parcels.c.id,
            parcels.c.shipment_id,
            parcels.c.investigation_id,
            parcels.c.session_id,
            parcels.c.version,
        ).where(parcels.c.id == parcel_id)
    ).first()
    return None if row is None else ParcelRef(*row)


def session_of(connection: Connection, investigation_id: UUID) -> tr.Session | None:
    """An investigation as a session a parcel can be scheduled for, or None."""
    row = connection.execute(
        select(
            investigations.c.id,
            investigations.c.proposal,
            investigations.c.instrument,
            investigations.c.start_time,
            investigations.c.end_time,
        ).where(investigations.c.id == investigation_id)
    ).first()
    return None if row is None else tr.Session(*row)


def parcel_summary(row: Any) -> dict[str, Any]:
    """A parcel's row as listings show it, with where it is."""
    parcel = dict(row._mapping)
    parcel.pop("_total", None)
    status = tr.ParcelStatus(parcel["status"])
    parcel["location"] = tr.where_is(status, parcel["location"], parcel["instrument"])
    parcel["dangerous"] = bool(parcel["dangerous_goods"])
    return parcel


def _steps(connection: Connection, parcel_ids: Sequence[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    found: dict[UUID, list[dict[str, Any]]] = {p: [] for p in parcel_ids}
    if not parcel_ids:
        return found
    rows = connection.execute(
        select(parcel_steps, parcels.c.instrument)
        .join(parcels, parcels.c.id == parcel_steps.c.parcel_id)
        .where(parcel_steps.c.parcel_id.in_(list(parcel_ids)))
        .order_by(parcel_steps.c.parcel_id, parcel_steps.c.version)
    )
    for row in rows:
        step = dict(row._mapping)
        instrument = step.pop("instrument")
        step["location"] = tr.where_is(
            tr.ParcelStatus(step["status"]), step["location"], instrument
        )
        found[row.parcel_id].append(step)
    return found


def list_parcels(
    connection: Connection,
    investigation_id: UUID,
    status: tr.ParcelStatus | None,
    shipment_id: UUID | None,
    cursor: str | None,
    limit: int,
    *,
    include_scheduled: bool,
) -> Page:
    """Parcels of an investigation, oldest first, each with its steps; `include_scheduled`:
    also the parcels of other investigations (of the proposal) scheduled for it."""
    own = parcels.c.investigation_id == investigation_id
    query = select(parcels).where(
        or_(own, parcels.c.session_id == investigation_id) if include_scheduled else own
    )
    if status is not None:
        query = query.where(parcels.c.status == status.value)
    if shipment_id is not None:
        query = query.where(parcels.c.shipment_id == shipment_id)
    rows, next_cursor = fetch_page(connection, query, _PARCEL_ORDER, cursor, limit)
    total, exact = capped_count(connection, query)
    items = [parcel_summary(r) for r in rows]
    steps = _steps(connection, [p["id"] for p in items])
    for parcel in items:
        parcel["steps"] = steps[parcel["id"]]
    return Page(items, next_cursor, total, exact)


def get_parcel(connection: Connection, parcel_id: UUID) -> dict[str, Any] | None:
    """A parcel with its shipment's addresses, its items (tree order) and its steps."""
    row = connection.execute(
        select(
            parcels,
            shipments.c.name.label("shipment_name"),
            shipments.c.sender,
            shipments.c.return_address,
            shipments.c.courier_company,
        )
        .join(shipments, shipments.c.id == parcels.c.shipment_id)
        .where(parcels.c.id == parcel_id)
    ).first()
    if row is None:
        return None
    parcel = parcel_summary(row)
    items = connection.execute(
        select(parcel_items, samples.c.name.label("sample_name"))
        .outerjoin(samples, samples.c.id == parcel_items.c.sample_id)
        .where(parcel_items.c.parcel_id == parcel_id)
        .order_by(parcel_items.c.position)
    )
    parcel["items"] = [dict(i._mapping) for i in items]
    parcel["steps"] = _steps(connection, [parcel_id])[parcel_id]
    return parcel


def _container_paths(connection: Connection, parcel_ids: Sequence[UUID]) -> dict[UUID, list[str]]:
    """For each container of these parcels, the names from the outermost container down to
    it (one query: a parcel's containers are few, and nest at most `MAX_DEPTH` deep)."""
    containers = {
        row.id: (row.name, row.parent_id)
        for row in connection.execute(
            select(parcel_items.c.id, parcel_items.c.name, parcel_items.c.parent_id).where(
                parcel_items.c.parcel_id.in_(list(parcel_ids)),
                parcel_items.c.kind == tr.ItemKind.CONTAINER.value,
            )
        )
    }

    def path(container_id: UUID) -> list[str]:
        names: list[str] = []
        current: UUID | None = container_id
        while current is not None and current in containers and len(names) <= tr.MAX_DEPTH:
            name, current = containers[current]
            names.insert(0, name)
        return names

    return {container_id: path(container_id) for container_id in containers}


#: A sample's parcels, the one it is in now first: one in the facility's hands, else one
#: being prepared, else one whose journey ended, cancelled ones last; the latest moved first.
ST = tr.ParcelStatus
_STAGE = {
    **dict.fromkeys((ST.SENT, ST.STORES, ST.BEAMLINE, ST.BACK_STORES, ST.LOST), 0),
    **dict.fromkeys((ST.CREATED, ST.SCHEDULED, ST.READY, ST.REFUSED, ST.APPROVED), 1),
    **dict.fromkeys((ST.BACK_USER, ST.DESTROYED), 2),
    ST.CANCELLED: 3,
}
_PLACEMENT_ORDER = (
    case(*((parcels.c.status == status.value, stage) for status, stage in _STAGE.items())),
    parcels.c.status_at.desc(),
    parcels.c.id,
)


def sample_whereabouts(
    connection: Connection, sample_id: UUID, readable: Collection[UUID] | None = None
) -> dict[str, Any] | None:
    """Where a sample is now: its parcel, container path, status and place; None if unknown.
    `readable`: only these parcels (None: all)."""
    sample = connection.execute(
        select(samples.c.id, samples.c.name, samples.c.investigation_id).where(
            samples.c.id == sample_id
        )
    ).first()
    if sample is None:
        return None
    query = (
        select(
            parcel_items.c.id.label("item_id"),
            parcel_items.c.parent_id,
            parcels.c.id,
            parcels.c.name,
            parcels.c.status,
            parcels.c.status_at,
            parcels.c.location,
            parcels.c.instrument,
        )
        .join(parcels, parcels.c.id == parcel_items.c.parcel_id)
        .where(parcel_items.c.sample_id == sample_id)
        .order_by(*_PLACEMENT_ORDER)
        .limit(20)
    )
    if readable is not None:
        query = query.where(parcels.c.id.in_(sorted(readable)))
    rows = connection.execute(query).all()
    paths = _container_paths(connection, [row.id for row in rows]) if rows else {}
    placements = []
    for row in rows:
        status = tr.ParcelStatus(row.status)
        placements.append(
            {
                "parcel_id": row.id,
                "parcel_name": row.name,
                "item_id": row.item_id,
                "containers": [] if row.parent_id is None else paths.get(row.parent_id, []),
                "status": status,
                "status_at": row.status_at,
                "location": tr.where_is(status, row.location, row.instrument),
                "instrument": row.instrument,
            }
        )
    return {
        "sample_id": sample.id,
        "name": sample.name,
        "investigation_id": sample.investigation_id,
        "current": placements[0] if placements else None,
        "parcels": placements,
    }


def investigation_whereabouts(
    connection: Connection, investigation_id: UUID, cursor: str | None, limit: int
) -> Page:
    """Where every sample of an investigation is: its latest parcel's status and place."""
    ordering = Ordering("samples:name", (samples.c.name, samples.c.id))
    query = select(samples.c.id, samples.c.name).where(
        samples.c.investigation_id == investigation_id
    )
    rows, next_cursor = fetch_page(connection, query, ordering, cursor, limit)
    total, exact = capped_count(connection, query)
    ids = [r.id for r in rows]
    latest: dict[UUID, dict[str, Any]] = {}
    if ids:
        ranked = (
            select(
                parcel_items.c.sample_id,
                parcels.c.id.label("parcel_id"),
                parcels.c.name.label("parcel_name"),
                parcels.c.status,
                parcels.c.status_at,
                parcels.c.location,
                parcels.c.instrument,
                func.row_number()
                .over(partition_by=parcel_items.c.sample_id, order_by=_PLACEMENT_ORDER)
                .label("rank"),
            )
            .join(parcels, parcels.c.id == parcel_items.c.parcel_id)
            .where(parcel_items.c.sample_id.in_(ids))
            .subquery()
        )
        for row in connection.execute(select(ranked).where(ranked.c.rank == 1)):
            status = tr.ParcelStatus(row.status)
            latest[row.sample_id] = {
                "parcel_id": row.parcel_id,
                "parcel_name": row.parcel_name,
                "status": status,
                "status_at": row.status_at,
                "location": tr.where_is(status, row.location, row.instrument),
            }
    items = [{"sample_id": r.id, "name": r.name, "current": latest.get(r.id)} for r in rows]
    return Page(items, next_cursor, total, exact)


def worklist(
    connection: Connection,
    statuses: Sequence[tr.ParcelStatus],
    instrument: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """Parcels in these statuses, soonest session first, with their investigation's proposal."""
    query = select(parcels).where(
        # The statuses are the code's own constants, written into the SQL: with bound
        # parameters, once the driver prepares the statement PostgreSQL may switch to a
        # generic plan that cannot tell a worklist's few hundred parcels from the whole
        # table, and the capped count's `LIMIT $n` (taken for 10 % of the rows) then makes
        # a sequential scan of every parcel look cheap (12-14 ms at 20,000 parcels).
        parcels.c.status.in_(
            [
                bindparam(f"worklist_status_{i}", s.value, literal_execute=True)
                for i, s in enumerate(statuses)
            ]
        ),
        # Every worklist status comes after scheduling; the keyset needs a non-null key.
        parcels.c.session_start.is_not(None),
    )
    if instrument is not None:
        query = query.where(parcels.c.instrument == instrument)
    rows, next_cursor, total, exact = fetch_counted_page(
        connection, query, _WORKLIST_ORDER, cursor, limit
    )
    return Page([parcel_summary(r) for r in rows], next_cursor, total, exact)


def parcels_for_sample(connection: Connection, sample_id: UUID) -> list[UUID]:
    """Parcels holding a sample (for its owners' access check)."""
    return list(
        connection.execute(
            select(parcel_items.c.parcel_id).where(parcel_items.c.sample_id == sample_id)
        ).scalars()
    )


def shipment_investigation(connection: Connection, shipment_id: UUID) -> tuple[UUID, str] | None:
    """(investigation, proposal) of a shipment, or None."""
    row = connection.execute(
        select(shipments.c.investigation_id, shipments.c.proposal).where(
            shipments.c.id == shipment_id
        )
    ).first()
    return None if row is None else (row.investigation_id, row.proposal)
