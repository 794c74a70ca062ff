"""Typed dataset parameters: the vocabulary of parameter types, value checks and SI conversion."""

from __future__ import annotations

import difflib
import enum
import functools
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple, cast

import pint
import pydantic

from catalogue.domain.definitions import definitions_by_name
from catalogue.errors import InvalidCommand

MAX_TEXT = 4000
#: Longer unit strings are refused unparsed: pint's parser is not built for hostile input.
MAX_UNIT = 64
#: How much of a rejected value or name an error message repeats.
_SHOWN = 60
#: Names longer than this get no suggestions: difflib is quadratic in the name's length.
_MAX_SUGGESTED = 200
#: Bound on the per-unit-string cache, so that a stream of invented units cannot exhaust memory.
_MAX_CACHED_UNITS = 4096
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: A name outside the vocabulary is kept when it is a NeXus path below an entry
#: (`instrument/positioners_start/samy`): metadata the ICAT definitions have no name for.
_NEXUS_PATH = re.compile(r"[A-Za-z0-9_.@-]+(?:/[A-Za-z0-9_.@-]+)+")
MAX_NAME = 200
_DIMENSIONLESS = "dimensionless"


class ValueType(enum.StrEnum):
    """What kind of value a parameter type holds."""

    NUMBER = "number"
    TEXT = "text"
    DATETIME = "datetime"


@dataclass(frozen=True, slots=True)
class ParameterType:
    """A parameter name the catalogue knows, with its value type and canonical unit."""

    name: str
    value_type: ValueType
    unit: str | None
    description: str

    def __post_init__(self) -> None:
        if self.value_type is not ValueType.NUMBER and self.unit is not None:
            raise ValueError(f"{self.value_type} parameter type {self.name!r} cannot have a unit")


