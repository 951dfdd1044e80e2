"""Spike-rate inference: chunked, batched whole-trace evaluation of Cascade ensembles.

Alignment
---------
The published networks were trained on windows of frames ``t - 32 ... t + 31``
(``before = int(before_frac * windowsize)`` frames before ``t``) with the
smoothed spike count of frame ``t`` as the target.  The published ``predict``
writes the output of that window at frame ``t - 1``, one frame early (its
window start offset is ``int(before_frac * windowsize - 1)``).  Here the output
goes to frame ``t``, where training put the target, so ``predict(...)[:, t]``
equals the published ``predict(...)[:, t - 1]``.  On held-out ground truth the
cross-correlation of these outputs with the smoothed true spikes peaks at lag 0
(``tests/cascade/test_alignment.py``).

Frames without a full window around them (the first ``before`` frames and the
last ``windowsize - before - 1``) get the padding value; so do frames whose
window touches a NaN (or infinite) input frame.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from scipy.ndimage import binary_dilation, gaussian_filter1d
from tqdm.auto import tqdm

from ..common.device import resolve_device
from .errors import FrameRateError, InputError, NoiseLevelError, NoiseLevelWarning, OrientationWarning
from .model import CascadeModel
from .noise import noise_levels as measure_noise_levels
from .zoo import load_model

log = logging.getLogger(__name__)

#: Largest relative difference between the data's and the model's frame rate.
FRAME_RATE_TOLERANCE = 0.05
#: Median noise level beyond which traces are taken for raw fluorescence or ΔF/F in percent.
IMPLAUSIBLE_NOISE = 30.0
#: Input frames (ROIs × frames) evaluated together; bounds memory whatever the trace length.
CPU_FRAMES_PER_BATCH = 1 << 15
GPU_FRAMES_PER_BATCH = 1 << 22
#: Longest stretch of output frames computed for one ROI in one go.
CHUNK_FRAMES = 1 << 15


def predict(
    traces: Any,
    model: CascadeModel | str,
    *,
    frame_rate: float | None = None,
    threshold: int | bool | None = 0,
    padding: float = np.nan,
    noise_levels: np.ndarray | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Infer spike rates from ΔF/F traces with a Cascade model.

    Parameters
    ----------
    traces
        ΔF/F as a fraction (not percent), ROIs × frames; a 1-D array is one ROI.
        NaN frames are allowed: only outputs whose window touches them are NaN.
    model
        A :class:`CascadeModel`, or a model name or folder for :func:`load_model`.
    frame_rate
        Frames per second of ``traces``.  Must be within 5% of the model's
        ``sampling_rate``; if omitted, the model's rate is assumed.
    threshold
        ``0`` (default): negative outputs become 0.  ``1``: outputs below the
        height of one smoothed spike divided by e become 0, except next to
        supra-threshold frames, then negatives become 0.  ``False`` (or
        ``None``): the raw network output.
    padding
        Value for frames without a full window (NaN or 0).
    noise_levels
        Per-ROI noise levels, if already measured (see :func:`noise_levels`).
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: CUDA when present.
    progress
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        float32 spike rates in spikes per frame, the shape of ``traces``
        (use :func:`spikes_per_second` for spikes/s).

    Raises
    ------
    InputError
        Traces that are empty of frames, shorter than the model's window, or not numeric.
    FrameRateError
        ``frame_rate`` more than 5% away from the model's.
    NoiseLevelError
        Noise levels far beyond any model (raw fluorescence or percent ΔF/F).
    """
    threshold_mode(threshold)  # a bad value fails before any work
    model = load_model(model)
    rate = check_frame_rate(frame_rate, model)
    data, was_1d = as_traces(traces, model.windowsize)
    n_rois, n_frames = data.shape
    out = np.full((n_rois, n_frames), np.nan, dtype=np.float32)
    if n_rois == 0:
        return out[0] if was_1d else out

    if noise_levels is None:
        noise_levels = measure_noise_levels(data, rate)
    noise_levels = np.atleast_1d(np.asarray(noise_levels, dtype=float))
    if noise_levels.shape != (n_rois,):
        raise InputError(f"noise_levels has shape {noise_levels.shape}; expected one value per ROI ({n_rois},)")
    check_noise_levels(noise_levels, model)
    chosen = model.select_levels(noise_levels)

    torch_device = resolve_device(device)
    batch_frames = GPU_FRAMES_PER_BATCH if torch_device.type == "cuda" else CPU_FRAMES_PER_BATCH
    with tqdm(total=n_rois * n_frames, unit="frame", unit_scale=True, disable=not progress, desc="Cascade") as bar:
        for level in np.unique(chosen[np.isfinite(chosen)]):
            rois = np.flatnonzero(chosen == level)
            ensemble = model.ensemble(int(level), torch_device)
            log.debug("noise level %d: %d ROIs", level, len(rois))
            for batch, start, stop in _tasks(rois, n_frames, model.windowsize, batch_frames):
                _evaluate(ensemble, data, out, batch, start, stop, model, torch_device)
                bar.update(len(batch) * (stop - start))

    apply_threshold(out, threshold, model)
    last = n_frames - model.windowsize + model.before  # the last frame with a full window
    out[:, : model.before] = padding
    out[:, last + 1 :] = padding
    return out[0] if was_1d else out


