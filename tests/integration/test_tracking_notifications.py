"""Parcel notifications: real tracking events through the store, the catch-up projection run
as the service runs it, and the outbox rows it writes (who, what, and whether it is sent).

Accounts, groups, beamlines and investigations are made as the operator's CLI makes them;
parcels move through `catalogue.portal.tracking`, as the API moves them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Connection, delete, select, update

from catalogue.database import read_transaction, write_transaction
from catalogue.domain import tracking as tr
from catalogue.domain.access import OPERATOR
from catalogue.domain.instruments import RegisterInstrument
from catalogue.domain.investigations import Role
from catalogue.errors import ProjectionError
from catalogue.events import RecordedEvent
from catalogue.mail import MaildirMailer
from catalogue.outbox import RetryPolicy, deliver_due
from catalogue.portal import identity, instruments, tracking
from catalogue.portal import investigations as investigations_portal
from catalogue.portal.execution import Caller
from catalogue.projections import Status, read_checkpoint
from catalogue.readmodels.tracking_notifications import TrackingNotifications
from catalogue.runner import (
    catch_up,
    catch_up_batch,
    find_projection,
    rebuild,
    register_checkpoints,
)
from catalogue.schema import events, outbox, parcels
from catalogue.services import Services, build_services
from catalogue.settings import Settings
from tests.integration.test_mail import SmtpServer, start_smtp_server

CLI = Caller(OPERATOR, source="cli")
INSTRUMENT = "ID23-1"
PUBLIC_URL = "https://catalogue.example.org"
INDUSTRY = "industry@example.org"
SENDER = "catalogue@example.org"
POLICY = RetryPolicy(max_attempts=3, first_delay=1.0, lease=60.0)
ADDRESS = tr.Address(
    name="Ada Lovelace", street=("1 Crystal Lane",), postcode="OX1 3QU", city="Oxford", country="GB"
)
PARTICIPANTS = {
    "pi": Role.PRINCIPAL_INVESTIGATOR,
    "coi": Role.CO_INVESTIGATOR,
    "collab": Role.COLLABORATOR,
    "lc": Role.LOCAL_CONTACT,
}


def email(username: str) -> str:
    return f"{username}@example.org"


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build_services(
        Settings(
            database_url=database_url,
            data_dir=tmp_path,
            public_url=PUBLIC_URL,
            mail_from=SENDER,
            industry_office_email=INDUSTRY,
        )
    )
    register_checkpoints(built.store, built.projections)
    yield built
    built.close()


def notifications(services: Services) -> TrackingNotifications:
    projection = find_projection(services.projections, TrackingNotifications.name)
    assert isinstance(projection, TrackingNotifications)
    return projection


@dataclass
class World:
    """Who is who, and a parcel's investigation and the session it is for."""

    services: Services

    @property
    def store(self) -> Any:
        return self.services.store

    def users(self) -> None:
        usernames = [*PARTICIPANTS, "lc2", "pi2", "safe1", "safe2", "stores1", "bystander"]
        for username in usernames:
            identity.add_user(
                self.store, CLI, username, username.title(), email(username), admin=False
            )
        identity.ensure_group(self.store, CLI, tr.SAFETY_GROUP, "Dangerous goods checks")
        identity.ensure_group(self.store, CLI, tr.STORES_GROUP, "The stores")
        for member in ("safe1", "safe2"):
            identity.add_member(self.store, CLI, tr.SAFETY_GROUP, member)
        identity.add_member(self.store, CLI, tr.STORES_GROUP, "stores1")
        identity.add_user(self.store, CLI, "root", "Root", email("root"), admin=True)
        instruments.run_instrument_command(
            self.store, CLI, INSTRUMENT, RegisterInstrument(INSTRUMENT)
        )

    def investigations(self, proposal: str) -> tuple[UUID, UUID]:
        """The proposal's investigation (with all participants) and a later session of it
        (whose local contact is lc2, and whose PI pi2 is no participant of the first)."""
        now = datetime.now(UTC)
        first = investigations_portal.create_investigation(
            self.store,
            CLI,
            timedelta(days=3650),
            proposal=proposal,
            instrument=INSTRUMENT,
            title=f"{proposal} first visit",
            start=now - timedelta(days=1),
            visit_id=f"{proposal}-v1",
        )
        for username, role in PARTICIPANTS.items():
            investigations_portal.add_participant(self.store, CLI, first, username, role)
        session = investigations_portal.create_investigation(
            self.store,
            CLI,
            timedelta(days=3650),
            proposal=proposal,
            instrument=INSTRUMENT,
            title=f"{proposal} second visit",
            start=now + timedelta(days=2),
            end=now + timedelta(days=4),
            visit_id=f"{proposal}-v2",
        )
        investigations_portal.add_participant(self.store, CLI, session, "lc2", Role.LOCAL_CONTACT)
        investigations_portal.add_participant(
            self.store, CLI, session, "pi2", Role.PRINCIPAL_INVESTIGATOR
        )
        return first, session

    def parcel(
        self,
        investigation: UUID,
        name: str,
        *,
        dangerous: tuple[str, ...] = (),
        after: tr.AfterExperiment = tr.AfterExperiment.RETURN,
    ) -> UUID:
        shipment = tracking.create_shipment(
            self.store,
            CLI,
            investigation,
            tr.CreateShipment(
                investigation_id=investigation,
                proposal="",
                name=f"shipment of {name}",
                sender=ADDRESS,
                return_address=ADDRESS,
            ),
        )
        parcel = tracking.create_parcel(self.store, CLI, shipment, name, after, "")
        spec = tr.ItemSpec(
            name="puck A",
            kind=tr.ItemKind.CONTAINER,
            container_type=tr.ContainerType.PUCK,
            dangerous_goods=dangerous,
        )
        tracking.add_items(self.store, CLI, parcel, [tracking.ItemInput(spec)], None)
        return parcel

    def move(self, parcel: UUID, to: tr.ParcelStatus, **fields: Any) -> None:
        tracking.move_parcel(self.store, CLI, parcel, tracking.Step(to=to, **fields), None)


