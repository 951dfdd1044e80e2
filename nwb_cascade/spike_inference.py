"""The spike-inference workflow: ``annotate`` (in place), ``infer`` (into a new file), ``inspect``.

Both choose the input of every plane (:func:`~nwb_cascade.nwb.read.choose_inputs`: the
ΔF/F series, or ΔF/F computed from fluorescence and neuropil), read it once, run the
engine (noise levels, spike rates, discrete spikes) with the model the recording's
indicator and frame rate call for, and write one
:class:`~nwb_cascade.nwb.extension.CascadeResults` container per plane into the
processing module ``cascade``.  Where they write is checked by the guard both workflows
share (:mod:`nwb_cascade.nwb.target`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
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
from .cascade.errors import NoiseLevelError
from .cascade.indicators import choose_model
from .cascade.model import ACCURACY_MEASURES
from .manifest import RESULT_FIELDS
from .nwb.inplace import NWBWriteError, ensure_free_space
from .nwb.measure import GENOTYPE, PLANE_INDICATOR, Overrides
from .nwb.open import open_nwb
from .nwb.read import (
    FLUORESCENCE,
    USE_INSTEAD,
    IrregularTimestampsWarning,
    NWBInputError,
    PlaneInput,
    Selection,
    SeriesDecision,
    SeriesInfo,
    choose_inputs,
    decide,
    find_series,
    frame_rate,
    measure_all,
    plane_inputs,
    read_traces,
    recording_facts,
    select_inputs,
)
from .nwb.sources import Source, resolve
from .nwb.stream import check_reads, read_once_more
from .nwb.target import check_target, provenance, refuse_existing, working_copy
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


@dataclass(frozen=True)
class RunOptions:
    """How a run infers, the same for :func:`annotate`, :func:`infer` and :func:`nwb_cascade.batch`.

    ``series`` names the input (a path, its end, a glob, ``"all"``; default: every plane's);
    ``model`` a model name or folder (default: the one the indicator and frame rate call for);
    ``threshold``, ``device`` go to :func:`nwb_cascade.cascade.predict`; ``compute_dff`` and
    ``dff_recipe`` say whether and how ΔF/F is computed from fluorescence.  ``indicator`` names the
    indicator of the chosen series, over what the file says (it picks the model; a sensor of something
    other than calcium runs only with ``model`` given too); ``spiking_cells`` says that the chosen series
    are spiking neurons, whatever the subject's species or the ROIs' names say (see
    :mod:`nwb_cascade.nwb.measure`).
    """

    series: str | None = None
    model: str | Path | CascadeModel | None = None
    discrete_spikes: bool = True
    threshold: Any = 0
    device: str | None = None
    compute_dff: bool = True
    dff_recipe: DffRecipe = field(default_factory=DffRecipe)
    progress: bool = False
    indicator: str | None = None
    spiking_cells: bool = False

    @property
    def overrides(self) -> Overrides:
        """What these options say over the file about what the series measure."""
        return Overrides(self.indicator, self.model is not None, self.spiking_cells)


def select(nwbfile: NWBFile, options: RunOptions) -> Selection:
    """The inputs of a run with ``options`` (:func:`nwb_cascade.nwb.read.select_inputs`)."""
    return select_inputs(nwbfile, options.series, compute_dff=options.compute_dff, overrides=options.overrides)


@dataclass
class PlaneSummary:
    """What one plane's inference did."""

    series: str
    container: str
    rois: int
    frames: int
    frame_rate: float
    noise_levels: np.ndarray = field(repr=False)
    model: str
    model_reason: str
    spikes: int | None
    dff_computed: bool


@dataclass
class RunSummary:
    """What one run did; its summary fields are named as the batch manifest's columns (:func:`record`).

    Over several planes: ROIs are summed, the frame count and rate are the first plane's (planes
    of one session share them), noise statistics are over all ROIs, and the series, containers and
    models of the planes are joined by ``;``.
    """

    output: Path
    per_plane: list[PlaneSummary]
    seconds: float
    left_out: list[tuple[str, str]] = field(default_factory=list)  # series not run for what they measure, and why

    def _joined(self, name: str) -> str:
        return ";".join(dict.fromkeys(str(getattr(plane, name)) for plane in self.per_plane))

    @property
    def planes(self) -> int:
        return len(self.per_plane)

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
    def rois(self) -> int:
        return sum(plane.rois for plane in self.per_plane)

    @property
    def frames(self) -> int:
        return self.per_plane[0].frames

    @property
    def frame_rate(self) -> float:
        return self.per_plane[0].frame_rate

    @property
    def _noise(self) -> np.ndarray:
        values = np.concatenate([plane.noise_levels for plane in self.per_plane])
        return values[np.isfinite(values)]

    @property
    def noise_median(self) -> float:
        return float(np.median(self._noise)) if self._noise.size else float("nan")

    @property
    def noise_min(self) -> float:
        return float(self._noise.min()) if self._noise.size else float("nan")

    @property
    def noise_max(self) -> float:
        return float(self._noise.max()) if self._noise.size else float("nan")

    @property
    def spikes(self) -> int | None:
        counts = [plane.spikes for plane in self.per_plane]
        return None if any(count is None for count in counts) else int(sum(counts))

    def record(self) -> dict[str, Any]:
        """The manifest's result columns of this run (``output`` as a file name)."""
        values = {name: getattr(self, name) for name in RESULT_FIELDS}
        values["output"] = Path(self.output).name
        return values

    def describe(self) -> str:
        """Lines about the run, for the command line: one per plane."""
        lines = []
        for plane in self.per_plane:
            spikes = "" if plane.spikes is None else f", {plane.spikes} spikes"
            finite = plane.noise_levels[np.isfinite(plane.noise_levels)]
            median = float(np.median(finite)) if finite.size else float("nan")
            source = f"ΔF/F computed from {plane.series}" if plane.dff_computed else plane.series
            lines.append(f"{self.output}: {plane.container} from {source} ({plane.rois} ROIs x {plane.frames} frames "
                         f"at {plane.frame_rate:.4g} Hz, noise median {median:.2f}, model {plane.model}: "
                         f"{plane.model_reason}{spikes})")
        lines += [f"not run: {path}: {reason}" for path, reason in self.left_out]
        return "\n".join(lines) + f"\n{self.planes} plane(s) in {self.seconds:.1f} s"


def resolve_model(model: str | Path | CascadeModel | None, rate: float,
                  facts: dict[str, str | None] | None = None, stated: tuple[str, str] | None = None
                  ) -> tuple[CascadeModel, str]:
    """The model asked for, else the one the recording's indicator and frame rate call for, and why.

    ``facts`` holds what the file says of the recording: ``indicator`` (of the imaging plane),
    ``genotype`` and ``species`` (of the subject); ``stated`` an indicator stated elsewhere and where
    (the user's, a series' name); see :func:`nwb_cascade.cascade.indicators.choose_model`.
    """
    if model is not None:
        loaded = load_model(model)
        return loaded, f"given ({loaded.name})"
    choice = choose_model(rate, plane_indicator=(facts or {}).get("indicator"),
                          genotype=(facts or {}).get("genotype"), species=(facts or {}).get("species"), stated=stated)
    log.info("no model given: %s (%s)", choice.name, choice.reason)
    try:
        return load_model(choice.name), choice.reason
    except DownloadError as error:
        raise ModelError(
            f"{choice.reason}: model {choice.name} is not cached and cannot be downloaded ({error}). Run "
            f"`nwb-cascade models download {choice.name}` where there is internet (and share the cache with "
            "NWB_CASCADE_CACHE), or name a model with --model"
        ) from error


def plane_traces(plane: PlaneInput, rate: float, recipe: DffRecipe) -> tuple[np.ndarray, dict | None]:
    """The plane's ΔF/F (ROIs × frames): read, or computed from its fluorescence and neuropil; and, when
    computed, the recipe as applied (for the provenance)."""
    info = plane.series
    traces = read_traces(info)
    if not plane.compute_dff:
        return traces, None
    neuropil = read_traces(plane.neuropil) if plane.neuropil is not None else None
    dff = delta_f_over_f(traces, neuropil, frame_rate=rate, recipe=recipe)
    log.info("%s: ΔF/F computed from fluorescence%s", info.path,
             f" and neuropil {plane.neuropil.path}" if plane.neuropil is not None else " (no neuropil series)")
    return dff, {**recipe.describe(neuropil is not None), "fluorescence_series": info.path,
                 "neuropil_series": plane.neuropil.path if plane.neuropil is not None else None}


def stated_indicator(info: SeriesInfo, options: RunOptions) -> tuple[str, str] | None:
    """The indicator a run states for the model choice beyond the imaging plane and genotype, and where: the
    user's, or the one the series' own texts (or the subject's) name."""
    if options.indicator:
        return options.indicator, "--indicator"
    reading = info.reading
    if reading is not None and reading.indicator and reading.where not in (PLANE_INDICATOR, GENOTYPE):
        return reading.indicator, reading.where
    return None


def infer_plane(plane: PlaneInput, options: RunOptions, *, facts: dict[str, str | None] | None = None,
                provenance: dict[str, str] | None = None) -> Inference:
    """Run the engine on one plane: read its traces once (computing ΔF/F if it holds fluorescence),
    spike rates, discrete spikes."""
    info = plane.series
    rate = frame_rate(info.series)
    cascade, reason = resolve_model(options.model, rate, facts, stated_indicator(info, options))
    if info.reading is not None and info.reading.forced:
        log.warning("%s: %s", info.path, info.reading.reason)
        reason = f"{info.reading.reason}; model {reason}"
    if info.n_frames < cascade.windowsize:
        raise NWBInputError(
            f"{info.path} has {info.n_frames} frame(s); Cascade needs at least {cascade.windowsize} "
            "(one network window) to infer anything"
        )
    traces, recipe = plane_traces(plane, rate, options.dff_recipe)
    noise = noise_levels(traces, rate)
    _check_not_smoothed(info, noise, cascade, rate)
    try:
        rates = predict(traces, cascade, frame_rate=rate, threshold=options.threshold, noise_levels=noise,
                        device=options.device, progress=options.progress)
    except NoiseLevelError as error:
        raise NoiseLevelError(f"{info.path}: {error} {_storage_note(info)}") from error
    dff = traces if recipe is not None else None
    del traces
    spikes = fit_spikes(rates, cascade, frame_rate=rate, progress=options.progress)[0] \
        if options.discrete_spikes else None
    details = {**(provenance or {}), "model_reason": reason}
    if recipe is not None:
        details["dff_recipe"] = json.dumps(recipe)
    return Inference(info, rate, rates, noise, cascade.select_levels(noise), cascade, options.threshold, spikes,
                     details, dff)


def _storage_note(info: SeriesInfo) -> str:
    """How the series' values were read, for the advice about their scale."""
    storage = info.storage
    if storage.plain:
        return ("(In NWB a writer says that a series holds percent with conversion=0.01, value = data x conversion + "
                "offset, or with the unit '%'; this series says neither, so its numbers were read as they are.)")
    return f"(Its values were read as {storage.describe()}, as its conversion, offset and unit say.)"


def _check_not_smoothed(info: SeriesInfo, noise: np.ndarray, model: CascadeModel, rate: float) -> None:
    """Refuse traces far smoother than ΔF/F: denoised, deconvolved or event traces."""
    finite = noise[np.isfinite(noise)]
    if finite.size and float(np.median(finite)) < IMPLAUSIBLY_LOW_NOISE:
        storage = info.storage
        read_as = "" if storage.plain else f" (its values read as {storage.describe()}, as its metadata say)"
        change = float(np.median(finite)) * np.sqrt(rate) / 100  # the median |frame-to-frame change| it means
        coarse = f", or values stored in steps too coarse (steps of {storage.step:.3g})" \
            if storage.step is not None and info.role != FLUORESCENCE and storage.step >= change else ""
        raise NWBInputError(
            f"{info.path}: the median noise level of its traces is {float(np.median(finite)):.3f}{read_as}, far "
            f"below any Cascade model's (the lowest level is {float(model.noise_levels.min()):g}; real ΔF/F has 0.5 "
            f"or more). Traces this smooth are denoised, deconvolved or event traces{coarse}, not ΔF/F; {USE_INSTEAD}"
        )


def _run_planes(nwbfile: NWBFile, planes: list[PlaneInput], options: RunOptions,
                details: dict[str, str]) -> list[Inference]:
    return [infer_plane(plane, options, facts=recording_facts(plane.series, nwbfile), provenance=details)
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
    indicator: str | None = None,
    spiking_cells: bool = False,
) -> RunSummary:
    """Infer spikes for every plane of an NWB file (or the series named) and add the results to that file.

    Only adds: a processing module ``cascade`` (if absent) with one container per plane.
    Existing results for a series are refused unless ``overwrite``.  The results are added to
    a working copy that replaces the file when complete: whatever fails, the file is left as
    it was (:mod:`nwb_cascade.nwb.inplace`).

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
    indicator, spiking_cells
        What the chosen series measure, over what the file says: see :class:`RunOptions`.

    Returns
    -------
    RunSummary
    """
    options = RunOptions(series, model, discrete_spikes, threshold, device, compute_dff, dff_recipe or DffRecipe(),
                         progress, indicator, spiking_cells)
    return annotate_with(resolve(path), options, overwrite=overwrite)


def annotate_with(source: Source, options: RunOptions, *, overwrite: bool = False) -> RunSummary:
    """:func:`annotate` with the run's options as one object."""
    start = time.perf_counter()
    check_target(source, None, in_place=True, overwrite=overwrite)
    with working_copy(source, MODULE) as working:
        with open_nwb(working, "r") as (_, nwbfile):
            planes = select(nwbfile, options).inputs
            existing = refuse_existing(nwbfile, source.text, MODULE, [plane.series.name for plane in planes],
                                       overwrite, "Cascade results")
            needed = sum(4 * plane.series.n_rois * plane.series.n_frames * (2 if plane.compute_dff else 1)
                         for plane in planes)
        ensure_free_space(working.path.parent, needed, f"the results for {source.text}")
        remove_groups(working.path, MODULE, existing)
        with open_nwb(working, "a") as (io, nwbfile):
            selection = select(nwbfile, options)
            inferences = _run_planes(nwbfile, selection.inputs, options, provenance(nwbfile, source))
            add_to_module(nwbfile, [build_results(inference, inference.info.series, inference.info.name)
                                    for inference in inferences], MODULE, MODULE_DESCRIPTION)
            io.write(nwbfile)
    return _summary(source.path, inferences, time.perf_counter() - start, selection.left_out)


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
    indicator: str | None = None,
    spiking_cells: bool = False,
) -> RunSummary:
    """Infer spikes for every plane of an NWB file (or the series named) and write a new, standalone NWB file.

    The new file holds the session and subject metadata (the subject's own type, lab
    metadata), the imaging planes, the ROI tables where they were, a copy of each input
    series (and of the neuropil it was corrected with), and the results; the source is not
    touched.  ``source`` is a local path, an http(s) URL or a DANDI asset (``DANDI:000728/
    sub-.../file.nwb[@VERSION]``, a DANDI web or API URL), streamed when remote; its URL and
    DANDI ids go into the provenance (``provenance`` adds to it).  See :func:`annotate` for
    the other parameters; ``output`` must not exist unless ``overwrite``, and is written under
    a temporary name and renamed only when complete.
    """
    options = RunOptions(series, model, discrete_spikes, threshold, device, compute_dff, dff_recipe or DffRecipe(),
                         progress, indicator, spiking_cells)
    return infer_with(source, output, options, overwrite=overwrite, extra_provenance=provenance)


