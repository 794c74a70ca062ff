"""Users, groups, tokens, beamlines and API keys: the commands the operator's CLI runs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from catalogue.domain import identity as ident
from catalogue.domain import instruments as inst
from catalogue.domain.access import require
from catalogue.errors import NotFound
from catalogue.events import Event
from catalogue.portal.execution import Caller, execute, reading, run
from catalogue.readmodels.identity import TOKEN_PREFIX, credential_subject, hash_secret, user_exists
from catalogue.store import EventStore


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A new token or API key: the secret is shown once and never stored."""

    credential_id: str
    token: str


def new_secret() -> tuple[str, str, str]:
    """A new credential: its id, the token shown once, and the hash that is stored."""
    credential_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return credential_id, f"{TOKEN_PREFIX}_{credential_id}.{secret}", hash_secret(secret)


def require_admin(caller: Caller, action: str) -> None:
    """Refuse the action unless the caller is an administrator."""
    require(caller.principal.is_admin, caller.principal, action)


def add_user(
    store: EventStore, caller: Caller, username: str, full_name: str, email: str, *, admin: bool
) -> None:
    """Create an account; `admin` also puts it in the admins group."""
    require_admin(caller, "add users")
    command = ident.AddUser(username, full_name, email)
    run(store, caller, ident.USER, username, command)
    if admin:
        ensure_group(store, caller, ident.ADMIN_GROUP, "Administrators: may do everything")
        add_member(store, caller, ident.ADMIN_GROUP, username)


def ensure_group(store: EventStore, caller: Caller, name: str, description: str) -> None:
    """Create the group unless it exists."""
    require_admin(caller, "create groups")

    def decide(state: ident.Group) -> list[Event]:
        if state.exists:
            return []
        return ident.decide_group(state, ident.CreateGroup(name, description))

    execute(store, caller, ident.GROUP, name, decide)


def create_group(store: EventStore, caller: Caller, name: str, description: str) -> None:
    """Create a group (an error if it exists)."""
    require_admin(caller, "create groups")
    command = ident.CreateGroup(name, description)
    run(store, caller, ident.GROUP, name, command)


def add_member(store: EventStore, caller: Caller, group: str, username: str) -> None:
    """Put a user in a group."""
    require_admin(caller, "change groups")
    with reading(store) as connection:
        exists = user_exists(connection, username)
    command = ident.AddMember(username, exists)
    run(store, caller, ident.GROUP, group, command)


def remove_member(store: EventStore, caller: Caller, group: str, username: str) -> None:
    """Take a user out of a group."""
    require_admin(caller, "change groups")
    command = ident.RemoveMember(username)
    run(store, caller, ident.GROUP, group, command)


def issue_token(
    store: EventStore, caller: Caller, username: str, label: str, expires_at: datetime | None
) -> IssuedSecret:
    """A new bearer token for a user."""
    require_admin(caller, "issue tokens")
    with reading(store) as connection:
        if not user_exists(connection, username):
            raise NotFound(f"no user {username[:70]!r}")
    credential_id, token, secret_hash = new_secret()
    command = ident.IssueToken(credential_id, secret_hash, label, expires_at)
    run(store, caller, ident.USER, username, command)
    return IssuedSecret(credential_id, token)


def revoke_credential(
    store: EventStore, caller: Caller, credential_id: str, kind: str | None = None
) -> None:
    """Revoke a user's token or a beamline's API key by its id (of `kind` if given)."""
    require_admin(caller, "revoke credentials")
    with reading(store) as connection:
        found = credential_subject(connection, credential_id)
    what = {"token": "token", "api_key": "API key"}.get(kind or "", "token or API key")
    if found is None or (kind is not None and found[0] != kind):
        raise NotFound(f"no {what} {credential_id!r}")
    kind, subject = found
    if kind == "api_key":
        key_command = inst.RevokeApiKey(credential_id)
        run(store, caller, inst.INSTRUMENT, subject, key_command)
        return
    token_command = ident.RevokeToken(credential_id)
    run(store, caller, ident.USER, subject, token_command)
