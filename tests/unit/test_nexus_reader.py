"""The NeXus reader (ingest.nexus) on small files: Bliss/ESRF datasets, master files, other
facilities' styles, and files that are broken in the ways real ones are."""

from __future__ import annotations

from datetime import datetime, timedelta

import h5py
import numpy as np
import pytest

from ingest.nexus import SMALL, Detector, ExternalEntry, Field, NexusError, read_nexus
from tests import nexus_files as nx

START = datetime.fromisoformat("2025-06-01T10:00:00+02:00")


def channels(entry) -> dict[str, int | None]:
    return {channel.name: channel.points for channel in entry.channels}


def by_name(nexus) -> dict[str, object]:
    return {entry.name: entry for entry in nexus.entries}


# --------------------------------------------------------------------------- Bliss datasets


def test_bliss_scans_give_titles_iso_times_and_writer_status_in_scan_order(tmp_path):
    path = nx.write_bliss_dataset(
        tmp_path / "d.h5", scans=11, points=5, sub_scans=True, running_scan=3, failed_scan=2
    )
    nexus = read_nexus(path)

    assert nexus.path == str(path)
    assert nexus.creator == "Bliss"
    assert nexus.default == "1.1"
    assert nexus.links == []
    assert not nexus.is_master
    assert nexus.warnings == []
    # By number, not by name: 2.1 comes before 10.1.
    assert [e.name for e in nexus.entries] == [
        f"{scan}.{sub}" for scan in range(1, 12) for sub in (1, 2)
    ]
    titles = {
        1: "ascan samy 0 1 4 0.1",
        2: "dscan samz -0.5 0.5 4 0.1",
        3: "a2scan samx 0 1 samy 0 2 4 0.1",
        4: "amesh samx 0 1 4 samy 0 2 0 0.1",
        5: "timescan 0.1",
        6: "loopscan 5 0.1",
        7: "ct 0.1",
        8: "ascan samy 0 1 4 0.1",
        11: "amesh samx 0 1 4 samy 0 2 0 0.1",
    }
    entries = by_name(nexus)
    for scan, title in titles.items():
        for sub in (1, 2):
            entry = entries[f"{scan}.{sub}"]
            assert entry.title == title, entry.name
            start = datetime.fromisoformat(entry.start_time)
            assert start == START + timedelta(minutes=scan), entry.name
            assert start.utcoffset() == timedelta(hours=2)
            if scan == 3:
                assert entry.writer_status == "RUNNING"
                assert entry.end_time is None
            else:
                assert entry.writer_status == ("FAILED" if scan == 2 else "SUCCEEDED")
                end = datetime.fromisoformat(entry.end_time)
                assert end - start == timedelta(seconds=30), entry.name
            assert entry.definition is None
            assert entry.program_name is None
    # The first entry is read in full, the others give only their scan summary.
    assert entries["1.1"].default == "plotselect"
    assert entries["1.1"].subentries == ["MX"]
    assert entries["1.1"].fields
    for name in ("1.2", "2.1", "10.1"):
        assert entries[name].fields == {}
        assert entries[name].positioners == {}
        assert entries[name].subentries == []
        assert entries[name].default is None


def test_bliss_channels_and_points_per_scan_kind(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "d.h5", scans=7, points=6, counters=3, sub_scans=True)
    entries = by_name(read_nexus(path))
    counters = {"diode": 6, "mon": 6, "iodet": 6}
    expected = {
        "1.1": {**counters, "samy": 6},
        "1.2": {"diode": 6, "samy": 6},  # a sub-scan has fewer counters
        "2.1": {**counters, "samz": 6},
        "3.1": {**counters, "samx": 6, "samy": 6},
        "4.1": {**counters, "samx": 6, "samy": 6},
        "5.1": {**counters, "elapsed_time": 6},
        "6.1": {**counters, "elapsed_time": 6},
        "7.1": {"diode": 1, "mon": 1, "iodet": 1, "elapsed_time": 1},  # ct: a single point
        "7.2": {"diode": 1, "elapsed_time": 1},
    }
    for name, points in expected.items():
        assert channels(entries[name]) == points, name
        names = [channel.name for channel in entries[name].channels]
        assert names == sorted(names), name


