"""Writers of small HDF5/NeXus fixture files: ESRF/Bliss trees, other facilities, broken files.

Only the standard library, numpy and h5py are imported (never the project's packages), so the
ingest tests and the benchmark share the same files. Everything written is deterministic for the
same arguments and small unless a size argument says otherwise.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

HC_KEV_ANGSTROM = 12.398419843320026
ICAT_NAMESPACE = "http://www.esrf.fr/icat"
DETECTOR_DATA_PATH = "/entry_0000/measurement/data"
CEST = timezone(timedelta(hours=2))

POSITIONER_NAMES = (
    "samx", "samy", "samz", "phi", "omega", "kappa", "chi", "detz",
    "bstopz", "slit_vg", "slit_hg", "diffty",
)  # fmt: skip
ANGULAR_POSITIONERS = frozenset({"phi", "omega", "kappa", "chi"})
COUNTER_NAMES = ("diode", "mon", "iodet", "idet", "pico1", "fluo_roi1", "transmission", "temp_cryo")
SCAN_KINDS = ("ascan", "dscan", "a2scan", "amesh", "timescan", "loopscan", "ct")
TECHNIQUES = ("MX", "SAXS", "TOMO")

PROPOSALS = ("hg123", "ma4567", "ls3001", "in1099", "es1234", "mx2400", "ch6543", "ev501")
BEAMLINES = ("id23-1", "bm29", "id19", "id11", "id10", "bm23")
BEAMLINE_TECHNIQUES: dict[str, tuple[str, ...]] = {
    "id23-1": ("MX",),
    "bm29": ("SAXS",),
    "id19": ("TOMO",),
}
COLLECTIONS = ("lysozyme", "thaumatin", "insulin", "buffer", "bsa", "ferritin")

DetectorLink = Literal["vds", "external"]


# --------------------------------------------------------------------------- small helpers


# h5py's high-level API costs ~60 us per object; these go through the low-level API with cached
# types, dataspaces and property lists (about twice as fast), and switch off the object timestamps
# HDF5 keeps by default, so the same arguments give the same bytes.
_STR_DTYPE = h5py.string_dtype()
_STR_TYPE = h5py.h5t.py_create(_STR_DTYPE, logical=True)
_SCALAR = h5py.h5s.create(h5py.h5s.SCALAR)
_DCPL = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
_DCPL.set_obj_track_times(False)
_GCPL = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
_GCPL.set_obj_track_times(False)


def _array(value: Any) -> np.ndarray:
    """Str as variable-length UTF-8, bytes as fixed-length, anything else as numpy has it."""
    array = np.asarray(value)
    return array.astype(_STR_DTYPE) if array.dtype.kind == "U" else array


def _type_and_space(array: np.ndarray) -> tuple[Any, Any]:
    kind = _STR_TYPE if array.dtype == object else h5py.h5t.py_create(array.dtype, logical=True)
    space = _SCALAR if array.ndim == 0 else h5py.h5s.create_simple(array.shape)
    return kind, space


def _attr(obj: Any, name: str, value: Any) -> None:
    array = _array(value)
    kind, space = _type_and_space(array)
    h5py.h5a.create(obj.id, name.encode(), kind, space).write(array)


def _group(parent: h5py.Group, name: str, nx_class: Any, **attrs: Any) -> h5py.Group:
    group = h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=_GCPL))
    _attr(group, "NX_class", nx_class)
    for key, value in attrs.items():
        _attr(group, key, value)
    return group


def _value(parent: h5py.Group, name: str, value: Any, units: Any = None) -> None:
    array = _array(value)
    kind, space = _type_and_space(array)
    dataset = h5py.h5d.create(parent.id, name.encode(), kind, space, dcpl=_DCPL)
    dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, array)
    if units is not None:
        _attr(h5py.Dataset(dataset), "units", units)


def _virtual(
    parent: h5py.Group, name: str, source: np.ndarray, file_name: str, dataset: str
) -> None:
    """A virtual dataset mapping all of `file_name:dataset`, shaped and typed like `source`.

    The same as `h5py.VirtualLayout` + `create_virtual_dataset`, but those store a modification
    time in the dataset's header, which would make the file's bytes differ from run to run.
    """
    space = h5py.h5s.create_simple(source.shape)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_obj_track_times(False)
    dcpl.set_fill_value(np.zeros((), dtype=source.dtype))
    dcpl.set_virtual(space, file_name.encode(), dataset.encode(), space)
    kind = h5py.h5t.py_create(source.dtype, logical=True)
    h5py.h5d.create(parent.id, name.encode(), kind, space, dcpl=dcpl)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _as_datetime(moment: str | datetime) -> datetime:
    return moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)


def _write_root_attrs(file: h5py.File, path: Path, file_time: datetime, default: str) -> None:
    _attr(file, "NX_class", "NXroot")
    _attr(file, "creator", "Bliss")
    _attr(file, "file_name", os.path.abspath(path))
    _attr(file, "file_time", _iso(file_time))
    _attr(file, "default", default)


def _write_entry_header(
    entry: h5py.Group, title: str, start: datetime, end: datetime | None, status: str
) -> None:
    """The part every Bliss entry has: title, start/end time and the writer's status."""
    _value(entry, "title", title)
    _value(entry, "start_time", _iso(start))
    if end is not None:
        _value(entry, "end_time", _iso(end))
    writer = _group(entry, "writer", "NXnote")
    _value(writer, "status", status)