def infer_with(source: str | Path | Source, output: str | Path, options: RunOptions, *, overwrite: bool = False,
               extra_provenance: dict[str, str] | None = None) -> RunSummary:
    """:func:`infer` with the run's options as one object."""
    start = time.perf_counter()
    resolved = source if isinstance(source, Source) else resolve(source)
    output = check_target(resolved, output, in_place=False, overwrite=overwrite)

    def run() -> tuple[list[Inference], Selection]:
        with open_nwb(resolved, "r") as (_, nwbfile):
            selection = select(nwbfile, options)
            details = {**provenance(nwbfile, resolved), **(extra_provenance or {})}
            inferences = _run_planes(nwbfile, selection.inputs, options, details)
            check_reads()  # a remote read that failed and was swallowed on the way: nothing is written from it
            write_standalone(nwbfile, inferences, [plane.neuropil for plane in selection.inputs], output)
            try:
                check_reads()  # the input series copied into the output were read while it was written
            except Exception:
                output.unlink(missing_ok=True)
                raise
        return inferences, selection

    # a remote read or parse that fails is tried once more from the server, never from the stream cache
    inferences, selection = read_once_more(run, f"reading {resolved.text}",
                                           keep=(NWBWriteError, FileExistsError, ModelError, DownloadError))
    return _summary(output, inferences, time.perf_counter() - start, selection.left_out)


