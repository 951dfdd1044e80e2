"""Denoising quality and speed on a synthetic movie whose clean version is known.

Run ``python benchmarks/denoise.py`` (``--device cuda`` on a GPU; ``--help`` for sizes).
The movie: neurons as blobs whose brightness follows real ΔF/F from the Cascade
ground truth (DS09/DS14, GCaMP6 at 30 Hz), a background, Poisson shot noise at
a low photon count.  Compared on it: the raw movie, the best of a grid of 3D
Gaussian blurs (σ 2-8 frames × 0.5-1 px, chosen with the clean movie, so an
upper bound for a blur), and the DeepCAD-RT denoiser after a short training.
Prints a markdown table: PSNR against the clean movie, the median per-ROI
correlation with the clean ROI traces, the median correlation of Cascade's
spike rates (Global_EXC_30Hz_smoothing25ms) with the true spikes, and speed.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from nwb_cascade.cascade import load_model, noise_levels
from nwb_cascade.cascade.evaluate import rate_correlations as spike_inference_correlations
from nwb_cascade.denoise import apply, train
from nwb_cascade.denoise.quality import BANDS, band_gains, best_blur, psnr, trace_correlations
from nwb_cascade.synthetic import synthetic_movie

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GROUND_TRUTH = SHARED / "ground_truth"
MODEL = SHARED / "models" / "Global_EXC_30Hz_smoothing25ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--photons", type=float, default=2.0, help="photons per frame at a resting neuron's centre")
    parser.add_argument("--gain", type=float, default=20.0, help="digitiser counts per photon (1: photon counting)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--patch", default="16,32,32", help="frames,height,width of the network input")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=1, help="seeds the synthetic movie")
    parser.add_argument("--train-seed", type=int, default=0, help="seeds the training")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    patch = tuple(int(v) for v in args.patch.split(","))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")

    movie = synthetic_movie(args.frames, args.size, photons=args.photons, gain=args.gain,
                            ground_truth=GROUND_TRUTH, seed=args.seed)
    began = time.perf_counter()
    denoiser = train(movie.noisy, patch=patch, steps=args.steps, batch_size=args.batch_size,
                     learning_rate=args.learning_rate, device=device, seed=args.train_seed, progress=True)
    train_seconds = time.perf_counter() - began
    began = time.perf_counter()
    denoised = apply(movie.noisy, denoiser, dtype=np.float32, device=device, progress=True)
    apply_seconds = time.perf_counter() - began
    _, sigmas, blurred = best_blur(movie.noisy, movie.clean)

    model = load_model(MODEL)
    clean_traces, clean_dff = movie.roi_traces(movie.clean), movie.roi_dff(movie.clean)
    rows, gains = [], []
    for name, estimate in (("raw", movie.noisy), (f"best Gaussian blur (σ {sigmas[0]:g} frames, {sigmas[1]:g} px)",
                                                    blurred), ("DeepCAD-RT (this package)", denoised)):
        dff = movie.roi_dff(estimate)
        gains.append((name, band_gains(dff, clean_dff, movie.frame_rate)))
        rows.append((name, psnr(estimate, movie.clean),
                     float(np.median(trace_correlations(movie.roi_traces(estimate), clean_traces))),
                     float(np.median(noise_levels(dff, movie.frame_rate))),
                     float(np.nanmedian(spike_inference_correlations(dff, movie.spike_counts, model,
                                                                      movie.frame_rate)))))
    truth = spike_inference_correlations(clean_dff, movie.spike_counts, model, movie.frame_rate)

    print(f"\nSynthetic movie: {args.frames} frames of {args.size}×{args.size} px at {movie.frame_rate:g} Hz, "
          f"{len(movie.footprints)} neurons, {args.photons:g} photons/frame at a resting neuron's centre "
          f"(mean {movie.clean.mean() / args.gain:.2f} photons/px, {args.gain:g} counts/photon); training {args.steps} steps of {args.batch_size}×"
          f"{'×'.join(map(str, patch))} on {device} ({torch.get_num_threads()} threads).\n")
    print("| movie | PSNR (dB) | ROI trace correlation | ROI noise level | Cascade correlation with true spikes |")
    print("|---|---|---|---|---|")
    for name, score, correlation, noise, cascade in rows:
        print(f"| {name} | {score:.1f} | {correlation:.3f} | {noise:.2f} | {cascade:.3f} |")
    print(f"| clean (reference) | - | 1 | "
          f"{float(np.median(noise_levels(clean_dff, movie.frame_rate))):.2f} | "
          f"{float(np.nanmedian(truth)):.3f} |")
    print("\nHow much of the clean ROI ΔF/F each band of the ROI ΔF/F carries (least-squares gain, 1 = all):\n")
    print("| movie | " + " | ".join(f"{low:g}-{high:g} Hz" for low, high in BANDS) + " |")
    print("|---|" + "---|" * len(BANDS))
    for name, values in gains:
        print(f"| {name} | " + " | ".join(f"{value:.2f}" for value in values) + " |")
    voxels = args.frames * args.size * args.size
    print(f"\nTraining: {train_seconds:.0f} s ({train_seconds / args.steps:.2f} s/step). Denoising: "
          f"{apply_seconds:.1f} s, {args.frames / apply_seconds:.1f} frames/s "
          f"({voxels / apply_seconds / 1e6:.2f} Mvoxel/s) on {device}.")


if __name__ == "__main__":
    main()
