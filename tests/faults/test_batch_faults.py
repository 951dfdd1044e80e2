"""Real faults sent to batches, manifests and file names: real ``nwb-cascade`` processes on real folders.

Each test sends one fault of issue 26 (docs/faults-batch.md lists them with their outcomes): outputs
that would land on sources or on files the batch did not write, a manifest that was damaged, edited or
left by an older version, sources replaced after they were done, names holding glob characters or as
long as a file name may be, ``--overwrite`` repeated, a cluster whose workers die while it starts, a
full output disk and symbolic-link loops.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from nwb_cascade.manifest import DONE, ERROR_CHARS, FAILED, PENDING, read_manifest
from nwb_cascade.nwb.inplace import copies_of, lock_path

from ..conftest import MODEL_DIR, assert_rates_close, h5_snapshot, need
from .test_faults import RESULTS, assert_whole, cli, fill, in_place, no_leftovers, wait_for_phase

pytestmark = pytest.mark.slow  # real processes, clusters and servers


def write_session(path: Path, traces, rois: int = 10, frames: int = 3000, first: int = 0) -> Path:
    from nwb_cascade.nwb.example import write_example_file

    return write_example_file(path, traces[first:first + rois, :frames], 30.0)


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def one_line_error(stderr: str) -> str:
    """The run's one-line error (``error: ...``), after asserting there is exactly that and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


# ------------------------------------------------------------------------------------------------
# Names: glob characters, and names as long as a file name may be


