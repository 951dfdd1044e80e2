"""Training from the real ground truth: a loadable model that beats a trivial baseline; bad input."""

import shutil
import zipfile

import numpy as np
import pytest
import torch

from nwb_cascade.cascade import ModelError, load_model
from nwb_cascade.cascade.evaluate import score_dataset
from nwb_cascade.cascade.ground_truth import dataset_folders, download_ground_truth, summarize_dataset
from nwb_cascade.cascade.train import TrainingSet, matched_config, train, validate_training_config

from ..conftest import GROUND_TRUTH, need
from ..http_server import RangeServer

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

SMALL = ["DS09-GCaMP6f-m-V1", "DS14-GCaMP6s-m-V1"]


def small_config(**changes):
    config = matched_config(30.0, np.array([3.0]), SMALL, ensemble_size=1, name="Test_30Hz")
    config["smoothing"] = 0.025
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model") / "Test_30Hz"
    return train(small_config(), need(GROUND_TRUTH), folder, epochs=1, progress=False)


def test_trained_model_loads_and_beats_the_derivative_baseline(trained):
    again = load_model(trained.path)  # the published format, complete
    assert again.noise_levels.tolist() == [3.0] and again.config["training_finished"] == "Yes"
    held_out = GROUND_TRUTH / "DS21-jGECO1a-m-V1"  # neither dataset is in the training set
    ours = score_dataset(again, held_out, 3.0)
    baseline = score_dataset(again, held_out, 3.0, baseline=True)
    assert ours.neurons >= 8
    assert ours.correlation > baseline.correlation + 0.25, (ours, baseline)


def test_training_resumes_without_retraining(trained, tmp_path):
    folder = tmp_path / "resume"
    shutil.copytree(trained.path, folder)
    weights = folder / "Model_NoiseLevel_3_Ensemble_0.pth"
    stamp = weights.stat().st_mtime_ns
    model = train(small_config(), GROUND_TRUTH, folder, epochs=1, progress=False)
    assert weights.stat().st_mtime_ns == stamp and model.checksum() == trained.checksum()


