"""The spike-inference workflow: ``infer`` (into a new file, in place, or as a LINDI amendment) and ``inspect``.

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
from .common.device import resolve_device
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
from .nwb.session import STAGING_SUFFIX, add_to_module, remove_groups
from .nwb.sources import Source, resolve
from .nwb.stream import check_reads, read_once_more
from .nwb.target import AMENDMENT, IN_PLACE, NEW_FILE, Target, choose_target, provenance, refuse_existing, working_copy
from .nwb.write import MODULE, MODULE_DESCRIPTION, Inference, build_results, write_standalone
from .options import RunOptions, with_overrides

log = logging.getLogger(__name__)

#: Median noise level below which traces are not ΔF/F: every model is trained at 1 or more, and the cleanest
#: real ROIs reach about 0.5 (Allen excerpt: 0.55-1.65); denoised, deconvolved and event traces sit far below.
IMPLAUSIBLY_LOW_NOISE = 0.15


def select(nwbfile: NWBFile, options: RunOptions) -> Selection:
    """The inputs of a run with ``options`` (:func:`nwb_cascade.nwb.read.select_inputs`)."""
    overrides = Overrides(options.indicator, options.model is not None, options.spiking_cells)
    return select_inputs(nwbfile, options.series, compute_dff=options.compute_dff, overrides=overrides)


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
    """What one run did; its summary fields are named as the batch manifest's columns
    (:func:`nwb_cascade.batch.manifest_values`).

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
    # with the threshold off, rates keep their negative values; spikes explain only what is above 0 (said in
    # the option's help), so they are fitted to the rates clipped at 0, without the engine's warning
    spikes = fit_spikes(np.maximum(rates, 0) if options.threshold is False else rates, cascade, frame_rate=rate,
                        progress=options.progress)[0] if options.discrete_spikes else None
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


def infer(source: str | Path | Source, output: str | Path | None = None, *, in_place: bool = False,
          overwrite: bool = False, options: RunOptions | None = None, **overrides: Any) -> RunSummary:
    """Infer spike rates (and discrete spikes) for every plane of an NWB file and write them as NWB.

    Every plane's input is chosen (its ΔF/F series, else ΔF/F computed from its fluorescence; what is
    not ΔF/F of spiking cells is refused or left out with the reason), the engine runs with the model the
    recording's indicator and frame rate call for, and one results container per plane goes into the
    processing module ``cascade``, where :func:`nwb_cascade.nwb.target.choose_target` says:

    - a new, standalone file (``output``; default ``FILE.cascade.nwb`` beside a local source, named after
      the file in the working directory for a remote one): the session and subject metadata, the imaging
      planes, the ROI tables, a copy of each input series and the results; the source is not touched;
    - ``in_place=True``: the source itself, a local HDF5 file, only added to (on a working copy that
      replaces the file when complete: whatever fails, the file is left as it was);
    - an ``output`` ending in ``.lindi.tar``: a LINDI amendment of a remote source, which references it by
      URL (no copy of it).

    Parameters
    ----------
    source
        A local NWB file (HDF5 or Zarr), an http(s) URL or a DANDI asset; remote ones are streamed.
    output
        Where the results go (see above).
    in_place
        Add the results to ``source``.
    overwrite
        Replace an existing output file, or the results ``source`` already holds (in place).
    options
        How the run infers (:class:`~nwb_cascade.options.RunOptions`); its fields can also be given as
        keywords (``model="..."``, ``series="all"``...), over ``options``.

    Returns
    -------
    RunSummary
    """
    options = with_overrides(options, RunOptions, overrides)
    start = time.perf_counter()
    resolved = source if isinstance(source, Source) else resolve(source)
    target = choose_target(resolved, output, in_place=in_place, overwrite=overwrite, kind=MODULE)
    if options.device is not None:
        resolve_device(options.device)  # a device this machine lacks: refused before anything is read
    write = {IN_PLACE: _in_place, NEW_FILE: _new_file, AMENDMENT: _amendment}[target.mode]
    inferences, selection = write(target, options)
    _warn_unused(options, selection)
    return _summary(target.path, inferences, time.perf_counter() - start, selection.left_out)


def _warn_unused(options: RunOptions, selection: Selection) -> None:
    """Say so when options were given that this file gave no use (they would otherwise be ignored silently)."""
    defaults = RunOptions()
    recipe = [name for name in ("neuropil_coefficient", "baseline_window")
              if getattr(options, name) != getattr(defaults, name)]
    if recipe and not any(plane.compute_dff for plane in selection.inputs):
        log.warning("%s did not apply: every plane's input is ΔF/F already, none was computed from fluorescence",
                    " and ".join(name.replace("_", "-") for name in recipe))


