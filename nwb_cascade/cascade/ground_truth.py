"""Reading the public Cascade ground truth and bringing it to a target frame rate.

A dataset is a folder of ``.mat`` files, one per neuron, each holding a struct
array ``CAttached`` with one element per recording.  The fields used are
``fluo_time`` (s), ``fluo_mean`` (ΔF/F as a fraction) and ``events_AP`` (spike
times in units of 1e-4 s, NaN entries dropped).  Both the reduced files and
the original ones (with many more fields) are read.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from scipy.ndimage import gaussian_filter1d
from scipy.signal import resample
from scipy.stats import invgauss

from ..common.cache import data_root
from ..common.files import atomic_folder
from .download import fetch
from .errors import DownloadError
from .noise import noise_levels

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
        dff = np.asarray(element["fluo_mean"], dtype=float).ravel()[: times.size]
        timed = np.isfinite(times)
        times, dff = times[timed], dff[timed[: dff.size]]
        if times.size < 2 or dff.size != times.size:
            continue  # an empty or inconsistent recording holds nothing to learn from
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


def smooth_spikes(counts: np.ndarray, sigma_frames: float, causal: bool = False) -> np.ndarray:
    """Spike counts smoothed as the training target is: a Gaussian of ``sigma_frames`` or,
    with ``causal``, the published causal kernel (an inverse-Gaussian density with a short rise)."""
    counts = np.asarray(counts, dtype=float)
    if not causal:
        return gaussian_filter1d(counts, sigma_frames)
    return np.convolve(counts, causal_kernel(sigma_frames), mode="same")


def causal_kernel(sigma_frames: float) -> np.ndarray:
    """199-frame causal smoothing kernel: inverse-Gaussian density (mean 2σ) peaking just after its centre."""
    x = np.arange(199, dtype=float)
    kernel = invgauss.pdf(x, 2 * sigma_frames, loc=101, scale=1)
    kernel = np.roll(kernel, int((99 - int(np.argmax(kernel))) / 1.5))
    return kernel / kernel.sum()


def shot_noise_profile(dff: np.ndarray) -> np.ndarray:
    """Relative noise per frame: sqrt(|ΔF/F + 1|) over its median (brighter frames are noisier)."""
    profile = np.sqrt(np.abs(np.nan_to_num(dff) + 1.0))
    return profile / np.median(profile)


def added_noise_std(dff: np.ndarray, frame_rate: float, target: float, rng: np.random.Generator) -> float | None:
    """Standard deviation of Gaussian noise that brings ``dff`` to noise level ``target``.

    A calibration curve (noise level measured after adding noise of 20 standard
    deviations, 0-0.19·sqrt(rate)) is interpolated at the target.  None when the
    trace is already at least as noisy as the target.
    """
    scale = np.sqrt(frame_rate)
    stds = np.arange(20) / 100 * scale
    measured = np.array([noise_levels(dff + rng.normal(0, std, dff.shape), frame_rate) for std in stds])
    if target < measured[0]:
        return None
    measured = np.maximum.accumulate(measured)  # a calibration curve must not decrease
    return float(np.interp(target, measured, stds))


def with_noise_level(
    dff: np.ndarray, frame_rate: float, target: float, rng: np.random.Generator
) -> np.ndarray | None:
    """``dff`` with shot-noise-like Gaussian noise added to reach noise level ``target`` (None if noisier)."""
    std = added_noise_std(dff, frame_rate, target, rng)
    if std is None:
        return None
    return dff + rng.normal(0.0, 1.0, dff.shape) * std * shot_noise_profile(dff)


@dataclass
class DatasetSummary:
    """What a ground-truth dataset holds."""

    name: str
    neurons: int
    recordings: int
    frame_rate: float  # median over recordings
    duration_s: float
    spikes: int
    noise_level: float  # median over recordings, at their own rate

    @property
    def spike_rate(self) -> float:
        return self.spikes / self.duration_s if self.duration_s else float("nan")


def dataset_folders(root: str | Path) -> list[Path]:
    """The dataset folders of a ground-truth directory (those holding .mat files), sorted.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist or holds no dataset folder with a .mat file.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such ground-truth folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("*.mat")))
    if not folders:
        raise FileNotFoundError(
            f"{root} holds no dataset folders with .mat files; the ground truth is a folder of dataset folders "
            "(DS01-..., DS02-...) of .mat files (nwb-cascade ground-truth download fetches it)"
        )
    return folders