def spikes_per_second(rates: np.ndarray, frame_rate: float) -> np.ndarray:
    """Convert spike rates in spikes per frame (what :func:`predict` returns) to spikes/s."""
    return np.asarray(rates) * float(frame_rate)


def as_traces(traces: Any, windowsize: int) -> tuple[np.ndarray, bool]:
    """Validate traces and return them as a 2-D float array (ROIs × frames) and whether they were 1-D."""
    array = np.asarray(traces)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"traces must be a numeric array (ROIs × frames), got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise InputError("traces are complex numbers; Cascade needs real ΔF/F values")
    if not np.issubdtype(array.dtype, np.floating):
        warnings.warn(
            f"traces are {array.dtype}, not floating point: ΔF/F is a fraction such as 0.05, and integer data "
            "is usually raw fluorescence. Converting to float32; compute ΔF/F first if these are raw counts.",
            UserWarning,
            stacklevel=3,
        )
        array = array.astype(np.float32)
    was_1d = array.ndim == 1
    if was_1d:
        array = array[None, :]
    if array.ndim != 2:
        raise InputError(f"traces must be 2-D (ROIs × frames) or 1-D (one ROI), got shape {array.shape}")
    n_rois, n_frames = array.shape
    if n_frames < windowsize:
        hint = (
            " The array looks transposed (frames × ROIs): pass traces.T."
            if n_rois >= windowsize
            else ""
        )
        raise InputError(
            f"traces have {n_frames} frames, fewer than the model's window of {windowsize} frames, "
            f"so no spike rate can be inferred.{hint}"
        )
    if n_rois > n_frames:
        warnings.warn(
            f"traces have {n_rois} rows and {n_frames} columns: more ROIs than frames is unusual. Cascade "
            "expects ROIs × frames; if this array is frames × ROIs, pass traces.T.",
            OrientationWarning,
            stacklevel=3,
        )
    return array, was_1d


def check_frame_rate(frame_rate: float | None, model: CascadeModel) -> float:
    """The frame rate to use; refuses one more than 5% away from the model's."""
    if frame_rate is None:
        log.info("no frame rate given: assuming the model's %.4g Hz", model.frame_rate)
        return model.frame_rate
    frame_rate = float(frame_rate)
    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise FrameRateError(f"frame_rate must be a positive number of frames per second, got {frame_rate!r}")
    if abs(frame_rate - model.frame_rate) > FRAME_RATE_TOLERANCE * model.frame_rate:
        raise FrameRateError(
            f"the data's frame rate ({frame_rate:.4g} Hz) is more than 5% away from the rate model "
            f"{model.name!r} was trained for ({model.frame_rate:.4g} Hz). Choose a model trained at "
            f"{frame_rate:.3g} Hz (nwb-cascade models list) or train one for this rate "
            "(nwb-cascade train --match)."
        )
    return frame_rate


