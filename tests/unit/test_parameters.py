"""Parameter vocabulary, value checks and SI conversion (catalogue.domain.parameters)."""

from __future__ import annotations

import enum
import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import pint
import pydantic
import pytest

from catalogue.domain.parameters import (
    MAX_TEXT,
    ParameterType,
    ParameterValue,
    ValueType,
    builtin_vocabulary,
    check_parameter,
    si_value,
)
from catalogue.errors import InvalidCommand

VOCABULARY = builtin_vocabulary()
JOULE = "kilogram * meter ** 2 / second ** 2"
ENERGY = "InstrumentMonochromator_energy"
#: The one parameter of the ESRF definitions in degrees Celsius (an offset unit).
TEMPERATURE = "SampleTrackingParcel_storage_condition"


class Whole(enum.IntEnum):
    """An int subclass, standing in for numpy integers and the like."""

    TWELVE = 12


class Real(float):
    """A float subclass, standing in for numpy.float64."""


# name, value, unit -> value text, unit kept, numeric, SI value, SI unit
ACCEPTED_NUMBERS = [
    pytest.param(ENERGY, 12.4, None, "12.4", None, 12.4, 1.98669902616e-15, JOULE,
                 id="keV-default"),
    pytest.param(ENERGY, 12.4, "keV", "12.4", "keV", 12.4, 1.98669902616e-15, JOULE, id="keV"),
    pytest.param(ENERGY, 12400, "eV", "12400", "eV", 12400.0, 1.98669902616e-15, JOULE, id="eV"),
    pytest.param(ENERGY, 1.98669902616e-15, "J", "1.98669902616e-15", "J", 1.98669902616e-15,
                 1.98669902616e-15, JOULE, id="joule"),
    pytest.param(ENERGY, " 12.4 ", " keV ", "12.4", "keV", 12.4, 1.98669902616e-15, JOULE,
                 id="strings-stripped"),
    pytest.param(ENERGY, "1.24e1", "", "1.24e1", None, 12.4, 1.98669902616e-15, JOULE,
                 id="empty-unit-is-canonical"),
    pytest.param("InstrumentMonochromator_wavelength", 1.0, "nm", "1.0", "nm", 1.0, 1e-9, "meter",
                 id="nm-for-angstrom"),
    pytest.param("InstrumentSource_current", 200, None, "200", None, 200.0, 0.2, "ampere",
                 id="mA"),
    pytest.param(TEMPERATURE, 20, None, "20", None, 20.0, 293.15, "kelvin", id="degC-default"),
    pytest.param(TEMPERATURE, 20.0, "degC", "20.0", "degC", 20.0, 293.15, "kelvin", id="degC"),
    pytest.param(TEMPERATURE, 293.15, "K", "293.15", "K", 293.15, 293.15, "kelvin", id="kelvin"),
    pytest.param(TEMPERATURE, 68, "degF", "68", "degF", 68.0, 293.15, "kelvin", id="degF"),
    pytest.param(TEMPERATURE, -273.15, "degC", "-273.15", "degC", -273.15, 0.0, "kelvin",
                 id="absolute-zero"),
    pytest.param("MX_exposureTime", 40, "ms", "40", "ms", 40.0, 0.04, "second", id="ms"),
    pytest.param("MX_oscillationRange", 0.1, None, "0.1", None, 0.1, math.radians(0.1), "radian",
                 id="degree"),
    pytest.param("MX_oscillationRange", 0.5, "rad", "0.5", "rad", 0.5, 0.5, "radian", id="rad"),
    pytest.param("MX_beamSizeAtSampleX", 0.05, None, "0.05", None, 0.05, 5e-5, "meter", id="mm"),
    pytest.param("MX_detectorDistance", 0.25, "m", "0.25", "m", 0.25, 0.25, "meter", id="m"),
    pytest.param("MX_transmission", 50, None, "50", None, 50.0, 0.5, "dimensionless",
                 id="percent-default"),
    pytest.param("MX_transmission", 0.5, "dimensionless", "0.5", "dimensionless", 0.5, 0.5,
                 "dimensionless", id="fraction"),
    pytest.param("MX_numberOfImages", 3600, None, "3600", None, 3600.0, 3600.0, "dimensionless",
                 id="count"),
    pytest.param("MX_numberOfImages", 3600, "", "3600", None, 3600.0, 3600.0, "dimensionless",
                 id="count-empty-unit"),
    pytest.param("MX_flux", 1e12, "Hz", "1000000000000.0", "Hz", 1e12, 1e12, "1 / second",
                 id="flux"),
    pytest.param("SampleSolvent01_density", 2, "g/l", "2", "g/l", 2.0, 2.0,
                 "kilogram / meter ** 3", id="density"),
    pytest.param("TOMO_pixelSize", 6.5, "µm", "6.5", "µm", 6.5, 6.5e-6, "meter", id="micro-sign"),
    pytest.param("TOMO_projN", Whole.TWELVE, None, "12.0", None, 12.0, 12.0, "dimensionless",
                 id="int-subclass"),
    pytest.param("TOMO_exposureTime", Real(0.1), None, "0.1", None, 0.1, 0.1, "second",
                 id="float-subclass"),
    pytest.param("MX_xBeam", -0.0, None, "-0.0", None, -0.0, -0.0, "meter", id="negative-zero"),
    pytest.param("TOMO_ZStart", "-1_000", None, "-1_000", None, -1000.0, -1.0, "meter",
                 id="python-float-syntax"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "unit", "text", "unit_kept", "numeric", "si", "si_unit"),
    ACCEPTED_NUMBERS,
)
def test_accepts_numbers_and_converts_them_to_si(
    name, value, unit, text, unit_kept, numeric, si, si_unit
):
    checked = check_parameter(VOCABULARY, name, value, unit)

    assert checked.name == name
    assert checked.value == text
    assert checked.unit == unit_kept
    assert checked.numeric == numeric
    assert type(checked.numeric) is float
    assert checked.si_value == pytest.approx(si, rel=1e-12, abs=1e-300)
    assert checked.si_unit == si_unit


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((ENERGY, 12.4, "keV"), (ENERGY, 12400, "eV"), id="keV-eV"),
        pytest.param((ENERGY, 12.4, None), (ENERGY, "12400", "eV"), id="default-eV"),
        pytest.param((TEMPERATURE, 20, "degC"), (TEMPERATURE, 293.15, "kelvin"), id="degC-K"),
        pytest.param((TEMPERATURE, 68, "degF"), (TEMPERATURE, 20, None), id="degF-degC"),
        pytest.param(
            ("MX_resolution", 1.5, None),
            ("InstrumentMonochromator_wavelength", 0.15, "nm"),
            id="across-parameters",
        ),
    ],
)
def test_equal_quantities_in_different_units_have_equal_si_values(first, second):
    one = check_parameter(VOCABULARY, *first)
    other = check_parameter(VOCABULARY, *second)

    assert one.si_unit == other.si_unit
    assert one.si_value == pytest.approx(other.si_value, rel=1e-12)


