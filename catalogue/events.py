"""Event payload classes, the registry that names them, and upcasting of old payloads."""

from __future__ import annotations

import enum
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import pydantic
from pydantic_core import PydanticSerializationError

from catalogue.errors import EventSerializationError, EventValidationError, UnknownEventType

JSONDict = dict[str, Any]
Upcaster = Callable[[JSONDict], JSONDict]
E = TypeVar("E", bound="Event")


class Event(pydantic.BaseModel):
    """Base of every event payload: immutable, strict about unknown fields, past-tense name."""

    # JSON has no infinities or NaN: refuse them on input rather than store null.
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    #: The stored type name; defaults to the class name.
    type_name: ClassVar[str] = ""
    #: The current payload version; bump it and register an upcaster when the shape changes.
    schema_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" not in cls.__dict__:
            cls.type_name = cls.__name__


# "\u0000" escaped in JSON text: an odd number of backslashes before "u0000".
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def refuse_nul(document: str, what: str) -> None:
    """Refuse JSON holding a NUL character: PostgreSQL's jsonb cannot store one, and the
    store must accept the same events on every backend."""
    if _JSON_NUL.search(document):
        raise EventSerializationError(f"{what} contains a NUL character (\\u0000)")


class RawJSON(str):
    """Text that is already JSON, passed through the engine's serializer unchanged."""

    __slots__ = ()


def dump_json(value: Any) -> str:
    """Serialize a value for a JSON column; pre-encoded `RawJSON` is passed through."""
    if isinstance(value, RawJSON):
        return value
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise EventSerializationError(f"value is not JSON-serialisable: {error}") from None


class Expect(enum.Enum):
    """Expected-version conditions other than an exact version number."""

    ANY = "any"
    EXISTS = "exists"


#: Expected version of a stream that must not exist yet.
NO_STREAM = 0

ExpectedVersion = int | Expect


