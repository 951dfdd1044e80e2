"""Denoising TwoPhotonSeries of NWB files: finding them, and writing the denoised movie.

The workflow is :func:`nwb_cascade.denoising.denoise_nwb`.  The denoised movie is a
:class:`~nwb_cascade.nwb.extension.DenoisedTwoPhotonSeries`
(a ``TwoPhotonSeries`` with provenance) in the processing module ``denoising``,
on the raw series' imaging plane and timing, named after the raw series' path
(``acquisition/TwoPhotonSeries`` -> ``TwoPhotonSeries``).  It is written frame
block by frame block as the denoiser yields them, in place (on a working copy that
replaces the file when complete, see :mod:`nwb_cascade.nwb.inplace`) or into
a new file that holds the session metadata, the imaging plane and the denoised
movie (not the raw movie, which may be tens of GB).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.data_utils import DataChunkIterator
from pynwb import NWBFile
from pynwb.ophys import ImagingPlane, TwoPhotonSeries

from ..common.version import __version__
from ..denoise.checkpoint import Denoiser
from ..denoise.movie import MovieError, as_movie, to_dtype
from .extension import DenoisedTwoPhotonSeries
from .external import ExternalMovie, external_movie
from .read import NWBInputError
from .session import CHUNK_BYTES

log = logging.getLogger(__name__)

MODULE = "denoising"
MODULE_DESCRIPTION = "Self-supervised denoising of two-photon movies (DeepCAD-RT, nwb-cascade)"
METHOD = "DeepCAD-RT: self-supervised 3D U-Net (16/32/64/128 channels) trained on interlaced frames"


@dataclass
class MovieInfo:
    """A TwoPhotonSeries and where it is in its file."""

    path: str  # e.g. "acquisition/TwoPhotonSeries"
    series: TwoPhotonSeries

    @property
    def name(self) -> str:
        """Name of the denoised series: the path below acquisition / processing, joined by underscores."""
        return "_".join(self.path.split("/")[1:])


def find_two_photon_series(nwbfile: NWBFile) -> list[MovieInfo]:
    """Every TwoPhotonSeries in acquisition and in the processing modules, denoised ones excluded."""
    found = [MovieInfo(f"acquisition/{name}", obj) for name, obj in nwbfile.acquisition.items()
             if isinstance(obj, TwoPhotonSeries)]
    for module_name, module in nwbfile.processing.items():
        found += [MovieInfo(f"processing/{module_name}/{name}", obj) for name, obj in module.data_interfaces.items()
                  if isinstance(obj, TwoPhotonSeries)]
    return [info for info in found if not isinstance(info.series, DenoisedTwoPhotonSeries)]


def choose_two_photon_series(nwbfile: NWBFile, path: str | None = None) -> MovieInfo:
    """The series at ``path``, else the file's only (raw) TwoPhotonSeries."""
    found = find_two_photon_series(nwbfile)
    if path is not None:
        path = path.strip("/")
        for info in found:
            if info.path == path or info.series.name == path:
                return info
        listed = ", ".join(info.path for info in found) or "none"
        raise NWBInputError(f"no TwoPhotonSeries at {path!r}; the file holds: {listed}")
    if not found:
        raise NWBInputError("this file holds no TwoPhotonSeries (raw imaging movie) to denoise")
    if len(found) > 1:
        listed = ", ".join(info.path for info in found)
        raise NWBInputError(f"this file holds {len(found)} TwoPhotonSeries ({listed}); choose one with --series")
    return found[0]


def movie_of(series: TwoPhotonSeries, nwb_path: Path | None) -> Any:
    """The frames of a TwoPhotonSeries, wherever its file keeps them: its ``data`` (HDF5 or Zarr, read
    block by block), or its ``external_file`` (TIFF stacks, raw binaries; found relative to the NWB file at
    ``nwb_path``, None for a remote file) when ``data`` is empty."""
    _refuse_interleaved_planes(series)
    data = series.data
    empty = data is None or (hasattr(data, "shape") and 0 in tuple(data.shape))
    if not empty:
        return as_movie(series)
    if getattr(series, "external_file", None) is not None and len(series.external_file) > 0:
        return as_movie(external_movie(series, nwb_path))
    raise MovieError(f"{series.name} holds no frames (its data is empty) and names no external_file: there is no "
                     "movie to denoise; choose a series that holds one with --series")


