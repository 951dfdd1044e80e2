"""Values no recording can give: found, and turned into missing frames, before anything is computed from them.

A value is impossible when it is infinite, or when it lies four orders of magnitude (``FACTOR``)
beyond the typical deviation of its ROI's values from their median.  The typical deviation is the
median absolute deviation (MAD), robust to up to half the values being wrong; for ROIs whose values
are mostly one number (MAD 0), a tenth of their 1st-99th percentile range, else a thousandth of their
median (and at least 1e-6).  Over the Cascade ground truth (29 datasets, every
recording) the largest value lies at most 258 MADs from its ROI's median, and at most 100 in the Allen
excerpt: a factor of 10,000 leaves 40 times that margin, and still catches a frame of 1e30 (or
65535 in a ROI of values near 0.1).  NaN stays what it is: a frame known to be missing.
"""

from __future__ import annotations

import warnings

import numpy as np

#: How many typical deviations from the median a value may lie before no recording can have given it.
FACTOR = 1e4
#: ROIs per block, so that memory stays bounded.
_BLOCK = 64


def impossible_values(traces: np.ndarray) -> np.ndarray:
    """A boolean mask (the shape of ``traces``, ROIs × frames) of the values no recording gives (see the
    module docstring)."""
    traces = np.atleast_2d(np.asarray(traces))
    mask = np.isinf(traces)
    for start in range(0, traces.shape[0], _BLOCK):
        block = np.asarray(traces[start:start + _BLOCK], dtype=np.result_type(traces.dtype, np.float32))
        finite = np.isfinite(block)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN ROIs: nothing to flag
            if finite.all():  # the usual case, and the fast one
                median = np.median(block, axis=1, keepdims=True)
                deviation = np.abs(block - median)
                spread = np.median(deviation, axis=1, keepdims=True)
            else:
                block = np.where(finite, block, np.nan)
                median = np.nanmedian(block, axis=1, keepdims=True)
                deviation = np.abs(block - median)
                spread = np.nanmedian(deviation, axis=1, keepdims=True)
            flat = ~(spread[:, 0] > 0)  # ROIs of mostly one value (or none)
            if flat.any():
                low, high = np.nanpercentile(block[flat], [1, 99], axis=1)
                spread[flat, 0] = (high - low) / 10
                spread = np.where(spread > 0, spread, np.fmax(1e-3 * np.abs(median), 1e-6))
        with np.errstate(invalid="ignore"):
            mask[start:start + _BLOCK] |= deviation > FACTOR * spread
    return mask
