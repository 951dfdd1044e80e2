"""Synthetic two-photon movies whose clean version is known, and populations of neurons whose rates are
known, for tests and benchmarks.

Neurons are blobs scattered over a 2D field; each one's brightness follows a
ΔF/F trace, real ones from the Cascade ground truth when a folder is given
(their spike times come along, so spike inference can be checked), otherwise
simulated ones.  A smooth background with a faint neuropil fluctuation lies
under them.  The clean movie is the expected photon count per pixel and frame;
the noisy movie draws Poisson shot noise from it.  Both are in digitiser counts:
``gain`` counts per detected photon, as a photomultiplier read by a digitiser
gives many counts per photon.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from .cascade.ground_truth import ground_truth_stretches

log = logging.getLogger(__name__)

#: Low-noise ground-truth datasets (GCaMP6f/s in mouse V1, imaged at 60 Hz) used by default.
GROUND_TRUTH_DATASETS = ("DS09-GCaMP6f-m-V1", "DS14-GCaMP6s-m-V1")


@dataclass
class SyntheticMovie:
    """A noisy movie, the clean movie it was drawn from, and what made it."""

    clean: np.ndarray  # frames × height × width, expected counts (float32)
    noisy: np.ndarray  # frames × height × width, counts: gain × Poisson photons (uint16)
    footprints: np.ndarray  # neurons × height × width, peak 1
    dff: np.ndarray  # neurons × frames, ΔF/F (fraction) driving each neuron
    spike_counts: np.ndarray  # neurons × frames
    background: np.ndarray  # frames × height × width, expected background counts
    baseline: np.ndarray  # neurons: expected counts at a neuron's centre at rest
    frame_rate: float

    def masks(self, level: float = 0.5) -> np.ndarray:
        """Boolean ROI masks: the pixels where a neuron's footprint exceeds ``level`` of its peak."""
        return self.footprints >= level

    def roi_traces(self, movie: np.ndarray) -> np.ndarray:
        """Mean of ``movie`` over each ROI mask: neurons × frames."""
        masks = self.masks().reshape(len(self.footprints), -1).astype(np.float64)
        frames = np.asarray(movie, dtype=np.float64).reshape(len(movie), -1)
        return (masks @ frames.T) / masks.sum(axis=1, keepdims=True)

    def roi_dff(self, movie: np.ndarray) -> np.ndarray:
        """ΔF/F of each ROI from ``movie``: the known background subtracted, over the known resting level."""
        background = self.roi_traces(self.background)
        resting = self.roi_traces(np.tensordot(self.baseline, self.footprints, axes=1)[None])
        return (self.roi_traces(movie) - background) / resting - 1.0


