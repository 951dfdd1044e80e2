"""Discrete spikes: integer spike positions whose smoothed sum explains a spike-rate trace.

The objective is the published one: the L1 distance between the rate trace
(spikes per frame) and the sum of unit spikes smoothed by a Gaussian of
σ = smoothing × frame rate frames, fitted segment by segment over the
"supported" stretches of the trace (rate above 0.03/σ, dilated by 4σ).

The search is different.  The published procedure samples spikes at random
and tries every spike at every position of its segment against a
segment-length-squared matrix.  Here everything is local and deterministic:

1. greedy placement: as many spikes as the segment's summed rate (rounded),
   each where adding one lowers the L1 error most (the error change of
   adding a spike at every frame is kept in a min-tree; a placement updates
   only the frames its kernel reaches);
2. moves: each spike goes to the best frame within one kernel width;
3. jumps: the spike whose removal costs least goes to the frame where a
   spike helps most, when that lowers the error;

repeating 2-3 until nothing changes.  Every step costs what the kernels
involved touch (plus a tree look-up), so an hour of dense firing takes
seconds.  The fit is never worse than the greedy placement, and the result
does not depend on a seed, on the number of workers, or on which ROIs are
processed together.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numba import njit
from scipy.ndimage import binary_dilation, find_objects, label
from tqdm.auto import tqdm

from .errors import InputError

#: Rounds of (moves, jumps) after the greedy placement, at most.
MAX_ROUNDS = 20


def gaussian_kernel(sigma: float) -> np.ndarray:
    """One smoothed unit spike: scipy's discrete Gaussian of ``sigma`` frames (radius 4σ)."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def supported_segments(rate: np.ndarray, sigma: float) -> list[slice]:
    """Stretches of ``rate`` that may hold spikes: above 0.03/σ, dilated by a 4σ-wide element."""
    if rate.size == 0:
        return []
    support = np.nan_to_num(rate, nan=0.0) > 0.03 / sigma
    width = max(1, round(4 * sigma))
    support = binary_dilation(support, structure=np.ones(width, dtype=bool))
    support &= np.isfinite(rate)
    return [found[0] for found in find_objects(label(support)[0]) if found is not None]


def settings_of(model_or_settings: Any, frame_rate: float | None) -> tuple[float, float]:
    """(smoothing in s, frame rate in Hz) from a CascadeModel, a config dict, or a smoothing in s."""
    if hasattr(model_or_settings, "config"):
        config = model_or_settings.config
    elif isinstance(model_or_settings, dict):
        config = model_or_settings
    else:
        config = {"smoothing": float(model_or_settings)}
    smoothing = float(config["smoothing"])
    rate = frame_rate if frame_rate is not None else config.get("sampling_rate")
    if rate is None:
        raise InputError("discrete_spikes needs the frame rate: pass frame_rate= or a model/config with sampling_rate")
    if smoothing <= 0 or float(rate) <= 0:
        raise InputError(f"smoothing ({smoothing}) and frame rate ({rate}) must be positive")
    return smoothing, float(rate)


