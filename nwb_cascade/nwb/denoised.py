"""Denoising TwoPhotonSeries of NWB files: finding them, and writing the denoised movie.

The denoised movie is a :class:`~nwb_cascade.nwb.extension.DenoisedTwoPhotonSeries`
(a ``TwoPhotonSeries`` with provenance) in the processing module ``denoising``,
on the raw series' imaging plane and timing, named after the raw series' path
(``acquisition/TwoPhotonSeries`` -> ``TwoPhotonSeries``).  It is written frame
block by frame block as the denoiser yields them, in place (on a working copy that
replaces the file when complete, see :mod:`nwb_cascade.nwb.inplace`) or into
a new file that holds the session metadata, the imaging plane and the denoised
movie (not the raw movie, which may be tens of GB).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
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

from .. import __version__
from ..denoise.apply import denoised_blocks
from ..denoise.checkpoint import Denoiser, load_denoiser
from ..denoise.movie import as_movie, frame_range, to_dtype
from ..denoise.train import train
from .extension import DenoisedTwoPhotonSeries
from .inplace import NWBWriteError, amended, ensure_free_space
from .open import open_nwb
from .read import NWBInputError
from .sources import Source, default_output, resolve
from .write import CHUNK_BYTES, add_to_module, copy_imaging_plane, new_file_like, remove_groups, write_new_file

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


@dataclass
class DenoiseSummary:
    """What one run did."""

    output: Path
    series: str
    denoised: str
    frames: tuple[int, int]
    shape: tuple[int, int, int]
    checkpoint: Path | None
    trained: bool
    seconds: float


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


def denoise_nwb(
    source: str | Path,
    *,
    output: str | Path | None = None,
    in_place: bool = False,
    series: str | None = None,
    frames: slice | tuple[int, int] | None = None,
    train_frames: int | None = None,
    model: str | Path | Denoiser | None = None,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    train_options: dict[str, Any] | None = None,
    batch_size: int = 4,
    device: str | None = None,
    progress: bool = False,
) -> DenoiseSummary:
    """Denoise a TwoPhotonSeries of an NWB file and write the denoised movie as NWB.

    Parameters
    ----------
    source
        An NWB file (whatever :func:`nwb_cascade.run.open_nwb` opens).
    output, in_place
        A new NWB file for the denoised movie, or ``in_place=True`` to add it to ``source``.
    series
        Path (or name) of the TwoPhotonSeries; default: the file's only one.
    frames
        The frames to denoise (slice or (start, stop)); default: all.
    train_frames
        Train on at most this many frames from the start of ``frames`` (default 2000).
    model
        A trained denoiser or its checkpoint: skip training.
    checkpoint
        Where to save the trained denoiser; default: beside the output, ``.denoiser.pt``.
    overwrite
        Replace an existing denoised series / output file.
    train_options
        More keyword arguments for :func:`nwb_cascade.denoise.train` (steps, patch...).
    batch_size, device, progress
        Tiles per forward pass, torch device, progress bars.
    """

    began = time.perf_counter()
    if in_place == (output is not None):
        raise NWBInputError("give either an output file or in_place=True (--in-place), not both or neither")
    resolved = resolve(source)
    if in_place and resolved.remote:
        raise NWBInputError(f"{source} is not a local file, so it cannot be changed in place; give --output")
    target = resolved.path if in_place else Path(output)
    if not in_place and target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another output or pass overwrite=True (--overwrite)")
    if checkpoint is None and model is None:
        checkpoint = default_output(target, "denoiser", extension=".pt")
    with contextlib.ExitStack() as stack:
        if in_place:  # on a working copy that replaces the file when complete (nwb/inplace.py)
            resolved = Source(text=resolved.text, path=stack.enter_context(amended(resolved.path)))
            remove_groups(resolved.path, MODULE, [])  # what interrupted runs of earlier versions left half-written
            with open_nwb(resolved, "r") as (_, nwbfile):
                info = choose_two_photon_series(nwbfile, series)
                existing = nwbfile.processing.get(MODULE)
                if existing is not None and info.name in existing.data_interfaces and not overwrite:
                    raise NWBInputError(f"{source} already holds processing/{MODULE}/{info.name}; pass "
                                        "overwrite=True (--overwrite) to replace it")
                start, stop = frame_range(as_movie(info.series).shape[0], frames)
                ensure_free_space(resolved.path.parent, (stop - start) * info.series.data.dtype.itemsize
                                  * int(np.prod(info.series.data.shape[1:])), f"the denoised movie in {source}")
            remove_groups(resolved.path, MODULE, [info.name])
        io, nwbfile = stack.enter_context(open_nwb(resolved, "a" if in_place else "r"))
        info = choose_two_photon_series(nwbfile, series)
        movie = as_movie(info.series)
        shape = tuple(int(v) for v in movie.shape)
        start, stop = frame_range(movie.shape[0], frames)
        trained = model is None
        if trained:
            denoiser = train(movie, frames=(start, stop), train_frames=train_frames, checkpoint=checkpoint,
                             device=device, progress=progress, **(train_options or {}))
        else:
            denoiser = model if isinstance(model, Denoiser) else load_denoiser(model)
        provenance = {
            "source_identifier": nwbfile.identifier, "source_series_path": info.path,
            "source_url": str(Path(source).resolve()) if in_place else resolved.provenance()["source_url"],
        }

        def build(name: str, plane: ImagingPlane, link: TwoPhotonSeries | None) -> DenoisedTwoPhotonSeries:
            blocks = denoised_blocks(movie, denoiser, frames=(start, stop), batch_size=batch_size, device=device,
                                     progress=progress)
            return denoised_series(info.series, name, plane, _frames(blocks, movie.dtype), (start, stop), denoiser,
                                   provenance, link)

        if in_place:
            add_to_module(nwbfile, [build(info.name, info.series.imaging_plane, info.series)], MODULE,
                          MODULE_DESCRIPTION)
            io.write(nwbfile)
        else:
            new = new_file_like(nwbfile)
            plane = copy_imaging_plane(info.series.imaging_plane, new)
            new.create_processing_module(name=MODULE, description=MODULE_DESCRIPTION).add(build(info.name, plane, None))
            write_new_file(new, target)
    return DenoiseSummary(target, info.path, f"processing/{MODULE}/{info.name}", (start, stop),
                          shape, denoiser.path, trained, time.perf_counter() - began)


def denoised_series(raw: TwoPhotonSeries, name: str, plane: ImagingPlane, data: Iterator[np.ndarray],
                    frames: tuple[int, int], denoiser: Denoiser, provenance: dict[str, str],
                    link: TwoPhotonSeries | None = None) -> DenoisedTwoPhotonSeries:
    """The denoised series for frames ``[start, stop)`` of ``raw``: its data written from the frame iterator ``data``."""
    start, stop = frames
    shape = (stop - start, *raw.data.shape[1:])
    dtype = np.dtype(raw.data.dtype)
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
        first_frame=int(start),
        run_time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        source=link,
        **provenance,
        **timing,
        **optional,
    )


def _frames(blocks: Iterator[tuple[int, np.ndarray]], dtype: np.dtype) -> Iterator[np.ndarray]:
    """Single frames in ``dtype`` from the denoiser's blocks (DataChunkIterator takes one frame at a time)."""
    for _, block in blocks:
        yield from to_dtype(block, dtype)


__all__ = ["DenoiseSummary", "MovieInfo", "NWBWriteError", "choose_two_photon_series", "denoise_nwb",
           "denoised_series", "find_two_photon_series"]
