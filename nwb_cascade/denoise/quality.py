"""Measures of a denoised movie against the clean one, and the Gaussian-blur baseline."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.ndimage import gaussian_filter

#: The blur grid: σ in frames, σ in pixels.
BLUR_TIME = (2.0, 3.0, 4.0, 6.0, 8.0)
BLUR_SPACE = (0.5, 0.75, 1.0)


def psnr(estimate: np.ndarray, clean: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of ``estimate`` against ``clean``, the peak being the clean range."""
    clean = np.asarray(clean, dtype=np.float64)
    error = np.mean(np.square(np.asarray(estimate, dtype=np.float64) - clean))
    peak = clean.max() - clean.min()
    return float(10 * np.log10(peak**2 / error))


def best_blur(noisy: np.ndarray, clean: np.ndarray, time_sigmas: tuple[float, ...] = BLUR_TIME,
              space_sigmas: tuple[float, ...] = BLUR_SPACE) -> tuple[float, tuple[float, float], np.ndarray]:
    """The best 3D Gaussian blur of ``noisy`` on a grid of σ (judged against ``clean``, so an upper bound
    for a blur chosen without it): (PSNR, (σ frames, σ pixels), blurred movie)."""
    noisy = np.asarray(noisy, dtype=np.float32)
    best = (-np.inf, (0.0, 0.0), noisy)
    for sigma_t, sigma_xy in itertools.product(time_sigmas, space_sigmas):
        blurred = gaussian_filter(noisy, (sigma_t, sigma_xy, sigma_xy), mode="nearest")
        score = psnr(blurred, clean)
        if score > best[0]:
            best = (score, (sigma_t, sigma_xy), blurred)
    return best


def trace_correlations(traces: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``traces`` with the same row of ``reference``."""
    a = traces - traces.mean(axis=1, keepdims=True)
    b = reference - reference.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


#: Frequency bands (Hz) in which :func:`band_gains` compares traces.
BANDS = ((0.0, 1.0), (1.0, 3.0), (3.0, 6.0), (6.0, 10.0))


def band_gains(traces: np.ndarray, reference: np.ndarray, frame_rate: float,
               bands: tuple[tuple[float, float], ...] = BANDS) -> np.ndarray:
    """How much of ``reference`` each frequency band of ``traces`` carries: per band, the
    least-squares gain of ``traces`` on ``reference`` (both ROIs × frames, means removed) over all
    ROIs.  1 passes the band unchanged, 0 removes it; noise independent of the reference does
    not count."""
    observed = np.fft.rfft(traces - traces.mean(axis=1, keepdims=True), axis=1)
    clean = np.fft.rfft(reference - reference.mean(axis=1, keepdims=True), axis=1)
    frequencies = np.fft.rfftfreq(traces.shape[1], 1 / frame_rate)
    gains = []
    for low, high in bands:
        band = (frequencies >= low) & (frequencies < high)
        gains.append(float((observed[:, band] * clean[:, band].conj()).real.sum() / (np.abs(clean[:, band]) ** 2).sum()))
    return np.array(gains)
