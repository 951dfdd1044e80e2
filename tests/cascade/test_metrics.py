"""Evaluation helpers: the paper's correlation / error / bias, and spike matching."""

import numpy as np

from nwb_cascade.cascade.metrics import match_spikes, rate_scores


def test_perfect_prediction_scores():
    counts = np.zeros(300)
    counts[[50, 120, 121, 200]] = [1, 1, 1, 2]
    from scipy.ndimage import gaussian_filter1d

    truth = gaussian_filter1d(counts, 0.75, mode="constant")
    scores = rate_scores(truth, counts, 0.75)
    assert scores.correlation > 0.999 and abs(scores.error) < 1e-12 and abs(scores.bias) < 1e-12
    half = rate_scores(truth / 2, counts, 0.75)
    assert abs(half.bias + 0.5) < 1e-9 and abs(half.error - 0.5) < 1e-9


def test_padding_frames_are_left_out():
    counts = np.zeros(100)
    counts[50] = 1
    predicted = np.full(100, np.nan)
    predicted[40:60] = 0.0
    predicted[50] = 1.0
    assert np.isfinite(rate_scores(predicted, counts, 0.75).correlation)


def test_spike_matching_is_one_to_one_within_tolerance():
    truth = np.array([10, 20, 20, 40])
    inferred = np.array([11, 20, 22, 60, 61])
    result = match_spikes(inferred, truth, frame_rate=10.0, duration_frames=100)
    assert result.matched[0] == 0.25  # only 20 exactly
    assert result.matched[1] == 0.5  # 11 and 20
    assert result.matched[2] == 0.75  # 11, 20, 22 (the second 20)
    assert result.false_positives_per_s == 2 / 10.0  # 60 and 61 over 10 s
