"""The stream summary fold, as a table of given events and expected rows."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from catalogue.events import Metadata, RecordedEvent
from catalogue.streams import stream_category, summarise
from tests.sample_domain import ThingCreated

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def recorded(stream: str, version: int, position: int, at: datetime, type_: str) -> RecordedEvent:
    return RecordedEvent(
        position, stream, version, uuid4(), type_, 1, ThingCreated(name="x"), Metadata(), at
    )


@pytest.mark.parametrize(
    ("stream", "category"),
    [("dataset-42", "dataset"), ("investigation-MX-2345", "investigation"), ("plain", "plain")],
)
def test_stream_category(stream, category):
    assert stream_category(stream) == category


def test_summarise_first_event_then_a_later_one():
    first = summarise(None, recorded("dataset-1", 1, 10, T0, "DatasetCreated"))
    assert first == {
        "stream": "dataset-1",
        "category": "dataset",
        "version": 1,
        "event_count": 1,
        "first_position": 10,
        "last_position": 10,
        "last_type": "DatasetCreated",
        "created_at": T0,
        "updated_at": T0,
    }
    second = summarise(first, recorded("dataset-1", 2, 17, T1, "DatasetClosed"))
    assert second == {
        **first,
        "version": 2,
        "event_count": 2,
        "last_position": 17,
        "last_type": "DatasetClosed",
        "updated_at": T1,
    }
