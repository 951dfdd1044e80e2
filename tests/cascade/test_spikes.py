"""Discrete spikes on real ground truth: counts, fit, determinism, scale, bad input."""

import numpy as np
import pytest

from nwb_cascade.cascade import discrete_spikes, predict, spike_times
from nwb_cascade.cascade.ground_truth import at_frame_rate, read_dataset, with_noise_level
from nwb_cascade.cascade.spikes import gaussian_kernel, greedy_only, l1_error, supported_segments

from ..conftest import GROUND_TRUTH, need

HELD_OUT = ["DS01-OGB1-m-V1", "DS21-jGECO1a-m-V1", "DS29-GCaMP7f-m-V1"]


@pytest.fixture(scope="module", params=[2, 4], ids=["noise2", "noise4"])
def held_out_rates(request, model):
    """Published-model rates for held-out recordings at 30 Hz and the given noise level."""
    rng = np.random.default_rng(request.param)
    rates = []
    for dataset in HELD_OUT:
        for recording in list(read_dataset(need(GROUND_TRUTH / dataset)))[::3]:
            _, dff, _ = at_frame_rate(recording, 30.0)
            noisy = with_noise_level(dff, 30.0, request.param, rng)
            if noisy is not None:
                rates.append(predict(noisy, model, frame_rate=30.0))
    assert len(rates) >= 8
    return rates


def test_count_follows_supported_rate_and_fit_beats_greedy(held_out_rates, model):
    sigma = model.smoothing * model.frame_rate
    kernel = gaussian_kernel(sigma)
    inferred = supported = final_error = greedy_error = 0.0
    for rate in held_out_rates:
        spikes, approximation = discrete_spikes(rate, model)
        inferred += len(spikes)
        clean = np.clip(np.nan_to_num(rate), 0, None)
        for segment in supported_segments(rate, sigma):
            supported += clean[segment].sum()
            _, greedy = greedy_only(clean[segment], kernel)
            greedy_error += np.abs(clean[segment] - greedy).sum()
            final_error += np.abs(clean[segment] - approximation[segment]).sum()
    assert abs(inferred - supported) <= 0.10 * supported, (inferred, supported)
    assert final_error <= greedy_error + 1e-9, (final_error, greedy_error)


def test_deterministic_whatever_the_grouping(held_out_rates, model):
    rate = held_out_rates[0]
    alone, approx_alone = discrete_spikes(rate, model, seed=0)
    stacked = np.vstack([rate, rate[::-1], rate])
    together, approx = discrete_spikes(stacked, model, seed=7, workers=2)
    np.testing.assert_array_equal(together[0], alone)
    np.testing.assert_array_equal(together[2], alone)
    np.testing.assert_array_equal(approx[0], approx_alone)
    one_worker, _ = discrete_spikes(stacked, model, workers=1)
    assert all(np.array_equal(a, b) for a, b in zip(one_worker, together))


def test_hour_of_dense_firing_finishes():
    rng = np.random.default_rng(3)
    rate = 0.05 + rng.gamma(2.0, 0.15, size=108_000)  # one supported segment, an hour at 30 Hz
    spikes, approximation = discrete_spikes(rate, 0.025, frame_rate=30)
    assert len(supported_segments(rate, 0.75)) == 1
    assert abs(len(spikes) - rate.sum()) <= 1
    assert l1_error(rate, approximation) < np.abs(rate).sum()


@pytest.mark.parametrize(
    "rate",
    [np.full(500, np.nan), np.zeros(500), np.zeros(0), np.full(500, 1e-4)],
    ids=["all-nan", "zeros", "empty", "below-support"],
)
def test_inputs_without_spikes_give_no_spikes(rate):
    spikes, approximation = discrete_spikes(rate, 0.025, frame_rate=30)
    assert len(spikes) == 0 and approximation.shape == rate.shape
    assert np.array_equal(np.isnan(approximation), np.isnan(rate))


def test_negative_rates_warn_and_count_as_zero():
    rate = np.zeros(300)
    rate[100:103] = [0.3, 1.0, 0.3]
    rate[200:210] = -0.5
    with pytest.warns(UserWarning, match="negative values"):
        spikes, _ = discrete_spikes(rate, 0.025, frame_rate=30)
    assert (np.abs(spikes - 101) <= 1).all() and len(spikes) in (1, 2)


def test_spike_times_from_rate_or_timestamps():
    """One spike: its frame's time; k spikes in one frame: spread evenly over the frame's interval, centred on
    its time (no two spikes of a unit at one instant, which NWB's Units and their readers assume)."""
    frames = np.array([0, 3, 3, 10])
    spread = np.array([0.0, -0.25, 0.25, 0.0])  # of a frame interval
    np.testing.assert_allclose(spike_times(frames, rate=30.0, starting_time=2.0), 2.0 + (frames + spread) / 30.0)
    stamps = np.linspace(5.0, 6.0, 11)
    np.testing.assert_allclose(spike_times(frames, timestamps=stamps), stamps[frames] + spread * 0.1)
    three = spike_times(np.array([4, 4, 4]), rate=10.0)
    np.testing.assert_allclose(three, 0.4 + np.array([-1, 0, 1]) / 30.0)
    assert np.all(np.diff(spike_times(np.array([1, 2, 2, 2, 3]), rate=30.0)) > 0)