class ParameterValue(pydantic.BaseModel):
    """One checked parameter: the value and unit as given, and the number in SI base units."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str
    value: str
    unit: str | None
    numeric: float | None
    si_value: float | None
    si_unit: str | None


def _number(name: str, unit: str | None, description: str) -> ParameterType:
    return ParameterType(name, ValueType.NUMBER, unit, description)


def _text(name: str, description: str) -> ParameterType:
    return ParameterType(name, ValueType.TEXT, None, description)


# Names the catalogue knows beyond the ESRF definitions package: the older TOMO names that
# ICAT holds for datasets of past years, and a few the facility's portal uses.
_EXTRAS = (
    _text("technique", "experimental technique"),
    _text("Sample_environment", "sample environment (cryostream, furnace, ...)"),
    _number("InstrumentInsertionDevice_gap", "mm", "insertion device gap"),
    _number("TOMO_exposureTime", "s", "exposure time per projection"),
    _number("TOMO_accExposureTime", "s", "accumulated exposure time per projection"),
    _number("TOMO_pixelSize", "um", "effective pixel size"),
    _number("TOMO_scanRange", "degree", "rotation range of the scan"),
    _number("TOMO_start_angle", "degree", "rotation angle of the first projection"),
    _number("TOMO_projN", None, "number of projections"),
    _number("TOMO_refN", None, "number of flat-field (reference) images"),
    _number("TOMO_darkN", None, "number of dark images"),
    _number("TOMO_detectorDistance", "mm", "sample to detector distance"),
    _number("TOMO_ZStart", "mm", "vertical position of the first scan of a z-series"),
    _number("TOMO_ZDelta", "mm", "vertical step of a z-series"),
)


@functools.cache
def builtin_vocabulary() -> Mapping[str, ParameterType]:
    """The parameter types every catalogue knows: the ESRF ICAT definitions, and a few more."""
    kinds = {kind.name: kind for kind in _EXTRAS}
    for definition in definitions_by_name().values():
        kinds[definition.name] = ParameterType(
            definition.name,
            ValueType(definition.value_type),
            definition.unit,
            definition.description,
        )
    return MappingProxyType(kinds)


class _Conversion(NamedTuple):
    """How one unit string converts to SI base units: si = value * factor + offset."""

    factor: float
    offset: float
    si_unit: str
    dimensionality: str


_NO_UNIT = _Conversion(1.0, 0.0, _DIMENSIONLESS, _DIMENSIONLESS)
# None records a unit string pint refused, so a bulk request repeating it parses it once.
_conversions: dict[str, _Conversion | None] = {}
# pint's registry keeps caches of its own that are not safe to fill from several threads.
_registry_lock = threading.Lock()


@functools.cache
def _registry() -> pint.UnitRegistry[Any]:
    # Built on first use, not at import: it takes about half a second.
    return pint.UnitRegistry()


def _conversion(unit: str) -> _Conversion | None:
    """The cached conversion of a unit string, or None if it is not a usable unit."""
    try:
        return _conversions[unit]
    except KeyError:
        pass
    found = _learn(unit) if len(unit) <= MAX_UNIT and _plain_unit(unit) else None
    if len(_conversions) < _MAX_CACHED_UNITS:
        _conversions[unit] = found
    return found


#: Unit expressions are names, products, quotients and small powers. pint evaluates numeric
#: powers exactly, so "10**10**10" would compute a huge integer while holding the GIL.
_UNIT_CHARACTERS = re.compile(r"[\w\s*/^().%°µÅ'·²³-]*")
_POWER = re.compile(r"(?:\*\*|\^)\s*[-+]?\s*[0-9](?:\.[0-9]+)?\b(?!\s*(?:\*\*|\^))")


def _plain_unit(unit: str) -> bool:
    """Whether a unit string is safe to hand to pint: known characters, one-digit powers."""
    if not _UNIT_CHARACTERS.fullmatch(unit):
        return False
    powers = len(re.findall(r"\*\*|\^", unit))
    return powers == len(_POWER.findall(unit))


def _learn(unit: str) -> _Conversion | None:
    with _registry_lock:
        registry = _registry()
        try:
            parsed = registry.parse_units(unit)
            # Converting 0 and 1 captures offset units (degC) as well as plain factors.
            zero = registry.Quantity(0.0, parsed).to_base_units()
            one = registry.Quantity(1.0, parsed).to_base_units()
            offset = float(zero.magnitude)
            # For offset units 1 - 0 loses digits (274.15 - 273.15); the delta's factor is exact.
            factor = (
                float(one.magnitude)
                if offset == 0.0
                else float(cast(float, registry.get_base_units(parsed, check_nonmult=False)[0]))
            )
        # pint's parser answers malformed text with AssertionError, TokenError, ValueError,
        # ZeroDivisionError and its own errors; all of them mean "not a unit".
        except Exception:
            return None
    if not (math.isfinite(factor) and math.isfinite(offset)) or factor == 0.0:
        return None
    si_unit = f"{one.units:D}"
    return _Conversion(factor, offset, si_unit, f"{parsed.dimensionality}")


def si_value(value: float, unit: str) -> tuple[float, str]:
    """The value in SI base units and their name: (12.4, "keV") -> (1.987e-15, "kilogram * ...")."""
    conversion = _conversion(unit.strip()) if unit.strip() else _NO_UNIT
    if conversion is None:
        raise InvalidCommand(f"unknown unit {_shown(unit)}", field="unit")
    result = value * conversion.factor + conversion.offset
    if not math.isfinite(result):
        raise InvalidCommand(f"value {value!r} {unit} has no finite SI value", field="value")
    return result, conversion.si_unit


def check_parameter(
    vocabulary: Mapping[str, ParameterType],
    name: str,
    value: str | float | int | bool | datetime,
    unit: str | None,
) -> ParameterValue:
    """Validate one parameter against the vocabulary and return it with its SI value."""
    kind = vocabulary.get(name)
    if kind is None:
        if is_nexus_path(name):
            return _check_untyped(name, value, unit)
        raise InvalidCommand(_unknown_name(vocabulary, name), field="name")
    if unit is not None:
        unit = unit.strip() or None  # NeXus files often carry units="" for "no unit"
    if kind.value_type is ValueType.NUMBER:
        return _check_number(kind, value, unit)
    if kind.value_type is ValueType.TEXT:
        text = _check_text(kind, value)
    else:
        text = _check_datetime(kind, value)
    if unit is not None:
        raise InvalidCommand(
            f"parameter {kind.name!r} takes a {kind.value_type} value and no unit, "
            f"but unit {_shown(unit)} was given",
            field="unit",
        )
    return ParameterValue(
        name=kind.name, value=text, unit=None, numeric=None, si_value=None, si_unit=None
    )


def _check_number(kind: ParameterType, value: object, unit: str | None) -> ParameterValue:
    # Exact type checks first: they are the fast path and keep bool (an int) out.
    if type(value) is float:
        number, text = value, repr(value)
    elif type(value) is int:
        number, text = _int_as_float(kind, value), str(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise InvalidCommand(
                f"value {_shown(value)} of parameter {kind.name!r} is not a number",
                field="value",
            ) from None
    elif isinstance(value, float | int) and not isinstance(value, bool):
        # Subclasses such as numpy.float64 or IntEnum: keep their number, not their repr.
        number = _int_as_float(kind, int(value)) if isinstance(value, int) else float(value)
        text = repr(number)
    else:
        raise InvalidCommand(
            f"parameter {kind.name!r} takes a number, got {type(value).__name__}", field="value"
        )
    if not math.isfinite(number):
        raise InvalidCommand(
            f"value {_shown(text)} of parameter {kind.name!r} is not a finite number",
            field="value",
        )
    canonical = _NO_UNIT if kind.unit is None else _conversion(kind.unit)
    if canonical is None:
        raise ValueError(f"parameter type {kind.name!r} has unknown unit {kind.unit!r}")
    if unit is None:
        conversion = canonical
    else:
        given = _conversion(unit)
        if given is None:
            raise InvalidCommand(
                f"unknown unit {_shown(unit)} for parameter {kind.name!r}", field="unit"
            )
        # Equal SI base units, not merely equal dimensionality: pint counts radians as
        # dimensionless, and a rotation range given in percent is a mistake.
        if given.si_unit != canonical.si_unit:
            raise InvalidCommand(
                f"unit {_shown(unit)} is not compatible with {kind.unit or _DIMENSIONLESS!r} "
                f"for parameter {kind.name!r}",
                field="unit",
            )
        conversion = given
    result = number * conversion.factor + conversion.offset
    if not math.isfinite(result):
        raise InvalidCommand(
            f"value {_shown(text)} of parameter {kind.name!r} is out of range", field="value"
        )
    return ParameterValue(
        name=kind.name,
        value=text,
        unit=unit,
        numeric=number,
        si_value=result,
        si_unit=conversion.si_unit,
    )


def is_nexus_path(name: str) -> bool:
    """Whether a name is a NeXus path, kept as an untyped parameter outside the vocabulary."""
    return len(name) <= MAX_NAME and _NEXUS_PATH.fullmatch(name) is not None


def _check_untyped(name: str, value: object, unit: str | None) -> ParameterValue:
    """A parameter under its NeXus path: a number keeps its unit (and SI value when the unit
    is known), anything else is text."""
    if unit is not None:
        unit = unit.strip() or None
    if unit is not None and len(unit) > MAX_UNIT:
        raise InvalidCommand(f"unit {_shown(unit)} is longer than {MAX_UNIT} characters", "unit")
    if isinstance(value, float | int) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidCommand(
                f"value {value!r} of parameter {_shown(name)} is not a finite number", "value"
            )
        conversion = _NO_UNIT if unit is None else _conversion(unit)
        si = None if conversion is None else number * conversion.factor + conversion.offset
        if si is not None and not math.isfinite(si):
            si = None
        return ParameterValue(
            name=name,
            value=repr(value) if isinstance(value, float) else str(int(value)),
            unit=unit,
            numeric=number,
            si_value=si,
            si_unit=None if si is None or conversion is None else conversion.si_unit,
        )
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, datetime):
        value = value.isoformat()
    kind = ParameterType(name, ValueType.TEXT, None, "")
    text = _check_text(kind, value)
    return ParameterValue(
        name=name, value=text, unit=unit, numeric=None, si_value=None, si_unit=None
    )


def _int_as_float(kind: ParameterType, value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise InvalidCommand(
            f"value {_shown(str(value))} of parameter {kind.name!r} is out of range",
            field="value",
        ) from None


def _check_text(kind: ParameterType, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidCommand(
            f"parameter {kind.name!r} takes text, got {type(value).__name__}", field="value"
        )
    if not value.strip():
        raise InvalidCommand(f"parameter {kind.name!r} has an empty value", field="value")
    if len(value) > MAX_TEXT:
        raise InvalidCommand(
            f"value of parameter {kind.name!r} is {len(value)} characters; at most {MAX_TEXT}",
            field="value",
        )
    control = _CONTROL.search(value)
    if control is not None:
        raise InvalidCommand(
            f"value of parameter {kind.name!r} contains control character {control.group()!r}",
            field="value",
        )
    return value


def _check_datetime(kind: ParameterType, value: object) -> str:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidCommand(
                f"value {_shown(value)} of parameter {kind.name!r} is not an ISO 8601 datetime",
                field="value",
            ) from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise InvalidCommand(
            f"parameter {kind.name!r} takes a datetime, got {type(value).__name__}", field="value"
        )
    if moment.utcoffset() is None:
        raise InvalidCommand(
            f"datetime {moment.isoformat()!r} of parameter {kind.name!r} needs a timezone",
            field="value",
        )
    try:
        return moment.astimezone(UTC).isoformat()
    except OverflowError:
        raise InvalidCommand(
            f"datetime {moment.isoformat()!r} of parameter {kind.name!r} is out of range",
            field="value",
        ) from None


def _unknown_name(vocabulary: Mapping[str, ParameterType], name: str) -> str:
    detail = f"unknown parameter type {_shown(name)}"
    if len(name) > _MAX_SUGGESTED:
        return detail
    # Compare case-insensitively: 'mx_exposuretime' should find 'MX_exposureTime'.
    by_lower = {known.lower(): known for known in vocabulary}
    close = [by_lower[match] for match in difflib.get_close_matches(name.lower(), by_lower, n=3)]
    if not close:
        return detail
    if len(close) == 1:
        return f"{detail}; did you mean {close[0]!r}?"
    listed = ", ".join(repr(match) for match in close[:-1])
    return f"{detail}; did you mean {listed} or {close[-1]!r}?"


def _shown(text: str) -> str:
    """The text quoted for an error message, cut short if it is long."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")
