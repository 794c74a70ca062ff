"""The ESRF directory layout (ingest.layout): dataset folders, master files, HDF5 names."""

from __future__ import annotations

from datetime import date

from ingest.layout import DatasetFolder, dataset_folder, is_hdf5_name, is_master_file
from tests import nexus_files as nx

SESSION = "/data/visitor/hg123/id23-1/20250601"


def test_dataset_folders_by_the_esrf_convention():
    cases = {
        f"{SESSION}/RAW_DATA/lysozyme/lysozyme_0001": (
            "hg123", "id23-1", date(2025, 6, 1), False, "lysozyme", "0001",
        ),
        f"{SESSION}/PROCESSED_DATA/lysozyme/lysozyme_0001": (
            "hg123", "id23-1", date(2025, 6, 1), True, "lysozyme", "0001",
        ),
        # A trailing slash changes nothing; the dataset keeps the rest of the folder name.
        f"{SESSION}/RAW_DATA/bsa/bsa_0042_dark/": (
            "hg123", "id23-1", date(2025, 6, 1), False, "bsa", "0042_dark",
        ),
        # A folder not named after its collection is the dataset's name as a whole.
        f"{SESSION}/RAW_DATA/lysozyme/align": (
            "hg123", "id23-1", date(2025, 6, 1), False, "lysozyme", "align",
        ),
        f"{SESSION}/RAW_DATA/lysozyme/lysozyme_": (
            "hg123", "id23-1", date(2025, 6, 1), False, "lysozyme", "lysozyme_",
        ),
        "/ma4567/bm29/20240229/RAW_DATA/buffer/buffer_1": (
            "ma4567", "bm29", date(2024, 2, 29), False, "buffer", "1",
        ),
        # Relative paths of the six names of the layout are datasets too.
        "ma4567/bm29/20240229/RAW_DATA/buffer/buffer_1": (
            "ma4567", "bm29", date(2024, 2, 29), False, "buffer", "1",
        ),
    }  # fmt: skip
    for path, (proposal, beamline, session, processed, collection, dataset) in cases.items():
        found = dataset_folder(path)
        assert found == DatasetFolder(
            path=path.rstrip("/"),
            proposal=proposal,
            beamline=beamline,
            session=session,
            processed=processed,
            collection=collection,
            dataset=dataset,
        ), path


def test_paths_that_are_not_dataset_folders():
    for path in [
        f"{SESSION}/RAW_DATA/lysozyme",  # a collection
        f"{SESSION}/RAW_DATA",
        SESSION,
        f"{SESSION}/RAW_DATA/lysozyme/lysozyme_0001/scan0001",  # below a dataset
        f"{SESSION}/SCRATCH/lysozyme/lysozyme_0001",
        f"{SESSION}/raw_data/lysozyme/lysozyme_0001",
        f"{SESSION}/RAW_DATA/__icat__/lysozyme_0001",
        f"{SESSION}/RAW_DATA/lysozyme/.lysozyme_0001",
        "/data/visitor/hg123/id23-1/2025061/RAW_DATA/lysozyme/lysozyme_0001",  # 7 digits
        "/data/visitor/hg123/id23-1/202506011/RAW_DATA/lysozyme/lysozyme_0001",  # 9 digits
        "/data/visitor/hg123/id23-1/2025O601/RAW_DATA/lysozyme/lysozyme_0001",  # letter O
        "/data/visitor/hg123/id23-1/20251301/RAW_DATA/lysozyme/lysozyme_0001",  # month 13
        "/data/visitor/hg123/id23-1/20250230/RAW_DATA/lysozyme/lysozyme_0001",  # 30 February
        "/data/visitor/hg123/id23-1/session1/RAW_DATA/lysozyme/lysozyme_0001",
        # Too short: a name of the layout is missing.
        "/id23-1/20250601/RAW_DATA/lysozyme/lysozyme_0001",
        "id23-1/20250601/RAW_DATA/lysozyme/lysozyme_0001",
        "20250601/RAW_DATA/lysozyme/lysozyme_0001",
        "RAW_DATA/lysozyme/lysozyme_0001",
        "/",
        "",
    ]:
        assert dataset_folder(path) is None, path