def _mesh_shape(points: int) -> tuple[int, int]:
    rows = int(np.sqrt(points))
    while rows > 1 and points % rows:
        rows -= 1
    return rows, points // rows


def _scan_command(
    scan: int, points: int, start_positions: Mapping[str, float]
) -> tuple[str, dict[str, np.ndarray], int]:
    """Title, moving motor positions and number of points of scan number `scan`."""
    kind = SCAN_KINDS[(scan - 1) % len(SCAN_KINDS)]
    intervals = max(points - 1, 0)
    if kind == "ascan":
        return f"ascan samy 0 1 {intervals} 0.1", {"samy": np.linspace(0, 1, points)}, points
    if kind == "dscan":
        moving = {"samz": start_positions["samz"] + np.linspace(-0.5, 0.5, points)}
        return f"dscan samz -0.5 0.5 {intervals} 0.1", moving, points
    if kind == "a2scan":
        moving = {"samx": np.linspace(0, 1, points), "samy": np.linspace(0, 2, points)}
        return f"a2scan samx 0 1 samy 0 2 {intervals} 0.1", moving, points
    if kind == "amesh":
        rows, cols = _mesh_shape(points)
        moving = {
            "samx": np.tile(np.linspace(0, 1, cols), rows),
            "samy": np.repeat(np.linspace(0, 2, rows), cols),
        }
        return f"amesh samx 0 1 {cols - 1} samy 0 2 {rows - 1} 0.1", moving, points
    if kind == "timescan":
        return "timescan 0.1", {}, points
    if kind == "loopscan":
        return f"loopscan {points} 0.1", {}, points
    return "ct 0.1", {}, 1


def _positioner_name(index: int) -> str:
    return POSITIONER_NAMES[index] if index < len(POSITIONER_NAMES) else f"pos{index:02d}"


def _counter_name(index: int) -> str:
    return COUNTER_NAMES[index] if index < len(COUNTER_NAMES) else f"ct{index:02d}"


def _units(positioner: str) -> str:
    return "deg" if positioner in ANGULAR_POSITIONERS else "mm"


