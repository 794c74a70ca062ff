"""Beamlines, their scientists and API keys (catalogue.domain.instruments), as tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest

from catalogue.domain.instruments import (
    AddScientist,
    ApiKeyIssued,
    ApiKeyRevoked,
    Instrument,
    InstrumentRegistered,
    InstrumentScientistAdded,
    InstrumentScientistRemoved,
    IssueApiKey,
    RegisterInstrument,
    RemoveScientist,
    RevokeApiKey,
    decide_instrument,
    evolve_instrument,
)
from catalogue.errors import AlreadyExists, CatalogueError, DomainError, InvalidCommand, NotFound
from catalogue.events import Event

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=365)


@dataclass(frozen=True)
class Rejected:
    """The error a command must raise: exact class, field at fault, fragment of the detail."""

    error: type[CatalogueError]
    field: str | None
    fragment: str


def given(events: Iterable[Event]) -> Instrument:
    return reduce(evolve_instrument, events, Instrument())


ID23 = InstrumentRegistered(
    name="ID23-1", full_name="MX beamline ID23-1", description="Macromolecular crystallography"
)
ALICE_IN = InstrumentScientistAdded(username="alice")
ALICE_OUT = InstrumentScientistRemoved(username="alice")
KEY = ApiKeyIssued(key_id="k1", secret_hash="h1", label="bliss", expires_at=EXPIRES)
KEY_OFF = ApiKeyRevoked(key_id="k1")

CASES = [
    pytest.param([], RegisterInstrument("ID23-1", "MX beamline ID23-1",
                 "Macromolecular crystallography"), [ID23], id="register"),
    pytest.param([], RegisterInstrument("BM29"),
                 [InstrumentRegistered(name="BM29", full_name="", description="")],
                 id="register-name-only"),
    pytest.param([ID23], RegisterInstrument("ID23-1"), Rejected(AlreadyExists, "name",
                 "'ID23-1' already exists"), id="register-twice"),
    pytest.param([], RegisterInstrument("id23-1"), Rejected(InvalidCommand, "name",
                 "must be 1-32"), id="register-lower-case-name"),
    pytest.param([], RegisterInstrument("ID23", "x" * 201), Rejected(InvalidCommand,
                 "full_name", "at most 200"), id="register-long-full-name"),
    pytest.param([], RegisterInstrument("ID23", "", "x" * 4001), Rejected(InvalidCommand,
                 "description", "at most 4000"), id="register-long-description"),
    pytest.param([], AddScientist("alice", True), Rejected(NotFound, None,
                 "no such instrument"), id="add-scientist-missing-instrument"),
    pytest.param([ID23], AddScientist("alice", True), [ALICE_IN], id="add-scientist"),
    pytest.param([ID23], AddScientist("bob", False), Rejected(NotFound, None, "no user 'bob'"),
                 id="add-unknown-user"),
    pytest.param([ID23, ALICE_IN], AddScientist("alice", True), [], id="add-scientist-twice"),
    pytest.param([ID23, ALICE_IN, ALICE_OUT], AddScientist("alice", True), [ALICE_IN],
                 id="add-scientist-again"),
    pytest.param([ID23, ALICE_IN], RemoveScientist("alice"), [ALICE_OUT],
                 id="remove-scientist"),
    pytest.param([ID23], RemoveScientist("alice"), Rejected(DomainError, None,
                 "'alice' is not a scientist of ID23-1"), id="remove-non-scientist"),
    pytest.param([], RemoveScientist("alice"), Rejected(NotFound, None, "no such instrument"),
                 id="remove-scientist-missing-instrument"),
    pytest.param([ID23], IssueApiKey("k1", "h1", "bliss", EXPIRES), [KEY], id="issue-key"),
    pytest.param([ID23], IssueApiKey("k2", "h2", "", None),
                 [ApiKeyIssued(key_id="k2", secret_hash="h2", label="", expires_at=None)],
                 id="issue-key-never-expiring"),
    pytest.param([ID23, KEY], IssueApiKey("k1", "h9", "x", None), Rejected(AlreadyExists,
                 "key_id", "'k1' exists"), id="issue-key-same-id"),
    pytest.param([ID23, KEY, KEY_OFF], IssueApiKey("k1", "h9", "x", None),
                 Rejected(AlreadyExists, "key_id", "exists"), id="issue-revoked-id-again"),
    pytest.param([ID23], IssueApiKey("k1", "h1", "bliss", datetime(2027, 1, 1)),
                 Rejected(InvalidCommand, "expires_at", "needs a timezone"),
                 id="issue-key-naive-expiry"),
    pytest.param([ID23], IssueApiKey("k1", "h1", "a\x00", None), Rejected(InvalidCommand,
                 "label", "control character"), id="issue-key-control-char-label"),
    pytest.param([], IssueApiKey("k1", "h1", "x", None), Rejected(NotFound, None,
                 "no such instrument"), id="issue-key-missing-instrument"),
    pytest.param([ID23, KEY], RevokeApiKey("k1"), [KEY_OFF], id="revoke-key"),
    pytest.param([ID23, KEY, KEY_OFF], RevokeApiKey("k1"), [], id="revoke-key-twice"),
    pytest.param([ID23], RevokeApiKey("k1"), Rejected(NotFound, None,
                 "ID23-1 has no API key 'k1'"), id="revoke-unknown-key"),
    pytest.param([ID23], object(), Rejected(InvalidCommand, None, "unknown command"),
                 id="unknown-command"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), CASES)
def test_decide_instrument(events: list[Event], command: Any, then: Any) -> None:
    state = given(events)
    if isinstance(then, Rejected):
        with pytest.raises(then.error) as raised:
            decide_instrument(state, command)
        assert type(raised.value) is then.error
        assert getattr(raised.value, "field", None) == then.field
        assert then.fragment in raised.value.detail
    else:
        assert decide_instrument(state, command) == then


STATES = [
    pytest.param([], Instrument(), id="nothing"),
    pytest.param([ID23], Instrument("ID23-1", "MX beamline ID23-1",
                 "Macromolecular crystallography"), id="registered"),
    pytest.param([ID23, ALICE_IN, InstrumentScientistAdded(username="bob")],
                 Instrument("ID23-1", "MX beamline ID23-1", "Macromolecular crystallography",
                            frozenset({"alice", "bob"})), id="two-scientists"),
    pytest.param([ID23, ALICE_IN, ALICE_OUT],
                 Instrument("ID23-1", "MX beamline ID23-1", "Macromolecular crystallography"),
                 id="scientist-removed"),
    pytest.param([ID23, KEY], Instrument("ID23-1", "MX beamline ID23-1",
                 "Macromolecular crystallography", api_keys={"k1": True}), id="key-issued"),
    pytest.param([ID23, KEY, KEY_OFF], Instrument("ID23-1", "MX beamline ID23-1",
                 "Macromolecular crystallography", api_keys={"k1": False}), id="key-revoked"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "state"), STATES)
def test_evolve_instrument(events: list[Event], state: Instrument) -> None:
    assert given(events) == state
    assert given(events).exists is bool(events)