@dataclass(frozen=True, slots=True)
class Metadata:
    """Who and what caused an event: stored beside the payload, never part of domain rules."""

    actor: str | None = None
    source: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None

    def to_json(self) -> JSONDict:
        """The non-empty fields, for the metadata column."""
        return {k: v for k in self.__slots__ if (v := getattr(self, k)) is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Metadata:
        """Read the metadata column back, ignoring keys this version does not know."""
        if not data:
            return _EMPTY_METADATA
        return cls(**{k: data[k] for k in cls.__slots__ if k in data})


_EMPTY_METADATA = Metadata()


def new_event_ids(count: int) -> list[UUID]:
    """`count` fresh UUIDv7 ids (RFC 9562), time-ordered, so the unique index on event
    ids grows at its end instead of taking random page writes."""
    return [UUID(int=value) for value in _uuid7_values(count)]


def new_event_id_hexes(count: int) -> list[str]:
    """The same as `new_event_ids`, as 32 hex digits: what the store writes."""
    return [f"{value:032x}" for value in _uuid7_values(count)]


def _uuid7_values(count: int) -> list[int]:
    millis = time.time_ns() // 1_000_000
    entropy = os.urandom(8 * count)  # one system call for the whole batch
    prefix = (millis << 80) | (0x7 << 76) | _VARIANT
    # rand_a holds a counter, so the ids of one call sort in the order they were made.
    return [
        prefix
        | ((index & 0xFFF) << 64)
        | (int.from_bytes(entropy[8 * index : 8 * index + 8]) & _RAND_B_MASK)
        for index in range(count)
    ]


_VARIANT = 0b10 << 62
_RAND_B_MASK = (1 << 62) - 1


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append, with a client-chosen id when retries must be idempotent."""

    payload: Event
    event_id: UUID = field(default_factory=lambda: new_event_ids(1)[0])


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """Events for one stream, appended only if the stream is at `expected_version`."""

    stream: str
    events: Sequence[Event | NewEvent]
    expected_version: ExpectedVersion = Expect.ANY


class RecordedEvent:
    """An event as stored: global position, stream version, payload, metadata and time.

    Read from the store, the payload is parsed on first access: a projection that needs
    only positions and types (a rebuild of stream summaries, a history listing) does not
    pay for parsing every payload. The type name is checked when the event is read.
    """

    __slots__ = (
        "_data",
        "_event_id",
        "_payload",
        "_registry",
        "metadata",
        "position",
        "recorded_at",
        "schema_version",
        "stream",
        "type",
        "version",
    )

    def __init__(
        self,
        position: int,
        stream: str,
        version: int,
        event_id: UUID | str,
        type: str,
        schema_version: int,
        payload: Event,
        metadata: Metadata,
        recorded_at: datetime,
    ) -> None:
        self.position = position
        self.stream = stream
        self.version = version
        self._event_id: UUID | str = event_id
        self.type = type
        self.schema_version = schema_version
        self._payload: Event | None = payload
        self._data: str | None = None
        self._registry: EventRegistry | None = None
        self.metadata = metadata
        self.recorded_at = recorded_at

    @classmethod
    def stored(
        cls,
        registry: EventRegistry,
        position: int,
        stream: str,
        version: int,
        event_id: UUID | str,
        type_name: str,
        schema_version: int,
        data: str,
        metadata: Metadata,
        recorded_at: datetime,
    ) -> RecordedEvent:
        """An event read from the store; payload and id are parsed when first used."""
        registry.class_for(type_name)  # an unknown type fails here, not at first use
        event = cls.__new__(cls)
        event.position = position
        event.stream = stream
        event.version = version
        event._event_id = event_id
        event.type = type_name
        event.schema_version = schema_version
        event._payload = None
        event._data = data
        event._registry = registry
        event.metadata = metadata
        event.recorded_at = recorded_at
        return event

    @property
    def event_id(self) -> UUID:
        """The event's id (SQLite rows carry it as hex, turned into a UUID when used)."""
        if not isinstance(self._event_id, UUID):
            self._event_id = UUID(hex=self._event_id)
        return self._event_id

    @property
    def payload(self) -> Event:
        """The payload at the current schema version (upcast if stored older)."""
        if self._payload is None:
            if self._registry is None or self._data is None:  # pragma: no cover - invariant
                raise EventValidationError(f"event at position {self.position} has no payload")
            self._payload = self._registry.decode(self.type, self.schema_version, self._data)
        return self._payload

    def data_json(self) -> JSONDict:
        """The payload as JSON data at the current schema version, not validated into its
        class: cheap where only a few fields of a large payload are wanted (history)."""
        if self._payload is not None or self._registry is None or self._data is None:
            return self.payload.model_dump(mode="json")
        data = json.loads(self._data)
        return self._registry.upcast(self.type, self.schema_version, data)

    def _key(self) -> tuple[object, ...]:
        return (
            self.position,
            self.stream,
            self.version,
            self.event_id,
            self.type,
            self.schema_version,
            self.payload,
            self.metadata,
            self.recorded_at,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordedEvent):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.position, self.event_id))

    def __repr__(self) -> str:
        return (
            f"RecordedEvent(position={self.position}, stream={self.stream!r}, "
            f"version={self.version}, type={self.type!r}, payload={self.payload!r})"
        )


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event ready for the events table."""

    #: 32 hex digits.
    event_id: str
    type: str
    schema_version: int
    data: RawJSON
    payload: Event


class EventRegistry:
    """Maps stored type names to payload classes and brings old payloads up to date."""

    def __init__(
        self,
        classes: Iterable[type[Event]] = (),
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self._classes: dict[str, type[Event]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for cls in classes:
            self.register(cls)
        for (type_name, from_version), upcaster in (upcasters or {}).items():
            self.add_upcaster(type_name, from_version, upcaster)

    def register(self, cls: type[E]) -> type[E]:
        """Add a payload class; a second class with the same type name is a programming error."""
        existing = self._classes.get(cls.type_name)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {cls.type_name!r} is registered twice")
        self._classes[cls.type_name] = cls
        return cls

    def add_upcaster(self, type_name: str, from_version: int, upcaster: Upcaster) -> None:
        """Register the function that turns a `from_version` payload into `from_version + 1`."""
        self._upcasters[(type_name, from_version)] = upcaster

    def class_for(self, type_name: str) -> type[Event]:
        """The payload class of a type name, or `UnknownEventType`."""
        try:
            return self._classes[type_name]
        except KeyError:
            raise UnknownEventType(type_name) from None

    @property
    def type_names(self) -> frozenset[str]:
        """Every registered type name."""
        return frozenset(self._classes)

    def encode(self, payload: Event, event_id: str) -> EncodedEvent:
        """Check the payload is registered and serialise it once, before any database work."""
        cls = type(payload)
        if self._classes.get(cls.type_name) is not cls:
            raise UnknownEventType(cls.type_name)
        try:
            # The serializer itself: model_dump_json adds a wrapper call per event.
            data = payload.__pydantic_serializer__.to_json(payload).decode()
        except PydanticSerializationError as error:
            raise EventSerializationError(
                f"{cls.type_name} payload is not JSON-serialisable: {error}"
            ) from None
        if "u0000" in data:
            refuse_nul(data, f"{cls.type_name} payload")
        return EncodedEvent(event_id, cls.type_name, cls.schema_version, RawJSON(data), payload)

    def decode(self, type_name: str, schema_version: int, data: str | JSONDict) -> Event:
        """Build the current payload class from stored JSON, upcasting older versions."""
        cls = self.class_for(type_name)
        try:
            if schema_version == cls.schema_version:
                if isinstance(data, str):
                    return cls.model_validate_json(data)
                return cls.model_validate(data)
            document = json.loads(data) if isinstance(data, str) else dict(data)
            return cls.model_validate(self.upcast(type_name, schema_version, document))
        except pydantic.ValidationError as error:
            raise EventValidationError(
                f"stored {type_name} v{schema_version} does not match its class: {error}"
            ) from None

    def upcast(self, type_name: str, schema_version: int, data: JSONDict) -> JSONDict:
        """Apply the upcaster chain from `schema_version` to the class's current version."""
        target = self.class_for(type_name).schema_version
        if schema_version > target:
            raise EventValidationError(
                f"stored {type_name} is v{schema_version}, newer than this code's v{target}"
            )
        for version in range(schema_version, target):
            upcaster = self._upcasters.get((type_name, version))
            if upcaster is None:
                raise EventValidationError(
                    f"no upcaster for {type_name} v{version} -> v{version + 1}"
                )
            data = upcaster(data)
        return data

    def validate(self, type_name: str, data: Mapping[str, Any]) -> Event:
        """Build a payload from untrusted input (API, CLI), with a precise error."""
        cls = self.class_for(type_name)
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as error:
            raise EventValidationError(f"{type_name}: {error}") from None
