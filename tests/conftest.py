"""Shared fixtures: the real data in ../shared/data, skipped with a reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("NWB_CASCADE_SHARED", Path(__file__).resolve().parents[1].parent / "shared")) / "data"
MODEL_DIR = SHARED / "models" / "Global_EXC_30Hz_smoothing25ms"
ALLEN_DIR = SHARED / "examples" / "Allen-Brain-Observatory-Visual-Coding-30Hz"
GROUND_TRUTH = SHARED / "ground_truth"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests need the shared data folder beside the checkout (../shared/data)")
    return path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's real model cache."""
    monkeypatch.setenv("NWB_CASCADE_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def model():
    from nwb_cascade.cascade import load_model

    return load_model(need(MODEL_DIR))


@pytest.fixture(scope="session")
def allen_traces() -> np.ndarray:
    from scipy.io import loadmat

    return loadmat(need(ALLEN_DIR) / "Experiment_552195520_excerpt.mat")["dF_traces"]


@pytest.fixture(scope="session")
def allen_reference() -> np.ndarray:
    from scipy.io import loadmat

    return loadmat(need(ALLEN_DIR) / "full_prediction_Experiment_552195520_excerptTorch.mat")["spike_prob"]


@pytest.fixture(scope="session")
def gcamp6f_kernel() -> tuple[np.ndarray, float]:
    """The ΔF/F one spike adds at 30 Hz: the median linear kernel of the GCaMP6f ground truth that the bundled
    GCaMP6f model was trained on (and the frame rate it is sampled at)."""
    from nwb_cascade.cascade import load_model
    from nwb_cascade.cascade.ground_truth import linear_kernel

    datasets = load_model("GCaMP6f_mouse_V1_30Hz_smoothing50ms").config["training_datasets"]
    return linear_kernel(need(GROUND_TRUTH), datasets, 30.0), 30.0


@pytest.fixture(scope="session")
def allen_nwb(tmp_path_factory, allen_traces) -> dict:
    """NWB files written by pynwb from the real Allen excerpt, in the three layouts (read-only use)."""
    from nwb_cascade.nwb.example import LAYOUTS, write_example_file

    folder = tmp_path_factory.mktemp("allen_nwb")
    return {layout: write_example_file(folder / f"{layout}.nwb", allen_traces, 30.0, layout=layout) for layout in LAYOUTS}


@pytest.fixture
def nwb_copy(tmp_path, allen_nwb):
    """A private, writable copy of one of the Allen NWB files."""
    import shutil

    def copy(layout: str = "visual_coding") -> Path:
        target = tmp_path / f"{layout}.nwb"
        shutil.copyfile(allen_nwb[layout], target)
        return target

    return copy


def h5_snapshot(path: Path) -> dict:
    """Everything in an HDF5 file: each object's kind, attributes and (for datasets) a hash of its bytes."""
    import hashlib

    import h5py

    found = {}

    def visit(name, obj):
        attrs = {key: repr(obj.attrs[key]) for key in sorted(obj.attrs)}
        if isinstance(obj, h5py.Dataset):
            data = np.asarray(obj[()])
            content = repr(data.tolist()).encode() if data.dtype.kind == "O" else data.tobytes()
            digest = hashlib.sha256(content).hexdigest()
            found[name] = ("dataset", attrs, obj.shape, digest)
        else:
            found[name] = ("group", attrs)

    with h5py.File(path, "r") as handle:
        found["/"] = ("root", {key: repr(handle.attrs[key]) for key in sorted(handle.attrs)})
        handle.visititems(visit)
    return found


#: How closely spike rates computed in different groupings of work agree (see the README, "Reproducibility").
#: The engine's float32 sums (up to 570 products per convolution output, five members averaged) are blocked
#: differently by the CPU kernels depending on the processor, the thread count and the batch shape;
#: reordering such a sum moves its last bits (unit roundoff 6e-8 per operation, measured differences up to
#: 2e-7 of a rate of about 1 spike per frame), so agreement to 1e-5 of each ROI's largest rate has a wide margin.
RATES_RTOL = 1e-5


def assert_rates_close(actual, expected, *, frames_axis: int = -1, rtol: float = RATES_RTOL) -> None:
    """Spike rates equal up to float32 reordering: |a - b| ≤ rtol · (|b| + that ROI's largest |b|), and NaN
    exactly where the other is NaN.  ``frames_axis``: -1 for ROIs × frames (the engine), 0 for frames × ROIs (NWB)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    peak = np.nanmax(np.abs(expected), axis=frames_axis, initial=0.0, keepdims=True)
    excess = np.abs(actual - expected) - rtol * (np.abs(expected) + peak)
    worst = float(np.nanmax(excess, initial=-np.inf))
    assert worst <= 0, f"rates differ beyond float32 reordering (rtol {rtol:g}): worst excess {worst:.3g}"


#: The test modules whose answers are numbers computed by the processor's kernels (torch, numpy): predictions
#: against the published ones, training quality, spikes, metrics.  .ci/run runs them a second time as an older or
#: another vendor's processor would (``-m numerics``); the rest (files, processes, servers, clusters) does not
#: depend on the kernels.  Denoising quality (test_denoise_quality) is left out of the second pass for time only:
#: its denoiser trains for 8 minutes at one thread, half of that pass, and CI's whole run must stay under an hour;
#: it runs once, in the first pass, on whichever processor CI draws.
NUMERIC_MODULES = {
    "test_alignment", "test_allen", "test_bad_input", "test_bundled_models", "test_metrics",
    "test_model", "test_network", "test_nwb_roundtrip", "test_parity", "test_spikes", "test_summarize",
    "test_training",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in NUMERIC_MODULES:
            item.add_marker(pytest.mark.numerics)
