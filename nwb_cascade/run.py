"""Running Cascade on NWB files: ``annotate`` (in place) and ``infer`` (into a new file).

Both choose the input of every plane (:func:`~nwb_cascade.nwb.read.choose_inputs`: the
ΔF/F series, or ΔF/F computed from fluorescence and neuropil), read it once, run the
engine (noise levels, spike rates, discrete spikes) with the model the recording's
indicator and frame rate call for, and write one
:class:`~nwb_cascade.nwb.extension.CascadeResults` container per plane into the
processing module ``cascade``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pynwb import NWBFile

from .cascade import (
    CascadeModel,
    DffRecipe,
    DownloadError,
    ModelError,
    delta_f_over_f,
    load_model,
    noise_levels,
    predict,
)
from .cascade import discrete_spikes as fit_spikes
from .cascade.indicators import choose_model
from .nwb.inplace import NWBWriteError, amended, ensure_free_space
from .nwb.open import open_nwb
from .nwb.read import (
    USE_INSTEAD,
    NWBInputError,
    PlaneInput,
    choose_inputs,
    find_series,
    frame_rate,
    plane_inputs,
    read_traces,
    recording_facts,
    session_ids,
)
from .nwb.sources import Source, SourceError, resolve
from .nwb.write import (
    MODULE,
    MODULE_DESCRIPTION,
    STAGING_SUFFIX,
    Inference,
    add_to_module,
    build_results,
    remove_groups,
    write_standalone,
)

log = logging.getLogger(__name__)

#: Median noise level below which traces are not ΔF/F: every model is trained at 1 or more, and the cleanest
#: real ROIs reach about 0.5 (Allen excerpt: 0.55-1.65); denoised, deconvolved and event traces sit far below.
IMPLAUSIBLY_LOW_NOISE = 0.15


@dataclass
class PlaneSummary:
    """What one plane's inference did."""

    series: str
    container: str
    n_rois: int
    n_frames: int
    frame_rate: float
    noise_levels: np.ndarray = field(repr=False)
    model: str
    model_reason: str
    n_spikes: int | None
    dff_computed: bool


@dataclass
class RunSummary:
    """What one run did: where, on which planes, with which models, and what came out.

    The plain attributes summarise every plane: ROIs are summed, the frame count and
    rate are the first plane's (planes of one session share them), noise statistics are
    over all ROIs, names of several planes' series, containers and models are joined by ``;``.
    """

    output: Path
    planes: list[PlaneSummary]
    seconds: float

    def _joined(self, name: str) -> str:
        return ";".join(dict.fromkeys(str(getattr(plane, name)) for plane in self.planes))

    @property
    def series(self) -> str:
        return self._joined("series")

    @property
    def container(self) -> str:
        return self._joined("container")

    @property
    def model(self) -> str:
        return self._joined("model")

    @property
    def n_rois(self) -> int:
        return sum(plane.n_rois for plane in self.planes)

    @property
    def n_frames(self) -> int:
        return self.planes[0].n_frames

    @property
    def frame_rate(self) -> float:
        return self.planes[0].frame_rate

    @property
    def _noise(self) -> np.ndarray:
        values = np.concatenate([plane.noise_levels for plane in self.planes])
        return values[np.isfinite(values)]

    @property
    def noise_median(self) -> float:
        return float(np.median(self._noise)) if self._noise.size else float("nan")

    @property
    def noise_range(self) -> tuple[float, float]:
        noise = self._noise
        return (float(noise.min()), float(noise.max())) if noise.size else (float("nan"), float("nan"))

    @property
    def n_spikes(self) -> int | None:
        counts = [plane.n_spikes for plane in self.planes]
        return None if any(count is None for count in counts) else int(sum(counts))

    def describe(self) -> str:
        """Lines about the run, for the command line: one per plane."""
        lines = []
        for plane in self.planes:
            spikes = "" if plane.n_spikes is None else f", {plane.n_spikes} spikes"
            finite = plane.noise_levels[np.isfinite(plane.noise_levels)]
            median = float(np.median(finite)) if finite.size else float("nan")
            source = f"ΔF/F computed from {plane.series}" if plane.dff_computed else plane.series
            lines.append(f"{self.output}: {plane.container} from {source} ({plane.n_rois} ROIs x {plane.n_frames} "
                         f"frames at {plane.frame_rate:.4g} Hz, noise median {median:.2f}, model {plane.model}: "
                         f"{plane.model_reason}{spikes})")
        return "\n".join(lines) + f"\n{len(self.planes)} plane(s) in {self.seconds:.1f} s"


