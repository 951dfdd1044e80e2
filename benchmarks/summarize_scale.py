"""The summary at the scale of the paper's Allen analysis: hundreds of sessions of 100-200 ROIs.

Run ``python benchmarks/summarize_scale.py`` (``--help`` for sizes; the defaults are what docs/summarize.md
reports).  It needs the Cascade ground truth in ``../shared/data/ground_truth`` (for the spike kernel).

1. Writes ``--sessions`` sessions in the Allen layouts (:mod:`tests.writers.populations`: two thirds Visual
   Coding, one third Visual Behavior, with their stimulus interval tables), ``--rois-min`` to ``--rois-max``
   ROIs each, ``--seconds`` long, whose neurons fire at rates drawn from one log-normal (median
   ``--median-hz``, ``--sigma``), each spike adding the median linear kernel of the GCaMP6f ground truth,
   at noise levels drawn uniformly from ``--noise``.
2. Runs ``batch`` over them (local Dask cluster of ``--workers``), then ``summarize`` over its folder, and
   ``summarize`` over the first 100, 200... outputs (a folder of links to them) for its time per 100 sessions.
3. Prints two tables: the times, and the log-normal fitted to the inferred rates against the truth (the
   parameters the rates were drawn with, and the log-normal of the neurons' true spike counts); writes
   ``summarize_scale.json`` (the numbers) and ``truth.csv`` (each neuron's true rate) into the work folder.

Generation runs in ``--workers`` processes too; its time is reported apart from the batch and summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.writers: the Allen writers' replicas
GROUND_TRUTH = ROOT.parent / "shared" / "data" / "ground_truth"


def write_one(arguments: tuple) -> dict:
    from tests.writers.populations import write_population_session

    path, layout, index, kernel, rois, seconds, median_hz, sigma, noise_level, seed = arguments
    session = write_population_session(path, layout, index, kernel, rois=rois, seconds=seconds, median_hz=median_hz,
                                       sigma=sigma, noise_level=noise_level, stimulus=True, seed=seed)
    return {"file": Path(path).name, "rates": session.rates.tolist(), "counts": session.counts.tolist(),
            "seconds": session.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--rois-min", type=int, default=100)
    parser.add_argument("--rois-max", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--median-hz", type=float, default=0.15)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--noise", type=float, nargs=2, default=(0.7, 1.3), metavar=("LOW", "HIGH"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--folder", type=Path, default=None, help="Work folder (default: a temporary one, removed).")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("nwb_cascade.summarize").setLevel(logging.ERROR)  # per-file notes: none expected here

    from nwb_cascade import batch, summarize
    from nwb_cascade.cascade import load_model
    from nwb_cascade.cascade.ground_truth import linear_kernel
    from nwb_cascade.summarize import fit_lognormal

    if not GROUND_TRUTH.is_dir():
        sys.exit(f"{GROUND_TRUTH} is absent: the benchmark needs the ground truth for its spike kernel")
    work = arguments.folder or Path(tempfile.mkdtemp(prefix="summarize_scale_"))
    sources, out = work / "sources", work / "out"
    sources.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(arguments.seed)
    datasets = load_model("GCaMP6f_mouse_V1_30Hz_smoothing50ms").config["training_datasets"]
    kernel = (linear_kernel(GROUND_TRUTH, datasets, 30.0), 30.0)
    jobs = []
    for index in range(arguments.sessions):
        layout = "visual_behavior" if index % 3 == 2 else "visual_coding"
        jobs.append((sources / f"session_{index:04d}.nwb", layout, index, kernel,
                     int(rng.integers(arguments.rois_min, arguments.rois_max + 1)), arguments.seconds,
                     arguments.median_hz, arguments.sigma, float(rng.uniform(*arguments.noise)), arguments.seed))
    start = time.perf_counter()
    with ProcessPoolExecutor(arguments.workers) as pool:
        truth = list(pool.map(write_one, jobs))
    generated = time.perf_counter() - start
    load = os.getloadavg()

    start = time.perf_counter()
    result = batch([sources], out, workers=arguments.workers, progress=True)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    summary = summarize(out, workers=arguments.workers, progress=True)
    summarized = time.perf_counter() - start

    outputs = sorted(out.glob("*.nwb"))
    partial_times = []
    for count in range(100, len(outputs), 100):
        subset = work / f"first_{count}"
        shutil.rmtree(subset, ignore_errors=True)
        subset.mkdir()
        for path in outputs[:count]:
            (subset / path.name).symlink_to(path)
        start = time.perf_counter()
        summarize(subset, workers=arguments.workers, progress=False, figures=False)
        partial_times.append((count, time.perf_counter() - start))
    partial_times.append((len(outputs), summarized))

    rois = int(sum(len(session["rates"]) for session in truth))
    drawn = np.concatenate([session["rates"] for session in truth])
    counted = np.concatenate([np.asarray(session["counts"]) / session["seconds"] for session in truth])
    fits = {"drawn from": None, "the drawn rates (this sample)": fit_lognormal(drawn, "drawn rates"),
            "true spike counts": fit_lognormal(counted, "true counts"),
            "inferred discrete spikes (spike_rate)": summary.fits["spike_rate"],
            "inferred rate trace (mean_rate)": summary.fits["mean_rate"]}

    print(f"\n{arguments.sessions} sessions ({len(result.done)} done), {rois} ROIs, {arguments.seconds:g} s each "
          f"(30 / 31 Hz), {arguments.workers} workers; load average before the batch {load[0]:.1f}\n")
    print("| step | seconds | per 100 sessions (s) |\n|---|---|---|")
    print(f"| generate the sessions (not part of the path) | {generated:.0f} | {100 * generated / len(jobs):.1f} |")
    print(f"| batch (inference, {result.workers} workers) | {batched:.0f} | {100 * batched / len(jobs):.1f} |")
    for count, seconds in partial_times:
        label = "summarize, with figures" if count == len(outputs) else "summarize, tables only"
        print(f"| {label}: {count} sessions | {seconds:.1f} | {100 * seconds / count:.1f} |")
    print(f"| batch + summarize | {batched + summarized:.0f} | {100 * (batched + summarized) / len(jobs):.1f} |")
    print("\n| log-normal of | mu (ln Hz) | sigma | median (Hz) | ROIs fitted |\n|---|---|---|---|---|")
    print(f"| drawn from (the truth) | {math.log(arguments.median_hz):.3f} | {arguments.sigma:.3f} | "
          f"{arguments.median_hz:.3f} | {rois} |")
    for label, fit in fits.items():
        if fit is not None:
            print(f"| {label} | {fit.mu:.3f} ± {fit.se_mu:.3f} | {fit.sigma:.3f} ± {fit.se_sigma:.3f} | "
                  f"{fit.median_hz:.3f} | {fit.n} |")
    record = {"arguments": {key: (str(value) if isinstance(value, Path) else value)
                            for key, value in vars(arguments).items()},
              "rois": rois, "generate_s": generated, "batch_s": batched, "summarize_s": summarized,
              "summarize_partial_s": partial_times, "load_average": load,
              "fits": {label: (vars(fit) if fit is not None else None) for label, fit in fits.items()}}
    (work / "summarize_scale.json").write_text(json.dumps(record, indent=2) + "\n")
    with open(work / "truth.csv", "w", encoding="utf-8") as handle:  # each neuron's true rate and spikes
        handle.write("file,roi_index,true_rate,true_spikes,seconds\n")
        for session in truth:
            handle.writelines(f"{session['file']},{index},{rate!r},{count},{session['seconds']!r}\n"
                              for index, (rate, count) in enumerate(zip(session["rates"], session["counts"])))
    print(f"\nsummary in {summary.output}; record in {work / 'summarize_scale.json'}")
    if arguments.folder is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
