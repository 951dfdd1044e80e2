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

from nwb_cascade.manifest import DONE, FAILED, PENDING, read_manifest
from nwb_cascade.nwb.inplace import copies_of, lock_path

from .conftest import MODEL_DIR, h5_snapshot, need
from .test_faults import RESULTS, assert_whole, cli, in_place, no_leftovers, wait_for_phase

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
    paused = in_place(plain, env={"NWB_CASCADE_PAUSE_AT": "copied", "NWB_CASCADE_PAUSE_SECONDS": "8",
                                  "NWB_CASCADE_PHASES": str(record)})
    wait_for_phase(record, "copied", paused)
    (working,) = copies_of(plain)
    rerun = in_place(bracket)
    code, _, stderr = finish(rerun)
    assert code == 0, stderr
    assert working.exists(), "the run on sess[1].nwb removed the working copy of a concurrent run on sess1.nwb"
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
    code, stdout, stderr = finish(cli("batch", str(path), "--out", str(out), "--workers", "1",
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
