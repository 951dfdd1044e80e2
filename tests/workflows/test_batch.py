"""Batches on a real Dask LocalCluster, over NWB files built from the real Allen excerpt."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from nwb_cascade.batch import BatchError, BatchSummary, batch
from nwb_cascade.cli import main
from nwb_cascade.manifest import DONE, FAILED, PENDING, read_manifest
from nwb_cascade.spike_inference import infer

from ..conftest import MODEL_DIR, assert_rates_close, need
from ..http_server import RangeServer

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

# name: (layout, first ROI, ROIs, frames) - short slices of the excerpt keep each session to a second or two
SESSIONS = {
    "coding_a": ("visual_coding", 0, 10, 6001),
    "behavior_b": ("visual_behavior", 10, 10, 6001),
    "fluorescence_c": ("fluorescence", 20, 8, 4000),
    "coding_d": ("visual_coding", 30, 6, 3000),
    "served_e": ("visual_coding", 40, 10, 6001),  # served over HTTP
}


def write_session(path: Path, traces: np.ndarray, name: str) -> Path:
    from nwb_cascade.nwb.example import write_example_file

    layout, first, rois, frames = SESSIONS[name]
    return write_example_file(path, traces[first:first + rois, :frames], 30.0, layout=layout)


def spike_rates(path: Path) -> np.ndarray:
    """The spike-rate dataset of a results file (one results container)."""
    with h5py.File(path, "r") as handle:
        (name,) = list(handle["processing/cascade"])
        return handle[f"processing/cascade/{name}/spike_rates/data"][()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from distributed import LocalCluster

    cache = {"NWB_CASCADE_CACHE": str(tmp_path_factory.mktemp("worker_cache"))}  # never the user's real cache
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, env=cache) as running:
        yield running


@pytest.fixture(scope="module")
def sessions(tmp_path_factory, allen_traces):
    """Five NWB files in a folder (four good ones and a truncated one) and one more served on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("sessions")
    served = tmp_path_factory.mktemp("served")
    files = {name: write_session((served if name == "served_e" else folder) / f"{name}.nwb", allen_traces, name)
             for name in SESSIONS}
    corrupt = folder / "corrupt_f.nwb"
    corrupt.write_bytes(files["coding_a"].read_bytes()[:5000])
    with RangeServer(served) as server:
        yield {"folder": folder, "files": files, "corrupt": corrupt, "url": f"{server.url}/served_e.nwb"}


@pytest.fixture(scope="module")
def references(tmp_path_factory, sessions):
    """Each good session run in this process by :func:`nwb_cascade.infer`, as the batch's yardstick."""
    folder = tmp_path_factory.mktemp("references")
    return {name: spike_rates(infer(path, folder / f"{name}.nwb", model=need(MODEL_DIR)).output)
            for name, path in sessions["files"].items()}


def outputs_by_session(summary: BatchSummary, sessions: dict) -> dict[str, Path]:
    found = {}
    for row in summary.done:
        name = next(name for name in SESSIONS if name in row.source)
        found[name] = summary.manifest.parent / row.output
    return found


