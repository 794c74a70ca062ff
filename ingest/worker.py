"""Reading one dataset folder: its NeXus and metadata files, its files' checksums, mapped to
what the catalogue records. Runs in worker processes (h5py serialises threads), so its
inputs and results are plain picklable values and it touches no database.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from catalogue.domain import datasets as ds
from catalogue.domain import ingests as ing
from ingest.icat_files import IcatFileError, IcatMetadata, read_icat_file
from ingest.layout import is_hdf5_name
from ingest.mapping import map_dataset, parameters_of
from ingest.nexus import NexusError, NexusFile, read_nexus
from ingest.scanner import FileEntry, FolderScan

#: Checksum algorithms a deployment may choose (the catalogue's `algorithm:hex` names).
CHECKSUMS = ("md5", "sha1", "sha256", "sha512", "adler32", "crc32")
_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How folders are read."""

    #: None: no checksums (the fastest first pass).
    checksum: str | None = "sha256"
    follow_links: bool = False
    #: A dataset whose scans never finish (the writer crashed) is ingested as it is once its
    #: files have not changed for this long.
    stale_after_s: float = 24 * 3600.0
    #: A file that never says when its scans end (no `end_time`, no writer status: other
    #: facilities' writers) is taken as finished once its files have not changed for this long.
    settle_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Running:
    """A dataset still being written: it is looked at again on the next pass."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that is no dataset: a master file, or an HDF5 file without NeXus entries (the
    detector data a NeXus file links to)."""

    path: str
    reason: str


Result = ing.FolderReading | ing.FolderFailure | Running | Skipped


def read_folders(
    work: Sequence[tuple[FolderScan, Mapping[str, ing.FileStamp]]], options: ReadOptions
) -> list[Result]:
    """Read several folders (one task of a worker process)."""
    return [read_folder(scan, known, options) for scan, known in work]


def read_folder(
    scan: FolderScan, known: Mapping[str, ing.FileStamp], options: ReadOptions
) -> Result:
    """What one folder says, or why it cannot be read; never raises for bad files."""
    beamline = scan.folder.beamline.upper() if scan.folder is not None else None
    try:
        return _read(scan, known, options)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        # h5py and the file system can fail in ways no check foresees: the folder fails,
        # the worker carries on.
        reason = f"unexpected {type(error).__name__}: {' '.join(str(error).split())[:300]}"
        return ing.FolderFailure(scan.path, scan.fingerprint, reason, beamline)


def _read(scan: FolderScan, known: Mapping[str, ing.FileStamp], options: ReadOptions) -> Result:
    folder = scan.folder
    beamline = folder.beamline.upper() if folder is not None else None
    age_s = (time.time_ns() - scan.newest_mtime_ns) / 1e9
    stale = age_s > options.stale_after_s
    warnings: list[str] = []
    nexus: NexusFile | None = None
    if scan.main_file is not None:
        try:
            nexus = read_nexus(scan.main_file, follow_links=options.follow_links)
        except NexusError as error:
            if "truncated" in error.reason and not stale:
                return Running(scan.path, f"{error.reason}")
            return ing.FolderFailure(scan.path, scan.fingerprint, error.reason, beamline)
        if nexus.is_master:
            return Skipped(scan.path, "a master file (external links only)")
        if folder is None and not nexus.entries and not nexus.warnings:
            return Skipped(scan.path, "an HDF5 file without NeXus entries (detector data?)")
        if not nexus.entries and scan.icat_file is None:
            reason = "no NeXus entry could be read" + (
                f" ({nexus.warnings[0]})" if nexus.warnings else ""
            )
            return ing.FolderFailure(scan.path, scan.fingerprint, reason, beamline)
    icat: IcatMetadata | None = None
    if scan.icat_file is not None:
        try:
            icat = read_icat_file(scan.icat_file)
        except IcatFileError as error:
            if nexus is None:
                return ing.FolderFailure(scan.path, scan.fingerprint, error.reason, beamline)
            warnings.append(f"metadata file {scan.icat_file}: {error.reason}; not used")
    if nexus is None and icat is None:
        if not stale:
            return Running(scan.path, "no NeXus file yet, and the files are still changing")
        warnings.append("no NeXus file: times are the files' modification times")
    mapped = map_dataset(folder, nexus, icat)
    warnings = mapped.warnings + warnings
    finished = mapped.finished or (nexus is None and icat is None)
    if not finished and not mapped.marked and nexus is not None and age_s > options.settle_s:
        finished = True
        warnings.append(
            f"the file says no end_time: taken as finished after {options.settle_s:g} s "
            "without change"
        )
    if not finished:
        if not stale:
            return Running(scan.path, mapped.running or "still being written")
        warnings.append(
            f"{mapped.running or 'unfinished'}; its files have not changed for "
            f"{options.stale_after_s / 3600:g} h, so it is ingested as it is"
        )
    oldest = min((f.mtime_ns for f in scan.files), default=time.time_ns())
    start = mapped.start or _from_ns(oldest)
    end = mapped.end or _from_ns(scan.newest_mtime_ns)
    if end < start:
        warnings.append(f"end {end.isoformat()} is before start {start.isoformat()}; ignored")
        end = start
    entries = scan.files if folder is not None or nexus is None else _with_linked(scan, nexus)
    files, stamps = _datafiles(entries, known, options, warnings)
    proposal = (icat.investigation if icat else None) or (folder.proposal if folder else None)
    if icat is not None and icat.instrument:
        beamline = icat.instrument.upper()
    return ing.FolderReading(
        path=scan.path,
        fingerprint=scan.fingerprint,
        stamps=stamps,
        files=files,
        proposal=proposal,
        beamline=beamline,
        session=folder.session if folder else None,
        name=_dataset_name(scan),
        collection=folder.collection if folder else None,
        kind=ds.DatasetKind.PROCESSED if folder and folder.processed else ds.DatasetKind.RAW,
        start=start,
        end=end,
        sample=mapped.sample,
        techniques=mapped.techniques,
        scan_type=mapped.scan_type,
        parameters=parameters_of(mapped),
        inputs=mapped.inputs,
        raw_name=folder.name if folder and folder.processed else None,
        warnings=tuple(warnings),
    )


