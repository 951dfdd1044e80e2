"""What the denoiser is for: ROI detection, and spike inference from ROIs of a few pixels.

Run ``python benchmarks/denoise_uses.py`` (``--device cuda`` on a GPU; ``--help`` for sizes).
Synthetic movies (:func:`nwb_cascade.synthetic.synthetic_movie`) whose neurons carry real
ΔF/F and spikes from the Cascade ground truth (DS09/DS14, GCaMP6 at 30 Hz; simulated
activity if that folder is missing), with Poisson shot noise; the footprints, the clean
movie and the spikes are known.  For each movie one denoiser is trained on the movie
itself (the CPU defaults: 600 steps of 2 × 16×32×32 patches), and the same movie is
compared raw, denoised, after the best of a grid of 3D Gaussian blurs (chosen by PSNR
against the clean movie, so an upper bound for a blur) and clean (a reference).

1. Segmentation (somata, radius 4 px).  suite2p and CaImAn are not available here, so
   a simple correlation-image detector, one fixed rule for every movie (nothing is tuned
   with the truth; the only prior is the expected cell radius, as suite2p's ``diameter``):

   * optionally, frames averaged in bins of ``τ·fs`` frames as suite2p does before its
     detection (τ = 1 s, suite2p's default for GCaMP6s: 30 frames at 30 Hz); both variants are
     reported, per frame and binned;
   * each pixel's mean and linear trend removed (these movies have no slower drift);
   * each frame minus its Gaussian blur (σ 3 radii): removes the smooth background and
     its neuropil fluctuation, which is shared by all pixels;
   * the local correlation image: each pixel's mean correlation with its 8 neighbours,
     ``cov / sqrt((var_a + f)(var_b + f))``, where the variance floor ``f`` is 2% of the
     99th percentile of the pixel variances.  On a noisy movie the floor is negligible
     beside the shot noise and this is the plain correlation; on the noise-free movie it
     keeps the near-silent background (whose tiny residual fluctuation is perfectly
     correlated between neighbours) from scoring 1;
   * threshold: Otsu's on the correlation image;
   * candidates: local maxima of the (σ = radius/4) smoothed image above the threshold,
     at least one radius apart, grown by a watershed on the image inside the
     thresholded mask; kept if 1/4 to 4 times the area of a disk of the radius.

   Scoring: the true footprints binarised at half their peak; one-to-one matching by IoU
   (Hungarian, ``scipy.optimize.linear_sum_assignment``); a match needs IoU ≥ 0.3.
   Precision = matches / candidates, recall = matches / true neurons, mean IoU of the
   matches.  Recall is not 1 even on the clean movie: neurons that hardly fire in the
   movie's stretch of ground truth have no correlation structure to find.

2. Small ROIs (boutons or dendrite cross-sections, radius 1.2 px: about seven pixels at
   half peak), whose traces cannot average the noise over a soma: ROI ΔF/F from the known
   footprints (:meth:`SyntheticMovie.roi_dff`), Cascade's published
   ``Global_EXC_30Hz_smoothing25ms`` on it, the median over ROIs of the correlation of its
   rates with the true spikes; also the median correlation of the ROI traces with the
   clean ROI traces, the median Cascade noise level and the PSNR of the movie.

Defaults (chosen to run in under 20 min on 2 busy CPU cores, measured 17 min; training dominates, ~0.25 s a
step there): segmentation on 600 frames × 96×96 px, 25 neurons, at 0.5, 1, 2 and 4
photons per frame at a resting neuron's centre; small ROIs on 600 frames × 64×64 px,
40 ROIs, at 1 and 4 photons.  Seeds are fixed; raw, denoised, blurred and clean of one
photon count are the same movie.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from nwb_cascade.cascade import load_model, noise_levels
from nwb_cascade.cascade.evaluate import rate_correlations
from nwb_cascade.denoise import apply, train
from nwb_cascade.denoise.quality import best_blur, psnr, trace_correlations
from nwb_cascade.synthetic import synthetic_movie

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GROUND_TRUTH = SHARED / "ground_truth"
MODEL = SHARED / "models" / "Global_EXC_30Hz_smoothing25ms"

#: Detector constants (one rule for every movie).
BIN_SECONDS = 1.0  # suite2p's default τ: the binned detector averages frames in bins of τ·fs
SPATIAL_HIGHPASS_RADII = 3.0  # σ (in cell radii) of the blur removed from each frame
VARIANCE_FLOOR = 0.02  # of the 99th percentile of pixel variances
AREA_RANGE = (0.25, 4.0)  # candidate area, in areas of a disk of the cell radius
#: Scoring constants.
TRUTH_LEVEL = 0.5  # true footprints binarised at this fraction of their peak
MIN_IOU = 0.3


# ---------------------------------------------------------------- the detector

def binned(movie: np.ndarray, frames: int) -> np.ndarray:
    """Means of consecutive bins of ``frames`` frames (a last, incomplete bin dropped), as float32."""
    data = np.asarray(movie, dtype=np.float32)
    if frames <= 1:
        return data
    n = len(data) // frames * frames
    return data[:n].reshape(-1, frames, *data.shape[1:]).mean(axis=1)


def correlation_image(movie: np.ndarray, radius: float) -> np.ndarray:
    """Each pixel's mean correlation with its 8 neighbours, after removing each pixel's mean and linear trend
    and each frame's blur (σ :data:`SPATIAL_HIGHPASS_RADII` radii); the variances get a floor of
    :data:`VARIANCE_FLOOR` × their 99th percentile (see the module docstring)."""
    data = np.array(movie, dtype=np.float32)
    data -= ndimage.gaussian_filter(data, (0, SPATIAL_HIGHPASS_RADII * radius, SPATIAL_HIGHPASS_RADII * radius),
                                    mode="reflect")
    time_axis = np.linspace(-1, 1, len(data), dtype=np.float32)
    data -= data.mean(axis=0)
    data -= np.tensordot(time_axis, data, axes=1)[None] * (time_axis / np.dot(time_axis, time_axis))[:, None, None]
    variance = np.mean(np.square(data, dtype=np.float64), axis=0)
    variance += VARIANCE_FLOOR * np.percentile(variance, 99)
    height, width = variance.shape
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each neighbour pair once, credited to both pixels
        a = (slice(0, height - dy), slice(max(0, -dx), width - max(0, dx)))
        b = (slice(dy, height), slice(max(0, dx), width - max(0, -dx)))
        covariance = np.einsum("tij,tij->ij", data[:, a[0], a[1]], data[:, b[0], b[1]], dtype=np.float64)
        correlation = covariance / len(data) / np.sqrt(variance[a] * variance[b])
        total[a] += correlation
        total[b] += correlation
        count[a] += 1
        count[b] += 1
    return total / count


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut that maximises the between-class variance of a 256-bin histogram."""
    histogram, edges = np.histogram(values[np.isfinite(values)], bins)
    centres = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(histogram)[:-1].astype(float)
    above = histogram.sum() - below
    sum_below = np.cumsum(histogram * centres)[:-1]
    sum_total = float((histogram * centres).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        between = below * above * (sum_below / below - (sum_total - sum_below) / above) ** 2
    return float(edges[1:][np.nanargmax(between)])


def detect(movie: np.ndarray, radius: float, bin_frames: int = 1) -> np.ndarray:
    """Candidate ROIs (candidates × height × width, boolean) from the correlation image of the movie binned
    in time: Otsu's threshold, local maxima as seeds, a watershed inside the thresholded mask, an area filter."""
    image = correlation_image(binned(movie, bin_frames), radius)
    mask = image > otsu_threshold(image)
    smooth = ndimage.gaussian_filter(image, radius / 4)
    size = 2 * math.ceil(radius) + 1
    peaks = (smooth == ndimage.maximum_filter(smooth, size=size)) & mask
    markers, n_markers = ndimage.label(peaks, structure=np.ones((3, 3)))
    if n_markers == 0:
        return np.zeros((0, *image.shape), dtype=bool)
    scaled = (smooth - smooth.min()) / max(float(np.ptp(smooth)), 1e-12)
    cost = np.round((1 - scaled) * 65535).astype(np.uint16)  # flood from the bright maxima downwards
    markers[~mask & (markers == 0)] = -1  # background seeds outside the mask: the flood stops at its edge
    labels = ndimage.watershed_ift(cost, markers.astype(np.int32), structure=np.ones((3, 3), dtype=int))
    labels[~mask] = 0
    disk = math.pi * radius**2
    candidates = []
    for index in range(1, n_markers + 1):
        region = labels == index
        parts, n_parts = ndimage.label(region)
        if n_parts > 1:  # keep the part that holds the seed
            seed = parts[markers == index]
            region = parts == np.bincount(seed[seed > 0]).argmax()
        if AREA_RANGE[0] * disk <= region.sum() <= AREA_RANGE[1] * disk:
            candidates.append(region)
    return np.array(candidates, dtype=bool).reshape(-1, *image.shape)


@dataclass
class Score:
    candidates: int
    matches: int
    truths: int
    mean_iou: float

    @property
    def precision(self) -> float:
        return self.matches / self.candidates if self.candidates else float("nan")

    @property
    def recall(self) -> float:
        return self.matches / self.truths

    @property
    def f1(self) -> float:
        return 2 * self.matches / (self.candidates + self.truths)


def score(candidates: np.ndarray, truths: np.ndarray) -> Score:
    """One-to-one IoU matching (Hungarian) of candidate and true masks; a match needs IoU ≥ :data:`MIN_IOU`."""
    if len(candidates) == 0:
        return Score(0, 0, len(truths), float("nan"))
    a = candidates.reshape(len(candidates), -1).astype(np.float64)
    b = truths.reshape(len(truths), -1).astype(np.float64)
    intersection = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - intersection
    iou = intersection / union
    rows, cols = linear_sum_assignment(-iou)
    matched = iou[rows, cols][iou[rows, cols] >= MIN_IOU]
    return Score(len(candidates), len(matched), len(truths), float(matched.mean()) if matched.size else float("nan"))


# ---------------------------------------------------------------- the benchmark

def denoised_movie(noisy: np.ndarray, args: argparse.Namespace) -> tuple[np.ndarray, float, float]:
    """The movie denoised by a network trained on it, and the seconds training and applying took."""
    began = time.perf_counter()
    denoiser = train(noisy, steps=args.steps, device=args.device, seed=args.train_seed, progress=False)
    trained = time.perf_counter()
    denoised = apply(noisy, denoiser, dtype=np.float32, device=args.device, progress=False)
    return denoised, trained - began, time.perf_counter() - trained


def segmentation(args: argparse.Namespace, ground_truth: Path | None) -> None:
    rows, times = [], []
    for photons in args.photons:
        began = time.perf_counter()
        movie = synthetic_movie(args.frames, args.size, n_neurons=args.neurons, photons=photons, gain=args.gain,
                                radius=args.radius, ground_truth=ground_truth, seed=args.seed)
        made = time.perf_counter() - began
        denoised, train_s, apply_s = denoised_movie(movie.noisy, args)
        began = time.perf_counter()
        _, sigmas, blurred = best_blur(movie.noisy, movie.clean)
        blur_s = time.perf_counter() - began
        truths = movie.masks(TRUTH_LEVEL)
        bins = (1, max(1, round(BIN_SECONDS * movie.frame_rate)))
        began = time.perf_counter()
        for kind, frames in (("raw", movie.noisy), ("DeepCAD-RT denoised", denoised),
                             (f"best blur (σ {sigmas[0]:g} fr, {sigmas[1]:g} px)", blurred), ("clean", movie.clean)):
            rows.append((photons, kind, psnr(frames, movie.clean) if kind != "clean" else float("inf"),
                         [score(detect(frames, args.radius, b), truths) for b in bins]))
        detect_s = time.perf_counter() - began
        times.append((photons, made, train_s, apply_s, blur_s, detect_s))
        print(f"segmentation: {photons:g} photons done ({made + train_s + apply_s + blur_s + detect_s:.0f} s)",
              flush=True)

    print(f"\n## Segmentation\n\n{args.frames} frames × {args.size}×{args.size} px at 30 Hz, "
          f"{len(truths)} neurons of radius {args.radius:g} px, "
          f"{'real GCaMP6 ground-truth activity' if ground_truth else 'simulated activity'}, "
          f"{args.gain:g} counts/photon, background 0.5× the resting photons.  Detector: correlation image "
          f"(per frame, or of {bins[1]}-frame bins; pixel mean and trend removed, spatial high-pass σ "
          f"{SPATIAL_HIGHPASS_RADII:g} radii, variance floor {VARIANCE_FLOOR:g} × 99th percentile), Otsu threshold, "
          f"watershed from local maxima, area {AREA_RANGE[0]:g}-{AREA_RANGE[1]:g} × πr²; matched one-to-one "
          f"(Hungarian) to the true footprints at {TRUTH_LEVEL:g} of peak, IoU ≥ {MIN_IOU:g}.")
    for index, variant in enumerate(("per frame", f"{bins[1]}-frame bins ({BIN_SECONDS:g} s, as suite2p)")):
        print(f"\n### Correlation image {variant}\n")
        print("| photons | movie | PSNR (dB) | candidates | matched / true | precision | recall | F1 | "
              "mean IoU of matches |")
        print("|---|---|---|---|---|---|---|---|---|")
        for photons, kind, value, scores in rows:
            s = scores[index]
            print(f"| {photons:g} | {kind} | {'-' if math.isinf(value) else f'{value:.1f}'} | {s.candidates} | "
                  f"{s.matches} / {s.truths} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | {s.mean_iou:.2f} |")
    print("\nTime per step (s):\n")
    print("| photons | movie | training | denoising | blur grid | detection (4 movies × 2 variants) |")
    print("|---|---|---|---|---|---|")
    for photons, made, train_s, apply_s, blur_s, detect_s in times:
        print(f"| {photons:g} | {made:.1f} | {train_s:.0f} | {apply_s:.0f} | {blur_s:.0f} | {detect_s:.0f} |")


def small_rois(args: argparse.Namespace, ground_truth: Path | None) -> None:
    model = load_model(MODEL)
    rows, times = [], []
    for photons in args.small_photons:
        began = time.perf_counter()
        movie = synthetic_movie(args.frames, args.small_size, n_neurons=args.small_neurons, photons=photons,
                                gain=args.gain, radius=args.small_radius, ground_truth=ground_truth, seed=args.seed)
        made = time.perf_counter() - began
        denoised, train_s, apply_s = denoised_movie(movie.noisy, args)
        _, sigmas, blurred = best_blur(movie.noisy, movie.clean)
        began = time.perf_counter()
        clean_traces = movie.roi_traces(movie.clean)
        pixels = movie.masks().reshape(len(movie.footprints), -1).sum(axis=1)
        for kind, frames in (("raw", movie.noisy), ("DeepCAD-RT denoised", denoised),
                             (f"best blur (σ {sigmas[0]:g} fr, {sigmas[1]:g} px)", blurred), ("clean", movie.clean)):
            dff = movie.roi_dff(frames)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # noise levels beyond the model's range: reported in the table
                cascade = rate_correlations(dff, movie.spike_counts, model, movie.frame_rate)
            rows.append((photons, kind, psnr(frames, movie.clean) if kind != "clean" else float("inf"),
                         float(np.median(trace_correlations(movie.roi_traces(frames), clean_traces))),
                         float(np.nanmedian(noise_levels(dff, movie.frame_rate))), float(np.nanmedian(cascade)),
                         len(movie.footprints), float(np.median(pixels))))
        times.append((photons, made, train_s, apply_s, time.perf_counter() - began))
        print(f"small ROIs: {photons:g} photons done", flush=True)

    print(f"\n## Small ROIs\n\n{args.frames} frames × {args.small_size}×{args.small_size} px at 30 Hz, "
          f"{args.small_neurons} ROIs of radius {args.small_radius:g} px (median {rows[0][7]:g} px at half peak), "
          f"{'real GCaMP6 ground-truth activity and spikes' if ground_truth else 'simulated activity'}; "
          f"ROI ΔF/F from the known footprints; Cascade {MODEL.name} (noise levels 2-9).  Medians over ROIs.\n")
    print("| photons | movie | PSNR (dB) | ROI trace r with clean | ROI noise level | Cascade r with true spikes |")
    print("|---|---|---|---|---|---|")
    for photons, kind, value, r, noise, cascade, _, _ in rows:
        print(f"| {photons:g} | {kind} | {'-' if math.isinf(value) else f'{value:.1f}'} | {r:.3f} | "
              f"{noise:.2f} | {cascade:.3f} |")
    print("\nTime per step (s):\n")
    print("| photons | movie | training | denoising | traces + Cascade (4 movies) |")
    print("|---|---|---|---|---|")
    for photons, made, train_s, apply_s, rest in times:
        print(f"| {photons:g} | {made:.1f} | {train_s:.0f} | {apply_s:.0f} | {rest:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    floats = lambda text: [float(v) for v in text.split(",")]
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--size", type=int, default=96, help="segmentation movie: height = width (px)")
    parser.add_argument("--neurons", type=int, default=25)
    parser.add_argument("--radius", type=float, default=4.0)
    parser.add_argument("--photons", type=floats, default=[0.5, 1.0, 2.0, 4.0],
                        help="segmentation: photons per frame at a resting neuron's centre, comma-separated")
    parser.add_argument("--small-size", type=int, default=64)
    parser.add_argument("--small-neurons", type=int, default=40)
    parser.add_argument("--small-radius", type=float, default=1.2)
    parser.add_argument("--small-photons", type=floats, default=[1.0, 4.0])
    parser.add_argument("--gain", type=float, default=20.0, help="digitiser counts per photon")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the package's)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the synthetic movies")
    parser.add_argument("--train-seed", type=int, default=0, help="seeds the training")
    parser.add_argument("--skip", choices=("segmentation", "small"), default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    ground_truth = GROUND_TRUTH if GROUND_TRUTH.is_dir() else None
    began = time.perf_counter()
    print(f"training on {args.device} ({torch.get_num_threads()} threads), "
          f"{args.steps or 'default'} steps per movie", flush=True)
    if args.skip != "segmentation":
        segmentation(args, ground_truth)
    if args.skip != "small":
        small_rois(args, ground_truth)
    print(f"\nTotal: {time.perf_counter() - began:.0f} s.")


if __name__ == "__main__":
    main()