def test_bliss_first_entry_fields_with_units(tmp_path):
    path = nx.write_bliss_dataset(
        tmp_path / "d.h5",
        sample="thaumatin",
        chemical_formula="C1H2O3",
        description="small crystals",
        temperature_k=80.5,
        current_ma=187.25,
        energy_kev=15.0,
        beamline="ID23-1",
        techniques=("MX", "SAXS", "TOMO"),
        points=7,
    )
    entry = read_nexus(path).entries[0]
    wavelength = nx.HC_KEV_ANGSTROM / 15.0
    assert entry.fields == {
        "instrument/name": Field("ID23-1"),
        "instrument/source/name": Field("ESRF"),
        "instrument/source/type": Field("Synchrotron X-ray Source"),
        "instrument/source/mode": Field("7/8+1"),
        "instrument/source/current": Field(187.25, "mA"),
        "instrument/monochromator/energy": Field(15.0, "keV"),
        "instrument/monochromator/wavelength": Field(wavelength, "Å"),
        "sample/name": Field("thaumatin"),
        "sample/chemical_formula": Field("C1H2O3"),
        "sample/description": Field("small crystals"),
        "sample/temperature": Field(80.5, "K"),
        "MX/resolution": Field(1.8, "Å"),
        "MX/exposureTime": Field(0.1, "s"),
        "MX/numberOfImages": Field(7),
        "SAXS/concentration": Field(2.5, "mg/ml"),
        "SAXS/exposureTime": Field(1.0, "s"),
        "TOMO/pixelSize": Field(6.5, "um"),
        "TOMO/projN": Field(7),
    }
    assert type(entry.fields["MX/numberOfImages"].value) is int
    assert type(entry.fields["instrument/source/current"].value) is float
    assert entry.subentries == ["MX", "SAXS", "TOMO"]
    assert entry.classes == {
        "": "NXentry",
        "instrument": "NXinstrument",
        "instrument/positioners_start": "NXcollection",
        "instrument/positioners": "NXcollection",
        "instrument/source": "NXsource",
        "instrument/monochromator": "NXmonochromator",
        "sample": "NXsample",
        "MX": "NXsubentry",
        "SAXS": "NXsubentry",
        "TOMO": "NXsubentry",
    }
    # Counters are channels, not detectors; the moving motors are not metadata.
    assert entry.detectors == []


def test_bliss_positioners_start_with_units_match_the_file(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "d.h5", positioners=14, scans=2)
    nexus = read_nexus(path)
    positioners = nexus.entries[0].positioners
    names = [*nx.POSITIONER_NAMES, "pos12", "pos13"]
    assert sorted(positioners) == sorted(names)
    with h5py.File(path, "r") as file:
        stored = file["1.1/instrument/positioners_start"]
        for name in names:
            unit = "deg" if name in nx.ANGULAR_POSITIONERS else "mm"
            assert positioners[name] == Field(float(stored[name][()]), unit), name
    assert len({field.value for field in positioners.values()}) == len(names)
    # Positioners are their own list, not fields.
    assert not any(key.startswith("instrument/positioners") for key in nexus.entries[0].fields)


def test_bliss_2d_detector_as_a_virtual_dataset(tmp_path, monkeypatch):
    path = nx.write_bliss_dataset(
        tmp_path / "data" / "d.h5", scans=2, points=4, detector_2d=True, detector_shape=(6, 10)
    )
    monkeypatch.chdir(tmp_path)  # relative sources are found beside the file, not in the cwd
    for follow in (False, True):
        nexus = read_nexus(path, follow_links=follow)
        assert nexus.warnings == []
        first, second = nexus.entries
        assert first.detectors == [
            Detector("pilatus", "pixel", (4, 6, 10), "virtual", ("scan0001/pilatus_0000.h5",))
        ]
        assert channels(first)["pilatus"] == 4
        assert channels(second)["pilatus"] == 4
        assert "instrument/pilatus/type" not in first.fields  # summarised, not read as fields
        assert first.classes["instrument/pilatus"] == "NXdetector"


