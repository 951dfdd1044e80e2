"""Training speed and held-out accuracy: the grouped trainer beside the member-by-member one it replaced.

Run ``python benchmarks/training.py`` (``--device cuda`` on a GPU; ``--windowed`` adds the published
way of materialising every window, slow and 3 GB of memory).  Same data for every trainer: DS09 + DS14
resampled to 30 Hz at noise level 3 (smoothing 25 ms), ``--members`` ensemble members (seeds as
``train`` gives them), ``--epochs`` epochs of the published 5e6 windows, Adagrad 0.05, 1024 frames per
member and step.  Each trainer runs in its own process with one thread, so its CPU seconds and peak
memory are its own.  Held-out accuracy: the ensemble's median correlation on DS21 (jGECO1a) and DS29
(GCaMP7f) at noise level 3.  Prints a markdown table: CPU seconds per member-epoch is the number that
decides what a model costs (a 9-level, 5-member model at 30 Hz is 450 member-epochs).

- member by member: the trainer of nwb-cascade <= 0.1 (kept here as the reference): one network per
  member, the sampler drawing row by row, pooling by ``torch.maximum``;
- grouped: :func:`nwb_cascade.cascade.train.train_members`: the members as one network of grouped
  convolutions, batches drawn for all rows at once, pooling by ``max_pool2d``.
"""

from __future__ import annotations

import argparse
import json
import math
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
LEVEL = 3


def config() -> dict:
    from nwb_cascade.cascade.train import matched_config

    settings = matched_config(30.0, np.array([float(LEVEL)]), DATASETS, ensemble_size=1, name="Benchmark_30Hz")
    settings["smoothing"] = 0.025
    return settings


def data():
    from nwb_cascade.cascade.train import TrainingSet

    return TrainingSet([GROUND_TRUTH / name for name in DATASETS], 30.0, float(LEVEL), 0.025, False, 64, 32,
                       np.random.default_rng(1000 * LEVEL))


def seeds(members: int) -> list[int]:
    return [1000 * LEVEL + member for member in range(members)]


def legacy_sample(training, rng: np.random.Generator, segments: int, frames: int):
    """The sampler of nwb-cascade <= 0.1: one row at a time."""
    span = frames + training.windowsize - 1
    x = np.zeros((segments, span), np.float32)
    y = np.zeros((segments, frames), np.float32)
    mask = np.zeros((segments, frames), np.float32)
    datasets = rng.choice(len(training._dataset_p), size=segments, p=training._dataset_p)
    for row, dataset in enumerate(datasets):
        members = training._members[dataset]
        trace = training.traces[members[rng.choice(len(members), p=training._trace_p[dataset])]]
        first = int(trace.windows[rng.integers(len(trace.windows))])
        stop = min(len(trace.dff), first + span)
        noise = rng.standard_normal(stop - first).astype(np.float32) * trace.noise_std * trace.profile[first:stop]
        x[row, : stop - first] = np.nan_to_num(trace.dff[first:stop] + noise)
        outputs = stop - first - training.windowsize + 1
        y[row, :outputs] = trace.target[first + training.before : first + training.before + outputs]
        mask[row, :outputs] = trace.usable[first : first + outputs]
    return x, y, mask


def member_by_member(training, members: int, epochs: int, device: str) -> list[dict]:
    """The trainer of nwb-cascade <= 0.1, member after member, with its restart of collapsed members."""
    from nwb_cascade.cascade.train import ATTEMPTS, COLLAPSE_STEPS

    states = []
    for seed in seeds(members):
        for attempt in range(ATTEMPTS):
            state = _legacy_fit(training, seed + 7919 * attempt, epochs, device, COLLAPSE_STEPS)
            if state is not None:
                states.append(state)
                break
    return states


