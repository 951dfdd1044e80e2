"""The bundled default models: used when no model is named, offline."""

import numpy as np
import pytest

from nwb_cascade.cascade import load_model, predict
from nwb_cascade.cascade.zoo import bundled_models, default_model_name
from nwb_cascade.nwb.example import synthetic_traces, write_example_file
from nwb_cascade.spike_inference import infer

BUNDLED = {"Default_EXC_30Hz_smoothing25ms": 30.0, "Default_EXC_7.5Hz_smoothing200ms": 7.5}


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_model_loads_and_covers_noise_levels_1_to_9(name):
    assert name in bundled_models()
    model = load_model(name, download=False)
    assert model.frame_rate == BUNDLED[name] and model.noise_levels.tolist() == list(range(1, 10))
    assert default_model_name(BUNDLED[name] * 1.02) == name


def test_the_30hz_default_has_the_published_ensemble_of_five_members_per_level():
    """As the published general model: five members at every noise level, each a network of its own."""
    model = load_model("Default_EXC_30Hz_smoothing25ms", download=False)
    assert model.members == 5 and model.config["ensemble_size"] == 5
    first, second = model.network(2, 0), model.network(2, 1)
    assert any(not np.array_equal(a.detach().numpy(), b.detach().numpy())
               for a, b in zip(first.parameters(), second.parameters()))


def test_offline_run_with_the_default_model(tmp_path, monkeypatch):
    monkeypatch.setenv("NWB_CASCADE_REGISTRY", str(tmp_path / "no-registry.yaml"))  # nothing to download from
    (tmp_path / "no-registry.yaml").write_text("{}")
    traces, spikes = synthetic_traces(n_rois=8, n_frames=3000, seed=3)
    path = write_example_file(tmp_path / "synthetic.nwb", traces, 30.0, indicator="unknown", genotype="wild type")
    summary = infer(path, tmp_path / "out.nwb")
    assert summary.model == "Default_EXC_30Hz_smoothing25ms"
    # the imaging plane's indicator is 'unknown', its optical channel says "GCaMP emission": a GCaMP of no variant
    assert summary.per_plane[0].model_reason == ("indicator 'GCaMP' names a calcium indicator but not its variant "
                                                 "(optical channel 'green'): the general model for 30 Hz")
    rates = predict(traces, load_model(summary.model), frame_rate=30.0)
    valid = np.isfinite(rates)
    # the inferred spike count is in the range of the simulated one
    assert 0.5 < np.nansum(rates) / spikes[valid].sum() < 2.0


def test_indicator_chooses_the_bundled_model_offline(tmp_path, monkeypatch):
    """GCaMP6f in the imaging plane (and the genotype) at 30 Hz: the bundled GCaMP6f model, and the reason is recorded."""
    import h5py

    monkeypatch.setenv("NWB_CASCADE_REGISTRY", str(tmp_path / "no-registry.yaml"))
    (tmp_path / "no-registry.yaml").write_text("{}")
    traces, _ = synthetic_traces(n_rois=4, n_frames=2000, seed=4)
    path = write_example_file(tmp_path / "gcamp6f.nwb", traces, 30.0)
    summary = infer(path, tmp_path / "out.nwb", discrete_spikes=False)
    assert summary.model == "GCaMP6f_mouse_V1_30Hz_smoothing50ms"
    with h5py.File(tmp_path / "out.nwb", "r") as handle:
        reason = handle["processing/cascade/ophys_DfOverF_DfOverF"].attrs["model_reason"]
    assert reason == "GCaMP6f (imaging plane) at 30 Hz: the model trained on GCaMP6f mouse V1 ground truth"


@pytest.mark.parametrize("name", sorted(bundled_models()))
def test_a_bundled_accuracy_table_is_measured_only_on_data_the_model_did_not_see(name):
    """Where a bundled model carries expected accuracy, its note names the datasets it was scored on, and none of
    them is among the model's training datasets; the models trained on every excitatory dataset carry no table."""
    model = load_model(name, download=False)
    trained = set(model.config.get("training_datasets", []))
    if model.accuracy is None:
        assert name.startswith("Default_EXC"), f"{name}: no expected accuracy table"
        return
    scored = set(model.accuracy.note.split("held-out datasets: ", 1)[1].split("; kernel")[0].split(", "))
    assert scored and trained and not scored & trained
    assert list(model.accuracy.noise_levels) == list(range(1, 10))
    assert np.all((model.accuracy.correlation > 0) & (model.accuracy.correlation <= 1))


def test_the_training_recipe_names_its_models_as_shipped():
    """examples/train_default_models.py rebuilds exactly the bundled models: same names, rates and smoothing."""
    import importlib.util
    from pathlib import Path

    from nwb_cascade.cascade.model import read_config

    script = Path(__file__).resolve().parents[2] / "examples" / "train_default_models.py"
    spec = importlib.util.spec_from_file_location("train_default_models", script)
    recipes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipes)
    bundled = Path(__file__).resolve().parents[2] / "nwb_cascade" / "cascade" / "models"
    assert sorted(recipes.RECIPES) == sorted(path.name for path in bundled.iterdir() if path.is_dir())
    for name, (rate, smoothing, _datasets, _levels) in recipes.RECIPES.items():
        config = read_config(bundled / name / "config.yaml")
        assert (config["sampling_rate"], config["smoothing"]) == (rate, smoothing), name
