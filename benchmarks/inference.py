"""Inference speed and memory: whole-trace evaluation against per-window evaluation.

Run ``python benchmarks/inference.py`` (add ``--device cuda`` on a GPU).  Each
size runs in a fresh process so that its peak memory (max RSS, or peak CUDA
memory) is its own.  Traces are the real Allen excerpt's ΔF/F, tiled to the
requested ROIs and length.  Prints a markdown table.
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
MODEL = SHARED / "models" / "Global_EXC_30Hz_smoothing25ms"
ALLEN = SHARED / "examples" / "Allen-Brain-Observatory-Visual-Coding-30Hz" / "Experiment_552195520_excerpt.mat"
# The published implementation on these 2-core machines (from the project's notes):
PUBLISHED_SECONDS = {(20, 6001): 5.7, (100, 108000): 694.0}
SIZES = [(20, 6001), (100, 30000), (100, 108000), (200, 108000)]


def traces(rois: int, frames: int) -> np.ndarray:
    from scipy.io import loadmat

    allen = loadmat(ALLEN)["dF_traces"].astype(np.float32)
    reps = -(-frames // allen.shape[1])
    rows = [np.tile(allen[i % len(allen)], reps)[:frames] for i in range(rois)]
    return np.stack(rows)


def macs_per_frame(model) -> int:
    """Multiply-adds per output frame of one noise level's ensemble, whole-trace."""
    k1, k2, k3 = model.config["filter_sizes"]
    n1, n2, n3 = model.config["filter_numbers"]
    dense = model.config["dense_expansion"]
    steps = 2
    per_member = k1 * n1 + k2 * n1 * n2 + k3 * n2 * n3 + n3 * dense + steps * dense
    return per_member * int(model.config["ensemble_size"])


def matmul_gflops(device: str) -> float:
    """The machine's float32 matrix-multiply rate, best of several 2048² products."""
    a = torch.randn(2048, 2048, device=device)
    best = float("inf")
    for _ in range(6):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ a
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


def run_one(rois: int, frames: int, device: str, naive: bool) -> dict:
    from nwb_cascade.cascade import load_model, predict

    model = load_model(MODEL)
    data = traces(rois, frames)
    result = {"rois": rois, "frames": frames}
    if naive:
        # the published approach: every 64-frame window materialised, each member evaluated on all of them
        sub = data[: min(rois, 5), : min(frames, 6001)]
        windows = np.lib.stride_tricks.sliding_window_view(sub, 64, axis=1).reshape(-1, 64).copy()
        members = [model.network(2, k).to(device).eval() for k in range(5)]
        x = torch.from_numpy(windows).to(device)
        start = time.perf_counter()
        with torch.no_grad():
            for net in members:
                for block in torch.split(x, 1 << 14):
                    net(block)
        if device == "cuda":
            torch.cuda.synchronize()
        result["naive_frames_per_s"] = windows.shape[0] / (time.perf_counter() - start)
        return result
    repeats = 5 if rois * frames <= 3_000_000 else 1
    predict(data[:2, :2000], model, frame_rate=30, device=device)  # warm-up
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict(data, model, frame_rate=30, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    result["seconds"] = best
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["input_mb"] = data.nbytes / 2**20
    if device == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    result["macs_per_frame"] = macs_per_frame(model)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default=None, help="comma list of ROIsxFRAMES, e.g. 20x6001,100x30000")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        rois, frames = map(int, args.one.split("x"))
        print(json.dumps(run_one(rois, frames, args.device, args.naive)))
        return
    sizes = [tuple(map(int, s.split("x"))) for s in args.sizes.split(",")] if args.sizes else SIZES

    def child(size: tuple[int, int], naive: bool = False) -> dict:
        command = [sys.executable, __file__, "--one", f"{size[0]}x{size[1]}", "--device", args.device]
        out = subprocess.run(command + (["--naive"] if naive else []), check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    gflops = matmul_gflops(args.device)
    naive = child((5, 6001), naive=True)["naive_frames_per_s"]
    print(f"device: {args.device}, threads: {torch.get_num_threads()}, float32 matmul: {gflops:.0f} GFLOP/s")
    print(f"naive per-window evaluation (5 ROIs x 6001 frames, all windows materialised): {naive:,.0f} frames/s\n")
    print("| ROIs x frames | seconds | frames/s | x naive | x published | GFLOP/s | share of matmul | peak RSS (MB) | input (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        row = child(size)
        rate = size[0] * size[1] / row["seconds"]
        flops = 2 * row["macs_per_frame"] * rate / 1e9
        published = PUBLISHED_SECONDS.get(size)
        vs = f"{published / row['seconds']:.1f}" if published else "-"
        memory = row.get("peak_cuda_mb", row["peak_rss_mb"])
        print(
            f"| {size[0]} x {size[1]:,} | {row['seconds']:.2f} | {rate:,.0f} | {rate / naive:.1f} | {vs} | "
            f"{flops:.0f} | {flops / gflops:.0%} | {memory:,.0f} | {row['input_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