def test_bliss_external_link_detector_is_not_followed_unless_asked(tmp_path, monkeypatch):
    path = nx.write_bliss_dataset(
        tmp_path / "data" / "d.h5",
        scans=2,
        points=3,
        detector_2d=True,
        detector_link="external",
        detector_shape=(5, 7),
    )
    source = "scan0001/pilatus_0000.h5"
    monkeypatch.chdir(tmp_path)

    not_followed = read_nexus(path)
    assert not_followed.warnings == []
    assert not_followed.entries[0].detectors == [
        Detector("pilatus", "pixel", None, "external", (source,))
    ]
    assert channels(not_followed.entries[0])["pilatus"] is None
    assert channels(not_followed.entries[0])["diode"] == 3

    followed = read_nexus(path, follow_links=True)
    assert followed.warnings == []
    assert followed.entries[0].detectors == [
        Detector("pilatus", "pixel", (3, 5, 7), "dataset", (source,))
    ]
    assert channels(followed.entries[0])["pilatus"] == 3

    # Not followed means not opened: a detector file HDF5 cannot read changes nothing.
    nx.detector_file_path(path, 1).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 600)
    assert read_nexus(path).warnings == []
    assert read_nexus(path).entries == not_followed.entries
    broken = read_nexus(path, follow_links=True)
    assert broken.warnings
    assert all("pilatus" in warning for warning in broken.warnings)


def test_master_files_hold_links_and_are_read_through_them_when_asked(tmp_path, monkeypatch):
    files = nx.write_bliss_tree(tmp_path, collections=2, datasets=1, scans=2)
    session = tmp_path / "hg123" / "id23-1" / "20250601"
    monkeypatch.chdir(tmp_path)
    expected = [
        ExternalEntry(
            f"{collection}_0001_{scan}.1",
            f"RAW_DATA/{collection}/{collection}_0001/{collection}_0001.h5",
            f"/{scan}.1",
        )
        for collection in ("lysozyme", "thaumatin")
        for scan in (1, 2)
    ]

    master = read_nexus(session / "hg123_id23-1.h5")
    assert master.is_master
    assert master.creator == "Bliss"
    assert master.links == expected
    assert master.entries == []
    assert master.warnings == []

    collection_master = read_nexus(session / "RAW_DATA" / "thaumatin" / "hg123_thaumatin.h5")
    assert collection_master.is_master
    assert [link.file for link in collection_master.links] == [
        "thaumatin_0001/thaumatin_0001.h5"
    ] * 2

    followed = read_nexus(session / "hg123_id23-1.h5", follow_links=True)
    assert followed.is_master  # the entries are its links', not its own
    assert followed.links == expected
    assert [e.name for e in followed.entries] == [link.name for link in expected]
    assert [e.title for e in followed.entries] == [
        "ascan samy 0 1 10 0.1",
        "dscan samz -0.5 0.5 10 0.1",
    ] * 2
    assert followed.entries[0].fields["sample/name"] == Field("lysozyme")

    # A dataset file is not a master file, even when read through links.
    assert not read_nexus(files[0], follow_links=True).is_master

    files[0].unlink()
    dangling = read_nexus(session / "hg123_id23-1.h5", follow_links=True)
    assert [e.name for e in dangling.entries] == ["thaumatin_0001_1.1", "thaumatin_0001_2.1"]
    assert len(dangling.warnings) == 2
    assert all("lysozyme_0001/lysozyme_0001.h5" in warning for warning in dangling.warnings)