def amend_with(source: str | Path | Source, output: str | Path, options: RunOptions, *,
               overwrite: bool = False) -> RunSummary:
    """Infer spikes for a remote NWB file and write the results as a LINDI amendment of it (``.nwb.lindi.tar``):
    the original session, referenced by URL, with the ``cascade`` module added (:mod:`nwb_cascade.nwb.lindi`)."""
    from .nwb.lindi import amendment

    start = time.perf_counter()
    resolved = source if isinstance(source, Source) else resolve(source)
    output = check_target(resolved, output, in_place=False, overwrite=overwrite)
    with amendment(resolved, output) as (io, nwbfile):
        selection = select(nwbfile, options)
        inferences = _run_planes(nwbfile, selection.inputs, options, provenance(nwbfile, resolved))
        add_to_module(nwbfile, [build_results(inference, inference.info.series, inference.info.name, whole=True)
                                for inference in inferences], MODULE, MODULE_DESCRIPTION)
        io.write(nwbfile, expandable=())
    return _summary(output, inferences, time.perf_counter() - start, selection.left_out)


def inspect(path: str | Path) -> dict[str, Any]:
    """Every RoiResponseSeries of an NWB file, what each holds, which a run would use, and the results it holds.

    Returns ``{"series": [...], "results": [...], "expected": {...}, "problem": str}``; each series is a dict
    with its path, container kind, role, ROIs, frames, frame rate, unit, how its values are read
    (``read_as``: conversion, offset, percent), whether a run uses it by default (and, for
    fluorescence, with which neuropil), its noise levels (for the series a run uses: of the ΔF/F
    it reads or computes), why it cannot be read as traces (``problem``), what it measures
    (``measures``, ``indicator``, ``verdict``: run, refuse or skip) and the run's decision on it
    (``decision``: a :class:`~nwb_cascade.nwb.read.SeriesDecision`, what it is taken for and why).
    ``expected`` holds, per results container whose model carries an expected accuracy, its median
    over ROIs.  ``problem`` at the top says why a default run would fail.
    """
    with open_nwb(path, "r") as (_, nwbfile):
        candidates = find_series(nwbfile)
        measure_all(candidates, nwbfile)
        try:
            planes, _ = plane_inputs([info for info in candidates if info.runs])
            problem = "" if planes else "no series can be used (see each series above)"
        except NWBInputError as error:
            planes, problem = [], str(error)
        used = {id(plane.series): plane for plane in planes}
        rows = [_inspect_row(info, used.get(id(info)), decide(info, planes)) for info in candidates]
        module = nwbfile.processing.get(MODULE)
        results = sorted(module.data_interfaces) if module is not None else []
        expected = {f"processing/{MODULE}/{name}": _expected_medians(module[name]) for name in results
                    if not name.endswith(STAGING_SUFFIX)}
    left = [name for name in results if name.endswith(STAGING_SUFFIX)]
    if left:
        log.warning("%s holds %s, left half-written by an interrupted run of an earlier version; the next in-place "
                    "run removes it", path, ", ".join(left))
    return {"series": rows, "results": [f"processing/{MODULE}/{name}" for name in results if name not in left],
            "expected": {name: values for name, values in expected.items() if values}, "problem": problem}