#: Processed data sits in a folder named like its raw dataset's: the name tells them apart.
PROCESSED_SUFFIX = " (processed)"


def _dataset_name(scan: FolderScan) -> str:
    """The folder's name (`{collection}_{dataset}`), unique in its session; a lone file's
    name without its suffix."""
    if scan.folder is None:
        return os.path.splitext(os.path.basename(scan.path))[0]
    return scan.folder.name + (PROCESSED_SUFFIX if scan.folder.processed else "")


def _with_linked(scan: FolderScan, nexus: NexusFile) -> tuple[FileEntry, ...]:
    """A lone NeXus file with the files its detectors link to (its data files)."""
    folder = os.path.dirname(scan.path)
    linked: list[FileEntry] = []
    names = {s for e in nexus.entries for d in e.detectors for s in d.sources if s != "."}
    for name in sorted(names):
        path = os.path.normpath(os.path.join(folder, name))
        try:
            stat = os.stat(path)
        except OSError:
            continue  # the reader warned about it
        linked.append(FileEntry(path, stat.st_size, stat.st_mtime_ns))
    return tuple(dict.fromkeys((*scan.files, *linked)))


def _from_ns(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC)


def _datafiles(
    entries: tuple[FileEntry, ...],
    known: Mapping[str, ing.FileStamp],
    options: ReadOptions,
    warnings: list[str],
) -> tuple[tuple[ds.Datafile, ...], tuple[ing.FileStamp, ...]]:
    """Each file with its checksum; files unchanged since the last ingest are not read again."""
    files: list[ds.Datafile] = []
    stamps: list[ing.FileStamp] = []
    for entry in entries:
        try:
            entry.path.encode("utf-8")
        except UnicodeEncodeError:
            warnings.append(f"file name {entry.path!r} is not UTF-8; not registered")
            continue
        stamp = ing.FileStamp(path=entry.path, size=entry.size, mtime_ns=entry.mtime_ns)
        checksum = None
        if options.checksum is not None and known.get(entry.path) != stamp:
            try:
                checksum = file_checksum(entry.path, options.checksum)
            except OSError as error:
                warnings.append(f"{entry.path}: no checksum ({error.strerror or error})")
        stamps.append(stamp)
        files.append(
            ds.Datafile(
                path=entry.path,
                size=entry.size,
                checksum=checksum,
                format="hdf5" if is_hdf5_name(entry.path) else None,
                modified_at=_from_ns(entry.mtime_ns),
            )
        )
    return tuple(files), tuple(stamps)


def file_checksum(path: str, algorithm: str) -> str:
    """`algorithm:hex` of a file's bytes, read in 1 MiB blocks."""
    if algorithm in ("adler32", "crc32"):
        update = zlib.adler32 if algorithm == "adler32" else zlib.crc32
        value = 1 if algorithm == "adler32" else 0
        with open(path, "rb") as stream:
            while block := stream.read(_BLOCK):
                value = update(block, value)
        return f"{algorithm}:{value & 0xFFFFFFFF:08x}"
    if algorithm not in CHECKSUMS:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}")
    with open(path, "rb") as stream:
        digest = hashlib.file_digest(stream, algorithm)
    return f"{algorithm}:{digest.hexdigest()}"
