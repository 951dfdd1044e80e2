"""Reading what a results file says, with h5py only: the session and subject, each results container's
ROIs, rates and accuracy, and the session's stimulus intervals.

What a summary over hundreds of files needs is a few attributes and datasets per file; pynwb would
build every object of each file (and load every cached namespace) to reach them, so this module reads
the HDF5 layout that :mod:`nwb_cascade.nwb.write` writes (and that in-place results share): one
``CascadeResults`` group per plane in ``processing/cascade``, its ``spike_rates`` (frames × ROIs,
spikes/s) with the per-ROI noise levels and expected accuracy, its ``discrete_spikes`` Units table,
and its ``source`` link to the ΔF/F the rates were inferred from.  Nothing here reads a movie.

The facts are read as the files state them, never guessed:

- subject: ``/general/subject`` (``subject_id``, ``species``, ``sex``, ``age``, ``genotype``,
  ``strain``; the AllenSDK's ``driver_line`` and ``reporter_line``);
- imaging plane: the ``location``, ``indicator`` and ``description`` of the plane the ROI table
  points to;
- imaging depth (µm): a lab-metadata field ``imaging_depth`` (the AllenSDK's
  ``OphysBehaviorMetadata``), else a depth written in the plane's location or description
  (``"Depth: 175 um"``, ``"at depth 175 um"``).  The Visual Coding conversion on DANDI (000728)
  writes the literal ``"{depth}"`` into its plane description, so those files state no depth;
- stimulus intervals: see :func:`stimulus_intervals`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from .read import NWBInputError

log = logging.getLogger(__name__)

RESULTS_MODULE = "processing/cascade"
ACCURACY = ("correlation", "error", "bias")
#: Columns of an interval table that name each interval's stimulus, in the order they are looked for:
#: the Visual Coding conversion's ``epochs`` (``stimulus_type``), the AllenSDK's ``*_presentations``
#: (``stimulus_name``).
STIMULUS_COLUMNS = ("stimulus_type", "stimulus_name")
PRESENTATIONS_SUFFIX = "_presentations"
#: A depth written in text: "Depth: 175 um", "at depth 175 um", "at a depth of 175 µm".
_DEPTH_TEXT = re.compile(r"depth(?:\s+of)?\s*:?\s*(\d+(?:\.\d+)?)\s*(?:um|µm|μm|microns?|micrometers?)\b",
                         re.IGNORECASE)
_DEPTH_FIELDS = ("imaging_depth",)


class ResultsFileError(NWBInputError):
    """A file that holds no Cascade results, or results this package cannot read."""


@dataclass
class Session:
    """The session and subject of a results file, as the file states them (None where it does not)."""

    identifier: str | None
    session_id: str | None
    session_start_time: str | None
    subject: dict[str, str | None]
    metadata: dict[str, Any]  # fields of the lab metadata (the AllenSDK's ophys_experiment_id, imaging_depth...)

    @property
    def line(self) -> str | None:
        """The transgenic (Cre driver) line: of the lines the subject's ``driver_line`` names (the AllenSDK's,
        e.g. ``Slc17a7-IRES2-Cre;Camk2a-tTA``), else of the alleles of its genotype
        (``Cux2-CreERT2/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/wt``), those whose name holds ``Cre``, joined by
        ``;``; the whole ``driver_line`` where none does; None when neither is stated."""
        driver = self.subject.get("driver_line")
        candidates = driver.split(";") if driver else \
            [part.strip().split("/")[0].strip() for part in (self.subject.get("genotype") or "").split(";")]
        cre = [name.strip() for name in candidates if "cre" in name.lower()]
        return ";".join(cre) or driver or None


@dataclass
class Plane:
    """One results container: the ROIs of one plane and what was inferred for them."""

    container: str  # path of the CascadeResults group
    source_series: str  # the series the rates were inferred from, as the source file names it
    rates: h5py.Dataset  # frames × ROIs, spikes/s (NaN where no window fitted)
    dff: h5py.Dataset | None  # frames × ROIs, the ΔF/F the rates were inferred from
    times: np.ndarray  # frame times, s, on the session's time base
    frame_rate: float
    model: str
    noise: np.ndarray
    expected: dict[str, np.ndarray]  # accuracy measure -> per ROI (absent measures are NaN)
    spike_counts: np.ndarray | None
    roi_rows: np.ndarray  # rows of the ROI table
    roi_ids: np.ndarray  # ids of those rows
    cell_ids: np.ndarray | None  # the Allen cell specimen id (or global ROI id) of each ROI, where the table has one
    location: str | None
    indicator: str | None
    depth: float | None
    depth_from: str  # where the depth was read, "" when the file states none
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def n_rois(self) -> int:
        return int(self.rates.shape[1])

    @property
    def n_frames(self) -> int:
        return int(self.rates.shape[0])


@dataclass
class StimulusIntervals:
    """The session's stimulus intervals, by stimulus: (starts, stops) in seconds; and the tables read."""

    by_stimulus: dict[str, tuple[np.ndarray, np.ndarray]]
    tables: list[str]


