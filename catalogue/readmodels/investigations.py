"""Queries on instruments, investigations and participants, with the access rules in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select

from catalogue.domain.access import InvestigationFacts, Principal, PrincipalKind, can_see_emails
from catalogue.domain.investigations import Role
from catalogue.readmodels.paging import Ordering, Page, capped_count, fetch_page
from catalogue.schema import (
    investigations,
    participants,
    users,
)

INVESTIGATION_ORDERINGS = {
    "start_time": Ordering(
        "investigations:start", (investigations.c.start_time, investigations.c.id)
    ),
    "-start_time": Ordering(
        "investigations:-start", (investigations.c.start_time, investigations.c.id), True
    ),
}


def readable_clause(principal: Principal, now: datetime) -> ColumnElement[bool] | None:
    """The SQL form of `access.can_read` (None: everything is readable)."""
    if principal.is_admin:
        return None
    released = investigations.c.release_date <= now
    if principal.kind is PrincipalKind.USER:
        mine = select(participants.c.investigation_id).where(
            participants.c.username == principal.username
        )
        return or_(
            released,
            investigations.c.id.in_(mine),
            investigations.c.instrument.in_(sorted(principal.scientist_of) or [""]),
        )
    if principal.kind is PrincipalKind.API_KEY:
        return or_(released, investigations.c.instrument == principal.instrument)
    return released


def investigation_facts(
    connection: Connection, investigation_id: UUID, username: str | None
) -> InvestigationFacts | None:
    """What the access rules need to know of one investigation for this caller, or None if
    there is none: its beamline, release date and the caller's own role (one statement)."""
    row = connection.execute(
        select(investigations.c.instrument, investigations.c.release_date, participants.c.role)
        .outerjoin(
            participants,
            and_(
                participants.c.investigation_id == investigations.c.id,
                participants.c.username == (username or ""),
            ),
        )
        .where(investigations.c.id == investigation_id)
    ).first()
    if row is None:
        return None
    roles = {} if row.role is None or username is None else {username: Role(row.role)}
    return InvestigationFacts(row.instrument, row.release_date, roles)


@dataclass(frozen=True, slots=True)
class InvestigationFilter:
    """Filters of the investigation listing."""

    instrument: str | None = None
    proposal: str | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    role: Role | None = None
    text: str | None = None
    released: bool | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(
    principal: Principal, now: datetime, where: InvestigationFilter, dialect: str
) -> Select[Any]:
    query = select(investigations)
    clause = readable_clause(principal, now)
    if clause is not None:
        query = query.where(clause)
    if where.instrument is not None:
        query = query.where(investigations.c.instrument == where.instrument)
    if where.proposal is not None:
        query = query.where(investigations.c.proposal == where.proposal)
    if where.start_from is not None:
        query = query.where(investigations.c.start_time >= where.start_from)
    if where.start_to is not None:
        query = query.where(investigations.c.start_time <= where.start_to)
    if where.role is not None:
        query = query.where(
            investigations.c.id.in_(
                select(participants.c.investigation_id).where(
                    participants.c.username == (principal.username or ""),
                    participants.c.role == where.role.value,
                )
            )
        )
    if where.text:
        pattern = f"%{_escape_like(where.text.lower())}%"
        # ILIKE on PostgreSQL folds any script; SQLite gets Python's lower() (database.py).
        title = (
            func.unicode_lower(investigations.c.title)
            if dialect == "sqlite"
            else investigations.c.title
        )
        query = query.where(title.ilike(pattern, escape="\\"))
    if where.released is not None:
        released = investigations.c.release_date <= now
        query = query.where(released if where.released else ~released)
    return query


def list_investigations(
    connection: Connection,
    principal: Principal,
    now: datetime,
    where: InvestigationFilter,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page:
    """The investigations the caller may read, filtered, one page at a time."""
    query = _filtered(principal, now, where, connection.dialect.name)
    rows, next_cursor = fetch_page(connection, query, INVESTIGATION_ORDERINGS[sort], cursor, limit)
    total, exact = capped_count(connection, query)
    return Page([investigation_summary(row) for row in rows], next_cursor, total, exact)


def investigation_summary(row: Any) -> dict[str, Any]:
    """An investigation row as the API shows it in listings."""
    return {
        "id": row.id,
        "proposal": row.proposal,
        "visit_id": row.visit_id,
        "instrument": row.instrument,
        "title": row.title,
        "summary": row.summary,
        "start": row.start_time,
        "end": row.end_time,
        "release_date": row.release_date,
        "doi": row.doi,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "sample_count": row.sample_count,
        "dataset_count": row.dataset_count,
    }


def get_investigation(
    connection: Connection, investigation_id: UUID, principal: Principal
) -> dict[str, Any] | None:
    """One investigation with its participants (e-mails for signed-in callers only)."""
    row = connection.execute(
        select(investigations).where(investigations.c.id == investigation_id)
    ).first()
    if row is None:
        return None
    people = connection.execute(
        select(participants.c.username, participants.c.role, users.c.full_name, users.c.email)
        .join(users, users.c.username == participants.c.username, isouter=True)
        .where(participants.c.investigation_id == investigation_id)
        .order_by(participants.c.role, participants.c.username)
    ).all()
    show_email = can_see_emails(principal)
    return {
        **investigation_summary(row),
        "participants": [
            {
                "username": p.username,
                "role": p.role,
                "full_name": p.full_name or "",
                "email": p.email if show_email else None,
            }
            for p in people
        ],
    }


def proposal_of(connection: Connection, investigation_id: UUID) -> str:
    """The proposal code of an investigation that exists."""
    return str(
        connection.execute(
            select(investigations.c.proposal).where(investigations.c.id == investigation_id)
        ).scalar_one()
    )
