"""`catalogue mail`: the operator's view of the mail outbox, and delivery by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from catalogue import outbox
from catalogue.database import read_transaction
from catalogue.domain.values import check_email
from catalogue.errors import InvalidCommand
from catalogue.mail import DeliveryError, Mail
from catalogue.services import open_services

mail_app = typer.Typer(help="The mail outbox: list, resend, deliver now.", no_args_is_help=True)
out = Console()

StatusOption = Annotated[
    str | None,
    typer.Option(help=f"Only mail in this status ({', '.join(outbox.STATUSES)})."),
]


def install(app: typer.Typer) -> None:
    """Add `mail` to the main CLI."""
    app.add_typer(mail_app, name="mail")


@mail_app.command("list")
def mail_list(
    status: StatusOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest first, at most.")] = 50,
) -> None:
    """Outbox messages, newest first, with their delivery state and last error."""
    if status is not None and status not in outbox.STATUSES:
        raise InvalidCommand(f"--status must be one of {', '.join(outbox.STATUSES)}", "status")
    services = open_services()
    try:
        with read_transaction(services.engine) as connection:
            page = outbox.list_outbox(connection, status, None, None, limit)
    finally:
        services.close()
    table = Table("id", "status", "tries", "recipient", "subject", "last error")
    for row in page.items:
        table.add_row(
            str(row["id"]),
            row["status"],
            str(row["attempts"]),
            row["recipient"],
            row["subject"],
            row["last_error"] or "",
        )
    out.print(table)
    more = "+" if not page.total_exact else ""
    out.print(f"{len(page.items)} shown of {page.total}{more}")


@mail_app.command("retry")
def mail_retry(message_id: Annotated[str, typer.Argument(help="The outbox row's id.")]) -> None:
    """Send a failed or suppressed message again at the next round."""
    try:
        row_id = UUID(message_id)
    except ValueError:
        raise InvalidCommand(f"{message_id[:40]!r} is not an outbox id (a UUID)", "id") from None
    services = open_services()
    try:
        outbox.requeue(services.engine, row_id, datetime.now(UTC))
    finally:
        services.close()
    out.print(f"message {row_id} will be sent again")


@mail_app.command("send")
def mail_send() -> None:
    """Deliver what is due now, one round (the service does this by itself)."""
    services = open_services()
    try:
        report = outbox.deliver_due(
            services.engine,
            services.mailer(),
            services.settings.mail_from,
            policy=services.retry_policy,
        )
    finally:
        services.close()
    out.print(f"sent {report.sent}, to retry {report.retrying}, failed {report.failed}")
    if report.retrying or report.failed:
        raise typer.Exit(1)


@mail_app.command("test")
def mail_test(recipient: Annotated[str, typer.Argument(help="Where to send it.")]) -> None:
    """Send one test message through the configured server (or mail directory) now."""
    check_email(recipient, "recipient")
    services = open_services()
    try:
        settings = services.settings
        domain = settings.mail_from.rsplit("@", 1)[1]
        mail = Mail(
            sender=settings.mail_from,
            recipient=recipient,
            subject="Catalogue mail test",
            body=f"This message tests the catalogue's mail settings ({settings.base_url}).\n",
            message_id=outbox.message_id(uuid.uuid4(), domain),
            date=datetime.now(UTC),
        )
        try:
            services.mailer().deliver(mail)
        except DeliveryError as error:
            raise InvalidCommand(f"the test message was not delivered: {error.reason}") from None
    finally:
        services.close()
    out.print(f"test message sent to {recipient}")
