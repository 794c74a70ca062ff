"""The ESRF ICAT metadata definitions: parameter names, NeXus paths, value types and units.

They are read from the `icat-esrf-definitions` package (the ESRF's own `hdf5_cfg.xml`), so
that the catalogue's vocabulary and the ingester's NeXus mapping follow the facility's list
instead of a hand-typed copy of it.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

_PACKAGE = "icat_esrf_definitions"
_FILE = "hdf5_cfg.xml"
_PLACEHOLDER = re.compile(r"\s*\$\{(\w+)\}\s*")

#: NeXus types as the definitions name them, and what kind of parameter value each holds.
#: The names are those of `parameters.ValueType` (this module is imported by that one).
_VALUE_TYPES = {
    "NX_CHAR": "text",
    "NX_BOOLEAN": "text",
    "NX_DATE_TIME": "datetime",
    "NX_FLOAT": "number",
    "NX_INT": "number",
    "NX_NUMBER": "number",
}

#: Unit spellings of the definitions that pint does not know: counts of particles are
#: dimensionless, so "photons/s" is a rate and "electrons/Å²" a dose per area.
_UNIT_SPELLINGS = {"photons/s": "1/s", "electrons/Å²": "1/Å²"}


@dataclass(frozen=True, slots=True)
class Definition:
    """One ICAT parameter: its name, where NeXus keeps it (relative to the entry), its type."""

    name: str
    nexus_path: str
    #: "number", "text" or "datetime".
    value_type: str
    unit: str | None
    description: str
    #: "initial" or "final" when the value belongs to the start or the end of the dataset.
    record: str | None


@functools.cache
def icat_definitions() -> tuple[Definition, ...]:
    """Every definition of the package, in its order (a name may sit at several paths)."""
    text = importlib.resources.files(_PACKAGE).joinpath(_FILE).read_bytes()
    root = ElementTree.fromstring(text)
    found: list[Definition] = []
    _collect(root, (), found)
    return tuple(found)


def _collect(group: ElementTree.Element, path: tuple[str, ...], found: list[Definition]) -> None:
    for child in group:
        if child.tag == "group":
            _collect(child, (*path, child.get("groupName", "")), found)
            continue
        placeholder = _PLACEHOLDER.fullmatch(child.text or "")
        value_type = _VALUE_TYPES.get(child.get("NAPItype", "NX_CHAR"))
        # A few fields hold a fixed value or a template of another kind: not parameters.
        if placeholder is None or value_type is None:
            continue
        unit = child.get("units") if value_type == "number" else None
        nexus_path = "/".join((*path, child.tag))
        found.append(
            Definition(
                name=placeholder.group(1),
                nexus_path=nexus_path,
                value_type=value_type,
                unit=_UNIT_SPELLINGS.get(unit, unit) if unit else None,
                # A few fields have no description; where they sit says what they are.
                description=" ".join((child.get("ESRF_description") or nexus_path).split()),
                record=child.get("record"),
            )
        )


@functools.cache
def definitions_by_name() -> Mapping[str, Definition]:
    """The first definition of each parameter name."""
    by_name: dict[str, Definition] = {}
    for definition in icat_definitions():
        by_name.setdefault(definition.name, definition)
    return MappingProxyType(by_name)


@functools.cache
def definitions_by_path() -> Mapping[str, Definition]:
    """The definition of each NeXus path below an entry (`instrument/source/current`)."""
    by_path: dict[str, Definition] = {}
    for definition in icat_definitions():
        by_path.setdefault(definition.nexus_path, definition)
    return MappingProxyType(by_path)
