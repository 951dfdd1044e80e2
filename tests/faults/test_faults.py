"""Real faults: signals sent to a real ``nwb-cascade`` process at each phase of an in-place write, a full disk
(a small tmpfs, when the tests run as root), two writers where HDF5's locking is off, a file changed by
another program mid-run, leftovers of killed runs, and a Range server that stalls, ignores ``Range`` or
changes the file under the same size.  Whatever happens, the file afterwards opens and holds either exactly
what it held or that plus complete results; no run hangs beyond its deadline; no read mixes two versions.

The runs aim at a phase with the package's checkpoints (``$NWB_CASCADE_PAUSE_AT`` holds the run there;
``$NWB_CASCADE_PHASES`` records the phases reached): see :func:`nwb_cascade.nwb.inplace.checkpoint`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from nwb_cascade.nwb.inplace import copies_of, lock_path
from nwb_cascade.nwb.sources import SourceError
from nwb_cascade.spike_inference import infer

from ..conftest import MODEL_DIR, h5_snapshot, need
from ..http_server import Fault, RangeServer

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

PHASES = ("locked", "copied", "written", "before-rename", "renamed")
RESULTS = "processing/cascade/ophys_DfOverF_DfOverF"


@pytest.fixture
def session(tmp_path, allen_traces) -> Path:
    from nwb_cascade.nwb.example import write_example_file

    return write_example_file(tmp_path / "session.nwb", allen_traces[:10, :3000], 30.0)


def cli(*arguments: str, env: dict | None = None) -> subprocess.Popen:
    """A real ``nwb-cascade`` process."""
    return subprocess.Popen([sys.executable, "-c", "from nwb_cascade.cli import run; run()", *arguments],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def in_place(path: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return cli("infer", str(path), "--in-place", "--model", str(need(MODEL_DIR)), "--no-discrete-spikes", *extra,
               env=env)


def wait_for_phase(record: Path, phase: str, process: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if record.is_file() and phase in record.read_text().split():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {phase}: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"the run never reached {phase}")


def assert_whole(path: Path, before: dict, *, results: bool | None) -> str:
    """The file opens with h5py and pynwb and holds exactly what it held (``results=False``), or that plus
    complete results (``results=True``), or one of the two (``None``); which one it is."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        io.read()
    after = h5_snapshot(path)
    has = RESULTS in after
    if has:  # all that was there is there as it was (appending rewrites the root's version and cached specs)
        kept = {key: value for key, value in before.items() if key != "/" and not key.startswith("specifications")}
        assert {key: after.get(key) for key in kept} == kept
        with h5py.File(path, "r") as handle:
            assert handle[f"{RESULTS}/spike_rates/data"].shape == (3000, 10)
    else:
        assert after == before
    if results is not None:
        assert has == results
    return "results added" if has else "unchanged"


def no_leftovers(path: Path) -> bool:
    return not copies_of(path) and not lock_path(path).exists()