def resolve_model(model: str | Path | CascadeModel | None, rate: float,
                  facts: dict[str, str | None] | None = None) -> tuple[CascadeModel, str]:
    """The model asked for, else the one the recording's indicator and frame rate call for, and why.

    ``facts`` holds what the file says of the recording: ``indicator`` (of the imaging plane),
    ``genotype`` and ``species`` (of the subject); see :func:`nwb_cascade.cascade.indicators.choose_model`.
    """
    if model is not None:
        loaded = load_model(model)
        return loaded, f"given ({loaded.name})"
    choice = choose_model(rate, plane_indicator=(facts or {}).get("indicator"),
                          genotype=(facts or {}).get("genotype"), species=(facts or {}).get("species"))
    log.info("no model given: %s (%s)", choice.name, choice.reason)
    try:
        return load_model(choice.name), choice.reason
    except DownloadError as error:
        raise ModelError(
            f"{choice.reason}: model {choice.name} is not cached and cannot be downloaded ({error}). Run "
            f"`nwb-cascade models download {choice.name}` where there is internet (and share the cache with "
            "NWB_CASCADE_CACHE), or name a model with --model"
        ) from error


def infer_plane(
    plane: PlaneInput,
    model: str | Path | CascadeModel | None,
    *,
    facts: dict[str, str | None] | None = None,
    threshold: Any = 0,
    discrete_spikes: bool = True,
    device: str | None = None,
    progress: bool = False,
    provenance: dict[str, str] | None = None,
    dff_recipe: DffRecipe | None = None,
) -> Inference:
    """Run the engine on one plane: read its traces once (computing ΔF/F if it holds fluorescence),
    spike rates, discrete spikes."""
    info = plane.series
    rate = frame_rate(info.series)
    cascade, reason = resolve_model(model, rate, facts)
    if info.n_frames < cascade.windowsize:
        raise NWBInputError(
            f"{info.path} has {info.n_frames} frame(s); Cascade needs at least {cascade.windowsize} "
            "(one network window) to infer anything"
        )
    traces = read_traces(info)
    dff, recipe_record = None, None
    if plane.compute_dff:
        recipe = dff_recipe or DffRecipe()
        neuropil = read_traces(plane.neuropil) if plane.neuropil is not None else None
        traces = dff = delta_f_over_f(traces, neuropil, frame_rate=rate, recipe=recipe)
        del neuropil
        recipe_record = {**recipe.describe(plane.neuropil is not None), "fluorescence_series": info.path,
                         "neuropil_series": plane.neuropil.path if plane.neuropil is not None else None}
        log.info("%s: ΔF/F computed from fluorescence%s", info.path,
                 f" and neuropil {plane.neuropil.path}" if plane.neuropil is not None else " (no neuropil series)")
    noise = noise_levels(traces, rate)
    _check_not_smoothed(info.path, noise, cascade)
    rates = predict(traces, cascade, frame_rate=rate, threshold=threshold, noise_levels=noise, device=device,
                    progress=progress)
    del traces
    spikes = fit_spikes(rates, cascade, frame_rate=rate, progress=progress)[0] if discrete_spikes else None
    details = {**(provenance or {}), "model_reason": reason}
    if recipe_record is not None:
        details["dff_recipe"] = json.dumps(recipe_record)
    return Inference(info, rate, rates, noise, cascade.select_levels(noise), cascade, threshold, spikes, details,
                     dff)


