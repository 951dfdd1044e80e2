"""Noise levels of ΔF/F traces, as Cascade defines them."""

from __future__ import annotations

import warnings

import numpy as np

#: ROIs per block when computing noise levels, so that memory stays bounded.
_BLOCK = 64


def noise_levels(traces: np.ndarray, frame_rate: float) -> np.ndarray:
    """Cascade noise level of each ROI.

    ``100 * nanmedian(|diff(dff)|) / sqrt(frame_rate)`` with ΔF/F as a
    fraction: comparable across frame rates, about 1-3 for good recordings.
    NaN frames are ignored; an ROI with fewer than two finite neighbouring
    frames gets NaN.

    Parameters
    ----------
    traces
        ΔF/F, ROIs × frames (or one ROI as a 1-D array).
    frame_rate
        Frames per second.

    Returns
    -------
    numpy.ndarray
        One noise level per ROI (a 0-d array for 1-D input).
    """
    if not frame_rate or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a positive number of frames per second, got {frame_rate!r}")
    traces = np.asarray(traces)
    flat = np.atleast_2d(traces)
    out = np.empty(flat.shape[0])
    for start in range(0, flat.shape[0], _BLOCK):
        block = np.asarray(flat[start : start + _BLOCK], dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN ROIs give NaN, as documented
            out[start : start + _BLOCK] = np.nanmedian(np.abs(np.diff(block, axis=-1)), axis=-1)
    out *= 100.0 / np.sqrt(float(frame_rate))
    return out[0] if traces.ndim == 1 else out
