"""Denoising works: on a synthetic movie with real ΔF/F and Poisson noise, a short CPU training
(600 steps, under a minute on two cores) beats the raw movie and the best 3D Gaussian blur in PSNR,
and gives ROI traces closer to the clean ones, without seams between tiles.

Thresholds are measurements on this case (see the comments).  Cascade on the denoised ROI traces
does not beat Cascade on the raw ones: that test is an expected failure that records the
measurement (README, "Denoising").
"""

from __future__ import annotations

import numpy as np
import pytest

from nwb_cascade.cascade.evaluate import rate_correlations as spike_inference_correlations
from nwb_cascade.denoise import apply, train
from nwb_cascade.denoise.apply import TILE_FACTOR
from nwb_cascade.denoise.quality import best_blur, psnr, trace_correlations
from nwb_cascade.denoise.tiles import spans
from nwb_cascade.synthetic import synthetic_movie

from ..conftest import GROUND_TRUTH, need

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

PATCH = (16, 32, 32)
STEPS = 600


@pytest.fixture(scope="module")
def case():
    movie = synthetic_movie(300, 64, photons=2.0, ground_truth=need(GROUND_TRUTH), seed=1)
    denoiser = train(movie.noisy, patch=PATCH, steps=STEPS, learning_rate=1e-3, device="cpu", seed=0)
    denoised = apply(movie.noisy, denoiser, dtype=np.float32, device="cpu")
    return movie, denoised


def test_psnr_gain_over_the_raw_movie(case):
    movie, denoised = case
    raw, clean = psnr(movie.noisy, movie.clean), psnr(denoised, movie.clean)
    # measured: raw 18.4 dB, denoised 38.3 dB (best blur 37.5 dB)
    assert clean - raw >= 6.0, (raw, clean)
    assert abs(denoised.mean() - movie.clean.mean()) < 0.05 * movie.clean.mean()  # mean and scale restored


def test_roi_traces_correlate_better_with_the_clean_ones(case):
    movie, denoised = case
    reference = movie.roi_traces(movie.clean)
    raw = np.median(trace_correlations(movie.roi_traces(movie.noisy), reference))
    clean = np.median(trace_correlations(movie.roi_traces(denoised), reference))
    # measured: median 0.656 raw, 0.900 denoised (0.896 best blur)
    assert clean > raw + 0.05, (raw, clean)


@pytest.mark.xfail(reason="measured: median 0.519 denoised against 0.584 raw (0.661 clean, 0.398 best blur); the "
                          "denoised ROI traces keep 0.67 of the clean 0-1 Hz band, 0.21 of 3-6 Hz and 0.09 of "
                          "6-10 Hz, where Cascade finds spike onsets (benchmarks/denoise.py, README)", strict=False)
def test_spike_inference_improves_after_denoising(case, model):
    movie, denoised = case
    raw = spike_inference_correlations(movie.roi_dff(movie.noisy), movie.spike_counts, model, movie.frame_rate)
    cleaned = spike_inference_correlations(movie.roi_dff(denoised), movie.spike_counts, model, movie.frame_rate)
    assert np.nanmedian(cleaned) > np.nanmedian(raw), (raw, cleaned)


def test_no_seams_between_temporal_tiles(case):
    _, denoised = case
    steps = np.abs(np.diff(denoised, axis=0)).mean(axis=(1, 2))  # frame t -> t+1
    boundaries = [span.keep_stop - 1 for span in spans(len(denoised), TILE_FACTOR * PATCH[0], 0.25)[:-1]]
    inside = np.delete(steps, boundaries)
    assert steps[boundaries].mean() < 1.2 * inside.mean(), (steps[boundaries], inside.mean())


def test_beats_the_best_gaussian_blur(case):
    movie, denoised = case
    # measured: 38.3 dB against 37.5 dB (σ 8 frames, 0.75 px); 40.5 and 40.4 dB with training seeds 1 and 2
    assert psnr(denoised, movie.clean) > best_blur(movie.noisy, movie.clean)[0]


def test_blur_baseline_is_strong_on_this_movie(case):
    movie, _ = case
    score, _, _ = best_blur(movie.noisy, movie.clean)
    assert score - psnr(movie.noisy, movie.clean) > 15  # the baseline the benchmark compares against
