"""The mail outbox on SQLite and PostgreSQL: idempotent rows, claims and leases, retries with
back-off, requeueing, listings, and exactly-once delivery to a real SMTP server (aiosmtpd)
across a crash between sending and recording, and across a projection crash before its
checkpoint."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

import pytest
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select

from catalogue.database import create_engine, read_transaction, write_transaction
from catalogue.errors import DomainError, NotFound
from catalogue.events import RecordedEvent, StreamAppend
from catalogue.mail import DeliveryError, Mail
from catalogue.outbox import (
    Notice,
    RetryPolicy,
    claim_due,
    deliver_due,
    enqueue,
    list_outbox,
    message_id,
    outbox_id,
    record_outcome,
    requeue,
)
from catalogue.projections import Mode, Projection, Status, read_checkpoint, save_checkpoint
from catalogue.runner import catch_up, catch_up_batch, register_checkpoints
from catalogue.schema import outbox
from catalogue.settings import Settings
from tests.integration.test_mail import SmtpServer, start_smtp_server
from tests.sample_domain import ThingCreated, make_store

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)
SENDER = "catalogue@example.org"
DOMAIN = "example.org"
POLICY = RetryPolicy(max_attempts=4, first_delay=60.0, max_delay=3600.0, lease=300.0)


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class ScriptedMailer:
    """Records every delivery; fails with the scripted errors first (then succeeds)."""

    failures: list[DeliveryError] = field(default_factory=list)
    delivered: list[Mail] = field(default_factory=list)

    def deliver(self, mail: Mail) -> None:
        self.delivered.append(mail)
        if self.failures:
            raise self.failures.pop(0)


class AlwaysFailing:
    """A mailer whose server is always away."""

    def __init__(self) -> None:
        self.tries = 0

    def deliver(self, mail: Mail) -> None:
        self.tries += 1
        raise DeliveryError("cannot reach the SMTP server: Connection refused")


def notice(
    recipient: str = "bob@example.org",
    *,
    event_id: UUID | None = None,
    position: int = 1,
    subject_ref: str = "parcel:1",
) -> Notice:
    event = event_id or uuid.uuid4()
    return Notice(
        event_id=event,
        position=position,
        recipient=recipient,
        kind="parcel.STORES",
        subject_ref=subject_ref,
        subject=f"Parcel {position} was received",
        body=f"Parcel {position} for {recipient}\n",
    )


def queue(engine: Engine, notices: Sequence[Notice], now: datetime = T0, status: str = "pending"):
    with write_transaction(engine) as connection:
        enqueue(connection, notices, DOMAIN, now, status)


def rows(engine: Engine) -> list[dict[str, Any]]:
    with read_transaction(engine) as connection:
        found = connection.execute(select(outbox).order_by(outbox.c.position, outbox.c.recipient))
        return [dict(r._mapping) for r in found]


def row(engine: Engine, row_id: UUID) -> dict[str, Any]:
    [found] = [r for r in rows(engine) if r["id"] == row_id]
    return found


# -- writing rows --------------------------------------------------------------------------


def test_enqueue_twice_writes_one_row(engine: Engine) -> None:
    first = notice("Bob@Example.org")
    queue(engine, [first])
    queue(engine, [first], now=T0 + timedelta(hours=1), status="suppressed")
    # The same recipient spelt in another case is the same row.
    queue(engine, [notice("bob@example.org", event_id=first.event_id)])

    [only] = rows(engine)
    expected_id = outbox_id(first.event_id, "bob@example.org")
    assert only["id"] == expected_id
    assert only["message_id"] == message_id(expected_id, DOMAIN) == f"<{expected_id}@{DOMAIN}>"
    assert only["recipient"] == "Bob@Example.org"
    assert (only["status"], only["attempts"]) == ("pending", 0)
    assert only["created_at"] == only["next_attempt_at"] == T0
    assert only["subject"] == first.subject
    assert only["body"] == first.body


def test_one_row_per_event_and_recipient(engine: Engine) -> None:
    event = uuid.uuid4()
    queue(
        engine, [notice("a@example.org", event_id=event), notice("b@example.org", event_id=event)]
    )
    queue(engine, [notice("a@example.org")])
    assert len(rows(engine)) == 3
    assert len({r["id"] for r in rows(engine)}) == 3


# -- claims --------------------------------------------------------------------------------


def test_claim_due_gives_due_rows_once_and_not_later_ones(engine: Engine) -> None:
    due = [notice("a@example.org", position=1), notice("b@example.org", position=2)]
    later = notice("c@example.org", position=3)
    queue(engine, due)
    queue(engine, [later], now=T0 + timedelta(hours=1))

    claimed = claim_due(engine, SENDER, T0, 10, POLICY)
    assert sorted(c.mail.recipient for c in claimed) == ["a@example.org", "b@example.org"]
    assert claim_due(engine, SENDER, T0 + timedelta(minutes=1), 10, POLICY) == []
    for item in claimed:
        assert (item.attempts, item.claimed_at) == (1, T0)
        stored = row(engine, item.row_id)
        assert (stored["status"], stored["attempts"], stored["claimed_at"]) == ("sending", 1, T0)
        assert item.mail.sender == SENDER
        assert item.mail.message_id == stored["message_id"]
        assert item.mail.subject == stored["subject"]
        assert item.mail.body == stored["body"]
        assert item.mail.date == T0
    assert row(engine, outbox_id(later.event_id, later.recipient))["status"] == "pending"

    for item in claimed:
        record_outcome(engine, item, None, T0, POLICY)
    [then] = claim_due(engine, SENDER, T0 + timedelta(hours=1), 10, POLICY)
    assert then.mail.recipient == "c@example.org"


def test_claim_due_respects_the_limit(engine: Engine) -> None:
    queue(engine, [notice(f"r{i}@example.org", position=i) for i in range(5)])
    first = claim_due(engine, SENDER, T0, 2, POLICY)
    second = claim_due(engine, SENDER, T0, 10, POLICY)
    assert len(first) == 2
    assert len(second) == 3
    assert not {c.row_id for c in first} & {c.row_id for c in second}


def test_claim_due_takes_a_row_again_after_its_lease(engine: Engine) -> None:
    queue(engine, [notice()])
    [first] = claim_due(engine, SENDER, T0, 10, POLICY)
    assert claim_due(engine, SENDER, T0 + timedelta(seconds=POLICY.lease - 1), 10, POLICY) == []

    later = T0 + timedelta(seconds=POLICY.lease + 1)
    [again] = claim_due(engine, SENDER, later, 10, POLICY)
    assert again.row_id == first.row_id
    assert again.mail.message_id == first.mail.message_id
    assert (again.attempts, again.claimed_at) == (2, later)


def test_record_outcome_ignores_a_stale_claim(engine: Engine) -> None:
    queue(engine, [notice()])
    [stale] = claim_due(engine, SENDER, T0, 10, POLICY)
    taken_at = T0 + timedelta(seconds=POLICY.lease + 1)
    [current] = claim_due(engine, SENDER, taken_at, 10, POLICY)

    # The first sender comes back late: neither its success nor its failure counts.
    record_outcome(engine, stale, None, taken_at, POLICY)
    record_outcome(engine, stale, DeliveryError("late", permanent=True), taken_at, POLICY)
    stored = row(engine, current.row_id)
    assert (stored["status"], stored["claimed_at"], stored["sent_at"]) == (
        "sending",
        taken_at,
        None,
    )

    done_at = taken_at + timedelta(seconds=5)
    assert record_outcome(engine, current, None, done_at, POLICY) == "sent"
    record_outcome(engine, stale, DeliveryError("later still"), done_at, POLICY)
    stored = row(engine, current.row_id)
    assert (stored["status"], stored["sent_at"], stored["last_error"]) == ("sent", done_at, None)


# -- retries -------------------------------------------------------------------------------


def test_temporary_failures_are_retried_with_doubling_back_off_then_fail(engine: Engine) -> None:
    queue(engine, [notice()])
    mailer = AlwaysFailing()
    clock = Clock()
    row_id = rows(engine)[0]["id"]
    previous_delay = 0.0
    for attempt in range(1, POLICY.max_attempts):
        report = deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock)
        assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
        stored = row(engine, row_id)
        assert (stored["status"], stored["attempts"]) == ("pending", attempt)
        assert "Connection refused" in stored["last_error"]
        delay = (stored["next_attempt_at"] - clock.now).total_seconds()
        base = POLICY.first_delay * 2 ** (attempt - 1)
        assert 0.8 * base <= delay <= 1.2 * base
        assert delay > previous_delay
        previous_delay = delay
        # Not before it is due.
        clock.now = stored["next_attempt_at"] - timedelta(seconds=1)
        assert deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock).retrying == 0
        assert mailer.tries == attempt
        clock.now = stored["next_attempt_at"]

    report = deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock)
    assert (report.sent, report.retrying, report.failed) == (0, 0, 1)
    stored = row(engine, row_id)
    assert (stored["status"], stored["attempts"]) == ("failed", POLICY.max_attempts)
    clock.advance(10 * 24 * 3600)
    deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock)
    assert mailer.tries == POLICY.max_attempts


def test_a_retry_that_succeeds_is_sent_with_the_same_message_id(engine: Engine) -> None:
    queue(engine, [notice()])
    mailer = ScriptedMailer([DeliveryError("busy"), DeliveryError("busy")])
    clock = Clock()
    for _ in range(3):
        deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock)
        clock.advance(POLICY.max_delay * 1.2)
    [stored] = rows(engine)
    assert (stored["status"], stored["attempts"], stored["last_error"]) == ("sent", 3, None)
    assert stored["sent_at"] == T0 + 2 * timedelta(seconds=POLICY.max_delay * 1.2)
    assert {m.message_id for m in mailer.delivered} == {stored["message_id"]}
    assert len(mailer.delivered) == 3


def test_a_permanent_failure_fails_at_once(engine: Engine) -> None:
    queue(engine, [notice()])
    mailer = ScriptedMailer([DeliveryError("SMTP refused the recipient ([550])", permanent=True)])
    clock = Clock()
    report = deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock)
    assert (report.sent, report.retrying, report.failed) == (0, 0, 1)
    [stored] = rows(engine)
    assert (stored["status"], stored["attempts"]) == ("failed", 1)
    assert "550" in stored["last_error"]
    clock.advance(10 * 24 * 3600)
    deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock)
    assert len(mailer.delivered) == 1


class Crashing:
    """A mailer with a bug: it raises what is not a DeliveryError."""

    def __init__(self) -> None:
        self.tries = 0

    def deliver(self, mail: Mail) -> None:
        self.tries += 1
        raise ValueError("header value contains a line separator")


def test_an_unexpected_mailer_error_fails_that_message_and_the_round_goes_on(
    engine: Engine,
) -> None:
    queue(engine, [notice("a@example.org", position=1), notice("b@example.org", position=2)])
    mailer = Crashing()
    report = deliver_due(engine, mailer, SENDER, policy=POLICY, clock=Clock())
    assert (report.sent, report.retrying, report.failed) == (0, 2, 0)
    assert mailer.tries == 2
    for stored in rows(engine):
        assert (stored["status"], stored["attempts"]) == ("pending", 1)
        assert stored["last_error"] == "ValueError: header value contains a line separator"


def test_a_message_whose_sender_dies_every_time_is_given_up(engine: Engine) -> None:
    queue(engine, [notice()])
    when = T0
    for attempt in range(1, POLICY.max_attempts + 1):
        # Claimed, then the process dies while sending: no outcome is ever recorded.
        [claimed] = claim_due(engine, SENDER, when, 10, POLICY)
        assert claimed.attempts == attempt
        when += timedelta(seconds=POLICY.lease + 1)
    assert claim_due(engine, SENDER, when, 10, POLICY) == []
    [stored] = rows(engine)
    assert (stored["status"], stored["attempts"]) == ("failed", POLICY.max_attempts)
    assert "stopped while sending" in stored["last_error"]


@dataclass
class SlowMailer:
    """Each delivery takes `seconds` of the test's clock."""

    clock: Clock
    seconds: float
    delivered: list[Mail] = field(default_factory=list)

    def deliver(self, mail: Mail) -> None:
        self.clock.advance(self.seconds)
        self.delivered.append(mail)