def _in_place(target: Target, options: RunOptions) -> tuple[list[Inference], Selection]:
    """Results added to the source, on its working copy, opened once; a second time only when results the file
    holds are replaced (removed with h5py and the space they held given back in between)."""
    source = target.source
    with working_copy(source, MODULE) as working:
        for _ in range(2):
            with open_nwb(working, "a") as (io, nwbfile):
                selection = select(nwbfile, options)
                existing = refuse_existing(nwbfile, source.text, MODULE,
                                           [plane.series.name for plane in selection.inputs], target.overwrite,
                                           "Cascade results")
                if not existing:
                    needed = sum(4 * plane.series.n_rois * plane.series.n_frames * (2 if plane.compute_dff else 1)
                                 for plane in selection.inputs)
                    ensure_free_space(working.path.parent, needed, f"the results for {source.text}")
                    inferences = _run_planes(nwbfile, selection.inputs, options, provenance(nwbfile, source))
                    add_to_module(nwbfile, [build_results(inference, inference.info.series, inference.info.name)
                                            for inference in inferences], MODULE, MODULE_DESCRIPTION)
                    io.write(nwbfile)
                    return inferences, selection
            remove_groups(working.path, MODULE, existing)
    raise NWBWriteError(f"{source.text}: the results {', '.join(existing)} could not be removed to be replaced")


def _new_file(target: Target, options: RunOptions) -> tuple[list[Inference], Selection]:
    """Results in a new, standalone file; a remote read or parse that fails is tried once more from the server,
    never from the stream cache."""
    source, output = target.source, target.path

    def run() -> tuple[list[Inference], Selection]:
        with open_nwb(source, "r") as (_, nwbfile):
            selection = select(nwbfile, options)
            inferences = _run_planes(nwbfile, selection.inputs, options, provenance(nwbfile, source))
            check_reads()  # a remote read that failed and was swallowed on the way: nothing is written from it
            write_standalone(nwbfile, inferences, [plane.neuropil for plane in selection.inputs], output)
            try:
                check_reads()  # the input series copied into the output were read while it was written
            except Exception:
                output.unlink(missing_ok=True)
                raise
        return inferences, selection

    return read_once_more(run, f"reading {source.text}", keep=(NWBWriteError, FileExistsError, ModelError,
                                                               DownloadError))


def _amendment(target: Target, options: RunOptions) -> tuple[list[Inference], Selection]:
    """Results as a LINDI amendment of a remote source (:mod:`nwb_cascade.nwb.lindi`)."""
    from .nwb.lindi import amendment

    with amendment(target.source, target.path) as (io, nwbfile):
        selection = select(nwbfile, options)
        inferences = _run_planes(nwbfile, selection.inputs, options, provenance(nwbfile, target.source))
        add_to_module(nwbfile, [build_results(inference, inference.info.series, inference.info.name, whole=True)
                                for inference in inferences], MODULE, MODULE_DESCRIPTION)
        io.write(nwbfile, expandable=())
    return inferences, selection


@dataclass
class SeriesRow:
    """One RoiResponseSeries as :func:`inspect` sees it."""

    path: str
    kind: str
    role: str
    rois: int
    frames: int
    frame_rate: float
    unit: str
    irregular_timestamps: bool
    problem: str
    transposed: bool
    used: bool  # a run with these options runs it
    dff_computed: bool
    neuropil: str | None
    noise_levels: np.ndarray = field(repr=False)
    read_as: str
    measures: str | None
    indicator: str | None
    verdict: str | None
    decision: SeriesDecision

    @property
    def noise_median(self) -> float:
        finite = self.noise_levels[np.isfinite(self.noise_levels)]
        return float(np.median(finite)) if finite.size else float("nan")

    def describe(self) -> str:
        """Two lines: what the series is, then what a run takes it for and why."""
        mark = "*" if self.used else " "
        if self.problem:
            return f"{mark} {self.path}  [{self.kind}, {self.role}] not used: {self.problem}"
        scaled = "" if self.read_as == "as stored" else f", values read as {self.read_as}"
        irregular = " (irregular timestamps)" if self.irregular_timestamps else ""
        transposed = " (stored ROIs x frames)" if self.transposed else ""
        line = (f"{mark} {self.path}  [{self.kind}, {self.role}] {self.rois} ROIs x {self.frames} frames, "
                f"{self.frame_rate:.4g} Hz{irregular}{transposed}, unit {self.unit!r}{scaled}")
        finite = self.noise_levels[np.isfinite(self.noise_levels)]
        if self.used and finite.size:
            source = ""
            if self.dff_computed:
                source = "ΔF/F computed" + (f" with neuropil {self.neuropil}" if self.neuropil else " (no neuropil)")
                source += ", "
            line += f"; {source}noise levels {finite.min():.2f}-{finite.max():.2f} (median {np.median(finite):.2f})"
        return f"{line}\n    {self.decision.describe()}"