def check_noise_levels(noise: np.ndarray, model: CascadeModel) -> None:
    """Refuse implausible noise levels; warn about ROIs noisier than the model covers."""
    finite = noise[np.isfinite(noise)]
    if finite.size == 0:
        return
    highest = float(model.noise_levels.max())
    median = float(np.median(finite))
    if median > max(IMPLAUSIBLE_NOISE, 3 * highest):
        raise NoiseLevelError(
            f"the median noise level of these traces is {median:.4g}, far beyond any Cascade model "
            f"(this one covers up to {highest:g}; good recordings have 1-3). Such values mean the input is "
            "not ΔF/F as a fraction: raw fluorescence (compute ΔF/F = (F - F0) / F0 first) or ΔF/F in "
            "percent (divide by 100)."
        )
    noisy = int(np.sum(finite > highest + 1))
    if noisy:
        warnings.warn(
            f"{noisy} of {noise.size} ROIs have noise levels above {highest + 1:g}, beyond the highest level "
            f"({highest:g}) that model {model.name!r} was trained for; their spike rates are less reliable. "
            "Use a model trained for higher noise or train one (nwb-cascade train --match).",
            NoiseLevelWarning,
            stacklevel=3,
        )


def threshold_mode(threshold: Any) -> str:
    """The threshold mode a value names: ``"0"``, ``"1"`` or ``"off"``.

    ``0`` and ``1`` are compared by identity with the booleans first: in Python ``0 == False``
    and ``0 in (False, None)`` are true, so a test like ``threshold in (False, None, "off")``
    would read the default 0 as "off".
    """
    if threshold is False or threshold is None or (isinstance(threshold, str) and threshold.lower() == "off"):
        return "off"
    if threshold is True:
        return "1"
    if isinstance(threshold, (int, np.integer, str)) and str(threshold) in ("0", "1"):
        return str(threshold)
    if isinstance(threshold, (float, np.floating)) and float(threshold) in (0.0, 1.0):
        return str(int(threshold))
    raise ValueError(f"threshold must be 0, 1 or False ('off'), got {threshold!r}")


def apply_threshold(rates: np.ndarray, threshold: int | bool | str | None, model: CascadeModel) -> None:
    """Apply a threshold mode (0, 1 or off, see :func:`threshold_mode`) to raw network outputs, in place;
    NaNs stay NaN."""
    mode = threshold_mode(threshold)
    if mode == "off":
        return
    if mode == "1":
        floor = single_spike_height(model.smoothing * model.frame_rate) / math.e
        # Published code passes int(smoothing * rate) to scipy's binary_dilation, where 0 means
        # "repeat until nothing changes"; 0 here means no dilation.
        reach = int(model.smoothing * model.frame_rate)
        for row in rates:
            with np.errstate(invalid="ignore"):
                active = row > floor
            if reach > 0:
                active = binary_dilation(active, iterations=reach)
            row[~active & np.isfinite(row)] = 0
    with np.errstate(invalid="ignore"):
        rates[rates < 0] = 0


def single_spike_height(sigma_frames: float) -> float:
    """Peak of one spike smoothed by a Gaussian of ``sigma_frames`` (scipy's discrete kernel)."""
    impulse = np.zeros(1001)
    impulse[500] = 1.0
    return float(gaussian_filter1d(impulse, sigma_frames).max()) if sigma_frames > 0 else 1.0


def _tasks(rois: np.ndarray, n_frames: int, windowsize: int, batch_frames: int) -> Iterator[tuple[np.ndarray, int, int]]:
    """(ROI batch, first window, end window) pieces of work of at most ``batch_frames`` input frames."""
    windows = n_frames - windowsize + 1
    chunk = min(windows, CHUNK_FRAMES)
    per_batch = max(1, batch_frames // (chunk + windowsize - 1))
    for first in range(0, len(rois), per_batch):
        batch = rois[first : first + per_batch]
        for start in range(0, windows, chunk):
            yield batch, start, min(start + chunk, windows)


def _evaluate(
    ensemble: torch.nn.Module,
    data: np.ndarray,
    out: np.ndarray,
    rois: np.ndarray,
    start: int,
    stop: int,
    model: CascadeModel,
    device: torch.device,
) -> None:
    """Outputs of windows ``start..stop-1`` for ``rois``, written to ``out`` at their aligned frames."""
    width = model.windowsize
    x = np.asarray(data[rois, start : stop + width - 1], dtype=np.float32)
    invalid = ~np.isfinite(x)
    if invalid.any():
        x = np.where(invalid, np.float32(0), x)
    y = ensemble(torch.from_numpy(x).to(device)).cpu().numpy()
    if invalid.any():
        # a window touching an invalid frame has no valid output
        counts = np.concatenate([np.zeros((len(rois), 1)), np.cumsum(invalid, axis=1)], axis=1)
        touched = counts[:, width:] - counts[:, :-width] > 0
        y[touched] = np.nan
    out[rois, start + model.before : stop + model.before] = y
