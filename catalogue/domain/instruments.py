"""Instruments (beamlines): their scientists and the API keys of their control systems."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from catalogue.domain.aggregate import Aggregate
from catalogue.domain.values import check_aware, check_instrument_name, check_text
from catalogue.errors import AlreadyExists, DomainError, InvalidCommand, NotFound
from catalogue.events import Event


class InstrumentRegistered(Event):
    """A beamline joined the catalogue."""

    name: str
    full_name: str
    description: str


class InstrumentScientistAdded(Event):
    """A user became one of the beamline's scientists."""

    username: str


class InstrumentScientistRemoved(Event):
    """A user stopped being one of the beamline's scientists."""

    username: str


class ApiKeyIssued(Event):
    """The beamline's control system got an API key; only its hash is kept."""

    key_id: str
    secret_hash: str
    label: str
    expires_at: datetime | None


class ApiKeyRevoked(Event):
    """An API key stopped working."""

    key_id: str


INSTRUMENT_EVENTS = (
    InstrumentRegistered,
    InstrumentScientistAdded,
    InstrumentScientistRemoved,
    ApiKeyIssued,
    ApiKeyRevoked,
)


def instrument_stream(name: str) -> str:
    """The stream of one beamline."""
    return INSTRUMENT.stream(name)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A beamline as its events leave it."""

    name: str = ""
    full_name: str = ""
    description: str = ""
    scientists: frozenset[str] = frozenset()
    #: key id -> still valid
    api_keys: dict[str, bool] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether the beamline was registered."""
        return bool(self.name)


@dataclass(frozen=True, slots=True)
class RegisterInstrument:
    """Add a beamline."""

    name: str
    full_name: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class AddScientist:
    """Make a user one of the beamline's scientists (`user_exists` looked up by the caller)."""

    username: str
    user_exists: bool


@dataclass(frozen=True, slots=True)
class RemoveScientist:
    """Take a user off the beamline's scientists."""

    username: str


@dataclass(frozen=True, slots=True)
class IssueApiKey:
    """Give the beamline's control system a key (secret made by the caller, hash here)."""

    key_id: str
    secret_hash: str
    label: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class RevokeApiKey:
    """Stop an API key from working."""

    key_id: str


InstrumentCommand = RegisterInstrument | AddScientist | RemoveScientist | IssueApiKey | RevokeApiKey


def evolve_instrument(state: Instrument, event: Event) -> Instrument:
    """Fold one event into a beamline."""
    match event:
        case InstrumentRegistered():
            return Instrument(event.name, event.full_name, event.description)
        case InstrumentScientistAdded():
            return replace(state, scientists=state.scientists | {event.username})
        case InstrumentScientistRemoved():
            return replace(state, scientists=state.scientists - {event.username})
        case ApiKeyIssued():
            return replace(state, api_keys={**state.api_keys, event.key_id: True})
        case ApiKeyRevoked():
            return replace(state, api_keys={**state.api_keys, event.key_id: False})
    return state


def decide_instrument(state: Instrument, command: InstrumentCommand) -> list[Event]:
    """The events a beamline command produces, or a domain error."""
    if isinstance(command, RegisterInstrument):
        if state.exists:
            raise AlreadyExists(f"instrument {command.name!r} already exists", "name")
        return [
            InstrumentRegistered(
                name=check_instrument_name(command.name, "name"),
                full_name=check_text(command.full_name, "full_name", max_length=200),
                description=check_text(command.description, "description"),
            )
        ]
    if not state.exists:
        raise NotFound("no such instrument")
    match command:
        case AddScientist():
            if not command.user_exists:
                raise NotFound(f"no user {command.username!r}")
            if command.username in state.scientists:
                return []
            return [InstrumentScientistAdded(username=command.username)]
        case RemoveScientist():
            if command.username not in state.scientists:
                raise DomainError(f"{command.username!r} is not a scientist of {state.name}")
            return [InstrumentScientistRemoved(username=command.username)]
        case IssueApiKey():
            if command.key_id in state.api_keys:
                raise AlreadyExists(f"API key {command.key_id!r} exists", "key_id")
            if command.expires_at is not None:
                check_aware(command.expires_at, "expires_at")
            return [
                ApiKeyIssued(
                    key_id=command.key_id,
                    secret_hash=command.secret_hash,
                    label=check_text(command.label, "label", max_length=200),
                    expires_at=command.expires_at,
                )
            ]
        case RevokeApiKey():
            if command.key_id not in state.api_keys:
                raise NotFound(f"{state.name} has no API key {command.key_id!r}")
            if not state.api_keys[command.key_id]:
                return []
            return [ApiKeyRevoked(key_id=command.key_id)]
    raise InvalidCommand(f"unknown command {type(command).__name__}")


INSTRUMENT: Aggregate[Instrument, InstrumentCommand] = Aggregate(
    "instrument", Instrument(), evolve_instrument, decide_instrument
)