def test_dataset_folder_properties():
    folder = dataset_folder(f"{SESSION}/RAW_DATA/lysozyme/lysozyme_0007")
    assert folder is not None
    assert folder.name == "lysozyme_0007"
    assert folder.session_path == SESSION
    assert folder.main_file == f"{SESSION}/RAW_DATA/lysozyme/lysozyme_0007/lysozyme_0007.h5"


def test_fixture_paths_are_dataset_folders(tmp_path):
    for processed in (False, True):
        file = nx.bliss_dataset_path(
            tmp_path, "ma4567", "bm29", "20250102", "bsa", "0042", processed
        )
        folder = dataset_folder(str(file.parent))
        assert folder is not None
        assert (folder.proposal, folder.beamline, folder.collection, folder.dataset) == (
            "ma4567", "bm29", "bsa", "0042",
        )  # fmt: skip
        assert folder.processed is processed
        assert folder.main_file == str(file)


def test_master_files_of_proposals_and_collections():
    masters = [
        f"{SESSION}/hg123_id23-1.h5",
        f"{SESSION}/RAW_DATA/lysozyme/hg123_lysozyme.h5",
        f"{SESSION}/PROCESSED_DATA/lysozyme/hg123_lysozyme.h5",
        f"{SESSION}/hg123_id23-1.nxs",
        f"{SESSION}/hg123_id23-1.H5",
        "hg123/id23-1/20250601/hg123_id23-1.h5",
        "hg123/id23-1/20250601/RAW_DATA/lysozyme/hg123_lysozyme.h5",
    ]
    for path in masters:
        assert is_master_file(path), path
    not_masters = [
        f"{SESSION}/RAW_DATA/lysozyme/lysozyme_0001/lysozyme_0001.h5",  # a dataset file
        f"{SESSION}/hg123_id23-2.h5",  # another beamline
        f"{SESSION}/ma4567_id23-1.h5",  # another proposal
        f"{SESSION}/hg123_id23-1.txt",
        f"{SESSION}/hg123_id23-1.h5.bak",
        f"{SESSION}/RAW_DATA/lysozyme/hg123_thaumatin.h5",  # another collection
        f"{SESSION}/RAW_DATA/lysozyme/ma4567_lysozyme.h5",
        f"{SESSION}/SCRATCH/lysozyme/hg123_lysozyme.h5",
        "/data/visitor/hg123/id23-1/session/RAW_DATA/lysozyme/hg123_lysozyme.h5",
        "/data/visitor/hg123/id23-1/session/hg123_id23-1.h5",
        # Too short to say: never an error.
        "20250601/hg123_id23-1.h5",
        "/20250601/hg123_id23-1.h5",
        "/id23-1/20250601/hg123_id23-1.h5",
        "RAW_DATA/lysozyme/hg123_lysozyme.h5",
        "/20250601/RAW_DATA/lysozyme/hg123_lysozyme.h5",
        "hg123_id23-1.h5",
        "/hg123_id23-1.h5",
    ]
    for path in not_masters:
        assert not is_master_file(path), path


def test_fixture_master_files_are_recognised(tmp_path):
    files = nx.write_bliss_tree(tmp_path, collections=2, datasets=1, scans=1)
    found = sorted(
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.h5") if is_master_file(str(p))
    )
    assert found == [
        "hg123/id23-1/20250601/RAW_DATA/lysozyme/hg123_lysozyme.h5",
        "hg123/id23-1/20250601/RAW_DATA/thaumatin/hg123_thaumatin.h5",
        "hg123/id23-1/20250601/hg123_id23-1.h5",
    ]
    assert not any(is_master_file(str(file)) for file in files)


def test_hdf5_names():
    for name in ("a.h5", "a.hdf5", "a.nxs", "a.nx5", "a.hdf", "A.H5", "scan.NXS", "x.y.h5"):
        assert is_hdf5_name(name), name
    for name in ("a.h", "a.h55", "a.xml", "h5", "a.h5.part", "a_h5", ""):
        assert not is_hdf5_name(name), name
