"""The ESRF data policy's directory layout: what a path says about its dataset.

`{root}/{proposal}/{beamline}/{session YYYYMMDD}/RAW_DATA/{collection}/{collection}_{dataset}/`
holds one dataset (and `PROCESSED_DATA` processed ones). The session folder holds the
proposal master file `{proposal}_{beamline}.h5`, each collection folder a collection master
file `{proposal}_{collection}.h5`; both hold only external links. `RAW_DATA/__icat__/*.xml`
are the metadata files written when the catalogue could not be reached. Imports nothing of
the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath

RAW = "RAW_DATA"
PROCESSED = "PROCESSED_DATA"
ICAT_FOLDER = "__icat__"
HDF5_SUFFIXES = (".h5", ".hdf5", ".nxs", ".nx5", ".hdf")
_SESSION = re.compile(r"\d{8}")


@dataclass(frozen=True, slots=True)
class DatasetFolder:
    """A dataset folder and what its place in the tree says."""

    path: str
    proposal: str
    beamline: str
    session: date
    processed: bool
    collection: str
    dataset: str

    @property
    def name(self) -> str:
        """The folder name, `{collection}_{dataset}`: unique within the session's raw data."""
        return PurePosixPath(self.path).name

    @property
    def session_path(self) -> str:
        """The session folder (`.../{proposal}/{beamline}/{YYYYMMDD}`)."""
        return str(PurePosixPath(self.path).parents[2])

    @property
    def main_file(self) -> str:
        """Where the dataset's own HDF5 file is expected (`{collection}_{dataset}.h5`)."""
        return str(PurePosixPath(self.path) / f"{self.name}.h5")


def dataset_folder(path: str) -> DatasetFolder | None:
    """The dataset a folder is, by the ESRF convention; None if the path does not follow it."""
    pure = PurePosixPath(path)
    # The anchor ("/") is no folder of the layout: a relative path of six names is a dataset.
    parts = pure.parts[1:] if pure.anchor else pure.parts
    if len(parts) < 6:
        return None
    proposal, beamline, session, area, collection, folder = parts[-6:]
    if area not in (RAW, PROCESSED) or not _SESSION.fullmatch(session):
        return None
    if collection == ICAT_FOLDER or folder.startswith("."):
        return None
    try:
        day = date(int(session[:4]), int(session[4:6]), int(session[6:]))
    except ValueError:
        return None
    prefix = f"{collection}_"
    dataset = folder[len(prefix) :] if folder.startswith(prefix) else folder
    return DatasetFolder(
        path=str(pure),
        proposal=proposal,
        beamline=beamline,
        session=day,
        processed=area == PROCESSED,
        collection=collection,
        dataset=dataset or folder,
    )


def is_master_file(path: str) -> bool:
    """Whether a file is a proposal or collection master file (links only, not a dataset)."""
    file = PurePosixPath(path)
    if not is_hdf5_name(file.name):
        return False
    # The folders above the file without the anchor ("/"); [-1] is the one that holds it.
    folders = file.parent.parts[1:] if file.anchor else file.parent.parts
    if len(folders) >= 3 and _SESSION.fullmatch(folders[-1]):
        # {proposal}/{beamline}/{session}/{proposal}_{beamline}.h5
        proposal, beamline = folders[-3], folders[-2]
        return file.stem == f"{proposal}_{beamline}"
    if len(folders) >= 5 and folders[-2] in (RAW, PROCESSED) and _SESSION.fullmatch(folders[-3]):
        # {proposal}/{beamline}/{session}/RAW_DATA/{collection}/{proposal}_{collection}.h5
        proposal, collection = folders[-5], folders[-1]
        return file.stem == f"{proposal}_{collection}"
    return False


def is_hdf5_name(name: str) -> bool:
    """Whether a file name has one of the suffixes NeXus/HDF5 files are written with."""
    return name.lower().endswith(HDF5_SUFFIXES)
