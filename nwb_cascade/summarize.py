"""From a folder of results to findings: one table of every ROI, the paper's views of it, a log-normal fit.

:func:`summarize` reads every result of a batch folder (the outputs its manifest says are done, or the
NWB files in it; or the results of a dandiset on DANDI) and writes, under ``OUT_DIR/summary/``:

- ``rois.parquet`` and ``rois.csv``: one row per ROI and plane (columns: :data:`ROI_COLUMNS`, the
  session's archive ids, and ``rate_<stimulus>`` for each stimulus the sessions' interval tables name);
- ``sessions.parquet`` and ``sessions.csv``: one row per session and plane (its ROIs, noise, mean rates,
  mean pairwise correlation of ΔF/F and of spike rates, mean rate per stimulus);
- ``lognormal_fit.json``: the log-normal fitted to the ROIs' mean rates (and to their discrete-spike rates);
- the views of the Cascade paper's Allen analysis (Fig. 6) as PNG figures (:mod:`nwb_cascade.summary_plots`);
- ``skipped.csv`` (each file left out and why) and ``report.md`` (what the command prints).

Each file is one Dask task (as in :mod:`nwb_cascade.batch`): it reads the results' small datasets, the
spike rates and the ΔF/F they were inferred from in blocks of frames (never a movie), and the session's
stimulus interval tables from the results file, or from its source file when the results file has none
(standalone outputs do not copy them); which one is recorded in ``stimulus_from``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .batch import connect, default_workers
from .common.errors import NWBCascadeError
from .common.files import atomic_write
from .manifest import DONE, MANIFEST_NAME, ManifestError, read_manifest

if TYPE_CHECKING:
    import h5py
    import pandas as pd
    from distributed import Client

    from .nwb.results import Plane, StimulusIntervals

log = logging.getLogger(__name__)

SUMMARY_FOLDER = "summary"
#: Frames of rates (and ΔF/F) read at once.
BLOCK_FRAMES = 16384
#: Default depth bins, µm: plain 100 µm bins (the Allen Brain Observatory imaged at 150-650 µm).
DEPTH_BINS = (0.0, 200.0, 300.0, 400.0, 500.0, 1000.0)
#: The columns of the ROI table, in order (then the archive ids, then ``rate_<stimulus>``).
ROI_COLUMNS = (
    "file", "plane", "roi_index", "roi_id", "cell_id", "session_id", "subject_id", "species", "sex", "age",
    "genotype", "line", "indicator", "location", "depth_um", "depth_from", "depth_bin", "model", "frame_rate",
    "frames", "noise_level", "expected_correlation", "expected_error", "expected_bias", "mean_rate", "spike_count",
    "spike_rate", "stimulus_from", "source", "dandiset_id", "dandiset_version",
)
#: The rate columns a log-normal is fitted to: the mean of each ROI's spike-rate trace, and its discrete
#: spikes per second.
FITTED = ("mean_rate", "spike_rate")


class SummarizeError(NWBCascadeError, ValueError):
    """A summary cannot be made as asked (no results, an output folder that cannot be written...)."""


@dataclass(frozen=True)
class LogNormalFit:
    """The log-normal fitted (maximum likelihood) to positive rates: ln(rate) ~ Normal(mu, sigma²).

    ``median_hz`` is exp(mu); ``se_mu`` and ``se_sigma`` are the estimates' standard errors
    (sigma / √n, sigma / √(2n)); rates of zero (no spike) cannot be log-normal and are counted in
    ``zeros``, missing ones in ``missing``.
    """

    column: str
    n: int
    mu: float
    sigma: float
    median_hz: float
    se_mu: float
    se_sigma: float
    zeros: int
    missing: int

    def describe(self) -> str:
        if not self.n:
            return f"{self.column}: no positive rates to fit"
        return (f"{self.column}: log-normal mu {self.mu:.3f} ± {self.se_mu:.3f}, sigma {self.sigma:.3f} ± "
                f"{self.se_sigma:.3f} (median {self.median_hz:.3g} Hz; {self.n} ROIs, {self.zeros} at zero and "
                f"{self.missing} without a rate left out)")


def fit_lognormal(values: Sequence[float] | np.ndarray, column: str = "rate") -> LogNormalFit:
    """The maximum-likelihood log-normal of the positive, finite ``values`` (mean and standard deviation of
    their logarithms)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    n = int(positive.size)
    if n == 0:
        nan = float("nan")
        return LogNormalFit(column, 0, nan, nan, nan, nan, nan, int((finite <= 0).sum()), int(values.size - finite.size))
    logs = np.log(positive)
    mu, sigma = float(logs.mean()), float(logs.std())
    return LogNormalFit(column, n, mu, sigma, math.exp(mu), sigma / math.sqrt(n), sigma / math.sqrt(2 * n),
                        int((finite <= 0).sum()), int(values.size - finite.size))


