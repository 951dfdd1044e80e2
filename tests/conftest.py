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
