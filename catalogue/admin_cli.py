"""`catalogue users|groups|tokens|api-keys|instruments`: the operator's identity commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from catalogue.database import read_transaction
from catalogue.domain import instruments as inst
from catalogue.domain.access import OPERATOR
from catalogue.portal import identity, instruments
from catalogue.portal.execution import Caller
from catalogue.readmodels import identity as queries
from catalogue.readmodels.instruments import list_instruments
from catalogue.services import Services, open_services

users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
groups_app = typer.Typer(
    help="Groups of users (members of 'admins' may do everything).", no_args_is_help=True
)
tokens_app = typer.Typer(help="Users' bearer tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Beamline API keys for control systems.", no_args_is_help=True)
instruments_app = typer.Typer(help="Beamlines and their scientists.", no_args_is_help=True)

out = Console()


def install(app: typer.Typer) -> None:
    """Add these command groups to the main CLI."""
    app.add_typer(users_app, name="users")
    app.add_typer(groups_app, name="groups")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(keys_app, name="api-keys")
    app.add_typer(instruments_app, name="instruments")


@contextmanager
def operating() -> Iterator[tuple[Services, Caller]]:
    """The services and the operator acting on the command line."""
    services = open_services()
    try:
        yield services, Caller(OPERATOR, source="cli")
    finally:
        services.close()


def _expiry(days: int | None) -> datetime | None:
    return None if days is None else datetime.now(UTC) + timedelta(days=days)


ExpiresOption = Annotated[
    int | None, typer.Option("--expires-days", min=1, max=3650, help="Expire after N days.")
]


@users_app.command("add")
def users_add(
    username: str,
    email: Annotated[str, typer.Option(help="E-mail address.")],
    full_name: Annotated[str, typer.Option(help="Name as shown to others.")] = "",
    admin: Annotated[bool, typer.Option(help="Also make the user an administrator.")] = False,
) -> None:
    """Create a user account."""
    with operating() as (services, caller):
        identity.add_user(services.store, caller, username, full_name, email, admin=admin)
    out.print(f"added user {username}" + (" (admin)" if admin else ""))


@users_app.command("list")
def users_list() -> None:
    """Every user with their groups."""
    with operating() as (services, _), read_transaction(services.engine) as connection:
        rows = queries.list_users(connection)
    table = Table("username", "full name", "e-mail", "groups")
    for row in rows:
        table.add_row(row["username"], row["full_name"], row["email"], ", ".join(row["groups"]))
    out.print(table)


@groups_app.command("add")
def groups_add(
    name: str, description: Annotated[str, typer.Option(help="What the group is for.")] = ""
) -> None:
    """Create a group."""
    with operating() as (services, caller):
        identity.create_group(services.store, caller, name, description)
    out.print(f"added group {name}")


@groups_app.command("add-member")
def groups_add_member(group: str, username: str) -> None:
    """Put a user in a group."""
    with operating() as (services, caller):
        identity.add_member(services.store, caller, group, username)
    out.print(f"{username} is in {group}")


@groups_app.command("remove-member")
def groups_remove_member(group: str, username: str) -> None:
    """Take a user out of a group."""
    with operating() as (services, caller):
        identity.remove_member(services.store, caller, group, username)
    out.print(f"{username} left {group}")


@groups_app.command("list")
def groups_list() -> None:
    """Every group with its members."""
    with operating() as (services, _), read_transaction(services.engine) as connection:
        rows = queries.list_groups(connection)
    table = Table("group", "description", "members")
    for row in rows:
        table.add_row(row["name"], row["description"], ", ".join(row["members"]))
    out.print(table)


def _print_secret(what: str, secret: identity.IssuedSecret) -> None:
    out.print(f"{what} {secret.credential_id} (shown once; store it now):")
    # The secret alone on the last line, for scripts.
    print(secret.token)


@tokens_app.command("create")
def tokens_create(
    username: str,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_days: ExpiresOption = None,
) -> None:
    """Issue a bearer token to a user (printed once, stored hashed)."""
    with operating() as (services, caller):
        secret = identity.issue_token(
            services.store, caller, username, label, _expiry(expires_days)
        )
    _print_secret("token", secret)


def _credentials_table(kind: str, subject: str | None) -> None:
    with operating() as (services, _), read_transaction(services.engine) as connection:
        rows = [r for r in queries.list_credentials(connection, subject) if r["kind"] == kind]
    table = Table("id", "owner", "label", "created", "expires", "revoked")
    for row in rows:
        table.add_row(
            row["id"],
            row["subject"],
            row["label"],
            f"{row['created_at']:%Y-%m-%d %H:%M}",
            f"{row['expires_at']:%Y-%m-%d}" if row["expires_at"] else "never",
            f"{row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "",
        )
    out.print(table)


@tokens_app.command("list")
def tokens_list(username: Annotated[str | None, typer.Argument()] = None) -> None:
    """Tokens (never their secrets), of one user or all."""
    _credentials_table("token", username)


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    with operating() as (services, caller):
        identity.revoke_credential(services.store, caller, token_id, kind="token")
    out.print(f"revoked {token_id}")


@keys_app.command("create")
def keys_create(
    instrument: str,
    label: Annotated[str, typer.Option(help="Which system uses the key.")] = "",
    expires_days: ExpiresOption = None,
) -> None:
    """Issue an API key to a beamline's control system (printed once, stored hashed)."""
    with operating() as (services, caller):
        secret = instruments.issue_api_key(
            services.store, caller, instrument, label, _expiry(expires_days)
        )
    _print_secret("API key", secret)


@keys_app.command("list")
def keys_list(instrument: Annotated[str | None, typer.Argument()] = None) -> None:
    """API keys (never their secrets), of one beamline or all."""
    _credentials_table("api_key", instrument)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    with operating() as (services, caller):
        identity.revoke_credential(services.store, caller, key_id, kind="api_key")
    out.print(f"revoked {key_id}")


@instruments_app.command("add")
def instruments_add(
    name: str,
    full_name: Annotated[str, typer.Option(help="Descriptive name.")] = "",
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Register a beamline."""
    with operating() as (services, caller):
        command = inst.RegisterInstrument(name, full_name, description)
        instruments.run_instrument_command(services.store, caller, name, command)
    out.print(f"added instrument {name}")


@instruments_app.command("add-scientist")
def instruments_add_scientist(instrument: str, username: str) -> None:
    """Make a user one of the beamline's scientists."""
    with operating() as (services, caller):
        instruments.add_scientist(services.store, caller, instrument, username)
    out.print(f"{username} is a scientist of {instrument}")


@instruments_app.command("remove-scientist")
def instruments_remove_scientist(instrument: str, username: str) -> None:
    """Take a user off the beamline's scientists."""
    with operating() as (services, caller):
        command = inst.RemoveScientist(username)
        instruments.run_instrument_command(services.store, caller, instrument, command)
    out.print(f"{username} is no longer a scientist of {instrument}")


@instruments_app.command("list")
def instruments_list() -> None:
    """Every beamline with its scientists."""
    with operating() as (services, _), read_transaction(services.engine) as connection:
        rows = list_instruments(connection)
    table = Table("instrument", "full name", "scientists")
    for row in rows:
        table.add_row(row["name"], row["full_name"], ", ".join(row["scientists"]))
    out.print(table)