@dataclass
class Summary:
    """What :func:`summarize` found and wrote."""

    folder: str
    output: Path
    rois: pd.DataFrame
    sessions: pd.DataFrame
    fits: dict[str, LogNormalFit]
    skipped: list[tuple[str, str]]
    notes: list[tuple[str, str]]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 1

    def describe(self) -> str:
        """The report: what was summarised, the fits, the files written, what was left out and why."""
        stimuli = sorted(column[len("rate_"):] for column in self.rois.columns if column.startswith("rate_"))
        with_stimuli = int((self.sessions["stimulus_from"] != "").sum()) if len(self.sessions) else 0
        files = self.sessions["file"].nunique() if len(self.sessions) else 0
        lines = [
            (f"{len(self.rois)} ROIs of {len(self.sessions)} plane(s) in {files} file(s) summarised in "
             f"{self.seconds:.1f} s ({self.workers} worker(s)); {len(self.skipped)} file(s) skipped"),
            *(fit.describe() for fit in self.fits.values()),
            f"stimulus intervals in {with_stimuli} plane(s): " + (", ".join(stimuli) if stimuli else "none"),
            f"written to {self.output}: " + ", ".join(sorted(path.name for path in self.files.values())),
        ]
        lines += [f"skipped: {name}: {reason}" for name, reason in self.skipped]
        lines += [f"note: {name}: {text}" for name, text in self.notes]
        return "\n".join(lines)


def summarize(
    folder: str | Path,
    output: str | Path | None = None,
    *,
    scheduler: str | Client | None = None,
    workers: int | None = None,
    depth_bins: Sequence[float] = DEPTH_BINS,
    figures: bool = True,
    progress: bool = True,
) -> Summary:
    """Summarise every result of a batch folder: a table of every ROI, per-session statistics, a log-normal
    fit of the rates, and the figures of the Cascade paper's Allen analysis (Fig. 6).

    Parameters
    ----------
    folder
        A batch output folder (its manifest's done outputs, or, without a manifest, every NWB file in it);
        or results elsewhere: a dandiset (``DANDI:000xxx``, optionally ``@version``), a URL or a file.
    output
        Where the ``summary`` files go; default ``folder/summary`` (a remote ``folder`` needs one).
    scheduler, workers
        As in :func:`nwb_cascade.batch`: a running Dask scheduler, or a local cluster of ``workers``
        processes (default one per core).  ``workers=1`` reads the files in this process.
    depth_bins
        Edges (µm) of the depth bins of the depth view and of the ``depth_bin`` column.
    figures
        Draw the figures.
    progress
        Show a progress bar.

    Returns
    -------
    Summary

    Raises
    ------
    SummarizeError
        No results to summarise, or no output folder for a remote ``folder``.
    """
    import pandas as pd

    start = time.perf_counter()
    folder_text = str(folder)
    _check_bins(depth_bins)
    items, skipped, out = _results_of(folder_text, output)
    if not items:
        raise SummarizeError(f"no results to summarise in {folder_text}"
                             + (f" ({len(skipped)} left out: {skipped[0][0]}: {skipped[0][1]})" if skipped else "")
                             + "; give a batch output folder (its manifest.csv or NWB files) or a dandiset")
    if scheduler is not None and workers is not None:
        raise SummarizeError("give either a scheduler address or a number of local workers, not both")
    if workers is not None and workers < 1:
        raise SummarizeError(f"workers must be at least 1, got {workers}")
    found, used = _read_all(items, scheduler, workers, progress)
    rows, sessions, notes = [], [], []
    for label, result in zip([label for label, _ in items], found):
        if "skipped" in result:
            skipped.append((label, result["skipped"]))
            log.warning("skipped %s: %s", label, result["skipped"])
            continue
        rows.extend(result["rois"])
        sessions.extend(result["sessions"])
        notes.extend((label, note) for note in result["notes"])
    for label, note in notes:
        log.warning("%s: %s", label, note)
    if not rows:
        raise SummarizeError(f"none of the {len(items)} file(s) in {folder_text} could be summarised; the first: "
                             f"{skipped[0][0]}: {skipped[0][1]}")
    rois = _roi_table(pd.DataFrame(rows), depth_bins)
    session_table = _session_table(pd.DataFrame(sessions), rois, depth_bins)
    fits = {column: fit_lognormal(rois[column].to_numpy(dtype=float), column) for column in FITTED}
    for fit in fits.values():
        log.info("%s", fit.describe())
    summary = Summary(folder_text, out, rois, session_table, fits, skipped, notes, workers=used)
    summary.files = {**_write(summary, figures), "report": out / "report.md"}
    summary.seconds = time.perf_counter() - start
    _write_text(out / "report.md", summary.describe() + "\n")
    return summary


