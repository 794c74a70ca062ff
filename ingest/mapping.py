"""From what a dataset folder's files say to catalogue metadata: dataset fields, ICAT
parameters with their units, and NeXus fields the definitions have no name for.

The ESRF metadata file (`__icat__/*.xml`) wins over the HDF5 file; a value that does not fit
its parameter type is kept under its NeXus path as text, with a warning, rather than lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from catalogue.domain import datasets as ds
from catalogue.domain.definitions import definitions_by_path
from catalogue.domain.parameters import builtin_vocabulary, check_parameter, is_nexus_path
from catalogue.errors import InvalidCommand
from ingest.icat_files import IcatMetadata
from ingest.layout import DatasetFolder
from ingest.nexus import Entry, NexusFile

#: Writer statuses after which a scan will not change any more.
FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "ABORTED", "KILLED"})
#: Scans described one by one (title, points, status, channels); the rest are counted.
MAX_SCANS_DESCRIBED = 100
#: Positioners kept under their NeXus path (all of them go into the ICAT name/value lists).
MAX_POSITIONERS = 300
#: NeXus application definitions and technique sub-entries, as catalogue techniques.
_TECHNIQUES = {
    "NXMX": "MX", "NXTOMO": "TOMO", "NXTOMOPHASE": "TOMO", "NXTOMOPROC": "TOMO",
    "NXSAS": "SAXS", "NXCANSAS": "SAXS", "NXXAS": "XAS", "NXXASPROC": "XAS", "NXFLUO": "XRF",
    "NXXRF": "XRF", "NXSTXM": "SCANNING", "NXXPCS": "XPCS", "NXARPES": "ARPES",
    "NXRIXS": "RIXS", "NXIQPROC": "SAXS", "NXXRD": "XRD",
}  # fmt: skip
#: Characters a kept parameter name cannot hold (see `parameters.is_nexus_path`).
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.@-]+")
_MAX_KEPT_NAME = 150
_CONTINUOUS = ("fscan", "f2scan", "fscan2d", "fscan3d", "zapline", "zapimage", "ftimescan")


@dataclass(slots=True)
class Mapped:
    """A dataset's metadata as the catalogue takes it."""

    start: datetime | None = None
    end: datetime | None = None
    finished: bool = False
    #: Why the dataset is not finished (a scan still running), for the summary.
    running: str | None = None
    #: Whether the file says when scans end at all (an `end_time` or a writer status on
    #: some entry); files that never do are taken as finished once they stop changing.
    marked: bool = False
    sample: str | None = None
    techniques: tuple[str, ...] = ()
    scan_type: ds.ScanType | None = None
    parameters: dict[str, ds.RawParameter] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)


def map_dataset(
    folder: DatasetFolder | None, nexus: NexusFile | None, icat: IcatMetadata | None
) -> Mapped:
    """The catalogue's view of one dataset, from its NeXus file and its metadata file."""
    mapped = Mapped()
    if nexus is not None:
        mapped.warnings.extend(nexus.warnings)
        _map_entries(nexus.entries, mapped)
    if icat is not None:
        _map_icat(icat, mapped)
    if folder is not None and mapped.sample is None:
        # The data policy names a collection after the sample it measures.
        mapped.sample = folder.collection
    if mapped.sample is not None:
        _put(mapped, "Sample_name", mapped.sample, None)
    if mapped.techniques:
        _put(mapped, "definition", " ".join(mapped.techniques), None)
    return mapped


def _map_entries(entries: list[Entry], mapped: Mapped) -> None:
    if not entries:
        return
    starts = [t for e in entries if (t := _time(e.start_time, f"{e.name}/start_time", mapped))]
    ends = [t for e in entries if (t := _time(e.end_time, f"{e.name}/end_time", mapped))]
    mapped.start = min(starts, default=None)
    running = [e.name for e in entries if not _finished(e)]
    mapped.finished = not running
    mapped.marked = any(e.end_time is not None or e.writer_status is not None for e in entries)
    if running:
        mapped.running = f"scan {running[0]} is still being written (no end_time)"
    mapped.end = max(ends, default=None)
    first = entries[0]
    techniques: list[str] = []
    for entry in entries[:MAX_SCANS_DESCRIBED]:
        if entry.definition:
            techniques.append(_TECHNIQUES.get(entry.definition.upper(), entry.definition))
        techniques.extend(entry.subentries)
        _describe_scan(entry, mapped)
    if len(entries) > MAX_SCANS_DESCRIBED:
        mapped.warnings.append(
            f"{len(entries)} scans: the first {MAX_SCANS_DESCRIBED} are described one by one"
        )
    _put(mapped, "scans/count", len(entries), None)
    mapped.techniques = tuple(t for t in dict.fromkeys(techniques) if t in ds.TECHNIQUES)
    mapped.scan_type = _scan_type(first)
    sample = first.fields.get("sample/name")
    if sample is not None:
        mapped.sample = str(sample.value)
    _map_fields(first, mapped)


def _finished(entry: Entry) -> bool:
    if entry.writer_status is not None:
        return entry.writer_status in FINAL_STATUSES
    return entry.end_time is not None


