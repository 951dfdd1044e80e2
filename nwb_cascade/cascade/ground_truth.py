"""Reading the public Cascade ground truth and bringing it to a target frame rate.

A dataset is a folder of ``.mat`` files, one per neuron, each holding a struct
array ``CAttached`` with one element per recording.  The fields used are
``fluo_time`` (s), ``fluo_mean`` (ΔF/F as a fraction) and ``events_AP`` (spike
times in units of 1e-4 s, NaN entries dropped).  Both the reduced files and
the original ones (with many more fields) are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from scipy.ndimage import gaussian_filter1d
from scipy.signal import resample

#: Units of ``events_AP``: samples of the 10 kHz electrophysiology clock.
AP_TIME_UNIT = 1e-4
#: Relative frame-rate difference beyond which a trace is resampled.
RESAMPLE_TOLERANCE = 0.05


@dataclass
class Recording:
    """One ground-truth recording of one neuron."""

    dataset: str
    neuron: str
    index: int
    times: np.ndarray  # frame times, s
    dff: np.ndarray  # ΔF/F as a fraction, may hold NaN frames
    spike_times: np.ndarray  # s

    @property
    def frame_rate(self) -> float:
        """1 / mean frame interval."""
        return float(1.0 / np.mean(np.diff(self.times)))


def read_neuron(path: str | Path) -> list[Recording]:
    """All recordings in one ground-truth ``.mat`` file."""
    path = Path(path)
    content = loadmat(path, simplify_cells=True, variable_names=["CAttached"])
    if "CAttached" not in content:
        raise ValueError(f"{path}: no CAttached struct; not a Cascade ground-truth file")
    elements = content["CAttached"]
    if isinstance(elements, dict):
        elements = [elements]
    recordings = []
    for index, element in enumerate(np.atleast_1d(elements)):
        times = np.asarray(element["fluo_time"], dtype=float).ravel()
        dff = np.asarray(element["fluo_mean"], dtype=float).ravel()
        spikes = np.asarray(element["events_AP"], dtype=float).ravel()
        spikes = spikes[np.isfinite(spikes)] * AP_TIME_UNIT
        recordings.append(Recording(path.parent.name, path.stem, index, times, dff, np.sort(spikes)))
    return recordings


def read_dataset(folder: str | Path) -> Iterator[Recording]:
    """Recordings of every neuron in a dataset folder, in file-name order, read lazily."""
    for path in sorted(Path(folder).glob("*.mat")):
        yield from read_neuron(path)


def at_frame_rate(recording: Recording, frame_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A recording at ``frame_rate``: (frame times, ΔF/F, spike counts per frame).

    The trace is Fourier-resampled when its rate differs from the target by
    more than 5% (NaN frames are filled by linear interpolation first); spikes
    are binned into frames whose bin edges lie halfway between frame times.
    """
    times, dff = recording.times, recording.dff
    if abs(recording.frame_rate - frame_rate) > RESAMPLE_TOLERANCE * frame_rate:
        finite = np.isfinite(dff)
        if not finite.all():
            dff = np.interp(times, times[finite], dff[finite])
        frames = int(round(len(dff) * frame_rate / recording.frame_rate))
        dff, times = resample(dff, frames, t=times)
    edges = np.concatenate([[times[0] - 0.5 / frame_rate], (times[1:] + times[:-1]) / 2, [times[-1] + 0.5 / frame_rate]])
    counts = np.histogram(recording.spike_times, edges)[0].astype(float)
    return times, dff, counts


def smooth_spikes(counts: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Spike counts smoothed by a Gaussian of ``sigma_frames`` (the training target's kernel)."""
    return gaussian_filter1d(np.asarray(counts, dtype=float), sigma_frames, mode="constant")


def with_noise_level(
    dff: np.ndarray, frame_rate: float, target: float, rng: np.random.Generator
) -> np.ndarray | None:
    """``dff`` with Gaussian noise added so that its noise level becomes ``target``.

    The noise at each frame is scaled by ``sqrt(|dff + 1|)`` normalised by its
    median (brighter frames are noisier, as with shot noise); its overall
    scale is found by bisection on the measured noise level.  Returns None
    when the trace is already noisier than the target.
    """
    from .noise import noise_levels

    if noise_levels(dff, frame_rate) >= target:
        return None
    shape = np.sqrt(np.abs(np.nan_to_num(dff) + 1.0))
    shape /= np.median(shape)
    base = rng.standard_normal(dff.shape) * shape
    low, high = 0.0, 1.0
    while noise_levels(dff + high * base, frame_rate) < target:
        high *= 2.0
    for _ in range(40):
        middle = 0.5 * (low + high)
        if noise_levels(dff + middle * base, frame_rate) < target:
            low = middle
        else:
            high = middle
    return dff + 0.5 * (low + high) * base
