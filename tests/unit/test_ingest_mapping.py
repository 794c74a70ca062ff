"""From files to catalogue metadata: `__icat__` metadata files (ingest.icat_files) and the
mapping of NeXus and metadata files to dataset fields and parameters (ingest.mapping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from catalogue.domain import datasets as ds
from catalogue.domain.parameters import builtin_vocabulary, check_parameter
from ingest.icat_files import IcatFileError, IcatMetadata, read_icat_file
from ingest.layout import dataset_folder
from ingest.mapping import MAX_SCANS_DESCRIBED, map_dataset, parameters_of
from ingest.nexus import Channel, Detector, Entry, Field, NexusFile, read_nexus
from tests import nexus_files as nx

CEST = timezone(timedelta(hours=2))
LOCATION = "/data/visitor/hg123/id23-1/20250601/RAW_DATA/lysozyme/lysozyme_0001"
FOLDER = dataset_folder(LOCATION)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 6, 1, hour, minute, second, tzinfo=CEST)


def value(mapped, name: str) -> object:
    return mapped.parameters[name].value


def checked(mapped, name: str):
    """The parameter as the catalogue's vocabulary takes it (with its SI value)."""
    raw = mapped.parameters[name]
    return check_parameter(builtin_vocabulary(), raw.name, raw.value, raw.unit)


def nexus_of(*entries: Entry) -> NexusFile:
    return NexusFile("/x/f.h5", entries=list(entries))


# --------------------------------------------------------------------------- icat metadata files


def test_icat_file_gives_every_field(tmp_path):
    path = nx.write_icat_xml(
        tmp_path / "__icat__" / "a.xml",
        investigation="hg123",
        instrument="id23-1",
        name="0001",
        location=LOCATION,
        start="2025-06-01T10:00:00+02:00",
        end="2025-06-01T11:30:00+02:00",
        sample="lyso & <co>",
        parameters={"InstrumentSource_current": "199.5", "Sample_notes": " a note "},
        complete=False,
    )
    assert read_icat_file(path) == IcatMetadata(
        path=str(path),
        investigation="hg123",
        instrument="id23-1",
        name="0001",
        location=LOCATION,
        start="2025-06-01T10:00:00+02:00",
        end="2025-06-01T11:30:00+02:00",
        sample="lyso & <co>",
        complete=False,
        parameters={"InstrumentSource_current": "199.5", "Sample_notes": "a note"},
    )
    minimal = nx.write_icat_xml(
        tmp_path / "b.xml", investigation="hg123", instrument="id00", name="2", location="/d/x"
    )
    assert read_icat_file(minimal) == IcatMetadata(
        path=str(minimal),
        investigation="hg123",
        instrument="id00",
        name="2",
        location="/d/x",
    )


def test_icat_file_without_namespace_and_with_blank_dates(tmp_path):
    path = tmp_path / "plain.xml"
    path.write_text(
        '<dataset complete="FALSE"><location> /d/x </location><startDate> </startDate>'
        "<endDate/><investigation></investigation><parameter><name>a</name></parameter>"
        "<parameter><value>v</value></parameter><parameter><name>b</name><value/></parameter>"
        "<unknown>ignored</unknown></dataset>",
        encoding="utf-8",
    )
    found = read_icat_file(path)
    assert found.location == "/d/x"
    assert (found.start, found.end, found.investigation) == (None, None, None)
    assert found.complete is False
    assert found.parameters == {"b": ""}


