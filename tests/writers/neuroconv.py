"""NWB files written by NeuroConv 0.10 and roiextractors 0.10, run for real, and by pynwb's own mocks;
and an HDF5 file exported to NWB Zarr with hdmf-zarr, as the Allen Institute's ``.nwb.zarr`` conversions are.

Traces are ROIs x frames numpy arrays with roiextractors' names: ``raw``, ``neuropil``, ``deconvolved``,
``denoised``, ``baseline``, ``dff``.  The facts each layout rests on (paths, names, units, where each
comes from in the writers' code) are in ``FACTS.md`` beside this module.  All code here is this
project's own; the writers were read for facts only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import SESSION_START_TIME, _check_traces, _select_dff, make_masks


# --------------------------------------------------------------------------------------------------
# NeuroConv: an interface over arrays we control
# --------------------------------------------------------------------------------------------------
def _array_extractor_class():
    from roiextractors import NumpySegmentationExtractor
    from roiextractors.segmentationextractor import _RoiResponse

    class ArraySegmentationExtractor(NumpySegmentationExtractor):
        """roiextractors' NumpySegmentationExtractor, plus the ``denoised`` and ``baseline`` responses.

        NumpySegmentationExtractor (roiextractors 0.10.0, extractors/numpyextractors/numpyextractors.py)
        takes raw, dff, deconvolved and neuropil only; the other two trace kinds NeuroConv writes
        (``denoised``, ``baseline``, see SegmentationExtractor.get_traces_dict) are registered the way
        the format extractors register theirs, as ``_RoiResponse`` entries.
        """

        extractor_name = "ArraySegmentationExtractor"

        def __init__(self, image_masks, sampling_frequency, denoised=None, baseline=None, **kwargs):
            kwargs.setdefault("channel_names", ["OpticalChannel"])
            super().__init__(image_masks=image_masks, sampling_frequency=sampling_frequency, **kwargs)
            roi_ids = list(self.get_roi_ids())
            for response_type, data in (("denoised", denoised), ("baseline", baseline)):
                if data is not None:
                    self._roi_responses.append(_RoiResponse(response_type, data, roi_ids))

    return ArraySegmentationExtractor


def _array_interface_class():
    from neuroconv.datainterfaces.ophys.basesegmentationextractorinterface import (
        BaseSegmentationExtractorInterface,
    )

    extractor_class = _array_extractor_class()

    class ArraySegmentationInterface(BaseSegmentationExtractorInterface):
        """A NeuroConv segmentation interface over arrays, for fixtures.

        Built like NeuroConv's own ``MockSegmentationInterface`` (neuroconv 0.10.2,
        tools/testing/mock_interfaces.py): a ``BaseSegmentationExtractorInterface`` whose extractor is
        built from arrays, but the arrays are ours instead of random ones.  Writing goes through the
        unmodified ``BaseSegmentationExtractorInterface.add_to_nwbfile`` ->
        ``neuroconv.tools.roiextractors.add_segmentation_to_nwbfile``.

        ``name_suffix`` reproduces the names NeuroConv's Suite2p interface gives a plane when there is
        more than one plane or channel (``Suite2pSegmentationInterface.get_metadata``, suffix such as
        ``Chan1Plane0``).  With an empty suffix only the PlaneSegmentation entry is stated, as the mock
        interface does, and every other name comes from NeuroConv's placeholders.
        """

        display_name = "Array segmentation (nwb-cascade fixture)"

        @classmethod
        def get_extractor_class(cls):
            return extractor_class

        def __init__(self, *, name_suffix: str = "", metadata_key: str = "array_segmentation", **arrays):
            self.name_suffix = name_suffix
            super().__init__(verbose=False, metadata_key=metadata_key, **arrays)

        def get_metadata(self, *, use_new_metadata_format: bool = True):
            metadata = super().get_metadata(use_new_metadata_format=use_new_metadata_format)
            metadata["NWBFile"]["session_start_time"] = SESSION_START_TIME
            if not use_new_metadata_format:
                return metadata
            suffix = self.name_suffix
            key = self.metadata_key
            ophys = {
                "PlaneSegmentations": {
                    key: {"name": f"PlaneSegmentation{suffix}", "description": "Segmentation data from arrays."}
                }
            }
            if suffix:
                rate = float(self.segmentation_extractor.get_sampling_frequency())
                ophys["ImagingPlanes"] = {key: {"name": f"ImagingPlane{suffix}", "imaging_rate": rate}}
                ophys["PlaneSegmentations"][key]["imaging_plane_metadata_key"] = key
                base_names = {
                    "raw": "RoiResponseSeries",
                    "neuropil": "Neuropil",
                    "deconvolved": "Deconvolved",
                    "denoised": "Denoised",
                    "baseline": "Baseline",
                    "dff": "DfOverF",
                }
                available = self.segmentation_extractor.get_traces_dict()
                ophys["RoiResponses"] = {
                    key: {
                        trace: {"name": base + suffix}
                        for trace, base in base_names.items()
                        if available.get(trace) is not None
                    }
                }
            metadata["Ophys"] = ophys
            return metadata

    return ArraySegmentationInterface


def _interface_arrays(traces: dict, masks: np.ndarray, rate: float) -> dict:
    """Arguments for the array extractor: masks to (H, W, n), traces to (frames, n)."""
    arrays = {"image_masks": np.moveaxis(np.asarray(masks), 0, -1), "sampling_frequency": float(rate)}
    for key, value in traces.items():
        arrays[key] = np.ascontiguousarray(np.asarray(value).T)
    return arrays


def _write_neuroconv_planes(path, plane_traces, rate, masks, name_suffixes, compressor: str | None = None) -> Path:
    """Run the interfaces through a ``ConverterPipe``; with ``compressor`` (a compression method NeuroConv's
    HDF5 backend configuration offers: ``"gzip"``, and with hdf5plugin installed ``"Blosc"``, ``"Zstd"``,
    ``"LZ4"``...), every numeric dataset (traces, masks) is written with it, as NeuroConv's documented way of choosing one does:
    ``get_default_backend_configuration``, set each dataset configuration's ``compressors``, then
    ``configure_and_write_nwbfile`` (neuroconv 0.10.2, ``tools/nwb_helpers``)."""
    from neuroconv import ConverterPipe

    interface_class = _array_interface_class()
    interfaces = {}
    for index, (traces, plane_masks, suffix) in enumerate(zip(plane_traces, masks, name_suffixes)):
        interfaces[f"plane{index}"] = interface_class(
            name_suffix=suffix,
            metadata_key=f"array_segmentation_plane{index}",
            **_interface_arrays(traces, plane_masks, rate),
        )
    converter = ConverterPipe(data_interfaces=interfaces)
    metadata = converter.get_metadata()
    metadata["NWBFile"]["session_start_time"] = SESSION_START_TIME
    if compressor is None:
        converter.run_conversion(nwbfile_path=str(path), metadata=metadata, overwrite=True)
        return Path(path)
    from neuroconv.tools.nwb_helpers import configure_and_write_nwbfile

    nwbfile = converter.create_nwbfile(metadata=metadata)
    configuration = converter.get_default_backend_configuration(nwbfile=nwbfile, backend="hdf5")
    for dataset in configuration.dataset_configurations.values():
        if dataset.dtype.kind in "iuf":  # numbers only: hdf5plugin's Blosc on NeuroConv's string column roi_name
            dataset.compressors = [compressor]  # stops the writing process (SIGFPE, hdf5plugin 7.1)
            dataset.compressor_options = None
    configure_and_write_nwbfile(nwbfile, nwbfile_path=str(path), backend_configuration=configuration)
    return Path(path)


# --------------------------------------------------------------------------------------------------
# 1. NeuroConv segmentation (mock / arrays)
# --------------------------------------------------------------------------------------------------
def write_neuroconv_mock_segmentation(
    path,
    traces: dict[str, np.ndarray],
    rate: float,
    planes: int = 1,
    with_dff: bool | None = None,
    *,
    via: str = "interface",
    masks: np.ndarray | None = None,
    frame_shape: tuple[int, int] = (32, 32),
    compressor: str | None = None,
) -> Path:
    """Write ``traces`` with NeuroConv 0.10.2's real segmentation writer.

    Writer: NeuroConv 0.10.2 (roiextractors 0.10.0 extractors, pynwb 4.2.0).

    ``via="interface"`` (default): an ``ArraySegmentationInterface`` (this module; a
      ``BaseSegmentationExtractorInterface`` like ``neuroconv.tools.testing.mock_interfaces.
      MockSegmentationInterface`` but over our arrays) is run with ``run_conversion``; writing is
      NeuroConv's ``BaseSegmentationExtractorInterface.add_to_nwbfile`` ->
      ``tools/roiextractors/roiextractors.py::add_segmentation_to_nwbfile`` -> ``_add_segmentation_to_nwbfile``
      (dict-based metadata path).
    ``via="tools"``: ``neuroconv.tools.roiextractors.write_segmentation_to_nwbfile`` on the array
      extractor (old list-based default metadata from ``get_nwb_segmentation_metadata``, translated by
      ``utils/_metadata_translation.py`` into the same dict-based path; differs in descriptions and the
      device name).  ``planes`` must be 1.
    ``via="mock"``: NeuroConv's own ``MockSegmentationInterface`` run unmodified; it draws random
      values (seed 0), so only the *shape* of ``traces`` and which of raw/dff/neuropil/deconvolved are
      present are used.  ``planes`` must be 1.

    Layout (single plane): ``processing/ophys/Fluorescence/{RoiResponseSeries,Neuropil,Deconvolved,
    Denoised,Baseline,DfOverF}`` (only the traces given), all ``RoiResponseSeries`` with ``rois``
    pointing into ``processing/ophys/ImageSegmentation/PlaneSegmentation``.  dF/F is *not* in a
    ``DfOverF`` container: it is the series ``Fluorescence/DfOverF``.

    ``planes > 1``: the ROIs (rows of every trace) are split with ``np.array_split`` into ``planes``
    consecutive groups and each group is written as its own plane, named as in
    :func:`write_neuroconv_two_planes`.

    traces: ``{"raw"|"neuropil"|"deconvolved"|"denoised"|"baseline"|"dff": (n_rois, n_frames)}``.
    with_dff: None -> write ``traces["dff"]`` if present; False -> never; True -> ``dff`` required.
    masks: ``(n_rois, height, width)``; default :func:`make_masks`.
    compressor: ``via="interface"`` only, one plane: the compression method of every dataset (see
    :func:`_write_neuroconv_planes`); default NeuroConv's (gzip).
    """
    path = Path(path)
    traces = _select_dff(traces, with_dff)
    n_rois, n_frames = _check_traces(traces)
    if masks is None:
        masks = make_masks(n_rois, frame_shape)
    masks = np.asarray(masks)
    if masks.shape[0] != n_rois:
        raise ValueError(f"masks hold {masks.shape[0]} ROIs, traces hold {n_rois}")

    if planes > 1:
        if compressor is not None:
            raise ValueError("compressor is written for one plane only")
        if via != "interface":
            raise ValueError("planes > 1 is only written through interfaces (via='interface')")
        groups = np.array_split(np.arange(n_rois), planes)
        plane_traces = [{key: value[group] for key, value in traces.items()} for group in groups]
        plane_masks = [masks[group] for group in groups]
        return write_neuroconv_two_planes(path, plane_traces, rate, masks=plane_masks)

    if via == "interface":
        return _write_neuroconv_planes(path, [traces], rate, [masks], [""], compressor)
    if compressor is not None:
        raise ValueError("compressor is only written through the interface (via='interface')")

    if via == "tools":
        from neuroconv.tools.roiextractors import write_segmentation_to_nwbfile

        extractor = _array_extractor_class()(**_interface_arrays(traces, masks, rate))
        write_segmentation_to_nwbfile(
            segmentation_extractor=extractor,
            nwbfile_path=path,
            metadata={"NWBFile": {"session_start_time": SESSION_START_TIME}},
            overwrite=True,
        )
        return path

    if via == "mock":
        from neuroconv.tools.testing.mock_interfaces import MockSegmentationInterface

        unsupported = {"denoised", "baseline"} & set(traces)
        if unsupported:
            raise ValueError(f"MockSegmentationInterface cannot write {sorted(unsupported)}")
        interface = MockSegmentationInterface(
            num_rois=n_rois,
            num_samples=n_frames,
            num_rows=frame_shape[0],
            num_columns=frame_shape[1],
            sampling_frequency=float(rate),
            has_raw_signal="raw" in traces,
            has_dff_signal="dff" in traces,
            has_deconvolved_signal="deconvolved" in traces,
            has_neuropil_signal="neuropil" in traces,
        )
        metadata = interface.get_metadata()
        metadata["NWBFile"]["session_start_time"] = SESSION_START_TIME
        interface.run_conversion(nwbfile_path=str(path), metadata=metadata, overwrite=True)
        return path

    raise ValueError(f"via must be 'interface', 'tools' or 'mock', got {via!r}")


# --------------------------------------------------------------------------------------------------
# 2. NeuroConv, several planes in one file
# --------------------------------------------------------------------------------------------------
def write_neuroconv_two_planes(
    path,
    plane_traces: list[dict[str, np.ndarray]],
    rate: float,
    *,
    masks: list[np.ndarray] | None = None,
    frame_shape: tuple[int, int] = (32, 32),
    channel_name: str = "chan1",
) -> Path:
    """Write one plane per entry of ``plane_traces`` into one file through NeuroConv 0.10.2.

    Writer: NeuroConv 0.10.2 ``ConverterPipe`` holding one ``ArraySegmentationInterface`` per plane
    (see :func:`write_neuroconv_mock_segmentation`), each with its own ``metadata_key``.  Names follow
    NeuroConv's multi-plane Suite2p support (``datainterfaces/ophys/suite2p/suite2pdatainterface.py``,
    ``Suite2pSegmentationInterface.__init__`` and ``get_metadata``; ``Suite2pConverter`` in
    ``suite2pconverter.py`` builds one interface per plane and channel the same way): suffix
    ``f"{channel_name.capitalize()}{plane_name.capitalize()}"``, e.g. ``Chan1Plane0``, giving
    ``ImagingPlaneChan1Plane0``, ``PlaneSegmentationChan1Plane0`` and, all inside the single
    ``processing/ophys/Fluorescence``: ``RoiResponseSeriesChan1Plane0``, ``NeuropilChan1Plane0``,
    ``DeconvolvedChan1Plane0``, ``DenoisedChan1Plane0``, ``BaselineChan1Plane0``, ``DfOverFChan1Plane0``.

    Each plane's series share one ``rois`` target: that plane's PlaneSegmentation.  Planes may have
    different frame counts.  ``masks``: one ``(n_rois_plane, H, W)`` array per plane.
    """
    plane_traces = [{key: value for key, value in traces.items() if value is not None} for traces in plane_traces]
    shapes = [_check_traces(traces) for traces in plane_traces]
    if masks is None:
        masks = [make_masks(n_rois, frame_shape) for n_rois, _ in shapes]
    suffixes = [f"{channel_name.capitalize()}Plane{index}" for index in range(len(plane_traces))]
    return _write_neuroconv_planes(Path(path), plane_traces, rate, masks, suffixes)


def write_neuroconv_suite2p(
    path,
    suite2p_folder,
    rate: float | None = None,
    *,
    all_planes: bool = True,
    plane_name: str | None = None,
    channel_name: str | None = None,
) -> Path:
    """Run NeuroConv 0.10.2's Suite2p support for real on a suite2p output folder.

    Writer: NeuroConv 0.10.2 ``datainterfaces/ophys/suite2p``: ``Suite2pConverter`` (all planes and
    channels; one ``Suite2pSegmentationInterface`` per plane/channel) when ``all_planes`` else one
    ``Suite2pSegmentationInterface(folder_path, plane_name=..., channel_name=...)``; reading is
    roiextractors 0.10.0 ``Suite2pSegmentationExtractor``.

    One plane, one channel: plain names (``PlaneSegmentation``, ``Fluorescence/RoiResponseSeries``,
    ``Fluorescence/Neuropil``, ``Fluorescence/Deconvolved``).  Otherwise every name carries the suffix
    ``Chan1Plane0`` etc.  Masks are pixel masks (suite2p's native ypix/xpix/lam), rate comes from
    ``ops["fs"]``; ``rate`` if given must equal it.
    """
    from neuroconv.datainterfaces import Suite2pSegmentationInterface

    suite2p_folder = Path(suite2p_folder)
    if all_planes:
        from neuroconv.datainterfaces.ophys.suite2p.suite2pconverter import Suite2pConverter

        writer = Suite2pConverter(folder_path=suite2p_folder)
        fs_values = {
            float(interface.segmentation_extractor.get_sampling_frequency())
            for interface in writer.data_interface_objects.values()
        }
    else:
        writer = Suite2pSegmentationInterface(
            folder_path=suite2p_folder, plane_name=plane_name, channel_name=channel_name
        )
        fs_values = {float(writer.segmentation_extractor.get_sampling_frequency())}
    if rate is not None and fs_values != {float(rate)}:
        raise ValueError(f"rate {rate} differs from the folder's ops['fs'] {sorted(fs_values)}")
    metadata = writer.get_metadata()
    metadata["NWBFile"]["session_start_time"] = SESSION_START_TIME
    writer.run_conversion(nwbfile_path=str(path), metadata=metadata, overwrite=True)
    return Path(path)


# --------------------------------------------------------------------------------------------------
# 5. pynwb mock
# --------------------------------------------------------------------------------------------------
def write_pynwb_mock(
    path, rate: float, n_rois: int, frames: int, data: np.ndarray | None = None, *, name: str = "RoiResponseSeries"
) -> Path:
    """Write ``pynwb.testing.mock.ophys.mock_RoiResponseSeries(nwbfile=...)`` as pynwb 4.2.0 does.

    Source: pynwb 4.2.0 ``pynwb/testing/mock/ophys.py::mock_RoiResponseSeries`` (+ ``mock_PlaneSegmentation``,
    ``mock_ImagingPlane``, ``mock_OpticalChannel``, ``mock/device.py::mock_Device``,
    ``mock/file.py::mock_NWBFile``).  With ``nwbfile`` given it puts the series DIRECTLY in the
    processing module: ``processing/ophys/<name>`` (no Fluorescence/DfOverF container), and the
    PlaneSegmentation directly in the module too (``processing/ophys/PlaneSegmentation``, not inside an
    ImageSegmentation).  Module description ``"ophys"``; unit ``"n.a."``; description
    ``"no description"``; rois region named ``rois`` described ``"rois"`` over all rows; masks are
    all-zero 10x10 image masks.

    ``data`` ((n_rois, frames), ROIs x frames) is written transposed; default is what the mock uses
    when not given data, ``np.ones`` (only its shape is ours: ``(frames, n_rois)``).  The series is
    named explicitly because the mock's default names come from a process-wide counter
    (``RoiResponseSeries``, then ``RoiResponseSeries2``, ...); PlaneSegmentation/ImagingPlane/Device/
    OpticalChannel names are left to that counter (first call in a process: plain names).
    """
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.file import mock_NWBFile
    from pynwb.testing.mock.ophys import mock_RoiResponseSeries

    series_data = np.ones((frames, n_rois)) if data is None else np.ascontiguousarray(np.asarray(data).T)
    nwbfile = mock_NWBFile(session_start_time=SESSION_START_TIME)
    mock_RoiResponseSeries(nwbfile=nwbfile, data=series_data, rate=float(rate), name=name)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return Path(path)


# --------------------------------------------------------------------------------------------------
# 6. HDF5 -> Zarr
# --------------------------------------------------------------------------------------------------
def to_zarr(hdf5_path, zarr_path, *, check: bool = True) -> Path:
    """Export an NWB HDF5 file to NWB Zarr with hdmf-zarr 0.13.0's ``NWBZarrIO.export``.

    Follows hdmf-zarr's tutorial ``docs/gallery/plot_convert_nwb_hdf5.py`` ("Converting NWB HDF5 files
    to/from Zarr"): read with ``pynwb.NWBHDF5IO(..., "r")``, export with
    ``NWBZarrIO(zarr_path, mode="w").export(src_io=read_io, write_args=dict(link_data=False))``
    (``link_data=False`` because links from Zarr into HDF5 are not supported).  hdmf-zarr 0.13 writes
    Zarr v2 (zarr 2.18).  With ``check`` the result is reopened with ``NWBZarrIO(path, mode="r").read()``.
    """
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO

    zarr_path = Path(zarr_path)
    with NWBHDF5IO(str(hdf5_path), "r") as read_io, NWBZarrIO(str(zarr_path), mode="w") as export_io:
        export_io.export(src_io=read_io, write_args={"link_data": False})
    if check:
        with NWBZarrIO(str(zarr_path), mode="r") as io:
            nwbfile = io.read()
            if nwbfile is None:
                raise RuntimeError(f"{zarr_path} did not read back")
    return zarr_path
