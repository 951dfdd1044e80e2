"""Running Cascade on NWB files: ``annotate`` (in place) and ``infer`` (into a new file).

Both read the chosen ΔF/F series once, run the engine (noise levels, spike
rates, discrete spikes) and write one :class:`~nwb_cascade.nwb.extension.CascadeResults`
container into the processing module ``cascade``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from pynwb import NWBHDF5IO, NWBFile

from .cascade import CascadeModel, load_model, noise_levels, predict
from .cascade import discrete_spikes as fit_spikes
from .cascade.zoo import default_model_name
from .nwb.read import NWBInputError, SeriesInfo, choose_series, find_series, frame_rate, read_traces
from .nwb.write import MODULE, Inference, append_results, build_results, check_writable, write_standalone
from .sources import Source, SourceError, open_remote, resolve, source_error_in

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one run did: where, on what, with which model, and what came out."""

    output: Path
    series: str
    container: str
    n_rois: int
    n_frames: int
    frame_rate: float
    noise_median: float
    noise_range: tuple[float, float]
    model: str
    n_spikes: int | None
    seconds: float

    def describe(self) -> str:
        """One line about the run, for the command line."""
        spikes = "" if self.n_spikes is None else f", {self.n_spikes} spikes"
        return (f"{self.output}: {self.container} from {self.series} ({self.n_rois} ROIs x {self.n_frames} frames at "
                f"{self.frame_rate:.4g} Hz, noise median {self.noise_median:.2f}, model {self.model}{spikes}) in "
                f"{self.seconds:.1f} s")


@contextlib.contextmanager
def open_nwb(source: str | Path | Source, mode: str = "r") -> Iterator[tuple[NWBHDF5IO, NWBFile]]:
    """Open an NWB file, local or remote, turning the ways this fails into messages that say what to do.

    ``source`` is a path, a URL, a DANDI asset (see :mod:`nwb_cascade.sources`) or a
    resolved :class:`~nwb_cascade.sources.Source`; ``mode`` is "r" or "a" (append, local
    files only).  Yields the IO object and the file's contents.  A remote read that fails
    after its retries raises :class:`~nwb_cascade.sources.SourceError`, also from inside
    the ``with`` block.
    """
    source = source if isinstance(source, Source) else resolve(source)
    if source.remote and mode != "r":
        raise SourceError(f"{source.text} is remote and read-only: write the results to a new local file instead")
    with _open_h5(source, mode) as handle:
        try:
            if "nwb_version" not in handle.attrs:
                raise NWBInputError(f"{source.text} is an HDF5 file but not an NWB file (it has no nwb_version attribute)")
            io = NWBHDF5IO(mode=mode, file=handle, load_namespaces=True)
            try:
                nwbfile = io.read()
            except Exception as error:
                cause = source_error_in(error)
                if cause is not None:
                    raise cause from error
                raise NWBInputError(
                    f"{source.text}: pynwb cannot read this NWB file ({type(error).__name__}: {error})"
                ) from error
            yield io, nwbfile
        except OSError as error:
            cause = source_error_in(error)
            if cause is None:
                raise
            raise cause from error


@contextlib.contextmanager
def _open_h5(source: Source, mode: str) -> Iterator[h5py.File]:
    if source.remote:
        with open_remote(source) as handle:
            yield handle
        return
    path = source.path
    if not h5py.is_hdf5(path):
        raise NWBInputError(f"{path} is not an HDF5 file, so not an NWB file (NWB files written by pynwb are HDF5)")
    try:
        handle = h5py.File(path, "r+" if mode == "a" else "r")
    except OSError as error:
        text = str(error).lower()
        if "truncated" in text or "signature" in text or "bad object header" in text:
            raise NWBInputError(f"{path} is truncated or damaged ({error}); re-download or restore it") from error
        if "unable to lock file" in text or "file locking" in text:
            raise NWBInputError(
                f"{path} is open for writing by another process (HDF5 file lock); close it there and try again"
            ) from error
        raise
    try:
        yield handle
    finally:
        with contextlib.suppress(Exception):
            handle.close()


