"""The summary of a folder of results: Allen-layout sessions (written by the Allen writers' replicas) whose
neurons fire at known rates drawn from a log-normal, run through Cascade, then summarised."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pynwb import NWBHDF5IO

from nwb_cascade import infer, summarize
from nwb_cascade.cli import main
from nwb_cascade.manifest import DONE, FAILED, Manifest
from nwb_cascade.summarize import SummarizeError, fit_lognormal

from ..writers.populations import write_population_session

# (layout, with stimulus interval tables): Visual Coding sessions of three types, one of them without its
# epoch table (as the sessions whose epochs AllenSDK could not compute), and Visual Behavior sessions
SESSIONS = (("visual_coding", True), ("visual_coding", False), ("visual_coding", True), ("visual_behavior", True),
            ("visual_behavior", True))
ROIS, SECONDS, MEDIAN_HZ, SIGMA, NOISE_LEVEL = 50, 120.0, 0.15, 1.0, 1.0


@pytest.fixture(scope="module")
def results(tmp_path_factory, gcamp6f_kernel):
    """The sessions and their results (one standalone output each, by :func:`nwb_cascade.infer`)."""
    sources, folder = tmp_path_factory.mktemp("sources"), tmp_path_factory.mktemp("results")
    sessions = []
    for index, (layout, stimulus) in enumerate(SESSIONS):
        session = write_population_session(sources / f"session_{index}.nwb", layout, index, gcamp6f_kernel, rois=ROIS,
                                           seconds=SECONDS, median_hz=MEDIAN_HZ, sigma=SIGMA, noise_level=NOISE_LEVEL,
                                           stimulus=stimulus, seed=28)
        infer(session.path, folder / f"session_{index}.cascade.nwb")
        sessions.append(session)
    return {"folder": folder, "sources": sources, "sessions": sessions}


@pytest.fixture(scope="module")
def summary(results, tmp_path_factory):
    return summarize(results["folder"], tmp_path_factory.mktemp("summary"), workers=1, progress=False)


def output_of(results: dict, index: int) -> Path:
    return results["folder"] / f"session_{index}.cascade.nwb"


def results_container(nwbfile):
    (container,) = nwbfile.processing["cascade"].data_interfaces.values()
    return container


def test_one_row_per_roi_with_what_the_files_state(results, summary):
    rois = summary.rois
    assert len(rois) == ROIS * len(SESSIONS) and not rois.duplicated(["file", "plane", "roi_index"]).any()
    for index, session in enumerate(results["sessions"]):
        rows = rois[rois["file"] == f"session_{index}.cascade.nwb"].sort_values("roi_index")
        with NWBHDF5IO(str(output_of(results, index)), "r", load_namespaces=True) as io:
            nwbfile = io.read()
            container = results_container(nwbfile)
            rates = np.asarray(container.spike_rates.data[:], dtype=np.float64)
            table = container.spike_rates.rois.table
            plane = table.imaging_plane
            counts = [len(times) for times in container.discrete_spikes["spike_times"][:]]
            # float64 sums of the same float32 values, added in blocks or at once: equal to ~1e-15
            np.testing.assert_allclose(rows["mean_rate"], np.nanmean(rates, axis=0), rtol=1e-12)
            np.testing.assert_array_equal(rows["spike_count"], counts)
            np.testing.assert_array_equal(rows["noise_level"], container.spike_rates.noise_levels[:])
            np.testing.assert_array_equal(rows["expected_correlation"], container.spike_rates.expected_correlation[:])
            np.testing.assert_array_equal(rows["roi_id"], table.id[:])
            assert set(rows["location"]) == {plane.location} and set(rows["indicator"]) == {plane.indicator}
            assert set(rows["subject_id"]) == {nwbfile.subject.subject_id}
            assert set(rows["genotype"]) == {nwbfile.subject.genotype}
            assert set(rows["model"]) == {container.model_name}
        seconds = np.isfinite(rates).sum(axis=0) / rows["frame_rate"].to_numpy()
        np.testing.assert_allclose(rows["spike_rate"], rows["spike_count"].to_numpy(dtype=float) / seconds, rtol=1e-12)
        assert set(rows["line"]) == {session.line}
        if session.depth is None:  # the Visual Coding files state no depth ("{depth}" in the plane description)
            assert rows["depth_um"].isna().all() and set(rows["depth_from"]) == {""} and set(rows["depth_bin"]) == {""}
        else:
            assert set(rows["depth_um"]) == {session.depth} and set(rows["depth_from"]) == {"lab metadata imaging_depth"}
    assert len(summary.sessions) == len(SESSIONS) and summary.skipped == []


def stimulus_means(source: Path, output: Path) -> dict[str, np.ndarray]:
    """Each stimulus's mean rate per ROI, from the source's interval tables as pynwb reads them."""
    with NWBHDF5IO(str(source), "r", load_namespaces=True) as io:
        nwbfile = io.read()
        if nwbfile.epochs is not None:
            table = nwbfile.epochs.to_dataframe()
            intervals = [(row.start_time, row.stop_time, row.stimulus_type) for row in table.itertuples()]
        else:
            intervals = [(row.start_time, row.stop_time, row.stimulus_name)
                         for name, found in nwbfile.intervals.items() if name.endswith("_presentations")
                         for row in found.to_dataframe().itertuples()]
    with NWBHDF5IO(str(output), "r", load_namespaces=True) as io:
        rates = results_container(io.read()).spike_rates
        data = np.asarray(rates.data[:], dtype=np.float64)
        times = np.asarray(rates.get_timestamps()[:], dtype=float)
    means = {}
    for stimulus in {name for _, _, name in intervals}:
        inside = np.zeros(times.size, dtype=bool)
        for start, stop, name in intervals:
            if name == stimulus:
                inside |= (times >= start) & (times < stop)
        means[stimulus] = np.nanmean(data[inside], axis=0)
    return means


def test_stimulus_columns_where_the_sessions_have_interval_tables(results, summary):
    rois = summary.rois
    stimulus_columns = [column for column in rois.columns if column.startswith("rate_")]
    for index, session in enumerate(results["sessions"]):
        rows = rois[rois["file"] == f"session_{index}.cascade.nwb"].sort_values("roi_index")
        if not session.stimulus_rates:  # still summarised, with no stimulus
            assert set(rows["stimulus_from"]) == {""} and rows[stimulus_columns].isna().all().all()
            continue
        assert set(rows["stimulus_from"]) == {f"source file {session.path}"}  # standalone outputs copy no intervals
        expected = stimulus_means(session.path, output_of(results, index))
        assert {column for column in stimulus_columns if rows[column].notna().all()} == {f"rate_{s}" for s in expected}
        for stimulus, means in expected.items():
            np.testing.assert_allclose(rows[f"rate_{stimulus}"], means, rtol=1e-12)
    sessions = summary.sessions.set_index("file")
    assert sessions.loc["session_0.cascade.nwb", "stimulus_tables"] == "/intervals/epochs"
    assert sessions.loc["session_3.cascade.nwb", "stimulus_tables"].count("_presentations") == 3


def test_stimulus_intervals_read_from_a_results_file_that_holds_them(results, tmp_path):
    annotated = tmp_path / "annotated.nwb"
    shutil.copyfile(results["sessions"][0].path, annotated)
    infer(annotated, in_place=True)
    found = summarize(tmp_path, tmp_path / "summary", workers=1, progress=False, figures=False)
    assert set(found.rois["stimulus_from"]) == {"results file"} and len(found.rois) == ROIS
    np.testing.assert_allclose(found.rois.sort_values("roi_index")["rate_spontaneous"],
                               stimulus_means(annotated, annotated)["spontaneous"], rtol=1e-12)


def test_the_lognormal_fit_recovers_the_true_rates(results, summary):
    """The log-normal fitted to the inferred rates matches the one the rates were drawn from, within three
    standard errors of the fit (the precision a population of this size allows)."""
    fit = summary.fits["spike_rate"]
    assert fit.n >= 0.95 * ROIS * len(SESSIONS)  # the few neurons without a spike in 2 minutes are left out
    drawn = np.concatenate([session.rates for session in results["sessions"]])
    counted = np.concatenate([session.counts / session.seconds for session in results["sessions"]])
    for truth in (fit_lognormal(drawn), fit_lognormal(counted)):
        assert abs(fit.mu - truth.mu) < 3 * fit.se_mu, (fit, truth)
        assert abs(fit.sigma - truth.sigma) < 3 * fit.se_sigma, (fit, truth)
    assert abs(fit.mu - math.log(MEDIAN_HZ)) < 3 * fit.se_mu and abs(fit.sigma - SIGMA) < 3 * fit.se_sigma
    saved = json.loads((summary.output / "lognormal_fit.json").read_text())
    for column, fitted in summary.fits.items():
        assert fitted == fit_lognormal(summary.rois[column].to_numpy(dtype=float), column)
        assert saved[column]["mu"] == fitted.mu and saved[column]["sigma"] == fitted.sigma


def test_tables_figures_and_report_are_written(summary):
    import matplotlib

    out = summary.output
    assert {path.name for path in out.iterdir()} == {
        "rois.parquet", "rois.csv", "sessions.parquet", "sessions.csv", "lognormal_fit.json", "skipped.csv",
        "report.md", "neurons_vs_noise.png", "rate_distribution.png", "rates_by_depth_and_line.png",
        "rates_by_stimulus.png", "correlations.png"}
    for name in ("rois", "sessions"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"), getattr(summary, name))
        assert len(pd.read_csv(out / f"{name}.csv")) == len(getattr(summary, name))
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert (out / "report.md").read_text() == summary.describe() + "\n"
    assert matplotlib.get_backend() == matplotlib.rcParams["backend"]  # the library never chose a backend


def test_files_that_cannot_be_summarised_are_named_with_the_reason(results, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copyfile(output_of(results, 0), folder / "good.nwb")
    shutil.copyfile(results["sessions"][1].path, folder / "source_only.nwb")
    (folder / "truncated.nwb").write_bytes(output_of(results, 2).read_bytes()[:4000])
    found = summarize(folder, tmp_path / "s1", workers=1, progress=False, figures=False)
    assert set(found.rois["file"]) == {"good.nwb"}
    reasons = dict(found.skipped)
    assert sorted(reasons) == ["source_only.nwb", "truncated.nwb"]
    assert "no Cascade results" in reasons["source_only.nwb"] and "truncated or damaged" in reasons["truncated.nwb"]
    assert pd.read_csv(tmp_path / "s1" / "skipped.csv").to_dict("list") == {
        "file": list(reasons), "reason": list(reasons.values())}

    # with a manifest: its done outputs; the sessions it did not finish and the files it does not name are listed
    manifest = Manifest(folder)
    manifest.row("/data/a.nwb").update({"status": DONE, "output": "good.nwb"})
    manifest.row("/data/b.nwb").update({"status": FAILED, "error": "NWBInputError: no ΔF/F"})
    manifest.save()
    found = summarize(folder, tmp_path / "s2", workers=1, progress=False, figures=False)
    reasons = dict(found.skipped)
    assert set(found.rois["file"]) == {"good.nwb"}
    assert reasons["/data/b.nwb"] == "the batch did not finish it (status failed: NWBInputError: no ΔF/F)"
    assert reasons["source_only.nwb"] == reasons["truncated.nwb"] == "not in the manifest (not an output of this batch)"

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SummarizeError, match="no results to summarise"):
        summarize(empty, workers=1, progress=False)
    with pytest.raises(SummarizeError, match="depth bins must be at least two increasing edges"):
        summarize(folder, tmp_path / "s3", depth_bins=(300, 200), workers=1, progress=False)
    assert not (tmp_path / "s3").exists()  # refused before anything was read or written


def test_command_line_summarize(results, tmp_path):
    runner = CliRunner()
    done = runner.invoke(main, ["summarize", str(results["folder"]), "-o", str(tmp_path / "s"), "--workers", "1",
                                "--no-figures", "--depth-bins", "0,250,1000"])
    assert done.exit_code == 0, done.output
    assert f"{ROIS * len(SESSIONS)} ROIs of {len(SESSIONS)} plane(s)" in done.output and "spike_rate: log-normal" in done.output
    assert set(pd.read_csv(tmp_path / "s" / "rois.csv")["depth_bin"].dropna()) == {"250-1000 µm"}
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = runner.invoke(main, ["summarize", str(empty), "--workers", "1"])
    assert failed.exit_code == 2 and failed.output.startswith("error: no results to summarise")
    assert len(failed.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_dask_workers_and_remote_results_give_the_same_summary(results, summary, tmp_path):
    from ..http_server import RangeServer

    parallel = summarize(results["folder"], tmp_path / "dask", workers=2, progress=False, figures=False)
    assert parallel.workers == 2
    pd.testing.assert_frame_equal(parallel.rois, summary.rois)
    pd.testing.assert_frame_equal(parallel.sessions, summary.sessions)
    with RangeServer(results["folder"]) as server:
        url = f"{server.url}/session_3.cascade.nwb"
        remote = summarize(url, tmp_path / "remote", workers=1, progress=False, figures=False)
    local = summary.rois[summary.rois["file"] == "session_3.cascade.nwb"].reset_index(drop=True)
    # the same rows; the whole folder's table also has the other sessions' id and stimulus columns
    pd.testing.assert_frame_equal(remote.rois.drop(columns="file"), local[remote.rois.columns].drop(columns="file"))
    assert set(remote.rois["file"]) == {url}
