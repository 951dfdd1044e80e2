"""Writing realistic NWB files from ΔF/F traces: for examples, tests and demonstrations.

Three layouts, as real files have them:

- ``"visual_coding"``: the Allen Brain Observatory Visual Coding layout (DANDI 000728):
  ``processing/ophys/DfOverF/DfOverF`` with timestamps, ROIs in
  ``processing/ophys/ImageSegmentation/PlaneSegmentation``;
- ``"visual_behavior"``: the Allen Visual Behavior layout (DANDI 000711):
  ``processing/ophys/dff/traces``, ROIs in ``image_segmentation/cell_specimen_table``;
- ``"fluorescence"``: ΔF/F as NeuroConv 0.10 writes it, ``processing/ophys/Fluorescence/DfOverF``
  (a series named ``DfOverF`` inside the ``Fluorescence`` container), timed by ``rate``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from uuid import uuid4

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, TwoPhotonSeries

LAYOUTS = {
    # layout: (segmentation container, plane segmentation, response container type, container, series)
    "visual_coding": ("ImageSegmentation", "PlaneSegmentation", DfOverF, "DfOverF", "DfOverF"),
    "visual_behavior": ("image_segmentation", "cell_specimen_table", DfOverF, "dff", "traces"),
    "fluorescence": ("ImageSegmentation", "PlaneSegmentation", Fluorescence, "Fluorescence", "DfOverF"),
}
GCAMP6F_GENOTYPE = "Cux2-CreERT2/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/wt"


def synthetic_traces(n_rois: int = 40, n_frames: int = 9000, frame_rate: float = 30.0, *, seed: int = 0,
                     noise_level: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Simulated ΔF/F of GCaMP6-like neurons: (traces ROIs × frames, spike counts ROIs × frames).

    Poisson spikes at 0.2-2 spikes/s (in bursts), each adding a transient of 0.2 ΔF/F
    (rise 50 ms, decay 400 ms), plus Gaussian noise at about the given Cascade noise level.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(3 * frame_rate)) / frame_rate
    kernel = 0.2 * (np.exp(-t / 0.4) - np.exp(-t / 0.05))
    rates = rng.uniform(0.2, 2.0, n_rois)
    burst = np.repeat(rng.random((n_rois, n_frames // 30 + 1)) < 0.3, 30, axis=1)[:, :n_frames]
    spikes = rng.poisson(rates[:, None] / frame_rate * (0.3 + 2.3 * burst))
    clean = np.stack([np.convolve(row, kernel)[:n_frames] for row in spikes])
    noise_std = noise_level / 100 * np.sqrt(frame_rate) / (0.6745 * np.sqrt(2))  # median |diff| of white noise
    return (clean + rng.normal(0, noise_std, clean.shape)).astype(np.float32), spikes


def example_nwbfile(
    traces: np.ndarray,
    frame_rate: float,
    *,
    layout: str = "visual_coding",
    genotype: str = GCAMP6F_GENOTYPE,
    indicator: str = "GCaMP6f",
    field_size: int = 64,
    seed: int = 0,
    movie: np.ndarray | None = None,
) -> NWBFile:
    """An in-memory NWB file holding ``traces`` (ROIs × frames ΔF/F) in one of :data:`LAYOUTS`.

    ``genotype`` and ``indicator`` say which calcium indicator the recording used (the model
    follows it).  With ``movie`` (frames × height × width), the file also holds it as the raw
    ``acquisition/TwoPhotonSeries`` of the imaging plane, as real sessions do (the bulk of
    their bytes, which reading the ΔF/F must not touch).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    segmentation_name, plane_name, container_type, container_name, series_name = LAYOUTS[layout]
    traces = np.asarray(traces, dtype=np.float32)
    n_rois, n_frames = traces.shape
    nwbfile = NWBFile(
        session_description="two-photon imaging of mouse visual cortex (example built by nwb-cascade)",
        identifier=str(uuid4()),
        session_start_time=datetime(2016, 9, 29, 10, 0, tzinfo=timezone.utc),
        experimenter=["Example, Experimenter"],
        lab="Example lab",
        institution="Example institute",
        session_id="552195520",
        subject=Subject(subject_id="mouse-1", species="Mus musculus", genotype=genotype, sex="F", age="P90D",
                        description="example subject"),
    )
    device = nwbfile.create_device(name="2p-microscope", description="two-photon microscope")
    plane = nwbfile.create_imaging_plane(
        name="imaging_plane",
        optical_channel=OpticalChannel(name="green", description="GCaMP emission", emission_lambda=520.0),
        description="layer 2/3 of primary visual cortex",
        device=device,
        excitation_lambda=910.0,
        imaging_rate=float(frame_rate),
        indicator=indicator,
        location="VISp",
    )
    ophys = nwbfile.create_processing_module(name="ophys", description="optical physiology")
    segmentation = ImageSegmentation(name=segmentation_name)
    ophys.add(segmentation)
    planes = segmentation.create_plane_segmentation(
        name=plane_name, description="segmented ROIs", imaging_plane=plane
    )
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:field_size, :field_size]
    allen = layout in ("visual_coding", "visual_behavior")
    if allen:
        planes.add_column("cell_specimen_id", "Allen cell specimen id of each ROI")
    for index in range(n_rois):
        cy, cx = rng.uniform(4, field_size - 4, 2)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 9).astype(np.float32)
        planes.add_roi(image_mask=mask, **({"cell_specimen_id": 517473000 + index} if allen else {}))
    rois = planes.create_roi_table_region(region=list(range(n_rois)), description="all ROIs")
    timing = (
        {"rate": float(frame_rate)}
        if layout == "fluorescence"
        else {"timestamps": 1.234 + np.arange(n_frames) / float(frame_rate)}
    )
    if movie is not None:
        nwbfile.add_acquisition(TwoPhotonSeries(
            name="TwoPhotonSeries", data=H5DataIO(np.asarray(movie), chunks=(1, *np.shape(movie)[1:])),
            imaging_plane=plane, rate=float(frame_rate), unit="n.a.", description="raw two-photon movie",
        ))
    container = container_type(name=container_name)
    ophys.add(container)
    container.create_roi_response_series(
        name=series_name,
        data=H5DataIO(traces.T.copy(), compression="gzip", chunks=(min(n_frames, 4096), n_rois)),
        rois=rois,
        unit="n.a." if container_type is DfOverF else "a.u.",
        description="ΔF/F as a fraction",
        **timing,
    )
    return nwbfile


def write_example_file(path: str | Path, traces: np.ndarray, frame_rate: float, **options) -> Path:
    """Write :func:`example_nwbfile` to ``path`` and return it."""
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(example_nwbfile(traces, frame_rate, **options))
    return path


def write_example(path: str | Path, *, layout: str = "visual_coding", allen_excerpt: str | Path | None = None,
                  overwrite: bool = False) -> str:
    """Write an example file to try the package on (``nwb-cascade example``); returns a line about it.

    Simulated ΔF/F (:func:`synthetic_traces`: 40 GCaMP6f-like ROIs, 5 minutes at 30 Hz), or with
    ``allen_excerpt`` the real Allen Brain Observatory excerpt (a ``.mat`` file of ``dF_traces``, 30 Hz).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; give another name, or overwrite=True (--overwrite)")
    if allen_excerpt is not None:
        from scipy.io import loadmat

        traces = np.asarray(loadmat(str(allen_excerpt))["dF_traces"], dtype=np.float32)
    else:
        traces, _ = synthetic_traces()
    write_example_file(path, traces, 30.0, layout=layout)
    return f"{path}: {traces.shape[0]} ROIs x {traces.shape[1]} frames at 30 Hz ({layout} layout)"
