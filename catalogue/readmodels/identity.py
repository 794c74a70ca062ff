"""Queries on users, groups and credentials: who a bearer token is, and listings for the CLI."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, literal, select

from catalogue.domain.access import Principal, PrincipalKind
from catalogue.domain.identity import ADMIN_GROUP
from catalogue.errors import Unauthenticated
from catalogue.schema import credentials, group_members, groups, instrument_scientists, users

TOKEN_PREFIX = "cat"


def hash_secret(secret: str) -> str:
    """The stored form of a token's secret (SHA-256: secrets are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str]:
    """A token `cat_<id>.<secret>` into its id and secret; anything else is refused."""
    prefix, _, rest = token.partition("_")
    credential_id, _, secret = rest.partition(".")
    well_formed = len(token) <= 200 and token.isascii() and token.isprintable()
    if prefix != TOKEN_PREFIX or not credential_id or not secret or not well_formed:
        raise Unauthenticated("the bearer token is malformed")
    return credential_id, secret


def resolve_principal(connection: Connection, token: str, now: datetime) -> Principal:
    """The caller a bearer token stands for; unknown, expired and revoked tokens are refused."""
    credential_id, secret = split_token(token)
    # The credential and whether its user is an admin, in one round trip.
    is_admin = (
        exists()
        .where(
            group_members.c.group_name == ADMIN_GROUP,
            group_members.c.username == credentials.c.subject,
            credentials.c.kind == "token",
        )
        .label("is_admin")
    )
    row = connection.execute(
        select(credentials, is_admin).where(credentials.c.id == credential_id)
    ).first()
    # Compare hashes in constant time even when the id is unknown, so timing tells nothing.
    expected = row.secret_hash if row is not None else "0" * 64
    if not hmac.compare_digest(hash_secret(secret), expected) or row is None:
        raise Unauthenticated("the bearer token is not valid")
    if row.revoked_at is not None:
        raise Unauthenticated("the bearer token was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("the bearer token has expired")
    if row.kind == "api_key":
        return Principal(PrincipalKind.API_KEY, instrument=row.subject, credential_id=row.id)
    username = row.subject
    # Beamlines and groups in one round trip: a request resolves its caller every time.
    memberships = connection.execute(
        select(literal("instrument").label("kind"), instrument_scientists.c.instrument)
        .where(instrument_scientists.c.username == username)
        .union_all(
            select(literal("group"), group_members.c.group_name).where(
                group_members.c.username == username
            )
        )
    ).all()
    return Principal(
        PrincipalKind.USER,
        username=username,
        is_admin=bool(row.is_admin),
        scientist_of=frozenset(name for kind, name in memberships if kind == "instrument"),
        credential_id=row.id,
        groups=frozenset(name for kind, name in memberships if kind == "group"),
    )


def user_exists(connection: Connection, username: str) -> bool:
    """Whether a user account exists."""
    return bool(
        connection.execute(select(exists().where(users.c.username == username))).scalar_one()
    )


def users_by_name(connection: Connection, usernames: list[str]) -> dict[str, dict[str, Any]]:
    """The accounts of these users, by username (unknown names are left out)."""
    if not usernames:
        return {}
    query = select(users).where(users.c.username.in_(usernames))
    return {row["username"]: dict(row) for row in connection.execute(query).mappings()}


def list_users(connection: Connection) -> list[dict[str, Any]]:
    """Every user with their groups."""
    rows = connection.execute(select(users).order_by(users.c.username)).mappings().all()
    memberships: dict[str, list[str]] = {}
    for member in connection.execute(select(group_members).order_by(group_members.c.group_name)):
        memberships.setdefault(member.username, []).append(member.group_name)
    return [{**row, "groups": memberships.get(row["username"], [])} for row in rows]


def list_groups(connection: Connection) -> list[dict[str, Any]]:
    """Every group with its members."""
    rows = connection.execute(select(groups).order_by(groups.c.name)).mappings().all()
    members: dict[str, list[str]] = {}
    for member in connection.execute(select(group_members).order_by(group_members.c.username)):
        members.setdefault(member.group_name, []).append(member.username)
    return [{**row, "members": members.get(row["name"], [])} for row in rows]


def list_credentials(connection: Connection, subject: str | None = None) -> list[dict[str, Any]]:
    """Tokens and API keys (never their hashes), optionally of one user or beamline."""
    query = select(
        credentials.c.id,
        credentials.c.kind,
        credentials.c.subject,
        credentials.c.label,
        credentials.c.created_at,
        credentials.c.expires_at,
        credentials.c.revoked_at,
    ).order_by(credentials.c.subject, credentials.c.created_at)
    if subject is not None:
        query = query.where(credentials.c.subject == subject)
    return [dict(row) for row in connection.execute(query).mappings()]


def credential_subject(connection: Connection, credential_id: str) -> tuple[str, str] | None:
    """(kind, subject) of a credential, or None."""
    row = connection.execute(
        select(credentials.c.kind, credentials.c.subject).where(credentials.c.id == credential_id)
    ).first()
    return None if row is None else (row.kind, row.subject)