def resolve_model(model: str | Path | CascadeModel | None, rate: float) -> CascadeModel:
    """The model asked for, or the default one for this frame rate."""
    if model is None:
        model = default_model_name(rate)
        log.info("no model given: using %s for %.3g Hz", model, rate)
    return load_model(model)


def infer_series(
    info: SeriesInfo,
    model: str | Path | CascadeModel | None,
    *,
    threshold: Any = 0,
    discrete_spikes: bool = True,
    device: str | None = None,
    progress: bool = False,
    provenance: dict[str, str] | None = None,
) -> Inference:
    """Run the engine on one series: read its traces once, spike rates, discrete spikes."""
    rate = frame_rate(info.series)
    cascade = resolve_model(model, rate)
    if info.n_frames < cascade.windowsize:
        raise NWBInputError(
            f"{info.path} has {info.n_frames} frame(s); Cascade needs at least {cascade.windowsize} "
            "(one network window) to infer anything"
        )
    traces = read_traces(info)
    noise = noise_levels(traces, rate)
    rates = predict(traces, cascade, frame_rate=rate, threshold=threshold, noise_levels=noise, device=device,
                    progress=progress)
    del traces
    spikes = fit_spikes(rates, cascade, frame_rate=rate, progress=progress)[0] if discrete_spikes else None
    return Inference(info, rate, rates, noise, cascade.select_levels(noise), cascade, threshold, spikes,
                     dict(provenance or {}))


def annotate(
    path: str | Path,
    *,
    series: str | None = None,
    model: str | Path | CascadeModel | None = None,
    discrete_spikes: bool = True,
    overwrite: bool = False,
    threshold: Any = 0,
    device: str | None = None,
    progress: bool = False,
) -> RunSummary:
    """Infer spikes for a series of an NWB file and add the results to that file, in place.

    Only adds: a processing module ``cascade`` (if absent) with one container for the
    series.  Existing results for the series are refused unless ``overwrite``.  If
    anything fails, the file is left as it was.

    Parameters
    ----------
    path
        A local NWB file, writable.
    series
        Path of the RoiResponseSeries (e.g. ``processing/ophys/DfOverF/DfOverF``);
        default: the file's only ΔF/F series.
    model
        A model name or folder; default: a published model for the series' frame rate.
    discrete_spikes
        Also fit and store discrete spikes.
    overwrite
        Replace existing results for this series.
    threshold, device, progress
        Passed to :func:`nwb_cascade.cascade.predict`.

    Returns
    -------
    RunSummary
    """
    source = resolve(path)
    if source.remote:
        raise SourceError(f"{path} is remote and read-only: use infer() (nwb-cascade infer --output) to write the "
                          "results to a new local file")
    path = source.path
    start = time.perf_counter()
    check_writable(path)
    with open_nwb(source, "a") as (io, nwbfile):
        info = choose_series(nwbfile, series)
        module = nwbfile.processing.get(MODULE)
        if module is not None and info.name in module.data_interfaces and not overwrite:
            raise NWBInputError(
                f"{path} already holds Cascade results for {info.path} (processing/{MODULE}/{info.name}); "
                "pass overwrite=True (--overwrite) to replace them"
            )
        provenance = {"source_identifier": nwbfile.identifier, "source_series_path": info.path,
                      **source.provenance()}
        inference = infer_series(info, model, threshold=threshold, discrete_spikes=discrete_spikes, device=device,
                                 progress=progress, provenance=provenance)
        append_results(io, nwbfile, path, lambda name: build_results(inference, info.series, name), info.name,
                       overwrite)
    return _summary(path, inference, time.perf_counter() - start)