def _refuse_interleaved_planes(series: TwoPhotonSeries) -> None:
    """Refuse a series whose frames interleave several planes (its rate an integer multiple >= 2 of its imaging
    plane's rate, as suite2p's export of a multi-plane recording writes it): the denoiser learns from consecutive
    frames of one plane, and neighbouring frames there are other planes."""
    rate = getattr(series, "rate", None)
    plane_rate = getattr(getattr(series, "imaging_plane", None), "imaging_rate", None)
    if not rate or not plane_rate:
        return
    ratio = float(rate) / float(plane_rate)
    if ratio >= 1.5 and abs(ratio - round(ratio)) < 0.01:
        raise MovieError(
            f"{series.name} runs at {float(rate):g} Hz, {round(ratio)} times its imaging plane's {float(plane_rate):g} "
            f"Hz: its frames interleave {round(ratio)} planes (suite2p writes multi-plane movies so), and denoising "
            "them as one movie would mix the planes; denoise each plane's own movie (one TwoPhotonSeries per plane, "
            "e.g. suite2p's planeN/data.bin written as its own series)"
        )


def close_movie(movie: Any) -> None:
    """Close the files of a movie :func:`movie_of` opened outside the NWB file (nothing for ``data``)."""
    if isinstance(movie, ExternalMovie):
        movie.close()


def denoised_series(raw: TwoPhotonSeries, movie: Any, name: str, plane: ImagingPlane, data: Iterator[np.ndarray],
                    frames: tuple[int, int], denoiser: Denoiser, provenance: dict[str, str],
                    link: TwoPhotonSeries | None = None) -> DenoisedTwoPhotonSeries:
    """The denoised series for frames ``[start, stop)`` of ``raw``, whose frames are ``movie``: its data
    written from the frame iterator ``data``."""
    start, stop = frames
    shape = (stop - start, *movie.shape[1:])
    dtype = np.dtype(movie.dtype)
    frame_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    chunk_frames = int(max(1, min(shape[0], CHUNK_BYTES // max(1, frame_bytes))))
    iterator = DataChunkIterator(data=data, maxshape=shape, dtype=dtype, buffer_size=chunk_frames)
    if raw.timestamps is not None:
        timing: dict[str, Any] = {"timestamps": np.asarray(raw.timestamps[start:stop], dtype=np.float64)}
    else:
        rate = float(raw.rate)
        timing = {"rate": rate, "starting_time": float(raw.starting_time or 0.0) + start / rate}
    optional = {key: getattr(raw, key) for key in ("field_of_view", "pmt_gain", "scan_line_rate", "dimension")
                if getattr(raw, key, None) is not None}
    for key in ("field_of_view", "dimension"):
        if key in optional:
            optional[key] = np.asarray(optional[key][:])
    if provenance.get("source_url") is None:
        provenance = {k: v for k, v in provenance.items() if k != "source_url"}
    return DenoisedTwoPhotonSeries(
        name=name,
        imaging_plane=plane,
        data=H5DataIO(iterator, chunks=(chunk_frames, *shape[1:]), compression="gzip", compression_opts=4),
        unit=raw.unit,
        conversion=float(raw.conversion),
        offset=float(getattr(raw, "offset", 0.0) or 0.0),
        description=f"{raw.description or raw.name}, denoised (DeepCAD-RT)",
        comments=f"frames {start}:{stop} of {provenance['source_series_path']}",
        method=METHOD,
        package_version=__version__,
        model_checksum=denoiser.checksum(),
        model_settings=json.dumps(denoiser.settings.to_dict()),
        first_frame=np.int64(start),
        run_time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        source=link,
        **provenance,
        **timing,
        **optional,
    )


def frames_of(blocks: Iterator[tuple[int, np.ndarray]], dtype: np.dtype) -> Iterator[np.ndarray]:
    """Single frames in ``dtype`` from the denoiser's blocks (DataChunkIterator takes one frame at a time)."""
    for _, block in blocks:
        yield from to_dtype(block, dtype)


__all__ = ["MovieInfo", "choose_two_photon_series", "close_movie", "denoised_series", "find_two_photon_series", "frames_of",
           "movie_of"]