# name, value, unit -> field at fault, exact detail
REJECTED = [
    pytest.param("Foo", 1, None, "name", "unknown parameter type 'Foo'", id="unknown"),
    pytest.param(
        "MX_exposuretime", 1, None, "name",
        "unknown parameter type 'MX_exposuretime'; did you mean 'MX_exposureTime', "
        "'EM_exposure_time' or 'TOMO_exposureTime'?",
        id="unknown-suggests-several",
    ),
    pytest.param(
        "SAMPLE_NAME", "x", None, "name",
        "unknown parameter type 'SAMPLE_NAME'; did you mean 'Sample_name', "
        "'Sample_notes' or 'SampleProtein_name'?",
        id="unknown-suggests-case-insensitively",
    ),
    pytest.param(
        "x" * 300, 1, None, "name", f"unknown parameter type '{'x' * 60}…'",
        id="unknown-long-name-cut-short",
    ),
    pytest.param(ENERGY, "abc", None, "value",
                 f"value 'abc' of parameter '{ENERGY}' is not a number", id="not-a-number"),
    pytest.param(ENERGY, "", None, "value",
                 f"value '' of parameter '{ENERGY}' is not a number", id="empty-number"),
    pytest.param(ENERGY, "12.4 keV", None, "value",
                 f"value '12.4 keV' of parameter '{ENERGY}' is not a number", id="unit-in-value"),
    pytest.param(ENERGY, math.nan, None, "value",
                 f"value 'nan' of parameter '{ENERGY}' is not a finite number", id="nan"),
    pytest.param(ENERGY, "NaN", None, "value",
                 f"value 'NaN' of parameter '{ENERGY}' is not a finite number", id="nan-text"),
    pytest.param(ENERGY, -math.inf, "eV", "value",
                 f"value '-inf' of parameter '{ENERGY}' is not a finite number", id="inf"),
    pytest.param(ENERGY, "Infinity", None, "value",
                 f"value 'Infinity' of parameter '{ENERGY}' is not a finite number",
                 id="inf-text"),
    pytest.param(ENERGY, True, None, "value",
                 f"parameter '{ENERGY}' takes a number, got bool", id="bool"),
    pytest.param(ENERGY, datetime(2024, 1, 1, tzinfo=UTC), None, "value",
                 f"parameter '{ENERGY}' takes a number, got datetime", id="datetime-for-number"),
    pytest.param(ENERGY, 10**400, None, "value",
                 f"value '{'1' + '0' * 59}…' of parameter '{ENERGY}' is out of range",
                 id="huge-int"),
    pytest.param("MX_detectorDistance", 1e308, "km", "value",
                 "value '1e+308' of parameter 'MX_detectorDistance' is out of range",
                 id="si-overflow"),
    pytest.param(ENERGY, 12.4, "mm", "unit",
                 f"unit 'mm' is not compatible with 'keV' for parameter '{ENERGY}'",
                 id="incompatible"),
    pytest.param(ENERGY, 12.4, "foo", "unit",
                 f"unknown unit 'foo' for parameter '{ENERGY}'", id="unknown-unit"),
    pytest.param(ENERGY, 12.4, "keV/", "unit",
                 f"unknown unit 'keV/' for parameter '{ENERGY}'", id="malformed-unit"),
    pytest.param(ENERGY, 12.4, "(", "unit",
                 f"unknown unit '(' for parameter '{ENERGY}'", id="unbalanced-unit"),
    pytest.param(ENERGY, 12.4, "m / 0", "unit",
                 f"unknown unit 'm / 0' for parameter '{ENERGY}'", id="division-by-zero"),
    pytest.param(ENERGY, 12.4, "2 keV", "unit",
                 f"unknown unit '2 keV' for parameter '{ENERGY}'", id="scaled-unit"),
    pytest.param(ENERGY, 12.4, "__import__('os')", "unit",
                 f"unknown unit \"__import__('os')\" for parameter '{ENERGY}'", id="code"),
    pytest.param(ENERGY, 12.4, "k" * 65, "unit",
                 f"unknown unit '{'k' * 60}…' for parameter '{ENERGY}'", id="long-unit"),
    pytest.param("MX_oscillationRange", 5, "percent", "unit",
                 "unit 'percent' is not compatible with 'deg' for parameter "
                 "'MX_oscillationRange'", id="radian-is-not-a-fraction"),
    pytest.param("MX_numberOfImages", 5, "mm", "unit",
                 "unit 'mm' is not compatible with 'dimensionless' for parameter "
                 "'MX_numberOfImages'", id="dimensionless-with-length"),
    pytest.param("MX_numberOfImages", 5, "degree", "unit",
                 "unit 'degree' is not compatible with 'dimensionless' for parameter "
                 "'MX_numberOfImages'", id="dimensionless-with-angle"),
    pytest.param(TEMPERATURE, 20, "degC*s", "unit",
                 f"unit 'degC*s' is not compatible with '°C' for parameter '{TEMPERATURE}'",
                 id="temperature-times-time"),
    pytest.param("Sample_name", 12, None, "value",
                 "parameter 'Sample_name' takes text, got int", id="number-for-text"),
    pytest.param("Sample_name", False, None, "value",
                 "parameter 'Sample_name' takes text, got bool", id="bool-for-text"),
    pytest.param("Sample_name", " \t", None, "value",
                 "parameter 'Sample_name' has an empty value", id="blank-text"),
    pytest.param("Sample_name", "a\x00b", None, "value",
                 "value of parameter 'Sample_name' contains control character '\\x00'",
                 id="nul"),
    pytest.param("Sample_name", "x" * (MAX_TEXT + 1), None, "value",
                 f"value of parameter 'Sample_name' is {MAX_TEXT + 1} characters; "
                 f"at most {MAX_TEXT}", id="too-long"),
    pytest.param("Sample_name", "lysozyme", "mm", "unit",
                 "parameter 'Sample_name' takes a text value and no unit, but unit 'mm' was "
                 "given", id="unit-on-text"),
    pytest.param("startDate", "2024-05-01T12:00:00", None, "value",
                 "datetime '2024-05-01T12:00:00' of parameter 'startDate' needs a timezone",
                 id="naive-text"),
    pytest.param("startDate", datetime(2024, 5, 1, 12), None, "value",
                 "datetime '2024-05-01T12:00:00' of parameter 'startDate' needs a timezone",
                 id="naive"),
    pytest.param("startDate", "2024-05-01", None, "value",
                 "datetime '2024-05-01T00:00:00' of parameter 'startDate' needs a timezone",
                 id="date-only"),
    pytest.param("startDate", "yesterday", None, "value",
                 "value 'yesterday' of parameter 'startDate' is not an ISO 8601 datetime",
                 id="not-iso"),
    pytest.param("startDate", 1714557600, None, "value",
                 "parameter 'startDate' takes a datetime, got int", id="epoch-seconds"),
    pytest.param("startDate", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), None,
                 "value",
                 "datetime '0001-01-01T00:00:00+01:00' of parameter 'startDate' is out of range",
                 id="before-year-one-in-utc"),
    pytest.param("startDate", "2024-05-01T12:00:00Z", "s", "unit",
                 "parameter 'startDate' takes a datetime value and no unit, but unit 's' was "
                 "given", id="unit-on-datetime"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value", "unit", "field", "detail"), REJECTED)
def test_rejects_invalid_parameters_with_field_and_detail(name, value, unit, field, detail):
    with pytest.raises(InvalidCommand) as raised:
        check_parameter(VOCABULARY, name, value, unit)

    assert raised.value.field == field
    assert raised.value.detail == detail
    assert raised.value.status == 422


def test_a_rejected_unit_is_rejected_again_when_repeated():
    for _ in range(3):
        with pytest.raises(InvalidCommand, match="unknown unit 'parsec_per_banana'"):
            check_parameter(VOCABULARY, ENERGY, 1.0, "parsec_per_banana")


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        pytest.param("Sample_name", "lysozyme", "lysozyme", id="text"),
        pytest.param("Sample_name", " padded\tand\nmultiline ", " padded\tand\nmultiline ",
                     id="text-kept-as-given"),
        pytest.param("Sample_name", "x" * MAX_TEXT, "x" * MAX_TEXT, id="longest-text"),
        pytest.param("definition", "MX", "MX", id="definition"),
        pytest.param("SAXS_maskFile", "/data/mask.edf", "/data/mask.edf", id="file"),
        pytest.param("startDate", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00+00:00",
                     id="offset-to-utc"),
        pytest.param("startDate", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00+00:00",
                     id="zulu"),
        pytest.param("endDate", " 2024-05-01T12:00:00.5-05:30 ", "2024-05-01T17:30:00.500000+00:00",
                     id="fraction-negative-offset"),
        pytest.param("endDate", datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
                     "2024-05-01T10:00:00+00:00", id="aware-datetime"),
    ],
)  # fmt: skip
def test_accepts_text_and_datetimes_without_si_values(name, value, text):
    checked = check_parameter(VOCABULARY, name, value, None)

    assert checked == ParameterValue(
        name=name, value=text, unit=None, numeric=None, si_value=None, si_unit=None
    )


