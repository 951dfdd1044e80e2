"""Self-supervised training (DeepCAD-RT): interlaced halves of random sub-stacks predict each other.

A sub-stack of ``2·t`` consecutive frames splits into its even and its odd
frames: two noisy samples of nearly the same scene whose noise is independent.
The network maps one half to the other (which is input and which target is
drawn at random), under one of the 8 rotations/flips of the plane, with the
loss ``0.5·L1 + 0.5·L2`` and Adam.  The mean of such a prediction is the
clean movie, so the network learns to remove the noise.

The network sees the movie minus its mean image, divided by its standard
deviation about it (the scale); the loss is measured in the movie's own units,
as DeepCAD-RT measures it.  The units matter: the L1 half pulls a prediction
towards the target's median, by up to half a unit.  On a digitiser's counts
(many per photon) that pull is negligible and the loss acts as L2, whose
optimum is the clean movie; on photon counts (one per photon) or a movie scaled
to about 1 it shrinks sparse transients towards the resting level (measured on
the test movie, 600 steps, three seeds: 38.3, 40.5, 40.4 dB at 20 counts per
photon; 38.7, 39.3, 37.2 dB at one count per photon).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..common.device import resolve_device
from .checkpoint import Denoiser, Settings
from .movie import MovieError, as_movie, block_frames, frame_range, mean_image, read_block
from .network import WIDTHS, UNet3D, memory_format
from .tiles import padded

log = logging.getLogger(__name__)

#: Default network input (frames × height × width; a training sub-stack reads twice the frames) and
#: training steps, on a GPU and on a CPU (where a step of the smaller patch costs ~0.08 s on 2 cores).
PATCH, STEPS = (32, 64, 64), 400
CPU_PATCH, CPU_STEPS = (16, 32, 32), 600
#: Below this standard deviation about the mean image (in the movie's units), the L1 half of the loss biases.
SMALL_SCALE = 1.0
#: Training frames read into memory when the caller does not choose.
DEFAULT_TRAIN_FRAMES = 2000


def train(
    movie: Any,
    *,
    frames: slice | tuple[int, int] | None = None,
    train_frames: int | None = None,
    patch: tuple[int, int, int] | None = None,
    steps: int | None = None,
    batch_size: int = 2,
    learning_rate: float = 1e-3,
    widths: tuple[int, ...] = WIDTHS,
    seed: int = 0,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = False,
) -> Denoiser:
    """Train a denoiser on (part of) a movie.

    Parameters
    ----------
    movie
        Frames × height × width: a numpy array, an h5py dataset or a ``TwoPhotonSeries``.
    frames
        The frames to learn from (a slice or (start, stop)); default: the whole movie.
    train_frames
        At most this many frames, from the start of ``frames``, are read into memory
        (as float32) to draw sub-stacks from; default 2000.
    patch
        Network input (frames, height, width); each a multiple of 8, height = width.
        Axes of a smaller movie shrink to it (rounded up to 8, padded by reflection).
        Default: 32×64×64 on a GPU, 16×32×32 on a CPU.
    steps, batch_size, learning_rate
        Adam updates (default: 400 on a GPU, 600 on a CPU), sub-stacks per update, and
        the initial learning rate (cosine decay to 1/10).
    widths
        Channels per U-Net level.
    seed
        Seeds the sub-stack draws and the weights.
    device
        ``"cpu"``, ``"cuda"``...; default: CUDA when present.
    checkpoint
        Where to save the trained denoiser (optional).
    progress
        Show a progress bar.

    Returns
    -------
    Denoiser
    """
    for name, value in (("steps", steps), ("train_frames", train_frames), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise MovieError(f"{name} must be a whole number of at least 1, got {value!r}: an untrained network "
                             "would only smooth the movie")
    if not learning_rate > 0:
        raise MovieError(f"learning_rate must be positive, got {learning_rate!r}")
    movie = as_movie(movie)
    n_total, height, width = (int(v) for v in movie.shape)
    start, stop = frame_range(n_total, frames)
    stop = min(stop, start + (train_frames or DEFAULT_TRAIN_FRAMES))
    multiple = 2 ** (len(widths) - 1)
    target_device = resolve_device(device)
    on_cpu = target_device.type == "cpu"
    if patch is None:
        patch = CPU_PATCH if on_cpu else PATCH
    patch = fitted_patch(patch, stop - start, height, width, multiple)
    if steps is None:
        steps = CPU_STEPS if on_cpu else STEPS
    data, scale = training_data(movie, start, stop, patch)
    if scale < SMALL_SCALE:
        log.warning("the movie varies by only %.3g (its units) about its mean image: the L1 half of the loss, "
                    "measured in the movie's units as in DeepCAD-RT, will pull sparse transients toward the "
                    "resting level; if the movie is in normalised units, multiply it (e.g. by 1000) first", scale)
    log.info("training on frames %d:%d (%d×%d px), patches %s, %d steps", start, stop, height, width, patch, steps)

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layout = memory_format(target_device)
    network = UNet3D(widths).to(target_device, memory_format=layout)
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, steps), eta_min=learning_rate / 10)
    began = time.perf_counter()
    loss_value = float("nan")
    network.train()
    with tqdm(range(steps), desc="training denoiser", unit="step", disable=not progress) as bar:
        for _ in bar:
            inputs, targets = substack_batch(data, patch, batch_size, rng)
            inputs, targets = (torch.from_numpy(array).to(target_device).contiguous(memory_format=layout)
                               for array in (inputs, targets))
            output = network(inputs)
            loss = movie_units_loss(output, targets, scale)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_value = float(loss.detach())
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
    network.eval()
    settings = Settings(
        patch=patch, widths=tuple(widths), scale=scale, steps=steps, batch_size=batch_size,
        learning_rate=learning_rate, train_frames=(start, stop), movie_shape=(n_total, height, width),
        movie_dtype=str(np.dtype(movie.dtype)), seed=seed, final_loss=loss_value,
        seconds=time.perf_counter() - began,
    )
    denoiser = Denoiser(network.cpu().to(memory_format=torch.contiguous_format), settings)
    if checkpoint is not None:
        denoiser.save(checkpoint)
    return denoiser


def movie_units_loss(output: torch.Tensor, target: torch.Tensor, scale: float) -> torch.Tensor:
    """``0.5·L1 + 0.5·L2`` of normalised tensors, measured in the movie's own units (× ``scale``)."""
    return (0.5 * scale * torch.nn.functional.l1_loss(output, target)
            + 0.5 * scale**2 * torch.nn.functional.mse_loss(output, target))