@pytest.fixture
def world(services: Services) -> World:
    made = World(services)
    made.users()
    return made


def outbox_rows(services: Services) -> list[dict[str, Any]]:
    with read_transaction(services.engine) as connection:
        found = connection.execute(select(outbox).order_by(outbox.c.position, outbox.c.recipient))
        return [dict(r._mapping) for r in found]


class Notified:
    """Runs the projection and returns the rows each run added."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.seen: set[UUID] = set()

    def __call__(self) -> list[dict[str, Any]]:
        catch_up(self.services.store, notifications(self.services))
        new = [r for r in outbox_rows(self.services) if r["id"] not in self.seen]
        self.seen |= {r["id"] for r in new}
        return new


def recipients(rows: Sequence[dict[str, Any]]) -> list[str]:
    return sorted(r["recipient"] for r in rows)


def link(parcel: UUID) -> str:
    return f"{PUBLIC_URL}/api/v1/tracking/parcels/{parcel}"


ALL_PARTICIPANTS = sorted(email(u) for u in PARTICIPANTS)
ST = tr.ParcelStatus


# -- who hears of what -----------------------------------------------------------------------


def test_dangerous_goods_go_to_the_safety_group_and_arrival_to_participants_and_local_contacts(
    world: World,
) -> None:
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "Dewar \u2116 1", dangerous=("2.2", "6.1"))
    notified = Notified(world.services)
    assert notified() == []

    world.move(parcel, ST.SCHEDULED, session_id=session)
    assert notified() == []

    world.move(parcel, ST.READY)
    ready = notified()
    assert recipients(ready) == [email("safe1"), email("safe2")]
    for row in ready:
        assert row["kind"] == "parcel.READY"
        assert row["status"] == "pending"
        assert row["subject_ref"] == f"parcel:{parcel}"
        assert row["subject"] == (
            "[MX-2345] Parcel \u201cDewar \u2116 1\u201d awaits a dangerous-goods check"
        )
        body = row["body"]
        assert "Parcel \u201cDewar \u2116 1\u201d of proposal MX-2345" in body
        assert (
            "Dangerous goods declared: 2.2 (non-flammable, non-toxic gases), "
            "6.1 (toxic substances)" in body
        )
        assert f"Beamline: {INSTRUMENT}" in body
        assert f"By: {OPERATOR.actor}" in body
        assert body.endswith(f"The parcel: {link(parcel)}\n")
    assert ready[0]["body"] == ready[1]["body"]
    assert ready[0]["event_id"] == ready[1]["event_id"]

    world.move(parcel, ST.APPROVED)
    assert notified() == []
    world.move(parcel, ST.SENT, tracking_number="1Z999AA10123456784")
    assert notified() == []

    world.move(parcel, ST.STORES, comment="two dewars, one dented")
    stores = notified()
    # Every participant of the investigation, and the session's local contact (not its PI).
    assert recipients(stores) == sorted([*ALL_PARTICIPANTS, email("lc2")])
    for row in stores:
        assert row["kind"] == "parcel.STORES"
        assert (
            row["subject"]
            == "[MX-2345] Parcel \u201cDewar \u2116 1\u201d was received at the stores"
        )
        assert "Comment: two dewars, one dented" in row["body"]
        assert "Dangerous goods" not in row["body"]
        assert link(parcel) in row["body"]

    world.move(parcel, ST.BEAMLINE)
    world.move(parcel, ST.BACK_STORES)
    assert notified() == []

    world.move(parcel, ST.BACK_USER, tracking_number="RET 4711/B")
    back = notified()
    assert recipients(back) == ALL_PARTICIPANTS
    for row in back:
        assert row["subject"] == "[MX-2345] Parcel \u201cDewar \u2116 1\u201d was sent back"
        assert "Tracking number: RET 4711/B" in row["body"]
        assert link(parcel) in row["body"]
    # Nobody outside the investigation heard of anything.
    everyone = {r["recipient"] for r in outbox_rows(world.services)}
    assert not everyone & {email(u) for u in ("pi2", "bystander", "stores1", "root", INDUSTRY)}


def test_a_parcel_without_dangerous_goods_tells_no_one_when_ready(world: World) -> None:
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "Box")
    notified = Notified(world.services)
    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)  # approved automatically
    world.move(parcel, ST.SENT, tracking_number="TRK-0001")
    assert notified() == []


def test_refusal_and_destruction_go_to_the_participants(world: World) -> None:
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(
        investigation, "Acids", dangerous=("8",), after=tr.AfterExperiment.DESTROY
    )
    notified = Notified(world.services)
    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)
    assert recipients(notified()) == [email("safe1"), email("safe2")]

    world.move(parcel, ST.REFUSED, comment="UN 1789 needs a proper packing group")
    refused = notified()
    assert recipients(refused) == ALL_PARTICIPANTS
    for row in refused:
        assert (
            row["subject"] == "[MX-2345] Parcel \u201cAcids\u201d was refused by the safety group"
        )
        assert "Comment: UN 1789 needs a proper packing group" in row["body"]

    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)
    assert recipients(notified()) == [email("safe1"), email("safe2")]
    world.move(parcel, ST.APPROVED)
    world.move(parcel, ST.SENT, tracking_number="TRK-0002")
    world.move(parcel, ST.STORES)
    assert recipients(notified()) == sorted([*ALL_PARTICIPANTS, email("lc2")])
    world.move(parcel, ST.BACK_STORES)
    world.move(parcel, ST.DESTROYED)
    destroyed = notified()
    assert recipients(destroyed) == ALL_PARTICIPANTS
    assert {r["subject"] for r in destroyed} == {"[MX-2345] Parcel \u201cAcids\u201d was destroyed"}
    assert {r["kind"] for r in destroyed} == {"parcel.DESTROYED"}


def test_industrial_proposals_also_tell_the_industry_office(world: World) -> None:
    industrial, industrial_session = world.investigations("IN-0042")
    normal, normal_session = world.investigations("MX-2345")
    paid = world.parcel(industrial, "Paid", dangerous=("3",))
    free = world.parcel(normal, "Free", dangerous=("3",))
    notified = Notified(world.services)
    for parcel, session in ((paid, industrial_session), (free, normal_session)):
        world.move(parcel, ST.SCHEDULED, session_id=session)
        world.move(parcel, ST.READY)
    ready = notified()
    assert recipients([r for r in ready if r["subject_ref"] == f"parcel:{paid}"]) == [
        INDUSTRY,
        email("safe1"),
        email("safe2"),
    ]
    assert recipients([r for r in ready if r["subject_ref"] == f"parcel:{free}"]) == [
        email("safe1"),
        email("safe2"),
    ]

    for parcel in (paid, free):
        world.move(parcel, ST.APPROVED)
        world.move(parcel, ST.SENT, tracking_number="TRK-0003")
        world.move(parcel, ST.STORES)
    arrived = notified()
    paid_rows = [r for r in arrived if r["subject_ref"] == f"parcel:{paid}"]
    assert recipients(paid_rows) == sorted([*ALL_PARTICIPANTS, email("lc2"), INDUSTRY])
    assert {r["subject"] for r in paid_rows} == {
        "[IN-0042] Parcel \u201cPaid\u201d was received at the stores"
    }
    free_rows = [r for r in arrived if r["subject_ref"] == f"parcel:{free}"]
    assert recipients(free_rows) == sorted([*ALL_PARTICIPANTS, email("lc2")])


def test_a_parcel_name_with_a_line_separator_is_delivered(world: World, tmp_path: Path) -> None:
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "Dewar\u2028B", dangerous=("2.2",))
    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)
    Notified(world.services)()

    mailer = MaildirMailer(tmp_path / "maildir")
    report = deliver_due(world.services.engine, mailer, SENDER, policy=POLICY)
    assert (report.sent, report.failed) == (2, 0)
    assert {r["status"] for r in outbox_rows(world.services)} == {"sent"}
    assert len(list((tmp_path / "maildir" / "new").iterdir())) == 2


# -- what is not sent --------------------------------------------------------------------------


def _age_events(connection: Connection, after: int, age: timedelta) -> None:
    connection.execute(
        update(events).where(events.c.position > after).values(recorded_at=datetime.now(UTC) - age)
    )


def head(services: Services) -> int:
    with read_transaction(services.engine) as connection:
        return services.store.head_position(connection)


def test_old_steps_are_recorded_as_suppressed(world: World) -> None:
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "Old", dangerous=("2.2",))
    notified = Notified(world.services)
    world.move(parcel, ST.SCHEDULED, session_id=session)
    before = head(world.services)
    world.move(parcel, ST.READY)
    # The runner reaches the step eight days late (the service was down).
    with write_transaction(world.services.engine) as connection:
        _age_events(connection, before, timedelta(days=8))
    old = notified()
    assert recipients(old) == [email("safe1"), email("safe2")]
    assert {r["status"] for r in old} == {"suppressed"}

    world.move(parcel, ST.REFUSED, comment="leaking")
    fresh = notified()
    assert recipients(fresh) == ALL_PARTICIPANTS
    assert {r["status"] for r in fresh} == {"pending"}

    mailer_seen: list[str] = []

    class Recorder:
        def deliver(self, mail: Any) -> None:
            mailer_seen.append(mail.recipient)

    deliver_due(world.services.engine, Recorder(), SENDER, policy=POLICY)
    assert sorted(mailer_seen) == ALL_PARTICIPANTS


def test_a_rebuild_mails_what_was_never_queued_unless_it_is_old(world: World) -> None:
    """A rebuild over history: steps already queued keep their rows (nothing is mailed
    twice), recent steps never queued (the runner had not reached them) are mailed, old
    ones are recorded as suppressed."""
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "History", dangerous=("2.2",))
    world.move(parcel, ST.SCHEDULED, session_id=session)
    before_ready = head(world.services)
    world.move(parcel, ST.READY)
    world.move(parcel, ST.REFUSED, comment="no")
    queued = Notified(world.services)()  # the runner queued the safety notice and refusal
    assert {r["status"] for r in queued} == {"pending"}
    with write_transaction(world.services.engine) as connection:
        connection.execute(update(outbox).values(status="sent"))
        _age_events(connection, before_ready, timedelta(days=8))  # READY is now old
    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)  # appended, not yet reached by the runner

    projection = notifications(world.services)
    rebuild(world.services.store, projection, batch_size=2)
    rows = outbox_rows(world.services)
    first = [r for r in rows if r["id"] in {q["id"] for q in queued}]
    assert sorted((r["recipient"], r["status"]) for r in first) == sorted(
        (r["recipient"], "sent") for r in queued
    )
    latest = [r for r in rows if r["id"] not in {q["id"] for q in queued}]
    assert recipients(latest) == [email("safe1"), email("safe2")]
    assert {r["status"] for r in latest} == {"pending"}
    with read_transaction(world.services.engine) as connection:
        assert read_checkpoint(connection, projection.name).status is Status.LIVE


def test_a_first_rebuild_over_old_history_mails_nobody(world: World) -> None:
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "Ancient", dangerous=("2.2",))
    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)
    world.move(parcel, ST.REFUSED, comment="no")
    with write_transaction(world.services.engine) as connection:
        _age_events(connection, 0, timedelta(days=30))
    rebuild(world.services.store, notifications(world.services), batch_size=2)
    rows = outbox_rows(world.services)
    assert recipients(rows) == sorted([email("safe1"), email("safe2"), *ALL_PARTICIPANTS])
    assert {r["status"] for r in rows} == {"suppressed"}


def test_a_step_whose_parcel_is_not_projected_yet_waits_for_it(world: World) -> None:
    """While the inline tracking projection is rebuilt its rows come back in order: a notice
    must wait for its parcel, not be skipped for good."""
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "Waiting", dangerous=("2.2",))
    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)
    with write_transaction(world.services.engine) as connection:
        connection.execute(delete(parcels))  # as a rebuild of `tracking` leaves it part-way
    projection = notifications(world.services)
    with pytest.raises(ProjectionError, match=str(parcel)):
        catch_up(world.services.store, projection)
    with read_transaction(world.services.engine) as connection:
        assert read_checkpoint(connection, projection.name).position == 0
    assert outbox_rows(world.services) == []

    tracking_projection = next(p for p in world.services.projections if p.name == "tracking")
    rebuild(world.services.store, tracking_projection, restart=True)
    catch_up(world.services.store, projection)
    assert recipients(outbox_rows(world.services)) == [email("safe1"), email("safe2")]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp_server()
    yield server
    server.controller.stop()


def test_a_rebuild_keeps_the_outbox_and_sends_nothing_again(
    world: World, smtp_server: SmtpServer
) -> None:
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "Kept", dangerous=("2.2",))
    notified = Notified(world.services)
    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)
    notified()
    mailer = smtp_server.mailer()
    assert deliver_due(world.services.engine, mailer, SENDER, policy=POLICY).sent == 2
    world.move(parcel, ST.REFUSED, comment="no")
    notified()  # pending, not yet sent when the rebuild starts
    before = {r["id"]: r for r in outbox_rows(world.services)}
    assert sorted(r["status"] for r in before.values()) == ["pending"] * 4 + ["sent"] * 2

    rebuild(world.services.store, notifications(world.services), batch_size=1)

    after = {r["id"]: r for r in outbox_rows(world.services)}
    assert after == before
    report = deliver_due(world.services.engine, mailer, SENDER, policy=POLICY)
    assert report.sent == 4
    ids = smtp_server.handler.message_ids()
    assert len(ids) == len(set(ids)) == 6
    assert sorted(ids) == sorted(r["message_id"] for r in after.values())


# -- a crash between the outbox rows and the checkpoint --------------------------------------


class CrashingNotifications(TrackingNotifications):
    """Dies after writing its rows, before the runner saves the checkpoint."""

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        super().apply(connection, batch)
        raise KeyboardInterrupt("killed before the checkpoint")


def test_a_crash_before_the_checkpoint_queues_and_sends_each_notice_once(
    world: World, smtp_server: SmtpServer
) -> None:
    investigation, session = world.investigations("MX-2345")
    parcel = world.parcel(investigation, "Crash", dangerous=("2.2",))
    world.move(parcel, ST.SCHEDULED, session_id=session)
    world.move(parcel, ST.READY)
    world.move(parcel, ST.REFUSED, comment="no")
    projection = notifications(world.services)

    with pytest.raises(KeyboardInterrupt):
        catch_up_batch(world.services.store, CrashingNotifications(projection.settings))
    assert outbox_rows(world.services) == []
    with read_transaction(world.services.engine) as connection:
        assert read_checkpoint(connection, projection.name).position == 0

    catch_up(world.services.store, projection)
    catch_up(world.services.store, projection)
    mailer = smtp_server.mailer()
    while deliver_due(world.services.engine, mailer, SENDER, policy=POLICY, limit=2).sent:
        pass

    rows = outbox_rows(world.services)
    assert recipients(rows) == sorted([email("safe1"), email("safe2"), *ALL_PARTICIPANTS])
    assert len({(r["event_id"], r["recipient"]) for r in rows}) == len(rows) == 6
    assert {r["status"] for r in rows} == {"sent"}
    received = smtp_server.handler.messages()
    assert sorted(r.message_id for r in received) == sorted(r["message_id"] for r in rows)
    assert sorted(r.rcpt_tos[0] for r in received) == recipients(rows)
    for message in received:
        assert message.message["Subject"].startswith("[MX-2345] Parcel \u201cCrash\u201d")
        assert link(parcel) in message.message.get_content()