def test_text_and_datetimes_accept_an_empty_unit_as_none():
    assert check_parameter(VOCABULARY, "Sample_name", "x", "  ").unit is None
    assert check_parameter(VOCABULARY, "startDate", "2024-05-01T12:00:00Z", "").unit is None


def test_checks_against_the_vocabulary_it_is_given():
    vocabulary = {
        "beam_energy": ParameterType("beam_energy", ValueType.NUMBER, "MeV", "custom"),
    }

    checked = check_parameter(vocabulary, "beam_energy", 1, "GeV")

    assert checked.si_value == pytest.approx(1.602176634e-10, rel=1e-12)
    with pytest.raises(InvalidCommand, match=r"^unknown parameter type 'Sample_name'$"):
        check_parameter(vocabulary, "Sample_name", "x", None)


@pytest.mark.parametrize(
    ("value", "unit", "expected", "expected_unit"),
    [
        pytest.param(12.4, "keV", 1.98669902616e-15, JOULE, id="keV"),
        pytest.param(20.0, "degC", 293.15, "kelvin", id="degC"),
        pytest.param(32.0, "degF", 273.15, "kelvin", id="degF"),
        pytest.param(1.0, "mg/ml", 1.0, "kilogram / meter ** 3", id="mg/ml"),
        pytest.param(90.0, "degree", math.pi / 2, "radian", id="degree"),
        pytest.param(3.0, "", 3.0, "dimensionless", id="no-unit"),
        pytest.param(25.0, "%", 0.25, "dimensionless", id="percent-sign"),
        pytest.param(2.0, "mm**2", 2e-6, "meter ** 2", id="area"),
    ],
)
def test_si_value_converts_a_number_alone(value, unit, expected, expected_unit):
    result, result_unit = si_value(value, unit)

    assert result == pytest.approx(expected, rel=1e-12)
    assert result_unit == expected_unit