def test_icat_files_that_cannot_be_used(tmp_path):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + "]><dataset><location>/d/x</location><name>&i;</name></dataset>"
    )
    external = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<dataset><location>/d/x</location><name>&e;</name></dataset>"
    )
    cases = {
        "malformed.xml": ("<dataset><location>/d/x</location>", "not well-formed XML"),
        "empty.xml": ("", "not well-formed XML"),
        "root.xml": ("<investigation><location>/d/x</location></investigation>", "<investigation>"),
        "nolocation.xml": ("<dataset><name>x</name></dataset>", "no <location>"),
        "blanklocation.xml": ("<dataset><location> </location></dataset>", "no <location>"),
        "bomb.xml": (bomb, "entities"),
        "external.xml": (external, "entities"),
    }
    for name, (text, words) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(IcatFileError) as raised:
            read_icat_file(path)
        assert words in raised.value.reason, name
        assert raised.value.path == str(path)
    with pytest.raises(IcatFileError, match="cannot read the file"):
        read_icat_file(tmp_path / "missing.xml")
    with pytest.raises(IcatFileError, match="cannot read the file"):
        read_icat_file(tmp_path)
    big = tmp_path / "big.xml"
    big.write_bytes(b"<dataset>" + b" " * (4 * 1024 * 1024) + b"</dataset>")
    with pytest.raises(IcatFileError, match="larger than 4 MiB"):
        read_icat_file(big)


# --------------------------------------------------------------------------- Bliss files


def test_bliss_dataset_maps_to_sample_techniques_times_and_icat_parameters(tmp_path):
    path = nx.write_bliss_dataset(
        nx.bliss_dataset_path(tmp_path),
        scans=3,
        chemical_formula="C613H959N193O185S10",
        current_ma=199.5,
        energy_kev=12.4,
        detector_2d=True,
    )
    folder = dataset_folder(str(path.parent))
    mapped = map_dataset(folder, read_nexus(path), None)

    assert mapped.sample == "lysozyme"
    assert mapped.techniques == ("MX",)
    assert mapped.scan_type is ds.ScanType.STEP_BY_STEP
    assert mapped.start == at(10, 1)
    assert mapped.end == at(10, 3, 30)
    assert mapped.finished
    assert mapped.running is None
    assert mapped.inputs == ()
    assert mapped.warnings == []

    # ICAT names, with units the vocabulary converts to SI.
    si = {
        "InstrumentSource_current": (199.5, "mA", 0.1995, "ampere"),
        "InstrumentMonochromator_energy": (12.4, "keV", 12.4e3 * 1.602176634e-19, None),
        "InstrumentMonochromator_wavelength": (nx.HC_KEV_ANGSTROM / 12.4, "Å", None, "meter"),
        "MX_resolution": (1.8, "Å", 1.8e-10, "meter"),
        "MX_exposureTime": (0.1, "s", 0.1, "second"),
    }
    for name, (number, unit, si_value, si_unit) in si.items():
        assert (value(mapped, name), mapped.parameters[name].unit) == (number, unit), name
        found = checked(mapped, name)
        if si_value is not None:
            assert found.si_value == pytest.approx(si_value), name
        if si_unit is not None:
            assert found.si_unit == si_unit, name
    assert checked(mapped, "InstrumentMonochromator_wavelength").si_value == pytest.approx(
        nx.HC_KEV_ANGSTROM / 12.4 * 1e-10
    )
    texts = {
        "Sample_name": "lysozyme",
        "Sample_chemical_formula": "C613H959N193O185S10",
        "InstrumentSource_name": "ESRF",
        "InstrumentSource_mode": "7/8+1",
        "beamlineID": "ID23-1",
        "definition": "MX",
        "InstrumentDetector01_name": "pilatus",
        "InstrumentPositioners_name": "chi detz kappa omega phi samx samy samz",
    }
    for name, text in texts.items():
        assert value(mapped, name) == text, name
        assert mapped.parameters[name].unit is None, name
    positions = value(mapped, "InstrumentPositioners_value").split()
    assert len(positions) == 8
    assert all(-5 <= float(p) <= 5 for p in positions)

    # What the definitions have no name for stays under its NeXus path.
    assert mapped.parameters["sample/temperature"] == ds.RawParameter(
        "sample/temperature", 100.0, "K"
    )
    assert checked(mapped, "sample/temperature").si_value == 100.0
    phi = mapped.parameters["instrument/positioners_start/phi"]
    assert phi.unit == "deg"
    assert checked(mapped, "instrument/positioners_start/phi").si_unit == "radian"
    assert value(mapped, "instrument/pilatus/type") == "pixel"
    assert value(mapped, "instrument/pilatus/data_shape") == "11 8 16"
    assert value(mapped, "scans/count") == 3
    assert value(mapped, "scans/2.1/title") == "dscan samz -0.5 0.5 10 0.1"
    assert value(mapped, "scans/2.1/status") == "SUCCEEDED"
    assert value(mapped, "scans/2.1/channels") == "diode idet iodet mon pilatus samz"
    assert value(mapped, "scans/2.1/points") == 11
    assert "instrument/source/current" not in mapped.parameters  # it has its ICAT name

    # Everything mapped is accepted by the catalogue as one set of parameters.
    parameters = parameters_of(mapped)
    assert [p.name for p in parameters] == sorted(mapped.parameters)
    assert len(ds.check_parameters(builtin_vocabulary(), parameters)) == len(parameters)