def _write_technique(entry: h5py.Group, technique: str, npoints: int) -> None:
    sub = _group(entry, technique, "NXsubentry")
    if technique == "MX":
        _value(sub, "resolution", 1.8, "Å")
        _value(sub, "exposureTime", 0.1, "s")
        _value(sub, "numberOfImages", npoints)
    elif technique == "SAXS":
        _value(sub, "concentration", 2.5, "mg/ml")
        _value(sub, "exposureTime", 1.0, "s")
    elif technique == "TOMO":
        _value(sub, "pixelSize", 6.5, "um")
        _value(sub, "projN", npoints)
    else:
        raise ValueError(f"unknown technique {technique!r}; known: {', '.join(TECHNIQUES)}")


def detector_file_path(dataset_file: Path | str, scan: int, detector: str = "pilatus") -> Path:
    """The external per-scan detector file written beside a Bliss dataset file."""
    return Path(dataset_file).parent / f"scan{scan:04d}" / f"{detector}_0000.h5"


def _write_detector_file(path: Path, frames: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        _attr(file, "NX_class", "NXroot")
        _attr(file, "creator", "LIMA")
        entry = _group(file, "entry_0000", "NXentry")
        measurement = _group(entry, "measurement", "NXcollection")
        _value(measurement, "data", frames)


def _write_scan_entry(
    file: h5py.File,
    dataset_file: Path,
    *,
    scan: int,
    sub_scan: int,
    points: int,
    positioners: int,
    counters: int,
    detector_2d: bool,
    detector_shape: tuple[int, int],
    detector_link: DetectorLink,
    status: str,
    start: datetime,
    sample: str | bytes | None,
    chemical_formula: str | None,
    description: str | None,
    temperature_k: float | None,
    techniques: Sequence[str],
    energy_kev: float,
    current_ma: float,
    beamline: str,
    seed: int,
) -> None:
    rng = np.random.default_rng([seed, scan, sub_scan])
    name = f"{scan}.{sub_scan}"
    start_positions = {
        _positioner_name(i): round(float(rng.uniform(-5, 5)), 4)
        for i in range(max(positioners, len(POSITIONER_NAMES)))
    }
    title, moving, npoints = _scan_command(scan, points, start_positions)
    end = None if status == "RUNNING" else start + timedelta(seconds=30)

    entry = _group(file, name, "NXentry", default="plotselect")
    _write_entry_header(entry, title, start, end, status)
    instrument = _group(entry, "instrument", "NXinstrument")
    _value(instrument, "name", beamline)

    positioners_start = _group(instrument, "positioners_start", "NXcollection")
    for i in range(positioners):
        motor = _positioner_name(i)
        _value(positioners_start, motor, start_positions[motor], _units(motor))
    moving_group = _group(instrument, "positioners", "NXcollection")
    for motor, positions in moving.items():
        _value(moving_group, motor, positions, _units(motor))

    counter_names = [_counter_name(i) for i in range(counters)]
    for counter in counter_names:
        group = _group(instrument, counter, "NXdetector")
        _value(group, "data", rng.random(npoints) * 1000.0)
        _value(group, "type", "counter")
    axes = list(moving)
    if not axes:
        timer = _group(instrument, "elapsed_time", "NXdetector")
        _value(timer, "data", np.arange(npoints) * 0.1, "s")
        _value(timer, "type", "timer")
        axes = ["elapsed_time"]

    source = _group(instrument, "source", "NXsource")
    _value(source, "name", "ESRF")
    _value(source, "type", "Synchrotron X-ray Source")
    _value(source, "mode", "7/8+1")
    _value(source, "current", float(current_ma), "mA")
    mono = _group(instrument, "monochromator", "NXmonochromator")
    _value(mono, "energy", float(energy_kev), "keV")
    wavelength = HC_KEV_ANGSTROM / energy_kev if energy_kev else float("inf")
    _value(mono, "wavelength", wavelength, "Å")

    detector = "pilatus" if detector_2d else None
    detector_member = "data"
    if detector is not None:
        height, width = detector_shape
        frames = rng.integers(0, 1000, size=(npoints, height, width), dtype=np.uint32)
        target = detector_file_path(dataset_file, scan, detector)
        relative = target.relative_to(Path(dataset_file).parent).as_posix()
        _write_detector_file(target, frames)
        group = _group(instrument, detector, "NXdetector")
        _value(group, "type", "pixel")
        if detector_link == "vds":
            _virtual(group, "data", frames, relative, DETECTOR_DATA_PATH)
        else:
            detector_member = "image"
            group[detector_member] = h5py.ExternalLink(relative, DETECTOR_DATA_PATH)

    measurement = _group(entry, "measurement", "NXcollection")
    plotselect = _group(entry, "plotselect", "NXdata")
    links: dict[str, str] = {}
    for counter in counter_names:
        links[counter] = f"/{name}/instrument/{counter}/data"
    for motor in moving:
        links[motor] = f"/{name}/instrument/positioners/{motor}"
    if not moving:
        links["elapsed_time"] = f"/{name}/instrument/elapsed_time/data"
    if detector is not None:
        links[detector] = f"/{name}/instrument/{detector}/{detector_member}"
    for key, target_path in links.items():
        measurement[key] = h5py.SoftLink(target_path)
        if key != detector:
            plotselect[key] = h5py.SoftLink(target_path)
    signal = counter_names[0] if counter_names else detector
    if signal is not None:
        if signal == detector:
            plotselect[signal] = h5py.SoftLink(links[signal])
        _attr(plotselect, "signal", signal)
        _attr(plotselect, "axes", axes[:1])

    if sample is not None:
        sample_group = _group(entry, "sample", "NXsample")
        _value(sample_group, "name", np.bytes_(sample) if isinstance(sample, bytes) else sample)
        if chemical_formula is not None:
            _value(sample_group, "chemical_formula", chemical_formula)
        if description is not None:
            _value(sample_group, "description", description)
        if temperature_k is not None:
            _value(sample_group, "temperature", float(temperature_k), "K")

    for technique in techniques:
        _write_technique(entry, technique, npoints)


# --------------------------------------------------------------------------- ESRF / Bliss


def bliss_dataset_path(
    root: Path | str,
    proposal: str = "hg123",
    beamline: str = "id23-1",
    session: str = "20250601",
    collection: str = "lysozyme",
    dataset: str = "0001",
    processed: bool = False,
) -> Path:
    """The path of a Bliss dataset file in the ESRF directory convention (nothing is written)."""
    kind = "PROCESSED_DATA" if processed else "RAW_DATA"
    folder = f"{collection}_{dataset}"
    return Path(root) / proposal / beamline / session / kind / collection / folder / f"{folder}.h5"


def write_bliss_dataset(
    path: Path | str,
    *,
    scans: int = 3,
    points: int = 11,
    positioners: int = 8,
    counters: int = 4,
    detector_2d: bool = False,
    detector_shape: tuple[int, int] = (8, 16),
    detector_link: DetectorLink = "vds",
    running_scan: int | None = None,
    failed_scan: int | None = None,
    sample: str | bytes | None = "lysozyme",
    chemical_formula: str | None = None,
    description: str | None = None,
    temperature_k: float | None = 100.0,
    techniques: Sequence[str] = ("MX",),
    start: str | datetime = "2025-06-01T10:00:00+02:00",
    energy_kev: float = 12.4,
    current_ma: float = 199.5,
    beamline: str = "ID23-1",
    sub_scans: bool = False,
    userblock_size: int = 0,
    seed: int = 0,
) -> Path:
    """Write a Bliss dataset file with one `N.1` entry (and `N.2` if sub_scans) per scan."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    first = _as_datetime(start)
    create: dict[str, Any] = {"userblock_size": userblock_size} if userblock_size else {}
    with h5py.File(path, "w", **create) as file:
        _write_root_attrs(file, path, first, "1.1")
        for scan in range(1, scans + 1):
            if scan == running_scan:
                status = "RUNNING"
            elif scan == failed_scan:
                status = "FAILED"
            else:
                status = "SUCCEEDED"
            for sub_scan in (1, 2) if sub_scans else (1,):
                _write_scan_entry(
                    file,
                    path,
                    scan=scan,
                    sub_scan=sub_scan,
                    points=points,
                    positioners=positioners,
                    counters=counters if sub_scan == 1 else max(1, counters // 2),
                    detector_2d=detector_2d and sub_scan == 1,
                    detector_shape=detector_shape,
                    detector_link=detector_link,
                    status=status,
                    start=first + timedelta(minutes=scan),
                    sample=sample,
                    chemical_formula=chemical_formula,
                    description=description,
                    temperature_k=temperature_k,
                    techniques=techniques if sub_scan == 1 else (),
                    energy_kev=energy_kev,
                    current_ma=current_ma,
                    beamline=beamline,
                    seed=seed,
                )
    return path


def _collection_and_dataset(dataset_file: Path) -> tuple[str, str]:
    collection = dataset_file.parent.parent.name
    folder = dataset_file.parent.name
    if not folder.startswith(f"{collection}_"):
        raise ValueError(f"{dataset_file} is not in a {{collection}}/{{collection}}_{{dataset}}/")
    return collection, folder[len(collection) + 1 :]


def _entry_sort_key(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return (1 << 62,)


def _write_links(master: Path, links: Iterable[tuple[str, Path, str]]) -> None:
    master.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(master, "w") as file:
        _attr(file, "NX_class", "NXroot")
        _attr(file, "creator", "Bliss")
        for name, target, entry in links:
            relative = os.path.relpath(os.path.abspath(target), os.path.abspath(master.parent))
            file[name] = h5py.ExternalLink(Path(relative).as_posix(), f"/{entry}")


def write_master_files(
    session_dir: Path | str, proposal: str, beamline: str, dataset_files: list[Path]
) -> list[Path]:
    """Write the proposal master and one master per collection, holding only external links."""
    session_dir = Path(session_dir)
    links: list[tuple[str, Path, str]] = []
    per_collection: dict[Path, list[tuple[str, Path, str]]] = {}
    for dataset_file in dataset_files:
        collection, dataset = _collection_and_dataset(Path(dataset_file))
        with h5py.File(dataset_file, "r") as file:
            entries = sorted(file, key=_entry_sort_key)
        master = Path(dataset_file).parent.parent / f"{proposal}_{collection}.h5"
        for entry in entries:
            link = (f"{collection}_{dataset}_{entry}", Path(dataset_file), entry)
            links.append(link)
            per_collection.setdefault(master, []).append(link)
    proposal_master = session_dir / f"{proposal}_{beamline}.h5"
    _write_links(proposal_master, links)
    for master, collection_links in per_collection.items():
        _write_links(master, collection_links)
    return [proposal_master, *per_collection]


def _name(names: Sequence[str], index: int, fallback: str) -> str:
    return names[index] if index < len(names) else f"{fallback}{index:02d}"


def _write_session(
    root: Path,
    proposal: str,
    beamline: str,
    day: date,
    collections: int,
    datasets: int,
    scans: int,
    seed: int,
    dataset_kwargs: Mapping[str, Any],
) -> list[Path]:
    session = day.strftime("%Y%m%d")
    files: list[Path] = []
    for c in range(collections):
        collection = _name(COLLECTIONS, c, "sample")
        for d in range(datasets):
            path = bliss_dataset_path(root, proposal, beamline, session, collection, f"{d + 1:04d}")
            start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=CEST)
            kwargs: dict[str, Any] = {
                "scans": scans,
                "sample": collection,
                "techniques": BEAMLINE_TECHNIQUES.get(beamline, ()),
                "beamline": beamline.upper(),
                "start": start + timedelta(minutes=(c * datasets + d) * (scans + 1)),
                "seed": (seed * 1000 + c) * 1000 + d,
                **dataset_kwargs,
            }
            files.append(write_bliss_dataset(path, **kwargs))
    write_master_files(root / proposal / beamline / session, proposal, beamline, files)
    return files


def write_bliss_tree(
    root: Path | str,
    *,
    proposals: int = 1,
    sessions: int = 1,
    collections: int = 2,
    datasets: int = 3,
    scans: int = 3,
    **dataset_kwargs: Any,
) -> list[Path]:
    """Write a tree of Bliss dataset files plus master files; return the dataset files."""
    written: list[Path] = []
    for p in range(proposals):
        proposal = _name(PROPOSALS, p, "hg10")
        beamline = str(dataset_kwargs.get("beamline", BEAMLINES[p % len(BEAMLINES)])).lower()
        for s in range(sessions):
            day = date(2025, 6, 1) + timedelta(days=7 * s + p)
            written += _write_session(
                Path(root), proposal, beamline, day, collections, datasets, scans,
                p * 1000 + s, dataset_kwargs,
            )  # fmt: skip
    return written


def write_icat_xml(
    path: Path | str,
    *,
    investigation: str,
    instrument: str,
    name: str,
    location: Path | str,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    sample: str | None = None,
    parameters: Mapping[str, str] | None = None,
    complete: bool = True,
) -> Path:
    """Write an ESRF `__icat__` dataset metadata XML file (values escaped by ElementTree)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element(
        "tns:dataset", {"xmlns:tns": ICAT_NAMESPACE, "complete": "true" if complete else "false"}
    )

    def add(parent: ET.Element, tag: str, text: str) -> None:
        ET.SubElement(parent, f"tns:{tag}").text = text

    add(root, "investigation", investigation)
    add(root, "instrument", instrument)
    add(root, "name", name)
    add(root, "location", str(location))
    if start is not None:
        add(root, "startDate", start if isinstance(start, str) else _iso(start))
    if end is not None:
        add(root, "endDate", end if isinstance(end, str) else _iso(end))
    if sample is not None:
        add(ET.SubElement(root, "tns:sample"), "name", sample)
    for key, value in (parameters or {}).items():
        parameter = ET.SubElement(root, "tns:parameter")
        add(parameter, "name", key)
        add(parameter, "value", value)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


# --------------------------------------------------------------------------- other facilities


def write_nxmx(
    path: Path | str, *, bytes_attrs: bool = True, images: int = 5, shape: tuple[int, int] = (8, 8)
) -> Path:
    """Write a DLS-style NXmx file whose detector data links to a `{stem}_data_000001.h5` file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def text(value: str) -> Any:
        return np.bytes_(value) if bytes_attrs else value

    data_file = path.with_name(f"{path.stem}_data_000001.h5")
    frames = (np.arange(images * shape[0] * shape[1]) % 4096).astype(np.uint16)
    with h5py.File(data_file, "w") as file:
        _value(file, "data", frames.reshape(images, *shape))
    with h5py.File(path, "w") as file:
        _attr(file, "default", text("entry"))
        entry = _group(file, "entry", text("NXentry"), default=text("data"))
        _value(entry, "definition", "NXmx")
        _value(entry, "start_time", "2024-03-05T11:22:33Z")
        _value(entry, "end_time", "2024-03-05T11:23:03Z")
        _value(entry, "title", text("thaumatin screening"))
        instrument = _group(entry, "instrument", text("NXinstrument"))
        _value(instrument, "name", "DIAMOND BEAMLINE I04")
        beam = _group(instrument, "beam", text("NXbeam"))
        _value(beam, "incident_wavelength", 0.9762, text("angstrom"))
        detector = _group(instrument, "detector", text("NXdetector"))
        detector["data"] = h5py.ExternalLink(data_file.name, "/data")
        _value(detector, "distance", 250.0, text("mm"))
        _value(detector, "description", "Eiger 4M")
        sample = _group(entry, "sample", text("NXsample"))
        _value(sample, "name", "thaumatin")
        data = _group(entry, "data", text("NXdata"), signal=text("data"))
        data["data"] = h5py.ExternalLink(data_file.name, "/data")
    return path


def write_nxtomo(path: Path | str, *, array_attrs: bool = True, projections: int = 10) -> Path:
    """Write an SLS-style NXtomo file, NX_class attributes optionally as 1-element arrays."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def nx(nx_class: str) -> Any:
        return np.array([nx_class.encode()]) if array_attrs else nx_class

    with h5py.File(path, "w") as file:
        entry = _group(file, "entry", nx("NXentry"))
        _value(entry, "definition", "NXtomo")
        _value(entry, "title", "tomo of a rock")
        _value(entry, "start_time", "2024-11-20T08:00:00+01:00")
        instrument = _group(entry, "instrument", nx("NXinstrument"))
        source = _group(instrument, "source", nx("NXsource"))
        _value(source, "name", "SLS")
        _value(source, "type", "Synchrotron X-ray Source")
        detector = _group(instrument, "detector", nx("NXdetector"))
        frames = (np.arange(projections * 64) % 4096).astype(np.uint16)
        _value(detector, "data", frames.reshape(projections, 8, 8))
        sample = _group(entry, "sample", nx("NXsample"))
        _value(sample, "name", "granite")
        _value(sample, "rotation_angle", np.linspace(0.0, 180.0, projections), "degree")
    return path


def write_nxsas(path: Path | str) -> Path:
    """Write a canSAS-style NXsas file with entry `/sasentry01` and no NXsample group."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        _attr(file, "default", "sasentry01")
        entry = _group(file, "sasentry01", "NXentry", canSAS_class="SASentry")
        _value(entry, "definition", "NXsas")
        _value(entry, "title", "BSA 2 mg/ml")
        _value(entry, "run", "1234")
        instrument = _group(entry, "instrument", "NXinstrument")
        source = _group(instrument, "source", "NXsource")
        _value(source, "name", "PETRA III")
        _value(source, "current", 100.0, "mA")
        mono = _group(instrument, "monochromator", "NXmonochromator")
        _value(mono, "wavelength", 0.124, "nm")
        detector = _group(instrument, "detector", "NXdetector")
        frame = np.arange(16 * 16, dtype=np.float32).reshape(16, 16)
        _value(detector, "data", frame)
        data = _group(entry, "sasdata01", "NXdata", signal="I")
        data["I"] = h5py.SoftLink("/sasentry01/instrument/detector/data")
    return path


# --------------------------------------------------------------------------- broken files


def write_truncated(path: Path | str) -> Path:
    """Write a valid Bliss dataset file, then cut it to half its size."""
    path = write_bliss_dataset(path)
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    return path


def _object_headers(file: h5py.File) -> list[tuple[str, int, int]]:
    """(name, address, header size) of every object below the root group."""
    headers: list[tuple[str, int, int]] = []

    def visit(name: str, obj: Any) -> None:
        info = h5py.h5o.get_info(obj.id)
        headers.append((name, int(info.addr), int(info.hdr.space.total)))

    file.visititems(visit)
    return headers


def _entries_unreadable(path: Path) -> bool:
    with h5py.File(path, "r") as file:
        try:
            for name in file:
                file[name].visit(lambda _: None)
        except (KeyError, OSError, RuntimeError, ValueError):
            return True
    return False


def write_corrupt(path: Path | str) -> Path:
    """Write a Bliss dataset file with 0xFF over its entries' object headers; it still opens.

    With the default (earliest) file format, HDF5 hands out metadata in 2 KiB blocks interleaved
    with raw data and reuses freed space, so object headers are not in creation order and a
    fixed byte range may miss them. The run therefore goes from the lowest to the highest byte of
    the entries' own headers, as HDF5 reports them. The superblock, the root group's header and
    its B-tree and heap come before it, so the file opens; the root's symbol table node (written
    when the first entry is linked) usually falls inside, so listing the root fails as well.
    """
    path = write_bliss_dataset(path)
    with h5py.File(path, "r") as file:
        entries = set(file)
        headers = [header for header in _object_headers(file) if header[0] in entries]
    first = min(address for _, address, _ in headers)
    last = max(address + size for _, address, size in headers)
    with path.open("r+b") as file:
        file.seek(first)
        file.write(b"\xff" * (last - first))
    if not _entries_unreadable(path):  # pragma: no cover - a different HDF5 file layout
        raise RuntimeError(f"overwriting bytes {first}..{last} of {path} left it readable")
    return path


def write_empty(path: Path | str) -> Path:
    """Write a file of 0 bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_not_hdf5(path: Path | str) -> Path:
    """Write a text file (usually named .h5)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("This is not an HDF5 file, only text with an .h5 name.\n", encoding="utf-8")
    return path


USER_BLOCK_TEXT = b"Bliss user block: written by tests/nexus_files.py\n"


def write_with_user_block(path: Path | str) -> Path:
    """Write a valid Bliss dataset file with a 512-byte user block that starts with text."""
    path = write_bliss_dataset(path, userblock_size=512)
    with path.open("r+b") as file:
        file.write(USER_BLOCK_TEXT)
    return path


def _remove_detector_files(path: Path, scans: int) -> None:
    for scan in range(1, scans + 1):
        detector_file = detector_file_path(path, scan)
        detector_file.unlink()
        if not any(detector_file.parent.iterdir()):
            detector_file.parent.rmdir()


def write_dangling_external_link(path: Path | str, *, scans: int = 1) -> Path:
    """Write a Bliss dataset file whose 2D detector is an external link to a missing file."""
    path = write_bliss_dataset(path, scans=scans, detector_2d=True, detector_link="external")
    _remove_detector_files(path, scans)
    return path


def write_missing_vds_source(path: Path | str, *, scans: int = 1) -> Path:
    """Write a Bliss dataset file with a VDS detector, then delete the VDS source files."""
    path = write_bliss_dataset(path, scans=scans, detector_2d=True)
    _remove_detector_files(path, scans)
    return path


NON_UTF8_TITLE = b"scan \xff\xfe lyso"
NON_UTF8_SAMPLE = b"lyso\xe9zyme \xc3\x28"


def write_non_utf8(path: Path | str) -> Path:
    """Write a Bliss dataset whose titles and sample names are invalid-UTF-8 fixed-length bytes."""
    path = write_bliss_dataset(path, sample=NON_UTF8_SAMPLE)
    with h5py.File(path, "r+") as file:
        for entry in file.values():
            del entry["title"]
            _value(entry, "title", np.bytes_(NON_UTF8_TITLE))
    return path


def write_nan_values(path: Path | str) -> Path:
    """Write a Bliss dataset whose ring current is NaN and monochromator energy is +inf."""
    return write_bliss_dataset(path, current_ma=float("nan"), energy_kev=float("inf"))


def write_many_entries(
    path: Path | str, entries: int = 10_000, start: str | datetime = "2025-06-01T10:00:00+02:00"
) -> Path:
    """Write a file with many small `N.1` entries (title, start/end time, writer status only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    first = _as_datetime(start)
    with h5py.File(path, "w") as file:
        _write_root_attrs(file, path, first, "1.1")
        for scan in range(1, entries + 1):
            entry = _group(file, f"{scan}.1", "NXentry")
            begin = first + timedelta(seconds=scan)
            _write_entry_header(entry, "ct 0.1", begin, begin + timedelta(seconds=0.1), "SUCCEEDED")
    return path