def _expected_medians(results: Any) -> dict[str, float]:
    """The median over ROIs of the expected correlation, error and bias stored with results (empty without them)."""
    rates = getattr(results, "spike_rates", None)
    values = {}
    for measure in ACCURACY_MEASURES:
        data = getattr(rates, f"expected_{measure}", None)
        if data is not None:
            values[measure] = float(np.nanmedian(np.asarray(data[:], dtype=float)))
    return values


def _inspect_row(info: SeriesInfo, plane: PlaneInput | None, decision: SeriesDecision) -> dict[str, Any]:
    rate, irregular = float("nan"), False
    if not info.problem and info.n_frames > 1:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with contextlib.suppress(NWBInputError):
                rate = frame_rate(info.series)
        irregular = any(issubclass(w.category, IrregularTimestampsWarning) for w in caught)
    noise = np.full(0, np.nan)
    if plane is not None and np.isfinite(rate):
        with warnings.catch_warnings(), contextlib.suppress(ValueError):
            warnings.simplefilter("ignore")
            noise = noise_levels(plane_traces(plane, rate, DffRecipe())[0], rate)
    finite = noise[np.isfinite(noise)]
    return {
        "path": info.path, "kind": info.kind, "role": info.role, "rois": info.n_rois,
        "frames": info.n_frames if not info.problem else 0, "frame_rate": rate, "unit": info.unit,
        "irregular_timestamps": irregular, "problem": info.problem, "transposed": info.transposed,
        "default": plane is not None, "dff_computed": plane is not None and plane.compute_dff,
        "neuropil": plane.neuropil.path if plane is not None and plane.neuropil is not None else None,
        "noise_median": float(np.median(finite)) if finite.size else float("nan"),
        "noise_min": float(finite.min()) if finite.size else float("nan"),
        "noise_max": float(finite.max()) if finite.size else float("nan"),
        "read_as": info.storage.describe(),
        "measures": info.reading.measures if info.reading else None,
        "indicator": info.reading.indicator if info.reading else None,
        "verdict": info.reading.verdict if info.reading else None,
        "decision": decision,
    }


