"""ΔF/F from raw fluorescence, for files that hold only fluorescence (suite2p's and NeuroConv's exports).

The recipe (:class:`DffRecipe`), with the conventions it follows:

1. **Neuropil subtraction**: ``F_c = F - c * F_neu`` with ``c = 0.7``, suite2p's default
   ``neucoeff`` and the ratio with which the Cascade ground truth itself was corrected
   (Rupprecht et al. 2021, Methods: "neuropil contamination ratio, 0.7").  Without a neuropil
   series ``F_c = F``.
2. **Baseline** ``F0``: suite2p's ``maximin`` baseline (``suite2p.extraction.dcnv.preprocess``
   with ``baseline='maximin'``, ``sig_baseline=10`` frames, ``win_baseline=60`` s): ``F_c``
   smoothed with a Gaussian of σ = 10 frames, then a running minimum and a running maximum,
   each over 60 s.  It follows slow drifts and sits on the quiet stretches between
   transients, as the running low-percentile baselines of the ground truth do, in linear time.
3. ``ΔF/F = (F_c - F0) / F0``, as a fraction.

Frames where every ROI's fluorescence is exactly 0 are padding (suite2p's export pads shorter
planes with zeros) and become NaN.  A ROI whose baseline is not positive somewhere (a dim ROI
whose neuropil outshines it) has no meaningful ΔF/F: it becomes NaN, with a warning.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

from .errors import InputError

log = logging.getLogger(__name__)

REFERENCE = ("suite2p maximin baseline (suite2p.extraction.dcnv.preprocess: baseline='maximin', sig_baseline, "
             "win_baseline); neuropil ratio 0.7 as in suite2p's neucoeff and the Cascade ground truth "
             "(Rupprecht et al. 2021, Methods)")


class BaselineWarning(UserWarning):
    """ROIs whose fluorescence baseline is not positive: their ΔF/F is left out (NaN)."""


@dataclass(frozen=True)
class DffRecipe:
    """How ΔF/F is computed from fluorescence (see the module docstring).

    Attributes
    ----------
    neuropil_coefficient
        ``c`` in ``F - c * F_neu``.
    window
        Seconds of the running minimum and maximum of the baseline.
    sigma
        Frames: σ of the Gaussian smoothing before the running minimum.
    """

    neuropil_coefficient: float = 0.7
    window: float = 60.0
    sigma: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.neuropil_coefficient <= 1.5:
            raise InputError(f"neuropil coefficient {self.neuropil_coefficient} is outside 0-1.5 (suite2p's is 0.7)")
        if not self.window > 0 or not self.sigma >= 0:
            raise InputError(f"baseline window must be > 0 s and sigma >= 0 frames, got {self.window}, {self.sigma}")

    def describe(self, neuropil: bool) -> dict:
        """The recipe as it was applied, for the output's provenance."""
        return {"method": "(F - c * Fneu - F0) / F0" if neuropil else "(F - F0) / F0",
                **asdict(self), "neuropil_subtracted": neuropil, "baseline": "maximin", "reference": REFERENCE}


def delta_f_over_f(fluorescence: np.ndarray, neuropil: np.ndarray | None = None, *, frame_rate: float,
                   recipe: DffRecipe = DffRecipe()) -> np.ndarray:
    """ΔF/F (ROIs × frames, float32) from raw fluorescence and, optionally, the neuropil around each ROI.

    Raises
    ------
    InputError
        Shapes that differ, or values that are not raw fluorescence (most ROIs without a
        positive baseline: ΔF/F or baseline-subtracted traces already).
    """
    corrected = np.array(fluorescence, dtype=np.float32, ndmin=2)
    if neuropil is not None:
        neuropil = np.array(neuropil, dtype=np.float32, ndmin=2)
        if neuropil.shape != corrected.shape:
            raise InputError(f"neuropil traces have shape {neuropil.shape}, the fluorescence {corrected.shape}")
        corrected -= np.float32(recipe.neuropil_coefficient) * neuropil
    padding = np.all(np.array(fluorescence, ndmin=2) == 0, axis=0)
    missing = padding[None, :] | ~np.isfinite(corrected)
    if padding.any():
        log.info("%d frame(s) where every ROI's fluorescence is 0 (padding) are left out", int(padding.sum()))
    baseline = maximin_baseline(corrected, missing, frame_rate, recipe)
    bad = ~(np.nanmin(np.where(missing, np.nan, baseline), axis=1) > 0)
    if bad.sum() > corrected.shape[0] / 2:
        raise InputError(
            f"{int(bad.sum())} of {corrected.shape[0]} ROIs have no positive fluorescence baseline, so these values "
            "are not raw fluorescence (ΔF/F or baseline-subtracted traces already?); give them as ΔF/F, or "
            + ("lower the neuropil coefficient" if neuropil is not None else "check the series")
        )
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} of {corrected.shape[0]} ROIs (indices {np.flatnonzero(bad)[:10].tolist()}"
            f"{'...' if bad.sum() > 10 else ''}) have a fluorescence baseline that is not positive after neuropil "
            f"subtraction (c = {recipe.neuropil_coefficient}); their ΔF/F is left out (NaN). A lower neuropil "
            "coefficient keeps them.",
            BaselineWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        dff = (corrected - baseline) / baseline
    dff[missing] = np.nan
    dff[bad] = np.nan
    return dff.astype(np.float32, copy=False)


def maximin_baseline(traces: np.ndarray, missing: np.ndarray, frame_rate: float, recipe: DffRecipe) -> np.ndarray:
    """The maximin baseline of each row: Gaussian (σ frames), running minimum, then running maximum (window s).

    Missing frames are filled from their neighbours first so that they neither pull the
    baseline down nor spread NaN.
    """
    filled = np.array(traces, dtype=np.float32)
    frames = np.arange(filled.shape[1])
    for row, gaps in zip(filled, missing):
        if gaps.any() and not gaps.all():
            row[gaps] = np.interp(frames[gaps], frames[~gaps], row[~gaps])
    width = max(1, int(round(recipe.window * frame_rate)))
    smoothed = gaussian_filter1d(filled, recipe.sigma, axis=1, mode="nearest") if recipe.sigma > 0 else filled
    return maximum_filter1d(minimum_filter1d(smoothed, width, axis=1, mode="nearest"), width, axis=1, mode="nearest")
