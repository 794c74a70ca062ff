"""`bulk_insert` (COPY on PostgreSQL) stores exactly what an executemany of INSERTs stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from sqlalchemy import delete, insert, select

from catalogue.projections import COPY_THRESHOLD, bulk_insert
from catalogue.schema import logbook_entries, samples

PARIS = timezone(timedelta(hours=1))


def sample_rows(count: int, offset: int) -> list[dict[str, object]]:
    """Rows with every awkward kind of value: JSON, aware non-UTC times, None, quotes, tabs."""
    moment = datetime(2026, 11, 24, 9, 30, tzinfo=PARIS)
    return [
        {
            "id": UUID(int=offset + i),
            "investigation_id": UUID(int=offset),
            "name": f"sample {i} \"quoted\"\t'tab' \\ back",
            "description": "line one\nline two" if i % 2 else "",
            "chemical_formula": None if i % 3 else "C6H12O6",
            "safety_information": "ünïcödé ☢",
            "hazards": ["H301", "H334"] if i % 2 else [],
            "parent_id": None,
            "version": i + 1,
            "created_at": moment + timedelta(seconds=i),
            "updated_at": (moment + timedelta(seconds=i)).astimezone(UTC),
            "dataset_count": 0,
        }
        for i in range(count)
    ]


def stored(engine, lowest: int, highest: int) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(samples)
            .where(samples.c.id >= UUID(int=lowest), samples.c.id < UUID(int=highest))
            .order_by(samples.c.id)
        ).all()
    return [tuple(row)[1:] for row in rows]


@pytest.mark.parametrize("count", [1, COPY_THRESHOLD - 1, COPY_THRESHOLD, 3 * COPY_THRESHOLD])
def test_bulk_insert_stores_what_an_insert_stores(engine, count: int) -> None:
    with engine.begin() as connection:
        connection.execute(insert(samples), sample_rows(count, 1000))
        bulk_insert(connection, samples, sample_rows(count, 5000))
    by_insert = stored(engine, 1000, 1000 + count)
    by_bulk = stored(engine, 5000, 5000 + count)
    assert len(by_bulk) == count
    # The investigation ids differ by construction; every other column must be equal.
    assert [row[1:] for row in by_bulk] == [row[1:] for row in by_insert]
    assert by_bulk[0][9].tzinfo is not None


def test_bulk_insert_joins_the_callers_transaction(engine) -> None:
    rows = sample_rows(2 * COPY_THRESHOLD, 9000)
    connection = engine.connect()
    transaction = connection.begin()
    bulk_insert(connection, samples, rows)
    assert len(
        connection.execute(select(samples.c.id).where(samples.c.id >= UUID(int=9000))).all()
    ) == len(rows)
    transaction.rollback()
    connection.close()
    assert stored(engine, 9000, 9000 + len(rows)) == []


def test_bulk_insert_of_nothing_writes_nothing(engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(logbook_entries))
        bulk_insert(connection, logbook_entries, [])
        assert connection.execute(select(logbook_entries)).all() == []