# ------------------------------------------------------------------------------------------------
# Signals at every phase


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_any_phase_leaves_the_file_whole_and_says_so(session, tmp_path, phase, signal_number):
    record = tmp_path / "phases.txt"
    before = h5_snapshot(session)
    run = in_place(session, env={"NWB_CASCADE_PAUSE_AT": phase, "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, phase, run)
    run.send_signal(signal_number)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 128 + signal_number, stderr
    name = signal.Signals(signal_number).name
    done = phase == "renamed"
    expected = "holds the added results" if done else "is unchanged"
    assert f"error: interrupted by {name}: {session} {expected}" in stderr and "Traceback" not in stderr
    assert_whole(session, before, results=done)
    assert no_leftovers(session)


@pytest.mark.parametrize("phase", PHASES)
def test_a_kill_at_any_phase_leaves_the_file_whole_and_a_rerun_cleans_up(session, tmp_path, phase):
    record = tmp_path / "phases.txt"
    before = h5_snapshot(session)
    run = in_place(session, env={"NWB_CASCADE_PAUSE_AT": phase, "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, phase, run)
    run.kill()
    run.communicate(timeout=60)
    state = assert_whole(session, before, results=phase == "renamed")
    rerun = in_place(session, "--overwrite")
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert_whole(session, before, results=True)
    assert no_leftovers(session), (state, list(session.parent.iterdir()))


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8, 1.5, 3.0])
def test_ctrl_c_during_the_work_is_never_swallowed(session, tmp_path, delay):
    """SIGINT at moments inside inference and the HDF5 write (not at a checkpoint): the run stops (130) with the
    file unchanged, or, if it had finished, exits 0 with the results; never 0 with the file unchanged."""
    record = tmp_path / "phases.txt"
    before = h5_snapshot(session)
    run = in_place(session, env={"NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, "copied", run)
    time.sleep(delay)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    state = assert_whole(session, before, results=None)
    assert run.returncode != 0 or state == "results added", stderr  # stopped, or (done before the signal) added
    assert state == "results added" or run.returncode in (130, -signal.SIGINT), stderr
    assert no_leftovers(session)


def test_a_version_3_superblock_file_is_never_left_marked_open(tmp_path, allen_traces):
    """SWMR writers and some converters write libver='latest' files, which HDF5 marks as open for writing while a
    writer holds them; a writer killed then leaves the mark. Amending a copy never marks the file itself."""
    from pynwb import NWBHDF5IO

    from nwb_cascade.nwb.example import example_nwbfile

    path = tmp_path / "latest.nwb"
    with h5py.File(path, "w", libver="latest") as handle, NWBHDF5IO(file=handle, mode="w") as io:
        io.write(example_nwbfile(allen_traces[:10, :3000], 30.0))
    before = h5_snapshot(path)
    for phase in PHASES:
        record = tmp_path / f"{phase}.txt"
        run = in_place(path, "--overwrite", env={"NWB_CASCADE_PAUSE_AT": phase, "NWB_CASCADE_PHASES": str(record)})
        wait_for_phase(record, phase, run)
        run.kill()
        run.communicate(timeout=60)
        with h5py.File(path, "r"):  # would fail with "file is already open for write"
            pass
        assert_whole(path, before, results=None)
    rerun = in_place(path, "--overwrite")
    assert rerun.wait(timeout=300) == 0
    assert no_leftovers(path)


# ------------------------------------------------------------------------------------------------
# Concurrent writers, and another program changing the file


def test_two_writers_without_hdf5_locking_cannot_both_succeed(session, tmp_path):
    record = tmp_path / "phases.txt"
    env = {"HDF5_USE_FILE_LOCKING": "FALSE"}
    resume = tmp_path / "resume"
    first = in_place(session, env={**env, "NWB_CASCADE_PAUSE_AT": "copied", "NWB_CASCADE_RESUME_WHEN": str(resume),
                                   "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, "copied", first)
    second = in_place(session, "--overwrite", env=env)
    _, stderr = second.communicate(timeout=120)
    resume.touch()  # the first goes on only once the second has ended, however slowly the second started
    assert second.returncode == 2 and "another nwb-cascade run (process" in stderr and "is changing" in stderr
    assert first.wait(timeout=300) == 0
    with h5py.File(session, "r") as handle:
        assert RESULTS in handle
    again = in_place(session, "--overwrite", env=env)  # once the first has finished, the second runs
    assert again.wait(timeout=300) == 0 and no_leftovers(session)


def test_a_file_changed_by_another_program_meanwhile_is_not_replaced(session, tmp_path):
    record = tmp_path / "phases.txt"
    resume = tmp_path / "resume"
    run = in_place(session, env={"NWB_CASCADE_PAUSE_AT": "written", "NWB_CASCADE_RESUME_WHEN": str(resume),
                                 "NWB_CASCADE_PHASES": str(record), "HDF5_USE_FILE_LOCKING": "FALSE"})
    wait_for_phase(record, "written", run)
    with h5py.File(session, "r+") as handle:  # another program writes to the file
        handle.attrs["note"] = "changed by someone else"
    changed = h5_snapshot(session)
    resume.touch()
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2 and "changed while this run worked on it" in stderr
    assert h5_snapshot(session) == changed and no_leftovers(session)


def test_staging_groups_of_earlier_versions_are_removed_by_the_next_run(session):
    """Versions before 0.2 wrote in place under ``<name>__writing`` and renamed; a kill at the rename left it."""
    from nwb_cascade.spike_inference import infer, inspect

    infer(session, in_place=True, model=need(MODEL_DIR), discrete_spikes=False)
    with h5py.File(session, "a") as handle:
        handle["processing/cascade"].move("ophys_DfOverF_DfOverF", "ophys_DfOverF_DfOverF__writing")
    assert inspect(session).results == []  # a leftover is not a result
    infer(session, in_place=True, model=need(MODEL_DIR), discrete_spikes=False)
    with h5py.File(session, "r") as handle:
        assert sorted(handle["processing/cascade"]) == ["ophys_DfOverF_DfOverF"]


def test_partial_outputs_of_killed_runs_are_removed_by_the_next_run(session, tmp_path):
    output = tmp_path / "out.nwb"
    stale = tmp_path / f".out.partial-{os.uname().nodename}-999999-0123abcd.nwb"  # a process that is gone
    stale.write_bytes(b"half a file")
    foreign = tmp_path / ".out.partial-otherhost-1-0123abcd.nwb"  # another host's: cannot be told, counts as gone
    foreign.write_bytes(b"half a file")
    infer(session, output, model=need(MODEL_DIR), discrete_spikes=False)
    assert output.is_file() and not stale.exists() and not foreign.exists()


# ------------------------------------------------------------------------------------------------
# A full disk


def fill(folder: Path, leave: int) -> Path:
    """Fill ``folder``'s file system until ``leave`` bytes are free."""
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with open(filler, "ab") as handle:
        handle.truncate(0)
        chunk = b"\0" * (1 << 20)
        remaining = max(0, free - leave)
        while remaining > 0:
            piece = chunk[:min(len(chunk), remaining)]
            try:
                handle.write(piece)
                handle.flush()
            except OSError:
                break
            remaining -= len(piece)
    return filler


@pytest.mark.parametrize("leave_kb", [0, 200, 1000, 4000, 12000])
def test_too_little_space_is_refused_before_any_work(session, small_disk, leave_kb):
    path = small_disk / "session.nwb"
    shutil.copyfile(session, path)
    before = h5_snapshot(path)
    fill(small_disk, leave_kb << 10)
    run = in_place(path)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2 and "not enough free space" in stderr, stderr
    assert_whole(path, before, results=False)
    assert no_leftovers(path)


@pytest.mark.parametrize("phase", ["locked", "copied"])
def test_a_disk_that_fills_up_mid_write_never_damages_the_file(session, small_disk, tmp_path, phase):
    """Space runs out after the checks passed (another program fills the disk while the run writes): the run
    fails however HDF5 takes it (an error, or a crash), the file is as it was, and a rerun with space succeeds."""
    path = small_disk / "session.nwb"
    shutil.copyfile(session, path)
    before = h5_snapshot(path)
    record = tmp_path / "phases.txt"
    resume = tmp_path / "resume"
    run = in_place(path, env={"NWB_CASCADE_PAUSE_AT": phase, "NWB_CASCADE_RESUME_WHEN": str(resume),
                              "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, phase, run)
    filler = fill(small_disk, 0)
    resume.touch()
    _, stderr = run.communicate(timeout=120)
    assert run.returncode != 0, stderr
    assert_whole(path, before, results=False)
    filler.unlink()
    rerun = in_place(path)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert_whole(path, before, results=True)
    assert no_leftovers(path)


def test_a_new_output_on_a_full_disk_is_refused_and_leaves_nothing(session, small_disk):
    fill(small_disk, 100 << 10)
    output = small_disk / "out.nwb"
    run = cli("infer", str(session), "-o", str(output), "--model", str(need(MODEL_DIR)))
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2 and "not enough free space" in stderr and "Traceback" not in stderr
    assert not any(p.name.startswith(".out") or p.name == "out.nwb" for p in small_disk.iterdir())


# ------------------------------------------------------------------------------------------------
# Remote reads under faults


@pytest.fixture
def served(tmp_path, session) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    shutil.copyfile(session, root / "session.nwb")
    return root


@pytest.fixture
def quick(monkeypatch):
    """Short timeouts and backoff, so that the tests of stalls take seconds."""
    for name, value in {"NWB_CASCADE_CONNECT_TIMEOUT": "2", "NWB_CASCADE_READ_TIMEOUT": "1",
                        "NWB_CASCADE_DEADLINE": "4", "NWB_CASCADE_RETRIES": "5", "NWB_CASCADE_BACKOFF": "0.2"}.items():
        monkeypatch.setenv(name, value)
    return 4 + 1  # the deadline, and one read timeout that may run past it


@pytest.mark.parametrize("fault", [Fault(times=999, stall=8), Fault(times=999, drop_after=5000, stall=8)],
                         ids=["stall-before-answering", "stall-mid-answer"])
def test_a_stalled_server_ends_in_a_clear_error_within_the_deadline(served, tmp_path, quick, fault):
    with RangeServer(served) as server:
        server.faults.append(fault)
        began = time.monotonic()
        with pytest.raises(SourceError, match="the server stalls.*NWB_CASCADE_READ_TIMEOUT"):
            infer(f"{server.url}/session.nwb", tmp_path / "out.nwb", model=need(MODEL_DIR))
        spent = time.monotonic() - began
    assert spent < quick + 2, spent
    assert not (tmp_path / "out.nwb").exists()


@pytest.mark.parametrize("advertise", [True, False], ids=["says-accept-ranges-none", "says-nothing"])
def test_a_server_that_ignores_range_is_named_on_its_first_answer(served, tmp_path, advertise):
    with RangeServer(served, honour_ranges=False, advertise=advertise) as server:
        with pytest.raises(SourceError, match="ignores HTTP Range requests.*download it"):
            infer(f"{server.url}/session.nwb", tmp_path / "out.nwb", model=need(MODEL_DIR))
        gets = [entry for entry in server.log if entry[0] == "GET"]
    assert len(gets) <= 1  # refused at once: no retries, no second download of the whole file


def two_versions(tmp_path: Path, allen_traces: np.ndarray) -> tuple[Path, Path]:
    """Two versions of one file, of the same size, whose ΔF/F differ: the same file with its ΔF/F stored
    uncompressed (contiguous storage: the size does not depend on the values), once from other ROIs."""
    from nwb_cascade.nwb.example import write_example_file

    base = write_example_file(tmp_path / "base.nwb", allen_traces[:74, :6001], 30.0)
    versions = []
    for name, rows in (("a.nwb", slice(0, 74)), ("b.nwb", slice(0, 74))):
        path = tmp_path / name
        shutil.copyfile(base, path)
        values = np.asarray(allen_traces[rows, :6001], dtype=np.float32).T
        if name == "b.nwb":
            values = values[:, ::-1].copy()  # the same ROIs in the other order: other values per column
        with h5py.File(path, "r+") as handle:
            data = handle["processing/ophys/DfOverF/DfOverF/data"]
            attrs = dict(data.attrs)
            del handle["processing/ophys/DfOverF/DfOverF/data"]
            handle.create_dataset("processing/ophys/DfOverF/DfOverF/data", data=values)
            handle["processing/ophys/DfOverF/DfOverF/data"].attrs.update(attrs)
        versions.append(path)
    assert versions[0].stat().st_size == versions[1].stat().st_size
    return versions[0], versions[1]


def test_a_changed_file_is_never_served_from_a_stale_cache(served, tmp_path, allen_traces):
    """The cache is keyed by the file's identity: after the file changes (same size, new content, new ETag and
    Last-Modified), a warm run reads the new version, as a local run of it does."""
    first, second = two_versions(tmp_path, allen_traces)
    shutil.copyfile(first, served / "session.nwb")
    rates = {}
    with RangeServer(served) as server:
        url = f"{server.url}/session.nwb"
        infer(url, tmp_path / "first.nwb", model=need(MODEL_DIR), discrete_spikes=False)
        time.sleep(0.01)
        shutil.copyfile(second, served / "session.nwb")
        infer(url, tmp_path / "second.nwb", model=need(MODEL_DIR), discrete_spikes=False)
    infer(second, tmp_path / "local.nwb", model=need(MODEL_DIR), discrete_spikes=False)
    for name in ("first", "second", "local"):
        with h5py.File(tmp_path / f"{name}.nwb", "r") as handle:
            rates[name] = handle[f"{RESULTS}/spike_rates/data"][()]
    np.testing.assert_array_equal(rates["second"], rates["local"])
    assert not np.array_equal(rates["first"], rates["second"], equal_nan=True)


def test_a_file_that_changes_mid_run_fails_rather_than_mixing_versions(served, tmp_path, allen_traces):
    first, second = two_versions(tmp_path, allen_traces)
    shutil.copyfile(first, served / "session.nwb")
    seen = []

    def swap_after_the_first_read(method, path, headers):
        if method == "GET" and path.startswith("/session.nwb"):
            seen.append(path)
            if len(seen) == 2:  # after the first read (of the file's metadata): this answer is from the new file
                shutil.copyfile(second, served / "session.nwb")
        return None

    with RangeServer(served) as server:
        server.routes.append(swap_after_the_first_read)
        with pytest.raises(SourceError, match="changed on the server during this run.*ETag"):
            infer(f"{server.url}/session.nwb", tmp_path / "out.nwb", model=need(MODEL_DIR))
    assert len(seen) >= 2 and not (tmp_path / "out.nwb").exists()


# ------------------------------------------------------------------------------------------------
# Bad input: one line naming the problem and the fix, never a traceback


def _write_with(tmp_path, allen_traces, edit, name="bad.nwb") -> Path:
    from pynwb import NWBHDF5IO

    from nwb_cascade.nwb.example import example_nwbfile

    nwbfile = example_nwbfile(allen_traces[:5, :3000], 30.0)
    edit(nwbfile.processing["ophys"]["DfOverF"]["DfOverF"])
    path = tmp_path / name
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def _set(series, **fields):
    for key, value in fields.items():
        series.fields[key] = value


@pytest.mark.parametrize("case, edit, message", [
    ("frames-out-of-order", lambda s: _set(s, timestamps=np.r_[np.asarray(s.timestamps)[:2000] + 40,
                                                                np.asarray(s.timestamps)[2000:]]),
     "timestamps do not increase.*between frames 1999 and 2000.*sort the frames"),
    ("shuffled", lambda s: _set(s, timestamps=np.random.default_rng(0).permutation(np.asarray(s.timestamps))),
     "timestamps do not increase"),
])
def test_timestamps_that_do_not_increase_are_refused(tmp_path, allen_traces, case, edit, message):
    path = _write_with(tmp_path, allen_traces, edit)
    run = cli("infer", str(path), "-o", str(tmp_path / "out.nwb"), "--model", str(need(MODEL_DIR)))
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2 and stderr.startswith("error: ") and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert re.search(message, stderr), stderr


@pytest.mark.parametrize("rate", [0.0, -30.0, float("nan")])
def test_a_rate_that_is_not_a_frame_rate_is_named(tmp_path, allen_traces, rate):
    from pynwb import NWBHDF5IO

    from nwb_cascade.nwb.example import write_example_file

    path = write_example_file(tmp_path / "rate.nwb", allen_traces[:5, :3000], 30.0, layout="fluorescence")
    with h5py.File(path, "r+") as handle:
        handle["processing/ophys/Fluorescence/DfOverF/starting_time"].attrs["rate"] = rate
    with NWBHDF5IO(str(path), "r"):
        pass
    run = cli("infer", str(path), "-o", str(tmp_path / "out.nwb"), "--model", str(need(MODEL_DIR)))
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2 and "not a frame rate" in stderr and "Traceback" not in stderr, stderr


@pytest.mark.parametrize("damage, message", [
    ("no-rois", "has no rois region"),
    ("dangling-table", "refers to a ROI table that is not in the file"),
    ("zero-rois", "an empty ROI region \\(0 ROIs\\)"),
    ("index-past-the-table", "points outside its ROI table"),
])
def test_a_series_without_a_usable_roi_table_is_named(tmp_path, allen_traces, damage, message):
    from nwb_cascade.nwb.example import write_example_file

    path = write_example_file(tmp_path / "damaged.nwb", allen_traces[:5, :3000], 30.0)
    series = "processing/ophys/DfOverF/DfOverF"
    with h5py.File(path, "r+") as handle:
        if damage == "no-rois":
            del handle[f"{series}/rois"]
        elif damage == "dangling-table":
            del handle["processing/ophys/ImageSegmentation/PlaneSegmentation"]
        elif damage == "zero-rois":
            attrs = dict(handle[f"{series}/rois"].attrs)
            del handle[f"{series}/rois"]
            handle.create_dataset(f"{series}/rois", data=np.zeros(0, dtype=np.int64))
            handle[f"{series}/rois"].attrs.update(attrs)
        else:
            handle[f"{series}/rois"][0] = 80
    run = cli("infer", str(path), "-o", str(tmp_path / "out.nwb"), "--model", str(need(MODEL_DIR)))
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2 and "Traceback" not in stderr and re.search(message, stderr), stderr


def test_a_reader_holding_the_file_does_not_stop_an_in_place_run(session):
    """Only a writer's lock refuses a file; another program reading it (a viewer, a notebook) does not."""
    holder = subprocess.Popen([sys.executable, "-c", f"import h5py, time; f = h5py.File({str(session)!r}, 'r'); "
                               "print('open', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        run = in_place(session)
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
    finally:
        holder.kill()
        holder.wait()


def test_an_emptied_manifest_does_not_make_a_batch_redo_finished_sessions(session, tmp_path):
    from nwb_cascade.batch import batch

    out = tmp_path / "out"
    first = batch([str(session)], out, workers=1, model=need(MODEL_DIR), progress=False, discrete_spikes=False)
    assert len(first.done) == 1
    output = out / first.done[0].output
    written = output.stat().st_mtime_ns
    manifest = out / "manifest.csv"
    manifest.write_text(manifest.read_text().splitlines()[0] + "\n")  # only the header left
    again = batch([str(session)], out, workers=1, model=need(MODEL_DIR), progress=False, discrete_spikes=False)
    assert again.ran == 0 and len(again.done) == 1 and output.stat().st_mtime_ns == written
    assert "recovered" in again.done[0].error
