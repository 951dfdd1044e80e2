"""Parity with the published implementation's own prediction on the real Allen excerpt."""

import numpy as np
import torch

from nwb_cascade.cascade import noise_levels, predict

from ..conftest import SHARED


def test_allen_excerpt_matches_published_prediction(model, allen_traces, allen_reference):
    rates = predict(allen_traces, model, frame_rate=30)
    assert rates.shape == allen_reference.shape and rates.dtype == np.float32
    # Published frame t-1 holds the output that belongs to frame t (its window t-32 .. t+31).
    ours, published = rates[:, 1:], allen_reference[:, :-1]
    compared = np.isfinite(ours) & np.isfinite(published)
    assert compared.sum(axis=1).min() == allen_reference.shape[1] - 64  # every non-padded frame of every ROI
    assert np.abs(ours[compared] - published[compared]).max() <= 1e-4
    # padding: 32 frames before, 31 after (the last frame with a full window is n - 32)
    assert np.isnan(rates[:, :32]).all() and np.isnan(rates[:, -31:]).all()
    assert np.isfinite(rates[:, 32:-31]).all()


def test_noise_levels_match_published(allen_traces):
    reference = np.load(SHARED / "reference" / "allen_excerpt_noise_levels.npz")["noise_levels"]
    np.testing.assert_allclose(noise_levels(allen_traces, 30), reference, rtol=1e-6)


def test_whole_trace_equals_per_window_network(model, allen_traces):
    """The whole-trace evaluation gives every window's output of the naive per-window network."""
    trace = np.asarray(allen_traces[3, :600], dtype=np.float32)
    windows = torch.from_numpy(np.lib.stride_tricks.sliding_window_view(trace, 64).copy())
    members = [model.network(2, k).eval() for k in range(5)]
    with torch.no_grad():
        naive = torch.stack([net(windows) for net in members]).mean(0).numpy()
    whole = model.ensemble(2)(torch.from_numpy(trace[None])).numpy()[0]
    np.testing.assert_allclose(whole, naive, atol=2e-6)


def test_chunking_and_batching_do_not_change_results(model, allen_traces, monkeypatch):
    from nwb_cascade.cascade import inference as predict_module

    reference = predict(allen_traces[:6], model, frame_rate=30)
    monkeypatch.setattr(predict_module, "CHUNK_FRAMES", 700)
    monkeypatch.setattr(predict_module, "CPU_FRAMES_PER_BATCH", 1500)
    chunked = predict(allen_traces[:6], model, frame_rate=30)
    np.testing.assert_allclose(chunked, reference, atol=1e-6, equal_nan=True)


def test_spikes_per_second(model, allen_traces):
    from nwb_cascade.cascade import spikes_per_second

    rates = predict(allen_traces[:2], model, frame_rate=30)
    np.testing.assert_allclose(spikes_per_second(rates, 30), rates * 30, equal_nan=True)
