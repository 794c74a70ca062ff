"""Reading NeXus/HDF5 files into plain metadata, without reading detector data.

Imports nothing of the project. A file's first entry is read in full (its sample, source,
monochromator, positioners and technique sub-entries: the dataset's metadata); every entry
gives its title, times, writer status, application definition and measurement channels.
Only scalar and small fields are read; detectors give their shape, never their data; external
links are not followed unless asked (they lead to detector files on other disks).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
from h5py import h5a, h5d, h5g, h5l, h5o, h5s, h5t

#: Fields with more elements than this are described by their shape, never read.
SMALL = 16
#: Metadata groups are read this deep below an entry (instrument/monochromator/crystal/...).
MAX_DEPTH = 4
#: At most this many fields per entry: a file can hold a few thousand positioners.
MAX_FIELDS = 2000
#: Where HDF5 looks for its signature: 0, then powers of two from 512 (after a user block).
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Groups described by a summary rather than read field by field.
_SUMMARISED = frozenset({"NXdata", "NXdetector", "NXpositioner", "NXlog", "NXevent_data"})
#: Soft links followed at most this many hops when looking for an external link behind them.
_MAX_HOPS = 8
#: Entry children that hold scan data, not metadata.
_DATA_GROUPS = frozenset({"measurement", "plotselect", "positioners", "data"})
_DIGITS = re.compile(rb"(\d+)")
_ENTRY_FIELDS = ("title", "start_time", "end_time", "definition", "program_name")

Scalar = str | float | int | bool


class NexusError(Exception):
    """The file cannot be read as HDF5 at all; `reason` says why in words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Field:
    """A metadata field: a scalar (or a few values joined by spaces) and its unit."""

    value: Scalar
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Detector:
    """A detector of an entry: its name and type, the shape of its data, how it is linked."""

    name: str
    type: str | None
    shape: tuple[int, ...] | None
    #: "dataset", "virtual" (VDS), "external" (a link not followed) or None (no data).
    storage: str | None
    #: The files a virtual dataset or external link reads from, as the file names them.
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Channel:
    """A `measurement` channel: its name and number of points (None when not followed)."""

    name: str
    points: int | None


@dataclass(slots=True)
class Entry:
    """One NXentry: a scan (`1.1`) in a Bliss file, or `entry` in other facilities' files."""

    name: str
    title: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    definition: str | None = None
    program_name: str | None = None
    #: Bliss's `writer/status`: RUNNING, SUCCEEDED or FAILED.
    writer_status: str | None = None
    default: str | None = None
    #: Metadata fields by path below the entry (`instrument/source/current`); first entry only.
    fields: dict[str, Field] = field(default_factory=dict)
    #: `instrument/positioners_start` (Bliss): motor name -> position; first entry only.
    positioners: dict[str, Field] = field(default_factory=dict)
    detectors: list[Detector] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    #: Technique sub-entries (NXsubentry): `MX`, `SAXS`...
    subentries: list[str] = field(default_factory=list)
    #: The NX_class of each group read, by path ("" is the entry).
    classes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExternalEntry:
    """A top-level external link (what master files hold): name, target file and path."""

    name: str
    file: str
    path: str