@pytest.mark.parametrize(
    ("value", "unit", "field", "detail"),
    [
        pytest.param(1.0, "foo", "unit", "unknown unit 'foo'", id="unknown"),
        pytest.param(1e308, "km", "value", "value 1e+308 km has no finite SI value", id="overflow"),
        pytest.param(math.nan, "m", "value", "value nan m has no finite SI value", id="nan"),
    ],
)
def test_si_value_rejects_what_it_cannot_convert(value, unit, field, detail):
    with pytest.raises(InvalidCommand) as raised:
        si_value(value, unit)

    assert raised.value.field == field
    assert raised.value.detail == detail


@pytest.fixture(scope="module")
def registry():
    return pint.UnitRegistry()


@pytest.mark.parametrize(
    "unit", ["keV", "eV", "angstrom", "degree", "degC", "degF", "mA", "mg/ml", "um", "1/s", "%"]
)
@pytest.mark.parametrize("value", [-40.0, 0.0, 1.0, 12.4, 6.02e23])
def test_si_value_agrees_with_pint_quantity_arithmetic(registry, unit, value):
    expected = registry.Quantity(value, unit).to_base_units()

    result, result_unit = si_value(value, unit)

    assert result == pytest.approx(expected.magnitude, rel=1e-12, abs=1e-12)
    assert result_unit == f"{expected.units:D}"


