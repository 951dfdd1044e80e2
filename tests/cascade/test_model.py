"""Model folders in the published format: load, validate, save."""

import shutil

import numpy as np
import pytest
import torch

from nwb_cascade.cascade import ModelError, load_model, predict
from nwb_cascade.cascade.model import weight_file_name

from ..conftest import MODEL_DIR, assert_rates_close, need


@pytest.fixture
def model_copy(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(need(MODEL_DIR), target)
    return target


def test_save_and_reload_roundtrip(model, tmp_path):
    saved = model.save(tmp_path / "again")
    again = load_model(saved)
    assert again.config == model.config
    assert again.checksum() == model.checksum()
    assert sorted(p.name for p in saved.glob("*.pth")) == sorted(p.name for p in MODEL_DIR.glob("*.pth"))


def test_missing_ensemble_file_is_named(model_copy):
    (model_copy / weight_file_name(5, 3)).unlink()
    with pytest.raises(ModelError, match="Model_NoiseLevel_5_Ensemble_3.pth"):
        load_model(model_copy)


def test_levels_with_fewer_members_load_with_what_they_have(model_copy):
    """A model whose training goes on: level 5 has members 0-2 of 5, level 9 only member 0."""
    for member in (3, 4):
        (model_copy / weight_file_name(5, member)).unlink()
    for member in (1, 2, 3, 4):
        (model_copy / weight_file_name(9, member)).unlink()
    model = load_model(model_copy)
    assert [len(model.weights[level]) for level in (2, 5, 9)] == [5, 3, 1]
    assert model.members == 1
    alone = torch.load(model_copy / weight_file_name(9, 0))
    assert all(torch.equal(model.weights[9][0][key], alone[key]) for key in alone)


def test_a_level_without_member_0_is_named(model_copy):
    (model_copy / weight_file_name(7, 0)).unlink()
    with pytest.raises(ModelError, match="Model_NoiseLevel_7_Ensemble_0.pth"):
        load_model(model_copy)


def test_wrong_weight_shape_is_explained(model_copy):
    path = model_copy / weight_file_name(2, 0)
    state = torch.load(path)
    state["conv2.weight"] = torch.zeros(40, 30, 17)
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"conv2.weight has shape \(40, 30, 17\).*needs \(40, 30, 19\)"):
        load_model(model_copy)


def test_missing_config_key_is_named(model_copy):
    text = (model_copy / "config.yaml").read_text()
    (model_copy / "config.yaml").write_text(text.replace("smoothing: 0.025", ""))
    with pytest.raises(ModelError, match="missing smoothing"):
        load_model(model_copy)


def test_missing_config_file(model_copy):
    (model_copy / "config.yaml").unlink()
    with pytest.raises(ModelError, match="no config.yaml"):
        load_model(model_copy)


def test_damaged_weight_file(model_copy):
    (model_copy / weight_file_name(2, 1)).write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(model_copy)


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ModelError, match="Did you mean.*Global_EXC_30Hz_smoothing25ms"):
        load_model("30Hz_smoothing25ms")


def test_model_selection_picks_closest_level(model):
    chosen = model.select_levels(np.array([0.5, 2.4, 2.5, 2.6, 8.9, 40, np.nan]))
    np.testing.assert_array_equal(chosen, [2, 2, 2, 3, 9, 9, np.nan])


def test_ensemble_average_uses_each_rois_level(model, allen_traces):
    """A ROI gets the ensemble of its own noise level; levels can be forced per ROI."""
    traces = allen_traces[:2]
    low = predict(traces, model, frame_rate=30, noise_levels=np.array([2.0, 2.0]), threshold=False)
    mixed = predict(traces, model, frame_rate=30, noise_levels=np.array([2.0, 7.0]), threshold=False)
    assert_rates_close(low[0], mixed[0])  # ROI 0 ran with one ROI or two: float32 reordering only
    assert np.nanmax(np.abs(low[1] - mixed[1])) > 1e-3