def _check_not_smoothed(path: str, noise: np.ndarray, model: CascadeModel) -> None:
    """Refuse traces far smoother than ΔF/F: denoised, deconvolved or event traces."""
    finite = noise[np.isfinite(noise)]
    if finite.size and float(np.median(finite)) < IMPLAUSIBLY_LOW_NOISE:
        raise NWBInputError(
            f"{path}: the median noise level of its traces is {float(np.median(finite)):.3f}, far below any Cascade "
            f"model's (the lowest level is {float(model.noise_levels.min()):g}; real ΔF/F has 0.5 or more). Traces "
            f"this smooth are denoised, deconvolved or event traces, not ΔF/F; {USE_INSTEAD}"
        )


def _provenance(nwbfile: NWBFile, source: Source) -> dict[str, str]:
    """Where the results come from: the source file's identifier, URL and DANDI ids, and its session's ids."""
    ids = session_ids(nwbfile)
    return {"source_identifier": nwbfile.identifier, **source.provenance(),
            **({"source_ids": json.dumps(ids, sort_keys=True)} if ids else {})}


def _run_planes(nwbfile: NWBFile, planes: list[PlaneInput], model: Any, provenance: dict[str, str],
                **options: Any) -> list[Inference]:
    return [infer_plane(plane, model, facts=recording_facts(plane.series, nwbfile), provenance=provenance, **options)
            for plane in planes]


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
    compute_dff: bool = True,
    dff_recipe: DffRecipe | None = None,
) -> RunSummary:
    """Infer spikes for every plane of an NWB file (or the series named) and add the results to that file.

    Only adds: a processing module ``cascade`` (if absent) with one container per plane.
    Existing results for a series are refused unless ``overwrite``.  If anything fails,
    the file is left as it was.

    Parameters
    ----------
    path
        A local NWB file, writable.
    series
        Which series: a path (``processing/ophys/DfOverF/DfOverF``), its end (``DfOverF/DfOverF``),
        a glob, or ``"all"``; default: the input of every plane (the ΔF/F series, else ΔF/F
        computed from the fluorescence series).
    model
        A model name or folder; default: the one the indicator and frame rate call for.
    discrete_spikes
        Also fit and store discrete spikes.
    overwrite
        Replace existing results for these series.
    threshold, device, progress
        Passed to :func:`nwb_cascade.cascade.predict`.
    compute_dff, dff_recipe
        Whether a plane that holds only fluorescence gets ΔF/F computed, and how
        (:class:`~nwb_cascade.cascade.DffRecipe`: neuropil coefficient, baseline window).

    Returns
    -------
    RunSummary
    """
    source = resolve(path)
    if source.remote:
        raise SourceError(f"{path} is remote and read-only: use infer() (nwb-cascade infer --output) to write the "
                          "results to a new local file")
    if source.zarr:
        raise NWBWriteError(f"{path} is an NWB Zarr store: write the results to a new file (--output) instead")
    start = time.perf_counter()
    with amended(source.path) as copy:
        working = Source(text=source.text, path=copy)
        remove_groups(copy, MODULE, [])  # what interrupted runs of earlier versions left half-written
        with open_nwb(working, "r") as (_, nwbfile):
            planes = choose_inputs(nwbfile, series, compute_dff=compute_dff)
            names = [plane.series.name for plane in planes]
            module = nwbfile.processing.get(MODULE)
            existing = [name for name in names if module is not None and name in module.data_interfaces]
            needed = sum(4 * plane.series.n_rois * plane.series.n_frames * (2 if plane.compute_dff else 1)
                         for plane in planes)
        if existing and not overwrite:
            raise NWBInputError(
                f"{path} already holds Cascade results " + ", ".join(f"processing/{MODULE}/{name}" for name in existing)
                + "; pass overwrite=True (--overwrite) to replace them"
            )
        ensure_free_space(copy.parent, needed, f"the results for {path}")
        remove_groups(copy, MODULE, existing)
        with open_nwb(working, "a") as (io, nwbfile):
            planes = choose_inputs(nwbfile, series, compute_dff=compute_dff)
            inferences = _run_planes(nwbfile, planes, model, _provenance(nwbfile, source), threshold=threshold,
                                     discrete_spikes=discrete_spikes, device=device, progress=progress,
                                     dff_recipe=dff_recipe)
            add_to_module(nwbfile, [build_results(inference, inference.info.series, inference.info.name)
                                    for inference in inferences], MODULE, MODULE_DESCRIPTION)
            io.write(nwbfile)
    return _summary(source.path, inferences, time.perf_counter() - start)


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
    compute_dff: bool = True,
    dff_recipe: DffRecipe | None = None,
) -> RunSummary:
    """Infer spikes for every plane of an NWB file (or the series named) and write a new, standalone NWB file.

    The new file holds the session and subject metadata (the subject's own type, lab
    metadata), the imaging planes, the ROI tables where they were, a copy of each input
    series (and of the neuropil it was corrected with), and the results; the source is not
    touched.  ``source`` is a local path, an http(s) URL or a DANDI asset (``DANDI:000728/
    sub-.../file.nwb[@VERSION]``, a DANDI web or API URL), streamed when remote; its URL and
    DANDI ids go into the provenance.  See :func:`annotate` for the other parameters;
    ``output`` must not exist unless ``overwrite``, and is written under a temporary name and
    renamed only when complete.
    """
    output = Path(output)
    start = time.perf_counter()
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; choose another output or pass overwrite=True (--overwrite)")
    resolved = source if isinstance(source, Source) else resolve(source)
    if not resolved.remote and output.exists() and output.resolve() == resolved.path.resolve():
        raise NWBInputError("the output is the input file; use annotate() (--in-place) to add results to it")
    with open_nwb(resolved, "r") as (_, nwbfile):
        planes = choose_inputs(nwbfile, series, compute_dff=compute_dff)
        details = {**_provenance(nwbfile, resolved), **(provenance or {})}
        inferences = _run_planes(nwbfile, planes, model, details, threshold=threshold,
                                 discrete_spikes=discrete_spikes, device=device, progress=progress,
                                 dff_recipe=dff_recipe)
        write_standalone(nwbfile, inferences, [plane.neuropil for plane in planes], output)
    return _summary(output, inferences, time.perf_counter() - start)


