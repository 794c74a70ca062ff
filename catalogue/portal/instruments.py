"""Beamlines: registering them, their scientists, and the API keys of their control systems."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from catalogue.domain import instruments as inst
from catalogue.domain.access import can_create_investigation, require
from catalogue.errors import NotFound
from catalogue.portal.execution import Caller, reading, run
from catalogue.portal.identity import IssuedSecret, new_secret, require_admin
from catalogue.readmodels import instruments as queries
from catalogue.readmodels.identity import user_exists
from catalogue.store import EventStore


def run_instrument_command(
    store: EventStore, caller: Caller, name: str, command: inst.InstrumentCommand
) -> None:
    """Register a beamline or change its scientists (admins only)."""
    require_admin(caller, "change instruments")
    run(store, caller, inst.INSTRUMENT, name, command)


def add_scientist(store: EventStore, caller: Caller, instrument: str, username: str) -> None:
    """Make a user one of the beamline's scientists."""
    with reading(store) as connection:
        exists = user_exists(connection, username)
    run_instrument_command(store, caller, instrument, inst.AddScientist(username, exists))


def issue_api_key(
    store: EventStore, caller: Caller, instrument: str, label: str, expires_at: datetime | None
) -> IssuedSecret:
    """A new API key for a beamline's control system (admins and its scientists)."""
    require(
        can_create_investigation(caller.principal, instrument),
        caller.principal,
        f"issue API keys for {instrument}",
    )
    with reading(store) as connection:
        if not queries.instrument_exists(connection, instrument):
            raise NotFound(f"no instrument {instrument[:40]!r}")
    credential_id, token, secret_hash = new_secret()
    command = inst.IssueApiKey(credential_id, secret_hash, label, expires_at)
    run(store, caller, inst.INSTRUMENT, instrument, command)
    return IssuedSecret(credential_id, token)


def list_instruments(store: EventStore, name: str | None = None) -> list[dict[str, Any]]:
    """Every beamline (or the one named) with its scientists; anyone may read them."""
    with reading(store) as connection:
        found = queries.list_instruments(connection, name)
    if name is not None and not found:
        raise NotFound(f"no instrument {name[:40]!r}")
    return found
