"""Writing Cascade results into NWB: in place (appending) or into a new standalone file.

Results for one input series are one :class:`CascadeResults` container in the
processing module ``cascade``, named after the series' path below ``processing``.

In place, nothing is left half-written: the container is written under a staging
name and renamed when complete; if anything fails on the way, everything the
write added (the staging group, a new ``cascade`` module, newly cached
namespaces, changed root attributes) is removed again.  A new file is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

import h5py
import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import DynamicTableRegion, VectorData, VectorIndex
from hdmf.data_utils import GenericDataChunkIterator
from pynwb import NWBHDF5IO, NWBFile
from pynwb.device import Device
from pynwb.file import Subject
from pynwb.ophys import ImageSegmentation, ImagingPlane, OpticalChannel, PlaneSegmentation, RoiResponseSeries

from .. import __version__
from ..cascade import CascadeModel, spike_times
from ..cascade.inference import threshold_mode
from .extension import CascadeDiscreteSpikes, CascadeResults, CascadeSpikeRates
from .read import SeriesInfo

log = logging.getLogger(__name__)

MODULE = "cascade"
PARTIAL_INFIX = ".partial-"  # temporary files of new outputs: .<stem>.partial-<random>.nwb
MODULE_DESCRIPTION = "Spike inference with Cascade (nwb-cascade)"
#: Target size of one compressed HDF5 chunk.
CHUNK_BYTES = 4 << 20
STAGING_SUFFIX = "__writing"


class NWBWriteError(OSError):
    """Results that cannot be written where asked, with what to do instead."""


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


class ArrayBlocks(GenericDataChunkIterator):
    """Chunk-wise writing of a large 2-D array (numpy view or h5py dataset) with ~4 MB chunks.

    ``scale`` multiplies each block as it is read (spikes per frame -> spikes/s),
    so neither a scaled nor a transposed full copy is ever held.
    """

    def __init__(self, array: Any, scale: float = 1.0, dtype: np.dtype | None = None) -> None:
        self.array = array
        self.scale = scale
        self.out_dtype = np.dtype(dtype or array.dtype)
        shape = tuple(array.shape)
        row_bytes = max(1, int(np.prod(shape[1:])) * self.out_dtype.itemsize)
        rows = int(max(1, min(shape[0], CHUNK_BYTES // row_bytes)))
        super().__init__(chunk_shape=(rows, *shape[1:]), buffer_shape=(rows, *shape[1:]), display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        block = np.asarray(self.array[selection], dtype=self.out_dtype)
        return block * self.out_dtype.type(self.scale) if self.scale != 1.0 else block

    def _get_maxshape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def _get_dtype(self) -> np.dtype:
        return self.out_dtype


def compressed(array: Any, scale: float = 1.0, dtype: np.dtype | None = None) -> H5DataIO:
    """``array`` wrapped for chunked, gzip-compressed writing."""
    return H5DataIO(data=ArrayBlocks(array, scale, dtype), compression="gzip", compression_opts=4)


def build_results(inference: Inference, series: RoiResponseSeries, name: str) -> CascadeResults:
    """The results container for ``inference``, on the ROIs and timing of ``series`` (in the target file)."""
    model = inference.model
    rois = series.rois
    timing: dict[str, Any] = (
        {"timestamps": series} if series.timestamps is not None
        else {"rate": float(series.rate), "starting_time": float(series.starting_time or 0.0)}
    )
    spike_rates = CascadeSpikeRates(
        name="spike_rates",
        data=compressed(inference.rates.T, scale=inference.frame_rate, dtype=np.float32),
        rois=DynamicTableRegion(name="rois", data=np.asarray(rois.data[:]), description=rois.description, table=rois.table),
        description=f"Spike rates inferred by Cascade from {inference.info.path}",
        comments="Frames without a full network window, or whose window touched a missing input frame, are NaN.",
        noise_levels=np.asarray(inference.noise_levels, dtype=np.float64),
        model_noise_levels=np.asarray(inference.model_levels, dtype=np.float64),
        model_name=model.name,
        model_frame_rate=model.frame_rate,
        smoothing=model.smoothing,
        threshold_mode=threshold_mode(inference.threshold),
        **timing,
    )
    discrete = None
    if inference.spike_frames is not None:
        discrete = discrete_spikes_table(inference, series)
    provenance = {key: value for key, value in inference.provenance.items() if value is not None}
    with warnings.catch_warnings():
        # hdmf warns that the regions' table shares no ancestor with the new container: true only
        # until the caller adds the container to the file, which it does next.
        warnings.filterwarnings("ignore", message="The linked table for DynamicTableRegion")
        return CascadeResults(
            name=name,
            spike_rates=spike_rates,
            discrete_spikes=discrete,
            source=series,
            package_version=__version__,
            model_name=model.name,
            model_checksum=model.checksum(),
            model_config=_config_text(model),
            run_time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **provenance,
        )


def discrete_spikes_table(inference: Inference, series: RoiResponseSeries) -> CascadeDiscreteSpikes:
    """One row per ROI: its region, spike times in seconds (ragged), spike count."""
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
    columns = [
        DynamicTableRegion(
            name="rois", data=np.asarray(series.rois.data[:]), description="the ROI of each row", table=series.rois.table
        ),
        spike_data,
        VectorIndex(name="spike_times_index", data=np.cumsum(counts), target=spike_data),
        VectorData(name="spike_count", data=counts, description="number of spikes of each ROI"),
    ]
    return CascadeDiscreteSpikes(name="discrete_spikes", id=np.arange(len(counts)), columns=columns)


def _config_text(model: CascadeModel) -> str:
    import yaml

    return yaml.safe_dump(dict(model.config), sort_keys=False)


# ------------------------------------------------------------------------------------------------
# In place


def check_writable(path: Path) -> None:
    """Refuse a read-only file before any work is done (also for root, who could write anyway)."""
    mode = path.stat().st_mode
    if not os.access(path, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise NWBWriteError(
            f"{path} is read-only, so results cannot be added in place; write them to a new file instead "
            "(--output OUT.nwb / output=...), or make the file writable if you mean to change it"
        )


def append_results(io: NWBHDF5IO, nwbfile: NWBFile, path: Path, build: Callable[[str], Any],
                   name: str, overwrite: bool, module_name: str = MODULE,
                   module_description: str = MODULE_DESCRIPTION) -> None:
    """Add the container ``build(staging_name)`` to ``path`` (open in ``io``, mode "a"), atomically,
    in the processing module ``module_name`` (created if absent).

    ``io`` is closed on return.  On any failure the file is restored to what it held before.
    """
    snapshot = _Snapshot.take(io._file, module_name)  # the h5py handle pynwb already holds
    staging = name + STAGING_SUFFIX
    try:
        module = nwbfile.processing.get(module_name)
        if module is None:
            module = nwbfile.create_processing_module(name=module_name, description=module_description)
        module.add(build(staging))
        io.write(nwbfile)
    except BaseException:
        _close_quietly(io)
        snapshot.restore(path, staging)
        raise
    io.close()
    with h5py.File(path, "r+") as handle:
        group = handle[f"processing/{module_name}"]
        if name in group:
            if not overwrite:  # checked before the run; a concurrent writer may have added it since
                del group[staging]
                raise NWBWriteError(f"results {name!r} appeared in {path} while this run was writing")
            del group[name]
        group.move(staging, name)


def _close_quietly(io: NWBHDF5IO) -> None:
    try:
        io.close()
    except Exception as error:  # the file may be in a bad state; the snapshot repairs it
        log.debug("closing after a failed write: %s", error)


@dataclass
class _Snapshot:
    """What an append can change: root attributes, cached namespaces, the processing module written to."""

    attrs: dict[str, Any]
    specs: dict[str, set[str]]
    had_module: bool
    module_keys: set[str]
    module_name: str = MODULE

    @classmethod
    def take(cls, handle: h5py.File, module_name: str = MODULE) -> _Snapshot:
        specs = {ns: set(group.keys()) for ns, group in handle.get("specifications", {}).items()}
        module = handle.get(f"processing/{module_name}")
        return cls(dict(handle.attrs), specs, module is not None, set(module.keys()) if module is not None else set(),
                   module_name)

    def restore(self, path: Path, staging: str) -> None:
        with h5py.File(path, "r+") as handle:
            module = handle.get(f"processing/{self.module_name}")
            if module is not None:
                if not self.had_module:
                    del handle[f"processing/{self.module_name}"]
                else:
                    for key in set(module.keys()) - self.module_keys:
                        del module[key]
            for ns, group in list(handle.get("specifications", {}).items()):
                if ns not in self.specs:
                    del handle["specifications"][ns]
                else:
                    for version in set(group.keys()) - self.specs[ns]:
                        del group[version]
            for key in set(handle.attrs) - set(self.attrs):
                del handle.attrs[key]
            for key, value in self.attrs.items():
                handle.attrs[key] = value
        log.info("restored %s after a failed write", path)


# ------------------------------------------------------------------------------------------------
# A new, standalone file


def write_standalone(source: NWBFile, inference: Inference, output: Path) -> Path:
    """A new NWB file with the session and subject metadata, the imaging plane, the ROI table,
    a copy of the source series, and the results; written under a temporary name, then renamed."""
    info = inference.info
    target = new_file_like(source)
    planes = info.series.rois.table
    new_planes = _copy_plane_segmentation(planes, copy_imaging_plane(planes.imaging_plane, target), target, info)
    series = _copy_series(info, new_planes, target)
    module = target.create_processing_module(name=MODULE, description=MODULE_DESCRIPTION)
    module.add(build_results(inference, series, info.name))
    return write_new_file(target, output)


def new_file_like(source: NWBFile) -> NWBFile:
    """An empty NWB file (new identifier) with the session and subject metadata of ``source``."""
    target = NWBFile(identifier=str(uuid4()), **_file_metadata(source))
    if source.subject is not None:
        target.subject = _copy_subject(source.subject)
    return target


def write_new_file(target: NWBFile, output: Path) -> Path:
    """Write ``target`` to ``output`` under a temporary name, renamed when complete."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}{PARTIAL_INFIX}{uuid4().hex[:8]}.nwb")
    try:
        with NWBHDF5IO(str(partial), "w") as io:
            io.write(target)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return output


