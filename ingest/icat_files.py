"""ESRF dataset metadata files (`RAW_DATA/__icat__/*.xml`), as Bliss writes them when the
catalogue cannot be reached. Imports nothing of the project.

    <tns:dataset xmlns:tns="http://www.esrf.fr/icat" complete="true">
      <tns:investigation>hg123</tns:investigation> <tns:instrument>id00</tns:instrument>
      <tns:name>0001</tns:name> <tns:location>/data/visitor/...</tns:location>
      <tns:startDate>…</tns:startDate> <tns:endDate>…</tns:endDate>
      <tns:sample><tns:name>lysozyme</tns:name></tns:sample>
      <tns:parameter><tns:name>Sample_name</tns:name><tns:value>…</tns:value></tns:parameter>
    </tns:dataset>
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

NAMESPACE = "http://www.esrf.fr/icat"
#: A metadata file is a few kilobytes; anything this big is not one.
MAX_SIZE = 4 * 1024 * 1024


class IcatFileError(Exception):
    """The metadata file cannot be used; `reason` says why in words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(slots=True)
class IcatMetadata:
    """One dataset's metadata as the file gives it (values are text, as written)."""

    path: str
    investigation: str | None = None
    instrument: str | None = None
    name: str | None = None
    location: str | None = None
    start: str | None = None
    end: str | None = None
    sample: str | None = None
    complete: bool = True
    parameters: dict[str, str] = field(default_factory=dict)


def read_icat_file(path: str | os.PathLike[str]) -> IcatMetadata:
    """Read a dataset metadata file; `IcatFileError` if it is not one."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            data = stream.read(MAX_SIZE + 1)
    except OSError as error:
        raise IcatFileError(name, f"cannot read the file: {error.strerror or error}") from None
    if len(data) > MAX_SIZE:
        raise IcatFileError(name, f"larger than {MAX_SIZE // 1024 // 1024} MiB")
    # Metadata files never declare entities. Python's expat refuses expansion bombs and never
    # loads external entities, but only after expanding up to its limit: refuse them at once.
    if b"<!ENTITY" in data:
        raise IcatFileError(name, "it declares XML entities, which metadata files never do")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise IcatFileError(name, f"not well-formed XML ({error})") from None
    if _local(root.tag) != "dataset":
        raise IcatFileError(name, f"the root element is <{_local(root.tag)}>, not <dataset>")
    found = IcatMetadata(name, complete=(root.get("complete", "true").lower() != "false"))
    for child in root:
        tag = _local(child.tag)
        if tag == "parameter":
            key, value = _text(child, "name"), _text(child, "value")
            if key and value is not None:
                found.parameters[key] = value
        elif tag == "sample":
            found.sample = _text(child, "name")
        elif tag in ("investigation", "instrument", "name", "location"):
            setattr(found, tag, (child.text or "").strip() or None)
        elif tag in ("startDate", "endDate"):
            text = (child.text or "").strip() or None
            setattr(found, "start" if tag == "startDate" else "end", text)
    if not found.location:
        raise IcatFileError(name, "it names no <location> (the dataset folder)")
    return found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: ElementTree.Element, tag: str) -> str | None:
    for child in element:
        if _local(child.tag) == tag:
            return (child.text or "").strip()
    return None