def test_batch_matches_single_process_runs_and_reruns_only_what_is_left(sessions, references, cluster, tmp_path):
    out = tmp_path / "out"
    sources = [str(sessions["folder"]), sessions["url"]]
    first = batch(sources, out, workers=2, model=need(MODEL_DIR), progress=False)

    assert (first.ran, first.done_before, first.workers) == (6, 0, 2)
    assert len(first.done) == 5 and len(first.failed) == 1 and not first.pending
    (failed,) = first.failed
    assert failed.source == str(sessions["corrupt"]) and failed.output == ""
    assert failed.error.startswith("NWBInputError: ") and "truncated or damaged" in failed.error
    outputs = outputs_by_session(first, sessions)
    assert sorted(outputs) == sorted(SESSIONS)
    for name, path in outputs.items():
        assert_rates_close(spike_rates(path), references[name], frames_axis=0)  # 1 thread vs 2: reordering only
    for row in first.done:
        _, _, rois, frames = SESSIONS[next(name for name in SESSIONS if name in row.source)]
        assert (row.rois, row.frames, row.model) == (rois, frames, "Global_EXC_30Hz_smoothing25ms")
        assert row.noise_min <= row.noise_median <= row.noise_max and row.seconds > 0 and row.worker
    manifest = {row.source: row for row in read_manifest(out / "manifest.csv")}
    assert manifest == {row.source: row for row in first.rows}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [".manifest.lock", "manifest.csv", "logs"] + [path.name for path in outputs.values()])
    (log_file,) = (out / "logs").iterdir()  # the failed session's whole message and traceback
    assert failed.error in log_file.read_text() and "Traceback" in log_file.read_text()
    written = {path: path.stat().st_mtime_ns for path in outputs.values()}

    # a rerun leaves what is done alone and tries the failed session again
    second = batch(sources, out, scheduler=cluster.scheduler_address, model=need(MODEL_DIR), progress=False)
    assert (second.ran, second.done_before, len(second.failed)) == (1, 5, 1)
    assert {path: path.stat().st_mtime_ns for path in outputs.values()} == written

    # once the file is repaired, the next run does that one session, and the one after does nothing at all
    shutil.copyfile(sessions["files"]["coding_a"], sessions["corrupt"])
    third = batch(sources, out, scheduler=cluster.scheduler_address, model=need(MODEL_DIR), progress=False)
    assert (third.ran, third.done_before, len(third.done)) == (1, 5, 6)
    manifest_bytes = (out / "manifest.csv").read_bytes()
    fourth = batch(sources, out, scheduler="tcp://127.0.0.1:9", model=need(MODEL_DIR), progress=False)
    assert (fourth.ran, fourth.done_before, fourth.workers, len(fourth.done)) == (0, 6, 0, 6)  # no cluster contacted
    assert (out / "manifest.csv").read_bytes() == manifest_bytes
    assert {path: path.stat().st_mtime_ns for path in outputs.values()} == written


def test_a_worker_killed_mid_batch_does_not_stop_the_batch(sessions, references, cluster, tmp_path):
    from distributed import Client

    killed: list[str] = []

    def kill_a_busy_worker() -> None:
        with Client(cluster.scheduler_address) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                executing = client.run(lambda dask_worker: [str(task.key) for task in dask_worker.state.executing])
                busy = [address for address, keys in executing.items()
                        if any(key.startswith("cascade-") for key in keys)]
                if busy:
                    killed.append(busy[0])
                    with contextlib.suppress(OSError):  # the worker dies before it answers
                        client.run(os._exit, 1, workers=busy[:1])
                    return
                time.sleep(0.05)

    files = sessions["files"]
    sources = [str(files[name]) for name in ("coding_a", "behavior_b", "fluorescence_c", "coding_d")]
    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    summary = batch(sources, tmp_path / "out", scheduler=cluster.scheduler_address, model=need(MODEL_DIR),
                    progress=False)
    killer.join()

    assert killed, "no worker was seen running a session"
    assert len(summary.done) == 4 and not summary.failed
    for name, path in outputs_by_session(summary, sessions).items():
        assert_rates_close(spike_rates(path), references[name], frames_axis=0)  # 1 thread vs 2: reordering only
    assert not list((tmp_path / "out").glob(".*.partial-*"))  # what the killed task began is cleaned away
    with Client(cluster.scheduler_address) as client:  # the nanny has brought a fresh worker up
        client.wait_for_workers(2, timeout=60)
        assert killed[0] not in client.scheduler_info(n_workers=-1)["workers"]