def test_values_that_do_not_fit_their_icat_type_are_kept_under_their_nexus_path(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "saxs.h5", scans=1, techniques=("SAXS", "TOMO"))
    mapped = map_dataset(None, read_nexus(path), None)
    assert mapped.techniques == ("SAXS", "TOMO")
    assert value(mapped, "definition") == "SAXS TOMO"
    # SAXS_concentration is text in the definitions, the file holds a number with a unit.
    assert "SAXS_concentration" not in mapped.parameters
    assert mapped.parameters["SAXS/concentration"] == ds.RawParameter(
        "SAXS/concentration", "2.5", "mg/ml"
    )
    assert mapped.warnings == [
        "parameter SAXS_concentration: parameter 'SAXS_concentration' takes text, "
        "got float; kept as 'SAXS/concentration'"
    ]
    assert mapped.parameters["TOMO/projN"] == ds.RawParameter("TOMO/projN", 11, None)
    assert mapped.parameters["TOMO/pixelSize"] == ds.RawParameter("TOMO/pixelSize", 6.5, "um")

    fields = {
        "instrument/source/current": Field(200.0, "mm"),  # a length: not a current
        "instrument/monochromator/energy": Field(12.0, "furlongs per keV"),
        "instrument/monochromator/wavelength": Field("one", "Å"),
        "instrument/attenuator/thickness": Field(0.5, "mm"),
        "instrument/odd name/x": Field(1.0, None),
    }
    mapped = map_dataset(None, nexus_of(Entry("1.1", fields=fields)), None)
    assert mapped.parameters["instrument/source/current"] == ds.RawParameter(
        "instrument/source/current", "200.0", "mm"
    )
    assert mapped.parameters["instrument/monochromator/energy"].value == "12.0"
    assert mapped.parameters["instrument/monochromator/wavelength"].value == "one"
    assert mapped.parameters["instrument/attenuator/thickness"] == ds.RawParameter(
        "instrument/attenuator/thickness", 0.5, "mm"
    )
    for name in ("InstrumentSource_current", "InstrumentMonochromator_energy"):
        assert name not in mapped.parameters
        assert any(w.startswith(f"parameter {name}: ") and "kept as" in w for w in mapped.warnings)
    assert "instrument/odd name/x" not in mapped.parameters
    assert any("odd name" in w and "not recorded" in w for w in mapped.warnings)


def test_nan_and_infinite_values_are_not_recorded(tmp_path):
    path = nx.write_nan_values(nx.bliss_dataset_path(tmp_path))
    mapped = map_dataset(dataset_folder(str(path.parent)), read_nexus(path), None)
    for name in (
        "InstrumentSource_current",
        "instrument/source/current",
        "InstrumentMonochromator_energy",
        "instrument/monochromator/energy",
    ):
        assert name not in mapped.parameters, name
    assert value(mapped, "InstrumentSource_name") == "ESRF"
    assert any("nan" in warning for warning in mapped.warnings)
    assert any("inf" in warning for warning in mapped.warnings)


