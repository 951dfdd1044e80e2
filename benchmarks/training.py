"""Training speed, memory and held-out accuracy: this trainer beside the windowed approach.

Run ``python benchmarks/training.py`` (``--device cuda`` on a GPU).  Same data for
both: DS09 + DS14 resampled to 30 Hz at noise level 3 (smoothing 25 ms), one
ensemble member, 2 epochs of the published 5e6 windows.  The windowed approach is
the published one: every training window materialised (float64, as published)
and fed to the per-window network in batches of 1024.  Each runs in its own
process so that its peak memory is its own; held-out accuracy is the median
correlation on DS21 (jGECO1a) and DS29 (GCaMP7f) at noise level 3.  Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GROUND_TRUTH = SHARED / "ground_truth"
DATASETS = ["DS09-GCaMP6f-m-V1", "DS14-GCaMP6s-m-V1"]
HELD_OUT = ["DS21-jGECO1a-m-V1", "DS29-GCaMP7f-m-V1"]
EPOCHS = 2


def config() -> dict:
    from nwb_cascade.cascade.train import matched_config

    settings = matched_config(30.0, np.array([3.0]), DATASETS, ensemble_size=1, name="Benchmark_30Hz")
    settings["smoothing"] = 0.025
    return settings


def data(seed: int = 0):
    from nwb_cascade.cascade.train import TrainingSet

    return TrainingSet([GROUND_TRUTH / name for name in DATASETS], 30.0, 3.0, 0.025, False, 64, 32,
                       np.random.default_rng(seed))


def whole_trace(device: str) -> dict:
    from nwb_cascade.cascade.train import train_member

    start = time.perf_counter()
    training = data()
    built = time.perf_counter() - start
    start = time.perf_counter()
    state = train_member(training, config(), seed=0, device=torch.device(device), epochs=EPOCHS)
    return {"build_s": built, "fit_s": time.perf_counter() - start, "state": state}


def windowed(device: str) -> dict:
    """The published way: all windows materialised, then batches of 1024 windows."""
    from nwb_cascade.cascade.network import CascadeNet

    training = data()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    windows = training.epoch_windows
    x = np.empty((windows, 64), dtype=np.float64)
    y = np.empty(windows, dtype=np.float64)
    filled = 0
    while filled < windows:  # whole segments cut into every window they hold
        seg_x, seg_y, mask = training.sample(rng, 64, 1024)
        for row in range(seg_x.shape[0]):
            usable = np.flatnonzero(mask[row])[: windows - filled]
            view = np.lib.stride_tricks.sliding_window_view(seg_x[row], 64)
            x[filled : filled + len(usable)] = view[usable]
            y[filled : filled + len(usable)] = seg_y[row, usable]
            filled += len(usable)
            if filled >= windows:
                break
    built = time.perf_counter() - start
    torch.manual_seed(0)
    net = CascadeNet().to(device)
    optimiser = torch.optim.Adagrad(net.parameters(), lr=0.05)
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = rng.permutation(windows)
        for first in range(0, windows, 1024):
            pick = order[first : first + 1024]
            xb = torch.from_numpy(x[pick]).float().to(device)
            yb = torch.from_numpy(y[pick]).float().to(device)
            loss = ((net(xb) - yb) ** 2).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return {"build_s": built, "fit_s": time.perf_counter() - start, "state": net.state_dict()}


def held_out(state: dict) -> dict:
    from nwb_cascade.cascade.evaluate import score_dataset
    from nwb_cascade.cascade.model import CascadeModel

    model = CascadeModel(config(), {3: [{k: v.cpu() for k, v in state.items()}]})
    return {name: score_dataset(model, GROUND_TRUTH / name, 3.0).correlation for name in HELD_OUT}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", choices=["whole-trace", "windowed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run = whole_trace if args.one == "whole-trace" else windowed
        result = run(args.device)
        scores = held_out(result.pop("state"))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if args.device.startswith("cuda"):
            result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
        print(json.dumps({**result, "peak_rss_mb": peak, "scores": scores}))
        return
    print(f"device {args.device}; {'+'.join(DATASETS)} at 30 Hz, noise level 3, 1 member, {EPOCHS} epochs of "
          f"{data().epoch_windows:,} windows; threads {torch.get_num_threads()}\n")
    print("| trainer | build data (s) | fit, per epoch (s) | peak RSS (MB) | " + " | ".join(f"r {n[:4]}" for n in HELD_OUT) + " |")
    print("|---|---|---|---|" + "---|" * len(HELD_OUT))
    for name in ("whole-trace", "windowed"):
        out = subprocess.run([sys.executable, __file__, "--one", name, "--device", args.device], check=True,
                             capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        scores = " | ".join(f"{row['scores'][n]:.3f}" for n in HELD_OUT)
        print(f"| {name} | {row['build_s']:.1f} | {row['fit_s'] / EPOCHS:.1f} | {row['peak_rss_mb']:,.0f} | {scores} |",
              flush=True)


if __name__ == "__main__":
    main()
