"""The denoising workflow: :func:`denoise`, a TwoPhotonSeries of an NWB file denoised (DeepCAD-RT) and written
as NWB, in place or into a new file, on the guard both workflows share (:mod:`nwb_cascade.nwb.target`)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pynwb.ophys import ImagingPlane, TwoPhotonSeries

from .denoise.apply import denoised_blocks
from .denoise.checkpoint import Denoiser, load_denoiser
from .denoise.movie import frame_range
from .denoise.train import train
from .nwb.denoised import (
    MODULE,
    MODULE_DESCRIPTION,
    choose_two_photon_series,
    close_movie,
    denoised_series,
    frames_of,
    movie_of,
)
from .nwb.extension import DenoisedTwoPhotonSeries
from .nwb.inplace import ensure_free_space
from .nwb.open import open_nwb
from .nwb.read import NWBInputError
from .nwb.session import add_to_module, copy_imaging_plane, new_file_like, remove_groups, write_new_file
from .nwb.sources import resolve
from .nwb.target import AMENDMENT, choose_target, default_output, provenance, refuse_existing, working_copy
from .options import DenoiseOptions, with_overrides


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

    def describe(self) -> str:
        """One line, for the command line."""
        first, last = self.frames
        trained = f", denoiser saved to {self.checkpoint}" if self.trained else f", denoiser {self.checkpoint}"
        return (f"{self.output}: {self.denoised} from {self.series} (frames {first}:{last} of {self.shape[0]}, "
                f"{self.shape[1]}×{self.shape[2]} px{trained}) in {self.seconds:.1f} s")


def denoise(source: str | Path, output: str | Path | None = None, *, in_place: bool = False,
            overwrite: bool = False, options: DenoiseOptions | Denoiser | None = None, **overrides: Any) -> DenoiseSummary:
    """Denoise a TwoPhotonSeries of an NWB file (DeepCAD-RT, self-supervised) and write the denoised movie as NWB.

    Parameters
    ----------
    source
        An NWB file (whatever :func:`nwb_cascade.nwb.open.open_nwb` opens).
    output, in_place
        A new NWB file for the denoised movie (default ``FILE.denoised.nwb``, see
        :func:`nwb_cascade.nwb.target.default_output`), or ``in_place=True`` to add it to ``source``.
    overwrite
        Replace an existing denoised series / output file.
    options, overrides
        :class:`~nwb_cascade.options.DenoiseOptions`, or its fields as keywords: the series, the frames,
        training (``train_frames``, ``steps``, ``patch``), a trained ``denoiser`` to use instead (a
        checkpoint file, or a :class:`~nwb_cascade.denoise.Denoiser` object), where to save the trained
        one (``checkpoint``; default beside the output, ``.denoiser.pt``), ``device``, ``progress``.
    """
    given = overrides.pop("denoiser", None) if isinstance(overrides.get("denoiser"), Denoiser) else None
    options = with_overrides(options, DenoiseOptions, overrides)
    frames, patch = options.frame_range, options.patch_shape
    train_options: dict[str, Any] = {key: value for key, value in (("steps", options.steps), ("patch", patch))
                                     if value is not None}
    model = given if given is not None else options.denoiser
    checkpoint, series, device, progress = options.checkpoint, options.series, options.device, options.progress
    train_frames, batch_size = options.train_frames, options.batch_size
    began = time.perf_counter()
    resolved = resolve(source)
    chosen = choose_target(resolved, output, in_place=in_place, overwrite=overwrite, kind="denoised")
    if chosen.mode == AMENDMENT:
        raise NWBInputError(f"{chosen.path}: a denoised movie is written as an NWB file (a name ending in .nwb), not "
                            "as a LINDI amendment")
    target = chosen.path
    if checkpoint is None and model is None:
        checkpoint = default_output(target, "denoiser", extension=".pt")
    with contextlib.ExitStack() as stack:
        reading = resolved
        if in_place:  # on a working copy that replaces the file when complete
            reading = stack.enter_context(working_copy(resolved, MODULE))
        opened = stack.enter_context(contextlib.ExitStack())
        io, nwbfile = opened.enter_context(open_nwb(reading, "a" if in_place else "r"))
        info = choose_two_photon_series(nwbfile, series)
        if in_place and (existing := refuse_existing(nwbfile, resolved.text, MODULE, [info.name], overwrite, "")):
            opened.close()  # the series it replaces is removed with h5py (its space given back), then read again
            remove_groups(reading.path, MODULE, existing)
            io, nwbfile = opened.enter_context(open_nwb(reading, "a"))
            info = choose_two_photon_series(nwbfile, series)
        movie = movie_of(info.series, resolved.path)  # the source's path: external files are found beside it
        stack.callback(close_movie, movie)
        shape = tuple(int(v) for v in movie.shape)
        start, stop = frame_range(movie.shape[0], frames)
        if in_place:
            ensure_free_space(reading.path.parent, (stop - start) * np.dtype(movie.dtype).itemsize
                              * int(np.prod(movie.shape[1:])), f"the denoised movie in {source}")
        trained = model is None
        if trained:
            denoiser = train(movie, frames=(start, stop), train_frames=train_frames, checkpoint=checkpoint,
                             device=device, progress=progress, **(train_options or {}))
        else:
            denoiser = model if isinstance(model, Denoiser) else load_denoiser(model)
        details = {**provenance(nwbfile, resolved), "source_series_path": info.path}

        def build(name: str, plane: ImagingPlane, link: TwoPhotonSeries | None) -> DenoisedTwoPhotonSeries:
            blocks = denoised_blocks(movie, denoiser, frames=(start, stop), batch_size=batch_size, device=device,
                                     progress=progress)
            return denoised_series(info.series, movie, name, plane, frames_of(blocks, movie.dtype), (start, stop),
                                   denoiser, details, link)

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
