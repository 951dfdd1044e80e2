"""Batch throughput on Dask: sessions per minute with 1 and 2 local workers, and each worker's peak memory.

Run ``python benchmarks/batch.py`` (``--help`` for sizes).  Sessions are NWB files
(Visual Coding layout) built from the real Allen excerpt's ΔF/F, tiled to the
requested ROIs and length, run with the 30 Hz model (by folder) and discrete spikes.
For each worker count, the local cluster that :func:`nwb_cascade.batch` starts (one
thread per worker) runs every session into a fresh folder; it is started apart so
that its workers can be asked their CPU time and memory.  Columns: cluster start-up;
the time from the call of ``batch`` to its return; the CPU time the workers used
meanwhile, per session; each worker process's max RSS.  A plain loop of
:func:`nwb_cascade.infer` in this process is the baseline.  On a shared machine the
load average says how busy it was, and CPU seconds per session are the steadier
measure: an idle machine with N cores runs about N x 60 / that many sessions a minute.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MODEL = SHARED / "models" / "Global_EXC_30Hz_smoothing25ms"
ALLEN = SHARED / "examples" / "Allen-Brain-Observatory-Visual-Coding-30Hz" / "Experiment_552195520_excerpt.mat"


def session_traces(rois: int, frames: int, offset: int) -> np.ndarray:
    """ROIs × frames of the excerpt's ΔF/F, tiled in time, starting at ROI ``offset`` (sessions differ)."""
    from scipy.io import loadmat

    allen = loadmat(ALLEN)["dF_traces"].astype(np.float32)
    reps = -(-frames // allen.shape[1])
    return np.stack([np.tile(allen[(offset + i) % len(allen)], reps)[:frames] for i in range(rois)])


def write_sessions(folder: Path, count: int, rois: int, frames: int) -> list[Path]:
    from nwb_cascade.nwb.example import write_example_file

    return [write_example_file(folder / f"session_{index:02d}.nwb", session_traces(rois, frames, 7 * index), 30.0)
            for index in range(count)]


def peak_rss_mib() -> float:
    """This process's max RSS (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serial(paths: list[Path], out: Path) -> dict:
    """A plain loop of ``infer`` in this process (the baseline without Dask)."""
    import torch

    from nwb_cascade import infer

    torch.set_num_threads(1)  # as each Dask task runs
    start, cpu = time.perf_counter(), cpu_seconds()
    for path in paths:
        infer(path, out / f"{path.stem}.cascade.nwb", model=MODEL)
    return {"startup": None, "seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu,
            "peaks": [peak_rss_mib()]}


def on_cluster(paths: list[Path], out: Path, workers: int) -> dict:
    """One batch on a fresh local cluster of ``workers`` single-threaded workers."""
    from nwb_cascade import batch
    from nwb_cascade.batch import connect

    start = time.perf_counter()
    with connect(None, workers) as client:  # the local cluster batch() itself would start
        started = time.perf_counter() - start
        cpu_before = client.run(cpu_seconds)
        summary = batch([str(path) for path in paths], out, scheduler=client, model=MODEL, progress=False)
        cpu_after = client.run(cpu_seconds)
        peaks = client.run(peak_rss_mib)
    if summary.failed:
        raise RuntimeError(f"{len(summary.failed)} session(s) failed: {summary.failed[0].error}")
    return {"startup": started, "seconds": summary.seconds, "peaks": sorted(peaks.values()),
            "cpu": sum(cpu_after[worker] - cpu_before[worker] for worker in cpu_after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--rois", type=int, default=74, help="ROIs per session (the excerpt has 74)")
    parser.add_argument("--frames", type=int, default=18000, help="frames per session (30 Hz; 18000 = 10 min)")
    parser.add_argument("--workers", default="1,2,2,1",
                        help="comma-separated worker counts, run in this order (repeats, in mirrored order, "
                             "even out a machine whose load drifts)")
    parser.add_argument("--no-serial", action="store_true", help="skip the plain-loop baseline")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not MODEL.is_dir() or not ALLEN.is_file():
        sys.exit(f"needs the shared data beside the checkout ({SHARED})")

    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        paths = write_sessions(scratch, options.sessions, options.rois, options.frames)
        plan = ([] if options.no_serial else [0]) + [int(value) for value in options.workers.split(",")]
        for index, workers in enumerate(plan):
            load = os.getloadavg()[0]
            out = scratch / f"run_{index}"
            out.mkdir()
            result = serial(paths, out) if workers == 0 else on_cluster(paths, out, workers)
            runs.append({"workers": workers, "load": load, **result})

    print(f"{options.sessions} sessions of {options.rois} ROIs x {options.frames} frames (30 Hz, "
          f"{options.frames / 30 / 60:.0f} min each), discrete spikes on; {os.cpu_count()} cores\n")
    print("| run | load average at start | cluster start (s) | batch (s) | sessions/min | CPU s per session | "
          "peak memory per worker (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        name = "plain loop (no Dask)" if run["workers"] == 0 else f"{run['workers']} worker(s)"
        startup = "-" if run["startup"] is None else f"{run['startup']:.1f}"
        print(f"| {name} | {run['load']:.1f} | {startup} | {run['seconds']:.1f} | "
              f"{60 * options.sessions / run['seconds']:.2f} | {run['cpu'] / options.sessions:.1f} | "
              f"{', '.join(f'{peak:.0f}' for peak in run['peaks'])} |")


if __name__ == "__main__":
    main()
