"""Queries on beamlines and their instrument scientists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from catalogue.schema import instrument_scientists, instruments


def list_instruments(connection: Connection, name: str | None = None) -> list[dict[str, Any]]:
    """Every beamline (or the one named) with its scientists."""
    beamlines = select(instruments).order_by(instruments.c.name)
    staff = select(instrument_scientists).order_by(instrument_scientists.c.username)
    if name is not None:
        beamlines = beamlines.where(instruments.c.name == name)
        staff = staff.where(instrument_scientists.c.instrument == name)
    scientists: dict[str, list[str]] = {}
    for row in connection.execute(staff):
        scientists.setdefault(row.instrument, []).append(row.username)
    return [
        {**row, "scientists": scientists.get(row["name"], [])}
        for row in connection.execute(beamlines).mappings()
    ]


def instrument_exists(connection: Connection, name: str) -> bool:
    """Whether the beamline is registered."""
    query = select(instruments.c.name).where(instruments.c.name == name)
    return connection.execute(query).first() is not None
