"""`catalogue mail` as an operator runs it on SQLite: list the outbox, deliver now, resend, and
test the mail settings; to the Maildir by default, to a real SMTP server when configured."""

from __future__ import annotations

import email
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from catalogue.database import write_transaction
from catalogue.outbox import Notice, enqueue, outbox_id
from tests.conftest import sqlite_database
from tests.e2e.test_identity_cli import Operator, assert_one_line_error, row
from tests.integration.test_mail import free_port, start_smtp_server


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    """The CLI on a migrated SQLite file; its mail directory is `var/mail` under `tmp_path`."""
    operator = Operator(tmp_path, sqlite_database(tmp_path))
    yield operator
    operator.services.close()


def queue_notice(operator: Operator, recipient: str = "bob@example.org") -> uuid.UUID:
    """An outbox row, as the notification projection writes it; its id."""
    event_id = uuid.uuid4()
    notice = Notice(
        event_id=event_id,
        position=1,
        recipient=recipient,
        kind="parcel.STORES",
        subject_ref="parcel:1",
        subject="Parcel dewar-1 was received at the stores",
        body="Parcel dewar-1 was received at the stores.\n",
    )
    with write_transaction(operator.engine) as connection:
        enqueue(connection, [notice], "example.org", datetime.now(UTC), "pending")
    return outbox_id(event_id, recipient)


def mailbox(operator: Operator) -> list[email.message.Message]:
    new = operator.directory / "var" / "mail" / "new"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(new.glob("*.eml"))]


def test_send_delivers_due_mail_and_list_shows_it_sent(operator: Operator) -> None:
    row_id = str(queue_notice(operator))
    pending = row(operator.ok("mail", "list"), row_id)
    assert pending[1:4] == ["pending", "0", "bob@example.org"]

    assert operator.ok("mail", "send").strip() == "sent 1, to retry 0, failed 0"
    (message,) = mailbox(operator)
    assert message["To"] == "bob@example.org"
    assert message["Subject"] == "Parcel dewar-1 was received at the stores"
    sent = row(operator.ok("mail", "list", "--status", "sent"), row_id)
    assert sent[1:3] == ["sent", "1"]
    # Nothing is due any more: a second round sends nothing.
    assert operator.ok("mail", "send").strip() == "sent 0, to retry 0, failed 0"
    assert len(mailbox(operator)) == 1


def test_an_unreachable_server_leaves_mail_to_retry_and_says_so(operator: Operator) -> None:
    row_id = str(queue_notice(operator))
    operator.env["CATALOGUE_SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens
    result = operator.run("mail", "send")
    assert result.returncode == 1
    assert "sent 0, to retry 1, failed 0" in result.stdout
    waiting = row(operator.ok("mail", "list"), row_id)
    assert waiting[1:3] == ["pending", "1"]
    assert "cannot reach the SMTP server" in waiting[5]


def test_test_sends_one_message_through_the_configured_server(operator: Operator) -> None:
    server = start_smtp_server()
    try:
        operator.env["CATALOGUE_SMTP_URL"] = server.url()
        operator.env["CATALOGUE_MAIL_FROM"] = "catalogue@facility.example"
        assert "test message sent to ops@example.org" in operator.ok(
            "mail", "test", "ops@example.org"
        )
        (received,) = server.handler.messages()
        assert received.rcpt_tos == ("ops@example.org",)
        assert received.message["From"] == "catalogue@facility.example"
        assert received.message_id.endswith("@facility.example>")
    finally:
        server.controller.stop()
    assert mailbox(operator) == []


BAD_INPUT = [
    (("mail", "test", "not an address"), "is not an e-mail address"),
    (("mail", "list", "--status", "lost"), "--status must be one of"),
    (("mail", "retry", "12345"), "is not an outbox id"),
    (("mail", "retry", str(uuid.uuid4())), "no outbox message with that id"),
]


def test_bad_input_is_one_line_and_a_non_zero_exit(operator: Operator) -> None:
    # Independent commands, run at once: each is a Python start-up.
    results = operator.run_all(*(command for command, _ in BAD_INPUT))
    for result, (_, fragment) in zip(results, BAD_INPUT, strict=True):
        assert_one_line_error(result, fragment)


def test_retry_takes_only_failed_or_suppressed_mail(operator: Operator) -> None:
    row_id = str(queue_notice(operator))
    assert_one_line_error(operator.run("mail", "retry", row_id), "only failed or suppressed")
    with write_transaction(operator.engine) as connection:
        connection.exec_driver_sql("UPDATE outbox SET status = 'failed', attempts = 8")
    assert f"message {row_id} will be sent again" in operator.ok("mail", "retry", row_id)
    assert row(operator.ok("mail", "list"), row_id)[1:3] == ["pending", "0"]
    assert operator.ok("mail", "send").strip() == "sent 1, to retry 0, failed 0"
