"""Walking data trees (ingest.scanner): dataset folders, lone files, master files, `__icat__`
metadata files and the fingerprints that tell a changed folder from an unchanged one."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.scanner import FileEntry, fingerprint, scan_paths
from tests import nexus_files as nx

SESSION = Path("hg123") / "id23-1" / "20250601"


def stat_entry(path: Path) -> FileEntry:
    stat = path.stat()
    return FileEntry(str(path), stat.st_size, stat.st_mtime_ns)


def by_path(result) -> dict[str, object]:
    return {scan.path: scan for scan in result.folders}


def icat_xml(path: Path, location: Path | str, name: str = "0001") -> Path:
    return nx.write_icat_xml(
        path, investigation="hg123", instrument="id23-1", name=name, location=location
    )


def test_a_tree_gives_its_dataset_folders_with_their_files(tmp_path):
    files = nx.write_bliss_tree(tmp_path, collections=2, datasets=2, scans=1, detector_2d=True)
    (files[0].parent / ".lock").write_text("hidden")
    (files[0].parent / "notes.txt").write_text("a note")
    result = scan_paths([str(tmp_path)])

    assert result.problems == []
    assert result.masters == 3  # the proposal's and one per collection
    assert [scan.path for scan in result.folders] == sorted(str(f.parent) for f in files)
    for file in files:
        scan = by_path(result)[str(file.parent)]
        assert scan.folder is not None
        assert scan.folder.dataset == file.parent.name.rsplit("_", 1)[1]
        assert scan.folder.collection == file.parent.parent.name
        assert scan.main_file == str(file)
        assert scan.icat_file is None
        expected = [file, nx.detector_file_path(file, 1)]
        if file == files[0]:
            expected.append(file.parent / "notes.txt")  # hidden files are not listed
        assert scan.files == tuple(sorted((stat_entry(p) for p in expected), key=lambda f: f.path))
        assert all(f.size > 0 for f in scan.files)
        assert scan.fingerprint == fingerprint(scan.files, None)
        assert scan.newest_mtime_ns == max(f.mtime_ns for f in scan.files)
    assert len({scan.fingerprint for scan in result.folders}) == len(files)


def test_fingerprints_change_when_any_file_does(tmp_path):
    files = nx.write_bliss_tree(tmp_path, collections=1, datasets=2, scans=1, detector_2d=True)
    changed, unchanged = str(files[0].parent), str(files[1].parent)

    def fingerprints() -> dict[str, str]:
        return {scan.path: scan.fingerprint for scan in scan_paths([str(tmp_path)]).folders}

    before = fingerprints()
    assert fingerprints() == before  # nothing changed, nothing differs
    detector = nx.detector_file_path(files[0], 1)

    def touch(path: Path) -> None:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))

    def grow(path: Path) -> None:
        stat = path.stat()
        with path.open("ab") as stream:
            stream.write(b"\0")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same time, a new size

    def add(_: Path) -> None:
        (files[0].parent / "scan0002").mkdir()
        (files[0].parent / "scan0002" / "frames.h5").write_bytes(b"")

    def remove(_: Path) -> None:
        (files[0].parent / "scan0002" / "frames.h5").unlink()

    for change in (touch, grow, add, remove):
        change(detector)
        after = fingerprints()
        assert after[changed] != before[changed], change.__name__
        assert after[unchanged] == before[unchanged], change.__name__
        before = after


def test_icat_metadata_files_join_their_folders_by_location(tmp_path):
    files = nx.write_bliss_tree(tmp_path, collections=1, datasets=2, scans=1)
    raw = tmp_path / SESSION / "RAW_DATA"
    plain = {s.path: s.fingerprint for s in scan_paths([str(tmp_path)]).folders}
    attached = icat_xml(raw / "__icat__" / "a.xml", files[1].parent)
    elsewhere = tmp_path / "other" / SESSION / "RAW_DATA" / "bsa" / "bsa_0003"
    orphan = icat_xml(raw / "__icat__" / "b.xml", elsewhere, "0003")
    nowhere = icat_xml(raw / "__icat__" / "c.xml", "/not/a/dataset")
    broken = raw / "__icat__" / "d.xml"
    broken.write_text("<dataset>")
    (raw / "__icat__" / "e.txt").write_text("not xml: not read")

    result = scan_paths([str(tmp_path / "hg123")])
    scans = by_path(result)
    first, second = scans[str(files[0].parent)], scans[str(files[1].parent)]
    assert first.icat_file is None
    assert first.fingerprint == plain[first.path]
    assert second.icat_file == str(attached)
    assert second.main_file == str(files[1])
    assert second.fingerprint != plain[second.path]  # the metadata file is part of it
    assert second.fingerprint == fingerprint(second.files, str(attached))
    # A metadata file whose folder was not walked makes a unit of its own.
    metadata_only = scans[str(elsewhere)]
    assert (metadata_only.icat_file, metadata_only.files, metadata_only.main_file) == (
        str(orphan),
        (),
        None,
    )
    assert metadata_only.folder is not None
    assert metadata_only.folder.collection == "bsa"
    assert len(result.folders) == 3
    problems = dict(result.problems)
    assert len(problems) == 3
    assert "not well-formed XML" in problems[str(broken)]
    assert problems[str(elsewhere)] == "No such file or directory"  # its folder is not there
    assert "'/not/a/dataset' is not a dataset folder" in problems[str(nowhere)]

    touched = attached.stat()
    os.utime(attached, ns=(touched.st_atime_ns, touched.st_mtime_ns + 1))
    again = by_path(scan_paths([str(tmp_path / "hg123")]))
    assert again[second.path].fingerprint != second.fingerprint
    assert again[first.path].fingerprint == first.fingerprint

    # The metadata folder given alone finds its datasets' folders.
    only_icat = scan_paths([str(raw / "__icat__")])
    assert {s.path: s.icat_file for s in only_icat.folders} == {
        str(files[1].parent): str(attached),
        str(elsewhere): str(orphan),
    }
    assert by_path(only_icat)[str(files[1].parent)].files == second.files


def test_lone_nexus_files_outside_the_layout_are_units_of_their_own(tmp_path):
    sas = nx.write_nxsas(tmp_path / "petra" / "run1234" / "sas.h5")
    mx = nx.write_nxmx(tmp_path / "petra" / "mx.nxs")
    (tmp_path / "petra" / "readme.txt").write_text("not a NeXus file")
    result = scan_paths([str(tmp_path / "petra")])
    assert result.problems == []
    assert result.masters == 0
    lone = [sas, mx, mx.with_name("mx_data_000001.h5")]
    assert [scan.path for scan in result.folders] == sorted(str(p) for p in lone)
    for path in lone:
        scan = by_path(result)[str(path)]
        assert scan.folder is None
        assert scan.main_file == str(path)
        assert scan.files == (stat_entry(path),)
        assert scan.icat_file is None
        assert scan.fingerprint == fingerprint(scan.files, None)


def test_roots_that_are_files_folders_inside_datasets_or_missing(tmp_path):
    files = nx.write_bliss_tree(tmp_path, collections=1, datasets=2, scans=1, detector_2d=True)
    session = tmp_path / SESSION
    detector = nx.detector_file_path(files[0], 1)
    lone = nx.write_nxsas(tmp_path / "elsewhere" / "sas.h5")
    roots = [
        files[0],  # a dataset file: its folder
        detector,  # a detector file below a dataset folder: that folder again
        detector.parent,  # a folder below a dataset folder: the same
        session / "hg123_id23-1.h5",  # a master file: counted
        session / "RAW_DATA" / "lysozyme" / "hg123_lysozyme.h5",
        files[1].parent,  # a dataset folder
        lone,
        tmp_path / "missing",
    ]
    result = scan_paths([str(root) for root in roots])
    assert [scan.path for scan in result.folders] == sorted(
        [str(files[0].parent), str(files[1].parent), str(lone)]
    )
    first = by_path(result)[str(files[0].parent)]
    assert first.main_file == str(files[0])
    assert first.files == tuple(stat_entry(p) for p in sorted([files[0], detector]))
    assert result.masters == 2
    assert result.problems == [(str(tmp_path / "missing"), "no such file or directory")]


def test_the_main_file_of_a_folder_not_named_by_the_convention(tmp_path):
    collection = tmp_path / SESSION / "RAW_DATA" / "bsa"
    single = collection / "bsa_0001"
    nx.write_nxsas(single / "whatever.h5")
    (single / "sub").mkdir()
    nx.write_nxsas(single / "sub" / "deeper.h5")
    several = collection / "bsa_0002"
    nx.write_nxsas(several / "a.h5")
    nx.write_nxsas(several / "b.h5")
    conventional = collection / "bsa_0003"
    nx.write_nxsas(conventional / "a.h5")
    nx.write_nxsas(conventional / "bsa_0003.h5")
    empty = collection / "bsa_0004"
    empty.mkdir()
    scans = by_path(scan_paths([str(tmp_path)]))
    assert scans[str(single)].main_file == str(single / "whatever.h5")
    assert len(scans[str(single)].files) == 2
    assert scans[str(several)].main_file is None
    assert scans[str(conventional)].main_file == str(conventional / "bsa_0003.h5")
    assert (scans[str(empty)].main_file, scans[str(empty)].files) == (None, ())