def test_a_slow_round_hands_back_what_it_cannot_send_within_its_lease(engine: Engine) -> None:
    queue(engine, [notice(f"r{i}@example.org", position=i) for i in range(1, 6)])
    clock = Clock()
    mailer = SlowMailer(clock, seconds=POLICY.lease / 4)
    report = deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock)
    # Past half the lease (after the third send) the round stops: the other two go back.
    assert report.sent == 3
    by_status: dict[str, list[dict[str, Any]]] = {}
    for stored in rows(engine):
        by_status.setdefault(stored["status"], []).append(stored)
    assert len(by_status["sent"]) == 3
    assert [(r["attempts"], r["claimed_at"]) for r in by_status["pending"]] == [(0, None)] * 2
    # Handed back as due: the next round takes them at once, and each is sent once.
    deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock)
    assert sorted(m.recipient for m in mailer.delivered) == [
        f"r{i}@example.org" for i in range(1, 6)
    ]


def test_a_late_outcome_is_reported_lost(engine: Engine) -> None:
    queue(engine, [notice()])
    [stale] = claim_due(engine, SENDER, T0, 10, POLICY)
    claim_due(engine, SENDER, T0 + timedelta(seconds=POLICY.lease + 1), 10, POLICY)
    assert record_outcome(engine, stale, None, T0, POLICY) == "lost"