def test_command_line_batch_and_its_exit_status(sessions, cluster, tmp_path):
    runner = CliRunner()
    files = sessions["files"]
    arguments = ["batch", str(files["coding_d"]), str(sessions["corrupt"]), "-o", str(tmp_path / "out"),
                 "--scheduler", cluster.scheduler_address, "--model", str(need(MODEL_DIR))]
    corrupt = tmp_path / "corrupt.nwb"
    corrupt.write_bytes(b"not an NWB file")
    arguments[2] = str(corrupt)
    result = runner.invoke(main, arguments)
    assert result.exit_code == 1, result.output  # a failed session: the batch says so in its exit status
    assert "| done | 1 |" in result.output and "(0 finished before this run)" in result.output and "| failed | 1 |" in result.output
    assert f"failed: {corrupt}: NWBInputError: " in result.output
    result = runner.invoke(main, arguments[:2] + arguments[3:])
    assert result.exit_code == 0, result.output
    assert "(1 finished before this run)" in result.output and "0 session(s) run" in result.output
    result = runner.invoke(main, arguments + ["--workers", "2"])
    assert result.exit_code != 0 and "not both" in result.output


def test_outputs_that_would_clash_are_refused_before_any_work(sessions, tmp_path):
    twin = tmp_path / "elsewhere"
    twin.mkdir()
    shutil.copyfile(sessions["files"]["coding_d"], twin / "coding_d.nwb")
    with pytest.raises(BatchError, match="would both write"):
        batch([sessions["files"]["coding_d"], twin / "coding_d.nwb"], tmp_path / "out", workers=1)
    assert not (tmp_path / "out" / "manifest.csv").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BatchError, match="no NWB files"):
        batch([empty], tmp_path / "out", workers=1)
    with pytest.raises(BatchError, match="not both"):
        batch([empty], tmp_path / "out", workers=1, scheduler="tcp://127.0.0.1:9")


def test_ctrl_c_leaves_a_consistent_manifest_and_a_rerun_finishes(sessions, cluster, tmp_path):
    files = sessions["files"]
    out = tmp_path / "out"
    sources = [str(files[name]) for name in ("coding_a", "behavior_b", "fluorescence_c", "coding_d", "coding_a")]
    sources[-1] = str(tmp_path / "copy_of_a.nwb")
    shutil.copyfile(files["coding_a"], sources[-1])
    command = [sys.executable, "-c", "from nwb_cascade.cli import run; run()", "batch", *sources, "-o", str(out),
               "--scheduler", cluster.scheduler_address, "--model", str(need(MODEL_DIR))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        manifest = out / "manifest.csv"
        if manifest.is_file() and any(row.status == DONE for row in read_manifest(manifest)):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    rows = read_manifest(out / "manifest.csv")
    assert [row.source for row in rows] == sources
    statuses = [row.status for row in rows]
    assert DONE in statuses and PENDING in statuses and FAILED not in statuses, statuses
    for row in rows:
        assert (row.status == DONE) == bool(row.output) and (out / row.output).is_file() == (row.status == DONE)

    again = batch(sources, out, scheduler=cluster.scheduler_address, model=need(MODEL_DIR), progress=False)
    assert again.done_before == statuses.count(DONE) and len(again.done) == 5


def test_ctrl_c_in_a_terminal_stops_a_local_cluster_without_worker_tracebacks(sessions, tmp_path):
    """Ctrl-C in a terminal reaches the whole process group (the workers too): one line says what was left
    pending, and no worker prints a KeyboardInterrupt traceback."""
    files = sessions["files"]
    out = tmp_path / "out"
    sources = [str(files[name]) for name in ("coding_a", "fluorescence_c", "coding_d")]
    command = [sys.executable, "-c", "from nwb_cascade.cli import run; run()", "batch", *sources, "-o", str(out),
               "--workers", "2", "--model", str(need(MODEL_DIR))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "manifest.csv").is_file():
        time.sleep(0.05)
    time.sleep(2.0)  # the workers started and took sessions
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    rows = read_manifest(out / "manifest.csv")
    assert {row.status for row in rows} <= {DONE, PENDING}
    assert all((out / row.output).is_file() for row in rows if row.status == DONE)