def test_running_failed_and_succeeded_scans(tmp_path):
    cases = [
        ({}, True, None),
        ({"failed_scan": 2}, True, None),
        ({"running_scan": 2}, False, "2.1"),
        ({"running_scan": 3, "failed_scan": 1}, False, "3.1"),
    ]
    for index, (kwargs, finished, running) in enumerate(cases):
        path = nx.write_bliss_dataset(tmp_path / f"{index}.h5", scans=3, points=2, **kwargs)
        mapped = map_dataset(None, read_nexus(path), None)
        assert mapped.finished is finished, kwargs
        if running is None:
            assert mapped.running is None
        else:
            assert f"scan {running} " in mapped.running
            assert value(mapped, f"scans/{running}/status") == "RUNNING"
        assert mapped.start == at(10, 1)


# --------------------------------------------------------------------------- entries by hand


def test_scan_type_from_the_first_scan_command():
    cases = {
        "ascan samy 0 1 10 0.1": ds.ScanType.STEP_BY_STEP,
        "ct 0.1": ds.ScanType.STEP_BY_STEP,
        "timescan 0.1": ds.ScanType.STEP_BY_STEP,
        "fscan samy 0 0.1 100 0.01": ds.ScanType.CONTINUOUS,
        "FSCAN samy 0 0.1 100 0.01": ds.ScanType.CONTINUOUS,
        "f2scan samy 0 0.1 samz 0 1 100 0.01": ds.ScanType.CONTINUOUS,
        "fscan2d samy 0 1 10 samz 0 1 10 0.1": ds.ScanType.CONTINUOUS,
        "zapline mono 7 7.1 100 10": ds.ScanType.CONTINUOUS,
        "ftimescan 0.1 100": ds.ScanType.CONTINUOUS,
        "": None,
    }
    for title, scan_type in cases.items():
        first = Entry("1.1", title=title or None, start_time="2025-06-01T10:00:00+02:00")
        second = Entry("2.1", title="fscan samy 0 1 10 0.1" if not title else "ascan x 0 1 1 1")
        mapped = map_dataset(None, nexus_of(first, second), None)
        assert mapped.scan_type == scan_type, title


def test_start_end_and_finished_from_every_entry():
    entries = [
        Entry("1.1", start_time="2025-06-01T10:05:00+02:00", end_time="2025-06-01T10:06:00+02:00"),
        Entry("2.1", start_time="2025-06-01T07:00:00Z", end_time="2025-06-01T07:30:00Z"),
        Entry("3.1", start_time="2025-06-01T10:10:00+02:00", end_time="2025-06-01T09:00:00Z"),
    ]
    mapped = map_dataset(None, nexus_of(*entries), None)
    assert mapped.start == at(9)  # 07:00Z
    assert mapped.end == at(11)  # 09:00Z
    assert mapped.finished
    assert mapped.warnings == []

    # Without a writer status, an end time says the scan is over.
    open_entry = Entry("4.1", start_time="2025-06-01T11:00:00+02:00")
    mapped = map_dataset(None, nexus_of(*entries, open_entry), None)
    assert not mapped.finished
    assert mapped.running == "scan 4.1 is still being written (no end_time)"
    # A writer status decides over the end time.
    stopped = Entry("4.1", end_time="2025-06-01T11:00:00+02:00", writer_status="RUNNING")
    assert not map_dataset(None, nexus_of(*entries, stopped), None).finished
    for status in ("SUCCEEDED", "FAILED", "ABORTED", "KILLED"):
        over = Entry("4.1", writer_status=status)
        assert map_dataset(None, nexus_of(*entries, over), None).finished, status

    odd = [
        Entry("1.1", start_time="yesterday", end_time="2025-06-01T10:00:00"),
        Entry("2.1", start_time=" 2025-06-01T11:00:00+02:00 "),
    ]
    mapped = map_dataset(None, nexus_of(*odd), None)
    assert mapped.start == at(11)
    assert mapped.end == datetime(2025, 6, 1, 10, tzinfo=UTC)
    assert mapped.warnings == [
        "1.1/start_time: 'yesterday' is not an ISO 8601 time; ignored",
        "1.1/end_time: '2025-06-01T10:00:00' has no time zone; read as UTC",
    ]