def _text(value: Any) -> str | None:
    """An HDF5 attribute or scalar dataset value as a string (None for empty)."""
    if isinstance(value, h5py.Dataset):
        value = value[()]
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return None
        value = ";".join(_text(item) or "" for item in value.ravel()) if value.size > 1 else value.ravel()[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _field(group: h5py.Group, name: str) -> Any:
    """A field of a group: its dataset's value or its attribute (extension types use either)."""
    if name in group and isinstance(group[name], h5py.Dataset):
        return group[name][()]
    return group.attrs.get(name)


def read_session(handle: h5py.File) -> Session:
    """The session and subject facts of an open NWB file."""
    general = handle.get("general") or {}
    subject_group = general.get("subject") if hasattr(general, "get") else None
    names = ("subject_id", "species", "sex", "age", "date_of_birth", "genotype", "strain", "driver_line",
             "reporter_line", "description")
    subject = {name: _text(_field(subject_group, name)) if subject_group is not None else None for name in names}
    metadata: dict[str, Any] = {}
    for name, group in general.items() if hasattr(general, "items") else []:
        if not isinstance(group, h5py.Group) or name in ("subject", "devices", "optophysiology", "extracellular_ephys",
                                                         "intracellular_ephys"):
            continue
        if "neurodata_type" not in group.attrs:
            continue
        for key, value in group.attrs.items():
            if key not in ("neurodata_type", "namespace", "object_id", "help"):
                metadata[key] = _plain(value)
        for key, value in group.items():
            if isinstance(value, h5py.Dataset) and value.ndim == 0:
                metadata[key] = _plain(value[()])
    return Session(
        identifier=_text(handle.get("identifier")),
        session_id=_text(general.get("session_id")) if hasattr(general, "get") else None,
        session_start_time=_text(handle.get("session_start_time")),
        subject=subject,
        metadata=metadata,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    return value


def results_planes(handle: h5py.File, session: Session | None = None) -> list[Plane]:
    """Every results container of an open NWB file, in name order.

    Raises
    ------
    ResultsFileError
        When the file holds no ``processing/cascade`` results.
    """
    module = handle.get(RESULTS_MODULE)
    if module is None or not isinstance(module, h5py.Group):
        raise ResultsFileError("it holds no Cascade results (no processing/cascade module)")
    session = session or read_session(handle)
    planes = []
    for name in sorted(module):
        group = module[name]
        if not isinstance(group, h5py.Group) or _text(group.attrs.get("neurodata_type")) != "CascadeResults":
            continue
        if "spike_rates" not in group:
            raise ResultsFileError(f"{group.name} has no spike_rates (an interrupted run?); run the session again")
        planes.append(_plane(handle, group, session))
    if not planes:
        raise ResultsFileError("its processing/cascade module holds no CascadeResults container")
    return planes


def _plane(handle: h5py.File, group: h5py.Group, session: Session) -> Plane:
    rates_group = group["spike_rates"]
    rates = rates_group["data"]
    if rates.ndim != 2:
        raise ResultsFileError(f"{rates.name} is not frames × ROIs (shape {rates.shape})")
    n_frames, n_rois = rates.shape
    times, rate = _times(rates_group, n_frames)
    table = _roi_table(handle, rates_group)
    rows = np.asarray(rates_group["rois"][()], dtype=np.int64)
    ids = np.asarray(table["id"][()])[rows] if table is not None and "id" in table else rows
    cell_ids = None
    for column in ("cell_specimen_id", "global_roi_id"):
        if table is not None and column in table and isinstance(table[column], h5py.Dataset) \
                and table[column].ndim == 1 and len(table[column]) == len(table["id"]):
            cell_ids = np.asarray(table[column][()])[rows]
            break
    plane = _imaging_plane(table)
    location = _text(plane.get("location")) if plane is not None else None
    indicator = _text(plane.get("indicator")) if plane is not None else None
    depth, depth_from = _depth(session, plane)
    expected = {}
    for measure in ACCURACY:
        data = rates_group.get(f"expected_{measure}")
        expected[measure] = np.asarray(data[()], dtype=float) if data is not None else np.full(n_rois, np.nan)
    counts = None
    spikes = group.get("discrete_spikes")
    if spikes is not None and "spike_count" in spikes:
        counts = np.asarray(spikes["spike_count"][()], dtype=np.int64)
    source = group.get("source")
    dff = source.get("data") if isinstance(source, h5py.Group) else None
    if dff is not None and tuple(dff.shape) != (n_frames, n_rois):
        log.info("%s: its source series is %s, not frames × ROIs as its rates; ΔF/F correlations left out",
                 group.name, dff.shape)
        dff = None
    provenance = {key: text for key in ("source_url", "source_identifier", "source_series_path", "dandiset_id",
                                        "dandiset_version", "asset_id", "source_ids", "package_version", "model_name")
                  if (text := _text(group.attrs.get(key))) is not None}
    return Plane(
        container=group.name.lstrip("/"),
        source_series=provenance.get("source_series_path", ""),
        rates=rates,
        dff=dff,
        times=times,
        frame_rate=rate,
        model=_text(rates_group.attrs.get("model_name")) or provenance.get("model_name", ""),
        noise=np.asarray(rates_group["noise_levels"][()], dtype=float) if "noise_levels" in rates_group
        else np.full(n_rois, np.nan),
        expected=expected,
        spike_counts=counts,
        roi_rows=rows,
        roi_ids=ids,
        cell_ids=cell_ids,
        location=location,
        indicator=indicator,
        depth=depth,
        depth_from=depth_from,
        provenance=provenance,
    )


def _times(series: h5py.Group, n_frames: int) -> tuple[np.ndarray, float]:
    """Frame times and frame rate of a series: its timestamps (a link to the source's, usually), or its rate."""
    if "timestamps" in series:
        times = np.asarray(series["timestamps"][()], dtype=float)
        if times.size != n_frames:
            raise ResultsFileError(f"{series.name}: {times.size} timestamps for {n_frames} frames")
        steps = np.diff(times)
        rate = float(1.0 / np.median(steps)) if steps.size else float("nan")
        return times, rate
    start = series.get("starting_time")
    if start is None or "rate" not in start.attrs:
        raise ResultsFileError(f"{series.name} has neither timestamps nor a starting time and rate")
    rate = float(start.attrs["rate"])
    return float(start[()]) + np.arange(n_frames) / rate, rate


def _roi_table(handle: h5py.File, series: h5py.Group) -> h5py.Group | None:
    rois = series.get("rois")
    reference = rois.attrs.get("table") if rois is not None else None
    if reference is None:
        return None
    try:
        table = handle[reference]
    except (ValueError, KeyError, TypeError):
        return None
    return table if isinstance(table, h5py.Group) else None


def _imaging_plane(table: h5py.Group | None) -> h5py.Group | None:
    if table is None:
        return None
    plane = table.get("imaging_plane")
    return plane if isinstance(plane, h5py.Group) else None


def _depth(session: Session, plane: h5py.Group | None) -> tuple[float | None, str]:
    """The imaging depth (µm) the file states, and where; a lab-metadata field and a depth written in the
    plane's text that disagree give no depth (and a warning): the file contradicts itself."""
    stated: list[tuple[float, str]] = []
    for name in _DEPTH_FIELDS:
        value = session.metadata.get(name)
        if isinstance(value, (int, float)) and np.isfinite(value) and value > 0:
            stated.append((float(value), f"lab metadata {name}"))
    if plane is not None:
        for name in ("location", "description"):
            match = _DEPTH_TEXT.search(_text(plane.get(name)) or "")
            if match:
                stated.append((float(match.group(1)), f"imaging plane {name}"))
    if not stated:
        return None, ""
    values = {value for value, _ in stated}
    if len(values) > 1:
        log.warning("the file states different imaging depths (%s); depth left empty",
                    ", ".join(f"{value:g} µm in its {where}" for value, where in stated))
        return None, ""
    return stated[0][0], stated[0][1]


def stimulus_intervals(handle: h5py.File) -> StimulusIntervals | None:
    """The stimulus intervals of an open NWB file, by stimulus; None when it has none.

    The rule, in order:

    1. the interval tables of ``/intervals`` with a column naming each interval's stimulus
       (``stimulus_type``: the Visual Coding conversion's ``epochs``; ``stimulus_name``: the AllenSDK's
       ``<stimulus>_presentations``), grouped by that column's values;
    2. else the ``/intervals`` tables named ``<stimulus>_presentations``, by name;
    3. else the interval tables of ``/stimulus/presentation`` (the Visual Coding conversion's
       ``static_gratings``, ``drifting_gratings``, ``spontaneous_stimulus``), by name.

    Trials and invalid times are never stimulus intervals.  A later rule is only used when the earlier
    ones find nothing, so that one stimulus is never counted twice (the Visual Coding files hold their
    spontaneous blocks both as epochs and as ``spontaneous_stimulus``).
    """
    intervals = _tables(handle.get("intervals"))
    by_stimulus: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    used: list[str] = []
    for name, table in intervals:
        column = next((column for column in STIMULUS_COLUMNS if column in table), None)
        if column is None:
            continue
        starts, stops = _start_stop(table)
        labels = np.array([_text(value) or "" for value in table[column][()]], dtype=object)
        for label in dict.fromkeys(labels):
            if label:
                chosen = labels == label
                by_stimulus.setdefault(label, []).append((starts[chosen], stops[chosen]))
        used.append(table.name)
    if not by_stimulus:
        for name, table in intervals:
            if name.endswith(PRESENTATIONS_SUFFIX) and len(name) > len(PRESENTATIONS_SUFFIX):
                by_stimulus.setdefault(name[: -len(PRESENTATIONS_SUFFIX)], []).append(_start_stop(table))
                used.append(table.name)
    if not by_stimulus:
        for name, table in _tables(handle.get("stimulus/presentation")):
            by_stimulus.setdefault(name, []).append(_start_stop(table))
            used.append(table.name)
    if not by_stimulus:
        return None
    joined = {label: (np.concatenate([starts for starts, _ in parts]), np.concatenate([stops for _, stops in parts]))
              for label, parts in by_stimulus.items()}
    return StimulusIntervals(joined, used)


def _tables(group: Any) -> list[tuple[str, h5py.Group]]:
    """The interval tables (groups with ``start_time`` and ``stop_time``) directly in ``group``, by name;
    never trials or invalid times."""
    if not isinstance(group, h5py.Group):
        return []
    found = []
    for name in sorted(group):
        table = group[name]
        if name in ("trials", "invalid_times") or not isinstance(table, h5py.Group):
            continue
        if "start_time" in table and "stop_time" in table:
            found.append((name, table))
    return found


def _start_stop(table: h5py.Group) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(table["start_time"][()], dtype=float), np.asarray(table["stop_time"][()], dtype=float)


def source_ids(plane: Plane) -> dict[str, str]:
    """The source session's archive ids recorded with the results (``source_ids``), as a dict."""
    text = plane.provenance.get("source_ids")
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return {str(key): str(value) for key, value in found.items()} if isinstance(found, dict) else {}
