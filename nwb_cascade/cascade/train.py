"""Training Cascade models from the ground truth, matched to a frame rate and noise level.

The training data follow the published recipe (see ``cascade-method.md``): each
recording is resampled to the target rate (Fourier, when more than 5% off),
its spikes binned into frames and smoothed into the target, and Gaussian noise,
scaled per frame like shot noise, is added to bring it to the target noise
level; ``min(500, ceil(1.2 (target / own noise)^2))`` replicas per recording
(capped at ~8e5 frames per recording); no dataset contributes more than
15e6 / (number of datasets) windows; at most 5e6 windows per epoch;
``min(nr_of_epochs, 10 floor(5e6 / windows))`` epochs; MSE, Adagrad (0.05).

What differs is how the network sees them.  The published trainer cuts up to
15e6 windows of 64 frames (7.7 GB) before the first step.  Here the network
runs fully convolutionally (:meth:`CascadeNet.forward_trace`) over segments of
traces and the loss is taken on every frame, which is the same objective with
the work of overlapping windows shared.  Replicas are virtual: the noise of a
segment is drawn when the segment is drawn, so memory holds the resampled
traces and nothing more.  A sampler draws segments so that each dataset gets
the published share of the windows.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..common.device import resolve_device
from ..common.errors import NWBCascadeError
from ..common.files import atomic_write
from .errors import ModelError
from .ground_truth import (
    added_noise_std,
    at_frame_rate,
    dataset_folders,
    read_dataset,
    shot_noise_profile,
    smooth_spikes,
)
from .model import REQUIRED_KEYS, CascadeModel, load_model_folder, read_config, weight_file_name, write_config
from .network import CascadeNet, GroupedCascadeNet
from .noise import noise_levels

log = logging.getLogger(__name__)

#: Config keys of the published template that training accepts besides the required ones.
OPTIONAL_KEYS = ("training_finished", "verbose", "placeholder_1", "placeholder_2", "placeholder_3")
MAX_WINDOWS = 5_000_000
BALANCE_TOTAL = 15e6
MAX_REPLICAS = 500
MAX_FRAMES_PER_RECORDING = 800_000
LEARNING_RATE = 0.05
#: Output frames per segment, and segments per optimiser step (8 x 128 = 1024 frames, the published batch).
SEGMENT_FRAMES = 128
SEGMENTS_PER_STEP = 8


@dataclass
class _Trace:
    dataset: int
    dff: np.ndarray  # float32, resampled, NaN frames allowed
    target: np.ndarray  # float32 smoothed spike counts per frame
    noise_std: float
    profile: np.ndarray  # float32 relative noise per frame
    usable: np.ndarray  # bool per window start: the window holds no NaN frame
    windows: np.ndarray  # start frames of usable windows
    replicas: int


class TrainingSet:
    """Ground truth at one frame rate and noise level, with virtual noisy replicas.

    Parameters
    ----------
    folders
        Dataset folders to train on.
    frame_rate, noise_level
        The target.
    smoothing
        σ of the target smoothing, in seconds.
    causal
        Smooth the target with the causal kernel.
    windowsize, before
        The network's window and the frames before the output frame.
    rng
        Random generator for the noise calibration.
    """

    def __init__(self, folders: Sequence[Path], frame_rate: float, noise_level: float, smoothing: float,
                 causal: bool, windowsize: int, before: int, rng: np.random.Generator) -> None:
        self.frame_rate = frame_rate
        self.noise_level = noise_level
        self.windowsize = windowsize
        self.before = before
        self.names = [Path(folder).name for folder in folders]
        self.traces: list[_Trace] = []
        faster = 0
        for index, folder in enumerate(folders):
            kept = 0
            for recording in read_dataset(folder):
                if recording.frame_rate >= frame_rate * 0.95:
                    faster += 1
                trace = self._prepare(recording, index, smoothing, causal, rng)
                if trace is not None:
                    self.traces.append(trace)
                    kept += 1
            if not kept:
                log.warning("%s: every recording is noisier than noise level %g (or too short); skipped",
                            folder.name, noise_level)
        if not self.traces:
            raise ValueError(
                f"no ground-truth recording is less noisy than noise level {noise_level:g} at {frame_rate:g} Hz "
                f"in {', '.join(self.names)}; choose a higher noise level or other datasets"
            )
        if not faster:
            warnings.warn(
                f"every recording is slower than the target {frame_rate:g} Hz: all are upsampled, which "
                "adds no temporal detail; a model for this rate may generalise poorly",
                UserWarning,
                stacklevel=2,
            )
        sizes = np.zeros(len(folders))
        for trace in self.traces:
            sizes[trace.dataset] += trace.replicas * len(trace.windows)
        self.dataset_windows = sizes
        self.effective = np.minimum(sizes, BALANCE_TOTAL / len(folders))  # the published balance
        self.epoch_windows = int(min(MAX_WINDOWS, self.effective.sum()))
        self._dataset_p = self.effective / self.effective.sum()
        self._members = [
            np.flatnonzero([t.dataset == d for t in self.traces]) for d in range(len(folders))
        ]
        self._trace_p = []
        for members in self._members:
            weight = np.array([self.traces[i].replicas * len(self.traces[i].windows) for i in members], dtype=float)
            self._trace_p.append(weight / weight.sum() if weight.sum() else weight)
        # The sampler draws a trace in one go (its dataset's share times its share within the dataset) and
        # reads every row of a batch from the traces laid end to end.
        self._p = np.zeros(len(self.traces))
        for dataset, members in enumerate(self._members):
            self._p[members] = self._dataset_p[dataset] * self._trace_p[dataset]
        self._p /= self._p.sum()
        lengths = np.array([len(t.dff) for t in self.traces])
        self._length = lengths
        self._start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self._dff = np.nan_to_num(np.concatenate([t.dff for t in self.traces]))
        self._target = np.concatenate([t.target for t in self.traces])
        self._profile = np.concatenate([t.profile for t in self.traces])
        self._usable = np.concatenate([np.pad(t.usable, (0, len(t.dff) - len(t.usable))) for t in self.traces])
        self._std = np.array([t.noise_std for t in self.traces], dtype=np.float32)
        counts = np.array([len(t.windows) for t in self.traces])
        self._window_count = counts
        self._window_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._windows = np.concatenate([t.windows for t in self.traces])

    def _prepare(self, recording, index: int, smoothing: float, causal: bool,
                 rng: np.random.Generator) -> _Trace | None:
        own_rate = recording.frame_rate
        std = added_noise_std(recording.dff, own_rate, self.noise_level, rng)
        if std is None:
            return None
        base_noise = float(noise_levels(recording.dff, own_rate))
        _, dff, counts = at_frame_rate(recording, self.frame_rate)
        if abs(own_rate - self.frame_rate) > 0.05 * self.frame_rate:
            std *= math.sqrt(self.frame_rate / own_rate)
        if len(dff) < self.windowsize:
            return None  # shorter than one window at this rate
        target = smooth_spikes(counts, smoothing * self.frame_rate, causal)
        finite = np.isfinite(dff)
        usable = np.convolve(~finite, np.ones(self.windowsize), mode="valid") == 0
        windows = np.flatnonzero(usable)
        if windows.size == 0:
            return None
        replicas = min(MAX_REPLICAS, math.ceil(1.2 * (self.noise_level / max(base_noise, 1e-9)) ** 2))
        replicas = max(1, min(replicas, MAX_FRAMES_PER_RECORDING // len(dff)))
        return _Trace(index, dff.astype(np.float32), target.astype(np.float32), float(std),
                      shot_noise_profile(dff).astype(np.float32), usable, windows, replicas)

    def sample(self, rng: np.random.Generator, segments: int, frames: int) -> tuple[np.ndarray, ...]:
        """A batch: noisy input (segments, frames + windowsize - 1), target and loss mask (segments, frames).

        Each row starts at a usable window of a trace drawn with the published shares; its noise is
        drawn now (the replicas are virtual).  Frames past the end of a trace are 0 and masked out.
        """
        span = frames + self.windowsize - 1
        trace = rng.choice(len(self._p), size=segments, p=self._p)
        pick = (rng.random(segments) * self._window_count[trace]).astype(np.int64)
        first = self._windows[self._window_start[trace] + pick]
        offsets = np.arange(span)
        inside = first[:, None] + offsets[None, :] < self._length[trace][:, None]
        index = np.minimum(self._start[trace][:, None] + first[:, None] + offsets[None, :], len(self._dff) - 1)
        noise = rng.standard_normal((segments, span), dtype=np.float32)
        noise *= self._std[trace][:, None]
        noise *= self._profile[index]
        x = np.where(inside, self._dff[index] + noise, np.float32(0))
        outputs = index[:, :frames]
        y = np.where(inside[:, self.windowsize - 1:], self._target[np.minimum(outputs + self.before, len(self._dff) - 1)],
                     np.float32(0))
        mask = (inside[:, self.windowsize - 1:] & self._usable[outputs]).astype(np.float32)
        return x.astype(np.float32, copy=False), y.astype(np.float32, copy=False), mask

    def epochs(self, nr_of_epochs: int) -> int:
        """The published epoch rule: min(nr_of_epochs, 10 floor(5e6 / windows))."""
        return int(max(1, min(nr_of_epochs, 10 * math.floor(MAX_WINDOWS / max(1, self.epoch_windows)))))


def validate_training_config(config: dict[str, Any], where: str = "config") -> None:
    """Refuse a config with a missing or an unknown key (a typo would silently change training)."""
    missing = [key for key in REQUIRED_KEYS if key not in config]
    unknown = [key for key in config if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS]
    if missing or unknown:
        raise ModelError(
            f"{where}: "
            + (f"missing {', '.join(missing)}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"unknown key(s) {', '.join(unknown)}" if unknown else "")
            + f". A training config has the keys {', '.join(REQUIRED_KEYS)} (and optionally {', '.join(OPTIONAL_KEYS)})."
        )


class CollapsedError(NWBCascadeError, RuntimeError):
    """Training stopped learning: every output is the same (all ReLUs dead), or the loss diverged."""


#: Consecutive steps with constant output after which a member counts as collapsed.
COLLAPSE_STEPS = 200
#: Fresh initialisations tried before giving up on a member.
ATTEMPTS = 4


def train_members(data: TrainingSet, config: dict[str, Any], *, seeds: Sequence[int], device: torch.device,
                  epochs: int | None = None, progress: bool = False) -> list[dict[str, torch.Tensor]]:
    """Train ensemble members of one noise level on ``data``, one per seed; returns their state dicts.

    The members train together as one :class:`GroupedCascadeNet`: each is initialised as it would be
    alone (``torch.manual_seed(seed)``), draws its own batches (its own generator, same seed) and gets
    exactly the updates it would get alone (its own loss, an element-wise optimiser), while the
    kernels are called once for all of them.  A member whose network collapses (every ReLU dead, so
    the output no longer varies and no gradient flows) or whose loss diverges is restarted in its
    place from a fresh initialisation (seed + 7919 per attempt), as a person watching the loss would
    do, and trains its full number of steps; members that have finished wait, unchanged (a zero
    gradient leaves Adagrad's weights as they are).  The log records each restart.
    """
    members = len(seeds)
    epochs = epochs if epochs is not None else data.epochs(int(config["nr_of_epochs"]))
    total = epochs * max(1, math.ceil(data.epoch_windows / (SEGMENT_FRAMES * SEGMENTS_PER_STEP)))

    def fresh(seed: int) -> tuple[CascadeNet, np.random.Generator]:
        torch.manual_seed(seed)  # each member starts as it would alone
        net = CascadeNet(int(config["windowsize"]), tuple(config["filter_sizes"]), tuple(config["filter_numbers"]),
                         int(config["dense_expansion"]))
        return net, np.random.default_rng(seed)

    started = [fresh(int(seed)) for seed in seeds]
    net = GroupedCascadeNet([member for member, _ in started]).to(device)
    generators = [generator for _, generator in started]
    optimiser = torch.optim.Adagrad(net.parameters(), lr=LEARNING_RATE)
    done = np.zeros(members, int)  # steps each member has trained
    attempts = np.zeros(members, int)
    constant = np.zeros(members, int)
    label = f"noise {data.noise_level:g}, {members} member{'s' if members > 1 else ''}"
    with tqdm(total=total * members, disable=not progress, unit="member-step", desc=label) as bar:
        while (done < total).any():
            active = done < total
            batches = [data.sample(rng, SEGMENTS_PER_STEP, SEGMENT_FRAMES) for rng in generators]
            x, y, mask = (torch.from_numpy(np.stack(parts, axis=1)).to(device) for parts in zip(*batches))
            out = net(x)
            errors = ((out - y) ** 2 * mask).sum(dim=(0, 2)) / mask.sum(dim=(0, 2)).clamp(min=1)
            training = torch.from_numpy(active).to(device)
            loss = torch.where(training, errors, torch.zeros_like(errors)).sum()  # each member: its own loss
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            done += active
            bar.update(int(active.sum()))
            spread = out.detach().std(dim=(0, 2)).cpu().numpy()
            constant = np.where(active & (spread < 1e-7), constant + 1, 0)
            failed = active & ((constant >= COLLAPSE_STEPS) | ~np.isfinite(errors.detach().cpu().numpy()))
            for member in np.flatnonzero(failed):
                attempts[member] += 1
                seed = int(seeds[member]) + 7919 * int(attempts[member])
                log.warning("noise level %g, seed %d: the network collapsed (constant output) or diverged; "
                            "restarting with a fresh initialisation (seed %d)", data.noise_level,
                            seed - 7919, seed)
                if attempts[member] >= ATTEMPTS:
                    raise CollapsedError(f"noise level {data.noise_level:g}: training collapsed in {ATTEMPTS} attempts")
                replacement, generators[member] = fresh(seed)
                net.replace_member(member, replacement)
                _reset_adagrad(optimiser, net, member)
                bar.total += int(done[member])
                done[member] = constant[member] = 0
    return [net.member_state(member) for member in range(members)]


def _reset_adagrad(optimiser: torch.optim.Adagrad, net: GroupedCascadeNet, member: int) -> None:
    """Forget what Adagrad accumulated for one member (its squared-gradient sums start again at 0)."""
    for group in (net.weights, net.biases):
        for key, parameter in group.items():
            optimiser.state[parameter]["sum"][net.member_rows(key, member)] = 0.0


def train(
    config: dict[str, Any] | str | Path,
    ground_truth: str | Path,
    out: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    seed: int = 0,
    epochs: int | None = None,
    workers: int | None = None,
) -> CascadeModel:
    """Train a model folder in the published format: every noise level x ensemble member.

    Resumable: a weight file already written is not trained again.  The members of a noise level
    train together as one grouped network (:func:`train_members`), levels in the config's order.
    Each file is written under a temporary name and renamed when complete.  On the CPU, levels
    train in parallel processes of one thread each (small steps use one core best).

    Parameters
    ----------
    config
        A config dict or ``config.yaml`` path (published template keys).
    ground_truth
        Folder of dataset folders; ``training_datasets`` names which ones.
    out
        The model folder (default: ``model_name`` in the current directory).
    device
        ``"cpu"``, ``"cuda"``...; default: CUDA when present.
    progress
        Show a progress bar.
    seed
        Base seed; member k of noise level n uses ``seed + 1000 n + k``.
    epochs
        Override the published epoch rule (for quick runs).
    workers
        Parallel training processes on the CPU (default: the CPU count); 1 on CUDA.

    Returns
    -------
    CascadeModel
        The trained model, loaded from its folder.
    """
    if not isinstance(config, dict):
        config = read_config(config)
    config = dict(config)
    validate_training_config(config)
    folder = Path(out) if out is not None else Path(str(config["model_name"]))
    available = {path.name: path for path in dataset_folders(ground_truth)}
    missing = [name for name in config["training_datasets"] if name not in available]
    if missing:
        raise FileNotFoundError(f"{ground_truth}: no dataset folder(s) {', '.join(missing)} named in training_datasets")
    folders = [available[name] for name in config["training_datasets"]]
    folder.mkdir(parents=True, exist_ok=True)
    config["training_finished"] = "Running"
    write_config(config, folder / "config.yaml")
    torch_device = resolve_device(device)
    parallel = 1 if torch_device.type == "cuda" else max(1, workers or os.cpu_count() or 1)
    jobs = [
        _Job(folders, config, int(level), members, seed, str(torch_device), epochs, folder)
        for level, members in _groups(folder, config, parallel)
    ]
    parallel = min(parallel, len(jobs))
    total = sum(len(job.members) for job in jobs)
    with tqdm(total=total, disable=not progress, unit="member", desc=f"training {config['model_name']}") as bar:
        if parallel <= 1:
            for job in jobs:
                job.run(progress=progress)
                bar.update(len(job.members))
        else:
            context = multiprocessing.get_context("spawn")  # no fork after OpenMP threads started
            with ProcessPoolExecutor(parallel, mp_context=context, initializer=torch.set_num_threads,
                                     initargs=(1,)) as pool:
                futures = {pool.submit(job.run): job for job in jobs}
                for future in as_completed(futures):
                    future.result()  # a failed member stops the run with its error
                    bar.update(len(futures[future].members))
    config["training_finished"] = "Yes"
    write_config(config, folder / "config.yaml")
    return load_model_folder(folder)


def _groups(folder: Path, config: dict[str, Any], parallel: int) -> list[tuple[int, list[int]]]:
    """The members still to train, one group per noise level, in the config's level order.

    Members of one level train together (one grouped network); while there are fewer groups
    than parallel workers, the largest group is split so that every worker has one.
    """
    groups = []
    for level in config["noise_levels"]:
        missing = [member for member in range(int(config["ensemble_size"]))
                   if not (folder / weight_file_name(level, member)).is_file()]
        if missing:
            groups.append((int(level), missing))
    while groups and len(groups) < parallel:
        largest = max(range(len(groups)), key=lambda index: len(groups[index][1]))
        level, members = groups[largest]
        if len(members) < 2:
            break
        half = (len(members) + 1) // 2
        groups[largest:largest + 1] = [(level, members[:half]), (level, members[half:])]
    return groups


@dataclass
class _Job:
    """Training members of one noise level into their weight files (picklable, for worker processes)."""

    folders: list[Path]
    config: dict[str, Any]
    level: int
    members: list[int]
    seed: int
    device: str
    epochs: int | None
    folder: Path

    def run(self, progress: bool = False) -> list[Path]:
        config = self.config
        windowsize = int(config["windowsize"])
        data = TrainingSet(self.folders, float(config["sampling_rate"]), float(self.level), float(config["smoothing"]),
                           bool(int(config["causal_kernel"])), windowsize, int(float(config["before_frac"]) * windowsize),
                           np.random.default_rng(self.seed + 1000 * self.level))
        log.info("noise level %s members %s: %d recordings, %d windows per epoch", self.level, self.members,
                 len(data.traces), data.epoch_windows)
        states = train_members(data, config, seeds=[self.seed + 1000 * self.level + m for m in self.members],
                               device=torch.device(self.device), epochs=self.epochs, progress=progress)
        written = []
        for member, state in zip(self.members, states):
            target = self.folder / weight_file_name(self.level, member)
            with atomic_write(target) as partial:
                torch.save(state, partial)
            written.append(target)
        return written


def matched_config(frame_rate: float, roi_noise_levels: np.ndarray, training_datasets: Sequence[str], *,
                   ensemble_size: int = 5, nr_of_epochs: int = 20, name: str | None = None) -> dict[str, Any]:
    """A training config for data at ``frame_rate`` with these ROI noise levels.

    Noise levels: every integer from the 5th to the 95th percentile of the ROIs' (at
    least 1).  Smoothing: about 1.5 frames, rounded to a step of 25 ms (the paper
    advises 25-50 ms at 30 Hz and 200 ms at 7.5 Hz; less cannot be resolved, more
    blurs spike timing).
    """
    finite = np.asarray(roi_noise_levels, dtype=float)
    finite = finite[np.isfinite(finite)]
    low, high = (np.percentile(finite, [5, 95]) if finite.size else (2.0, 2.0))
    levels = list(range(max(1, int(math.floor(low))), max(1, int(math.ceil(high))) + 1))
    smoothing = max(0.025, round(1.5 / frame_rate / 0.025) * 0.025)
    name = name or f"Matched_{frame_rate:.3g}Hz_smoothing{int(round(smoothing * 1000))}ms_noise{levels[0]}-{levels[-1]}"
    return {
        "model_name": name,
        "sampling_rate": float(frame_rate),
        "training_datasets": list(training_datasets),
        "noise_levels": levels,
        "smoothing": float(smoothing),
        "causal_kernel": 0,
        "windowsize": 64,
        "before_frac": 0.5,
        "filter_sizes": [31, 19, 5],
        "filter_numbers": [30, 40, 50],
        "dense_expansion": 10,
        "loss_function": "mean_squared_error",
        "optimizer": "Adagrad",
        "nr_of_epochs": int(nr_of_epochs),
        "ensemble_size": int(ensemble_size),
        "batch_size": 1024,
        "training_finished": "No",
        "verbose": 1,
    }
