"""The mail outbox: rows written by notification projections, claimed and sent by a sender
loop with retries and back-off, and listed for the people who watch deliveries."""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args
from uuid import UUID

from sqlalchemy import Connection, Engine, and_, or_, select, update

from catalogue.database import read_transaction, write_transaction
from catalogue.errors import DomainError, NotFound
from catalogue.mail import DeliveryError, Mail, Mailer
from catalogue.projections import insert_missing
from catalogue.readmodels.paging import Ordering, Page, capped_count, fetch_page
from catalogue.schema import outbox

log = logging.getLogger(__name__)

#: Namespace of outbox row ids: one per (event, recipient), so a row is written once.
_OUTBOX_NAMESPACE = uuid.UUID("1b6d3c2e-5f0a-4d8b-9e51-7a2c4f9d0b63")
#: pending (due at `next_attempt_at`), sending (claimed), sent, failed (given up),
#: suppressed (recorded, never mailed: the step was old when first seen).
OutboxStatus = Literal["pending", "sending", "sent", "failed", "suppressed"]
STATUSES: tuple[str, ...] = get_args(OutboxStatus)
_ORDER = Ordering("outbox:-position", (outbox.c.position, outbox.c.id), descending=True)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long a failing delivery is tried again."""

    max_attempts: int = 8
    first_delay: float = 30.0
    max_delay: float = 6 * 3600.0
    #: A row claimed this long ago whose sender never reported back (it crashed between
    #: sending and recording) is claimed again, and sent again with the same Message-ID.
    lease: float = 300.0

    def delay(self, attempts: int) -> timedelta:
        """Back-off before the next try: doubling, capped, with jitter so a failed batch
        does not come back as one burst."""
        base = min(self.first_delay * 2 ** max(attempts - 1, 0), self.max_delay)
        return timedelta(seconds=base * random.uniform(0.8, 1.2))


@dataclass(frozen=True, slots=True)
class Notice:
    """A message a projection wants sent to one recipient about one event."""

    event_id: UUID
    position: int
    recipient: str
    kind: str
    subject_ref: str
    subject: str
    body: str


def outbox_id(event_id: UUID, recipient: str) -> UUID:
    """The row id of a notice: the same event and recipient always give the same row."""
    return uuid.uuid5(_OUTBOX_NAMESPACE, f"{event_id}\x1f{recipient.lower()}")


def message_id(row_id: UUID, domain: str) -> str:
    """A Message-ID that stays the same across retries of the same row."""
    return f"<{row_id}@{domain}>"


def enqueue(
    connection: Connection, notices: Sequence[Notice], domain: str, now: datetime, status: str
) -> None:
    """Write notices (in the projection's transaction); a notice already queued is skipped."""
    rows = []
    for notice in notices:
        row_id = outbox_id(notice.event_id, notice.recipient)
        rows.append(
            {
                "id": row_id,
                "event_id": notice.event_id,
                "position": notice.position,
                "recipient": notice.recipient,
                "kind": notice.kind,
                "subject_ref": notice.subject_ref,
                "subject": notice.subject[:300],
                "body": notice.body,
                "message_id": message_id(row_id, domain),
                "status": status,
                "attempts": 0,
                "next_attempt_at": now,
                "claimed_at": None,
                "last_error": None,
                "created_at": now,
                "sent_at": None,
            }
        )
    insert_missing(connection, outbox, ["id"], rows)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row taken for sending: its mail and when it was claimed."""

    row_id: UUID
    attempts: int
    claimed_at: datetime
    mail: Mail


def claim_due(
    engine: Engine, sender: str, now: datetime, limit: int, policy: RetryPolicy
) -> list[Claimed]:
    """Take up to `limit` due rows for sending, in one committed transaction.

    Claiming commits before anything is sent, and SKIP LOCKED lets two senders (two
    service processes) take disjoint rows. A row stays claimed for `policy.lease`.
    """
    lease_over = now - timedelta(seconds=policy.lease)
    abandoned = and_(outbox.c.status == "sending", outbox.c.claimed_at < lease_over)
    pending = and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
    # Every process polls every second: an idle poll reads (on the due index) and never
    # takes the write lock, which on SQLite would hold up every append meanwhile.
    with read_transaction(engine) as connection:
        idle = connection.execute(select(outbox.c.id).where(or_(pending, abandoned)).limit(1))
        if idle.first() is None:
            return []
    due = (
        select(outbox.c.id)
        .where(or_(pending, and_(abandoned, outbox.c.attempts < policy.max_attempts)))
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with write_transaction(engine) as connection:
        # A message whose every try ended with its sender dying (a crash while sending it,
        # say) is given up rather than tried for ever: it must not hold the queue.
        connection.execute(
            update(outbox)
            .where(abandoned, outbox.c.attempts >= policy.max_attempts)
            .values(status="failed", last_error="the sender stopped while sending it, each try")
        )
        rows = connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(due.scalar_subquery()))
            .values(status="sending", claimed_at=now, attempts=outbox.c.attempts + 1)
            .returning(
                outbox.c.id,
                outbox.c.attempts,
                outbox.c.recipient,
                outbox.c.subject,
                outbox.c.body,
                outbox.c.message_id,
                outbox.c.created_at,
            )
        ).all()
    return [
        Claimed(
            row.id,
            row.attempts,
            now,
            Mail(sender, row.recipient, row.subject, row.body, row.message_id, row.created_at),
        )
        for row in sorted(rows, key=lambda r: r.created_at)
    ]


def record_outcome(
    engine: Engine,
    claimed: Claimed,
    failure: DeliveryError | None,
    now: datetime,
    policy: RetryPolicy,
) -> str:
    """Record a delivery's outcome; return the row's new status, or `lost` when the claim
    was no longer ours.

    Only the claim that is still ours is updated: if our lease ran out and another sender
    took the row, its outcome is the one that counts.
    """
    if failure is None:
        values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
    elif failure.permanent or claimed.attempts >= policy.max_attempts:
        values = {"status": "failed", "last_error": failure.reason[:1000]}
    else:
        values = {
            "status": "pending",
            "next_attempt_at": now + policy.delay(claimed.attempts),
            "last_error": failure.reason[:1000],
        }
    with write_transaction(engine) as connection:
        updated = connection.execute(
            update(outbox).where(_still_ours(claimed)).values(**values)
        ).rowcount
    return str(values["status"]) if updated else "lost"


def _still_ours(claimed: Claimed) -> Any:
    return and_(
        outbox.c.id == claimed.row_id,
        outbox.c.status == "sending",
        outbox.c.claimed_at == claimed.claimed_at,
    )


def release(engine: Engine, claims: Sequence[Claimed]) -> None:
    """Hand back claims that were not tried, as due now and without counting a try."""
    with write_transaction(engine) as connection:
        for claimed in claims:
            connection.execute(
                update(outbox)
                .where(_still_ours(claimed))
                .values(status="pending", claimed_at=None, attempts=outbox.c.attempts - 1)
            )


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one round of sending did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(
    engine: Engine,
    mailer: Mailer,
    sender: str,
    *,
    policy: RetryPolicy,
    limit: int = 100,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DeliveryReport:
    """Send what is due now, one round; a failure is recorded and retried later."""
    claimed = claim_due(engine, sender, clock(), limit, policy)
    counts = {"sent": 0, "pending": 0, "failed": 0, "lost": 0}
    for index, item in enumerate(claimed):
        if clock() - item.claimed_at > timedelta(seconds=policy.lease / 2):
            # A slow server: hand the rest back before the lease runs out, or another
            # sender would take them and send them a second time.
            release(engine, claimed[index:])
            break
        try:
            mailer.deliver(item.mail)
            failure = None
        except DeliveryError as error:
            failure = error
        except Exception as error:
            # A mailer bug or a message the mail library cannot encode must not stop the
            # round with its rows claimed: it is a failure of this message, tried again.
            failure = DeliveryError(f"{type(error).__name__}: {str(error)[:200]}")
        if failure is not None:
            log.warning("mail %s to %s: %s", item.mail.message_id, item.mail.recipient, failure)
        counts[record_outcome(engine, item, failure, clock(), policy)] += 1
    return DeliveryReport(counts["sent"], counts["pending"], counts["failed"])


def run_sender_until_stopped(
    engine: Engine,
    mailer: Mailer,
    sender: str,
    stop: threading.Event,
    *,
    policy: RetryPolicy,
    poll_interval: float = 1.0,
) -> None:
    """Send due mail until `stop` is set; a database outage is waited out, not fatal."""
    backoff = poll_interval
    while not stop.is_set():
        try:
            report = deliver_due(engine, mailer, sender, policy=policy)
        except Exception:
            # The database may be restarting: this round's claims stay leased and are
            # taken again after the lease, so nothing is lost by waiting.
            log.exception("mail sender: round failed, retrying in %.1f s", backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 60.0)
            continue
        backoff = poll_interval
        if not (report.sent or report.retrying or report.failed):
            stop.wait(poll_interval)


def list_outbox(
    connection: Connection,
    status: str | None,
    subject_ref: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """Outbox rows, newest event first, optionally of one status or about one thing."""
    query = select(outbox)
    if status is not None:
        query = query.where(outbox.c.status == status)
    if subject_ref is not None:
        query = query.where(outbox.c.subject_ref == subject_ref)
    rows, next_cursor = fetch_page(connection, query, _ORDER, cursor, limit)
    total, exact = capped_count(connection, query)
    return Page([dict(r._mapping) for r in rows], next_cursor, total, exact)


def requeue(engine: Engine, row_id: UUID, now: datetime) -> dict[str, Any]:
    """Send a failed or suppressed row again now (an operator fixed the cause)."""
    with write_transaction(engine) as connection:
        row = connection.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.status.in_(["failed", "suppressed"]))
            .values(status="pending", attempts=0, next_attempt_at=now, last_error=None)
            .returning(*outbox.c)
        ).first()
        if row is None:
            exists = connection.execute(select(outbox.c.status).where(outbox.c.id == row_id))
            status = exists.scalar()
            if status is None:
                raise NotFound("no outbox message with that id")
            raise DomainError(
                f"the message is {status}: only failed or suppressed ones are sent again"
            )
        return dict(row._mapping)
