"""The event registry: names, encoding, validation, upcasting (no database)."""

from __future__ import annotations

import json
import time
import uuid
from uuid import uuid4

import pydantic
import pytest

from catalogue.errors import EventSerializationError, EventValidationError, UnknownEventType
from catalogue.events import (
    Event,
    EventRegistry,
    Metadata,
    NewEvent,
    RawJSON,
    dump_json,
    new_event_ids,
)
from tests.sample_domain import (
    Anything,
    ThingCreated,
    ThingMeasured,
    ThingRenamed,
    ThingRenamedV1,
    sample_registry,
)


class Unregistered(Event):
    """Not in the test registry."""

    x: int


def test_type_name_defaults_to_class_name_and_can_be_set():
    assert ThingCreated.type_name == "ThingCreated"
    assert ThingRenamedV1.type_name == "ThingRenamed"


def test_encode_keeps_client_event_id_and_current_version():
    event_id = uuid4()
    encoded = sample_registry().encode(ThingRenamed(name="b", reason="typo"), event_id.hex)
    assert (encoded.event_id, encoded.type) == (event_id.hex, "ThingRenamed")
    assert encoded.schema_version == 2
    assert json.loads(encoded.data) == {"name": "b", "reason": "typo"}


def test_encode_rejects_unknown_type():
    with pytest.raises(UnknownEventType, match="Unregistered"):
        sample_registry().encode(Unregistered(x=1), uuid4().hex)


def test_encode_rejects_an_old_class_that_reuses_a_current_type_name():
    with pytest.raises(UnknownEventType, match="ThingRenamed"):
        sample_registry().encode(ThingRenamedV1(name="x"), uuid4().hex)


class Opaque:
    """An object JSON cannot represent."""


@pytest.mark.parametrize("value", [object(), Opaque(), b"\xff\xfe", {"nested": [Opaque()]}])
def test_encode_rejects_non_json_values(value):
    with pytest.raises(EventSerializationError, match="Anything payload is not JSON"):
        sample_registry().encode(Anything(value=value), uuid4().hex)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_float_fields_refuse_values_json_cannot_carry(value):
    with pytest.raises(pydantic.ValidationError, match="finite"):
        ThingMeasured(value=value)


def test_decode_current_version_from_text_and_dict():
    registry = sample_registry()
    assert registry.decode("ThingCreated", 1, '{"name": "a"}') == ThingCreated(name="a")
    assert registry.decode("ThingCreated", 1, {"name": "a"}) == ThingCreated(name="a")


def test_decode_upcasts_v1_payload():
    decoded = sample_registry().decode("ThingRenamed", 1, '{"name": "old"}')
    assert decoded == ThingRenamed(name="old", reason="unknown (v1)")


def test_decode_without_upcaster_names_the_missing_step():
    registry = EventRegistry([ThingRenamed])
    with pytest.raises(EventValidationError, match=r"no upcaster for ThingRenamed v1 -> v2"):
        registry.decode("ThingRenamed", 1, '{"name": "old"}')


def test_decode_refuses_payload_from_newer_code():
    with pytest.raises(EventValidationError, match="newer"):
        sample_registry().decode("ThingCreated", 7, '{"name": "a"}')


def test_decode_unknown_type():
    with pytest.raises(UnknownEventType, match="Nope"):
        sample_registry().decode("Nope", 1, "{}")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"name": 5}, "name"),
        ({}, "name"),
        ({"name": "a", "extra": 1}, "extra"),
    ],
)
def test_validate_untrusted_payload(data, fragment):
    with pytest.raises(EventValidationError, match=fragment):
        sample_registry().validate("ThingCreated", data)


def test_register_refuses_two_classes_for_one_name():
    registry = sample_registry()
    with pytest.raises(ValueError, match="twice"):
        registry.register(ThingRenamedV1)


def test_dump_json_passes_raw_json_and_rejects_nan():
    assert dump_json(RawJSON('{"a":1}')) == '{"a":1}'
    assert dump_json({"a": [1, "x"]}) == '{"a":[1,"x"]}'
    with pytest.raises(EventSerializationError):
        dump_json({"a": float("nan")})


def test_metadata_round_trip_drops_empty_and_unknown_keys():
    meta = Metadata(actor="alice", source="api")
    assert meta.to_json() == {"actor": "alice", "source": "api"}
    assert Metadata.from_json({"actor": "alice", "source": "api", "future": 1}) == meta
    assert Metadata.from_json(None) == Metadata()


def test_new_event_ids_are_unique_time_ordered_uuid7():
    before_ms = time.time_ns() // 1_000_000
    ids = new_event_ids(2000)
    after_ms = time.time_ns() // 1_000_000
    assert len(set(ids)) == 2000
    assert {(u.version, u.variant) for u in ids} == {(7, uuid.RFC_4122)}
    assert all(before_ms <= u.int >> 80 <= after_ms for u in ids)
    assert ids[:4096] == sorted(ids[:4096])  # a call's ids sort in creation order
    assert new_event_ids(0) == []


def test_new_event_gets_its_own_uuid7_unless_given_one():
    given = uuid4()
    assert NewEvent(ThingCreated(name="a"), given).event_id == given
    first, second = NewEvent(ThingCreated(name="a")), NewEvent(ThingCreated(name="a"))
    assert first.event_id != second.event_id
    assert first.event_id.version == 7
