"""Writing Cascade results into NWB: in place (appending) or into a new standalone file.

Results for one input series are one :class:`CascadeResults` container in the
processing module ``cascade``, named after the series' path below ``processing``.

In place, the results are added to a working copy that replaces the file when
complete (:mod:`nwb_cascade.nwb.inplace`).  A new file holds a copy of the session's parts the results refer
to (:mod:`nwb_cascade.nwb.session`), written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.common import DynamicTableRegion, VectorData, VectorIndex
from pynwb import NWBFile
from pynwb.ophys import DfOverF, RoiResponseSeries

from ..cascade import CascadeModel, spike_times
from ..cascade.inference import threshold_mode
from ..common.version import __version__
from .extension import CascadeDiscreteSpikes, CascadeResults, CascadeSpikeRates
from .read import SeriesInfo
from .session import SessionCopy, compressed, new_file_like, write_new_file

log = logging.getLogger(__name__)

MODULE = "cascade"
MODULE_DESCRIPTION = "Spike inference with Cascade (nwb-cascade)"



@dataclass
class Inference:
    """What the engine computed for one series, and where it came from."""

    info: SeriesInfo
    frame_rate: float
    rates: np.ndarray  # ROIs × frames, spikes per frame
    noise_levels: np.ndarray
    model_levels: np.ndarray
    model: CascadeModel
    threshold: Any
    spike_frames: list[np.ndarray] | None
    provenance: dict[str, str] = field(default_factory=dict)
    dff: np.ndarray | None = None  # ROIs × frames ΔF/F computed from fluorescence, if it was


def build_results(inference: Inference, series: RoiResponseSeries, name: str, *, whole: bool = False) -> CascadeResults:
    """The results container for ``inference``, on the ROIs and timing of ``series`` (in the target file); with
    ``whole``, its arrays are written in one piece (see :func:`compressed`).

    When ΔF/F was computed from fluorescence, it is kept in the container (a ``DfOverF``
    named ``dff``) and ``source`` links to it: the series the spikes were inferred from.
    """
    model = inference.model
    timing = _timing_link(series)
    expected = {} if model.accuracy is None else \
        {f"expected_{name}": values for name, values in model.accuracy.at(inference.noise_levels).items()}
    spike_rates = CascadeSpikeRates(
        name="spike_rates",
        unit="spikes/s",
        data=compressed(inference.rates.T, scale=inference.frame_rate, dtype=np.float32, whole=whole),
        rois=_region(series, series.rois.description),
        description=f"Spike rates inferred by Cascade from {inference.info.path}",
        comments="Frames without a full network window, or whose window touched a missing input frame, are NaN.",
        noise_levels=np.asarray(inference.noise_levels, dtype=np.float64),
        model_noise_levels=np.asarray(inference.model_levels, dtype=np.float64),
        model_name=model.name,
        model_frame_rate=model.frame_rate,
        smoothing=model.smoothing,
        threshold_mode=threshold_mode(inference.threshold),
        **expected,
        **timing,
    )
    discrete = None
    if inference.spike_frames is not None:
        discrete = discrete_spikes_table(inference, series)
    dff, source = None, series
    if inference.dff is not None:
        dff = DfOverF(name="dff")
        source = dff.create_roi_response_series(
            name=series.name,
            data=compressed(inference.dff.T, dtype=np.float32, whole=whole),
            rois=_region(series, "the ROIs of the fluorescence series"),
            unit="n.a.",
            description=f"ΔF/F computed by nwb-cascade from {inference.info.path} (recipe: the results' dff_recipe)",
            **timing,
        )
    provenance = {key: value for key, value in inference.provenance.items() if value is not None}
    with warnings.catch_warnings():
        # hdmf warns that the regions' table shares no ancestor with the new container: true only
        # until the caller adds the container to the file, which it does next.
        warnings.filterwarnings("ignore", message="The linked table for DynamicTableRegion")
        return CascadeResults(
            name=name,
            spike_rates=spike_rates,
            discrete_spikes=discrete,
            dff=dff,
            source=source,
            package_version=__version__,
            model_name=model.name,
            model_checksum=model.checksum(),
            model_config=_config_text(model),
            source_series_path=inference.info.path,
            run_time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **provenance,
        )


def _timing_link(series: RoiResponseSeries) -> dict[str, Any]:
    """Timing on ``series``: its timestamps (linked), or its rate and starting time."""
    if series.timestamps is not None:
        return {"timestamps": series}
    return {"rate": float(series.rate), "starting_time": float(series.starting_time or 0.0)}


def _region(series: RoiResponseSeries, description: str) -> DynamicTableRegion:
    rois = series.rois
    return DynamicTableRegion(name="rois", data=np.asarray(rois.data[:]), description=description, table=rois.table)


def discrete_spikes_table(inference: Inference, series: RoiResponseSeries) -> CascadeDiscreteSpikes:
    """One row (unit) per ROI: its region and id, spike times in seconds (ragged), spike count.

    The table's ``resolution`` (the smallest possible difference between two spike times, which
    nwbinspector and DANDI ask Units tables for) is one frame: spikes are placed on the frame grid.
    """
    stamps = None if series.timestamps is None else np.asarray(series.timestamps[:], dtype=float)
    times = [
        spike_times(frames, timestamps=stamps, rate=series.rate, starting_time=float(series.starting_time or 0.0))
        for frames in inference.spike_frames
    ]
    counts = np.array([len(t) for t in times], dtype=np.int64)
    spike_data = VectorData(
        name="spike_times",
        data=np.concatenate(times) if times else np.zeros(0),
        description="spike times (s) of each ROI, on the session's time base",
    )
    rows = np.asarray(series.rois.data[:])
    columns = [
        spike_data,
        VectorIndex(name="spike_times_index", data=np.cumsum(counts), target=spike_data),
        DynamicTableRegion(name="rois", data=rows, description="the ROI of each row", table=series.rois.table),
        VectorData(name="roi_id", data=np.asarray(series.rois.table.id[:], dtype=np.int64)[rows],
                   description="the id of each row's ROI in its PlaneSegmentation"),
        VectorData(name="spike_count", data=counts, description="number of spikes of each ROI"),
    ]
    return CascadeDiscreteSpikes(name="discrete_spikes", id=np.arange(len(counts)), columns=columns,
                                 resolution=1.0 / float(inference.frame_rate),
                                 description="Discrete spikes fitted to Cascade spike rates (one row per ROI).")


def _config_text(model: CascadeModel) -> str:
    import yaml

    return yaml.safe_dump(dict(model.config), sort_keys=False)


# ------------------------------------------------------------------------------------------------
# A new, standalone file


def write_standalone(source: NWBFile, inferences: list[Inference], neuropils: list[SeriesInfo | None],
                     output: Path) -> Path:
    """A new NWB file with what a reader of the results looks for in the session: its metadata (subject
    of its own type, lab metadata), the imaging planes, the ROI tables where they were, a copy of each
    input series (and of the neuropil series it was corrected with), and one results container per plane;
    written under a temporary name, then renamed."""
    target = new_file_like(source)
    copier = SessionCopy(target)
    module = target.create_processing_module(name=MODULE, description=MODULE_DESCRIPTION)
    for inference, neuropil in zip(inferences, neuropils):
        series = copier.series(inference.info)
        if neuropil is not None:
            copier.series(neuropil)
        module.add(build_results(inference, series, inference.info.name))
    needed = sum(inference.rates.nbytes * (3 if inference.dff is not None else 2) for inference in inferences)
    return write_new_file(target, output, needed)
