"""The files users really have: every layout of the real writers (tests/writers), run with no options.

Each file holds real ΔF/F from the Allen excerpt (or fluorescence built from it), so what a run picks,
and what it infers, can be checked against what the file was made from.  ``LAYOUTS`` is the table of
the README ("Which files, and what a run does with them").
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_cascade.cascade import NoiseLevelError, load_model, predict
from nwb_cascade.nwb.read import NoTracesError, NWBInputError
from nwb_cascade.spike_inference import infer, inspect

from ..conftest import ALLEN_DIR, h5_snapshot, need
from ..writers import allen, caiman, neuroconv
from ..writers import suite2p_files as suite2p_writer

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

ROIS, FRAMES = 12, 3000
GENERAL = "Default_EXC_30Hz_smoothing25ms"
GCAMP6F = "GCaMP6f_mouse_V1_30Hz_smoothing50ms"


@dataclass
class Layout:
    """One writer's layout, and what ``nwb-cascade infer FILE`` must do with it."""

    writer: str
    series: tuple[str, ...]  # the input series, one per plane
    dff: str  # "file" (the file's ΔF/F) or "computed" (from fluorescence, with the neuropil named)
    model: str
    reason: str  # the start of the model's reason
    neuropil: tuple[str | None, ...] = ()


LAYOUTS = {
    "allen_visual_coding": Layout(
        "Allen Visual Coding on DANDI 000728 (visual-coding-to-nwb-v2)", ("processing/ophys/DfOverF/DfOverF",),
        "file", GCAMP6F, "GCaMP6f (imaging plane)"),
    "allen_visual_behavior": Layout(
        "Allen Visual Behavior on DANDI 000711 (AllenSDK 2.16)", ("processing/ophys/dff/traces",), "file", GCAMP6F,
        "GCaMP6f (imaging plane)"),
    "allen_visual_behavior_2_3": Layout(
        "Allen Visual Behavior, AllenSDK 2.3 (ΔF/F stored ROIs x time)",
        ("processing/two_photon_imaging/dff/traces",), "file", GCAMP6F, "GCaMP6f (imaging plane)"),
    "neuroconv_dff": Layout(
        "NeuroConv 0.10 segmentation interface, with ΔF/F", ("processing/ophys/Fluorescence/DfOverF",), "file",
        GENERAL, "indicator 'unknown' not recognised"),
    "neuroconv_raw": Layout(
        "NeuroConv 0.10 segmentation interface, fluorescence only", ("processing/ophys/Fluorescence/RoiResponseSeries",),
        "computed", GENERAL, "indicator 'unknown' not recognised", ("processing/ophys/Fluorescence/Neuropil",)),
    "neuroconv_suite2p": Layout(
        "NeuroConv 0.10 Suite2pSegmentationInterface, two planes",
        ("processing/ophys/Fluorescence/RoiResponseSeriesChan1Plane0",
         "processing/ophys/Fluorescence/RoiResponseSeriesChan1Plane1"),
        "computed", GENERAL, "indicator 'unknown' not recognised",
        ("processing/ophys/Fluorescence/NeuropilChan1Plane0", "processing/ophys/Fluorescence/NeuropilChan1Plane1")),
    "suite2p": Layout(
        "suite2p 1.1 save_nwb, two planes", ("processing/ophys/Fluorescence/plane0", "processing/ophys/Fluorescence/plane1"),
        "computed", GENERAL, "indicator 'GCaMP' names a calcium indicator but not its variant",
        ("processing/ophys/Neuropil/plane0", "processing/ophys/Neuropil/plane1")),
    "pynwb_mock": Layout(
        "pynwb.testing.mock.ophys (series directly in the module)", ("processing/ophys/RoiResponseSeries",), "file",
        GENERAL, "indicator"),
    "zarr": Layout(
        "Allen Visual Coding exported to NWB Zarr (hdmf-zarr)", ("processing/ophys/DfOverF/DfOverF",), "file", GCAMP6F,
        "GCaMP6f (imaging plane)"),
}
#: Files with no calcium traces (skipped by a batch), and files whose traces must not be used (refused).
SKIPPED = ("allen_visual_coding_raw_movie", "allen_visual_behavior_behavior_only")
REFUSED = {"caiman": "denoised or model-fitted trace.*YrA \\+ C", "percent_dff": "percent"}