def summarize_dataset(folder: str | Path) -> DatasetSummary:
    """Neurons, recordings, frame rate, duration, spikes and base noise level of one dataset."""
    folder = Path(folder)
    neurons = recordings = spikes = 0
    rates, noise, duration = [], [], 0.0
    for path in sorted(folder.glob("*.mat")):
        neurons += 1
        for recording in read_neuron(path):
            recordings += 1
            rates.append(recording.frame_rate)
            noise.append(float(noise_levels(recording.dff, recording.frame_rate)))
            duration += float(recording.times[-1] - recording.times[0])
            spikes += len(recording.spike_times)
    return DatasetSummary(folder.name, neurons, recordings, float(np.median(rates)) if rates else float("nan"),
                          duration, spikes, float(np.nanmedian(noise)) if noise else float("nan"))


def dataset_table(root: str | Path) -> str:
    """A markdown table of the datasets under ``root``: neurons, recordings, frame rate, duration, spikes, noise."""
    lines = ["| dataset | neurons | recordings | frame rate (Hz) | duration (s) | spikes | spikes/s | noise level |",
             "|---|---|---|---|---|---|---|---|"]
    for folder in dataset_folders(root):
        row = summarize_dataset(folder)
        lines.append(f"| {row.name} | {row.neurons} | {row.recordings} | {row.frame_rate:.1f} | {row.duration_s:.0f} | "
                     f"{row.spikes} | {row.spike_rate:.2f} | {row.noise_level:.2f} |")
    return "\n".join(lines)


