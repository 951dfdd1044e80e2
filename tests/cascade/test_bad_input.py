"""Bad input to predict(): each case gets a clear message, never a silent wrong answer."""

import warnings

import numpy as np
import pytest

from nwb_cascade.cascade import (
    FrameRateError,
    InputError,
    NoiseLevelError,
    NoiseLevelWarning,
    OrientationWarning,
    noise_levels,
    predict,
)

from ..conftest import assert_rates_close


def test_one_dimensional_input_is_one_roi(model, allen_traces):
    both = predict(allen_traces[:2], model, frame_rate=30)
    single = predict(allen_traces[1], model, frame_rate=30)
    assert single.shape == (allen_traces.shape[1],)
    assert_rates_close(single, both[1])  # alone or in a batch of two: the same up to float32 reordering


def test_nan_frames_only_blank_the_windows_that_touch_them(model, allen_traces):
    traces = np.array(allen_traces[:3], dtype=np.float64)
    clean = predict(traces, model, frame_rate=30)
    traces[1, 1000:1005] = np.nan
    rates = predict(traces, model, frame_rate=30)
    # frame t uses input frames t-32 .. t+31
    touched = np.zeros(traces.shape[1], bool)
    touched[1000 - 31 : 1005 + 32] = True
    assert np.isnan(rates[1, touched]).all()
    inside = np.zeros_like(touched)
    inside[32:-31] = True
    np.testing.assert_allclose(rates[1, inside & ~touched], clean[1, inside & ~touched], atol=1e-6)
    np.testing.assert_array_equal(rates[[0, 2]], clean[[0, 2]])
    # noise levels ignore NaN frames
    assert np.isfinite(noise_levels(traces, 30)).all()


def test_all_nan_roi_gives_nan_row_only(model, allen_traces):
    traces = np.array(allen_traces[:2])
    traces[0] = np.nan
    rates = predict(traces, model, frame_rate=30)
    assert np.isnan(rates[0]).all() and np.isfinite(rates[1, 32:-31]).all()


def test_trace_shorter_than_window(model):
    with pytest.raises(InputError, match="fewer than the model's window of 64"):
        predict(np.zeros((3, 40)), model, frame_rate=30)


def test_transposed_short_array_is_named(model, allen_traces):
    with pytest.raises(InputError, match=r"transposed.*traces\.T"):
        predict(allen_traces[:20, :500].T, model, frame_rate=30)


def test_transposed_array_warns(model, allen_traces):
    with pytest.warns(OrientationWarning, match=r"frames × ROIs, pass traces\.T"):
        predict(allen_traces[:70, :100].T, model, frame_rate=30)


def test_integer_array_is_converted_with_a_warning(model):
    counts = np.random.default_rng(0).poisson(500, size=(2, 300))
    with pytest.warns(UserWarning, match="usually raw fluorescence"), pytest.raises(NoiseLevelError):
        predict(counts, model, frame_rate=30)
    small = np.zeros((2, 300), dtype=np.int16)
    with pytest.warns(UserWarning, match="not floating point"):
        assert predict(small, model, frame_rate=30).dtype == np.float32


def test_raw_fluorescence_is_refused_with_the_likely_cause(model, allen_traces):
    raw = 400.0 * (1.0 + np.asarray(allen_traces[:5], dtype=float))
    with pytest.raises(NoiseLevelError, match=r"raw fluorescence.*percent \(divide by 100\)"):
        predict(raw, model, frame_rate=30)
    with pytest.raises(NoiseLevelError):
        predict(100 * np.asarray(allen_traces[:5]), model, frame_rate=30)


def test_noisy_rois_warn(model, allen_traces):
    noisy = np.asarray(allen_traces[:3], dtype=float) + np.random.default_rng(1).normal(0, 1.0, (3, allen_traces.shape[1]))
    with pytest.warns(NoiseLevelWarning, match="beyond the highest level"):
        predict(noisy, model, frame_rate=30)


@pytest.mark.parametrize("rate", [7.5, 28.4, 31.6, 60.0])
def test_frame_rate_far_from_model_is_refused(model, allen_traces, rate):
    with pytest.raises(FrameRateError, match=r"more than 5% away.*train one"):
        predict(allen_traces[:2], model, frame_rate=rate)


def test_frame_rate_within_tolerance_is_accepted(model, allen_traces):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict(allen_traces[:2], model, frame_rate=31.0)


def test_threshold_modes_and_padding(model, allen_traces):
    raw = predict(allen_traces[:10], model, frame_rate=30, threshold=False, padding=0)
    zero = predict(allen_traces[:10], model, frame_rate=30, threshold=0, padding=0)
    one = predict(allen_traces[:10], model, frame_rate=30, threshold=1, padding=0)
    assert (raw < 0).any() and (zero >= 0).all() and (one >= 0).all()
    np.testing.assert_array_equal(zero, np.maximum(raw, 0))
    # threshold 1 only removes sub-threshold values (1/e of one smoothed spike), never adds
    assert (one <= zero).all() and (one < zero).any()
    assert (raw[:, :32] == 0).all() and (raw[:, -31:] == 0).all()
    with pytest.raises(ValueError, match="threshold must be 0, 1 or False"):
        predict(allen_traces[:2], model, frame_rate=30, threshold=2)


@pytest.mark.slow
def test_threshold_one_keeps_rois_whole_when_no_dilation(model, allen_traces):
    """25 ms at 30 Hz: int(0.75) = 0 frames of dilation. Unlike the published code (which then
    dilates until nothing changes), every supra-threshold frame is kept and sub-threshold ones zeroed,
    in every ROI: no ROI is zeroed or kept entirely."""
    zero = predict(allen_traces, model, frame_rate=30, threshold=0, padding=0)
    one = predict(allen_traces, model, frame_rate=30, threshold=1, padding=0)
    from nwb_cascade.cascade.inference import single_spike_height

    floor = single_spike_height(0.75) / np.e
    np.testing.assert_array_equal(one, np.where(zero > floor, zero, 0))