def test_builtin_vocabulary_holds_the_esrf_names_with_convertible_units():
    vocabulary = builtin_vocabulary()

    assert isinstance(vocabulary, MappingProxyType)
    # The ESRF definitions package lists about 1,250 names.
    assert len(vocabulary) >= 1000
    assert {
        "InstrumentMonochromator_energy",
        "InstrumentMonochromator_wavelength",
        "MX_exposureTime",
        "TOMO_pixelSize",
        "SAXS_mass",
        "startDate",
        "definition",
    } <= set(vocabulary)
    for name, kind in vocabulary.items():
        assert kind.name == name
        assert kind.description
        if kind.value_type is ValueType.NUMBER and kind.unit is not None:
            assert si_value(1.0, kind.unit)[0] > 0
        elif kind.value_type is not ValueType.NUMBER:
            assert kind.unit is None


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("InstrumentMonochromator_energy", "keV"),
        ("InstrumentMonochromator_wavelength", "Å"),
        ("InstrumentSource_current", "mA"),
        ("MX_oscillationRange", "deg"),
        ("MX_beamSizeAtSampleY", "mm"),
        ("MX_detectorDistance", "mm"),
        ("MX_numberOfImages", None),
        ("TOMO_scanRange", "degree"),
        ("SAXS_mass", "kDa"),
        ("MX_flux", "1/s"),
    ],
)
def test_builtin_vocabulary_canonical_units(name, unit):
    assert builtin_vocabulary()[name].unit == unit
    assert builtin_vocabulary()[name].value_type is ValueType.NUMBER