def discrete_spikes(
    rates: Any,
    model_or_settings: Any,
    *,
    frame_rate: float | None = None,
    seed: int = 0,
    progress: bool = False,
    workers: int | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Integer spike frames that explain inferred spike rates.

    Parameters
    ----------
    rates
        Spike rates in spikes per frame (what :func:`predict` returns), ROIs × frames
        or one ROI as a 1-D array.  NaN frames (padding) hold no spikes.
    model_or_settings
        The :class:`CascadeModel` that produced the rates, its config dict, or the
        smoothing σ in seconds.
    frame_rate
        Frames per second; default: the model's ``sampling_rate``.
    seed
        Accepted for compatibility with the published, random procedure; this
        search is deterministic, so the result is the same for every seed.
    progress
        Show a progress bar over ROIs.
    workers
        Threads for ROIs processed in parallel (default: the CPU count).

    Returns
    -------
    spike_frames : list of numpy.ndarray
        Per ROI, sorted int64 frame indices; a frame appears twice for two spikes.
    approximation : numpy.ndarray
        ROIs × frames: the fitted sum of smoothed spikes (NaN where ``rates`` is NaN).
    """
    del seed  # deterministic search: kept in the signature only
    smoothing, rate = settings_of(model_or_settings, frame_rate)
    array = np.asarray(rates, dtype=np.float64)
    was_1d = array.ndim == 1
    array = np.atleast_2d(array)
    if array.ndim != 2:
        raise InputError(f"rates must be ROIs × frames or one ROI, got shape {np.shape(rates)}")
    if (array < 0).any():
        warnings.warn(
            "rates hold negative values (threshold=False output?); they cannot be explained by spikes and "
            "count as 0. Use predict(..., threshold=0).",
            UserWarning,
            stacklevel=2,
        )
    sigma = smoothing * rate
    kernel = gaussian_kernel(sigma)
    approximation = np.where(np.isfinite(array), 0.0, np.nan)
    spike_frames: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(array)

    def one(index: int) -> None:
        row = np.clip(np.nan_to_num(array[index], nan=0.0), 0, None)
        found = []
        for segment in supported_segments(array[index], sigma):
            spikes, fitted = _fit_segment(row[segment], kernel)
            found.append(spikes + segment.start)
            approximation[index, segment] = fitted
        spike_frames[index] = np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

    workers = workers or min(len(array), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(array), unit="ROI", disable=not progress, desc="discrete spikes"
    ) as bar:
        for _ in pool.map(one, range(len(array))):
            bar.update()
    return (spike_frames[0], approximation[0]) if was_1d else (spike_frames, approximation)


def spike_times(spike_frames: np.ndarray, *, timestamps: np.ndarray | None = None, rate: float | None = None,
                starting_time: float = 0.0) -> np.ndarray:
    """Frame indices to times in seconds, from the series' timestamps or from its rate and start.

    A frame holds the spikes of one frame interval, in an order nobody knows: ``k`` spikes in one frame
    get times spread evenly over that frame's interval, centred on the frame's time
    (``t + (j + 1/2) / k × Δt - Δt / 2`` for j = 0 ... k-1; one spike: the frame's time), so that no
    unit has two spikes at one instant.  ``spike_frames`` must be sorted (as :func:`discrete_spikes`
    gives them).
    """
    frames = np.asarray(spike_frames, dtype=np.int64)
    if timestamps is not None:
        stamps = np.asarray(timestamps, dtype=float)
        times = stamps[frames]
        interval = np.median(np.diff(stamps)) if stamps.size > 1 else 0.0
    else:
        if rate is None or rate <= 0:
            raise InputError("spike_times needs the series' timestamps or its (positive) frame rate")
        times = starting_time + frames / float(rate)
        interval = 1.0 / float(rate)
    if frames.size > 1 and np.any(frames[1:] == frames[:-1]):
        first = np.r_[True, frames[1:] != frames[:-1]]
        start = np.flatnonzero(first)
        counts = np.diff(np.r_[start, frames.size])
        rank = np.arange(frames.size) - np.repeat(start, counts)
        share = np.repeat(counts, counts)
        times = times + ((rank + 0.5) / share - 0.5) * interval
    return times


def l1_error(rate: np.ndarray, approximation: np.ndarray) -> float:
    """The objective: summed absolute difference over finite frames."""
    ok = np.isfinite(rate) & np.isfinite(approximation)
    return float(np.abs(np.clip(rate[ok], 0, None) - approximation[ok]).sum())


def _fit_segment(target: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    target = np.ascontiguousarray(target, dtype=np.float64)
    spikes, residual = _search(target, kernel, MAX_ROUNDS, True)
    return spikes, target - residual


# ---------------------------------------------------------------------------------------------
# The numba core.  ``residual`` = target - approximation throughout; a spike at p subtracts
# kernel[j - p + radius] from residual[j] for |j - p| <= radius (truncated at the segment edges).


@njit(cache=True, nogil=True)
def _add_gain(residual: np.ndarray, kernel: np.ndarray, p: int, sign: float) -> float:
    """Change of the L1 error if a spike at p is added (sign=1) or removed (sign=-1)."""
    radius = kernel.size // 2
    n = residual.size
    change = 0.0
    for j in range(max(0, p - radius), min(n, p + radius + 1)):
        r = residual[j]
        change += abs(r - sign * kernel[j - p + radius]) - abs(r)
    return change


@njit(cache=True, nogil=True)
def _apply(residual: np.ndarray, kernel: np.ndarray, p: int, sign: float) -> None:
    radius = kernel.size // 2
    for j in range(max(0, p - radius), min(residual.size, p + radius + 1)):
        residual[j] -= sign * kernel[j - p + radius]


@njit(cache=True, nogil=True)
def _move_gain(residual: np.ndarray, kernel: np.ndarray, p: int, q: int) -> float:
    """Change of the L1 error if the spike at p moves to q."""
    radius = kernel.size // 2
    n = residual.size
    lo = max(0, min(p, q) - radius)
    hi = min(n, max(p, q) + radius + 1)
    change = 0.0
    for j in range(lo, hi):
        r = residual[j]
        new = r
        if abs(j - p) <= radius:
            new += kernel[j - p + radius]
        if abs(j - q) <= radius:
            new -= kernel[j - q + radius]
        change += abs(new) - abs(r)
    return change


@njit(cache=True, nogil=True)
def _tree_update(tree: np.ndarray, size: int, i: int, value: float) -> None:
    k = i + size
    tree[k] = value
    k //= 2
    while k >= 1:
        a = tree[2 * k]
        b = tree[2 * k + 1]
        tree[k] = min(a, b)
        k //= 2


@njit(cache=True, nogil=True)
def _tree_argmin(tree: np.ndarray, size: int) -> int:
    k = 1
    while k < size:
        k = 2 * k if tree[2 * k] <= tree[2 * k + 1] else 2 * k + 1
    return k - size


@njit(cache=True, nogil=True)
def _refresh(tree: np.ndarray, size: int, residual: np.ndarray, kernel: np.ndarray, p: int) -> None:
    """Recompute the add gains that a change of the residual around p affects."""
    radius = kernel.size // 2
    for q in range(max(0, p - 2 * radius), min(residual.size, p + 2 * radius + 1)):
        _tree_update(tree, size, q, _add_gain(residual, kernel, q, 1.0))


@njit(cache=True, nogil=True)
def _relocate(residual: np.ndarray, kernel: np.ndarray, counts: np.ndarray, tree: np.ndarray, size: int,
              p: int, q: int) -> None:
    """Move one spike from frame p to frame q, keeping the residual and the gain tree current."""
    _apply(residual, kernel, p, -1.0)
    _apply(residual, kernel, q, 1.0)
    counts[p] -= 1
    counts[q] += 1
    _refresh(tree, size, residual, kernel, p)
    _refresh(tree, size, residual, kernel, q)


@njit(cache=True, nogil=True)
def _search(target: np.ndarray, kernel: np.ndarray, rounds: int, local: bool) -> tuple[np.ndarray, np.ndarray]:
    """Place round(sum(target)) spikes greedily, then (if ``local``) improve by moves and jumps."""
    n = target.size
    radius = kernel.size // 2
    residual = target.copy()
    counts = np.zeros(n, dtype=np.int64)
    size = 1
    while size < n:
        size *= 2
    tree = np.full(2 * size, np.inf)  # min-tree of the error change of adding one spike at each frame
    for p in range(n):
        tree[p + size] = _add_gain(residual, kernel, p, 1.0)
    for k in range(size - 1, 0, -1):
        tree[k] = min(tree[2 * k], tree[2 * k + 1])

    # greedy placement: as many spikes as the segment's summed rate, each where it helps most
    for _ in range(int(np.floor(target.sum() + 0.5))):
        p = _tree_argmin(tree, size)
        _apply(residual, kernel, p, 1.0)
        counts[p] += 1
        _refresh(tree, size, residual, kernel, p)

    for _ in range(rounds if local else 0):
        changes = 0
        # moves: each spike to the best frame within one kernel width
        for p in range(n):
            while counts[p] > 0:
                best, best_q = -1e-12, -1
                for q in range(max(0, p - kernel.size), min(n, p + kernel.size + 1)):
                    if q != p:
                        gain = _move_gain(residual, kernel, p, q)
                        if gain < best:
                            best, best_q = gain, q
                if best_q < 0:
                    break
                _relocate(residual, kernel, counts, tree, size, p, best_q)
                changes += 1
        # jumps: a spike whose removal costs least goes where adding one helps most, far away
        for p in range(n):
            while counts[p] > 0:
                q = _tree_argmin(tree, size)
                if abs(q - p) <= 2 * radius or _add_gain(residual, kernel, p, -1.0) + tree[q + size] >= -1e-12:
                    break
                _relocate(residual, kernel, counts, tree, size, p, q)
                changes += 1
        if changes == 0:
            break
    return np.repeat(np.arange(n), counts), residual


def greedy_only(target: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The greedy initial placement alone (for comparisons): spikes and fitted trace of one segment."""
    target = np.ascontiguousarray(target, dtype=np.float64)
    spikes, residual = _search(target, kernel, 0, False)
    return spikes, target - residual
