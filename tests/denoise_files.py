"""NWB files with a TwoPhotonSeries, written by pynwb, for the denoising tests."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from uuid import uuid4

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject
from pynwb.ophys import ImagingPlane, OpticalChannel, TwoPhotonSeries


def _movie_nwbfile(rate: float) -> tuple[NWBFile, ImagingPlane]:
    """A session with a subject and one imaging plane at ``rate``, ready for a TwoPhotonSeries."""
    nwbfile = NWBFile(session_description="synthetic two-photon movie", identifier=str(uuid4()),
                      session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), lab="test lab")
    nwbfile.subject = Subject(subject_id="m1", species="Mus musculus", age="P60D", sex="F")
    device = nwbfile.create_device(name="Microscope", description="two-photon microscope")
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=[OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0)],
        description="layer 2/3", device=device, excitation_lambda=920.0, imaging_rate=rate, indicator="GCaMP6s",
        location="V1",
    )
    return nwbfile, plane


def _write(nwbfile: NWBFile, path: Path) -> Path:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def write_movie_file(path: Path, movie: np.ndarray, *, rate: float = 30.0, timestamps: bool = False,
                     name: str = "TwoPhotonSeries", chunks: tuple[int, ...] | None = None) -> Path:
    """An NWB file with ``movie`` as ``acquisition/<name>`` on one imaging plane (HDF5 chunks ``chunks``, compressed,
    or contiguous when None)."""
    nwbfile, plane = _movie_nwbfile(rate)
    timing = ({"timestamps": 10.0 + np.arange(len(movie)) / rate} if timestamps
              else {"rate": rate, "starting_time": 10.0})
    if movie.ndim == 3:
        extra = {"dimension": [movie.shape[1], movie.shape[2]]}
    else:
        extra = {}
    data = movie if chunks is None else H5DataIO(movie, chunks=chunks, compression="gzip")
    nwbfile.add_acquisition(TwoPhotonSeries(name=name, data=data, imaging_plane=plane, unit="photons",
                                            field_of_view=[0.2, 0.2], **timing, **extra))
    return _write(nwbfile, path)


def write_external_movie_file(path: Path, external: list[str], *, dimension: list[int] | None, frames: int,
                              rate: float = 30.0) -> Path:
    """An NWB file whose TwoPhotonSeries keeps its movie in ``external`` files (relative to it, NWB's rule)."""
    nwbfile, plane = _movie_nwbfile(rate)
    extra = {"dimension": dimension} if dimension is not None else {}
    nwbfile.add_acquisition(TwoPhotonSeries(name="TwoPhotonSeries", imaging_plane=plane, external_file=external,
                                            starting_frame=[0] * len(external), format="external", rate=rate,
                                            num_samples=frames, unit="n.a.", **extra))
    return _write(nwbfile, path)