def inspect(path: str | Path) -> dict[str, Any]:
    """Every RoiResponseSeries of an NWB file, what each holds, which a run would use, and the results it holds.

    Returns ``{"series": [...], "results": [...], "problem": str}``; each series is a dict
    with its path, container kind, role, ROIs, frames, frame rate, unit, whether a run uses
    it by default (and, for fluorescence, with which neuropil), its noise levels (for the
    series a run uses: of the ΔF/F it reads or computes), and why it cannot be read as
    traces (``problem``).  ``problem`` at the top says why a default run would fail.
    """
    import warnings

    with open_nwb(path, "r") as (_, nwbfile):
        candidates = find_series(nwbfile)
        try:
            planes, _ = plane_inputs(candidates)
            problem = "" if planes else "no series can be used (see the roles)"
        except NWBInputError as error:
            planes, problem = [], str(error)
        used = {id(plane.series): plane for plane in planes}
        rows = []
        for info in candidates:
            plane = used.get(id(info))
            rate, irregular = float("nan"), False
            if not info.problem and info.n_frames > 1:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    with contextlib.suppress(NWBInputError):
                        rate = frame_rate(info.series)
                irregular = any(w.category.__name__ == "IrregularTimestampsWarning" for w in caught)
            noise = np.full(0, np.nan)
            if plane is not None and np.isfinite(rate):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    traces = read_traces(info)
                    if plane.compute_dff:
                        neuropil = read_traces(plane.neuropil) if plane.neuropil is not None else None
                        with contextlib.suppress(ValueError):
                            traces = delta_f_over_f(traces, neuropil, frame_rate=rate)
                    noise = noise_levels(traces, rate)
            finite = noise[np.isfinite(noise)]
            rows.append({
                "path": info.path, "kind": info.kind, "role": info.role, "rois": info.n_rois,
                "frames": info.n_frames if not info.problem else 0, "frame_rate": rate, "unit": info.unit,
                "irregular_timestamps": irregular, "problem": info.problem, "transposed": info.transposed,
                "default": plane is not None,
                "dff_computed": plane is not None and plane.compute_dff,
                "neuropil": plane.neuropil.path if plane is not None and plane.neuropil is not None else None,
                "noise_median": float(np.median(finite)) if finite.size else float("nan"),
                "noise_min": float(finite.min()) if finite.size else float("nan"),
                "noise_max": float(finite.max()) if finite.size else float("nan"),
            })
        module = nwbfile.processing.get(MODULE)
        results = sorted(module.data_interfaces) if module is not None else []
    left = [name for name in results if name.endswith(STAGING_SUFFIX)]
    if left:
        log.warning("%s holds %s, left half-written by an interrupted run of an earlier version; the next in-place "
                    "run removes it", path, ", ".join(left))
    return {"series": rows, "results": [f"processing/{MODULE}/{name}" for name in results if name not in left],
            "problem": problem}


