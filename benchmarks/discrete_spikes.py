"""Discrete spikes on held-out ground truth: counts, spike-time precision, and speed.

Run ``python benchmarks/discrete_spikes.py``.  For each held-out dataset (the
published 30 Hz model never saw them), at noise levels 2 and 4: spike-count
error against the true spikes, fraction of true spikes matched within ±2
frames, and the time per hour of recording for 1 ROI and for 100 ROIs (the
dataset's predicted rates tiled to one hour at 30 Hz).  Prints a markdown table.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from published_spikes_procedure import published_discrete_spikes

from nwb_cascade.cascade import discrete_spikes, load_model, predict
from nwb_cascade.cascade.ground_truth import at_frame_rate, read_dataset, with_noise_level
from nwb_cascade.cascade.metrics import match_spikes
from nwb_cascade.cascade.spikes import l1_error

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ALLEN = SHARED / "examples" / "Allen-Brain-Observatory-Visual-Coding-30Hz"
MODEL = SHARED / "models" / "Global_EXC_30Hz_smoothing25ms"
DATASETS = ["DS01-OGB1-m-V1", "DS02-OGB1-2-m-V1", "DS21-jGECO1a-m-V1", "DS28-XCaMPgf-m-V1", "DS29-GCaMP7f-m-V1"]
HOUR = 108_000


def fit_comparison(model) -> None:
    """L1 fit and time against the published procedure (its real output, or the re-implementation)."""
    from scipy.io import loadmat

    sigma = model.smoothing * model.frame_rate
    print("| input | procedure | seconds | spikes | summed rate in segments | L1 error |")
    print("|---|---|---|---|---|---|")
    rates = loadmat(ALLEN / "full_prediction_Experiment_552195520_excerptTorch.mat")["spike_prob"]
    reference = np.load(SHARED / "reference" / "allen_excerpt_discrete_spikes.npz")
    published_l1 = sum(l1_error(r, a) for r, a in zip(rates, reference["approximation"]))
    start = time.perf_counter()
    spikes, approximation = discrete_spikes(rates, model)
    seconds = time.perf_counter() - start
    ours_l1 = sum(l1_error(r, a) for r, a in zip(rates, approximation))
    from nwb_cascade.cascade.spikes import supported_segments

    supported = sum(np.nansum(r[s]) for r in rates for s in supported_segments(r, sigma))
    print(f"| Allen excerpt, 74 ROIs x 6001 | published (its own output) | - | {int(reference['n_spikes'].sum())} | "
          f"{supported:.0f} | {published_l1:.1f} |")
    print(f"| Allen excerpt, 74 ROIs x 6001 | this package | {seconds:.3f} | {sum(map(len, spikes))} | "
          f"{supported:.0f} | {ours_l1:.1f} |")
    rng = np.random.default_rng(1)
    for frames in (1000, 3000, HOUR):
        dense = 0.05 + rng.gamma(2.0, 0.15, frames)  # one supported segment of dense firing
        if frames <= 1000:
            start = time.perf_counter()
            spikes, approximation = published_discrete_spikes(dense, sigma)
            print(f"| dense, one segment of {frames:,} frames | published procedure (re-implemented) | "
                  f"{time.perf_counter() - start:.2f} | {len(spikes)} | {dense.sum():.0f} | {l1_error(dense, approximation):.1f} |")
        start = time.perf_counter()
        spikes, approximation = discrete_spikes(dense, model)
        print(f"| dense, one segment of {frames:,} frames | this package | {time.perf_counter() - start:.3f} | "
              f"{len(spikes)} | {dense.sum():.0f} | {l1_error(dense, approximation):.1f} |", flush=True)
    print()


def main() -> None:
    model = load_model(MODEL)
    discrete_spikes(np.ones(200), model)  # compile once, outside the timings
    fit_comparison(model)
    print("| dataset | noise | recordings | true spikes | inferred | count error | matched ±2 frames | "
          "false pos./s | s per hour, 1 ROI | s per hour, 100 ROIs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dataset in DATASETS:
        for level in (2, 4):
            rng = np.random.default_rng(level)
            true_total = inferred_total = matched = 0
            false_per_s, rates = [], []
            for recording in read_dataset(SHARED / "ground_truth" / dataset):
                _, dff, counts = at_frame_rate(recording, 30.0)
                noisy = with_noise_level(dff, 30.0, level, rng)
                if noisy is None:
                    continue
                rate = predict(noisy, model, frame_rate=30.0)
                spikes, _ = discrete_spikes(rate, model)
                true_frames = np.repeat(np.arange(len(counts)), counts.astype(int))
                inside = (true_frames >= 32) & (true_frames < len(counts) - 31)  # frames with a prediction
                result = match_spikes(spikes, true_frames[inside], frame_rate=30.0, duration_frames=len(counts))
                true_total += result.true_spikes
                inferred_total += result.inferred_spikes
                matched += result.matched[2] * result.true_spikes
                false_per_s.append(result.false_positives_per_s)
                rates.append(np.nan_to_num(rate))
            if not rates:
                continue
            tiled = np.resize(np.concatenate(rates), HOUR)
            start = time.perf_counter()
            discrete_spikes(tiled, model)
            one = time.perf_counter() - start
            many = np.stack([np.roll(tiled, 997 * k) for k in range(100)])
            start = time.perf_counter()
            discrete_spikes(many, model)
            hundred = time.perf_counter() - start
            print(
                f"| {dataset} | {level} | {len(rates)} | {true_total} | {inferred_total} | "
                f"{(inferred_total - true_total) / true_total:+.1%} | {matched / true_total:.1%} | "
                f"{np.mean(false_per_s):.2f} | {one:.2f} | {hundred:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