def fluorescence(dff: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw fluorescence and neuropil whose ΔF/F (F - 0.7 Fneu over its baseline) is ``dff``: a bright ROI
    (F0 300-900) on a slowly drifting neuropil (100-300)."""
    rng = np.random.default_rng(seed)
    n_rois, n_frames = dff.shape
    baseline = rng.uniform(300, 900, (n_rois, 1))
    drift = 1 + 0.05 * np.sin(np.arange(n_frames) / n_frames * 2 * np.pi + rng.uniform(0, 6, (n_rois, 1)))
    neuropil = rng.uniform(100, 300, (n_rois, 1)) * drift
    return (baseline * (1 + dff) + 0.7 * neuropil).astype(np.float32), neuropil.astype(np.float32)


@pytest.fixture(scope="module")
def dff(allen_traces) -> np.ndarray:
    need(ALLEN_DIR)
    return np.asarray(allen_traces[:ROIS, :FRAMES], dtype=np.float64)


@pytest.fixture(scope="module")
def files(tmp_path_factory, dff) -> dict[str, Path]:
    """One file of each layout, written by its writer (or a replica of it), in one folder."""
    folder = tmp_path_factory.mktemp("layouts")
    made: dict[str, Path] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the writers' own deprecation and dtype warnings
        made["allen_visual_coding"] = Path(allen.write_visual_coding_processed(
            str(folder / "sub-1_ses-501794235-StimB_behavior+image+ophys.nwb"), dff)["path"])
        made["allen_visual_coding_raw_movie"] = Path(allen.write_visual_coding_raw_movie(
            str(folder / "sub-1_ses-501794235-StimB_ophys.nwb"), frames=100)["path"])
        made["allen_visual_behavior"] = Path(allen.write_visual_behavior(str(folder / "vb_2_16.nwb"), dff)["path"])
        made["allen_visual_behavior_2_3"] = Path(allen.write_visual_behavior(
            str(folder / "vb_2_3.nwb"), dff, sdk_version="2.3", legacy_rois_by_time=True)["path"])
        made["allen_visual_behavior_behavior_only"] = Path(allen.write_visual_behavior_behavior_only(
            str(folder / "vb_behavior_only.nwb"))["path"])
        raw, neuropil = fluorescence(dff, seed=1)
        made["neuroconv_dff"] = neuroconv.write_neuroconv_mock_segmentation(
            folder / "neuroconv_dff.nwb", {"raw": raw, "dff": dff, "neuropil": neuropil}, 30.0)
        made["neuroconv_raw"] = neuroconv.write_neuroconv_mock_segmentation(
            folder / "neuroconv_raw.nwb", {"raw": raw, "neuropil": neuropil, "deconvolved": np.clip(dff, 0, None)},
            30.0)
        planes = suite2p_planes(dff)
        s2p_folder = suite2p_writer.make_suite2p_folder(folder / "suite2p_output" / "suite2p", planes, 30.0)
        made["neuroconv_suite2p"] = neuroconv.write_neuroconv_suite2p(folder / "neuroconv_suite2p.nwb", s2p_folder)
        if suite2p_writer.writers_python() is not None:
            exported = suite2p_writer.suite2p_export(s2p_folder)
            made["suite2p"] = shutil.copyfile(exported, folder / "suite2p_export.nwb")
        made["pynwb_mock"] = neuroconv.write_pynwb_mock(folder / "pynwb_mock.nwb", 30.0, ROIS, FRAMES, data=dff)
        made["caiman"] = caiman.write_caiman(folder / "caiman.nwb", C=np.clip(smooth(dff), 0, None),
                                             YrA=dff - smooth(dff), rate=30.0)
        made["percent_dff"] = Path(allen.write_visual_coding_processed(str(folder / "percent.nwb"), 100 * dff)["path"])
    zarr_folder = tmp_path_factory.mktemp("zarr")
    made["zarr"] = neuroconv.to_zarr(made["allen_visual_coding"], zarr_folder / "allen_visual_coding.nwb.zarr")
    return made


def smooth(traces: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(traces, 3, axis=1)


def suite2p_planes(dff: np.ndarray) -> list[dict]:
    """Two planes of a suite2p folder: the first 7 ROIs, and the other 5 recorded 200 frames shorter
    (suite2p's export pads the shorter plane with zeros)."""
    first, second = dff[:7], dff[7:, :-200]
    planes = []
    for index, part in enumerate((first, second)):
        raw, neuropil = fluorescence(part, seed=10 + index)
        planes.append({"F": raw, "Fneu": neuropil, "spks": np.clip(np.diff(part, prepend=0, axis=1), 0, None)})
    return planes


def need_layout(files: dict[str, Path], name: str) -> Path:
    if name not in files:
        pytest.skip("suite2p's own export needs the writer environment (.venv-writers, made by .ci/run: "
                    "python3 -m venv .venv-writers && .venv-writers/bin/pip install torch==2.14.1 torchvision==0.29.1 "
                    "suite2p==1.1.0 pynwb==3.1.3), or $NWB_CASCADE_WRITERS_PYTHON")
    return files[name]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_infer_with_no_options_picks_every_plane_and_the_right_input(files, name, tmp_path):
    layout = LAYOUTS[name]
    path = need_layout(files, name)
    before = h5_snapshot(path) if path.is_file() else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = infer(path, tmp_path / "out.nwb", discrete_spikes=False)
    assert [plane.series for plane in summary.per_plane] == list(layout.series)
    assert all(plane.dff_computed == (layout.dff == "computed") for plane in summary.per_plane)
    assert {plane.model for plane in summary.per_plane} == {layout.model}
    assert all(plane.model_reason.startswith(layout.reason) for plane in summary.per_plane), summary.planes
    if before is not None:
        assert h5_snapshot(path) == before  # the source is never changed
    with NWBHDF5IO(str(tmp_path / "out.nwb"), "r") as io:
        results = io.read().processing["cascade"]
        assert len(results.data_interfaces) == len(layout.series)
        for plane, neuropil in zip(summary.per_plane, layout.neuropil or [None] * summary.planes):
            container = results[plane.container.rsplit("/", 1)[1]]
            assert container.spike_rates.data.shape == (plane.frames, plane.rois)
            if layout.dff == "computed":
                recipe = container.dff_recipe
                assert f'"neuropil_series": "{neuropil}"' in recipe and '"neuropil_coefficient": 0.7' in recipe
                assert container.source is container.dff[container.source.name]  # inferred from the computed ΔF/F
            else:
                assert container.dff is None and container.dff_recipe is None


@pytest.mark.parametrize("name", ["neuroconv_raw", "neuroconv_suite2p", "suite2p"])
def test_dff_computed_from_fluorescence_gives_the_spikes_of_the_true_dff(files, name, dff, tmp_path):
    """F was built from a known ΔF/F: the rates inferred from the ΔF/F the package computes correlate with
    those inferred from the true ΔF/F at r >= 0.9 per ROI (median)."""
    path = need_layout(files, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = infer(path, tmp_path / "out.nwb", discrete_spikes=False, model=GENERAL)
    model = load_model(GENERAL)
    truth = {0: dff[:7], 1: dff[7:, :-200]} if summary.planes == 2 else {0: dff}
    correlations = []
    with NWBHDF5IO(str(tmp_path / "out.nwb"), "r") as io:
        results = io.read().processing["cascade"]
        for index, plane in enumerate(summary.per_plane):
            rates = results[plane.container.rsplit("/", 1)[1]].spike_rates.data[:].T
            expected = predict(truth[index], model, frame_rate=30.0) * 30.0
            frames = expected.shape[1]
            for got, want in zip(rates[:, :frames], expected):
                ok = np.isfinite(got) & np.isfinite(want)
                correlations.append(np.corrcoef(got[ok], want[ok])[0, 1])
            assert np.isnan(rates[:, frames + 40:]).all()  # suite2p's zero padding is not data
    assert len(correlations) == ROIS and np.median(correlations) >= 0.9, np.round(correlations, 3)


@pytest.mark.parametrize("name", SKIPPED)
def test_files_without_traces_are_named_as_such(files, name, tmp_path):
    with pytest.raises(NoTracesError, match="no RoiResponseSeries"):
        infer(files[name], tmp_path / "out.nwb")
    assert not (tmp_path / "out.nwb").exists()


def test_caiman_denoised_c_is_refused_with_the_fix(files, tmp_path):
    before = h5_snapshot(files["caiman"])
    with pytest.raises(NWBInputError, match=REFUSED["caiman"]):
        infer(files["caiman"], tmp_path / "out.nwb")
    with pytest.raises(NWBInputError, match="processing/ophys/Fluorescence/RoiResponseSeries is a denoised"):
        infer(files["caiman"], tmp_path / "out.nwb", series="Fluorescence/RoiResponseSeries")
    assert h5_snapshot(files["caiman"]) == before and not (tmp_path / "out.nwb").exists()


def test_percent_dff_is_refused(files, tmp_path):
    with pytest.raises(NoiseLevelError, match="percent \\(divide by 100\\)"):
        infer(files["percent_dff"], tmp_path / "out.nwb")


@pytest.mark.parametrize("name, series, message", [
    ("allen_visual_coding", "DfOverF/DfOverFEvents", "is detected events"),
    ("neuroconv_raw", "Deconvolved", "is a deconvolved"),
    ("neuroconv_raw", "Neuropil", "is the neuropil"),
    ("allen_visual_behavior", "corrected_fluorescence/r", "1-D data"),
    ("neuroconv_suite2p", "RoiResponseSeriesChan1Plane*", None),
    ("neuroconv_suite2p", "Plane0", "no RoiResponseSeries at 'Plane0'"),
])
def test_named_series_that_must_not_be_used_are_refused(files, name, series, message, tmp_path):
    if message is None:  # a glob that names both planes runs both
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = infer(files[name], tmp_path / "out.nwb", series=series, discrete_spikes=False)
        assert summary.planes == 2
        return
    with pytest.raises(NWBInputError, match=message):
        infer(files[name], tmp_path / "out.nwb", series=series)


def test_a_short_name_that_matches_several_series_is_an_error(files, tmp_path):
    path = need_layout(files, "suite2p")
    with pytest.raises(NWBInputError, match=r"(?s)'plane0' matches 3 series.*Fluorescence/plane0.*Neuropil/plane0"):
        infer(path, tmp_path / "out.nwb", series="plane0")


def test_inspect_lists_every_series_with_its_role_and_marks_the_inputs(files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = {row.path: row for row in inspect(files["allen_visual_behavior"]).series}
    assert rows["processing/ophys/dff/traces"].used and rows["processing/ophys/dff/traces"].role == "dff"
    assert rows["processing/ophys/event_detection"].role == "events"
    assert rows["processing/ophys/corrected_fluorescence/r"].problem.startswith("1-D data")
    assert not any(row.used for path, row in rows.items() if path != "processing/ophys/dff/traces")
    found = inspect(files["neuroconv_suite2p"])
    used = [row for row in found.series if row.used]
    assert [row.neuropil for row in used] == list(LAYOUTS["neuroconv_suite2p"].neuropil)
    assert all(row.dff_computed and 0.3 < row.noise_median < 3 for row in used)


def test_standalone_output_keeps_what_the_session_had(files, tmp_path):
    """The AllenSDK's BehaviorSubject and lab metadata keep their types; a ROI table directly in a module
    stays there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infer(files["allen_visual_behavior"], tmp_path / "vb.nwb", discrete_spikes=False)
        infer(files["pynwb_mock"], tmp_path / "mock.nwb", discrete_spikes=False)
    with NWBHDF5IO(str(files["allen_visual_behavior"]), "r") as source, NWBHDF5IO(str(tmp_path / "vb.nwb"), "r") as out:
        original, copy = source.read(), out.read()
        assert type(copy.subject).__name__ == "BehaviorSubject"
        assert copy.subject.reporter_line == original.subject.reporter_line
        assert list(copy.subject.driver_line) == list(original.subject.driver_line)
        assert sorted(copy.lab_meta_data) == sorted(original.lab_meta_data)
        metadata = copy.lab_meta_data["metadata"]
        assert type(metadata).__name__ == type(original.lab_meta_data["metadata"]).__name__
        assert metadata.ophys_experiment_id == original.lab_meta_data["metadata"].ophys_experiment_id
    with h5py.File(tmp_path / "mock.nwb", "r") as handle:  # not re-homed under an ImageSegmentation
        kinds = {name: group.attrs.get("neurodata_type") for name, group in handle["processing/ophys"].items()}
        assert "PlaneSegmentation" in kinds.values() and kinds["RoiResponseSeries"] == "RoiResponseSeries"


def test_zarr_results_equal_the_hdf5_file(files, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infer(files["allen_visual_coding"], tmp_path / "h5.nwb", discrete_spikes=False)
        infer(files["zarr"], tmp_path / "zarr.nwb", discrete_spikes=False)
    name = "processing/cascade/ophys_DfOverF_DfOverF/spike_rates/data"
    with h5py.File(tmp_path / "h5.nwb", "r") as a, h5py.File(tmp_path / "zarr.nwb", "r") as b:
        np.testing.assert_array_equal(a[name][()], b[name][()])


def test_batch_over_one_file_of_each_layout(files, tmp_path):
    """Every calcium file done with every plane; raw-movie and behaviour-only files skipped (not failed);
    only the files that must be refused fail, each with its fix."""
    from nwb_cascade.batch import batch
    from nwb_cascade.manifest import read_manifest

    folder = tmp_path / "sessions"
    folder.mkdir()
    for name, path in files.items():
        target = folder / (f"{name}.nwb.zarr" if path.is_dir() else f"{name}.nwb")
        (shutil.copytree if path.is_dir() else shutil.copyfile)(path, target)
    summary = batch([str(folder)], tmp_path / "out", workers=2, progress=False, discrete_spikes=False)
    rows = {Path(row.source).name.split(".")[0]: row for row in read_manifest(tmp_path / "out" / "manifest.csv")}
    assert sorted(rows) == sorted(files)
    for name, layout in LAYOUTS.items():
        if name in files:
            row = rows[name]
            assert row.status == "done", (name, row.error)
            assert row.planes == len(layout.series) and row.series == ";".join(layout.series)
    for name in SKIPPED:
        assert rows[name].status == "skipped" and "no RoiResponseSeries" in rows[name].error
    assert rows["caiman"].status == "failed" and "YrA + C" in rows["caiman"].error
    assert rows["percent_dff"].status == "failed" and "percent (divide by 100)" in rows["percent_dff"].error
    assert len(summary.failed) == 2 and len(summary.skipped) == 2
    assert "| skipped (no calcium traces) | 2 |" in summary.table()


def test_dandisets_as_they_are(tmp_path, files, monkeypatch):
    """A dandiset holding, per session, the processed file beside its raw movie (Visual Coding, 000728), and
    behaviour-only sessions (Visual Behavior, 000711): the batch runs the processed files and passes over
    the others from their DANDI metadata alone (no byte of them is read); an Allen id finds its processed file."""
    from nwb_cascade.allen import find_session
    from nwb_cascade.batch import batch

    from ..dandi_api import BEHAVIOR, DANDISET, PROCESSED, RAW_MOVIE, Asset, DandiArchive
    from ..http_server import RangeServer

    root = tmp_path / "served"
    root.mkdir()
    assets = [
        Asset("sub-1/sub-1_ses-501794235-StimB_behavior+image+ophys.nwb", files["allen_visual_coding"], PROCESSED),
        Asset("sub-1/sub-1_ses-501794235-StimB_ophys.nwb", files["allen_visual_coding_raw_movie"], RAW_MOVIE),
        Asset("sub-2/sub-2_ses-20180824T145125_image.nwb", files["allen_visual_behavior_behavior_only"], BEHAVIOR),
    ]
    with RangeServer(root) as server:
        archive = DandiArchive(root, base=server.url, assets=assets)
        server.routes.append(archive.route)
        monkeypatch.setenv("NWB_CASCADE_DANDI_API_URL", f"{server.url}/api")
        monkeypatch.delenv("DANDI_API_KEY", raising=False)
        assert find_session("501794235") == f"DANDI:{DANDISET}/{assets[0].path}@0.240827.1809"
        summary = batch([f"DANDI:{DANDISET}"], tmp_path / "out", workers=1, progress=False, discrete_spikes=False)
        blobs = {f"/blobs/{asset.prefix}/{asset.blob_id}": asset.path for asset in assets}
        read = {blobs[path]: sent for _, path, _, sent in server.log if path in blobs}
    statuses = {Path(row.source.split("@")[0]).name: row.status for row in summary.rows}
    assert statuses == {Path(assets[0].path).name: "done", Path(assets[1].path).name: "skipped",
                        Path(assets[2].path).name: "skipped"}
    assert "TwoPhotonSeries" in summary.skipped[0].error or "TwoPhotonSeries" in summary.skipped[1].error
    assert set(read) == {assets[0].path}  # the raw movie and the behaviour file were never opened


def test_remote_zarr_store_is_streamed(files, tmp_path):
    """An NWB Zarr store served over HTTP (consolidated metadata, one object per chunk) reads like the local one."""
    from ..http_server import RangeServer

    root = tmp_path / "served"
    shutil.copytree(files["zarr"], root / "session.nwb.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = infer(files["zarr"], tmp_path / "local.nwb", discrete_spikes=False)
        with RangeServer(root) as server:
            remote = infer(f"{server.url}/session.nwb.zarr", tmp_path / "remote.nwb", discrete_spikes=False)
    assert remote.series == local.series and remote.model == local.model
    name = "processing/cascade/ophys_DfOverF_DfOverF/spike_rates/data"
    with h5py.File(tmp_path / "local.nwb", "r") as a, h5py.File(tmp_path / "remote.nwb", "r") as b:
        np.testing.assert_array_equal(a[name][()], b[name][()])
        assert b["processing/cascade/ophys_DfOverF_DfOverF"].attrs["source_url"].endswith("/session.nwb.zarr")