def test_back_off_is_capped() -> None:
    policy = RetryPolicy(first_delay=30.0, max_delay=600.0)
    for attempts in (6, 10, 60):
        assert 480.0 <= policy.delay(attempts).total_seconds() <= 720.0
    assert 24.0 <= policy.delay(1).total_seconds() <= 36.0


# -- requeue and listings ------------------------------------------------------------------


def test_requeue_sends_failed_and_suppressed_rows_again(engine: Engine) -> None:
    failed, suppressed = notice("a@example.org", position=1), notice("b@example.org", position=2)
    queue(engine, [failed])
    queue(engine, [suppressed], status="suppressed")
    deliver_due(
        engine,
        ScriptedMailer([DeliveryError("refused", permanent=True)]),
        SENDER,
        policy=POLICY,
        clock=Clock(),
    )
    later = T0 + timedelta(days=1)
    for item in (failed, suppressed):
        requeued = requeue(engine, outbox_id(item.event_id, item.recipient), later)
        assert (requeued["status"], requeued["attempts"]) == ("pending", 0)
        assert (requeued["next_attempt_at"], requeued["last_error"]) == (later, None)

    mailer = ScriptedMailer()
    report = deliver_due(engine, mailer, SENDER, policy=POLICY, clock=Clock(later))
    assert report.sent == 2
    assert sorted(m.recipient for m in mailer.delivered) == ["a@example.org", "b@example.org"]