@pytest.mark.parametrize(
    ("name", "value_type"),
    [
        ("Sample_name", ValueType.TEXT),
        ("SAXS_maskFile", ValueType.TEXT),
        ("InstrumentDetector01_name", ValueType.TEXT),
        ("scanType", ValueType.TEXT),
        ("startDate", ValueType.DATETIME),
        ("endDate", ValueType.DATETIME),
    ],
)
def test_builtin_vocabulary_value_types(name, value_type):
    assert builtin_vocabulary()[name].value_type is value_type


@pytest.mark.parametrize("value_type", [ValueType.TEXT, ValueType.DATETIME])
def test_a_parameter_type_without_numbers_cannot_have_a_unit(value_type):
    with pytest.raises(ValueError, match="cannot have a unit"):
        ParameterType("bad", value_type, "mm", "a unit on a non-number")


def test_parameter_value_round_trips_through_json():
    checked = check_parameter(VOCABULARY, TEMPERATURE, 20, "degC")

    assert ParameterValue.model_validate_json(checked.model_dump_json()) == checked
    assert json.loads(checked.model_dump_json()) == {
        "name": TEMPERATURE,
        "value": "20",
        "unit": "degC",
        "numeric": 20.0,
        "si_value": pytest.approx(293.15),
        "si_unit": "kelvin",
    }


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"si_value": math.inf}, id="inf"),
        pytest.param({"numeric": math.nan}, id="nan"),
        pytest.param({"extra": 1}, id="extra-field"),
    ],
)
def test_parameter_value_refuses_non_finite_numbers_and_extra_fields(changes):
    fields = {
        "name": "n", "value": "1", "unit": None, "numeric": 1.0, "si_value": 1.0, "si_unit": "m"
    }  # fmt: skip

    with pytest.raises(pydantic.ValidationError):
        ParameterValue(**(fields | changes))


def test_parameter_value_is_frozen():
    checked = check_parameter(VOCABULARY, ENERGY, 12.4, None)

    with pytest.raises(pydantic.ValidationError):
        checked.value = "13"  # type: ignore[misc]


def test_importing_the_module_neither_builds_a_unit_registry_nor_imports_the_project():
    code = (
        "import sys\n"
        "import catalogue.domain.parameters as parameters\n"
        "assert parameters._registry.cache_info().currsize == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('catalogue', 'ingest', 'archive', 'search', 'simulator')))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == (
        "['catalogue', 'catalogue.domain', 'catalogue.domain.definitions', "
        "'catalogue.domain.parameters', 'catalogue.errors']"
    )


@pytest.mark.timeout(10)
@pytest.mark.parametrize("unit", ["10**10**10", "9**9**9", "m**12", "s^99", "m**(2)"])
def test_unit_powers_that_would_make_pint_compute_huge_numbers_are_refused(unit):
    with pytest.raises(InvalidCommand) as raised:
        check_parameter(builtin_vocabulary(), "MX_exposureTime", 1, unit)
    assert raised.value.field == "unit"