def test_a_file_of_ten_thousand_scans_is_read_in_scan_order(tmp_path):
    path = nx.write_many_entries(tmp_path / "many.h5", entries=10_000)
    nexus = read_nexus(path)
    assert nexus.warnings == []
    assert len(nexus.entries) == 10_000
    assert [e.name for e in nexus.entries[:3]] == ["1.1", "2.1", "3.1"]
    last = nexus.entries[-1]
    assert last.name == "10000.1"
    assert last.title == "ct 0.1"
    assert last.writer_status == "SUCCEEDED"
    assert datetime.fromisoformat(last.start_time) == START + timedelta(seconds=10_000)
    assert datetime.fromisoformat(last.end_time) == START + timedelta(seconds=10_000.1)
    assert all(e.end_time is not None and e.channels == [] for e in nexus.entries)


# --------------------------------------------------------------------------- other facilities


def test_nxmx_with_bytes_or_str_attributes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for bytes_attrs in (True, False):
        path = nx.write_nxmx(tmp_path / f"{bytes_attrs}" / "mx.h5", bytes_attrs=bytes_attrs)
        nexus = read_nexus(path)
        assert nexus.warnings == []
        assert nexus.default == "entry"
        assert type(nexus.default) is str
        [entry] = nexus.entries
        assert entry.name == "entry"
        assert entry.title == "thaumatin screening"
        assert type(entry.title) is str
        assert entry.definition == "NXmx"
        assert entry.default == "data"
        assert entry.start_time == "2024-03-05T11:22:33Z"
        assert entry.end_time == "2024-03-05T11:23:03Z"
        assert entry.writer_status is None
        assert entry.fields == {
            "instrument/name": Field("DIAMOND BEAMLINE I04"),
            "instrument/beam/incident_wavelength": Field(0.9762, "angstrom"),
            "sample/name": Field("thaumatin"),
        }
        assert entry.classes["instrument/beam"] == "NXbeam"
        data_file = "mx_data_000001.h5"
        assert entry.detectors == [Detector("detector", None, None, "external", (data_file,))]
        followed = read_nexus(path, follow_links=True).entries[0]
        assert followed.detectors == [
            Detector("detector", None, (5, 8, 8), "dataset", (data_file,))
        ]


def test_nxtomo_with_array_or_scalar_class_attributes(tmp_path):
    for array_attrs in (True, False):
        path = nx.write_nxtomo(tmp_path / f"tomo_{array_attrs}.h5", array_attrs=array_attrs)
        nexus = read_nexus(path)
        assert nexus.warnings == []
        [entry] = nexus.entries
        assert (entry.name, entry.title, entry.definition) == ("entry", "tomo of a rock", "NXtomo")
        assert entry.start_time == "2024-11-20T08:00:00+01:00"
        assert entry.end_time is None
        assert entry.classes == {
            "": "NXentry",
            "instrument": "NXinstrument",
            "instrument/source": "NXsource",
            "instrument/detector": "NXdetector",
            "sample": "NXsample",
        }
        angles = " ".join(str(float(a)) for a in np.linspace(0.0, 180.0, 10))
        assert entry.fields == {
            "instrument/source/name": Field("SLS"),
            "instrument/source/type": Field("Synchrotron X-ray Source"),
            "sample/name": Field("granite"),
            "sample/rotation_angle": Field(angles, "degree"),
        }
        assert entry.detectors == [Detector("detector", None, (10, 8, 8), "dataset")]


def test_nxsas_without_a_sample(tmp_path):
    path = nx.write_nxsas(tmp_path / "sas.h5")
    nexus = read_nexus(path)
    assert read_nexus(str(path)) == nexus  # a path or its text
    assert nexus.warnings == []
    assert nexus.default == "sasentry01"
    [entry] = nexus.entries
    assert (entry.name, entry.title, entry.definition) == ("sasentry01", "BSA 2 mg/ml", "NXsas")
    assert entry.fields == {
        "run": Field("1234"),
        "instrument/source/name": Field("PETRA III"),
        "instrument/source/current": Field(100.0, "mA"),
        "instrument/monochromator/wavelength": Field(0.124, "nm"),
    }
    assert "sample" not in entry.classes
    assert entry.classes["sasdata01"] == "NXdata"
    assert entry.detectors == [Detector("detector", None, (16, 16), "dataset")]


