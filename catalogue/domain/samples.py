"""Samples of an investigation: name, formula, safety information, parent sample."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from catalogue.domain.aggregate import Aggregate
from catalogue.domain.values import check_name, check_text, derived_id
from catalogue.errors import AlreadyExists, InvalidCommand, NotFound
from catalogue.events import Event

# Element symbols with counts, groups in brackets, hydrates with '.', charges are not formulas.
_FORMULA = re.compile(r"(?:[A-Z][a-z]?|[0-9]+(?:\.[0-9]+)?|[()\[\]·.*]|\s)+")
_ELEMENT = re.compile(r"[A-Z]")
#: GHS hazard statements (H200-H420, EUH0xx) that the safety group screens samples for.
_HAZARD = re.compile(
    r"(?:H(?:2[0-9]{2}|3[0-7][0-9]|4[01][0-9]|420)[A-Za-z]{0,2}|EUH[0-9]{3}[A-Za-z]?)"
)


class SampleRegistered(Event):
    """A sample of an investigation was described."""

    sample_id: UUID
    investigation_id: UUID
    name: str
    description: str
    chemical_formula: str | None
    safety_information: str
    hazards: tuple[str, ...]
    parent_id: UUID | None


class SampleUpdated(Event):
    """Some of a sample's fields changed; the others are absent."""

    description: str | None = None
    chemical_formula: str | None = None
    safety_information: str | None = None
    hazards: tuple[str, ...] | None = None


SAMPLE_EVENTS = (SampleRegistered, SampleUpdated)


def sample_id_for(investigation_id: UUID, name: str) -> UUID:
    """A sample's id: names are unique within an investigation."""
    return derived_id("sample", str(investigation_id), name)


def sample_stream(sample_id: UUID) -> str:
    """The stream of one sample."""
    return SAMPLE.stream(sample_id)


@dataclass(frozen=True, slots=True)
class Sample:
    """A sample as its events leave it."""

    sample_id: UUID | None = None
    investigation_id: UUID | None = None
    name: str = ""
    description: str = ""
    chemical_formula: str | None = None
    safety_information: str = ""
    hazards: tuple[str, ...] = ()
    parent_id: UUID | None = None

    @property
    def exists(self) -> bool:
        """Whether the sample was registered."""
        return self.sample_id is not None


@dataclass(frozen=True, slots=True)
class RegisterSample:
    """Describe a sample; the caller looks up the parent's investigation, if any."""

    investigation_id: UUID
    name: str
    description: str = ""
    chemical_formula: str | None = None
    safety_information: str = ""
    hazards: tuple[str, ...] = ()
    parent_id: UUID | None = None
    #: The investigation of `parent_id`, or None if there is no such sample.
    parent_investigation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class UpdateSample:
    """Change a sample's description, formula or safety information (None leaves it)."""

    description: str | None = None
    chemical_formula: str | None = None
    safety_information: str | None = None
    hazards: tuple[str, ...] | None = None


SampleCommand = RegisterSample | UpdateSample


def _check_formula(formula: str | None) -> None:
    if formula is not None and (
        len(formula) > 200 or not _FORMULA.fullmatch(formula) or not _ELEMENT.search(formula)
    ):
        raise InvalidCommand(
            f"chemical_formula {formula[:80]!r} is not a formula (e.g. 'C6H12O6', 'CuSO4.5H2O')",
            "chemical_formula",
        )


def _check_hazards(hazards: tuple[str, ...] | None) -> None:
    for index, code in enumerate(hazards or ()):
        if not _HAZARD.fullmatch(code):
            raise InvalidCommand(
                f"hazards[{index}] {code[:20]!r} is not a GHS hazard statement (e.g. 'H301')",
                f"hazards.{index}",
            )


def evolve_sample(state: Sample, event: Event) -> Sample:
    """Fold one event into a sample."""
    match event:
        case SampleRegistered():
            return Sample(
                sample_id=event.sample_id,
                investigation_id=event.investigation_id,
                name=event.name,
                description=event.description,
                chemical_formula=event.chemical_formula,
                safety_information=event.safety_information,
                hazards=event.hazards,
                parent_id=event.parent_id,
            )
        case SampleUpdated():
            changes = {k: v for k, v in event.model_dump().items() if v is not None}
            return replace(state, **changes)
    return state


def _register(state: Sample, command: RegisterSample) -> list[Event]:
    check_name(command.name, "name")
    if state.exists:
        raise AlreadyExists(
            f"sample {command.name!r} already exists in this investigation ({state.sample_id})",
            "name",
        )
    check_text(command.description, "description")
    check_text(command.safety_information, "safety_information")
    _check_formula(command.chemical_formula)
    _check_hazards(command.hazards)
    if (
        command.parent_id is not None
        and command.parent_investigation_id != command.investigation_id
    ):
        raise InvalidCommand(
            f"parent sample {command.parent_id} is not a sample of this investigation", "parent_id"
        )
    return [
        SampleRegistered(
            sample_id=sample_id_for(command.investigation_id, command.name),
            investigation_id=command.investigation_id,
            name=command.name,
            description=command.description,
            chemical_formula=command.chemical_formula,
            safety_information=command.safety_information,
            hazards=tuple(sorted(set(command.hazards))),
            parent_id=command.parent_id,
        )
    ]


def decide_sample(state: Sample, command: SampleCommand) -> list[Event]:
    """The events a sample command produces, or a domain error."""
    if isinstance(command, RegisterSample):
        return _register(state, command)
    if not state.exists:
        raise NotFound("no such sample")
    if command.description is not None:
        check_text(command.description, "description")
    if command.safety_information is not None:
        check_text(command.safety_information, "safety_information")
    _check_formula(command.chemical_formula)
    _check_hazards(command.hazards)
    hazards = None if command.hazards is None else tuple(sorted(set(command.hazards)))
    changes: dict[str, Any] = {}
    for name, new in (
        ("description", command.description),
        ("chemical_formula", command.chemical_formula),
        ("safety_information", command.safety_information),
        ("hazards", hazards),
    ):
        if new is not None and new != getattr(state, name):
            changes[name] = new
    return [SampleUpdated(**changes)] if changes else []


SAMPLE: Aggregate[Sample, SampleCommand] = Aggregate(
    "sample", Sample(), evolve_sample, decide_sample
)