def partial_files(output: Path) -> list[Path]:
    """Temporary files that interrupted :func:`write_new_file` calls for ``output`` left behind."""
    output = Path(output)
    return sorted(output.parent.glob(f".{output.stem}{PARTIAL_INFIX}*.nwb"))


def _simple_fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    values = {}
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            values[name] = list(value) if isinstance(value, (tuple, np.ndarray)) else value
    return values


def _file_metadata(source: NWBFile) -> dict[str, Any]:
    fields = _simple_fields(source, (
        "session_description", "session_start_time", "timestamps_reference_time", "experimenter",
        "experiment_description", "session_id", "institution", "lab", "keywords", "notes", "pharmacology",
        "protocol", "related_publications", "slices", "data_collection", "surgery", "virus", "stimulus_notes",
    ))
    if "keywords" in fields:
        fields["keywords"] = [str(k) for k in np.asarray(source.keywords[:]).ravel()]
    return fields


def _copy_subject(subject: Subject) -> Subject:
    names = ("subject_id", "age", "age__reference", "description", "genotype", "sex", "species", "strain",
             "weight", "date_of_birth")
    return Subject(**_simple_fields(subject, names))


def copy_imaging_plane(plane: ImagingPlane, target: NWBFile) -> ImagingPlane:
    device = plane.device
    new_device = target.create_device(**_simple_fields(device, ("name", "description"))) \
        if isinstance(device, Device) else None
    channels = [
        OpticalChannel(name=c.name, description=c.description, emission_lambda=float(c.emission_lambda))
        for c in plane.optical_channel
    ]
    optional = _simple_fields(plane, ("imaging_rate", "reference_frame", "conversion", "unit", "origin_coords_unit",
                                      "grid_spacing_unit"))
    for name in ("origin_coords", "grid_spacing"):
        value = getattr(plane, name, None)
        if value is not None:
            optional[name] = np.asarray(value[:])
    return target.create_imaging_plane(
        name=plane.name, optical_channel=channels, description=plane.description or "imaging plane",
        device=new_device, excitation_lambda=float(plane.excitation_lambda), indicator=plane.indicator,
        location=plane.location, **optional,
    )