def test_techniques_from_definitions_and_sub_entries():
    cases = [
        ([Entry("entry", definition="NXmx")], ("MX",)),
        ([Entry("entry", definition="NXtomo")], ("TOMO",)),
        ([Entry("entry", definition="NXsas")], ("SAXS",)),
        ([Entry("entry", definition="NXcanSAS")], ("SAXS",)),
        ([Entry("entry", definition="NXxas"), Entry("e2", definition="NXfluo")], ("XAS", "XRF")),
        (
            [Entry("1.1", subentries=["MX", "SAXS"]), Entry("2.1", subentries=["MX"])],
            ("MX", "SAXS"),
        ),
        ([Entry("1.1", definition="NXsomething", subentries=["NOTATECHNIQUE"])], ()),
        ([Entry("1.1")], ()),
    ]
    for entries, techniques in cases:
        mapped = map_dataset(None, nexus_of(*entries), None)
        assert mapped.techniques == techniques, entries
        if techniques:
            assert value(mapped, "definition") == " ".join(techniques)
        else:
            assert "definition" not in mapped.parameters


def test_many_scans_are_counted_and_the_first_ones_described():
    entries = [
        Entry(f"{n}.1", title="ct 0.1", writer_status="SUCCEEDED", channels=[Channel("mon", 1)])
        for n in range(1, MAX_SCANS_DESCRIBED + 6)
    ]
    mapped = map_dataset(None, nexus_of(*entries), None)
    assert value(mapped, "scans/count") == MAX_SCANS_DESCRIBED + 5
    assert value(mapped, f"scans/{MAX_SCANS_DESCRIBED}.1/title") == "ct 0.1"
    assert f"scans/{MAX_SCANS_DESCRIBED + 1}.1/title" not in mapped.parameters
    assert mapped.warnings == [
        f"{MAX_SCANS_DESCRIBED + 5} scans: the first {MAX_SCANS_DESCRIBED} are described one by one"
    ]


def test_detectors_and_channels_of_the_first_entry():
    entry = Entry(
        "1.1",
        detectors=[
            Detector("eiger", "pixel", (100, 512, 256), "virtual", ("a.h5",)),
            Detector("mca", None, None, "external", ("b.h5",)),
        ],
        channels=[Channel("eiger", 100), Channel("mca", None), Channel("diode", 100)],
    )
    mapped = map_dataset(None, nexus_of(entry), None)
    assert value(mapped, "InstrumentDetector01_name") == "eiger"
    assert value(mapped, "InstrumentDetector02_name") == "mca"
    assert value(mapped, "instrument/eiger/data_shape") == "100 512 256"
    assert value(mapped, "instrument/eiger/type") == "pixel"
    assert "instrument/mca/data_shape" not in mapped.parameters
    assert "instrument/mca/type" not in mapped.parameters
    assert value(mapped, "scans/1.1/channels") == "eiger mca diode"
    assert value(mapped, "scans/1.1/points") == 100


def test_the_folder_names_the_sample_when_no_file_does():
    mapped = map_dataset(FOLDER, None, None)
    assert mapped.sample == "lysozyme"
    assert mapped.parameters == {"Sample_name": ds.RawParameter("Sample_name", "lysozyme")}
    assert (mapped.start, mapped.end, mapped.finished, mapped.techniques) == (None, None, False, ())
    # The file's sample wins over the folder's name.
    named = Entry("1.1", fields={"sample/name": Field("insulin")})
    assert map_dataset(FOLDER, nexus_of(named), None).sample == "insulin"
    assert map_dataset(None, nexus_of(Entry("1.1")), None).sample is None
    assert map_dataset(None, NexusFile("/x/f.h5"), None) == map_dataset(None, None, None)


# --------------------------------------------------------------------------- __icat__ wins


def icat(**changes) -> IcatMetadata:
    base = IcatMetadata(path="/x/__icat__/a.xml", investigation="hg123", location=LOCATION)
    for key, change in changes.items():
        setattr(base, key, change)
    return base