def fitted_patch(patch: tuple[int, int, int], n_frames: int, height: int, width: int,
                 multiple: int) -> tuple[int, int, int]:
    """``patch`` checked, and shrunk to a movie smaller than it (sizes rounded up to ``multiple``)."""
    patch = tuple(int(v) for v in patch)
    if len(patch) != 3 or any(v <= 0 or v % multiple for v in patch):
        raise ValueError(f"patch must be (frames, height, width), each a positive multiple of {multiple}; not {patch}")
    if patch[1] != patch[2]:
        raise ValueError(f"patch height and width must be equal (the training rotates it by 90°); not {patch}")
    if n_frames < 2 * multiple:
        raise MovieError(
            f"training needs at least {2 * multiple} frames (two interlaced halves of {multiple}); "
            f"{n_frames} were given: give more frames"
        )
    side = min(patch[1], -(-max(height, width) // multiple) * multiple)
    fitted = (min(patch[0], n_frames // 2 // multiple * multiple), side, side)
    if fitted != patch:
        log.warning("the movie (%d frames of %d×%d px) is smaller than the patch %s: training on %s",
                    n_frames, height, width, patch, fitted)
    return fitted


def training_data(movie: Any, start: int, stop: int,
                  patch: tuple[int, int, int]) -> tuple[np.ndarray, float]:
    """Frames ``[start, stop)`` normalised as the network sees them (minus their mean image, over the scale),
    padded to at least one patch; and the scale (their standard deviation about the mean image)."""
    data = np.empty((stop - start, *movie.shape[1:]), dtype=np.float32)
    step = block_frames(movie)
    for first in range(start, stop, step):
        last = min(stop, first + step)
        data[first - start:last - start] = read_block(movie, first, last)
    mean, nan_fraction = mean_image(data, max_frames=None)
    if nan_fraction:
        log.warning("%.2g%% of the training pixels are NaN; they are filled with the mean image", 100 * nan_fraction)
    data -= mean
    np.nan_to_num(data, copy=False, nan=0.0, posinf=0.0, neginf=0.0)  # a missing pixel: its mean
    step = block_frames(data)  # sum of squares block by block: a float64 copy of all frames would double memory
    squares = sum(float(np.square(data[i:i + step], dtype=np.float64).sum()) for i in range(0, len(data), step))
    scale = float(np.sqrt(squares / (data.size * (1 - nan_fraction))))
    if not scale > 0:
        raise MovieError(f"frames {start}:{stop} do not change over time; there is no noise to learn to remove")
    data /= scale
    return padded(data, (2 * patch[0], patch[1], patch[2])), scale


def substack_batch(data: np.ndarray, patch: tuple[int, int, int], batch_size: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets (batch, 1, frames, height, width): interlaced halves of random sub-stacks,
    swapped at random, each pair under one of the 8 rotations/flips of the plane."""
    frames, height, width = patch
    inputs = np.empty((batch_size, 1, frames, height, width), dtype=np.float32)
    targets = np.empty_like(inputs)
    for b in range(batch_size):
        t = rng.integers(0, data.shape[0] - 2 * frames + 1)
        y = rng.integers(0, data.shape[1] - height + 1)
        x = rng.integers(0, data.shape[2] - width + 1)
        stack = data[t:t + 2 * frames, y:y + height, x:x + width]
        first, second = stack[0::2], stack[1::2]
        if rng.random() < 0.5:
            first, second = second, first
        turn = int(rng.integers(8))
        inputs[b, 0], targets[b, 0] = _augment(first, turn), _augment(second, turn)
    return inputs, targets


def _augment(stack: np.ndarray, turn: int) -> np.ndarray:
    """Rotation by ``turn % 4`` quarter turns, mirrored when ``turn >= 4``."""
    stack = np.rot90(stack, turn % 4, axes=(1, 2))
    return stack[:, :, ::-1] if turn >= 4 else stack
