"""The layout of CaImAn's ``Estimates.save_NWB``, rebuilt with pynwb (CaImAn does not install here, and its
``save_NWB`` does not run on pynwb 4: ``nwbfile.modules`` and ``add_data_interface`` are gone).  The function's
docstring names the method it follows step by step; the facts are in ``FACTS.md`` beside this module.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import numpy as np

from .common import SESSION_START_TIME, make_masks


# --------------------------------------------------------------------------------------------------
# 4. CaImAn Estimates.save_NWB, rebuilt
# --------------------------------------------------------------------------------------------------
def write_caiman(
    path,
    C: np.ndarray,
    YrA: np.ndarray,
    rate: float,
    *,
    masks: np.ndarray | None = None,
    frame_shape: tuple[int, int] = (32, 32),
    b: np.ndarray | None = None,
    f: np.ndarray | None = None,
    r_values: np.ndarray | None = None,
    SNR_comp: np.ndarray | None = None,
    cnn_preds: np.ndarray | None = None,
    idx_components: np.ndarray | None = None,
    accepted_list=None,
    rejected_list=None,
    S: np.ndarray | None = None,
    F_dff: np.ndarray | None = None,
    Cn: np.ndarray | None = None,
    raw_data_file: str | None = None,
    starting_time: float = 0.0,
    session_start_time: datetime = SESSION_START_TIME,
) -> Path:
    """Rebuild CaImAn's ``Estimates.save_NWB`` layout with pynwb 4.2.

    Source followed: flatironinstitute/CaImAn 1.12.1 (commit 881e627a, 2025-05-13),
    ``caiman/source_extraction/cnmf/estimates.py``, ``Estimates.save_NWB`` (lines 1511-1711).  CaImAn
    cannot be installed here; the method is followed step by step (new file first written, then
    reopened ``r+`` and the estimates appended).  The real method does not run under pynwb >= 4.0
    (``nwbfile.modules`` and ``ProcessingModule.add_data_interface`` are gone, and the external
    ``ImageSeries`` lacks ``num_samples``); this rebuild uses the current spellings and adds
    ``num_samples`` (only when ``raw_data_file`` is given).

    Written: ``processing/ophys`` (or ``ophys1``/``ophysN`` if an ``ophys`` module exists) ->
    ``ImageSegmentation/PlaneSegmentation`` (description ``CNMF_ROIs``; rows = components then
    background components; columns r, snr, accepted, rejected [, cnn] [, keep]);
    ``Fluorescence/RoiResponseSeries`` = ``C.T`` (the denoised trace) unit ``lumens``, rois region
    described ``ROIs``; ``Fluorescence/Background_Fluorescence_Response`` = ``f.T`` unit ``lumens``,
    rois region described ``Background``; ``residuals`` (TimeSeries, directly in the module) =
    ``YrA.T`` unit ``NA``.  All with explicit ``timestamps = arange(T)/rate + starting_time``.
    Not written, as in CaImAn: ``S`` (deconvolved spikes), ``F_dff`` (no DfOverF anywhere), ``Cn``
    (an ``Images('summary_images')`` is built but never added to the file).

    C, YrA, S, F_dff: (n_components, T).  f: (n_background, T), default one constant background.
    masks: (n_components, H, W) in movie orientation; CaImAn keeps A as (pixels, K) flattened in
    Fortran order and save_NWB reshapes each column with C order, so the stored ``image_mask`` is the
    *transpose* of the movie-oriented mask (for square frames).  b: (pixels, n_background) in that
    same Fortran pixel order, default uniform.
    """
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.base import Images
    from pynwb.device import Device
    from pynwb.image import GrayscaleImage, ImageSeries
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel

    path = Path(path)
    if path.suffix.lower() != ".nwb":
        raise ValueError("Wrong filename")  # save_NWB raises for a non-.nwb name
    C = np.asarray(C)
    YrA = np.asarray(YrA)
    n_components, n_frames = C.shape
    if YrA.shape != C.shape:
        raise ValueError(f"YrA shape {YrA.shape} != C shape {C.shape}")
    dims = tuple(frame_shape)
    if masks is None:
        masks = make_masks(n_components, dims)
    masks = np.asarray(masks)
    A = np.stack([mask.reshape(-1, order="F") for mask in masks], axis=1)  # pixels x K, CaImAn's order
    if f is None:
        f = np.ones((1, n_frames), dtype=C.dtype)
    f = np.atleast_2d(np.asarray(f))
    if b is None:
        b = np.full((dims[0] * dims[1], f.shape[0]), 1.0 / (dims[0] * dims[1]), dtype="float32")
    r_values = np.ones(n_components) if r_values is None else np.asarray(r_values)
    SNR_comp = np.full(n_components, 10.0) if SNR_comp is None else np.asarray(SNR_comp)

    if not path.exists():
        nwbfile = NWBFile(
            session_description="CaImAn Results",
            identifier=uuid.uuid1().hex,
            session_start_time=session_start_time,
            experiment_description=None,
        )
        device = Device(name="imaging_device")
        nwbfile.add_device(device)
        optical_channel = OpticalChannel(
            name="OpticalChannel", description="main optical channel", emission_lambda=520.0
        )
        nwbfile.create_imaging_plane(
            name="ImagingPlane",
            optical_channel=optical_channel,
            description="some imaging plane description",
            device=device,
            excitation_lambda=488.0,
            imaging_rate=float(rate),
            indicator="OGB-1",
            location="brain",
        )
        if raw_data_file:
            nwbfile.add_acquisition(
                ImageSeries(
                    name="TwoPhotonSeries",
                    external_file=[str(raw_data_file)],
                    format="external",
                    rate=float(rate),
                    starting_frame=[0],
                    num_samples=int(n_frames),  # not in CaImAn; required by pynwb >= 4.0
                )
            )
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)

    with NWBHDF5IO(str(path), "r+") as io:
        nwbfile = io.read()
        suffixes = [name[5:] for name in nwbfile.processing if name.startswith("ophys")]
        description = "contains caiman estimates for the main imaging plane"
        if suffixes:
            numbered = [int(s) for s in suffixes if s.isdigit()]
            module_name = f"ophys{max(numbered) + 1}" if numbered else "ophys1"
        else:
            module_name = "ophys"
        module = nwbfile.create_processing_module(name=module_name, description=description)
        image_segmentation = ImageSegmentation()
        module.add(image_segmentation)
        fluorescence = Fluorescence()
        module.add(fluorescence)

        imaging_plane = next(iter(nwbfile.imaging_planes.values()))
        image_series = next(iter(nwbfile.acquisition.values())) if len(nwbfile.acquisition) == 1 else None

        plane_segmentation = image_segmentation.create_plane_segmentation(
            name="PlaneSegmentation",
            description="CNMF_ROIs",
            imaging_plane=imaging_plane,
            reference_images=image_series,
        )
        plane_segmentation.add_column("r", "description of r values")
        plane_segmentation.add_column("snr", "signal to noise ratio")
        plane_segmentation.add_column("accepted", "in accepted list")
        plane_segmentation.add_column("rejected", "in rejected list")
        if cnn_preds is not None:
            plane_segmentation.add_column("cnn", "description of CNN")
        if idx_components is not None:
            plane_segmentation.add_column("keep", "in idx_components")

        for index in range(n_components):
            row = {
                "image_mask": A[:, index].reshape(dims),
                "r": r_values[index],
                "snr": SNR_comp[index],
                "accepted": accepted_list is not None and index in accepted_list,
                "rejected": rejected_list is not None and index in rejected_list,
            }
            if cnn_preds is not None:
                row["cnn"] = cnn_preds[index]
            if idx_components is not None:
                row["keep"] = index in idx_components
            plane_segmentation.add_roi(**row)
        for background in np.asarray(b).T:
            row = {"image_mask": background.reshape(dims), "r": np.nan, "snr": np.nan, "accepted": False, "rejected": False}
            if idx_components is not None:
                row["keep"] = False
            if cnn_preds is not None:
                row["cnn"] = np.nan
            plane_segmentation.add_roi(**row)

        n_background = len(f)
        rois = plane_segmentation.create_roi_table_region(description="ROIs", region=list(range(n_components)))
        background_rois = plane_segmentation.create_roi_table_region(
            description="Background", region=list(range(n_components, n_components + n_background))
        )
        timestamps = np.arange(f.shape[1]) / rate + starting_time
        fluorescence.create_roi_response_series(
            name="RoiResponseSeries", data=C.T, rois=rois, unit="lumens", timestamps=timestamps
        )
        fluorescence.create_roi_response_series(
            name="Background_Fluorescence_Response", data=f.T, rois=background_rois, unit="lumens",
            timestamps=timestamps,
        )
        module.add(TimeSeries(name="residuals", description="residuals", data=YrA.T, timestamps=timestamps, unit="NA"))
        if Cn is not None:
            summary = Images(name="summary_images")  # built and dropped, exactly as save_NWB does
            summary.add_image(GrayscaleImage(name="local_correlations", data=np.asarray(Cn)))
        io.write(nwbfile)
    return path


