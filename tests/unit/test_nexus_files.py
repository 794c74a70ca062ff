"""The NeXus fixture writers produce the structure the ingest tests rely on."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import h5py
import numpy as np
import pytest

from tests import nexus_files as nx

UNREADABLE = (KeyError, OSError, RuntimeError, ValueError)


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def test_bliss_dataset_path_follows_the_esrf_convention(tmp_path):
    assert nx.bliss_dataset_path(tmp_path) == (
        tmp_path / "hg123/id23-1/20250601/RAW_DATA/lysozyme/lysozyme_0001/lysozyme_0001.h5"
    )
    processed = nx.bliss_dataset_path(tmp_path, "ma4567", "bm29", "20250102", "bsa", "0042", True)
    assert processed == tmp_path / "ma4567/bm29/20250102/PROCESSED_DATA/bsa/bsa_0042/bsa_0042.h5"
    assert not processed.exists()


def test_bliss_dataset_has_one_entry_per_scan_with_the_bliss_layout(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "d.h5", chemical_formula="C613H959N193O185S10")
    assert path.stat().st_size < 200_000
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["1.1", "2.1", "3.1"]
        assert f.attrs["NX_class"] == "NXroot"
        assert f.attrs["creator"] == "Bliss"
        assert f.attrs["default"] == "1.1"
        assert f.attrs["file_name"] == str(path)
        entry = f["2.1"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry.attrs["default"] == "plotselect"
        assert entry["title"].asstr()[()] == "dscan samz -0.5 0.5 10 0.1"
        start = datetime.fromisoformat(entry["start_time"].asstr()[()])
        end = datetime.fromisoformat(entry["end_time"].asstr()[()])
        assert start == datetime.fromisoformat("2025-06-01T10:02:00+02:00")
        assert end - start == timedelta(seconds=30)
        assert entry["writer"].attrs["NX_class"] == "NXnote"
        assert entry["writer/status"].asstr()[()] == "SUCCEEDED"

        instrument = entry["instrument"]
        assert instrument["name"].asstr()[()] == "ID23-1"
        start_positions = instrument["positioners_start"]
        assert start_positions.attrs["NX_class"] == "NXcollection"
        assert len(start_positions) == 8
        assert start_positions["phi"].attrs["units"] == "deg"
        assert start_positions["samz"].attrs["units"] == "mm"
        assert list(instrument["positioners"]) == ["samz"]
        assert instrument["positioners/samz"].shape == (11,)
        for counter in ("diode", "mon", "iodet", "idet"):
            assert instrument[counter].attrs["NX_class"] == "NXdetector"
            assert instrument[counter]["data"].shape == (11,)
            assert instrument[counter]["type"].asstr()[()] == "counter"
        assert instrument["source/name"].asstr()[()] == "ESRF"
        assert instrument["source/current"][()] == 199.5
        assert instrument["source/current"].attrs["units"] == "mA"
        wavelength = instrument["monochromator/wavelength"]
        assert wavelength.attrs["units"] == "Å"
        assert wavelength[()] == pytest.approx(12.398 / 12.4, rel=1e-4)
        assert h5py.check_string_dtype(entry["title"].dtype).encoding == "utf-8"

        measurement = entry["measurement"]
        assert sorted(measurement) == ["diode", "idet", "iodet", "mon", "samz"]
        link = measurement.get("diode", getlink=True)
        assert isinstance(link, h5py.SoftLink)
        assert link.path == "/2.1/instrument/diode/data"
        assert np.array_equal(measurement["diode"][()], instrument["diode/data"][()])
        plotselect = entry["plotselect"]
        assert plotselect.attrs["NX_class"] == "NXdata"
        assert plotselect.attrs["signal"] == "diode"
        assert list(plotselect.attrs["axes"]) == ["samz"]

        assert entry["sample/name"].asstr()[()] == "lysozyme"
        assert entry["sample/chemical_formula"].asstr()[()] == "C613H959N193O185S10"
        assert entry["sample/temperature"].attrs["units"] == "K"
        assert entry["MX"].attrs["NX_class"] == "NXsubentry"
        assert entry["MX/resolution"].attrs["units"] == "Å"
        assert entry["MX/numberOfImages"][()] == 11


def test_scan_commands_vary_and_ct_has_one_point(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "d.h5", scans=7, positioners=14, counters=9)
    with h5py.File(path, "r") as f:
        commands = [f[f"{n}.1/title"].asstr()[()].split()[0] for n in range(1, 8)]
        assert commands == ["ascan", "dscan", "a2scan", "amesh", "timescan", "loopscan", "ct"]
        assert sorted(f["3.1/instrument/positioners"]) == ["samx", "samy"]
        assert f["7.1/instrument/diode/data"].shape == (1,)
        assert list(f["5.1/plotselect"].attrs["axes"]) == ["elapsed_time"]
        assert {"pos12", "pos13"} <= set(f["1.1/instrument/positioners_start"])
        assert "ct08" in f["1.1/instrument"]


def test_running_and_failed_scans(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "d.h5", running_scan=3, failed_scan=2)
    with h5py.File(path, "r") as f:
        assert f["1.1/writer/status"].asstr()[()] == "SUCCEEDED"
        assert f["2.1/writer/status"].asstr()[()] == "FAILED"
        assert "end_time" in f["2.1"]
        assert f["3.1/writer/status"].asstr()[()] == "RUNNING"
        assert "end_time" not in f["3.1"]


def test_sub_scans_and_techniques(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "d.h5", scans=2, sub_scans=True, techniques=("SAXS",))
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["1.1", "1.2", "2.1", "2.2"]
        assert f["1.2/title"][()] == f["1.1/title"][()]
        assert f["1.1/SAXS/concentration"].attrs["units"] == "mg/ml"
        assert "SAXS" not in f["1.2"]
    with pytest.raises(ValueError, match="unknown technique"):
        nx.write_bliss_dataset(tmp_path / "e.h5", techniques=("XPS",))


def test_same_arguments_give_the_same_bytes_and_the_seed_changes_them(tmp_path):
    path = tmp_path / "d.h5"
    digests = []
    for seed in (0, 0, 1):
        nx.write_bliss_dataset(path, detector_2d=True, seed=seed)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]


def test_vds_detector_reads_its_external_source_from_any_directory(tmp_path, monkeypatch):
    path = nx.write_bliss_dataset(tmp_path / "ds" / "d.h5", scans=2, detector_2d=True)
    monkeypatch.chdir(tmp_path)
    with h5py.File(path, "r") as f:
        data = f["2.1/instrument/pilatus/data"]
        assert data.is_virtual
        assert data.shape == (11, 8, 16)
        [source] = data.virtual_sources()
        assert source.file_name == "scan0002/pilatus_0000.h5"
        assert source.dset_name == "/entry_0000/measurement/data"
        assert f["2.1/instrument/pilatus/type"].asstr()[()] == "pixel"
        assert f["2.1/measurement"].get("pilatus", getlink=True).path == (
            "/2.1/instrument/pilatus/data"
        )
        frames = data[()]
    with h5py.File(nx.detector_file_path(path, 2), "r") as detector:
        assert np.array_equal(frames, detector["entry_0000/measurement/data"][()])
    assert frames.any()


def test_external_link_detector_variant(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "d.h5", scans=1, detector_2d=True,
                                  detector_link="external", detector_shape=(4, 4))  # fmt: skip
    with h5py.File(path, "r") as f:
        link = f["1.1/instrument/pilatus"].get("image", getlink=True)
        assert isinstance(link, h5py.ExternalLink)
        assert link.filename == "scan0001/pilatus_0000.h5"
        assert f["1.1/measurement/pilatus"].shape == (11, 4, 4)


def test_tree_and_master_files_link_to_every_entry(tmp_path, monkeypatch):
    files = nx.write_bliss_tree(tmp_path, proposals=2, collections=2, datasets=2, scans=2)
    assert len(files) == 8
    session = tmp_path / "hg123" / "id23-1" / "20250601"
    assert files[0] == session / "RAW_DATA/lysozyme/lysozyme_0001/lysozyme_0001.h5"
    assert (tmp_path / "ma4567" / "bm29" / "20250602" / "ma4567_bm29.h5").is_file()
    with h5py.File(files[0], "r") as f:
        assert "MX" in f["1.1"]
    monkeypatch.chdir("/")
    with h5py.File(session / "hg123_id23-1.h5", "r") as master:
        assert sorted(master)[:3] == ["lysozyme_0001_1.1", "lysozyme_0001_2.1", "lysozyme_0002_1.1"]
        assert len(master) == 8
        for name in master:
            assert isinstance(master.get(name, getlink=True), h5py.ExternalLink)
        link = master.get("thaumatin_0002_2.1", getlink=True)
        assert link.filename == "RAW_DATA/thaumatin/thaumatin_0002/thaumatin_0002.h5"
        assert link.path == "/2.1"
        assert master["thaumatin_0002_2.1/title"].asstr()[()].startswith("dscan")
    with h5py.File(session / "RAW_DATA" / "thaumatin" / "hg123_thaumatin.h5", "r") as master:
        assert sorted(master) == [f"thaumatin_000{d}_{n}.1" for d in (1, 2) for n in (1, 2)]
        link = master.get("thaumatin_0001_1.1", getlink=True)
        assert link.filename == "thaumatin_0001/thaumatin_0001.h5"
        assert master["thaumatin_0001_1.1"].attrs["NX_class"] == "NXentry"


def test_icat_xml_has_the_esrf_shape_and_escapes_values(tmp_path):
    path = nx.write_icat_xml(
        tmp_path / "__icat__" / "lysozyme_0001.xml",
        investigation="hg123",
        instrument="id23-1",
        name="0001",
        location="/data/visitor/hg123/id23-1/20250601/RAW_DATA/lysozyme/lysozyme_0001",
        start="2025-06-01T10:01:00+02:00",
        sample="lyso <&> zyme",
        parameters={"Sample_name": "lysozyme", "MX_resolution": "1.8"},
        complete=False,
    )
    raw = path.read_text(encoding="utf-8")
    assert '<tns:dataset xmlns:tns="http://www.esrf.fr/icat" complete="false">' in raw
    assert "lyso &lt;&amp;&gt; zyme" in raw
    ns = {"tns": nx.ICAT_NAMESPACE}
    root = ET.parse(path).getroot()
    assert root.tag == f"{{{nx.ICAT_NAMESPACE}}}dataset"
    assert root.findtext("tns:investigation", namespaces=ns) == "hg123"
    assert root.findtext("tns:startDate", namespaces=ns) == "2025-06-01T10:01:00+02:00"
    assert root.find("tns:endDate", ns) is None
    assert root.findtext("tns:sample/tns:name", namespaces=ns) == "lyso <&> zyme"
    parameters = {
        p.findtext("tns:name", namespaces=ns): p.findtext("tns:value", namespaces=ns)
        for p in root.findall("tns:parameter", ns)
    }
    assert parameters == {"Sample_name": "lysozyme", "MX_resolution": "1.8"}


def test_nxmx_with_bytes_attributes_and_an_external_data_file(tmp_path):
    path = nx.write_nxmx(tmp_path / "mx.h5")
    assert (tmp_path / "mx_data_000001.h5").is_file()
    with h5py.File(path, "r") as f:
        nx_class = f["entry"].attrs["NX_class"]
        assert isinstance(nx_class, np.bytes_)
        assert nx_class == b"NXentry"
        assert f["entry/title"].dtype.kind == "S"
        assert f["entry/definition"].asstr()[()] == "NXmx"
        assert f["entry/instrument/beam/incident_wavelength"].attrs["units"] == b"angstrom"
        link = f["entry/instrument/detector"].get("data", getlink=True)
        assert isinstance(link, h5py.ExternalLink)
        assert (link.filename, link.path) == ("mx_data_000001.h5", "/data")
        assert f["entry/instrument/detector/data"].shape == (5, 8, 8)
    plain = nx.write_nxmx(tmp_path / "plain.h5", bytes_attrs=False)
    with h5py.File(plain, "r") as f:
        assert f["entry"].attrs["NX_class"] == "NXentry"
        assert f["entry/title"].asstr()[()] == "thaumatin screening"


def test_nxtomo_with_array_nx_class_attributes(tmp_path):
    path = nx.write_nxtomo(tmp_path / "tomo.h5", projections=6)
    with h5py.File(path, "r") as f:
        nx_class = f["entry"].attrs["NX_class"]
        assert nx_class.shape == (1,)
        assert nx_class[0] == b"NXentry"
        assert f["entry/definition"].asstr()[()] == "NXtomo"
        assert f["entry/instrument/source/name"].asstr()[()] == "SLS"
        assert f["entry/instrument/detector/data"].dtype == np.uint16
        assert f["entry/instrument/detector/data"].shape == (6, 8, 8)
        assert f["entry/sample/rotation_angle"].attrs["units"] == "degree"


def test_nxsas_has_no_sample_group(tmp_path):
    path = nx.write_nxsas(tmp_path / "sas.h5")
    classes: list[str] = []
    with h5py.File(path, "r") as f:
        assert list(f) == ["sasentry01"]
        assert f["sasentry01/definition"].asstr()[()] == "NXsas"
        assert f["sasentry01/instrument/monochromator/wavelength"].attrs["units"] == "nm"
        assert f["sasentry01/instrument/detector/data"].ndim == 2
        f.visititems(lambda _, obj: classes.append(text(obj.attrs.get("NX_class", ""))))
    assert "NXentry" in classes
    assert "NXsample" not in classes


def test_truncated_file_does_not_open(tmp_path):
    whole = nx.write_bliss_dataset(tmp_path / "whole.h5").stat().st_size
    path = nx.write_truncated(tmp_path / "cut.h5")
    assert path.stat().st_size == whole // 2
    with pytest.raises(OSError, match="truncated"):
        h5py.File(path, "r")


def test_corrupt_file_opens_but_its_entries_cannot_be_read(tmp_path):
    path = nx.write_corrupt(tmp_path / "corrupt.h5")
    assert b"\xff" * 256 in path.read_bytes()
    with h5py.File(path, "r") as f, pytest.raises(UNREADABLE):  # noqa: PT012
        for name in f:
            f[name].visit(lambda _: None)


@pytest.mark.parametrize("writer", [nx.write_empty, nx.write_not_hdf5])
def test_files_that_are_not_hdf5(tmp_path, writer):
    path = writer(tmp_path / "x.h5")
    assert path.suffix == ".h5"
    assert not h5py.is_hdf5(path)
    with pytest.raises(OSError, match="signature"):
        h5py.File(path, "r")
    if writer is nx.write_empty:
        assert path.stat().st_size == 0


def test_user_block_file_still_opens(tmp_path):
    path = nx.write_with_user_block(tmp_path / "ub.h5")
    assert path.read_bytes().startswith(nx.USER_BLOCK_TEXT)
    with h5py.File(path, "r") as f:
        assert f.userblock_size == 512
        assert f["1.1/title"].asstr()[()].startswith("ascan")


def test_dangling_external_link(tmp_path):
    path = nx.write_dangling_external_link(tmp_path / "d.h5")
    assert not (tmp_path / "scan0001").exists()
    with h5py.File(path, "r") as f:
        detector = f["1.1/instrument/pilatus"]
        assert isinstance(detector.get("image", getlink=True), h5py.ExternalLink)
        with pytest.raises(KeyError):
            detector["image"]


def test_missing_vds_source_reads_as_fill_values(tmp_path):
    path = nx.write_missing_vds_source(tmp_path / "d.h5")
    assert not nx.detector_file_path(path, 1).exists()
    with h5py.File(path, "r") as f:
        data = f["1.1/instrument/pilatus/data"]
        assert data.is_virtual
        assert data.virtual_sources()[0].file_name == "scan0001/pilatus_0000.h5"
        assert not data[()].any()  # HDF5 does not fail on a missing source: it fills


def test_non_utf8_title_and_sample_name(tmp_path):
    path = nx.write_non_utf8(tmp_path / "d.h5")
    with h5py.File(path, "r") as f:
        for name in f:
            title = f[name]["title"]
            assert title.dtype.kind == "S"
            assert title[()] == nx.NON_UTF8_TITLE
            with pytest.raises(UnicodeDecodeError):
                title[()].decode("utf-8")
            assert f[name]["sample/name"][()] == nx.NON_UTF8_SAMPLE


def test_nan_and_infinite_values(tmp_path):
    path = nx.write_nan_values(tmp_path / "d.h5")
    with h5py.File(path, "r") as f:
        assert np.isnan(f["1.1/instrument/source/current"][()])
        assert np.isposinf(f["1.1/instrument/monochromator/energy"][()])


def test_many_entries(tmp_path):
    path = nx.write_many_entries(tmp_path / "many.h5", entries=300)
    with h5py.File(path, "r") as f:
        assert len(f) == 300
        assert f.attrs["default"] == "1.1"
        entry = f["300.1"]
        assert sorted(entry) == ["end_time", "start_time", "title", "writer"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry["writer/status"].asstr()[()] == "SUCCEEDED"
