"""Results where users work: pynapple reads them (rates as a TsdFrame, spikes as a TsGroup), outputs of earlier
versions stay readable, the expected accuracy travels with the rates, and plots zoom into a time window."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_cascade.cascade import load_model
from nwb_cascade.spike_inference import infer

from ..conftest import MODEL_DIR, need

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"
PYNAPPLE = """
import json, sys, warnings
import numpy as np
import pynapple as nap
warnings.simplefilter("ignore")
data = nap.load_file(sys.argv[1])
found = {}
for key in data.keys():
    value = data[key]
    entry = {"type": type(value).__name__}
    if entry["type"] == "TsdFrame":
        entry["t"] = np.asarray(value.t).tolist()
        entry["d"] = np.nan_to_num(np.asarray(value.d), nan=-1).tolist()
    if entry["type"] == "TsGroup":
        entry["spikes"] = {int(i): np.asarray(value[i].t).tolist() for i in value.keys()}
        entry["roi_id"] = np.asarray(value.metadata["roi_id"]).tolist()
    found[key] = entry
print(json.dumps(found))
"""


def pynapple_view(path: Path) -> dict:
    """What pynapple makes of a file, in a fresh process that does not import nwb_cascade (as a user's would)."""
    import json

    done = subprocess.run([sys.executable, "-c", PYNAPPLE, str(path)], capture_output=True, text=True, check=False,
                          cwd=path.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def containers(path: Path) -> dict[str, dict]:
    """Per results container: spike rates (frames × ROIs, spikes/s), times, spike times per row, ROI ids."""
    found = {}
    with NWBHDF5IO(str(path), "r") as io:
        module = io.read().processing["cascade"]
        for name, results in module.data_interfaces.items():
            rates = results.spike_rates
            table = results.discrete_spikes
            found[name] = {
                "rates": np.asarray(rates.data[:]),
                "t": np.asarray(rates.timestamps[:]) if rates.timestamps is not None
                else rates.starting_time + np.arange(rates.data.shape[0]) / rates.rate,
                "spikes": [np.asarray(table["spike_times"][i]) for i in range(len(table))],
                "roi_id": np.asarray(table["roi_id"].data[:]),
                "ids": np.asarray(table["rois"].table.id[:])[np.asarray(table["rois"].data[:])],
            }
    return found


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["standalone", "in place", "two planes"])
def test_pynapple_reads_rates_and_spikes(tmp_path, allen_traces, mode):
    from nwb_cascade.nwb.example import write_example_file

    from ..writers import neuroconv

    if mode == "two planes":
        source = neuroconv.write_neuroconv_two_planes(
            tmp_path / "two.nwb", [{"dff": allen_traces[:4, :3000]}, {"dff": allen_traces[4:9, :3000]}], 30.0)
    else:
        source = write_example_file(tmp_path / "session.nwb", allen_traces[:6, :3000], 30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "in place":
            infer(source, in_place=True, model=need(MODEL_DIR))
            path = source
        else:
            path = infer(source, tmp_path / "out.nwb", model=need(MODEL_DIR)).output
    expected = containers(path)
    view = pynapple_view(path)
    frames = [key for key, value in view.items() if value["type"] == "TsdFrame" and key.endswith("spike_rates")]
    groups = [key for key, value in view.items() if value["type"] == "TsGroup"]
    assert len(frames) == len(groups) == len(expected) == (2 if mode == "two planes" else 1), view.keys()
    for name, truth in expected.items():
        rates_key = next(key for key in frames if len(expected) == 1 or name in key)
        group_key = next(key for key in groups if len(expected) == 1 or name in key)
        rates = np.asarray(view[rates_key]["d"])
        np.testing.assert_allclose(view[rates_key]["t"], truth["t"])
        np.testing.assert_array_equal(rates, np.nan_to_num(truth["rates"], nan=-1))  # spikes/s, as stored
        spikes = {int(key): value for key, value in view[group_key]["spikes"].items()}  # JSON keys are text
        assert sorted(spikes) == list(range(len(truth["spikes"])))  # one unit per ROI
        span = [min(t[0] for t in truth["spikes"] if len(t) > 1), max(t[-1] for t in truth["spikes"] if len(t) > 1)]
        for index, times in enumerate(truth["spikes"]):
            if len(times) > 1:
                np.testing.assert_allclose(spikes[index], times)
            else:  # pynapple 0.11 restricts a TsGroup to the union of its units' spans; one spike has none of its own
                np.testing.assert_allclose(spikes[index], [t for t in times if span[0] <= t <= span[1]])
        np.testing.assert_array_equal(view[group_key]["roi_id"], truth["ids"])
        np.testing.assert_array_equal(truth["roi_id"], truth["ids"])


@pytest.mark.parametrize("name", ["v0.1_standalone.cascade.nwb", "v0.1_in_place.nwb"])
def test_outputs_of_version_0_1_stay_readable(tmp_path, name):
    """Files written by nwb-cascade 0.1 (ndx-cascade 0.1.0, spikes in a plain DynamicTable) read with this version."""
    path = tmp_path / name
    shutil.copyfile(FIXTURES / name, path)
    from nwb_cascade.spike_inference import inspect

    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        (results,) = nwbfile.processing["cascade"].data_interfaces.values()
        assert results.spike_rates.data.shape == (900, 4)
        table = results.discrete_spikes
        counts = np.asarray(table["spike_count"].data[:])
        assert [len(table["spike_times"][i]) for i in range(len(table))] == counts.tolist()
    assert inspect(path).results == [f"processing/cascade/{results.name}"]


def test_evaluate_writes_the_expected_accuracy_that_travels_with_the_model(tmp_path, allen_traces):
    """``evaluate MODEL --write-accuracy`` scores a model folder on ground truth it did not see, beside a reference
    scored the same way, and writes expected_accuracy.csv; inference with that folder then carries per-ROI columns
    at each ROI's noise level; a model without the table gives no such columns (nothing made up)."""
    from click.testing import CliRunner

    from nwb_cascade.cascade.model import ACCURACY_FILE
    from nwb_cascade.cli import main
    from nwb_cascade.nwb.example import write_example_file
    from nwb_cascade.spike_inference import inspect

    from ..conftest import GROUND_TRUTH

    folder = shutil.copytree(need(MODEL_DIR), tmp_path / "model")
    held_out = "DS21-jGECO1a-m-V1"  # not among the published model's training datasets
    need(GROUND_TRUTH / held_out)
    result = CliRunner().invoke(main, ["evaluate", str(folder), "--ground-truth", str(GROUND_TRUTH), "--datasets",
                                       held_out, "--noise-levels", "2,4", "--reference", str(MODEL_DIR),
                                       "--write-accuracy"])
    assert result.exit_code == 0, result.output
    model = load_model(folder)
    assert model.accuracy is not None and (folder / ACCURACY_FILE).is_file()
    assert list(model.accuracy.noise_levels) == [2.0, 4.0] and held_out in model.accuracy.note
    assert 0.5 < model.accuracy.correlation[0] <= 1 and model.accuracy.correlation[0] > model.accuracy.correlation[1]
    # the model and its reference are the same weights: scored the same way, the same numbers side by side
    row = next(line for line in result.output.splitlines() if line.startswith(f"| {held_out} | 2"))
    ours, theirs = (cell.split("/")[0].strip() for cell in row.strip("|").split("|")[2:4])
    assert ours == theirs == f"{model.accuracy.correlation[0]:.3f}"

    source = write_example_file(tmp_path / "session.nwb", allen_traces[:8, :3000], 30.0)
    infer(source, tmp_path / "with.nwb", model=folder, discrete_spikes=False)
    infer(source, tmp_path / "without.nwb", model=need(MODEL_DIR), discrete_spikes=False)
    with h5py.File(tmp_path / "with.nwb", "r") as handle:
        rates = handle["processing/cascade/ophys_DfOverF_DfOverF/spike_rates"]
        noise = rates["noise_levels"][()]
        expected = model.accuracy.at(noise)
        for measure in ("correlation", "error", "bias"):
            np.testing.assert_allclose(rates[f"expected_{measure}"][()], expected[measure])
    with h5py.File(tmp_path / "without.nwb", "r") as handle:
        assert not any(key.startswith("expected_") for key in handle["processing/cascade/ophys_DfOverF_DfOverF/spike_rates"])
    assert inspect(tmp_path / "with.nwb").expected["processing/cascade/ophys_DfOverF_DfOverF"]["correlation"] > 0
    assert inspect(tmp_path / "without.nwb").expected == {}


def test_evaluate_refuses_a_model_with_no_dataset_left_to_score(tmp_path):
    """A model trained on every dataset of its kind has no held-out data: an error, and no table written."""
    from click.testing import CliRunner

    from nwb_cascade.cascade.model import read_config, write_config
    from nwb_cascade.cli import main

    from ..conftest import GROUND_TRUTH

    need(GROUND_TRUTH)
    folder = shutil.copytree(need(MODEL_DIR), tmp_path / "model")
    config = read_config(folder / "config.yaml")
    config["training_datasets"] = sorted(path.name for path in GROUND_TRUTH.iterdir() if path.is_dir())
    write_config(config, folder / "config.yaml")
    result = CliRunner().invoke(main, ["evaluate", str(folder), "--ground-truth", str(GROUND_TRUTH),
                                       "--write-accuracy"])
    assert result.exit_code != 0 and "none is left to score it on" in result.output
    assert not (folder / "expected_accuracy.csv").exists()


def test_plot_window_shows_only_that_stretch(tmp_path, allen_traces):
    from nwb_cascade.nwb.example import write_example_file
    from nwb_cascade.nwb.read import NWBInputError
    from nwb_cascade.plot import plot_results

    source = write_example_file(tmp_path / "session.nwb", allen_traces[:6, :3000], 30.0)
    output = infer(source, tmp_path / "out.nwb", model=need(MODEL_DIR)).output
    figure = plot_results(output, rois=[0, 3], window=(40.0, 50.0), out=tmp_path / "window.png")
    times = figure.axes[0].lines[0].get_xdata()
    assert 40.0 <= times.min() and times.max() <= 50.0 and len(times) == pytest.approx(300, abs=2)
    assert (tmp_path / "window.png").stat().st_size > 0
    with pytest.raises(NWBInputError, match="window 500-510 s holds 0 frame"):
        plot_results(output, window=(500.0, 510.0))


def _ranged_and_whole(log: list) -> tuple[int, list[int]]:
    """Bytes a server sent in answer to range requests, and the bytes of each whole-file answer (status 200)."""
    ranged = sum(sent for method, _, status, sent in log if method == "GET" and status == 206)
    return ranged, [sent for method, _, status, sent in log if method == "GET" and status == 200]


@pytest.mark.slow
def test_lindi_amendment_of_a_served_file(tmp_path, allen_traces):
    """``--lindi``: the results as a LINDI amendment of a remote file: pynwb + lindi see the original session with
    the cascade module added; it sends fewer bytes than the standalone copy, and holds the same rates."""
    import lindi

    from nwb_cascade.cli import main
    from nwb_cascade.nwb.example import write_example_file

    from ..http_server import RangeServer

    served = tmp_path / "served"
    served.mkdir()
    movie = np.random.default_rng(0).integers(0, 4000, (1500, 128, 128), dtype=np.uint16)
    write_example_file(served / "session.nwb", allen_traces[:20, :6001], 30.0, movie=movie)
    from click.testing import CliRunner

    # One server per run: a response of the first run that its server finishes after the run returned (the server
    # logs a response when it has sent it) must not count as the second run's.
    with RangeServer(served) as server:
        standalone = infer(f"{server.url}/session.nwb", tmp_path / "standalone.nwb", model=need(MODEL_DIR))
        standalone_bytes, standalone_probes = _ranged_and_whole(server.log)
    with RangeServer(served) as server:
        url = f"{server.url}/session.nwb"
        result = CliRunner().invoke(main, ["infer", url, "-o", str(tmp_path / "session.nwb.lindi.tar"),
                                           "--model", str(need(MODEL_DIR))])
        assert result.exit_code == 0, result.output
        amendment_bytes, amendment_probes = _ranged_and_whole(server.log)
        handle = lindi.LindiH5pyFile.from_lindi_file(str(tmp_path / "session.nwb.lindi.tar"))
        with NWBHDF5IO(file=handle, mode="r") as io:
            nwbfile = io.read()
            results = nwbfile.processing["cascade"]["ophys_DfOverF_DfOverF"]
            assert results.source is nwbfile.processing["ophys"]["DfOverF"]["DfOverF"]  # the original's series
            assert results.spike_rates.rois.table is results.source.rois.table
            assert "TwoPhotonSeries" in nwbfile.acquisition and results.source_url == url
            rates = np.asarray(results.spike_rates.data[:])
            spikes = [np.asarray(results.discrete_spikes["spike_times"][i]) for i in range(20)]
    with NWBHDF5IO(str(standalone.output), "r") as io:
        copy = io.read().processing["cascade"]["ophys_DfOverF_DfOverF"]
        np.testing.assert_array_equal(rates, copy.spike_rates.data[:])
        for index, times in enumerate(spikes):
            np.testing.assert_array_equal(times, copy.discrete_spikes["spike_times"][index])
    size = (served / "session.nwb").stat().st_size
    amendment_size = (tmp_path / "session.nwb.lindi.tar").stat().st_size
    print(f"LINDI: file {size} B, ranges sent: standalone {standalone_bytes} B, amendment {amendment_bytes} B; "
          f"whole-file GETs hung up on: standalone {standalone_probes}, amendment {amendment_probes}; "
          f"amendment {amendment_size} B, standalone {(tmp_path / 'standalone.nwb').stat().st_size} B")
    # LINDI learns the file's length from a GET of the whole file that it closes after the headers (HEAD is refused
    # by presigned S3 URLs).  What the server had pushed into the connection by then depends on socket buffers and
    # timing (on 127.0.0.1: 64 KiB in most runs, 3.9 MB in some), not on what the amendment reads, so it is
    # counted apart: there is one such GET, and it was abandoned.
    assert len(amendment_probes) == 1 and amendment_probes[0] < size and not standalone_probes
    assert amendment_bytes < standalone_bytes and amendment_bytes < size / 4, (amendment_bytes, standalone_bytes, size)
    assert amendment_size < size / 4  # (a tar of references: the original's cached specs and padding, ~2.5 MB)