def matched_training_config(path: str | Path, ground_truth: str | Path, *, series: str | None = None) -> dict[str, Any]:
    """A training config matched to an NWB file: its frame rate, its ROIs' noise levels (of every plane
    it would run), the excitatory datasets of the ground truth, and a smoothing suited to the rate."""
    from .cascade.ground_truth import dataset_folders, excitatory
    from .cascade.train import matched_config

    with open_nwb(path, "r") as (_, nwbfile):
        noise, rates = [], set()
        for plane in choose_inputs(nwbfile, series):
            rate = frame_rate(plane.series.series)
            noise.append(noise_levels(plane_traces(plane, rate, DffRecipe())[0], rate))
            rates.add(round(rate, 3))
    if len(rates) > 1:
        raise NWBInputError(f"the planes have different frame rates ({sorted(rates)}); match one with --series")
    noise_all = np.concatenate(noise)
    datasets = excitatory([folder.name for folder in dataset_folders(ground_truth)])
    config = matched_config(rates.pop(), noise_all, datasets)
    log.info("%s: %.4g Hz, ROI noise levels %.2f-%.2f: training %s", path, config["sampling_rate"],
             np.nanmin(noise_all), np.nanmax(noise_all), config["model_name"])
    return config


def _summary(output: Path, inferences: list[Inference], seconds: float,
             left_out: list[tuple[str, str]] | None = None) -> RunSummary:
    planes = [
        PlaneSummary(
            series=inference.info.path,
            container=f"processing/{MODULE}/{inference.info.name}",
            rois=inference.rates.shape[0],
            frames=inference.rates.shape[1],
            frame_rate=inference.frame_rate,
            noise_levels=np.asarray(inference.noise_levels, dtype=float),
            model=inference.model.name,
            model_reason=inference.provenance.get("model_reason", ""),
            spikes=None if inference.spike_frames is None else int(sum(len(s) for s in inference.spike_frames)),
            dff_computed=inference.dff is not None,
        )
        for inference in inferences
    ]
    return RunSummary(output=output, per_plane=planes, seconds=seconds, left_out=list(left_out or []))


__all__ = ["PlaneSummary", "RunOptions", "RunSummary", "amend_with", "annotate", "annotate_with", "infer", "infer_with",
           "inspect",
           "matched_training_config"]