@dataclass(slots=True)
class NexusFile:
    """What a file holds: its entries, the links of a master file, and what went wrong."""

    path: str
    creator: str | None = None
    default: str | None = None
    entries: list[Entry] = field(default_factory=list)
    links: list[ExternalEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_master(self) -> bool:
        """A master file: only external links at the top, no entries of its own (entries
        read through its links, with `follow_links`, are not its own)."""
        linked = {link.name for link in self.links}
        return bool(linked) and all(entry.name in linked for entry in self.entries)


def read_nexus(path: str | os.PathLike[str], *, follow_links: bool = False) -> NexusFile:
    """Read a NeXus file's metadata; `NexusError` if it is not a readable HDF5 file."""
    name = os.fspath(path)
    _check_signature(name)
    try:
        # No HDF5 file locking: the writer holds a lock on a file that is being written,
        # and a read-only reader must not be refused (nor block the writer).
        handle = h5py.File(name, "r", locking=False)
    except OSError as error:
        raise NexusError(name, _open_failure(name, error)) from None
    result = NexusFile(name)
    with handle:
        try:
            _Reader(handle, result, follow_links).read_file()
        except (OSError, RuntimeError, KeyError, ValueError) as error:
            if not result.entries:
                raise NexusError(name, f"HDF5 cannot read the file: {_short(str(error))}") from None
            result.warnings.append(f"the file could not be read to the end ({_short(str(error))})")
    return result


def _check_signature(path: str) -> None:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as stream:
            head = stream.read(8)
            if size == 0:
                raise NexusError(path, "the file is empty (0 bytes)")
            if head == _SIGNATURE:
                return
            offset = 512
            while offset + 8 <= size:
                stream.seek(offset)
                if stream.read(8) == _SIGNATURE:
                    return
                offset *= 2
    except OSError as error:
        raise NexusError(path, f"cannot read the file: {error.strerror or error}") from None
    raise NexusError(path, f"not an HDF5 file (it starts with {head[:8]!r})")


def _open_failure(path: str, error: OSError) -> str:
    text = str(error)
    if "truncated file" in text:
        return f"the file is truncated ({os.path.getsize(path)} bytes); it may still be copying"
    if "Permission denied" in text or isinstance(error, PermissionError):
        return "permission denied"
    if "unable to lock" in text.lower():
        return "the file is locked by another process"
    return f"HDF5 cannot open the file: {_short(text)}"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:200] + "…"