# --------------------------------------------------------------------------- value types


def test_values_are_plain_python_and_large_or_odd_fields_are_left_out(tmp_path):
    path = tmp_path / "types.h5"
    with h5py.File(path, "w") as file:
        file.attrs["default"] = "entry"
        entry = file.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        group = entry.create_group("instrument")
        group.attrs["NX_class"] = np.bytes_("NXinstrument")
        group["int"] = np.int64(7)
        group["uint8"] = np.uint8(255)
        group["float32"] = np.float32(0.5)
        group["bool"] = np.bool_(True)
        group["few"] = np.array([1, 2, 3])
        group["few_with_nan"] = np.array([1.5, np.nan, 2.5])
        group["all_nan"] = np.array([np.nan, np.nan])
        group["fixed"] = np.bytes_(b"abc\x00\x00")
        group["blank_unit"] = 1.0
        group["blank_unit"].attrs["units"] = " "
        group["singular_unit"] = 2.0
        group["singular_unit"].attrs["unit"] = "mm"
        group["bytes_unit"] = 3.0
        group["bytes_unit"].attrs["units"] = np.bytes_(b"keV")
        group["many"] = np.arange(SMALL + 1)
        group["just_enough"] = np.arange(SMALL)
        group["empty"] = h5py.Empty("f8")
        group["compound"] = np.zeros((), dtype=[("a", "i4"), ("b", "f8")])
        group["zero_length"] = np.zeros((0,))
        deep = group.create_group("a/b/c/d/e")
        deep["too_deep"] = 1
        group["a/b/c/shallow_enough"] = 2
        group["dangling"] = h5py.SoftLink("/nowhere")
    nexus = read_nexus(path)
    fields = nexus.entries[0].fields
    expected = {
        "instrument/int": Field(7),
        "instrument/uint8": Field(255),
        "instrument/float32": Field(0.5),
        "instrument/bool": Field(True),
        "instrument/few": Field("1 2 3"),
        "instrument/few_with_nan": Field("1.5 2.5"),
        "instrument/fixed": Field("abc"),
        "instrument/blank_unit": Field(1.0),
        "instrument/singular_unit": Field(2.0, "mm"),
        "instrument/bytes_unit": Field(3.0, "keV"),
        "instrument/just_enough": Field(" ".join(str(n) for n in range(SMALL))),
        "instrument/a/b/c/shallow_enough": Field(2),
    }
    assert fields == expected
    for path_, field in expected.items():
        assert type(field.value) is type(fields[path_].value), path_
    assert nexus.entries[0].classes["instrument"] == "NXinstrument"
    assert "entry/instrument/dangling: dangling link" in nexus.warnings
    assert sum("not a finite number" in warning for warning in nexus.warnings) == 3