def test_balance_follows_the_published_shares():
    data = TrainingSet([need(GROUND_TRUTH) / name for name in SMALL], 30.0, 3.0, 0.025, False, 64, 32,
                       np.random.default_rng(0))
    cap = 15e6 / 2
    np.testing.assert_allclose(data.effective, np.minimum(data.dataset_windows, cap))
    assert data.epoch_windows == min(5_000_000, int(data.effective.sum()))
    assert data.epochs(20) == min(20, 10 * (5_000_000 // data.epoch_windows))
    # the sampler draws datasets in those shares
    rng = np.random.default_rng(1)
    drawn = rng.choice(2, size=20000, p=data._dataset_p)
    np.testing.assert_allclose(np.bincount(drawn) / 20000, data.effective / data.effective.sum(), atol=0.02)
    x, y, mask = data.sample(np.random.default_rng(2), 4, 128)
    again = data.sample(np.random.default_rng(2), 4, 128)
    assert x.shape == (4, 191) and y.shape == mask.shape == (4, 128)
    assert all(np.array_equal(a, b) for a, b in zip((x, y, mask), again))  # seeded, reproducible


def test_summaries_of_the_ground_truth():
    folders = dataset_folders(need(GROUND_TRUTH))
    assert len(folders) == 29
    summary = summarize_dataset(GROUND_TRUTH / "DS09-GCaMP6f-m-V1")
    assert summary.neurons == 11 and summary.recordings == 33 and abs(summary.frame_rate - 60.1) < 0.1
    assert summary.spikes > 1000 and 0.2 < summary.noise_level < 1.0


def test_folder_without_mat_files(tmp_path):
    (tmp_path / "DS01-empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no dataset folders with .mat files"):
        train(small_config(), tmp_path, tmp_path / "model")


def test_all_recordings_noisier_than_the_target():
    with pytest.raises(ValueError, match="no ground-truth recording is less noisy than noise level 0.05"):
        TrainingSet([need(GROUND_TRUTH) / SMALL[0]], 30.0, 0.05, 0.025, False, 64, 32, np.random.default_rng(0))


def test_dataset_noisier_than_the_target_is_skipped(caplog):
    folders = [need(GROUND_TRUTH) / "DS09-GCaMP6f-m-V1", GROUND_TRUTH / "DS27-GCaMP6f-m-PV-vivo-V1"]
    data = TrainingSet(folders, 30.0, 1.0, 0.025, False, 64, 32, np.random.default_rng(0))
    assert "DS27-GCaMP6f-m-PV-vivo-V1: every recording is noisier than noise level 1" in caplog.text
    assert {trace.dataset for trace in data.traces} == {0}


def test_target_rate_above_every_recording_warns():
    with pytest.warns(UserWarning, match="every recording is slower than the target 30 Hz"):
        TrainingSet([need(GROUND_TRUTH) / "DS04-OGB1-zf-pDp"], 30.0, 3.0, 0.025, False, 64, 32, np.random.default_rng(0))


def test_config_with_unknown_or_missing_key():
    config = small_config(learning_rate=0.1)
    with pytest.raises(ModelError, match="unknown key.*learning_rate"):
        validate_training_config(config)
    config = small_config()
    del config["smoothing"]
    with pytest.raises(ModelError, match="missing smoothing"):
        validate_training_config(config)


def test_matched_config_covers_the_rois():
    config = matched_config(7.5, np.array([1.2, 2.5, 3.1, 4.4, np.nan]), ["DS04-OGB1-zf-pDp"])
    assert config["noise_levels"] == [1, 2, 3, 4, 5] and config["smoothing"] == 0.2
    assert matched_config(30.0, np.array([2.0]), [])["smoothing"] == 0.05
    validate_training_config(config)


def test_ground_truth_download_from_a_local_server(tmp_path):
    archive = tmp_path / "served" / "Cascade-master.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("Cascade-master/README.md", "the repository")
        for name in SMALL:
            for path in sorted((need(GROUND_TRUTH) / name).glob("*.mat"))[:2]:
                handle.write(path, f"Cascade-master/Ground_truth/{name}/{path.name}")
    with RangeServer(archive.parent) as server:
        folder = download_ground_truth(tmp_path / "gt", url=f"{server.url}/{archive.name}", progress=False)
    assert [p.name for p in dataset_folders(folder)] == SMALL
    assert summarize_dataset(folder / SMALL[0]).neurons == 2
    assert not list(tmp_path.glob(".*"))  # no partial archive or staging folder left


def test_config_matched_to_an_nwb_series(allen_nwb):
    from nwb_cascade.spike_inference import matched_training_config

    config = matched_training_config(allen_nwb["visual_coding"], need(GROUND_TRUTH))
    assert config["sampling_rate"] == pytest.approx(30.0) and config["smoothing"] == 0.05
    assert config["noise_levels"] == [1, 2]  # the Allen excerpt's ROIs lie between 0.55 and 1.65
    assert "DS09-GCaMP6f-m-V1" in config["training_datasets"]
    assert not any("-PV-" in name or "-SST-" in name or "-VIP-" in name for name in config["training_datasets"])
    validate_training_config(config)


def test_collapsed_training_restarts(monkeypatch, caplog):
    """A network whose ReLUs are all dead (here: from the start) is restarted from a fresh seed."""
    import nwb_cascade.cascade.train as training

    class DeadOnArrival(training.CascadeNet):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.conv1.bias.data.fill_(-1e3)  # every first-layer ReLU is 0 for ΔF/F inputs

    data = TrainingSet([need(GROUND_TRUTH) / SMALL[1]], 30.0, 3.0, 0.025, False, 64, 32, np.random.default_rng(0))
    monkeypatch.setattr(training, "CascadeNet", DeadOnArrival)
    monkeypatch.setattr(training, "COLLAPSE_STEPS", 20)
    monkeypatch.setattr(training, "ATTEMPTS", 2)
    with pytest.raises(training.CollapsedError, match="collapsed in 2 attempts"):
        training.train_members(data, small_config(), seeds=[0], device=training.torch.device("cpu"), epochs=1)
    assert caplog.text.count("restarting with a fresh initialisation") == 2


def test_a_collapsed_member_restarts_in_its_place_and_trains_its_full_steps(monkeypatch, caplog):
    """Of two members trained together, the one that collapses restarts alone; the other is not disturbed."""
    import nwb_cascade.cascade.train as training

    original = training.CascadeNet
    made = []

    class FirstDead(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if not made:
                self.conv1.bias.data.fill_(-1e3)
            made.append(self)

    data = TrainingSet([need(GROUND_TRUTH) / SMALL[1]], 30.0, 3.0, 0.025, False, 64, 32, np.random.default_rng(0))
    data.epoch_windows = 1024 * 40  # 40 steps an epoch
    monkeypatch.setattr(training, "CascadeNet", FirstDead)
    monkeypatch.setattr(training, "COLLAPSE_STEPS", 10)
    states = training.train_members(data, small_config(), seeds=[0, 1], device=training.torch.device("cpu"), epochs=1)
    assert caplog.text.count("restarting with a fresh initialisation (seed 7919)") == 1
    alone = training.train_members(data, small_config(), seeds=[1], device=training.torch.device("cpu"), epochs=1)[0]
    restarted = training.train_members(data, small_config(), seeds=[7919], device=training.torch.device("cpu"),
                                       epochs=1)[0]
    # each member ends where it ends alone: the same steps on the same batches (float sums grouped differently by
    # the kernels agree to a few ulps a step; 40 Adagrad steps of at most 0.05 each keep them within 1e-4)
    for key in alone:
        torch.testing.assert_close(states[1][key], alone[key], rtol=0, atol=1e-4)
        torch.testing.assert_close(states[0][key], restarted[key], rtol=0, atol=1e-4)