def synthetic_movie(
    n_frames: int = 1000,
    size: int | tuple[int, int] = 128,
    *,
    n_neurons: int | None = None,
    photons: float = 2.0,
    background: float = 0.5,
    gain: float = 20.0,
    radius: float = 4.0,
    frame_rate: float = 30.0,
    ground_truth: str | Path | None = None,
    seed: int = 0,
) -> SyntheticMovie:
    """A synthetic movie with Poisson shot noise.

    Parameters
    ----------
    n_frames, size
        Frames, and height × width in pixels (one number for a square).
    n_neurons
        Blobs in the field; default: one per 400 px² (about 40 in 128 × 128).
    photons
        Expected photons per frame at a neuron's centre at rest (low: 1-3); each
        neuron's resting brightness is drawn from 0.5-1.5 times this.
    background
        Background photons per pixel and frame, as a fraction of ``photons``.
    gain
        Digitiser counts per detected photon (1: a photon-counting movie).
    radius
        Neuron radius in pixels (the footprint is a soft disk).
    frame_rate
        Frames per second; ground-truth traces are resampled to it.
    ground_truth
        A Cascade ground-truth folder (holding ``DSxx-*`` datasets): real ΔF/F and spike
        times from its low-noise GCaMP6 datasets.  Default: simulated traces.
    seed
        Seeds everything.
    """
    rng = np.random.default_rng(seed)
    height, width = (size, size) if isinstance(size, int) else size
    n_neurons = n_neurons or max(1, height * width // 400)
    footprints = _footprints(n_neurons, height, width, radius, rng)
    if ground_truth is not None:
        dff, spikes = ground_truth_stretches(ground_truth, GROUND_TRUTH_DATASETS, len(footprints), n_frames,
                                             frame_rate, rng)
    else:
        dff, spikes = simulated_traces(len(footprints), n_frames, frame_rate, rng)
    baseline = photons * rng.uniform(0.5, 1.5, len(footprints))
    field = gaussian_filter(rng.standard_normal((height, width)), sigma=max(height, width) / 8)
    field = 1.0 + 0.3 * field / (np.abs(field).max() + 1e-12)
    neuropil = 1.0 + 0.2 * np.clip(np.nanmean(dff, axis=0), 0, None)
    backdrop = (background * photons * neuropil[:, None, None] * field[None]).astype(np.float32)
    clean = backdrop + np.tensordot(1.0 + dff.T, baseline[:, None, None] * footprints, axes=1).astype(np.float32)
    noisy = np.minimum(gain * rng.poisson(clean), np.iinfo(np.uint16).max).astype(np.uint16)
    return SyntheticMovie((gain * clean).astype(np.float32), noisy, footprints.astype(np.float32), dff, spikes,
                          (gain * backdrop).astype(np.float32), gain * baseline, frame_rate)


def _footprints(n_neurons: int, height: int, width: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Soft disks at random positions, at least two radii apart (fewer if the field is full)."""
    centres: list[np.ndarray] = []
    for _ in range(50 * n_neurons):
        if len(centres) == n_neurons:
            break
        centre = rng.uniform([radius, radius], [height - radius, width - radius])
        if all(np.hypot(*(centre - other)) >= 2.2 * radius for other in centres):
            centres.append(centre)
    if len(centres) < n_neurons:
        log.info("only %d of %d neurons fit into %d×%d px", len(centres), n_neurons, height, width)
    rows, cols = np.mgrid[:height, :width]
    footprints = []
    for row, col in centres:
        distance = np.hypot(rows - row, cols - col)
        footprints.append(1.0 / (1.0 + np.exp((distance - radius) / 0.6)))
    footprints = np.array(footprints)
    return footprints / footprints.reshape(len(footprints), -1).max(axis=1)[:, None, None]


def simulated_traces(n_neurons: int, n_frames: int, frame_rate: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """ΔF/F and spike counts: Poisson spikes (0.3-1 Hz) through a GCaMP6s-like kernel (0.2 per spike, 1 s decay)."""
    rates = rng.uniform(0.3, 1.0, (n_neurons, 1)) / frame_rate
    spikes = rng.poisson(np.broadcast_to(rates, (n_neurons, n_frames))).astype(float)
    t = np.arange(int(5 * frame_rate)) / frame_rate
    kernel = 0.2 * (1 - np.exp(-t / 0.05)) * np.exp(-t / 1.0)
    dff = np.array([np.convolve(row, kernel)[:n_frames] for row in spikes])
    return dff, spikes




def lognormal_rates(n_neurons: int, median_hz: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Firing rates (Hz) drawn from a log-normal: ln(rate) ~ Normal(ln(median_hz), sigma²)."""
    return np.exp(rng.normal(np.log(median_hz), sigma, n_neurons))


def population_traces(rates: np.ndarray, n_frames: int, frame_rate: float, kernel: np.ndarray, noise_level: float,
                      rng: np.random.Generator, gain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ΔF/F (float32) and spike counts (neurons × frames) of Poisson neurons firing at ``rates`` (Hz).

    Each spike adds ``kernel`` (ΔF/F per frame from the spike's frame on, e.g.
    :func:`nwb_cascade.cascade.ground_truth.linear_kernel`); white Gaussian noise is added at the
    Cascade ``noise_level`` (%·Hz^-1/2, the median absolute frame-to-frame change it gives).  ``gain``
    (one value per frame, default 1) multiplies every neuron's rate frame by frame: stimulus blocks.
    """
    rates = np.asarray(rates, dtype=float)
    gain = np.ones(n_frames) if gain is None else np.asarray(gain, dtype=float)
    spikes = rng.poisson(rates[:, None] * gain[None, :] / frame_rate)
    clean = np.stack([np.convolve(row, kernel)[:n_frames] for row in spikes.astype(float)])
    std = noise_level / 100 * np.sqrt(frame_rate) / (0.6745 * np.sqrt(2))  # median |diff| of white noise
    return (clean + rng.normal(0.0, std, clean.shape)).astype(np.float32), spikes