@dataclass
class Inspection:
    """What :func:`inspect` found in a file: its series, the results it holds, and why a run would fail."""

    source: str
    series: list[SeriesRow]
    results: list[str]
    expected: dict[str, dict[str, float]]  # per results container: medians of the expected accuracy
    problem: str

    def describe(self) -> str:
        lines = [row.describe() for row in self.series] or ["no RoiResponseSeries in any processing module"]
        if self.problem:
            lines.append(f"a run with no --series would fail: {self.problem}")
        for name in self.results:
            expected = self.expected.get(name)
            note = "" if not expected else (
                f" (expected at the ROIs' noise levels, median: r {expected['correlation']:.2f}, error "
                f"{expected['error']:.2f}, bias {expected['bias']:+.2f})")
            lines.append(f"  results: {name}{note}")
        return "\n".join(lines)


def inspect(source: str | Path | Source, *, options: RunOptions | None = None, **overrides: Any) -> Inspection:
    """Every RoiResponseSeries of an NWB file, what each holds, what a run (with ``options``, or their fields as
    keywords: ``indicator``, ``spiking_cells``, the ΔF/F recipe) takes it for and why, and the results it holds.

    Each series (:class:`SeriesRow`) has its path, container kind, role, ROIs, frames, frame rate, unit,
    how its values are read (conversion, offset, percent), whether a run uses it (and, for fluorescence,
    with which neuropil), its noise levels (of the ΔF/F a run reads or computes), why it cannot be read
    as traces, what it measures and the run's decision on it.  ``Inspection.describe()`` is what
    ``nwb-cascade inspect`` prints.
    """
    options = with_overrides(options, RunOptions, overrides)
    said = Overrides(options.indicator, options.model is not None, options.spiking_cells)
    with open_nwb(source, "r") as (_, nwbfile):
        candidates = find_series(nwbfile)
        measure_all(candidates, nwbfile, said)
        try:
            planes, _ = plane_inputs([info for info in candidates if info.runs])
            problem = "" if planes else "no series can be used (see each series above)"
        except NWBInputError as error:
            planes, problem = [], str(error)
        used = {id(plane.series): plane for plane in planes}
        rows = [_inspect_row(info, used.get(id(info)), decide(info, planes), options) for info in candidates]
        module = nwbfile.processing.get(MODULE)
        results = sorted(module.data_interfaces) if module is not None else []
        expected = {f"processing/{MODULE}/{name}": _expected_medians(module[name]) for name in results
                    if not name.endswith(STAGING_SUFFIX)}
    left = [name for name in results if name.endswith(STAGING_SUFFIX)]
    if left:
        log.warning("%s holds %s, left half-written by an interrupted run of an earlier version; the next in-place "
                    "run removes it", source, ", ".join(left))
    return Inspection(str(source), rows, [f"processing/{MODULE}/{name}" for name in results if name not in left],
                      {name: values for name, values in expected.items() if values}, problem)


def _expected_medians(results: Any) -> dict[str, float]:
    """The median over ROIs of the expected correlation, error and bias stored with results (empty without them)."""
    rates = getattr(results, "spike_rates", None)
    values = {}
    for measure in ACCURACY_MEASURES:
        data = getattr(rates, f"expected_{measure}", None)
        if data is not None:
            values[measure] = float(np.nanmedian(np.asarray(data[:], dtype=float)))
    return values


def _inspect_row(info: SeriesInfo, plane: PlaneInput | None, decision: SeriesDecision,
                 options: RunOptions) -> SeriesRow:
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
            noise = noise_levels(plane_traces(plane, rate, options.dff_recipe)[0], rate)
    reading = info.reading
    return SeriesRow(
        path=info.path, kind=info.kind, role=info.role, rois=info.n_rois,
        frames=info.n_frames if not info.problem else 0, frame_rate=rate, unit=info.unit,
        irregular_timestamps=irregular, problem=info.problem, transposed=info.transposed, used=plane is not None,
        dff_computed=plane is not None and plane.compute_dff,
        neuropil=plane.neuropil.path if plane is not None and plane.neuropil is not None else None,
        noise_levels=np.asarray(noise, dtype=float), read_as=info.storage.describe(),
        measures=reading.measures if reading else None, indicator=reading.indicator if reading else None,
        verdict=reading.verdict if reading else None, decision=decision,
    )


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


__all__ = ["Inspection", "PlaneSummary", "RunOptions", "RunSummary", "SeriesRow", "infer", "inspect",
           "matched_training_config"]
