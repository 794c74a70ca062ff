"""Who is told what about parcels: a catch-up projection from parcel steps into the outbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, select

from catalogue.domain import tracking as tr
from catalogue.domain.investigations import Role
from catalogue.errors import ProjectionError
from catalogue.events import RecordedEvent
from catalogue.outbox import Notice, enqueue
from catalogue.projections import Mode, Projection
from catalogue.readmodels.projection import stream_key, type_names
from catalogue.schema import group_members, outbox, parcels, participants, users

ST = tr.ParcelStatus


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    """What notices need from the service's settings."""

    #: The service's address as users reach it: links in mail point there.
    public_url: str
    #: The industry office, told about every notice of an industrial proposal.
    industry_email: str | None
    #: The domain of Message-IDs (the sender address's).
    mail_domain: str
    #: Steps older than this when the projection reaches them are kept but not sent (a
    #: first start over a year of history, or a long outage, must not mail everyone).
    max_age: timedelta = timedelta(days=7)


#: What each notified step says, in the subject after the parcel's name.
_SAYS = {
    ST.READY: "awaits a dangerous-goods check",
    ST.STORES: "was received at the stores",
    ST.REFUSED: "was refused by the safety group",
    ST.DESTROYED: "was destroyed",
    ST.BACK_USER: "was sent back",
}


