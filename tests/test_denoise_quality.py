"""Denoising works: on a synthetic movie with real ΔF/F and Poisson noise, a short CPU training gains
PSNR, ROI traces and Cascade spike inference, without seams between tiles.

Thresholds are measurements on this case (see the comments).  The training is short (200 steps)
so that the test stays within a few minutes on two cores; after it the network does not beat the
best Gaussian blur (nor does it after 600 steps in benchmarks/denoise.py): that test is an expected
failure that records the measurement.
"""

from __future__ import annotations

import numpy as np
import pytest

from nwb_cascade.denoise import apply, synthetic_movie, train
from nwb_cascade.denoise.apply import TILE_FACTOR
from nwb_cascade.denoise.quality import best_blur, psnr, spike_inference_correlations, trace_correlations
from nwb_cascade.denoise.tiles import spans

from .conftest import GROUND_TRUTH, need

PATCH = (16, 32, 32)
STEPS = 200


@pytest.fixture(scope="module")
def case():
    movie = synthetic_movie(300, 64, photons=2.0, ground_truth=need(GROUND_TRUTH), seed=1)
    denoiser = train(movie.noisy, patch=PATCH, steps=STEPS, learning_rate=1e-3, device="cpu", seed=0)
    denoised = apply(movie.noisy, denoiser, dtype=np.float32, device="cpu")
    return movie, denoised


def test_psnr_gain_over_the_raw_movie(case):
    movie, denoised = case
    raw, clean = psnr(movie.noisy, movie.clean), psnr(denoised, movie.clean)
    # measured: raw 18.4 dB, denoised 35.0 dB after 200 steps (best blur 37.5 dB)
    assert clean - raw >= 6.0, (raw, clean)
    assert abs(denoised.mean() - movie.clean.mean()) < 0.05 * movie.clean.mean()  # mean and scale restored


def test_roi_traces_correlate_better_with_the_clean_ones(case):
    movie, denoised = case
    reference = movie.roi_traces(movie.clean)
    raw = np.median(trace_correlations(movie.roi_traces(movie.noisy), reference))
    clean = np.median(trace_correlations(movie.roi_traces(denoised), reference))
    # measured: median 0.656 raw, 0.855 denoised (0.896 best blur)
    assert clean > raw + 0.05, (raw, clean)


def test_spike_inference_improves_after_denoising(case, model):
    movie, denoised = case
    raw = spike_inference_correlations(movie.roi_dff(movie.noisy), movie.spike_counts, model, movie.frame_rate)
    cleaned = spike_inference_correlations(movie.roi_dff(denoised), movie.spike_counts, model, movie.frame_rate)
    # measured: median 0.584 raw, 0.596 denoised (0.661 clean, 0.398 best blur); a slim margin, and after
    # 120 steps it was 0.55: a short training smooths transients, which costs Cascade timing
    assert np.nanmedian(cleaned) > np.nanmedian(raw), (raw, cleaned)


def test_no_seams_between_temporal_tiles(case):
    _, denoised = case
    steps = np.abs(np.diff(denoised, axis=0)).mean(axis=(1, 2))  # frame t -> t+1
    boundaries = [span.keep_stop - 1 for span in spans(len(denoised), TILE_FACTOR * PATCH[0], 0.25)[:-1]]
    inside = np.delete(steps, boundaries)
    assert steps[boundaries].mean() < 1.2 * inside.mean(), (steps[boundaries], inside.mean())


@pytest.mark.xfail(reason="measured: 35.0 dB after 200 steps against 37.5 dB for the best blur (43.4 against 45.5 "
                          "after 600 steps on 128x128x1000 in benchmarks/denoise.py); this case passes the blur "
                          "only after ~4,000 steps (37.8 dB, 5.5 min on 2 cores), when spike inference on its "
                          "traces falls below the raw traces' (README)",
                   strict=False)
def test_beats_the_best_gaussian_blur(case):
    movie, denoised = case
    assert psnr(denoised, movie.clean) > best_blur(movie.noisy, movie.clean)[0]


def test_blur_baseline_is_strong_on_this_movie(case):
    movie, _ = case
    score, _, _ = best_blur(movie.noisy, movie.clean)
    assert score - psnr(movie.noisy, movie.clean) > 15  # the baseline the benchmark compares against