def test_requeue_refuses_pending_and_sent_rows_and_unknown_ids(engine: Engine) -> None:
    sent, pending = notice("a@example.org", position=1), notice("b@example.org", position=2)
    queue(engine, [sent])
    deliver_due(engine, ScriptedMailer(), SENDER, policy=POLICY, clock=Clock())
    queue(engine, [pending])
    for item, status in ((sent, "sent"), (pending, "pending")):
        with pytest.raises(DomainError) as caught:
            requeue(engine, outbox_id(item.event_id, item.recipient), T0)
        assert status in str(caught.value)
        assert row(engine, outbox_id(item.event_id, item.recipient))["status"] == status
    with pytest.raises(NotFound):
        requeue(engine, uuid.uuid4(), T0)


def test_list_outbox_filters_and_pages(engine: Engine) -> None:
    queue(
        engine, [notice(f"p1-{i}@example.org", position=i, subject_ref="parcel:1") for i in (1, 3)]
    )
    queue(engine, [notice("p2@example.org", position=2, subject_ref="parcel:2")])
    queue(
        engine, [notice("old@example.org", position=4, subject_ref="parcel:2")], status="suppressed"
    )

    def listed(status: str | None, subject_ref: str | None, limit: int = 50) -> list[str]:
        recipients: list[str] = []
        cursor = None
        with read_transaction(engine) as connection:
            while True:
                page = list_outbox(connection, status, subject_ref, cursor, limit)
                assert page.total_exact
                recipients += [item["recipient"] for item in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    return recipients

    everything = ["old@example.org", "p1-3@example.org", "p2@example.org", "p1-1@example.org"]
    assert listed(None, None) == everything
    assert listed(None, None, limit=1) == everything
    assert listed("pending", None) == ["p1-3@example.org", "p2@example.org", "p1-1@example.org"]
    assert listed("suppressed", None) == ["old@example.org"]
    assert listed(None, "parcel:2") == ["old@example.org", "p2@example.org"]
    assert listed("pending", "parcel:2") == ["p2@example.org"]
    assert listed("sent", None) == []
    with read_transaction(engine) as connection:
        page = list_outbox(connection, None, "parcel:1", None, 1)
    assert (page.total, len(page.items)) == (2, 1)


# -- exactly once, against a real SMTP server ----------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp_server()
    yield server
    server.controller.stop()


def test_each_mail_reaches_the_server_once_over_many_rounds(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    queue(engine, [notice(f"r{i}@example.org", position=i) for i in range(5)])
    mailer = smtp_server.mailer()
    clock = Clock()
    reports = []
    for round_ in range(6):
        if round_ == 2:
            queue(engine, [notice("late@example.org", position=9)], now=clock.now)
        reports.append(deliver_due(engine, mailer, SENDER, policy=POLICY, limit=2, clock=clock))
        clock.advance(1)
    assert sum(r.sent for r in reports) == 6
    assert reports[-1].sent == 0

    stored = rows(engine)
    assert {r["status"] for r in stored} == {"sent"}
    ids = smtp_server.handler.message_ids()
    assert sorted(ids) == sorted(r["message_id"] for r in stored)
    assert len(ids) == len(set(ids)) == 6


def test_a_crash_between_sending_and_recording_resends_with_the_same_message_id(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    queue(engine, [notice()])
    mailer = smtp_server.mailer()
    clock = Clock()

    # A sender claims and sends, then dies before recording the outcome.
    [crashed] = claim_due(engine, SENDER, clock(), 10, POLICY)
    mailer.deliver(crashed.mail)

    # Within the lease nobody sends it again.
    clock.advance(POLICY.lease / 2)
    assert deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock).sent == 0
    # After the lease another round takes it and sends it again.
    clock.advance(POLICY.lease)
    assert deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock).sent == 1
    sent_at = clock.now
    clock.advance(POLICY.lease * 10)
    assert deliver_due(engine, mailer, SENDER, policy=POLICY, clock=clock).sent == 0
    # The dead sender's report, arriving after all, changes nothing.
    record_outcome(engine, crashed, DeliveryError("late"), clock.now, POLICY)

    [stored] = rows(engine)
    assert (stored["status"], stored["attempts"], stored["sent_at"]) == ("sent", 2, sent_at)
    received = smtp_server.handler.messages()
    assert 1 <= len(received) <= 2
    assert {r.message_id for r in received} == {stored["message_id"]}
    assert all(r.rcpt_tos == ("bob@example.org",) for r in received)


# -- a projection crash between its outbox rows and its checkpoint ---------------------------


class ThingNotices(Projection):
    """Two notices per created thing, written with `enqueue` as notification projections do."""

    name = "test-thing-notices"
    mode = Mode.CATCH_UP
    handles = frozenset({"ThingCreated"})
    tables: ClassVar[Sequence[Any]] = ()
    recipients = ("a@example.org", "b@example.org")

    def __init__(self, crash_after_apply: bool = False) -> None:
        self.crash_after_apply = crash_after_apply

    def clear(self, connection: Connection) -> None:
        """Keep the outbox."""

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        notices = [
            Notice(
                event.event_id,
                event.position,
                recipient,
                "thing.created",
                f"thing:{event.stream}",
                f"{event.stream} was created",
                "A thing.\n",
            )
            for event in batch
            for recipient in self.recipients
        ]
        enqueue(connection, notices, DOMAIN, T0, "pending")
        if self.crash_after_apply:
            raise KeyboardInterrupt("killed between the outbox rows and the checkpoint")


def test_a_projection_crash_before_its_checkpoint_writes_each_notice_once(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    store = make_store(engine)
    register_checkpoints(store, [ThingNotices()])
    for i in range(3):
        store.append([StreamAppend(f"thing-{i}", [ThingCreated(name=f"t{i}")])])

    with pytest.raises(KeyboardInterrupt):
        catch_up_batch(store, ThingNotices(crash_after_apply=True))
    # The rows went with the transaction; the checkpoint did not move.
    assert rows(engine) == []
    with read_transaction(engine) as connection:
        assert read_checkpoint(connection, ThingNotices.name).position == 0

    catch_up(store, ThingNotices())
    deliver_due(engine, smtp_server.mailer(), SENDER, policy=POLICY, clock=Clock())

    # Rows written but the checkpoint lost (restored from an older copy): applied again,
    # nothing is queued or sent twice.
    with write_transaction(engine) as connection:
        save_checkpoint(connection, ThingNotices.name, 0, Status.LIVE)
    catch_up(store, ThingNotices())
    deliver_due(engine, smtp_server.mailer(), SENDER, policy=POLICY, clock=Clock())

    stored = rows(engine)
    assert len(stored) == 6
    assert len({(r["event_id"], r["recipient"]) for r in stored}) == 6
    assert {r["status"] for r in stored} == {"sent"}
    ids = smtp_server.handler.message_ids()
    assert sorted(ids) == sorted(r["message_id"] for r in stored)
    assert len(set(ids)) == len(ids)


# -- concurrent senders --------------------------------------------------------------------


def test_concurrent_claims_take_disjoint_rows(engine: Engine, database_url: str) -> None:
    queue(engine, [notice(f"r{i}@example.org", position=i) for i in range(60)])
    engines = [engine, create_engine(database_url)]
    barrier = threading.Barrier(2)
    taken: list[list[UUID]] = [[], []]
    errors: list[BaseException] = []

    def sender(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            while claimed := claim_due(engines[index], SENDER, T0, 3, POLICY):
                taken[index].extend(c.row_id for c in claimed)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engines[1].dispose()

    assert errors == []
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == 60
    assert set(taken[0]) | set(taken[1]) == {r["id"] for r in rows(engine)}
    assert {r["attempts"] for r in rows(engine)} == {1}


def test_the_longest_sender_domain_gives_message_ids_the_outbox_can_keep() -> None:
    """The Message-ID's domain is the sender address's: the settings bound it so that the
    id fits its column (PostgreSQL would refuse the row and stall the projection)."""
    longest = Settings(mail_from="catalogue@" + "d" * 150)
    domain = longest.mail_from.rsplit("@", 1)[1]
    assert len(message_id(uuid.uuid4(), domain)) <= outbox.c.message_id.type.length
    with pytest.raises(ValidationError):
        Settings(mail_from="catalogue@" + "d" * 151)
