"""Denoising a movie with a trained network, tile by tile and frame block by frame block.

The frames are processed in overlapping blocks of one tile's length; each block
in overlapping spatial tiles, a batch of tiles at a time.  Only each tile's
centre part is kept (see :mod:`.tiles`), so the result has no seams.  Memory
holds one frame block (tile frames × height × width) and one batch of tiles,
never the movie: :func:`denoised_blocks` yields the result block by block,
:func:`apply` collects it or writes it into an array the caller gives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..common.device import resolve_device
from .checkpoint import Denoiser, load_denoiser
from .movie import (
    MovieError,
    as_movie,
    check_saturation,
    frame_range,
    mean_image,
    mean_image_frames,
    read_block,
    to_dtype,
)
from .network import memory_format
from .tiles import padded, plane_tiles, spans, tile_size

log = logging.getLogger(__name__)

#: Fraction of a tile that neighbouring tiles share.
OVERLAP = 0.25
#: Tiles are this many times the training patch along each axis: the network is fully convolutional, and
#: larger tiles put a smaller share of the output near a tile's zero-padded border (and cost less overlap).
TILE_FACTOR = 2


def apply(
    movie: Any,
    denoiser: Denoiser | str | Path,
    *,
    frames: slice | tuple[int, int] | None = None,
    out: Any = None,
    dtype: np.dtype | str | None = None,
    tile: tuple[int, int, int] | None = None,
    overlap: float = OVERLAP,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Any:
    """Denoise ``frames`` of ``movie``.

    The network sees the movie minus its mean image, over the checkpoint's scale; both are
    restored in the result.  The mean image is the movie's own, from the selected frames
    (widened to :data:`~.movie.MEAN_FRAMES` around a shorter selection; see
    :func:`~.movie.mean_image`), so a checkpoint serves other sessions of a preparation too.

    Parameters
    ----------
    movie
        Frames × height × width: a numpy array, an h5py dataset or a ``TwoPhotonSeries``.
    denoiser
        A trained :class:`Denoiser` or the path of its checkpoint.
    frames
        The frames to denoise (a slice or (start, stop)); default: all.
    out
        Where to write the result (anything that takes ``out[a:b] = block``, e.g. an
        h5py dataset) of shape (selected frames, height, width); default: a new array.
    dtype
        Output dtype; default: the movie's.  Integers are rounded and clipped to the
        dtype's range; pixels that are NaN in a float movie stay NaN.
    tile
        Tile size (frames, height, width), multiples of 8; default: twice the training patch.
        Memory holds one block of ``tile[0]`` frames and ``batch_size`` tiles.
    overlap, batch_size, device, progress
        Tile overlap (fraction), tiles per forward pass, torch device (default: CUDA
        when present), progress bar.

    Returns
    -------
    ``out``, or a new numpy array.
    """
    movie = as_movie(movie)
    start, stop = frame_range(movie.shape[0], frames)
    dtype = np.dtype(dtype or movie.dtype)
    if out is None:
        out = np.empty((stop - start, *movie.shape[1:]), dtype=dtype)
    elif tuple(out.shape) != (stop - start, *movie.shape[1:]):
        raise MovieError(f"out has shape {tuple(out.shape)}, not {(stop - start, *movie.shape[1:])}")
    for first, block in denoised_blocks(movie, denoiser, frames=(start, stop), tile=tile, overlap=overlap,
                                        batch_size=batch_size, device=device, progress=progress):
        out[first:first + len(block)] = to_dtype(block, dtype)
    return out


def denoised_blocks(
    movie: Any,
    denoiser: Denoiser | str | Path,
    *,
    frames: slice | tuple[int, int] | None = None,
    tile: tuple[int, int, int] | None = None,
    overlap: float = OVERLAP,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """The denoised movie as consecutive float32 blocks ``(first frame, block)``, counted from the first
    selected frame.  See :func:`apply` for the parameters."""
    movie = as_movie(movie)
    if not isinstance(denoiser, Denoiser):
        denoiser = load_denoiser(denoiser)
    settings = denoiser.settings
    start, stop = frame_range(movie.shape[0], frames)
    n_frames, height, width = stop - start, int(movie.shape[1]), int(movie.shape[2])
    multiple = denoiser.network.multiple
    if n_frames < 2:
        raise MovieError("denoising needs at least 2 consecutive frames; one frame holds no temporal information")
    wanted = tuple(int(v) for v in tile) if tile is not None else tuple(TILE_FACTOR * v for v in settings.patch)
    if len(wanted) != 3 or any(v <= 0 or v % multiple for v in wanted):
        raise ValueError(f"tile must be (frames, height, width), each a positive multiple of {multiple}; not {wanted}")
    tile = (tile_size(n_frames, wanted[0], multiple), tile_size(height, wanted[1], multiple),
            tile_size(width, wanted[2], multiple))
    if any(have < patch for have, patch in zip(tile, settings.patch)):
        log.info("the movie (%d frames of %d×%d px) is smaller than the trained patch %s: tiles of %s, "
                 "padded by reflection", n_frames, height, width, settings.patch, tile)
    mean = mean_image(movie, *mean_image_frames(start, stop, int(movie.shape[0])))[0]
    target_device = resolve_device(device)
    network = denoiser.network.to(target_device, memory_format=memory_format(target_device)).eval()
    time_spans = spans(max(n_frames, tile[0]), tile[0], overlap)
    planes = list(plane_tiles(max(height, tile[1]), max(width, tile[2]), tile[1:], overlap))
    warned = False
    with tqdm(total=n_frames, desc="denoising", unit="frame", disable=not progress) as bar:
        for span in time_spans:
            keep_stop = min(span.keep_stop, n_frames)
            if keep_stop <= span.keep_start:
                continue
            raw = read_block(movie, start + span.start, start + min(span.start + span.size, n_frames))
            missing = np.isnan(raw)
            warned = warned or check_saturation(movie, raw)  # once per movie
            block = padded(np.where(missing, 0, raw - mean) / np.float32(settings.scale),
                           (tile[0], max(height, tile[1]), max(width, tile[2])))
            result = _denoise_block(network, block, planes, batch_size, target_device)
            kept = span.keep.start, span.keep.start + keep_stop - span.keep_start
            result = result[kept[0]:kept[1], :height, :width] * np.float32(settings.scale) + mean
            if missing.any():
                result[missing[kept[0]:kept[1]]] = np.nan
            yield span.keep_start, result
            bar.update(keep_stop - span.keep_start)


def _denoise_block(network: torch.nn.Module, block: np.ndarray, planes: list, batch_size: int,
                   device: torch.device) -> np.ndarray:
    """One normalised frame block through the network, tile batch by tile batch, centres stitched."""
    result = np.empty_like(block)
    for first in range(0, len(planes), batch_size):
        chosen = planes[first:first + batch_size]
        tiles = np.stack([block[:, rows.read, cols.read] for rows, cols in chosen])[:, None]
        with torch.inference_mode():
            inputs = torch.from_numpy(tiles).to(device).contiguous(memory_format=memory_format(device))
            output = network(inputs).cpu().numpy()[:, 0]
        for (rows, cols), tile in zip(chosen, output):
            result[:, rows.target, cols.target] = tile[:, rows.keep, cols.keep]
    return result
