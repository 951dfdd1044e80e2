"""A re-implementation of the published discrete-spike procedure, for comparisons only.

It follows the published steps (documented in shared/docs/cascade-method.md):
random fill from the cumulative distribution of exp(residual) - 1, accepting a
spike when the L1 error does not grow; then every spike tried at every
position of its segment against a segment-length-squared matrix of smoothed
unit spikes; five rounds of pruning and refilling; a final exploration.  It is
quadratic in segment length in time and memory: that is the point of keeping
it here, as the in-run baseline of benchmarks/discrete_spikes.py.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from nwb_cascade.cascade.spikes import supported_segments


def smoothed(positions, length: int, sigma: float) -> np.ndarray:
    trace = np.zeros(length)
    np.add.at(trace, np.asarray(positions, dtype=int), 1.0)
    return gaussian_filter1d(trace, sigma)


def fill(target, sigma, wanted, spikes, rng):
    approximation = smoothed(spikes, len(target), sigma)
    tries = 0
    while approximation.sum() < wanted and tries < wanted * 20:
        if tries % np.ceil(wanted / 10) == 0:
            cumulative = np.cumsum(np.exp(target - approximation) - 1)
            cumulative /= cumulative.max()
        position = int(np.argmin(np.abs(cumulative - rng.uniform())))
        candidate = approximation + smoothed([position], len(target), sigma)
        if np.abs(target - candidate).sum() <= np.abs(target - approximation).sum():
            spikes.append(position)
            approximation = candidate
        tries += 1
    return spikes, approximation


def explore(target, sigma, spikes, approximation):
    length = len(target)
    unit = np.stack([smoothed([t], length, sigma) for t in range(length)])  # length x length
    for index, spike in enumerate(spikes):
        candidates = approximation[None, :] + unit - unit[spike][None, :]
        best = int(np.argmin(np.abs(target[None, :] - candidates).sum(axis=1)))
        spikes[index] = best
        approximation = smoothed(spikes, length, sigma)
    return spikes, approximation


def prune(target, sigma, spikes, approximation):
    kept = []
    for spike in spikes:
        without = approximation - smoothed([spike], len(target), sigma)
        if np.abs(target - without).sum() < np.abs(target - approximation).sum():
            approximation = without
        else:
            kept.append(spike)
    return kept, approximation


def published_discrete_spikes(rate: np.ndarray, sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spike frames and approximation of one ROI's rate trace, the published way."""
    rng = np.random.default_rng(seed)
    approximation = np.where(np.isfinite(rate), 0.0, np.nan)
    found = []
    clean = np.nan_to_num(rate)
    for segment in supported_segments(rate, sigma):
        target = clean[segment]
        wanted = target.sum()
        spikes, fitted = fill(target, sigma, wanted, [], rng)
        spikes, fitted = explore(target, sigma, spikes, fitted)
        for _ in range(5):
            spikes, fitted = prune(target, sigma, spikes, fitted)
            spikes, fitted = fill(target, sigma, wanted - fitted.sum(), spikes, rng)
        spikes, fitted = explore(target, sigma, spikes, fitted)
        found.extend(np.asarray(spikes) + segment.start)
        approximation[segment] = fitted
    return np.sort(np.asarray(found, dtype=int)), approximation