class TrackingNotifications(Projection):
    """Mail about parcel steps: dangerous goods to the safety group; arrival at the stores to
    participants and local contacts; refusal, destruction and return to participants."""

    name = "tracking-notifications"
    mode = Mode.CATCH_UP
    handles = type_names((tr.ParcelStatusChanged,))
    tables = (outbox,)

    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings

    def clear(self, connection: Connection) -> None:
        """Keep the outbox: its rows record what was sent, which events cannot tell again."""

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Queue one notice per recipient of each notified step.

        A step is mailed unless it is older than `max_age` when first seen. A rebuild
        therefore mails nothing twice (rows already written are kept as they are) but does
        mail recent steps that were never queued, such as those the runner had not reached.
        """
        steps = [e for e in batch if _recipients_kind(e.payload) is not None]
        if not steps:
            return
        now = datetime.now(UTC)
        parcel_rows = _parcels(connection, {UUID(stream_key(e.stream)) for e in steps})
        missing = {stream_key(e.stream) for e in steps} - {str(p) for p in parcel_rows}
        if missing:
            # Every step follows its parcel's creation, so a row is missing only while the
            # tracking projection is rebuilt: fail the batch, the runner retries it.
            raise ProjectionError(f"parcel {min(missing)} is not in the tracking read model yet")
        people = _People.of(connection, steps, parcel_rows.values())
        fresh: list[Notice] = []
        stale: list[Notice] = []
        for event in steps:
            notices = self._notices(event, parcel_rows[UUID(stream_key(event.stream))], people)
            old = now - event.recorded_at > self.settings.max_age
            (stale if old else fresh).extend(notices)
        enqueue(connection, fresh, self.settings.mail_domain, now, "pending")
        enqueue(connection, stale, self.settings.mail_domain, now, "suppressed")

    def _notices(
        self, event: RecordedEvent, parcel: dict[str, object], people: _People
    ) -> list[Notice]:
        moved = event.payload
        assert isinstance(moved, tr.ParcelStatusChanged)
        audience = _recipients_kind(moved)
        investigation = parcel["investigation_id"]
        assert isinstance(investigation, UUID)
        session = parcel["session_id"] if isinstance(parcel["session_id"], UUID) else None
        recipients: set[str] = set()
        if audience == "safety":
            recipients |= people.safety
        else:
            recipients |= people.participants(investigation)
            if audience == "participants+local" and session is not None:
                recipients |= people.participants(session, Role.LOCAL_CONTACT)
        proposal = str(parcel["proposal"])
        if tr.is_industrial(proposal) and self.settings.industry_email:
            recipients.add(self.settings.industry_email)
        subject = f"[{proposal}] Parcel \u201c{parcel['name']}\u201d {_SAYS[moved.status]}"
        body = self._body(event, moved, parcel)
        return [
            Notice(
                event_id=event.event_id,
                position=event.position,
                recipient=recipient,
                kind=f"parcel.{moved.status}",
                subject_ref=f"parcel:{event.stream.split('-', 1)[1]}",
                subject=subject,
                body=body,
            )
            for recipient in sorted(recipients)
        ]

    def _body(
        self, event: RecordedEvent, moved: tr.ParcelStatusChanged, parcel: dict[str, object]
    ) -> str:
        parcel_id = stream_key(event.stream)
        when = moved.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            f"Parcel \u201c{parcel['name']}\u201d of proposal {parcel['proposal']} "
            f"{_SAYS[moved.status]} ({when}).",
            "",
        ]
        if parcel["instrument"]:
            lines.append(f"Beamline: {parcel['instrument']}")
        instrument = parcel["instrument"] if isinstance(parcel["instrument"], str) else None
        location = tr.where_is(moved.status, moved.location, instrument)
        if location:
            lines.append(f"Where: {location}")
        if moved.tracking_number:
            lines.append(f"Tracking number: {moved.tracking_number}")
        if moved.dangerous_goods:
            classes = ", ".join(f"{c} ({tr.HAZARD_CLASSES[c]})" for c in moved.dangerous_goods)
            lines.append(f"Dangerous goods declared: {classes}")
        if moved.comment:
            lines.append(f"Comment: {moved.comment}")
        lines += [
            f"By: {event.metadata.actor or 'the catalogue'}",
            "",
            f"The parcel: {self.settings.public_url.rstrip('/')}/api/v1/tracking/parcels/"
            f"{parcel_id}",
        ]
        return "\n".join(lines) + "\n"


def _recipients_kind(payload: object) -> str | None:
    """Who hears of a step: `safety`, `participants`, `participants+local`, or nobody."""
    if not isinstance(payload, tr.ParcelStatusChanged):
        return None
    if payload.status is ST.READY:
        return "safety" if payload.dangerous_goods else None
    if payload.status is ST.STORES:
        return "participants+local"
    if payload.status in (ST.REFUSED, ST.DESTROYED, ST.BACK_USER):
        return "participants"
    return None


def _parcels(connection: Connection, ids: Iterable[UUID]) -> dict[UUID, dict[str, object]]:
    rows = connection.execute(
        select(
            parcels.c.id,
            parcels.c.name,
            parcels.c.proposal,
            parcels.c.investigation_id,
            parcels.c.session_id,
            parcels.c.instrument,
        ).where(parcels.c.id.in_(sorted(ids)))
    )
    return {row.id: dict(row._mapping) for row in rows}


@dataclass(frozen=True, slots=True)
class _People:
    """Who may be told, read once per batch: the safety group's addresses, and each
    involved investigation's participants' addresses by role."""

    safety: set[str]
    by_investigation: dict[UUID, list[tuple[str, str]]]

    @classmethod
    def of(
        cls,
        connection: Connection,
        steps: Sequence[RecordedEvent],
        parcel_rows: Iterable[dict[str, object]],
    ) -> _People:
        investigations: set[UUID] = set()
        for parcel in parcel_rows:
            for key in ("investigation_id", "session_id"):
                value = parcel[key]
                if isinstance(value, UUID):
                    investigations.add(value)
        safety: set[str] = set()
        if any(_recipients_kind(e.payload) == "safety" for e in steps):
            query = (
                select(users.c.email)
                .join(group_members, group_members.c.username == users.c.username)
                .where(group_members.c.group_name == tr.SAFETY_GROUP)
            )
            safety = {email for email in connection.execute(query).scalars() if email}
        by_investigation: dict[UUID, list[tuple[str, str]]] = {}
        if investigations:
            query = (
                select(participants.c.investigation_id, participants.c.role, users.c.email)
                .join(users, users.c.username == participants.c.username)
                .where(participants.c.investigation_id.in_(sorted(investigations)))
            )
            for investigation_id, role, email in connection.execute(query):
                if email:
                    by_investigation.setdefault(investigation_id, []).append((role, email))
        return cls(safety, by_investigation)

    def participants(self, investigation_id: UUID, role: Role | None = None) -> set[str]:
        """Addresses of an investigation's participants (of one role, if given)."""
        return {
            email
            for held, email in self.by_investigation.get(investigation_id, [])
            if role is None or held == role.value
        }