def _name(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class _Reader:
    """Reads through h5py's low-level interface: an object opened by name costs a quarter of
    what the high-level `group[name]` does, which decides how many files a second one
    process can read."""

    def __init__(self, handle: h5py.File, result: NexusFile, follow_links: bool) -> None:
        self.handle = handle
        self.result = result
        self.follow_links = follow_links
        self.folder = os.path.dirname(os.path.abspath(result.path))

    # -- the file and its entries ---------------------------------------------------------

    def read_file(self) -> None:
        """Entries and top-level links, in the file's order."""
        root = self.handle.id
        self.result.creator = self.text_attr(root, "creator", "/")
        self.result.default = self.text_attr(root, "default", "/")
        first = True
        # HDF5 lists links by name, which puts scan 10.1 before 2.1: take them by number.
        for raw in sorted(self.names(root), key=_natural_key):
            name = _name(raw)
            info = root.links.get_info(raw)
            file = None
            if info.type == h5l.TYPE_EXTERNAL:
                raw_file, target = root.links.get_val(raw)
                file = _name(raw_file)
                self.result.links.append(ExternalEntry(name, file, _name(target)))
                if not self.follow_links:
                    continue
            group = self.open(root, raw, name, external=file)
            if not isinstance(group, h5g.GroupID):
                continue
            nx_class = self.text_attr(group, "NX_class", name)
            # Files without NX_class attributes still name their scans N.M: take those too.
            if nx_class != "NXentry" and not (nx_class is None and _looks_like_scan(name)):
                continue
            try:
                entry = self.read_entry(name, group, full=first)
            except (KeyError, OSError, RuntimeError, ValueError) as error:
                self.result.warnings.append(f"entry {name}: cannot be read ({_short(str(error))})")
                continue
            first = False
            self.result.entries.append(entry)

    def read_entry(self, name: str, group: h5g.GroupID, *, full: bool) -> Entry:
        """An entry's title, times, status and channels; all its metadata if `full`."""
        entry = Entry(name)
        if full:
            entry.default = self.text_attr(group, "default", name)
        members = {_name(raw): raw for raw in self.names(group)}
        for key in _ENTRY_FIELDS:
            if key in members:
                value = self.scalar(group, members[key], f"{name}/{key}")
                if value is not None:
                    setattr(entry, key, str(value))
        if "writer" in members and _exists(group, b"writer/status"):
            status = self.scalar(group, b"writer/status", f"{name}/writer/status")
            entry.writer_status = None if status is None else str(status).upper()
        one_dimensional: set[str] = set()
        if "measurement" in members:
            self.read_channels(group, entry, full=full, one_dimensional=one_dimensional)
        if not full:
            return entry
        entry.classes[""] = "NXentry"
        for key in sorted(members):
            if key in _DATA_GROUPS or key == "writer":
                continue
            self.read_member(group, members[key], key, entry, 1, one_dimensional)
        return entry

    def read_channels(
        self, group: h5g.GroupID, entry: Entry, *, full: bool, one_dimensional: set[str]
    ) -> None:
        """The `measurement` channels; every channel of a scan shares its first axis, so
        after the first entry one channel's shape stands for all."""
        measurement = self.open(group, b"measurement", f"{entry.name}/measurement")
        if not isinstance(measurement, h5g.GroupID):
            return
        points: int | None = None
        for raw in self.names(measurement):
            name = _name(raw)
            if full or points is None:
                # Channels are soft links, a detector's often to an external link: its file
                # is on another disk and is not opened unless asked.
                file = self.external_file(measurement, raw)
                if file is not None and not self.follow_links:
                    entry.channels.append(Channel(name, None))
                    continue
                where = f"{entry.name}/measurement/{name}"
                item = self.open(measurement, raw, where, external=file)
                if not isinstance(item, h5d.DatasetID):
                    entry.channels.append(Channel(name, None))
                    continue
                shape = item.shape or ()
                points = int(shape[0]) if shape else 1
                if len(shape) <= 1:
                    one_dimensional.add(name)
            entry.channels.append(Channel(name, points))

    # -- metadata groups ------------------------------------------------------------------

    def read_member(
        self,
        parent: h5g.GroupID,
        raw: bytes,
        path: str,
        entry: Entry,
        depth: int,
        one_dimensional: set[str],
    ) -> None:
        """A field, or a metadata group read field by field (detectors are summarised)."""
        if len(entry.fields) >= MAX_FIELDS:
            return
        key = path.rsplit("/", 1)[-1]
        if depth == 2 and path.startswith("instrument/") and key in one_dimensional:
            return  # a counter or moving motor: its channel describes it
        file = self.external_file(parent, raw)
        if file is not None and not self.follow_links:
            return
        item = self.open(parent, raw, f"{entry.name}/{path}", external=file)
        if isinstance(item, h5d.DatasetID):
            # The entry's own title, times and definition were read already.
            if depth > 1 or key not in _ENTRY_FIELDS:
                self.field(item, path, entry)
            return
        if not isinstance(item, h5g.GroupID) or depth > MAX_DEPTH:
            return
        nx_class = self.text_attr(item, "NX_class", f"{entry.name}/{path}") or ""
        entry.classes[path] = nx_class
        if nx_class == "NXsubentry" and depth == 1:
            entry.subentries.append(key)
        if nx_class == "NXdetector":
            entry.detectors.append(self.detector(item, key, f"{entry.name}/{path}"))
            return
        if path == "instrument/positioners_start":
            self.positioners(item, entry)
            return
        if nx_class in _SUMMARISED or key in _DATA_GROUPS:
            return
        for child in sorted(self.names(item)):
            self.read_member(
                item, child, f"{path}/{_name(child)}", entry, depth + 1, one_dimensional
            )

    def field(self, item: h5d.DatasetID, path: str, entry: Entry) -> None:
        """A small field with its unit; large ones are data, not metadata."""
        value = self.value(item, f"{entry.name}/{path}")
        if value is not None:
            entry.fields[path] = Field(value, self.unit(item, f"{entry.name}/{path}"))

    def positioners(self, group: h5g.GroupID, entry: Entry) -> None:
        """Bliss's motor positions at the start of the scan."""
        for raw in self.names(group):
            name = _name(raw)
            where = f"{entry.name}/instrument/positioners_start/{name}"
            item = self.open(group, raw, where)
            if isinstance(item, h5d.DatasetID):
                value = self.value(item, where, limit=1)
                if value is not None:
                    entry.positioners[name] = Field(value, self.unit(item, where))

    def detector(self, group: h5g.GroupID, name: str, where: str) -> Detector:
        """A detector's type, and the shape and storage of its data (never the data)."""
        kind = None
        if _exists(group, b"type"):
            found = self.scalar(group, b"type", f"{where}/type")
            kind = None if found is None else str(found)
        for key in (b"data", b"image", b"images"):
            if not _exists(group, key):
                continue
            at = f"{where}/{_name(key)}"
            file = self.external_file(group, key)
            folder = self.folder
            if file is not None:
                # A stat, not an open: a missing detector file is worth a warning either way.
                if not os.path.exists(os.path.join(self.folder, file)):
                    self.result.warnings.append(f"{at}: external link to missing file {file!r}")
                    return Detector(name, kind, None, "external", (file,))
                if not self.follow_links:
                    return Detector(name, kind, None, "external", (file,))
                folder = os.path.dirname(os.path.join(self.folder, file))
            data = self.open(group, key, at, external=file)
            if not isinstance(data, h5d.DatasetID):
                return Detector(name, kind, None, None)
            shape = tuple(int(n) for n in data.shape or ())
            plist = data.get_create_plist()
            linked = () if file is None else (file,)
            if plist.get_layout() == h5d.VIRTUAL:
                sources = tuple(
                    dict.fromkeys(
                        plist.get_virtual_filename(i) for i in range(plist.get_virtual_count())
                    )
                )
                self.check_sources(at, sources, folder)
                return Detector(name, kind, shape, "virtual", linked + sources)
            return Detector(name, kind, shape, "dataset", linked)
        return Detector(name, kind, None, None)

    def check_sources(self, where: str, sources: tuple[str, ...], folder: str) -> None:
        """A missing VDS source reads as fill values, silently: say so. Relative sources are
        relative to the folder of the file that holds the virtual dataset."""
        for source in sources:
            if source != "." and not os.path.exists(os.path.join(folder, source)):
                self.result.warnings.append(
                    f"{where}: virtual dataset source {source!r} is missing "
                    "(its frames read as fill values)"
                )

    # -- objects and values ---------------------------------------------------------------

    def names(self, group: h5g.GroupID) -> list[bytes]:
        """The link names of a group, in the file's order."""
        found: list[bytes] = []
        group.links.iterate(found.append)
        return found

    def external_file(self, group: h5g.GroupID, raw: bytes) -> str | None:
        """The file an external link, or a soft link to one, leads to; None for other links
        (and for soft links that lead nowhere: opening them says so)."""
        links = group.links
        try:
            for _ in range(_MAX_HOPS):
                info = links.get_info(raw)
                if info.type == h5l.TYPE_EXTERNAL:
                    return _name(links.get_val(raw)[0])
                if info.type != h5l.TYPE_SOFT:
                    return None
                raw = links.get_val(raw)
                if raw.startswith(b"/"):
                    links = self.handle.id.links
        except (KeyError, OSError, RuntimeError, ValueError):
            return None
        return None

    def open(self, parent: h5g.GroupID, raw: bytes, where: str, external: str | None = None) -> Any:
        """The object a link names, or None (with a warning) if it leads nowhere."""
        try:
            return h5o.open(parent, raw)
        except KeyError:
            if external is None:
                self.result.warnings.append(f"{where}: dangling link")
            else:
                self.result.warnings.append(f"{where}: external link to missing file {external!r}")
        except (OSError, RuntimeError, ValueError) as error:
            self.result.warnings.append(f"{where}: cannot be opened ({_short(str(error))})")
        return None

    def scalar(self, group: h5g.GroupID, raw: bytes, where: str) -> Scalar | None:
        """A small field's value by name."""
        item = self.open(group, raw, where)
        return self.value(item, where) if isinstance(item, h5d.DatasetID) else None

    def value(self, item: h5d.DatasetID, where: str, limit: int = SMALL) -> Scalar | None:
        """A field's value as Python if it has at most `limit` elements."""
        try:
            shape = item.shape
            if shape is None:
                return None  # an empty (null) dataspace
            if math.prod(shape) > limit:
                return None
            dtype = item.dtype
            if dtype.kind not in "biufSOUT":
                return None
            data = np.zeros(shape, dtype=dtype)
            item.read(h5s.ALL, h5s.ALL, data, mtype=_memory_type(dtype))
        except (OSError, RuntimeError, ValueError, TypeError) as error:
            self.result.warnings.append(f"{where}: cannot be read ({_short(str(error))})")
            return None
        return _plain(data, where, self.result)

    def attr(self, oid: Any, name: bytes, where: str) -> Scalar | None:
        """An attribute's value as Python, or None if there is none."""
        try:
            if not h5a.exists(oid, name):
                return None
            attribute = h5a.open(oid, name)
            shape = attribute.shape
            if shape is None:
                return None
            dtype = attribute.dtype
            data = np.zeros(shape, dtype=dtype)
            attribute.read(data, mtype=_memory_type(dtype))
        except (OSError, RuntimeError, ValueError, TypeError) as error:
            self.result.warnings.append(
                f"{where}@{_name(name)}: cannot be read ({_short(str(error))})"
            )
            return None
        return _plain(data, f"{where}@{_name(name)}", self.result)

    def text_attr(self, oid: Any, name: str, where: str) -> str | None:
        """An attribute as text (NX_class, default, units...)."""
        value = self.attr(oid, name.encode(), where)
        return None if value is None else str(value)

    def unit(self, item: h5d.DatasetID, where: str) -> str | None:
        """A field's `units` (or `unit`) attribute; an empty one means none."""
        unit = self.text_attr(item, "units", where)
        if unit is None:
            unit = self.text_attr(item, "unit", where)
        return (unit.strip() or None) if unit else None


#: Memory types of plain numeric and fixed-length dtypes (variable-length strings are object
#: dtypes told apart only by metadata, so they are never cached).
_MEMORY_TYPES: dict[str, Any] = {}


def _memory_type(dtype: np.dtype[Any]) -> Any:
    if dtype.kind == "O":
        return h5t.py_create(dtype)
    found = _MEMORY_TYPES.get(dtype.str)
    if found is None:
        found = _MEMORY_TYPES[dtype.str] = h5t.py_create(dtype)
    return found


def _exists(group: h5g.GroupID, raw: bytes) -> bool:
    try:
        return bool(group.links.exists(raw))
    except (OSError, RuntimeError, ValueError):
        return False


def _natural_key(raw: bytes) -> tuple[tuple[int, int | bytes], ...]:
    """Sorts `2.1` before `10.1`, and `entry_2` before `entry_10`."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(raw) if part
    )


def _looks_like_scan(name: str) -> bool:
    number, dot, sub = name.partition(".")
    return bool(dot) and number.isdigit() and sub.isdigit()


# -- values ---------------------------------------------------------------------------------


def _plain(raw: Any, where: str, result: NexusFile) -> Scalar | None:
    """A value as Python: text decoded, numbers finite, a few values joined by spaces."""
    if isinstance(raw, np.ndarray):
        if raw.size == 0:
            return None
        if raw.size == 1:
            return _plain(raw.reshape(-1)[0], where, result)
        values = [_plain(value, where, result) for value in raw.reshape(-1)]
        kept = [str(value) for value in values if value is not None]
        return " ".join(kept) if kept else None
    if isinstance(raw, bytes | np.bytes_):
        return _decode(bytes(raw), where, result)
    if isinstance(raw, str):
        return raw.rstrip("\x00")
    if isinstance(raw, np.bool_ | bool):
        return bool(raw)
    if isinstance(raw, np.integer | int):
        return int(raw)
    if isinstance(raw, np.floating | float):
        number = float(raw)
        if not math.isfinite(number):
            result.warnings.append(f"{where}: value is {number} (not a finite number); skipped")
            return None
        return number
    return None


def _decode(raw: bytes, where: str, result: NexusFile) -> str:
    raw = raw.rstrip(b"\x00")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so nothing is lost; the warning says the text may be off.
        result.warnings.append(f"{where}: text is not UTF-8; read as Latin-1")
        return raw.decode("latin-1")
