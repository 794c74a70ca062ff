"""Samples of an investigation (catalogue.domain.samples), as tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any

import pytest

from catalogue.domain.samples import (
    RegisterSample,
    Sample,
    SampleRegistered,
    SampleUpdated,
    UpdateSample,
    decide_sample,
    evolve_sample,
    sample_id_for,
)
from catalogue.domain.values import derived_id
from catalogue.errors import AlreadyExists, CatalogueError, InvalidCommand, NotFound
from catalogue.events import Event

INVESTIGATION = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER_INVESTIGATION = uuid.UUID("00000000-0000-4000-8000-000000000002")
LYSOZYME = sample_id_for(INVESTIGATION, "lysozyme")
CRYSTAL = sample_id_for(INVESTIGATION, "crystal-1")


@dataclass(frozen=True)
class Rejected:
    """The error a command must raise: exact class, field at fault, fragment of the detail."""

    error: type[CatalogueError]
    field: str | None
    fragment: str


def given(events: Iterable[Event]) -> Sample:
    return reduce(evolve_sample, events, Sample())


def register(**changes: Any) -> RegisterSample:
    base = RegisterSample(investigation_id=INVESTIGATION, name="lysozyme", description="HEWL")
    return replace(base, **changes)


def registered(**changes: Any) -> SampleRegistered:
    fields: dict[str, Any] = {
        "sample_id": LYSOZYME,
        "investigation_id": INVESTIGATION,
        "name": "lysozyme",
        "description": "HEWL",
        "chemical_formula": None,
        "safety_information": "",
        "hazards": (),
        "parent_id": None,
    }
    return SampleRegistered(**{**fields, **changes})


REGISTERED = registered()
HAZARDOUS = registered(chemical_formula="CuSO4.5H2O", hazards=("H302", "H410"),
                       safety_information="gloves")  # fmt: skip
FORMULA = "is not a formula"

CASES = [
    pytest.param([], register(), [REGISTERED], id="register"),
    pytest.param([], register(chemical_formula="CuSO4.5H2O", safety_information="gloves",
                              hazards=("H410", "H302", "H410")),
                 [HAZARDOUS], id="register-hazards-sorted-once"),
    pytest.param([], register(name="crystal-1", parent_id=LYSOZYME,
                              parent_investigation_id=INVESTIGATION),
                 [registered(sample_id=CRYSTAL, name="crystal-1", parent_id=LYSOZYME)],
                 id="register-with-parent"),
    pytest.param([REGISTERED], register(description="other"), Rejected(AlreadyExists, "name",
                 "'lysozyme' already exists in this investigation"), id="register-name-taken"),
    pytest.param([], register(name="crystal-1", parent_id=LYSOZYME,
                              parent_investigation_id=OTHER_INVESTIGATION),
                 Rejected(InvalidCommand, "parent_id", "is not a sample of this investigation"),
                 id="register-parent-of-other-investigation"),
    pytest.param([], register(name="crystal-1", parent_id=LYSOZYME),
                 Rejected(InvalidCommand, "parent_id", "is not a sample of this investigation"),
                 id="register-unknown-parent"),
    pytest.param([], register(name=""), Rejected(InvalidCommand, "name", "must not be empty"),
                 id="register-empty-name"),
    pytest.param([], register(name=" lysozyme"), Rejected(InvalidCommand, "name",
                 "start or end with spaces"), id="register-padded-name"),
    pytest.param([], register(name="a\nb"), Rejected(InvalidCommand, "name", "single line"),
                 id="register-two-line-name"),
    pytest.param([], register(name="n" * 201), Rejected(InvalidCommand, "name", "at most 200"),
                 id="register-long-name"),
    pytest.param([], register(description="d\x00"), Rejected(InvalidCommand, "description",
                 "control character"), id="register-control-char-description"),
    pytest.param([], register(safety_information="s" * 4001), Rejected(InvalidCommand,
                 "safety_information", "at most 4000"), id="register-long-safety"),
    pytest.param([], register(chemical_formula="salt"), Rejected(InvalidCommand,
                 "chemical_formula", "'salt' is not a formula"), id="register-bad-formula"),
    pytest.param([], register(hazards=("H301", "X1")), Rejected(InvalidCommand, "hazards.1",
                 "'X1' is not a GHS hazard statement"), id="register-bad-hazard"),
    pytest.param([], UpdateSample(description="x"), Rejected(NotFound, None, "no such sample"),
                 id="update-missing"),
    pytest.param([REGISTERED], UpdateSample(description="Hen egg-white lysozyme"),
                 [SampleUpdated(description="Hen egg-white lysozyme")], id="update-description"),
    pytest.param([REGISTERED], UpdateSample(), [], id="update-nothing"),
    pytest.param([REGISTERED], UpdateSample(description="HEWL", safety_information=""), [],
                 id="update-same-values"),
    pytest.param([REGISTERED], UpdateSample(description="HEWL", chemical_formula="NaCl"),
                 [SampleUpdated(chemical_formula="NaCl")], id="update-emits-only-changed"),
    pytest.param([REGISTERED], UpdateSample(description=""), [SampleUpdated(description="")],
                 id="update-clears-description"),
    pytest.param([HAZARDOUS], UpdateSample(hazards=("H410", "H302", "H302")), [],
                 id="update-same-hazards-other-order"),
    pytest.param([HAZARDOUS], UpdateSample(hazards=("H350i", "H302")),
                 [SampleUpdated(hazards=("H302", "H350i"))], id="update-hazards"),
    pytest.param([HAZARDOUS], UpdateSample(hazards=()), [SampleUpdated(hazards=())],
                 id="update-clears-hazards"),
    pytest.param([HAZARDOUS], UpdateSample(chemical_formula="CuSO4.5H2O",
                                           safety_information="goggles"),
                 [SampleUpdated(safety_information="goggles")], id="update-safety"),
    pytest.param([REGISTERED], UpdateSample(chemical_formula="H2O!"), Rejected(InvalidCommand,
                 "chemical_formula", FORMULA), id="update-bad-formula"),
    pytest.param([REGISTERED], UpdateSample(hazards=("h301",)), Rejected(InvalidCommand,
                 "hazards.0", "GHS"), id="update-bad-hazard"),
    pytest.param([REGISTERED], UpdateSample(description="\x1b"), Rejected(InvalidCommand,
                 "description", "control character"), id="update-control-char"),
    pytest.param([REGISTERED], UpdateSample(safety_information="\x00"),
                 Rejected(InvalidCommand, "safety_information", "control character"),
                 id="update-control-char-safety"),
]  # fmt: skip


def _decide(events: list[Event], command: Any, then: Any) -> None:
    state = given(events)
    if isinstance(then, Rejected):
        with pytest.raises(then.error) as raised:
            decide_sample(state, command)
        assert type(raised.value) is then.error
        assert getattr(raised.value, "field", None) == then.field
        assert then.fragment in raised.value.detail
    else:
        assert decide_sample(state, command) == then


@pytest.mark.parametrize(("events", "command", "then"), CASES)
def test_decide_sample(events: list[Event], command: Any, then: Any) -> None:
    _decide(events, command, then)


FORMULAS_ACCEPTED = [
    pytest.param("C6H12O6", id="glucose"),
    pytest.param("NaCl", id="two-letter-element"),
    pytest.param("CuSO4.5H2O", id="hydrate-dot"),
    pytest.param("CuSO4·5H2O", id="hydrate-middle-dot"),
    pytest.param("CuSO4*5H2O", id="hydrate-star"),
    pytest.param("[Cu(NH3)4]SO4", id="brackets"),
    pytest.param("Fe0.95O", id="decimal-count"),
    pytest.param("C6H5 OH", id="inner-space"),
    pytest.param("C" * 200, id="200-chars"),
]


@pytest.mark.parametrize("formula", FORMULAS_ACCEPTED)
def test_formula_accepted(formula: str) -> None:
    _decide([], register(chemical_formula=formula), [registered(chemical_formula=formula)])


FORMULAS_REFUSED = [
    pytest.param("", id="empty"),
    pytest.param("salt", id="lower-case-word"),
    pytest.param("h2o", id="lower-case-element"),
    pytest.param("H2O!", id="punctuation"),
    pytest.param("Na+", id="charge"),
    pytest.param("SO4^2-", id="caret-charge"),
    pytest.param("C" * 201, id="201-chars"),
    pytest.param("   ", id="blank"),
    pytest.param("42", id="digits-only"),
]


@pytest.mark.parametrize("formula", FORMULAS_REFUSED)
def test_formula_refused(formula: str) -> None:
    _decide([], register(chemical_formula=formula),
            Rejected(InvalidCommand, "chemical_formula", FORMULA))  # fmt: skip


HAZARDS_ACCEPTED = [
    pytest.param("H200", id="H200"),
    pytest.param("H225", id="physical"),
    pytest.param("H301", id="health"),
    pytest.param("H360FD", id="two-letter-suffix"),
    pytest.param("H350i", id="lower-suffix"),
    pytest.param("H410", id="environment"),
    pytest.param("H420", id="H420"),
    pytest.param("EUH066", id="EUH"),
    pytest.param("EUH208A", id="EUH-suffix"),
]


@pytest.mark.parametrize("code", HAZARDS_ACCEPTED)
def test_hazard_accepted(code: str) -> None:
    _decide([], register(hazards=(code,)), [registered(hazards=(code,))])


HAZARDS_REFUSED = [
    pytest.param("H199", id="below-range"),
    pytest.param("H500", id="H500"),
    pytest.param("h301", id="lower-case"),
    pytest.param("H30", id="two-digits"),
    pytest.param("H3011", id="four-digits"),
    pytest.param("H301ABC", id="three-letter-suffix"),
    pytest.param("EUH66", id="EUH-two-digits"),
    pytest.param("H301+H311", id="combined-statement"),
    pytest.param("", id="empty"),
    pytest.param("H450", id="H450"),
    pytest.param("H499", id="H499"),
    pytest.param(
        "H301\n",
        id="trailing-newline",
    ),
]


@pytest.mark.parametrize("code", HAZARDS_REFUSED)
def test_hazard_refused(code: str) -> None:
    _decide([], register(hazards=("H301", code)),
            Rejected(InvalidCommand, "hazards.1", "is not a GHS hazard statement"))  # fmt: skip


STATES = [
    pytest.param([], Sample(), id="nothing"),
    pytest.param([REGISTERED], Sample(LYSOZYME, INVESTIGATION, "lysozyme", "HEWL"),
                 id="registered"),
    pytest.param([HAZARDOUS], Sample(LYSOZYME, INVESTIGATION, "lysozyme", "HEWL", "CuSO4.5H2O",
                                     "gloves", ("H302", "H410")), id="registered-hazardous"),
    pytest.param([HAZARDOUS, SampleUpdated(description="new", hazards=())],
                 Sample(LYSOZYME, INVESTIGATION, "lysozyme", "new", "CuSO4.5H2O", "gloves", ()),
                 id="updated-fields-only"),
    pytest.param([HAZARDOUS, SampleUpdated(safety_information="")],
                 Sample(LYSOZYME, INVESTIGATION, "lysozyme", "HEWL", "CuSO4.5H2O", "",
                        ("H302", "H410")), id="emptied-safety"),
    pytest.param([registered(sample_id=CRYSTAL, name="crystal-1", parent_id=LYSOZYME)],
                 Sample(CRYSTAL, INVESTIGATION, "crystal-1", "HEWL", parent_id=LYSOZYME),
                 id="child"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "state"), STATES)
def test_evolve_sample(events: list[Event], state: Sample) -> None:
    assert given(events) == state


def test_sample_id_is_derived_from_investigation_and_name() -> None:
    assert derived_id("sample", str(INVESTIGATION), "lysozyme") == LYSOZYME
    assert sample_id_for(OTHER_INVESTIGATION, "lysozyme") != LYSOZYME