def test_a_name_with_glob_characters_has_its_own_leftovers_and_never_touches_another_files(tmp_path, allen_traces):
    """``sess[1].nwb`` as a glob pattern matches ``sess1.nwb``: its leftovers are found by exact name, so a killed
    run's working copy is removed by the next run, and a concurrent run on ``sess1.nwb`` keeps its own copy."""
    bracket = write_session(tmp_path / "sess[1].nwb", allen_traces)
    plain = write_session(tmp_path / "sess1.nwb", allen_traces, first=20)
    before = {path: h5_snapshot(path) for path in (bracket, plain)}

    record = tmp_path / "killed.txt"
    killed = in_place(bracket, env={"NWB_CASCADE_PAUSE_AT": "copied", "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, "copied", killed)
    killed.kill()
    killed.communicate(timeout=60)
    assert len(copies_of(bracket)) == 1 and lock_path(bracket).exists()  # what a killed run leaves

    record = tmp_path / "paused.txt"
    resume = tmp_path / "resume"
    paused = in_place(plain, env={"NWB_CASCADE_PAUSE_AT": "copied", "NWB_CASCADE_RESUME_WHEN": str(resume),
                                  "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, "copied", paused)
    (working,) = copies_of(plain)
    rerun = in_place(bracket)
    code, _, stderr = finish(rerun)
    assert working.exists(), "the run on sess[1].nwb removed the working copy of a concurrent run on sess1.nwb"
    resume.touch()
    assert code == 0, stderr
    code, _, stderr = finish(paused)
    assert code == 0, stderr
    for path in (bracket, plain):
        assert_whole(path, before[path], results=True)
        assert no_leftovers(path), sorted(os.listdir(tmp_path))


@pytest.mark.parametrize("character", ["a", "é"], ids=["ascii", "two-byte-utf8"])
def test_names_as_long_as_the_file_system_allows(tmp_path, allen_traces, character):
    """A 255-byte name: an in-place run killed after its copy and rerun, a new output beside it, and a batch."""
    stem_bytes = 255 - len(".nwb")
    stem = character * (stem_bytes // len(character.encode())) + "b" * (stem_bytes % len(character.encode()))
    path = write_session(tmp_path / f"{stem}.nwb", allen_traces)
    assert len(os.fsencode(path.name)) == 255
    before = h5_snapshot(path)

    record = tmp_path / "phases.txt"
    killed = in_place(path, env={"NWB_CASCADE_PAUSE_AT": "copied", "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, "copied", killed)
    killed.kill()
    killed.communicate(timeout=60)
    assert copies_of(path) and lock_path(path).exists()
    code, _, stderr = finish(in_place(path))
    assert code == 0, stderr
    assert_whole(path, before, results=True)
    assert no_leftovers(path)

    code, stdout, stderr = finish(cli("infer", str(path), "--model", str(need(MODEL_DIR)), "--no-discrete-spikes"))
    assert code == 0, stderr
    (output,) = [entry for entry in tmp_path.iterdir() if entry.name.endswith(".cascade.nwb")]
    assert len(os.fsencode(output.name)) <= 255 and output.name.startswith(stem[:50])

    out = tmp_path / "out"
    code, stdout, stderr = finish(cli("batch", str(path), "-o", str(out), "--workers", "1",
                                      "--model", str(need(MODEL_DIR)), "--no-discrete-spikes"))
    assert code == 0, stderr
    (row,) = read_manifest(out / "manifest.csv")
    assert row.status == DONE and (out / row.output).is_file() and len(os.fsencode(row.output)) <= 255


# ------------------------------------------------------------------------------------------------
# --overwrite


def test_overwriting_results_never_grows_the_file(tmp_path, allen_traces):
    """Each --overwrite run replaces the results; the working copy is written without the old ones, so the file
    is never larger than after the first run (HDF5 does not give back the space of deleted objects)."""
    path = write_session(tmp_path / "session.nwb", allen_traces)
    before = h5_snapshot(path)
    code, _, stderr = finish(in_place(path))
    assert code == 0, stderr
    first = path.stat().st_size
    sizes = []
    for _ in range(5):
        code, _, stderr = finish(in_place(path, "--overwrite"))
        assert code == 0, stderr
        sizes.append(path.stat().st_size)
        assert_whole(path, before, results=True)
    assert max(sizes) <= first, (first, sizes)
    with h5py.File(path, "r") as handle:
        assert list(handle["processing/cascade"]) == [RESULTS.rsplit("/", 1)[1]]


# ------------------------------------------------------------------------------------------------
# Batches: what they write over, what they take as sources


def batch_cli(*sources: Path | str, out: Path, extra: tuple[str, ...] = (), env: dict | None = None,
              ) -> subprocess.Popen:
    """A real ``nwb-cascade batch`` process (one local worker) in its own process group."""
    return subprocess.Popen([sys.executable, "-c", "from nwb_cascade.cli import run; run()", "batch",
                             *map(str, sources), "-o", str(out), "--workers", "1", "--model", str(need(MODEL_DIR)),
                             "--no-discrete-spikes", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})


def spike_rates(path: Path):
    with h5py.File(path, "r") as handle:
        (name,) = list(handle["processing/cascade"])
        return handle[f"processing/cascade/{name}/spike_rates/data"][()]


def local_rates(path: Path, tmp_path: Path):
    """The spike rates of ``path`` from a run in this process (the yardstick of a batch's output)."""
    from nwb_cascade.spike_inference import infer

    output = tmp_path / f"reference_{path.stem}_{time.monotonic_ns()}.nwb"
    infer(path, output, model=need(MODEL_DIR), discrete_spikes=False)
    return spike_rates(output)


def files_in(folder: Path) -> dict[str, object]:
    """Each file of ``folder`` with its size and modification time (the manifest: its bytes, rewritten by reruns)."""
    return {entry.name: entry.read_bytes() if entry.name == "manifest.csv" else
            (entry.stat().st_size, entry.stat().st_mtime_ns) for entry in sorted(folder.iterdir()) if entry.is_file()}


def test_an_output_that_would_replace_a_source_is_refused_before_any_work(tmp_path, allen_traces):
    """``a.nwb`` and an unrelated session ``a.cascade.nwb`` in one folder, ``--out`` that folder: the results of
    ``a.nwb`` would replace the source ``a.cascade.nwb``; refused before any work, with the rename to make."""
    folder = tmp_path / "sessions"
    folder.mkdir()
    write_session(folder / "a.nwb", allen_traces)
    unrelated = write_session(folder / "a.cascade.nwb", allen_traces, first=30)
    before = h5_snapshot(unrelated)
    for run in range(2):
        code, _, stderr = finish(batch_cli(folder, out=folder))
        line = one_line_error(stderr)
        assert code == 2 and "which is a source of this batch" in line and "rename that source (e.g. mv" in line, line
        assert h5_snapshot(unrelated) == before
        assert sorted(entry.name for entry in folder.iterdir()) == [".manifest.lock", "a.cascade.nwb", "a.nwb"]
    renamed = line.split("e.g. mv ")[1].split(")")[0].split()[1]  # the rename the message proposes
    os.rename(unrelated, renamed)
    code, stdout, stderr = finish(batch_cli(folder, out=folder))
    assert code == 0, stderr
    assert "| done | 2 |" in stdout
    assert_rates_close(spike_rates(folder / "a.cascade.nwb"), local_rates(folder / "a.nwb", tmp_path), frames_axis=0)


def test_a_file_in_the_way_that_the_batch_did_not_write_is_never_replaced(tmp_path, allen_traces):
    folder, out = tmp_path / "sessions", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    write_session(folder / "a.nwb", allen_traces)
    other = write_session(out / "a.cascade.nwb", allen_traces, first=40)  # someone else's file, by chance that name
    before = h5_snapshot(other)
    code, _, stderr = finish(batch_cli(folder, out=out))
    line = one_line_error(stderr)
    assert code == 2 and "exists and this batch did not write it" in line and "move it away (e.g. mv" in line, line
    assert h5_snapshot(other) == before and not (out / "manifest.csv").exists()


def test_rerunning_into_the_source_folder_never_takes_outputs_as_sources(tmp_path, allen_traces):
    """``--out`` the source folder (and a folder inside it): reruns take nothing new as a source, run nothing again,
    and change no file; a folder holding outputs and sessions says what it passed over and why."""
    folder = tmp_path / "sessions"
    folder.mkdir()
    for index, name in enumerate(("s0.nwb", "s1.nwb")):
        write_session(folder / name, allen_traces, first=10 * index)
    code, stdout, stderr = finish(batch_cli(folder, out=folder))
    assert code == 0, stderr
    assert "| done | 2 |" in stdout
    written = files_in(folder)
    for _ in range(2):
        code, stdout, stderr = finish(batch_cli(folder, out=folder))
        assert code == 0, stderr
        assert "0 session(s) run" in stdout and "(2 finished before this run)" in stdout
        assert f"not taken as a source: {folder / 's0.cascade.nwb'}: an nwb-cascade output" in stdout
        assert files_in(folder) == written
    assert not [name for name in written if ".cascade.cascade" in name]

    inside = folder / "results"
    code, stdout, stderr = finish(batch_cli(folder, out=inside))
    assert code == 0, stderr
    assert "| done | 2 |" in stdout and "s0.cascade.nwb" not in [row.source.rsplit("/", 1)[-1] for row in
                                                                   read_manifest(inside / "manifest.csv")]


def test_a_killed_batch_leaves_no_partial_that_a_rerun_takes_as_a_source(tmp_path, allen_traces):
    """A batch killed while its worker writes an output (into a folder inside the sources' folder): its hidden
    partial file is passed over by the rerun (and removed), which finishes with exit 0."""
    folder = tmp_path / "sessions"
    folder.mkdir()
    write_session(folder / "s0.nwb", allen_traces)
    out = folder / "out"
    record = tmp_path / "phases.txt"
    run = batch_cli(folder, out=out, env={"NWB_CASCADE_PAUSE_AT": "partial-written", "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, "partial-written", run, timeout=180)
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    partials = [entry for entry in out.iterdir() if ".partial-" in entry.name]
    assert partials, sorted(os.listdir(out))
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0, stderr
    assert "| done | 1 |" in stdout and "| failed | 0 |" in stdout
    assert f"not taken as a source: {partials[0]}: a partial output of an interrupted nwb-cascade run" in stdout
    assert not [entry for entry in out.iterdir() if ".partial-" in entry.name]
    assert [row.status for row in read_manifest(out / "manifest.csv")] == [DONE]


def test_discovery_ignores_case_and_says_what_it_passed_over(tmp_path, allen_traces):
    """``.NWB`` and ``.Nwb`` files are sessions; a symbolic-link loop (a file linked to itself, a folder linked back
    to its parent), a broken link and a hidden file are each one line of the summary; the rest of the batch runs."""
    folder = tmp_path / "sessions"
    (folder / "sub").mkdir(parents=True)
    write_session(folder / "a.nwb", allen_traces)
    write_session(folder / "B.NWB", allen_traces, first=10)
    write_session(folder / "sub" / "c.Nwb", allen_traces, first=20)
    (folder / "loop.nwb").symlink_to("loop.nwb")
    (folder / "sub" / "up").symlink_to("..")
    (folder / "gone.nwb").symlink_to("nothing-here.nwb")
    shutil.copyfile(folder / "a.nwb", folder / "._a.nwb")
    out = tmp_path / "out"
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "| done | 3 |" in stdout and "| failed | 0 |" in stdout
    passed = [line for line in stdout.splitlines() if line.startswith("not taken as a source: ")]
    assert sorted(line.split(": ")[1] for line in passed) == sorted(
        str(path) for path in (folder / "loop.nwb", folder / "sub" / "up", folder / "gone.nwb", folder / "._a.nwb"))
    assert any("a symbolic-link loop" in line and "loop.nwb" in line for line in passed)
    assert any("a folder already searched" in line for line in passed)
    assert any("a broken symbolic link" in line for line in passed)
    assert {row.source.rsplit("/", 1)[1] for row in read_manifest(out / "manifest.csv")} == {"a.nwb", "B.NWB", "c.Nwb"}


# ------------------------------------------------------------------------------------------------
# The manifest: identities of sources and outputs, damage, errors too long to store


def test_a_source_replaced_after_it_was_done_is_run_again(tmp_path, allen_traces):
    folder, out = tmp_path / "sessions", tmp_path / "out"
    folder.mkdir()
    source = write_session(folder / "s0.nwb", allen_traces)
    write_session(folder / "s1.nwb", allen_traces, first=10)
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "| done | 2 |" in stdout, stderr
    kept = (out / "s1.cascade.nwb").stat().st_mtime_ns
    write_session(tmp_path / "new.nwb", allen_traces, first=40)
    os.replace(tmp_path / "new.nwb", source)  # another session under the same name
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0, stderr
    assert "1 session(s) run" in stdout and "(1 finished before this run)" in stdout
    assert_rates_close(spike_rates(out / "s0.cascade.nwb"), local_rates(source, tmp_path), frames_axis=0)
    assert (out / "s1.cascade.nwb").stat().st_mtime_ns == kept
    rows = {Path(row.source).name: row for row in read_manifest(out / "manifest.csv")}
    info = source.stat()
    assert rows["s0.nwb"].source_id == f"size={info.st_size} mtime_ns={info.st_mtime_ns}"
    assert rows["s0.nwb"].output_id.startswith("identifier=")

    shutil.copy2(source, tmp_path / "same.nwb")
    os.replace(tmp_path / "same.nwb", source)  # the same bytes and modification time (cp -p): not a change
    code, stdout, stderr = finish(batch_cli(folder, out=out, extra=("--checksum",)))
    assert code == 0 and "0 session(s) run" in stdout, stderr
    with h5py.File(source, "r") as handle:  # the lowest bit of the first time stamp: a valid file, other bytes
        offset = handle["processing/ophys/DfOverF/DfOverF/timestamps"].id.get_offset()
    with open(source, "r+b") as handle:  # the same size and modification time: only a checksum tells
        handle.seek(offset)
        first = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([first[0] ^ 1]))
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns))
    code, stdout, stderr = finish(batch_cli(folder, out=out, extra=("--checksum",)))
    assert code == 0 and "1 session(s) run" in stdout, stderr


@pytest.mark.parametrize("how", ["files-swapped", "manifest-edited"])
def test_a_manifest_that_does_not_match_its_outputs_is_refused_with_the_fix(tmp_path, allen_traces, how):
    folder, out = tmp_path / "sessions", tmp_path / "out"
    folder.mkdir()
    write_session(folder / "a.nwb", allen_traces)
    write_session(folder / "b.nwb", allen_traces, first=10)
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "| done | 2 |" in stdout, stderr
    a, b = out / "a.cascade.nwb", out / "b.cascade.nwb"
    if how == "files-swapped":
        os.replace(a, out / "x.nwb")
        os.replace(b, a)
        os.replace(out / "x.nwb", b)
    else:
        text = (out / "manifest.csv").read_text()
        (out / "manifest.csv").write_text(text.replace(",a.cascade.nwb,", ",X,").replace(",b.cascade.nwb,", ",a.cascade.nwb,")
                                          .replace(",X,", ",b.cascade.nwb,"))
    swapped = {path: path.read_bytes() for path in (a, b)}
    code, _, stderr = finish(batch_cli(folder, out=out))
    line = one_line_error(stderr)
    assert code == 2 and "does not match its outputs" in line and f"holds the results of {folder / 'b.nwb'}" in line
    assert "rename them back" in line, line
    assert {path: path.read_bytes() for path in (a, b)} == swapped  # nothing written
    if how == "files-swapped":  # the fix: rename them back
        os.replace(a, out / "x.nwb")
        os.replace(b, a)
        os.replace(out / "x.nwb", b)
    else:  # the other fix: the manifest moved aside, the outputs recognised by their content
        os.replace(out / "manifest.csv", out / "manifest.csv.old")
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "0 session(s) run" in stdout, stderr
    assert_rates_close(spike_rates(a), local_rates(folder / "a.nwb", tmp_path), frames_axis=0)


def many_series_file(path: Path, traces, count: int = 1500) -> Path:
    """A session with ``count`` ΔF/F series in one plane: the run's error lists them all (about 150 KB)."""
    from pynwb import NWBHDF5IO
    from pynwb.ophys import RoiResponseSeries

    from nwb_cascade.nwb.example import example_nwbfile

    nwbfile = example_nwbfile(traces[:5, :300], 30.0)
    container = nwbfile.processing["ophys"]["DfOverF"]
    base = container["DfOverF"]
    for index in range(count):
        container.add_roi_response_series(RoiResponseSeries(
            name=f"DfOverF_repeated_trial_of_the_session_{index:04d}", data=base.data[:], rois=base.rois, rate=30.0,
            unit="n.a."))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def test_an_error_message_of_150_kb_never_wedges_the_folder(tmp_path, allen_traces):
    """A session whose error lists 1,500 series: its row holds a short message, the log file beside the manifest the
    whole of it and the traceback, and later batches into the folder run."""
    folder, out = tmp_path / "sessions", tmp_path / "out"
    folder.mkdir()
    many_series_file(folder / "many.nwb", allen_traces)
    write_session(folder / "good.nwb", allen_traces)
    code, stdout, stderr = finish(batch_cli(folder, out=out), timeout=600)
    assert code == 1 and "| failed | 1 |" in stdout and "| done | 1 |" in stdout, stderr
    rows = {Path(row.source).name: row for row in read_manifest(out / "manifest.csv")}
    failed = rows["many.nwb"]
    assert failed.status == FAILED and len(failed.error) <= ERROR_CHARS and "whole message: logs/" in failed.error
    log_file = out / failed.error.split("whole message: ")[1].rstrip(")")
    whole = log_file.read_text()
    message, trace = whole.split("Traceback", 1)
    assert len(message) > 131072 and message.count("DfOverF_repeated_trial_of_the_session_") == 1500
    assert "NWBInputError" in trace
    (folder / "many.nwb").unlink()
    write_session(folder / "more.nwb", allen_traces, first=10)
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "1 session(s) run" in stdout, stderr


def test_a_manifest_of_an_older_version_with_a_280_kb_field_is_read_and_shortened(tmp_path, allen_traces):
    """Versions before this one stored error messages whole; a 280 KB field passes csv's limit (128 KB), which made
    every later batch into the folder die. Now it is read, its text moved into the session's log file."""
    import csv

    folder, out = tmp_path / "sessions", tmp_path / "out"
    folder.mkdir()
    source = write_session(folder / "s0.nwb", allen_traces)
    out.mkdir()
    message = "NWBInputError: one plane has 1501 dff series " + "x" * (280 << 10)
    with open(out / "manifest.csv", "w", newline="") as handle:  # the old version's columns, its way of writing
        writer = csv.writer(handle)
        writer.writerow(["source", "status", "output", "error"])
        writer.writerow([str(source), "failed", "", message])
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "| done | 1 |" in stdout, stderr
    (row,) = read_manifest(out / "manifest.csv")
    assert row.status == DONE and row.error == ""
    assert (out / "manifest.csv").stat().st_size < 4096


@pytest.mark.parametrize("damage", ["not-utf8", "unterminated-quote", "a-64-mb-field", "extra-fields", "not-a-number"])
def test_a_damaged_manifest_is_one_line_with_how_to_recover(tmp_path, allen_traces, damage):
    folder, out = tmp_path / "sessions", tmp_path / "out"
    folder.mkdir()
    write_session(folder / "s0.nwb", allen_traces)
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0, stderr
    manifest = out / "manifest.csv"
    text = manifest.read_bytes()
    damaged = {"not-utf8": text.replace(b"done", b"d\xf6ne"),
               "unterminated-quote": text + b'"/data/x.nwb,done\n',
               "a-64-mb-field": text + b"/data/x.nwb,failed," + b"x" * (65 << 20) + b"\n",
               "not-a-number": text.replace(b",10,", b",ten,", 1),
               "extra-fields": text.rstrip(b"\r\n") + b",one,too,many\r\n"}[damage]
    manifest.write_bytes(damaged)
    code, _, stderr = finish(batch_cli(folder, out=out))
    line = one_line_error(stderr)
    assert code == 2 and "is damaged" in line and f"mv {manifest} {manifest}.damaged" in line, line
    assert manifest.read_bytes() == damaged
    os.replace(manifest, f"{manifest}.damaged")  # the recovery the message gives
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "0 session(s) run" in stdout and "| done | 1 |" in stdout, stderr
    assert "recovered" in read_manifest(manifest)[0].error


# ------------------------------------------------------------------------------------------------
# The cluster, the disk


def kill_starting_workers(batch: subprocess.Popen, limit: int, killed: list[int]) -> None:
    """Kill the worker processes the batch's local cluster spawns, as each appears (at most ``limit``)."""
    import psutil

    while batch.poll() is None and len(killed) < limit:
        try:
            children = psutil.Process(batch.pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                if child.pid not in killed and "spawn_main" in " ".join(child.cmdline()):
                    child.kill()
                    killed.append(child.pid)
            except psutil.Error:
                continue
        time.sleep(0.01)


@pytest.mark.parametrize("kills", [2, 1000], ids=["two-workers-die", "every-worker-dies"])
def test_workers_that_die_while_the_cluster_starts(tmp_path, allen_traces, kills):
    """Workers killed as they start: the cluster is started again (3 tries); when every try fails, one line and
    the manifest as it was (every row pending), and a later batch runs."""
    import threading

    folder, out = tmp_path / "sessions", tmp_path / "out"
    folder.mkdir()
    write_session(folder / "s0.nwb", allen_traces)
    run = batch_cli(folder, out=out)
    killed: list[int] = []
    killer = threading.Thread(target=kill_starting_workers, args=(run, kills, killed))
    killer.start()
    code, stdout, stderr = finish(run)
    killer.join()
    assert killed, "no worker was seen starting"
    if kills < 3:
        assert code == 0 and "| done | 1 |" in stdout, stderr
        return
    line = one_line_error(stderr)
    assert code == 2 and "the local Dask cluster did not start in 3 tries" in line and "Nanny" in line, line
    assert len(killed) == 3
    assert [row.status for row in read_manifest(out / "manifest.csv")] == [PENDING]
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "| done | 1 |" in stdout, stderr


def test_a_full_output_disk_is_one_line_per_session_and_the_batch_goes_on(tmp_path, allen_traces, small_disk):
    folder = tmp_path / "sessions"
    folder.mkdir()
    for index in range(3):
        write_session(folder / f"s{index}.nwb", allen_traces, first=10 * index)
    out = small_disk / "out"
    out.mkdir()
    filler = fill(small_disk, 0)  # not even the manifest fits: refused before any work
    code, _, stderr = finish(batch_cli(folder, out=out))
    line = one_line_error(stderr)
    assert code == 2 and "the disk is full" in line and "manifest.csv" in line, line
    filler.unlink()
    filler = fill(small_disk, 4 << 20)  # the manifest fits, no output does
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 1 and "Traceback" not in stderr, stderr
    assert "| failed | 3 |" in stdout and stdout.count("not enough free space") == 3, stdout
    assert not [entry for entry in out.iterdir() if entry.suffix == ".nwb" or ".partial-" in entry.name]
    filler.unlink()
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "| done | 3 |" in stdout, stderr


def test_a_disk_that_fills_up_during_a_batch(tmp_path, allen_traces, small_disk):
    """Another program fills the output disk once the first session is done: the others fail one line each, the
    manifest that cannot be written is said in one line at the end; with space again, a rerun keeps the output
    written and runs the rest."""
    folder = tmp_path / "sessions"
    folder.mkdir()
    for index in range(4):
        write_session(folder / f"s{index}.nwb", allen_traces, first=10 * index)
    out = small_disk / "out"
    run = batch_cli(folder, out=out)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run.poll() is None:
        if (out / "manifest.csv").is_file() and DONE in [row.status for row in read_manifest(out / "manifest.csv")]:
            break
        time.sleep(0.02)
    filler = fill(small_disk, 0)
    code, stdout, stderr = finish(run)
    line = one_line_error(stderr)
    assert code == 2 and "cannot write" in line and "the disk is full" in line, line
    assert "not enough free space" in stderr  # the sessions after the first failed, each in a line of the log
    done_first = [row for row in read_manifest(out / "manifest.csv") if row.status == DONE]
    assert done_first, "the disk filled before any session was done"
    filler.unlink()
    code, stdout, stderr = finish(batch_cli(folder, out=out))
    assert code == 0 and "| done | 4 |" in stdout, stderr
    for row in done_first:  # what was written before the disk filled up is kept
        assert (out / row.output).is_file()
