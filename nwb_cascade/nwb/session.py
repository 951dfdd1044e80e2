"""A new NWB file like a source session, whatever is added to it: its metadata, imaging planes, ROI tables and
series copied where they were (chunk by chunk), written under a temporary name and renamed when complete; and
the in-place helpers that add containers to a processing module of a working copy or remove groups from it.

Nothing here knows what is added: the Cascade results (:mod:`nwb_cascade.nwb.write`) and the denoised movie
(:mod:`nwb_cascade.nwb.denoised`, the denoising workflow) both build on it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from uuid import uuid4

import h5py
import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import DynamicTableRegion, VectorData, VectorIndex
from hdmf.data_utils import GenericDataChunkIterator
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import ProcessingModule
from pynwb.device import Device
from pynwb.file import Subject
from pynwb.ophys import (
    DfOverF,
    Fluorescence,
    ImageSegmentation,
    ImagingPlane,
    OpticalChannel,
    PlaneSegmentation,
    RoiResponseSeries,
)

from ..common.files import atomic_write, partial_files
from .inplace import checkpoint, compact, ensure_free_space
from .read import DFF, SeriesInfo

log = logging.getLogger(__name__)

#: Target size of one compressed HDF5 chunk.
CHUNK_BYTES = 4 << 20
#: Suffix of the staging groups that versions before 0.2 wrote in place (removed when found).
STAGING_SUFFIX = "__writing"


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


def compressed(array: Any, scale: float = 1.0, dtype: np.dtype | None = None, *, whole: bool = False) -> H5DataIO:
    """``array`` wrapped for chunked, gzip-compressed writing: block by block, or (``whole``, for stores that take
    no growing datasets, such as LINDI's) as one array."""
    blocks = ArrayBlocks(array, scale, dtype)
    if whole:
        data = np.ascontiguousarray(np.asarray(array, dtype=blocks.out_dtype) * blocks.out_dtype.type(scale))
        return H5DataIO(data=data, compression="gzip", compression_opts=4, chunks=blocks.chunk_shape)
    return H5DataIO(data=blocks, compression="gzip", compression_opts=4)


# ------------------------------------------------------------------------------------------------
# In place (on a working copy, see nwb/inplace.py)


def add_to_module(nwbfile: NWBFile, containers: list[Any], module_name: str, description: str) -> None:
    """Add ``containers`` to the processing module ``module_name`` (created if absent)."""
    module = nwbfile.processing.get(module_name)
    if module is None:
        module = nwbfile.create_processing_module(name=module_name, description=description)
    for container in containers:
        module.add(container)


def remove_groups(path: Path, module_name: str, names: list[str]) -> None:
    """Delete results ``names`` (being replaced) from ``processing/module_name`` of the working copy ``path``,
    and any staging group (``*__writing``) that versions before 0.2 left there when interrupted; then rewrite
    the copy without the space they held (:func:`~nwb_cascade.nwb.inplace.compact`), so that replacing
    results never grows the file."""
    removed = 0
    with h5py.File(path, "r+") as handle:
        module = handle.get(f"processing/{module_name}")
        if module is None:
            return
        for name in list(module):
            if name in names or name.endswith(STAGING_SUFFIX):
                if name.endswith(STAGING_SUFFIX):
                    log.info("removing %s, left half-written by an interrupted run of an earlier version", name)
                del module[name]
                removed += 1
    if removed:
        compact(path)


# ------------------------------------------------------------------------------------------------
# A new file like the source


def new_file_like(source: NWBFile) -> NWBFile:
    """An empty NWB file (new identifier) with the session metadata of ``source``: its fields, its subject
    (of the subject's own type, extension types included) and its lab metadata."""
    target = NWBFile(identifier=str(uuid4()), **_file_metadata(source))
    if source.subject is not None:
        target.subject = _copy_subject(source.subject)
    for metadata in source.lab_meta_data.values():
        copied = copy_simple_container(metadata)
        if copied is None:
            log.warning("lab metadata %r (%s) holds nested objects and is not copied", metadata.name,
                        type(metadata).__name__)
        else:
            target.add_lab_meta_data(copied)
    return target


def write_new_file(target: NWBFile, output: Path, needed_bytes: int = 0) -> Path:
    """Write ``target`` to ``output`` under a temporary name, renamed when complete.

    Temporary files that killed runs left for the same output are removed first; ``needed_bytes``
    (an estimate of the file's size) must be free, or nothing is written.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    for stale in partial_files(output, stale_only=True):
        log.info("removing %s, left by an interrupted run", stale)
        stale.unlink(missing_ok=True)
    ensure_free_space(output.parent, needed_bytes, str(output))
    with atomic_write(output) as partial:
        with NWBHDF5IO(str(partial), "w") as io:
            io.write(target)
        checkpoint("partial-written")
    return output


def _plain(value: Any) -> Any:
    """A field value as something a new container accepts: datasets read, arrays and tuples as lists."""
    if isinstance(value, h5py.Dataset):
        value = value[()]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.dtype.kind in "OUS" else value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode()
    return value


def copy_simple_container(obj: Any) -> Any | None:
    """A copy of a container whose fields are plain values (no child objects), of its own type
    (extension types included: their namespace is cached in the new file); None if it has children."""
    from hdmf.container import AbstractContainer
    from hdmf.utils import get_docval

    accepted = {argument["name"] for argument in get_docval(type(obj).__init__)}
    values = {"name": obj.name} if "name" in accepted else {}
    for key, value in obj.fields.items():
        if isinstance(value, AbstractContainer) or (isinstance(value, (list, tuple)) and value
                                                     and isinstance(value[0], AbstractContainer)):
            return None
        values[key] = _plain(value)
    try:
        return type(obj)(**values)
    except Exception as error:  # a type whose constructor does not take its fields back
        log.warning("%s %r could not be copied as itself (%s)", type(obj).__name__, obj.name, error)
        return None


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
        "source_script", "source_script_file_name",
    ))
    if "keywords" in fields:
        fields["keywords"] = [str(k) for k in np.asarray(source.keywords[:]).ravel()]
    return fields


def _copy_subject(subject: Subject) -> Subject:
    """The subject as its own type (e.g. the AllenSDK's BehaviorSubject), else as a plain Subject."""
    copied = copy_simple_container(subject)
    if copied is not None:
        return copied
    names = ("subject_id", "age", "age__reference", "description", "genotype", "sex", "species", "strain",
             "weight", "date_of_birth")
    log.warning("subject of type %s copied as a plain Subject", type(subject).__name__)
    return Subject(**_simple_fields(subject, names))


def copy_imaging_plane(plane: ImagingPlane, target: NWBFile) -> ImagingPlane:
    """The imaging plane (with its device and optical channels) in ``target``, made once per name."""
    if plane.name in target.imaging_planes:
        return target.imaging_planes[plane.name]
    device = plane.device
    new_device = None
    if isinstance(device, Device):
        new_device = target.devices.get(device.name) or target.create_device(
            **_simple_fields(device, ("name", "description", "manufacturer")))
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


class SessionCopy:
    """Copies of a source file's ROI tables and series into a new file, each made once, where they were."""

    def __init__(self, target: NWBFile) -> None:
        self.target = target
        self.tables: dict[int, PlaneSegmentation] = {}
        self.series_copies: dict[int, RoiResponseSeries] = {}

    def module(self, name: str, description: str | None) -> Any:
        return self.target.processing.get(name) or self.target.create_processing_module(
            name=name, description=description or "optical physiology")

    def table(self, planes: PlaneSegmentation) -> PlaneSegmentation:
        """The ROI table with every column (masks included), in the same module and container as in the source."""
        if id(planes) in self.tables:
            return self.tables[id(planes)]
        holder = planes.parent
        direct = isinstance(holder, ProcessingModule)
        source_module = holder if direct else getattr(holder, "parent", None)
        module = self.module(getattr(source_module, "name", "ophys"), getattr(source_module, "description", None))
        plane = copy_imaging_plane(planes.imaging_plane, self.target)
        table = PlaneSegmentation(name=planes.name, description=planes.description, imaging_plane=plane,
                                  id=planes.id.data[:].tolist(), **_table_columns(planes))
        if direct:
            module.add(table)
        else:
            name = getattr(holder, "name", "ImageSegmentation")
            segmentation = module.data_interfaces.get(name)
            if segmentation is None:
                segmentation = ImageSegmentation(name=name)
                module.add(segmentation)
            segmentation.add_plane_segmentation(table)
        self.tables[id(planes)] = table
        return table

    def series(self, info: SeriesInfo) -> RoiResponseSeries:
        """A copy of a series (data copied chunk by chunk), in the module and container it was in."""
        source = info.series
        if id(source) in self.series_copies:
            return self.series_copies[id(source)]
        table = self.table(source.rois.table)
        parts = info.path.split("/")
        source_module = source.parent if len(parts) == 3 else source.parent.parent
        module = self.module(parts[1], getattr(source_module, "description", None))
        timing = (
            {"timestamps": np.asarray(source.timestamps[:])} if source.timestamps is not None
            else {"rate": float(source.rate), "starting_time": float(source.starting_time or 0.0)}
        )
        data = compressed(source.data)
        if info.transposed:
            data = compressed(np.asarray(source.data[:]).T)
        copy = RoiResponseSeries(
            name=source.name, data=data,
            rois=table.create_roi_table_region(region=[int(i) for i in source.rois.data[:]],
                                               description=source.rois.description),
            unit=source.unit, description=source.description, comments=source.comments, **_scaling(source),
            **_control(source), **timing,
        )
        if len(parts) == 3:
            module.add(copy)
        else:
            container = module.data_interfaces.get(parts[2])
            if container is None:
                kind = type(source.parent) if isinstance(source.parent, (DfOverF, Fluorescence)) else \
                    (DfOverF if info.role == DFF else Fluorescence)
                container = kind(name=parts[2])
                module.add(container)
            container.add_roi_response_series(copy)
        self.series_copies[id(source)] = copy
        return copy


def _scaling(series: RoiResponseSeries) -> dict[str, float]:
    """What turns a series' stored numbers into its values, as written: conversion, offset and resolution."""
    return {name: float(getattr(series, name)) for name in ("conversion", "offset", "resolution")
            if getattr(series, name, None) is not None}


def _control(series: RoiResponseSeries) -> dict[str, Any]:
    """The series' control (condition of each frame) and its description, where it has them."""
    if getattr(series, "control", None) is None:
        return {}
    return {"control": np.asarray(series.control[:]), "control_description": list(series.control_description)}


def _table_columns(planes: PlaneSegmentation) -> dict[str, Any]:
    """Every column of a ROI table as new VectorData (masks copied chunk by chunk), with their indexes."""
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
    return {"columns": columns, "colnames": names}
