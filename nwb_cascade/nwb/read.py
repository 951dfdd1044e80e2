"""Finding ΔF/F series in NWB files, their frame rates, and reading their traces.

Input series are found by type, not by path: every ``RoiResponseSeries`` inside a
``DfOverF`` or ``Fluorescence`` container of any processing module (converters put
ΔF/F in either; the Allen Visual Coding layout has ``processing/ophys/DfOverF/DfOverF``,
Visual Behavior ``processing/ophys/dff/traces``).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from pynwb import NWBFile
from pynwb.ophys import DfOverF, Fluorescence, RoiResponseSeries

log = logging.getLogger(__name__)

#: Frames read at once when transposing frames × ROIs data into ROIs × frames.
READ_BLOCK_BYTES = 32 << 20
#: Relative spread of frame intervals beyond which timestamps count as irregular.
IRREGULAR_SPREAD = 0.05


class NWBInputError(ValueError):
    """An NWB file or series that cannot be used as given, with what to do about it."""


class IrregularTimestampsWarning(UserWarning):
    """Frame intervals that vary more than a few percent."""


@dataclass
class SeriesInfo:
    """A candidate input series."""

    path: str  # e.g. "processing/ophys/DfOverF/DfOverF"
    kind: str  # "DfOverF" or "Fluorescence"
    series: RoiResponseSeries

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.series.data.shape)

    @property
    def n_rois(self) -> int:
        return len(self.series.rois.data)

    @property
    def n_frames(self) -> int:
        return int(self.shape[0]) if self.shape else 0

    @property
    def unit(self) -> str:
        return str(self.series.unit)

    @property
    def name(self) -> str:
        """A container name for results: the path below ``processing``, joined by underscores."""
        return "_".join(self.path.split("/")[1:])


def find_series(nwbfile: NWBFile) -> list[SeriesInfo]:
    """Every RoiResponseSeries in a DfOverF or Fluorescence container of any processing module."""
    found = []
    for module_name, module in nwbfile.processing.items():
        for container_name, container in module.data_interfaces.items():
            if isinstance(container, (DfOverF, Fluorescence)):
                kind = "DfOverF" if isinstance(container, DfOverF) else "Fluorescence"
                for series_name, series in container.roi_response_series.items():
                    path = f"processing/{module_name}/{container_name}/{series_name}"
                    found.append(SeriesInfo(path, kind, series))
    return found


def choose_series(nwbfile: NWBFile, path: str | None = None) -> SeriesInfo:
    """The series to process: the one at ``path``, else the file's only ΔF/F series.

    Raises
    ------
    NWBInputError
        No RoiResponseSeries at all, no series at ``path``, or several candidates
        and no clear default (the message lists them).
    """
    candidates = find_series(nwbfile)
    if not candidates:
        raise NWBInputError(
            "this file holds no RoiResponseSeries in a DfOverF or Fluorescence container of any processing "
            "module, so there are no calcium traces to infer spikes from"
        )
    listing = "\n".join(f"  {info.path} ({info.kind}, {info.n_rois} ROIs x {info.n_frames} frames)" for info in candidates)
    if path is not None:
        wanted = path.strip("/")
        for info in candidates:
            if info.path == wanted or info.path.endswith("/" + wanted):
                return info
        raise NWBInputError(f"no RoiResponseSeries at {path!r}; the candidates are:\n{listing}")
    dff = [info for info in candidates if info.kind == "DfOverF"]
    if len(dff) == 1:
        return dff[0]
    if not dff and len(candidates) == 1:
        return candidates[0]
    raise NWBInputError(
        f"{len(candidates)} candidate series and no single ΔF/F (DfOverF) series to default to; choose one with "
        f"--series PATH (series=PATH):\n{listing}"
    )


def frame_rate(series: RoiResponseSeries) -> float:
    """Frames per second: the series' ``rate``, or 1 / the median interval of its timestamps.

    Warns (:class:`IrregularTimestampsWarning`) when intervals vary by more than 5%
    of the median or some frames are missing.
    """
    if series.rate is not None:
        return float(series.rate)
    if series.timestamps is None:
        raise NWBInputError(f"series {series.name!r} has neither rate nor timestamps; the file is malformed")
    stamps = np.asarray(series.timestamps[:], dtype=float)
    if stamps.size < 2:
        raise NWBInputError(f"series {series.name!r} has {stamps.size} timestamp(s): too short to know its frame rate")
    intervals = np.diff(stamps)
    median = float(np.median(intervals))
    if not median > 0:
        raise NWBInputError(f"series {series.name!r}: timestamps do not increase (median interval {median})")
    off = np.abs(intervals - median) > IRREGULAR_SPREAD * median
    if off.any():
        gaps = int(np.sum(intervals > 1.5 * median))
        warnings.warn(
            f"series {series.name!r}: {int(off.sum())} of {intervals.size} frame intervals differ from the median "
            f"({median * 1e3:.2f} ms) by more than 5%" + (f", {gaps} look like dropped frames" if gaps else "")
            + "; the frame rate is taken from the median interval.",
            IrregularTimestampsWarning,
            stacklevel=2,
        )
    return 1.0 / median


def read_traces(info: SeriesInfo) -> np.ndarray:
    """The series' data as ROIs × frames float32, read and transposed in blocks of frames.

    Raises
    ------
    NWBInputError
        Data that is not 2-D, or stored ROIs × frames (the wrong way round for NWB).
    """
    data = info.series.data
    shape = tuple(data.shape)
    n_rois = info.n_rois
    if len(shape) != 2:
        if len(shape) == 1 and n_rois == 1:
            shape = (shape[0], 1)
        else:
            raise NWBInputError(f"{info.path}: data has shape {shape}; a RoiResponseSeries is frames x ROIs")
    if shape[1] != n_rois:
        if shape[0] == n_rois:
            raise NWBInputError(
                f"{info.path}: data is stored ROIs x frames {shape}, the wrong way round: NWB stores frames x ROIs "
                f"(its rois region has {n_rois} entries). Rewrite the series with its data transposed."
            )
        raise NWBInputError(f"{info.path}: data has {shape[1]} columns but its rois region has {n_rois} entries")
    n_frames = shape[0]
    out = np.empty((n_rois, n_frames), dtype=np.float32)
    block = max(1, READ_BLOCK_BYTES // max(1, 4 * n_rois))
    for start in range(0, n_frames, block):
        stop = min(n_frames, start + block)
        chunk = np.asarray(data[start:stop], dtype=np.float32)
        out[:, start:stop] = chunk.reshape(stop - start, n_rois).T
    return out


def timestamps_of(series: RoiResponseSeries) -> np.ndarray | None:
    """The series' timestamps, if it has them (else it has ``rate`` and ``starting_time``)."""
    return None if series.timestamps is None else np.asarray(series.timestamps[:], dtype=float)