def test_icat_metadata_wins_over_the_hdf5_file(tmp_path):
    path = nx.write_bliss_dataset(nx.bliss_dataset_path(tmp_path), scans=2, current_ma=199.5)
    nexus = read_nexus(path)
    metadata = icat(
        start="2025-06-01T08:00:00+02:00",
        end="2025-06-01T12:00:00+02:00",
        sample="insulin",
        parameters={
            "InstrumentSource_current": "150.5",
            "MX_resolution": "2.1",
            "instrument/attenuator/thickness": "0.5",
            "input_datasets": "/data/a, /data/b,, ",
        },
    )
    mapped = map_dataset(FOLDER, nexus, metadata)
    assert mapped.start == at(8)
    assert mapped.end == at(12)
    assert mapped.sample == "insulin"
    assert value(mapped, "Sample_name") == "insulin"
    assert mapped.parameters["InstrumentSource_current"] == ds.RawParameter(
        "InstrumentSource_current", "150.5", None
    )
    assert checked(mapped, "InstrumentSource_current").si_value == pytest.approx(0.1505)
    assert value(mapped, "MX_resolution") == "2.1"
    assert checked(mapped, "MX_resolution").si_value == pytest.approx(2.1e-10)
    assert value(mapped, "instrument/attenuator/thickness") == "0.5"
    assert mapped.inputs == ("/data/a", "/data/b")
    assert value(mapped, "beamlineID") == "ID23-1"  # what the metadata file does not say stays
    assert mapped.warnings == []

    # A Sample_name parameter names the sample too, over the <sample> element.
    mapped = map_dataset(
        FOLDER, nexus, icat(sample="insulin", parameters={"Sample_name": "ferritin"})
    )
    assert mapped.sample == "ferritin"
    assert value(mapped, "Sample_name") == "ferritin"
    # Without dates, the file's stay.
    mapped = map_dataset(FOLDER, nexus, icat())
    assert (mapped.start, mapped.end, mapped.sample) == (at(10, 1), at(10, 2, 30), "lysozyme")


def test_icat_parameters_outside_the_definitions_are_kept_with_a_warning():
    parameters = {
        "Beamline_notes": "aligned",
        "my odd/name!": "x",
        "InstrumentSource_current": "lots",
    }
    mapped = map_dataset(None, None, icat(parameters=parameters))
    assert value(mapped, "icat/Beamline_notes") == "aligned"
    assert value(mapped, "icat/my_odd_name_") == "x"
    assert "InstrumentSource_current" not in mapped.parameters
    assert mapped.warnings == [
        "__icat__ parameter 'Beamline_notes' is not in the ESRF definitions; "
        "kept as 'icat/Beamline_notes'",
        "__icat__ parameter 'my odd/name!' is not in the ESRF definitions; "
        "kept as 'icat/my_odd_name_'",
        "parameter InstrumentSource_current: value 'lots' of parameter "
        "'InstrumentSource_current' is not a number; not recorded",
    ]
    # Every kept parameter is one the catalogue accepts.
    ds.check_parameters(builtin_vocabulary(), parameters_of(mapped))


def test_a_complete_metadata_file_finishes_a_dataset(tmp_path):
    path = nx.write_bliss_dataset(tmp_path / "d.h5", scans=2, running_scan=2)
    nexus = read_nexus(path)
    assert not map_dataset(None, nexus, None).finished
    cases = [
        (icat(end="2025-06-01T12:00:00+02:00"), True),
        (icat(), True),  # the finished first scan gives an end
        (icat(complete=False, end="2025-06-01T12:00:00+02:00"), False),
    ]
    for metadata, finished in cases:
        mapped = map_dataset(None, nexus, metadata)
        assert mapped.finished is finished, metadata
        assert (mapped.running is None) is finished
    only_running = nexus_of(Entry("1.1", start_time="2025-06-01T10:00:00+02:00"))
    assert not map_dataset(None, only_running, icat()).finished
    assert map_dataset(None, None, icat()).finished
    bad = map_dataset(None, None, icat(start="soon", end="2025-06-01T12:00:00"))
    assert (bad.start, bad.end) == (None, datetime(2025, 6, 1, 12, tzinfo=UTC))
    assert bad.warnings == [
        "__icat__ startDate: 'soon' is not an ISO 8601 time; ignored",
        "__icat__ endDate: '2025-06-01T12:00:00' has no time zone; read as UTC",
    ]