def test_groups_without_nx_class_are_entries_only_when_named_like_scans(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as file:
        for name in ("12.1", "2.1", "notes", "3.x"):
            file.create_group(name)["title"] = f"title of {name}"
        collection = file.create_group("5.1")
        collection.attrs["NX_class"] = "NXcollection"
        collection["title"] = "not an entry"
        file["loose"] = 1.0
    nexus = read_nexus(path)
    assert [(e.name, e.title) for e in nexus.entries] == [
        ("2.1", "title of 2.1"),
        ("12.1", "title of 12.1"),
    ]


# --------------------------------------------------------------------------- broken files


def test_unreadable_files_raise_a_nexus_error_that_says_why(tmp_path):
    cases = [
        (nx.write_empty, ("empty", "0 bytes")),
        (nx.write_not_hdf5, ("not an HDF5 file", "This is")),
        (nx.write_truncated, ("truncated", "copying")),
        (nx.write_corrupt, ("HDF5 cannot read the file",)),
        (lambda p: p.write_bytes(b"\x89HD") and p, ("not an HDF5 file",)),
        (lambda p: p, ("cannot read the file", "No such file")),
    ]
    for index, (write, words) in enumerate(cases):
        path = tmp_path / f"case{index}" / "f.h5"
        path.parent.mkdir()
        write(path)
        with pytest.raises(NexusError) as raised:
            read_nexus(path)
        error = raised.value
        assert error.path == str(path)
        assert str(error).startswith(f"{path}: ")
        for word in words:
            assert word in error.reason, (index, error.reason)
        assert len(error.reason) < 300


def test_a_user_block_before_the_hdf5_signature_is_fine(tmp_path):
    path = nx.write_with_user_block(tmp_path / "ub.h5")
    assert path.read_bytes().startswith(nx.USER_BLOCK_TEXT)
    nexus = read_nexus(path)
    assert nexus.warnings == []
    assert [e.title for e in nexus.entries] == [
        "ascan samy 0 1 10 0.1",
        "dscan samz -0.5 0.5 10 0.1",
        "a2scan samx 0 1 samy 0 2 10 0.1",
    ]
    assert nexus.entries[0].fields["sample/name"] == Field("lysozyme")


def test_missing_detector_files_give_warnings_naming_them(tmp_path, monkeypatch):
    source = "scan0001/pilatus_0000.h5"
    monkeypatch.chdir(tmp_path)
    dangling = nx.write_dangling_external_link(tmp_path / "ext" / "d.h5")
    for follow in (False, True):
        nexus = read_nexus(dangling, follow_links=follow)
        assert nexus.warnings
        assert all(source in warning for warning in nexus.warnings)
        assert any("missing" in warning for warning in nexus.warnings)
        entry = nexus.entries[0]
        assert entry.title == "ascan samy 0 1 10 0.1"
        assert entry.detectors == [Detector("pilatus", "pixel", None, "external", (source,))]
        assert channels(entry)["pilatus"] is None
        assert channels(entry)["diode"] == 11

    vds = nx.write_missing_vds_source(tmp_path / "vds" / "d.h5")
    for follow in (False, True):
        nexus = read_nexus(vds, follow_links=follow)
        assert len(nexus.warnings) == 1
        assert source in nexus.warnings[0]
        assert "missing" in nexus.warnings[0]
        [detector] = nexus.entries[0].detectors
        assert (detector.storage, detector.shape, detector.sources) == (
            "virtual",
            (11, 8, 16),
            (source,),
        )


def test_text_that_is_not_utf8_is_read_as_latin1_with_a_warning(tmp_path):
    nexus = read_nexus(nx.write_non_utf8(tmp_path / "latin.h5"))
    title = nx.NON_UTF8_TITLE.decode("latin-1")
    assert [e.title for e in nexus.entries] == [title] * 3
    assert nexus.entries[0].fields["sample/name"] == Field(nx.NON_UTF8_SAMPLE.decode("latin-1"))
    assert sorted(nexus.warnings) == sorted(
        [f"{scan}.1/title: text is not UTF-8; read as Latin-1" for scan in (1, 2, 3)]
        + ["1.1/sample/name: text is not UTF-8; read as Latin-1"]
    )


def test_nan_and_infinite_values_are_skipped_with_a_warning(tmp_path):
    nexus = read_nexus(nx.write_nan_values(tmp_path / "nan.h5"))
    fields = nexus.entries[0].fields
    assert "instrument/source/current" not in fields
    assert "instrument/monochromator/energy" not in fields
    assert fields["instrument/source/name"] == Field("ESRF")
    assert fields["instrument/monochromator/wavelength"] == Field(0.0, "Å")
    assert sorted(nexus.warnings) == [
        "1.1/instrument/monochromator/energy: value is inf (not a finite number); skipped",
        "1.1/instrument/source/current: value is nan (not a finite number); skipped",
    ]
    assert len(nexus.entries) == 3