# ------------------------------------------------------------------------------------------------
# Which files


def _results_of(folder: str, output: str | Path | None) -> tuple[list[tuple[str, str]], list[tuple[str, str]], Path]:
    """The results to read, as (label, location) pairs; the files left out and why; the output folder."""
    from .nwb.sources import expand_sources, is_dandiset, is_local

    path = Path(folder)
    if is_local(folder) and path.is_dir():
        out = Path(output) if output is not None else path / SUMMARY_FOLDER
        items, skipped = _local_results(path, out)
        return items, skipped, out
    if output is None:
        raise SummarizeError(f"{folder} is not a local folder: give the folder the summary goes to (--out)")
    if is_local(folder) and not path.exists():
        raise SummarizeError(f"{folder}: no such folder or file")
    try:
        found = expand_sources([folder]) if is_dandiset(folder) or not is_local(folder) else [str(path.resolve())]
    except NWBCascadeError as error:
        raise SummarizeError(str(error)) from error
    return [(item, item) for item in found], [], Path(output)


def _local_results(folder: Path, out: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A batch folder's results: the outputs its manifest says are done (the rest named as left out, with
    the batch's reason), or every NWB file in it when it has no manifest."""
    present = sorted(path for path in folder.rglob("*.nwb")
                     if not path.name.startswith(".") and out not in path.parents)
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        return [(path.relative_to(folder).as_posix(), str(path)) for path in present], []
    try:
        rows = read_manifest(manifest)
    except ManifestError as error:
        raise SummarizeError(str(error)) from error
    items, skipped, named = [], [], set()
    for row in rows:
        if row.status != DONE:
            skipped.append((row.source, f"the batch did not finish it (status {row.status}"
                                        + (f": {row.error}" if row.error else "") + ")"))
            continue
        target = folder / row.output
        named.add(target.resolve())
        if not target.is_file():
            skipped.append((row.output, (f"the manifest says done but the file is missing (source {row.source}); "
                                         "run the batch again")))
            continue
        items.append((row.output, str(target)))
    for path in present:
        if path.resolve() not in named:
            skipped.append((path.relative_to(folder).as_posix(), "not in the manifest (not an output of this batch)"))
    return items, skipped


# ------------------------------------------------------------------------------------------------
# Reading, in parallel


def _read_all(items: list[tuple[str, str]], scheduler: Any, workers: int | None,
              progress: bool) -> tuple[list[dict[str, Any]], int]:
    """Each file's summary (in the order of ``items``), on a Dask cluster or, with one worker, here."""
    from tqdm.auto import tqdm

    if scheduler is None and (workers or default_workers()) == 1:
        found = []
        for label, location in tqdm(items, unit="file", desc="summarize", disable=not progress):
            found.append(summarize_file(location, label))
        return found, 1
    from distributed import as_completed

    with connect(scheduler, workers) as client:
        futures = client.map(summarize_file, [location for _, location in items], [label for label, _ in items],
                             pure=False)
        index = {future.key: number for number, future in enumerate(futures)}
        found: list[dict[str, Any]] = [{} for _ in items]
        with tqdm(total=len(futures), unit="file", desc="summarize", disable=not progress) as bar:
            for future in as_completed(futures):
                number = index[future.key]
                try:
                    found[number] = future.result()
                except Exception as error:  # noqa: BLE001 - the task was lost (a worker died): the file is skipped
                    found[number] = {"skipped": f"{type(error).__name__}: {error}"}
                bar.update(1)
        n_workers = len(client.nthreads()) or 1
    return found, n_workers


def summarize_file(location: str, label: str | None = None) -> dict[str, Any]:
    """The task: one results file's ROI rows, per-plane rows and notes; or why it was skipped.

    Returns ``{"rois": [...], "sessions": [...], "notes": [...]}`` or ``{"skipped": reason}``; never raises
    for a bad file (one bad file must not stop a summary of hundreds).
    """
    from .nwb.results import ResultsFileError, read_session, results_planes, source_ids

    label = label or location
    try:
        with _open(location) as handle:
            session = read_session(handle)
            planes = results_planes(handle, session)
            notes: list[str] = []
            intervals, origin = _stimulus_for(handle, planes, notes)
            rois, sessions = [], []
            for plane in planes:
                stats = plane_statistics(plane, intervals)
                ids = source_ids(plane)
                rois.extend(_roi_rows(label, session, plane, stats, ids, origin))
                sessions.append(_session_row(label, session, plane, stats, ids, origin, intervals))
    except (ResultsFileError, NWBCascadeError, OSError, KeyError, ValueError) as error:
        return {"skipped": " ".join(str(error).split()) or type(error).__name__}
    except Exception as error:  # an unforeseen failure of one file must not stop the others: it is named
        log.info("%s could not be summarised", label, exc_info=True)
        return {"skipped": f"{type(error).__name__}: {' '.join(str(error).split())}"}
    return {"rois": rois, "sessions": sessions, "notes": notes}


@contextlib.contextmanager
def _open(location: str) -> Iterator[h5py.File]:
    """An HDF5 results file, local or remote, read-only."""
    from .nwb.open import open_hdf5
    from .nwb.sources import is_local, open_remote, resolve

    if is_local(location):
        path = Path(location)
        if path.is_dir():
            raise ValueError(f"{location} is a folder (an NWB Zarr store?): summarize reads HDF5 results files")
        with open_hdf5(path, location) as handle:
            yield handle
        return
    with open_remote(resolve(location)) as handle:
        yield handle


def _stimulus_for(handle: h5py.File, planes: list[Plane], notes: list[str]) -> tuple[StimulusIntervals | None, str]:
    """The session's stimulus intervals and where they were read: the results file, else its source file
    (when that is still the file the results were inferred from)."""
    from .nwb.results import stimulus_intervals

    found = stimulus_intervals(handle)
    if found is not None:
        return found, "results file"
    source = planes[0].provenance.get("source_url")
    if not source:
        return None, ""
    try:
        with _open(source) as original:
            identifier = original.get("identifier")
            identifier = identifier[()].decode() if identifier is not None and isinstance(identifier[()], bytes) \
                else (str(identifier[()]) if identifier is not None else None)
            expected = planes[0].provenance.get("source_identifier")
            if expected and identifier != expected:
                notes.append(f"its source {source} is no longer the file the results came from (identifier "
                             f"{identifier}, not {expected}): its stimulus intervals are not used")
                return None, ""
            found = stimulus_intervals(original)
    except (NWBCascadeError, OSError, KeyError, ValueError) as error:
        notes.append(f"the stimulus intervals of its source {source} could not be read ({' '.join(str(error).split())})")
        return None, ""
    return (found, f"source file {source}") if found is not None else (None, "")


def interval_mask(times: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Which frames lie in any of the intervals [start, stop)."""
    first = np.searchsorted(times, starts, "left")
    last = np.searchsorted(times, stops, "left")
    edges = np.zeros(times.size + 1, dtype=np.int64)
    np.add.at(edges, first, 1)
    np.add.at(edges, last, -1)
    return np.cumsum(edges[:-1]) > 0


class _Moments:
    """Running sums for the correlation matrix of columns, over the rows given (shifted for accuracy)."""

    def __init__(self, n: int) -> None:
        self.shift: np.ndarray | None = None
        self.count = 0
        self.sums = np.zeros(n)
        self.products = np.zeros((n, n))

    def add(self, block: np.ndarray) -> None:
        if not block.shape[0]:
            return
        if self.shift is None:
            self.shift = block.mean(axis=0)
        centred = block - self.shift
        self.count += block.shape[0]
        self.sums += centred.sum(axis=0)
        self.products += centred.T @ centred

    def mean_pairwise_correlation(self) -> tuple[float, int]:
        """The mean over ROI pairs of their Pearson correlation, and how many pairs had one (both varied)."""
        n = self.sums.size
        if self.count < 3 or n < 2:
            return float("nan"), 0
        mean = self.sums / self.count
        covariance = self.products / self.count - np.outer(mean, mean)
        scale = np.sqrt(np.clip(np.diag(covariance), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = covariance / np.outer(scale, scale)
        upper = correlation[np.triu_indices(n, 1)]
        upper = upper[np.isfinite(upper)]
        return (float(upper.mean()), int(upper.size)) if upper.size else (float("nan"), 0)


def plane_statistics(plane: Plane, intervals: StimulusIntervals | None,
                     block_frames: int = BLOCK_FRAMES) -> dict[str, Any]:
    """One plane's per-ROI mean rate (over frames with a rate), frames with a rate, mean rate within each
    stimulus, and the mean pairwise correlation of its ΔF/F and of its rates over the frames where every
    ROI has both; read ``block_frames`` frames at a time."""
    n = plane.n_rois
    masks = {label: interval_mask(plane.times, *bounds) for label, bounds in (intervals.by_stimulus.items()
                                                                              if intervals is not None else [])}
    sums, counts = np.zeros(n), np.zeros(n)
    stim_sums = {label: np.zeros(n) for label in masks}
    stim_counts = {label: np.zeros(n) for label in masks}
    rate_moments, dff_moments = _Moments(n), _Moments(n)
    for first in range(0, plane.n_frames, block_frames):
        last = min(first + block_frames, plane.n_frames)
        rates = np.asarray(plane.rates[first:last], dtype=np.float64)
        finite = np.isfinite(rates)
        sums += np.where(finite, rates, 0.0).sum(axis=0)
        counts += finite.sum(axis=0)
        for label, mask in masks.items():
            inside = mask[first:last]
            stim_sums[label] += np.where(finite[inside], rates[inside], 0.0).sum(axis=0)
            stim_counts[label] += finite[inside].sum(axis=0)
        if plane.dff is not None:
            dff = np.asarray(plane.dff[first:last], dtype=np.float64)
            usable = finite.all(axis=1) & np.isfinite(dff).all(axis=1)
            rate_moments.add(rates[usable])
            dff_moments.add(dff[usable])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
        by_stimulus = {label: stim_sums[label] / stim_counts[label] for label in masks}
    rate_correlation, pairs = rate_moments.mean_pairwise_correlation()
    dff_correlation, _ = dff_moments.mean_pairwise_correlation()
    return {"mean_rate": mean, "rated_frames": counts, "by_stimulus": by_stimulus,
            "stimulus_frames": {label: int(mask.sum()) for label, mask in masks.items()},
            "correlation_rates": rate_correlation, "correlation_dff": dff_correlation, "pairs": pairs,
            "correlation_frames": rate_moments.count}


def _roi_rows(label: str, session: Any, plane: Plane, stats: dict[str, Any], ids: dict[str, str],
              origin: str) -> list[dict[str, Any]]:
    subject = session.subject
    seconds = stats["rated_frames"] / plane.frame_rate
    rows = []
    for index in range(plane.n_rois):
        count = None if plane.spike_counts is None else int(plane.spike_counts[index])
        row = {
            "file": label, "plane": plane.container.split("/")[-1], "roi_index": int(plane.roi_rows[index]),
            "roi_id": _scalar(plane.roi_ids[index]),
            "cell_id": None if plane.cell_ids is None else _scalar(plane.cell_ids[index]),
            "session_id": session.session_id or ids.get("session_id"), "subject_id": subject.get("subject_id"),
            "species": subject.get("species"), "sex": subject.get("sex"), "age": subject.get("age"),
            "genotype": subject.get("genotype"), "line": session.line, "indicator": plane.indicator,
            "location": plane.location, "depth_um": plane.depth, "depth_from": plane.depth_from,
            "model": plane.model, "frame_rate": plane.frame_rate, "frames": plane.n_frames,
            "noise_level": float(plane.noise[index]),
            **{f"expected_{measure}": float(values[index]) for measure, values in plane.expected.items()},
            "mean_rate": float(stats["mean_rate"][index]), "spike_count": count,
            "spike_rate": float(count / seconds[index]) if count is not None and seconds[index] > 0 else float("nan"),
            "stimulus_from": origin, "source": plane.provenance.get("source_url"),
            "dandiset_id": plane.provenance.get("dandiset_id"),
            "dandiset_version": plane.provenance.get("dandiset_version"),
            **{f"id_{key}": value for key, value in ids.items()},
            **{f"rate_{stimulus}": float(values[index]) for stimulus, values in stats["by_stimulus"].items()},
        }
        rows.append(row)
    return rows


def _session_row(label: str, session: Any, plane: Plane, stats: dict[str, Any], ids: dict[str, str], origin: str,
                 intervals: StimulusIntervals | None) -> dict[str, Any]:
    finite_noise = plane.noise[np.isfinite(plane.noise)]
    with np.errstate(invalid="ignore"), _quiet_nan_means():
        means = {f"rate_{stimulus}": float(np.nanmean(values)) for stimulus, values in stats["by_stimulus"].items()}
        row = {
            "file": label, "plane": plane.container.split("/")[-1], "session_id": session.session_id or ids.get("session_id"),
            "subject_id": session.subject.get("subject_id"), "line": session.line, "indicator": plane.indicator,
            "location": plane.location, "depth_um": plane.depth, "model": plane.model, "rois": plane.n_rois,
            "frames": plane.n_frames, "frame_rate": plane.frame_rate,
            "noise_median": float(np.median(finite_noise)) if finite_noise.size else float("nan"),
            "mean_rate": float(np.nanmean(stats["mean_rate"])),
            "median_rate": float(np.nanmedian(stats["mean_rate"])),
            "correlation_dff": stats["correlation_dff"], "correlation_rates": stats["correlation_rates"],
            "correlation_pairs": stats["pairs"], "correlation_frames": stats["correlation_frames"],
            "stimulus_from": origin, "stimulus_tables": ";".join(intervals.tables) if intervals is not None else "",
            **{f"id_{key}": value for key, value in ids.items()},
            **means,
        }
    return row


@contextlib.contextmanager
def _quiet_nan_means() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice")
        warnings.filterwarnings("ignore", message="All-NaN slice encountered")
        yield


def _scalar(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------------------------------------
# Tables and files


def _check_bins(bins: Sequence[float]) -> list[float]:
    edges = [float(edge) for edge in bins]
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)) or not all(map(math.isfinite, edges)):
        raise SummarizeError(f"depth bins must be at least two increasing edges (µm), got {list(bins)}")
    return edges


def depth_labels(depths: pd.Series, bins: Sequence[float]) -> pd.Series:
    """Each depth's bin, as ``"200-300 µm"``; empty where no depth is stated (or outside the bins)."""
    import pandas as pd

    edges = _check_bins(bins)
    labels = [f"{a:g}-{b:g} µm" for a, b in itertools.pairwise(edges)]
    binned = pd.cut(pd.to_numeric(depths, errors="coerce"), edges, right=False, labels=labels)
    return binned.astype(object).where(binned.notna(), "")


def _ordered(table: pd.DataFrame, first: Sequence[str]) -> pd.DataFrame:
    """The columns in order (``first``, the others, the archive ids, the stimulus rates), text columns as pandas'
    ``string`` dtype (missing values NA, whichever files the table holds)."""
    for column in table.columns:
        if table[column].dtype.kind in "biufcmM":
            continue
        if all(isinstance(value, str) for value in table[column].dropna()):
            table[column] = table[column].astype("string")
    ids = sorted(column for column in table.columns if column.startswith("id_"))
    rates = sorted(column for column in table.columns if column.startswith("rate_"))
    known = [column for column in first if column in table.columns]
    rest = [column for column in table.columns if column not in known and column not in ids and column not in rates]
    return table[known + rest + ids + rates]


def _roi_table(table: pd.DataFrame, bins: Sequence[float]) -> pd.DataFrame:
    table["depth_bin"] = depth_labels(table["depth_um"], bins)
    table["spike_count"] = table["spike_count"].astype("Int64")
    return _ordered(table, ROI_COLUMNS).reset_index(drop=True)


def _session_table(table: pd.DataFrame, rois: pd.DataFrame, bins: Sequence[float]) -> pd.DataFrame:
    table["depth_bin"] = depth_labels(table["depth_um"], bins)
    first = ("file", "plane", "session_id", "subject_id", "line", "indicator", "location", "depth_um", "depth_bin",
             "model", "rois", "frames", "frame_rate", "noise_median", "mean_rate", "median_rate", "correlation_dff",
             "correlation_rates", "correlation_pairs", "correlation_frames", "stimulus_from", "stimulus_tables")
    return _ordered(table, first).reset_index(drop=True)


def _write(summary: Summary, figures: bool) -> dict[str, Path]:
    """The tables, the fit and the figures, each written under a temporary name and renamed."""
    out = summary.output
    if out.exists() and not out.is_dir():
        raise SummarizeError(f"{out} exists and is not a folder; choose another output (--out)")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, table in (("rois", summary.rois), ("sessions", summary.sessions)):
        written[f"{name}_parquet"] = _replace(out / f"{name}.parquet", lambda path, t=table: t.to_parquet(path,
                                                                                                           index=False))
        written[f"{name}_csv"] = _replace(out / f"{name}.csv", lambda path, t=table: t.to_csv(path, index=False))
    fits = {name: asdict(fit) for name, fit in summary.fits.items()}
    written["fit"] = _write_text(out / "lognormal_fit.json", json.dumps(fits, indent=2, allow_nan=True) + "\n")
    skipped = "file,reason\n" + "".join(f"{_csv(name)},{_csv(reason)}\n" for name, reason in summary.skipped)
    written["skipped"] = _write_text(out / "skipped.csv", skipped)
    if figures:
        from .summary_plots import draw_all

        for name, figure in draw_all(summary.rois, summary.sessions, summary.fits).items():
            written[name] = _replace(out / f"{name}.png", lambda path, f=figure: f.savefig(path, dpi=110,
                                                                                            format="png"))
    return written


def _csv(text: str) -> str:
    return '"' + str(text).replace('"', '""') + '"'


def _write_text(path: Path, text: str) -> Path:
    return _replace(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def _replace(path: Path, write: Callable[[Path], Any]) -> Path:
    """``path`` written whole or not at all by ``write(partial)`` (:func:`~nwb_cascade.common.files.atomic_write`)."""
    with atomic_write(path) as partial:
        write(partial)
    return path
