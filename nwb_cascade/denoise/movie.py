"""Movies as the denoiser sees them: any array-like of frames × height × width, read block by block.

Accepted are numpy arrays, h5py datasets, and objects with such a ``.data``
(a pynwb ``TwoPhotonSeries``).  Blocks are read as float32 with NaN pixels
filled; results are written back to the input's dtype without integer
wrap-around.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..common.errors import NWBCascadeError

log = logging.getLogger(__name__)

#: Frames read at once when computing the mean image or loading training frames.
READ_BLOCK_BYTES = 64 << 20
#: Frames the mean image of a movie is computed from, at most (spread over the movie when it is longer).
MEAN_FRAMES = 2000


class MovieError(NWBCascadeError, ValueError):
    """A movie the denoiser cannot use as given, with what to do about it."""


def as_movie(source: Any) -> Any:
    """The frames × height × width array-like behind ``source`` (an array, a dataset, or a series' ``.data``)."""
    movie = source.data if hasattr(source, "data") and not isinstance(source, np.ndarray) else source
    if not hasattr(movie, "shape") or not hasattr(movie, "__getitem__"):
        raise MovieError(f"{type(source).__name__} is not a movie: give an array, an h5py dataset or a TwoPhotonSeries")
    shape = tuple(movie.shape)
    if len(shape) == 2:
        raise MovieError(
            f"this series holds one 2D image of {shape[0]}×{shape[1]} pixels, not a movie; the denoiser learns "
            "from consecutive frames, so it needs frames × height × width data"
        )
    if len(shape) == 4:
        raise MovieError(
            f"this series is volumetric ({'×'.join(map(str, shape))}: frames × height × width × planes); "
            "denoise one plane at a time (e.g. movie[..., plane])"
        )
    if len(shape) != 3:
        raise MovieError(f"a movie must be frames × height × width; this one has shape {shape}")
    if np.dtype(movie.dtype).kind not in "uif":
        raise MovieError(f"movie data of dtype {movie.dtype} cannot be denoised; give integer or float pixels")
    return movie


def frame_range(n_frames: int, frames: slice | tuple[int, int] | None) -> tuple[int, int]:
    """``frames`` (a slice or (start, stop), Python conventions, negative from the end) as checked bounds."""
    if frames is None:
        return 0, n_frames
    if isinstance(frames, tuple):
        frames = slice(*frames)
    for bound in (frames.start, frames.stop):
        if bound is not None and not -n_frames <= bound <= n_frames:
            raise MovieError(f"frames {_text(frames)} reach beyond the movie, which has {n_frames} frames "
                             f"(0:{n_frames}); choose a range inside it")
    start, stop, step = frames.indices(n_frames)
    if step != 1:
        raise MovieError(f"frames must be a contiguous range, not every {step}th frame")
    if stop <= start:
        raise MovieError(f"frames {_text(frames)} select no frame of a movie of {n_frames}")
    return start, stop


def _text(frames: slice) -> str:
    return f"{'' if frames.start is None else frames.start}:{'' if frames.stop is None else frames.stop}"


def block_frames(movie: Any, max_bytes: int = READ_BLOCK_BYTES) -> int:
    """How many frames of ``movie`` fit in ``max_bytes`` as float32 (at least one)."""
    frame_bytes = int(np.prod(movie.shape[1:])) * 4
    return max(1, max_bytes // frame_bytes)


def read_block(movie: Any, start: int, stop: int, fill: float | None = None) -> np.ndarray:
    """Frames ``[start, stop)`` as float32; NaN pixels are set to ``fill`` when given."""
    block = np.asarray(movie[start:stop], dtype=np.float32)
    if fill is not None and block.dtype.kind == "f":
        np.nan_to_num(block, copy=False, nan=fill, posinf=fill, neginf=fill)
    return block


def mean_image(movie: Any, start: int = 0, stop: int | None = None,
               max_frames: int | None = MEAN_FRAMES) -> tuple[np.ndarray, float]:
    """The per-pixel mean of frames ``[start, stop)`` and the fraction of NaN pixels among those read.

    At most ``max_frames`` frames are read (None: all): beyond that, 16 evenly spaced
    blocks of consecutive frames, so a long or remote movie costs one bounded read.
    Pixels that are NaN in every frame read get the mean of the others.
    """
    stop = int(movie.shape[0]) if stop is None else stop
    total = np.zeros(movie.shape[1:], dtype=np.float64)
    count = np.zeros(movie.shape[1:], dtype=np.int64)
    read = 0
    for first, last in _sample_blocks(start, stop, max_frames, block_frames(movie)):
        block = read_block(movie, first, last)
        finite = np.isfinite(block)
        total += np.where(finite, block, 0).sum(axis=0, dtype=np.float64)
        count += finite.sum(axis=0)
        read += block.size
    if not count.any():
        raise MovieError(f"frames {start}:{stop} hold no finite pixel (all NaN); there is nothing to denoise")
    image = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    image[count == 0] = total.sum() / count.sum()
    return image.astype(np.float32), float(1 - count.sum() / read)


def mean_image_frames(start: int, stop: int, n_frames: int) -> tuple[int, int]:
    """The frames the mean image is taken from: the selection, widened to ``MEAN_FRAMES`` around it
    (within the movie) when it is shorter."""
    short = max(0, MEAN_FRAMES - (stop - start))
    first = max(0, min(start - short // 2, n_frames - MEAN_FRAMES))
    return first, min(n_frames, max(stop, first + MEAN_FRAMES))


def _sample_blocks(start: int, stop: int, max_frames: int | None, block: int) -> list[tuple[int, int]]:
    """Ranges of frames to read: all of ``[start, stop)`` in blocks, or 16 evenly spaced blocks of
    ``max_frames / 16`` frames when the range is longer than ``max_frames``."""
    if max_frames is None or stop - start <= max_frames:
        spans = [(start, stop)]
    else:
        size = max(1, max_frames // 16)
        spans = [(int(first), int(first) + size) for first in np.linspace(start, stop - size, 16).round()]
    return [(first, min(last, first + block)) for begin, last in spans for first in range(begin, last, block)]


def check_saturation(movie: Any, block: np.ndarray) -> bool:
    """Warn, and return True, when many pixels of an integer movie's ``block`` sit at the dtype's maximum
    (clipped by the digitiser)."""
    dtype = np.dtype(movie.dtype)
    if dtype.kind not in "ui":
        return False
    saturated = float(np.mean(block >= np.iinfo(dtype).max))
    if saturated > 1e-3:
        log.warning(
            "%.2g%% of the pixels read are at the %s maximum (%d): they are saturated, their true brightness is "
            "unknown, and the denoised values there are underestimates (the output is clipped to the %s range)",
            100 * saturated, dtype, np.iinfo(dtype).max, dtype,
        )
        return True
    return False


def to_dtype(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``block`` in ``dtype``: integers rounded and clipped to the dtype's range (no wrap-around)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(block), info.min, info.max).astype(dtype)
    return block.astype(dtype, copy=False)
