"""Walking data trees: dataset folders with their files' sizes and times, without opening one.

A dataset folder (ESRF layout) is one unit with every file below it; a NeXus file outside
the layout is a unit of its own; master files are skipped (they only link to datasets). The
`__icat__` metadata files are matched to their folders by the location they name. Imports
nothing of the project but the layout.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ingest.icat_files import IcatFileError, read_icat_file
from ingest.layout import (
    ICAT_FOLDER,
    DatasetFolder,
    dataset_folder,
    is_hdf5_name,
    is_master_file,
)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file as `stat` sees it."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class FolderScan:
    """One unit to ingest: a dataset folder (or a lone NeXus file) and its files."""

    path: str
    folder: DatasetFolder | None
    #: The NeXus file that describes the dataset, if there is one.
    main_file: str | None
    files: tuple[FileEntry, ...]
    icat_file: str | None
    fingerprint: str

    @property
    def newest_mtime_ns(self) -> int:
        """When the folder last changed (its newest file)."""
        return max((f.mtime_ns for f in self.files), default=0)


@dataclass(slots=True)
class ScanResult:
    """What a walk found: the units to ingest, and what it passed over."""

    folders: list[FolderScan] = field(default_factory=list)
    masters: int = 0
    #: Paths that could not be listed or metadata files that could not be read, and why.
    problems: list[tuple[str, str]] = field(default_factory=list)


def scan_paths(roots: Sequence[str]) -> ScanResult:
    """Every dataset folder and lone NeXus file at or below the given paths."""
    result = ScanResult()
    icat: dict[str, str] = {}
    seen: set[str] = set()
    for root in roots:
        path = os.path.abspath(root)
        if os.path.isfile(path):
            _scan_file(path, result, seen)
        elif os.path.isdir(path):
            _walk(path, result, icat, seen)
        else:
            result.problems.append((path, "no such file or directory"))
    _attach_icat(result, icat, seen)
    # The walk is depth first from the end of each listing: give the units in path order.
    result.folders.sort(key=lambda scan: scan.path)
    return result


def _enclosing_folder(path: str) -> tuple[str, DatasetFolder] | None:
    """The dataset folder a path is, or lies in (a detector file in `scan0001/` belongs to its
    dataset, not to a unit of its own)."""
    pure = PurePosixPath(path)
    for candidate in (pure, *pure.parents):
        found = dataset_folder(str(candidate))
        if found is not None:
            return str(candidate), found
    return None


def _scan_file(path: str, result: ScanResult, seen: set[str]) -> None:
    enclosing = _enclosing_folder(os.path.dirname(path))
    if enclosing is not None:
        _add_folder(enclosing[0], enclosing[1], result, seen, None)
    elif is_master_file(path):
        result.masters += 1
    elif is_hdf5_name(path):
        _add_lone_file(path, result, seen)


def _walk(top: str, result: ScanResult, icat: dict[str, str], seen: set[str]) -> None:
    enclosing = _enclosing_folder(top)
    if enclosing is not None:
        _add_folder(enclosing[0], enclosing[1], result, seen, None)
        return
    if os.path.basename(top) == ICAT_FOLDER:
        _read_icat_folder(top, result, icat)
        return
    stack = [top]
    while stack:
        for entry in _listing(stack.pop(), result):
            if entry.is_dir(follow_symlinks=False):
                if entry.name == ICAT_FOLDER:
                    _read_icat_folder(entry.path, result, icat)
                    continue
                found = dataset_folder(entry.path)
                if found is not None:
                    _add_folder(entry.path, found, result, seen, None)
                else:
                    stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False) and is_hdf5_name(entry.name):
                if is_master_file(entry.path):
                    result.masters += 1
                else:
                    _add_lone_file(entry.path, result, seen)


def _read_icat_folder(path: str, result: ScanResult, icat: dict[str, str]) -> None:
    try:
        names = sorted(e.name for e in os.scandir(path) if e.name.endswith(".xml"))
    except OSError as error:
        result.problems.append((path, error.strerror or str(error)))
        return
    for name in names:
        file = os.path.join(path, name)
        try:
            metadata = read_icat_file(file)
        except IcatFileError as error:
            result.problems.append((file, error.reason))
            continue
        assert metadata.location is not None
        icat[str(PurePosixPath(metadata.location))] = file


def _attach_icat(result: ScanResult, icat: dict[str, str], seen: set[str]) -> None:
    """Metadata files join their folder's unit; one whose folder was not walked makes it."""
    if not icat:
        return
    by_path = {scan.path: index for index, scan in enumerate(result.folders)}
    for location, file in icat.items():
        index = by_path.get(location)
        if index is not None:
            scan = result.folders[index]
            result.folders[index] = _unit(scan.path, scan.folder, scan.files, file)
            continue
        folder = dataset_folder(location)
        if folder is None:
            result.problems.append((file, f"its location {location!r} is not a dataset folder"))
        elif location not in seen:
            _add_folder(location, folder, result, seen, file)


def _add_folder(
    path: str,
    folder: DatasetFolder,
    result: ScanResult,
    seen: set[str],
    icat_file: str | None,
) -> None:
    if path in seen:
        return
    seen.add(path)
    files = _files_below(path, result)
    result.folders.append(_unit(path, folder, files, icat_file))


def _add_lone_file(path: str, result: ScanResult, seen: set[str]) -> None:
    if path in seen:
        return
    seen.add(path)
    try:
        stat = os.stat(path)
    except OSError as error:
        result.problems.append((path, error.strerror or str(error)))
        return
    files = (FileEntry(path, stat.st_size, stat.st_mtime_ns),)
    result.folders.append(_unit(path, None, files, None))


def _listing(directory: str, result: ScanResult) -> list[os.DirEntry[str]]:
    """A folder's visible entries by name; one that cannot be listed is a problem, not a
    stop (the rest of the tree is still walked)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as error:
        result.problems.append((directory, error.strerror or str(error)))
        return []
    return [entry for entry in entries if not entry.name.startswith(".")]


def _files_below(top: str, result: ScanResult) -> tuple[FileEntry, ...]:
    files: list[FileEntry] = []
    stack = [top]
    while stack:
        for entry in _listing(stack.pop(), result):
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                try:
                    stat = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # deleted while we looked: the next pass sees the folder as it is
                files.append(FileEntry(entry.path, stat.st_size, stat.st_mtime_ns))
    files.sort(key=lambda f: f.path)
    return tuple(files)


def _unit(
    path: str, folder: DatasetFolder | None, files: tuple[FileEntry, ...], icat_file: str | None
) -> FolderScan:
    main = None
    if folder is None:
        main = path
    else:
        expected = folder.main_file
        tops = [f.path for f in files if os.path.dirname(f.path) == path and is_hdf5_name(f.path)]
        main = expected if expected in tops else (tops[0] if len(tops) == 1 else None)
    return FolderScan(path, folder, main, files, icat_file, fingerprint(files, icat_file))


def fingerprint(files: Iterable[FileEntry], icat_file: str | None) -> str:
    """A digest of the files' names, sizes and times (and the metadata file's): it changes
    when anything in the folder does."""
    digest = hashlib.blake2b(digest_size=16)
    for file in files:
        digest.update(f"{file.path}\0{file.size}\0{file.mtime_ns}\n".encode("utf-8", "replace"))
    if icat_file is not None:
        try:
            stat = os.stat(icat_file)
            digest.update(f"icat\0{icat_file}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        except OSError:
            digest.update(b"icat-missing")
    return digest.hexdigest()