def _legacy_fit(training, seed: int, epochs: int, device: str, collapse_steps: int) -> dict | None:
    from nwb_cascade.cascade.network import CascadeNet
    from nwb_cascade.cascade.train import LEARNING_RATE, SEGMENT_FRAMES, SEGMENTS_PER_STEP

    steps = math.ceil(training.epoch_windows / (SEGMENT_FRAMES * SEGMENTS_PER_STEP))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = CascadeNet().to(device)
    optimiser = torch.optim.Adagrad(net.parameters(), lr=LEARNING_RATE)
    constant = 0
    for _ in range(epochs * steps):
        x, y, mask = (torch.from_numpy(a).to(device)
                      for a in legacy_sample(training, rng, SEGMENTS_PER_STEP, SEGMENT_FRAMES))
        out = net.forward_trace(x)
        loss = ((out - y) ** 2 * mask).sum() / mask.sum().clamp(min=1)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        constant = constant + 1 if float(out.detach().std()) < 1e-7 else 0
        if constant >= collapse_steps or not torch.isfinite(loss):
            return None
    return {key: value.detach().cpu() for key, value in net.state_dict().items()}


def grouped(training, members: int, epochs: int, device: str) -> list[dict]:
    from nwb_cascade.cascade.train import train_members

    return train_members(training, config(), seeds=seeds(members), device=torch.device(device), epochs=epochs)


def windowed(training, members: int, epochs: int, device: str) -> list[dict]:
    """The published way: every training window materialised (float64), batches of 1024 windows."""
    from nwb_cascade.cascade.network import CascadeNet

    states = []
    for seed in seeds(members):
        rng = np.random.default_rng(seed)
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
        torch.manual_seed(seed)
        net = CascadeNet().to(device)
        optimiser = torch.optim.Adagrad(net.parameters(), lr=0.05)
        for _ in range(epochs):
            order = rng.permutation(windows)
            for first in range(0, windows, 1024):
                pick = order[first : first + 1024]
                loss = ((net(torch.from_numpy(x[pick]).float().to(device))
                         - torch.from_numpy(y[pick]).float().to(device)) ** 2).mean()
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
        states.append({key: value.detach().cpu() for key, value in net.state_dict().items()})
    return states


TRAINERS = {"member by member": member_by_member, "grouped": grouped, "windowed (published)": windowed}


def held_out(states: list[dict]) -> dict:
    from nwb_cascade.cascade.evaluate import score_dataset
    from nwb_cascade.cascade.model import CascadeModel

    settings = dict(config(), ensemble_size=len(states))
    model = CascadeModel(settings, {LEVEL: states})
    return {name: score_dataset(model, GROUND_TRUTH / name, float(LEVEL)).correlation for name in HELD_OUT}


def run_one(name: str, members: int, epochs: int, device: str) -> dict:
    torch.set_num_threads(1)
    training = data()
    cpu, wall = time.process_time(), time.perf_counter()
    states = TRAINERS[name](training, members, epochs, device)
    result = {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    result["scores"] = held_out(states)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--windowed", action="store_true", help="also the published windowed trainer (slow)")
    parser.add_argument("--one", choices=sorted(TRAINERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.members, args.epochs, args.device)))
        return
    names = ["member by member", "grouped"] + (["windowed (published)"] if args.windowed else [])
    print(f"device {args.device}, 1 thread per trainer; {'+'.join(DATASETS)} at 30 Hz, noise level {LEVEL}, "
          f"{args.members} members x {args.epochs} epoch(s) of {data().epoch_windows:,} windows\n")
    print("| trainer | CPU s per member-epoch | wall s per member-epoch | peak RSS (MB) | "
          + " | ".join(f"ensemble r {n[:4]}" for n in HELD_OUT) + " |")
    print("|---|---|---|---|" + "---|" * len(HELD_OUT))
    rows = {}
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--device", args.device, "--members",
                              str(args.members), "--epochs", str(args.epochs)], check=True, capture_output=True, text=True)
        row = rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
        per = args.members * args.epochs
        scores = " | ".join(f"{row['scores'][n]:.3f}" for n in HELD_OUT)
        print(f"| {name} | {row['cpu_s'] / per:.1f} | {row['wall_s'] / per:.1f} | {row['peak_rss_mb']:,.0f} | {scores} |",
              flush=True)
    print(f"\ngrouped: {rows['member by member']['cpu_s'] / rows['grouped']['cpu_s']:.2f}x less CPU time than member "
          "by member")


if __name__ == "__main__":
    main()