def matched_training_config(path: str | Path, ground_truth: str | Path, *, series: str | None = None) -> dict[str, Any]:
    """A training config matched to an NWB file: its frame rate, its ROIs' noise levels (of every plane
    it would run), the excitatory datasets of the ground truth, and a smoothing suited to the rate."""
    from .cascade.ground_truth import dataset_folders, excitatory
    from .cascade.train import matched_config

    with open_nwb(path, "r") as (_, nwbfile):
        noise, rates = [], set()
        for plane in choose_inputs(nwbfile, series):
            rate = frame_rate(plane.series.series)
            traces = read_traces(plane.series)
            if plane.compute_dff:
                neuropil = read_traces(plane.neuropil) if plane.neuropil is not None else None
                traces = delta_f_over_f(traces, neuropil, frame_rate=rate)
            noise.append(noise_levels(traces, rate))
            rates.add(round(rate, 3))
    if len(rates) > 1:
        raise NWBInputError(f"the planes have different frame rates ({sorted(rates)}); match one with --series")
    noise_all = np.concatenate(noise)
    datasets = excitatory([folder.name for folder in dataset_folders(ground_truth)])
    config = matched_config(rates.pop(), noise_all, datasets)
    log.info("%s: %.4g Hz, ROI noise levels %.2f-%.2f: training %s", path, config["sampling_rate"],
             np.nanmin(noise_all), np.nanmax(noise_all), config["model_name"])
    return config


def _summary(output: Path, inferences: list[Inference], seconds: float) -> RunSummary:
    planes = [
        PlaneSummary(
            series=inference.info.path,
            container=f"processing/{MODULE}/{inference.info.name}",
            n_rois=inference.rates.shape[0],
            n_frames=inference.rates.shape[1],
            frame_rate=inference.frame_rate,
            noise_levels=np.asarray(inference.noise_levels, dtype=float),
            model=inference.model.name,
            model_reason=inference.provenance.get("model_reason", ""),
            n_spikes=None if inference.spike_frames is None else int(sum(len(s) for s in inference.spike_frames)),
            dff_computed=inference.dff is not None,
        )
        for inference in inferences
    ]
    return RunSummary(output=output, planes=planes, seconds=seconds)
