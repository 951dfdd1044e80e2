"""How good inferred spikes are: the paper's metrics and spike-time precision.

Correlation, error and bias compare a predicted rate trace with the true
spikes smoothed by the same kernel (Rupprecht et al. 2021): error is the
summed absolute residual and bias the summed difference, both normalised by
the summed true spikes.  Spike-time precision matches discrete spikes to true
spikes one to one within a tolerance of frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


@dataclass(frozen=True)
class RateScores:
    """The paper's measures of one prediction."""

    correlation: float
    error: float
    bias: float


def rate_scores(predicted: np.ndarray, true_counts: np.ndarray, sigma_frames: float) -> RateScores:
    """Correlation, error and bias of a rate trace against true spike counts per frame.

    Frames where ``predicted`` is NaN (padding) are left out.
    """
    predicted = np.asarray(predicted, dtype=float)
    truth = gaussian_filter1d(np.asarray(true_counts, dtype=float), sigma_frames, mode="constant")
    ok = np.isfinite(predicted)
    p, t = predicted[ok], truth[ok]
    total = t.sum()
    correlation = float(np.corrcoef(p, t)[0, 1]) if p.std() > 0 and t.std() > 0 else float("nan")
    if total <= 0:
        return RateScores(correlation, float("nan"), float("nan"))
    return RateScores(correlation, float(np.abs(p - t).sum() / total), float((p.sum() - total) / total))


@dataclass(frozen=True)
class SpikeMatch:
    """Spike-time precision of discrete spikes against true spikes."""

    true_spikes: int
    inferred_spikes: int
    matched: dict[int, float]  # tolerance in frames -> fraction of true spikes matched
    false_positives_per_s: float  # unmatched inferred spikes at the largest tolerance, per second


def match_spikes(
    inferred_frames: np.ndarray,
    true_frames: np.ndarray,
    *,
    frame_rate: float,
    duration_frames: int,
    tolerances: tuple[int, ...] = (0, 1, 2),
) -> SpikeMatch:
    """Match inferred to true spike frames one to one, nearest first, within each tolerance."""
    inferred = np.sort(np.asarray(inferred_frames, dtype=np.int64))
    truth = np.sort(np.asarray(true_frames, dtype=np.int64))
    matched: dict[int, float] = {}
    unmatched = len(inferred)
    for tolerance in tolerances:
        pairs = _match_count(inferred, truth, tolerance)
        matched[tolerance] = pairs / len(truth) if len(truth) else float("nan")
        unmatched = len(inferred) - pairs
    seconds = duration_frames / frame_rate
    return SpikeMatch(len(truth), len(inferred), matched, unmatched / seconds if seconds > 0 else float("nan"))


def _match_count(inferred: np.ndarray, truth: np.ndarray, tolerance: int) -> int:
    """Largest one-to-one matching of sorted frames within ``tolerance`` (greedy in time order is optimal)."""
    i = j = pairs = 0
    while i < len(inferred) and j < len(truth):
        if inferred[i] < truth[j] - tolerance:
            i += 1
        elif inferred[i] > truth[j] + tolerance:
            j += 1
        else:
            pairs += 1
            i += 1
            j += 1
    return pairs