def _describe_scan(entry: Entry, mapped: Mapped) -> None:
    prefix = f"scans/{entry.name}"
    if entry.title:
        _put(mapped, f"{prefix}/title", entry.title, None)
    if entry.writer_status:
        _put(mapped, f"{prefix}/status", entry.writer_status, None)
    if entry.channels:
        names = " ".join(c.name for c in entry.channels)
        _put(mapped, f"{prefix}/channels", names, None)
        points = max((c.points or 0 for c in entry.channels), default=0)
        _put(mapped, f"{prefix}/points", points, None)


def _scan_type(entry: Entry) -> ds.ScanType | None:
    command = (entry.title or "").split(" ", 1)[0].lower()
    if not command:
        return None
    if command.startswith(_CONTINUOUS):
        return ds.ScanType.CONTINUOUS
    return ds.ScanType.STEP_BY_STEP


def _map_fields(entry: Entry, mapped: Mapped) -> None:
    by_path = definitions_by_path()
    for path, found in entry.fields.items():
        definition = by_path.get(path)
        # A field of the entry itself (`run`, `experiment_identifier`) is kept as
        # `entry/run`: a kept name is a path of at least two parts.
        kept = path if "/" in path else f"entry/{path}"
        name = definition.name if definition is not None else kept
        _put(mapped, name, found.value, found.unit, nexus_path=kept)
    for detector_number, detector in enumerate(entry.detectors[:99], start=1):
        base = f"instrument/{detector.name}"
        _put(mapped, f"InstrumentDetector{detector_number:02d}_name", detector.name, None)
        if detector.type:
            _put(mapped, f"{base}/type", detector.type, None)
        if detector.shape is not None:
            _put(mapped, f"{base}/data_shape", " ".join(map(str, detector.shape)), None)
    positioners = entry.positioners
    if positioners:
        _put(mapped, "InstrumentPositioners_name", " ".join(positioners), None)
        values = " ".join(str(p.value) for p in positioners.values())
        _put(mapped, "InstrumentPositioners_value", values, None)
        for name, position in list(positioners.items())[:MAX_POSITIONERS]:
            path = f"instrument/positioners_start/{name}"
            _put(mapped, path, position.value, position.unit)


def _map_icat(icat: IcatMetadata, mapped: Mapped) -> None:
    """The metadata file's values replace the HDF5 file's."""
    start = _time(icat.start, "__icat__ startDate", mapped)
    end = _time(icat.end, "__icat__ endDate", mapped)
    mapped.start = start or mapped.start
    mapped.end = end or mapped.end
    if icat.complete and (mapped.end is not None or mapped.running is None):
        mapped.finished = True
        mapped.running = None
    if icat.sample:
        mapped.sample = icat.sample
    vocabulary = builtin_vocabulary()
    for name, value in icat.parameters.items():
        if name == "Sample_name":
            mapped.sample = value
            continue
        if name in vocabulary or is_nexus_path(name):
            _put(mapped, name, value, None)
        else:
            # Under a NeXus-path-like name, which the catalogue keeps untyped.
            kept = f"icat/{_UNSAFE_NAME.sub('_', name)[:_MAX_KEPT_NAME]}"
            mapped.warnings.append(
                f"__icat__ parameter {name[:80]!r} is not in the ESRF definitions; kept as {kept!r}"
            )
            _put(mapped, kept, value, None)
    if "input_datasets" in icat.parameters:
        mapped.inputs = tuple(
            p.strip() for p in icat.parameters["input_datasets"].split(",") if p.strip()
        )


def _put(
    mapped: Mapped,
    name: str,
    value: str | float | int | bool,
    unit: str | None,
    *,
    nexus_path: str | None = None,
) -> None:
    """Keep a parameter if its type accepts it; else keep it as text under its NeXus path."""
    raw = ds.RawParameter(name, value, unit)
    try:
        check_parameter(builtin_vocabulary(), name, value, unit)
    except InvalidCommand as error:
        if nexus_path is None or nexus_path == name:
            mapped.warnings.append(f"parameter {name}: {error.detail}; not recorded")
            return
        mapped.warnings.append(f"parameter {name}: {error.detail}; kept as {nexus_path!r}")
        raw = ds.RawParameter(nexus_path, str(value), unit)
        try:
            check_parameter(builtin_vocabulary(), nexus_path, str(value), unit)
        except InvalidCommand as again:
            mapped.warnings.append(f"parameter {nexus_path}: {again.detail}; not recorded")
            return
    mapped.parameters[raw.name] = raw


def _time(text: str | None, where: str, mapped: Mapped) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        mapped.warnings.append(f"{where}: {text[:60]!r} is not an ISO 8601 time; ignored")
        return None
    if moment.utcoffset() is None:
        mapped.warnings.append(f"{where}: {text[:60]!r} has no time zone; read as UTC")
        moment = moment.replace(tzinfo=UTC)
    return moment


def parameters_of(mapped: Mapped) -> tuple[ds.RawParameter, ...]:
    """The mapped parameters in name order."""
    return tuple(mapped.parameters[name] for name in sorted(mapped.parameters))
