"""`/api/v1/instruments` and `/api/v1/parameter-types`: the beamlines and the vocabulary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from catalogue.api.auth import CallerDep
from catalogue.api.dependencies import ServicesDep
from catalogue.domain.parameters import ValueType, builtin_vocabulary
from catalogue.portal import instruments

router = APIRouter(prefix="/api/v1", tags=["instruments"])


class Instrument(BaseModel):
    """A beamline and its instrument scientists."""

    name: str = Field(examples=["ID23-1"])
    full_name: str
    description: str
    scientists: list[str]
    version: int
    created_at: datetime


class ParameterType(BaseModel):
    """A parameter name the catalogue knows, with its value type and unit."""

    name: str = Field(examples=["InstrumentMonochromator_energy"])
    value_type: ValueType
    unit: str | None = Field(examples=["keV"])
    description: str


@router.get("/instruments", response_model=list[Instrument])
def get_instruments(services: ServicesDep, caller: CallerDep) -> object:
    """Every beamline."""
    return instruments.list_instruments(services.store)


@router.get("/instruments/{name}", response_model=Instrument)
def get_instrument(
    name: Annotated[str, Path(max_length=32)], services: ServicesDep, caller: CallerDep
) -> object:
    """One beamline."""
    return instruments.list_instruments(services.store, name)[0]


@router.get("/parameter-types", response_model=list[ParameterType])
def get_parameter_types(caller: CallerDep) -> object:
    """The parameter vocabulary: names, value types and units a dataset may use."""
    return [
        {"name": t.name, "value_type": t.value_type, "unit": t.unit, "description": t.description}
        for t in builtin_vocabulary().values()
    ]