def _copy_plane_segmentation(planes: PlaneSegmentation, plane: ImagingPlane, target: NWBFile,
                             info: SeriesInfo) -> PlaneSegmentation:
    """The ROI table with every column (masks included), in the same module and container as in the source."""
    module_name = info.path.split("/")[1]
    source_module = planes.parent.parent if planes.parent is not None else None
    module = target.processing.get(module_name) or target.create_processing_module(
        name=module_name, description=getattr(source_module, "description", None) or "optical physiology"
    )
    segmentation_name = planes.parent.name if planes.parent is not None else "ImageSegmentation"
    segmentation = module.data_interfaces.get(segmentation_name)
    if segmentation is None:
        segmentation = ImageSegmentation(name=segmentation_name)
        module.add(segmentation)
    indexed = {column.target.name: column for column in planes.columns if isinstance(column, VectorIndex)}
    columns, names = [], []
    for column in planes.columns:
        if isinstance(column, VectorIndex):
            continue
        if isinstance(column, DynamicTableRegion):
            log.warning("ROI table column %r refers to another table and is not copied", column.name)
            continue
        index = indexed.get(column.name)
        large = getattr(column.data, "ndim", 1) > 1 and index is None  # masks: copied chunk by chunk
        data = VectorData(name=column.name, description=column.description,
                          data=compressed(column.data) if large else np.asarray(column.data[:]))
        columns.append(data)
        names.append(column.name)
        if index is not None:
            columns.append(VectorIndex(name=index.name, data=np.asarray(index.data[:]), target=data))
    table = PlaneSegmentation(name=planes.name, description=planes.description, imaging_plane=plane,
                              id=planes.id.data[:].tolist(), columns=columns, colnames=names)
    segmentation.add_plane_segmentation(table)
    return table


def _copy_series(info: SeriesInfo, planes: PlaneSegmentation, target: NWBFile) -> RoiResponseSeries:
    """A copy of the source series (data copied chunk by chunk) in the same module and container."""
    source = info.series
    _, module_name, container_name, _ = info.path.split("/")
    container_type = type(source.parent)
    timing = (
        {"timestamps": np.asarray(source.timestamps[:])} if source.timestamps is not None
        else {"rate": float(source.rate), "starting_time": float(source.starting_time or 0.0)}
    )
    container = container_type(name=container_name)
    target.processing[module_name].add(container)
    return container.create_roi_response_series(
        name=source.name,
        data=compressed(source.data),
        rois=planes.create_roi_table_region(region=[int(i) for i in source.rois.data[:]],
                                            description=source.rois.description),
        unit=source.unit,
        description=source.description,
        comments=source.comments,
        conversion=float(source.conversion),
        **timing,
    )