def infer(
    source: str | Path | Source,
    output: str | Path,
    *,
    series: str | None = None,
    model: str | Path | CascadeModel | None = None,
    discrete_spikes: bool = True,
    overwrite: bool = False,
    threshold: Any = 0,
    device: str | None = None,
    progress: bool = False,
    provenance: dict[str, str] | None = None,
) -> RunSummary:
    """Infer spikes for a series of an NWB file and write a new, standalone NWB file.

    The new file holds the session and subject metadata, the imaging plane, the ROI
    table, a copy of the source series, and the results; the source is not touched.
    ``source`` is a local path, an http(s) URL or a DANDI asset (``DANDI:000728/sub-.../
    file.nwb[@VERSION]``, a DANDI web or API URL), streamed when remote; its URL and
    DANDI ids go into the provenance.  See :func:`annotate` for the other parameters;
    ``output`` must not exist unless ``overwrite``, and is written under a temporary
    name and renamed only when complete.
    """
    output = Path(output)
    start = time.perf_counter()
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; choose another output or pass overwrite=True (--overwrite)")
    resolved = source if isinstance(source, Source) else resolve(source)
    if not resolved.remote and output.exists() and output.resolve() == resolved.path.resolve():
        raise NWBInputError("the output is the input file; use annotate() (--in-place) to add results to it")
    with open_nwb(resolved, "r") as (_, nwbfile):
        info = choose_series(nwbfile, series)
        details = {"source_identifier": nwbfile.identifier, "source_series_path": info.path, **resolved.provenance()}
        details.update(provenance or {})
        inference = infer_series(info, model, threshold=threshold, discrete_spikes=discrete_spikes, device=device,
                                 progress=progress, provenance=details)
        write_standalone(nwbfile, inference, output)
    return _summary(output, inference, time.perf_counter() - start)


def inspect(path: str | Path) -> dict[str, Any]:
    """The candidate input series of an NWB file, and the Cascade results it already holds.

    Returns ``{"series": [...], "results": [...]}``; each series is a dict with its path,
    container kind, ROIs, frames, frame rate, unit, noise-level summary, and whether it
    is the one used by default.
    """
    import warnings

    with open_nwb(path, "r") as (_, nwbfile):
        try:
            default = choose_series(nwbfile).path
        except NWBInputError:
            default = None
        rows = []
        for info in find_series(nwbfile):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rate = frame_rate(info.series) if info.n_frames > 1 else float("nan")
            noise = noise_levels(read_traces(info), rate) if info.n_frames > 1 else np.full(info.n_rois, np.nan)
            finite = noise[np.isfinite(noise)]
            rows.append({
                "path": info.path, "kind": info.kind, "rois": info.n_rois, "frames": info.n_frames,
                "frame_rate": rate, "unit": info.unit, "irregular_timestamps": bool(caught),
                "noise_median": float(np.median(finite)) if finite.size else float("nan"),
                "noise_min": float(finite.min()) if finite.size else float("nan"),
                "noise_max": float(finite.max()) if finite.size else float("nan"),
                "default": info.path == default,
            })
        module = nwbfile.processing.get(MODULE)
        results = sorted(module.data_interfaces) if module is not None else []
    return {"series": rows, "results": [f"processing/{MODULE}/{name}" for name in results]}


def matched_training_config(path: str | Path, ground_truth: str | Path, *, series: str | None = None) -> dict[str, Any]:
    """A training config matched to a series of an NWB file: its frame rate, its ROIs' noise levels,
    the excitatory datasets of the ground truth, and a smoothing suited to the rate."""
    from .cascade.ground_truth import dataset_folders, excitatory
    from .cascade.train import matched_config

    with open_nwb(path, "r") as (_, nwbfile):
        info = choose_series(nwbfile, series)
        rate = frame_rate(info.series)
        noise = noise_levels(read_traces(info), rate)
    datasets = excitatory([folder.name for folder in dataset_folders(ground_truth)])
    config = matched_config(rate, noise, datasets)
    log.info("%s: %.4g Hz, ROI noise levels %.2f-%.2f: training %s", info.path, rate, np.nanmin(noise),
             np.nanmax(noise), config["model_name"])
    return config


def _summary(output: Path, inference: Inference, seconds: float) -> RunSummary:
    noise = inference.noise_levels[np.isfinite(inference.noise_levels)]
    return RunSummary(
        output=output,
        series=inference.info.path,
        container=f"processing/{MODULE}/{inference.info.name}",
        n_rois=inference.rates.shape[0],
        n_frames=inference.rates.shape[1],
        frame_rate=inference.frame_rate,
        noise_median=float(np.median(noise)) if noise.size else float("nan"),
        noise_range=(float(noise.min()), float(noise.max())) if noise.size else (float("nan"), float("nan")),
        model=inference.model.name,
        n_spikes=None if inference.spike_frames is None else int(sum(len(s) for s in inference.spike_frames)),
        seconds=seconds,
    )