def ground_truth_stretches(root: str | Path, datasets: Sequence[str], n_neurons: int, n_frames: int,
                           frame_rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """ΔF/F and spike counts (``n_neurons`` × ``n_frames``) of random stretches of real recordings of ``datasets``
    at ``frame_rate`` (NaN frames interpolated, ΔF/F below -0.5 clipped), preferring stretches with spikes."""
    files = sorted(f for name in datasets for f in (Path(root) / name).glob("*.mat"))
    if not files:
        raise FileNotFoundError(f"{root} holds none of the ground-truth datasets {', '.join(datasets)}")
    stretches = []
    for path in rng.permutation(files):
        for recording in read_neuron(path):
            _, dff, counts = at_frame_rate(recording, frame_rate)
            finite = np.isfinite(dff)
            if len(dff) < n_frames or not finite.any():
                continue
            dff = np.interp(np.arange(len(dff)), np.flatnonzero(finite), dff[finite])
            stretches.append((dff, counts))
    if not stretches:
        raise ValueError(f"no ground-truth recording in {root} is {n_frames} frames long at {frame_rate:g} Hz")
    dff_rows, spike_rows = [], []
    for index in range(n_neurons):
        dff, counts = stretches[rng.integers(len(stretches))] if index >= len(stretches) else stretches[index]
        first = 0
        for _ in range(20):  # prefer a stretch with spikes in it
            first = int(rng.integers(0, len(dff) - n_frames + 1))
            if counts[first:first + n_frames].sum() > 0:
                break
        dff_rows.append(np.clip(dff[first:first + n_frames], -0.5, None))
        spike_rows.append(counts[first:first + n_frames])
    return np.array(dff_rows), np.array(spike_rows)


def linear_kernel(root: str | Path, datasets: Sequence[str], frame_rate: float, *, seconds: float = 2.0,
                  ridge: float = 1.0, min_spikes: int = 20) -> np.ndarray:
    """The ΔF/F one spike adds, frame by frame from the spike's frame on: the median over the recordings of
    ``datasets`` (at ``frame_rate``) of each one's linear kernel.

    Each recording's kernel is the ridge-regularised least-squares fit of its ΔF/F by its spike counts at lags
    0 to ``seconds`` (and a constant), over its frames with a ΔF/F (the linear kernels of the paper's Fig. 1h);
    recordings with fewer than ``min_spikes`` spikes or 1,000 frames are left out.
    """
    files = sorted(f for name in datasets for f in (Path(root) / name).glob("*.mat"))
    if not files:
        raise FileNotFoundError(f"{root} holds none of the ground-truth datasets {', '.join(datasets)}")
    lags = max(1, round(seconds * frame_rate))
    kernels = []
    for path in files:
        for recording in read_neuron(path):
            _, dff, counts = at_frame_rate(recording, frame_rate)
            finite = np.isfinite(dff)
            if finite.sum() < 1000 or counts.sum() < min_spikes:
                continue
            design = np.column_stack([np.concatenate([np.zeros(lag), counts[:counts.size - lag]])
                                      for lag in range(lags)] + [np.ones(counts.size)])[finite]
            penalty = ridge * np.eye(lags + 1)
            penalty[-1, -1] = 0.0  # the constant (the baseline) is not shrunk
            kernels.append(np.linalg.solve(design.T @ design + penalty, design.T @ dff[finite])[:lags])
    if not kernels:
        raise ValueError(f"no recording of {', '.join(datasets)} has {min_spikes} spikes and 1,000 frames")
    return np.median(np.array(kernels), axis=0)


#: The published repository as a zip; its Ground_truth folder is the public database.
GROUND_TRUTH_URL = "https://github.com/HelmchenLabSoftware/Cascade/archive/refs/heads/master.zip"
GROUND_TRUTH_FOLDER = "Ground_truth"
#: Datasets of excitatory neurons (the interneuron datasets name PV, SST or VIP).
INTERNEURON_MARKERS = ("-PV-", "-SST-", "-VIP-")


def default_ground_truth_dir() -> Path:
    """Where the downloaded ground truth lives: ``$NWB_CASCADE_DATA/ground_truth`` or the user data directory."""
    return data_root() / "ground_truth"


def excitatory(names: list[str]) -> list[str]:
    """The dataset names of excitatory neurons."""
    return [name for name in names if not any(marker in name for marker in INTERNEURON_MARKERS)]


def download_ground_truth(dest: str | Path | None = None, *, url: str = GROUND_TRUTH_URL, sha256: str | None = None,
                          progress: bool = True, retries: int = 4) -> Path:
    """Fetch the public ground-truth database (the ``Ground_truth`` folder of the published
    repository's archive) into ``dest`` (default: :func:`default_ground_truth_dir`).

    The archive is downloaded resumably and verified (size, and ``sha256`` when given, and
    the zip's CRCs); only the dataset folders are unpacked, into a partial folder that is
    renamed into place when complete.
    """
    dest = Path(dest) if dest is not None else default_ground_truth_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    archive = fetch(url, dest.parent / f".{dest.name}.zip", sha256=sha256, retries=retries, progress=progress)
    try:
        with zipfile.ZipFile(archive) as handle, atomic_folder(dest) as staging:
            if handle.testzip() is not None:
                raise DownloadError(f"{url}: the archive fails its CRC check; download again")
            members = [m for m in handle.infolist() if f"/{GROUND_TRUTH_FOLDER}/" in f"/{m.filename}" and not m.is_dir()]
            if not members:
                raise DownloadError(f"{url}: the archive holds no {GROUND_TRUTH_FOLDER}/ folder")
            for member in members:
                relative = member.filename.split(f"{GROUND_TRUTH_FOLDER}/", 1)[1]
                target = staging / relative
                if ".." in Path(relative).parts:
                    continue  # never write outside the destination
                target.parent.mkdir(parents=True, exist_ok=True)
                with handle.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
            dataset_folders(staging)  # refuses an archive without dataset folders
    except zipfile.BadZipFile as error:
        raise DownloadError(f"{url}: the download is not a zip archive ({error})") from error
    finally:
        archive.unlink(missing_ok=True)
    return dest
