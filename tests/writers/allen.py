"""Small NWB files laid out the way the Allen Institute writers lay them out.

Test fixtures for ``nwb-cascade``: every ``write_*`` function builds a tiny
NWB file with pynwb whose group/dataset names, neurodata types, units,
orientations and links follow one real writer step by step.  The facts (with
source file paths) are collected in ``FACTS.md`` next to this module.

Writers followed
----------------
* Visual Coding 2p, DANDI 000728 -- catalystneuro/visual-coding-to-nwb-v2
  (commit e92c56f7, pinned neuroconv 5e0d847e):
  ``write_visual_coding_processed`` and ``write_visual_coding_raw_movie``.
* Visual Behavior 2p, DANDI 000711 -- AllenInstitute/AllenSDK
  (``allensdk/brain_observatory/behavior/...``; HEAD = v2.16.2 + later):
  ``write_visual_behavior`` and ``write_visual_behavior_behavior_only``.

All code here is original; the other projects were read for facts only.

Conventions of the synthetic content
------------------------------------
``dff`` is ROIs x frames, a fraction (0.5 == 50 %).  Unless stated, the frame
times are ``starting_time + arange(frames) / rate``.  Raw fluorescence is
built so that the Allen relations hold:

* ``F0``        per-ROI baseline, uniform in [200, 800) a.u.
* corrected     ``F0 * (1 + dff)``            (what dF/F is computed from)
* neuropil      ``Fnp0 * (1 + 0.02 * slow noise)``, ``Fnp0`` in [100, 300)
* r             per-ROI contamination ratio, uniform in [0.6, 0.9)
* demixed       ``corrected + r * neuropil + N(0, 0.5)``  (i.e. the ROI trace
                before neuropil subtraction; corrected = demixed - r*neuropil)
* RMSE          ``sqrt(mean((corrected - (demixed - r*neuropil))**2)) /
                mean(demixed)`` per ROI (the definition the converter quotes)
* events        L0-like: sparse, non-negative, the positive frame-to-frame
                increments of ``dff`` that exceed 4 x a robust noise
                estimate, zero elsewhere (ROIs x frames before storage).

Every function returns a dict describing what was written (paths inside the
file, ids, the timestamps), handy for assertions in tests.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Sequence

import numpy as np
import pynwb
from hdmf.backends.hdf5 import H5DataIO
from hdmf.build.warnings import DtypeConversionWarning
from hdmf.common import DynamicTable, VectorData
from pynwb import NWBHDF5IO, NWBFile, ProcessingModule, TimeSeries
from pynwb.behavior import BehavioralTimeSeries
from pynwb.device import Device
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject
from pynwb.image import GrayscaleImage, Image, Images, IndexSeries
from pynwb.ophys import (
    DfOverF,
    Fluorescence,
    ImageSegmentation,
    ImagingPlane,
    OpticalChannel,
    PlaneSegmentation,
    RoiResponseSeries,
    TwoPhotonSeries,
)
from pynwb.spec import (
    NWBAttributeSpec,
    NWBDatasetSpec,
    NWBGroupSpec,
    NWBNamespaceBuilder,
)

__all__ = [
    "VB_GENOTYPE",
    "VC_GENOTYPE",
    "allen_extension_classes",
    "write_visual_behavior",
    "write_visual_behavior_behavior_only",
    "write_visual_coding_processed",
    "write_visual_coding_raw_movie",
]

VC_GENOTYPE = "Cux2-CreERT2/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/wt"
VB_GENOTYPE = "Slc17a7-IRES2-Cre/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/wt"


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
def _pacific():
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("US/Pacific")
    except Exception:  # no tz database: fixed PST offset is good enough here
        return _dt.timezone(_dt.timedelta(hours=-8), "PST")


def _as_dff(dff) -> np.ndarray:
    arr = np.asarray(dff, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"dff must be 2-D (ROIs x frames), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ValueError(f"dff needs >= 1 ROI and >= 2 frames, got {arr.shape}")
    return arr


def _frame_times(n_frames: int, rate: float, starting_time: float) -> np.ndarray:
    return float(starting_time) + np.arange(n_frames, dtype=np.float64) / float(rate)


def _gzip(array) -> H5DataIO:
    # neuroconv's default HDF5 backend configuration (used by the Visual Coding
    # converter through configure_backend) stores datasets gzip-compressed and
    # chunked; h5py picks the chunk shape here (neuroconv aims at ~10 MB).
    return H5DataIO(np.asarray(array), compression="gzip")


def _slow_noise(rng: np.random.Generator, n_rois: int, n_frames: int, width: int = 15) -> np.ndarray:
    raw = rng.standard_normal((n_rois, n_frames + width))
    kernel = np.ones(width) / np.sqrt(width)
    out = np.stack([np.convolve(row, kernel, mode="valid")[:n_frames] for row in raw])
    return out


def _raw_traces(dff: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Corrected / neuropil / demixed traces, r, RMSE and events (all ROI-major)."""
    n_rois, n_frames = dff.shape
    f0 = rng.uniform(200.0, 800.0, size=n_rois)
    corrected = f0[:, None] * (1.0 + dff)
    fnp0 = rng.uniform(100.0, 300.0, size=n_rois)
    neuropil = fnp0[:, None] * (1.0 + 0.02 * _slow_noise(rng, n_rois, n_frames))
    r = rng.uniform(0.6, 0.9, size=n_rois)
    demixed = corrected + r[:, None] * neuropil + rng.normal(0.0, 0.5, size=(n_rois, n_frames))
    residual = corrected - (demixed - r[:, None] * neuropil)
    rmse = np.sqrt(np.mean(residual**2, axis=1)) / np.mean(demixed, axis=1)
    increments = np.diff(dff, axis=1, prepend=dff[:, :1])
    noise = 1.4826 * np.median(np.abs(increments - np.median(increments, axis=1, keepdims=True)), axis=1)
    noise = np.where(noise > 0, noise, 1e-3)
    events = np.where(increments > 4.0 * noise[:, None], increments, 0.0)
    events = np.clip(events, 0.0, None)
    lambdas = 4.0 * noise**2  # stand-in for the L0 regularisation weight
    return {
        "f0": f0,
        "corrected": corrected,
        "neuropil": neuropil,
        "demixed": demixed,
        "r": r,
        "rmse": rmse,
        "events": events,
        "noise_stds": noise,
        "lambdas": lambdas,
    }


def _disk_masks(
    rng: np.random.Generator, n_rois: int, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean disks (n_rois, H, W) and their centres (row, col)."""
    height, width = int(shape[0]), int(shape[1])
    yy, xx = np.mgrid[0:height, 0:width]
    masks = np.zeros((n_rois, height, width), dtype=bool)
    centres = np.zeros((n_rois, 2), dtype=np.int64)
    for i in range(n_rois):
        radius = int(rng.integers(2, 4))
        cy = int(rng.integers(radius, max(radius + 1, height - radius)))
        cx = int(rng.integers(radius, max(radius + 1, width - radius)))
        masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        centres[i] = (cy, cx)
    return masks, centres


def _split_genotype(genotype: str) -> tuple[list, str | None]:
    """Driver lines (sorted) and reporter line parsed from a full genotype."""
    drivers, reporter = [], None
    for part in genotype.split(";"):
        allele = part.strip().split("/")[0].strip()
        if not allele:
            continue
        if allele.startswith("Ai"):
            reporter = reporter or allele
        else:
            drivers.append(allele)
    return sorted(drivers), reporter


def _indicator_from_reporter(reporter: str | None) -> str | None:
    # AllenSDK ReporterLine.parse_indicator: substring lookup.
    if reporter is None:
        return None
    for substring, indicator in (("GCaMP6f", "GCaMP6f"), ("GC6f", "GCaMP6f"), ("GCaMP6s", "GCaMP6s")):
        if substring in reporter:
            return indicator
    return None


def _write(nwbfile: NWBFile, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with warnings.catch_warnings():
        # e.g. int64 arange timestamps -> float64, int control -> uint: the schema
        # dtype wins, exactly as it did for the real writers.
        warnings.simplefilter("ignore", DtypeConversionWarning)
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)


def _roi_response_series(**kwargs) -> RoiResponseSeries:
    """RoiResponseSeries, also when len(data) != len(timestamps).

    The AllenSDK versions that wrote ROIs x time traces (<= 2.3.x) or per-ROI
    r/RMSE with the full ophys timestamps (2.14-2.15) ran on pynwb releases
    that only warned about this.  pynwb >= 3 raises for new objects and warns
    for objects read from a file, so such series are created here the way the
    reader does it (construct mode), which reproduces the old files exactly.
    """
    data = kwargs["data"]
    timestamps = kwargs.get("timestamps")
    n_data = len(data.data if isinstance(data, H5DataIO) else data)
    if timestamps is None or isinstance(timestamps, TimeSeries) or n_data == len(timestamps):
        return RoiResponseSeries(**kwargs)
    series = RoiResponseSeries.__new__(RoiResponseSeries, in_construct_mode=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        series.__init__(**kwargs)
    series._in_construct_mode = False
    return series


# --------------------------------------------------------------------------
# AllenSDK NWB extensions, rebuilt with pynwb.spec
# --------------------------------------------------------------------------
_EXT_CACHE: dict[str, type] = {}
_EXT_DIR: str | None = None

_AIBS_AUTHOR = "Allen Institute for Brain Science"
_AIBS_CONTACT = "waynew@alleninstitute.org"


def _attr(name, dtype, doc, shape=None, required=True):
    kwargs = {"name": name, "dtype": dtype, "doc": doc}
    if shape is not None:
        kwargs["shape"] = shape
    if not required:
        kwargs["required"] = False
    return NWBAttributeSpec(**kwargs)


def _behavior_ophys_specs():
    """Types of namespace ``ndx-aibs-behavior-ophys`` 0.2.0.

    Mirrors allensdk/brain_observatory/nwb/ndx-aibs-behavior-ophys.extension.yaml
    (type names, parents, attribute names/dtypes/shapes/required); the doc
    strings are paraphrased.
    """
    task = NWBGroupSpec(
        neurodata_type_def="BehaviorTaskParameters",
        neurodata_type_inc="LabMetaData",
        doc="Task parameters of a behavior or behavior + ophys session",
        attributes=[
            _attr("stimulus_distribution", "text", "distribution used to draw change times"),
            _attr("auto_reward_volume", "float", "automatic reward volume (mL)"),
            _attr("stimulus_name", "text", "name of the stimulus file set"),
            _attr("blank_duration_sec", "text", "bounds (s) of the inter-stimulus interval", shape=[2]),
            _attr("omitted_flash_fraction", "float", "fraction of omitted image presentations"),
            _attr("task", "text", "name of the behavioral task"),
            _attr("n_stimulus_frames", "int", "total number of stimulus frames"),
            _attr("stimulus", "text", "stimulus type"),
            _attr("session_type", "text", "stage of the behavioral task"),
            _attr("reward_volume", "float", "reward volume (mL)"),
            _attr("response_window_sec", "text", "bounds (s) of the response window", shape=[2]),
            _attr("stimulus_duration_sec", "float", "duration of one stimulus presentation (s)"),
        ],
    )
    subject = NWBGroupSpec(
        neurodata_type_def="BehaviorSubject",
        neurodata_type_inc="Subject",
        doc="Subject of an AIBS behavior or behavior + ophys session",
        attributes=[
            _attr("driver_line", "text", "driver line(s) of the subject", shape=[None], required=False),
            _attr("reporter_line", "text", "reporter line of the subject"),
        ],
    )
    behavior_meta = NWBGroupSpec(
        neurodata_type_def="BehaviorMetadata",
        neurodata_type_inc="LabMetaData",
        doc="Metadata of behavior and behavior + ophys experiments",
        attributes=[
            _attr("project_code", "text", "project the session belongs to"),
            _attr("behavior_session_id", "int", "behavior session id"),
            _attr("stimulus_frame_rate", "float", "stimulus monitor frame rate (frames/s)"),
            _attr("equipment_name", "text", "rig name"),
            _attr("behavior_session_uuid", "text", "MTrain record (foraging_id)"),
            _attr("session_type", "text", "session type"),
        ],
    )
    ophys_meta = NWBGroupSpec(
        neurodata_type_def="OphysBehaviorMetadata",
        neurodata_type_inc="BehaviorMetadata",
        doc="Metadata of behavior + ophys experiments",
        attributes=[
            _attr("field_of_view_height", "int", "imaging plane height (pixels)"),
            _attr("imaging_plane_group", "int", "mesoscope plane group index, -1 if not mesoscope"),
            _attr("field_of_view_width", "int", "imaging plane width (pixels)"),
            _attr("targeted_imaging_depth", "int", "average container depth (microns)"),
            _attr("ophys_session_id", "int", "ophys session id"),
            _attr("behavior_session_id", "int", "behavior session id"),
            _attr("behavior_session_uuid", "text", "MTrain record (foraging_id)"),
            _attr("session_type", "text", "session type"),
            _attr("imaging_depth", "int", "imaging depth (microns)"),
            _attr("ophys_container_id", "int", "ophys container id"),
            _attr("ophys_experiment_id", "int", "ophys experiment (imaging plane) id"),
            _attr("project_code", "text", "project the session belongs to"),
            _attr("equipment_name", "text", "rig name"),
            _attr("stimulus_frame_rate", "float", "stimulus monitor frame rate (frames/s)"),
            _attr("imaging_plane_group_count", "int", "number of plane groups, 0 if not multiplane"),
        ],
    )

    def _xyz(name, doc):
        return NWBDatasetSpec(
            name=name,
            dtype="float",
            dims=[3],
            shape=[None],
            doc=doc,
            attributes=[_attr("unit_of_measurement", "text", "unit of the values")],
        )

    rig = NWBGroupSpec(
        neurodata_type_def="OphysEyeTrackingRigMetadata",
        neurodata_type_inc="NWBDataInterface",
        doc="Eye tracking rig geometry of an ophys rig",
        attributes=[_attr("equipment", "text", "rig description")],
        datasets=[
            _xyz("camera_rotation", "camera rotation (x, y, z)"),
            _xyz("camera_position", "camera position (x, y, z)"),
            _xyz("led_position", "LED position (x, y, z)"),
            _xyz("monitor_position", "monitor position (x, y, z)"),
            _xyz("monitor_rotation", "monitor rotation (x, y, z)"),
        ],
    )
    return [task, subject, behavior_meta, ophys_meta, rig]


def _build_extensions(folder: str) -> None:
    # 1. ndx-aibs-behavior-ophys 0.2.0 (single source file, whole core included)
    builder = NWBNamespaceBuilder(
        doc="Allen Institute behavior and optical physiology extensions",
        name="ndx-aibs-behavior-ophys",
        version="0.2.0",
        author=_AIBS_AUTHOR,
        contact=_AIBS_CONTACT,
    )
    builder.include_namespace("core")
    for spec in _behavior_ophys_specs():
        builder.add_spec("ndx-aibs-behavior-ophys.extension.yaml", spec)
    builder.export("ndx-aibs-behavior-ophys.namespace.yaml", outdir=folder)

    # 2. ndx-aibs-ophys-event-detection 0.1.0
    builder = NWBNamespaceBuilder(
        doc="Detected events from optical physiology ROI fluorescence traces",
        name="ndx-aibs-ophys-event-detection",
        version="0.1.0",
        author=_AIBS_AUTHOR,
        contact=_AIBS_CONTACT,
    )
    for type_name in ("RoiResponseSeries", "DynamicTableRegion", "TimeSeries", "NWBDataInterface"):
        builder.include_type(type_name, namespace="core")
    builder.add_spec(
        "ndx-aibs-ophys-event-detection.extensions.yaml",
        NWBGroupSpec(
            neurodata_type_def="OphysEventDetection",
            neurodata_type_inc="RoiResponseSeries",
            name="event_detection",
            doc="Stores event detection output",
            datasets=[
                NWBDatasetSpec(name="lambdas", dtype="float", shape=[None], doc="regularization weights"),
                NWBDatasetSpec(name="noise_stds", dtype="float", shape=[None], doc="noise standard deviations"),
            ],
        ),
    )
    builder.export("ndx-aibs-ophys-event-detection.namespace.yaml", outdir=folder)

    # 3. ndx-aibs-stimulus-template 0.1.0
    builder = NWBNamespaceBuilder(
        doc="Stimulus images",
        name="ndx-aibs-stimulus-template",
        version="0.1.0",
        author=_AIBS_AUTHOR,
        contact=_AIBS_CONTACT,
    )
    for type_name in ("ImageSeries", "TimeSeries", "NWBDataInterface"):
        builder.include_type(type_name, namespace="core")
    builder.add_spec(
        "ndx-aibs-stimulus-template.extensions.yaml",
        NWBGroupSpec(
            neurodata_type_def="StimulusTemplate",
            neurodata_type_inc="ImageSeries",
            doc="Warped stimulus images as shown on the monitor plus masked unwarped versions",
            datasets=[
                NWBDatasetSpec(
                    name="unwarped",
                    dtype="float",
                    shape=[None, None, None],
                    doc="unwarped images, masked to the pixels visible after warping",
                )
            ],
        ),
    )
    builder.export("ndx-aibs-stimulus-template.namespace.yaml", outdir=folder)


def allen_extension_classes() -> dict[str, type]:
    """Export the AllenSDK extension specs to a temp folder, load them, return classes.

    Keys: BehaviorSubject, BehaviorMetadata, OphysBehaviorMetadata,
    BehaviorTaskParameters, OphysEyeTrackingRigMetadata (namespace
    ``ndx-aibs-behavior-ophys``), OphysEventDetection
    (``ndx-aibs-ophys-event-detection``), StimulusTemplate
    (``ndx-aibs-stimulus-template``).  Loaded once per process.
    """
    global _EXT_DIR
    if _EXT_CACHE:
        return dict(_EXT_CACHE)
    _EXT_DIR = tempfile.mkdtemp(prefix="allen_ndx_")
    atexit.register(shutil.rmtree, _EXT_DIR, ignore_errors=True)
    _build_extensions(_EXT_DIR)
    for namespace in (
        "ndx-aibs-behavior-ophys",
        "ndx-aibs-ophys-event-detection",
        "ndx-aibs-stimulus-template",
    ):
        pynwb.load_namespaces(os.path.join(_EXT_DIR, f"{namespace}.namespace.yaml"))
    for type_name in (
        "BehaviorSubject",
        "BehaviorMetadata",
        "OphysBehaviorMetadata",
        "BehaviorTaskParameters",
        "OphysEyeTrackingRigMetadata",
    ):
        _EXT_CACHE[type_name] = pynwb.get_class(type_name, "ndx-aibs-behavior-ophys")
    _EXT_CACHE["OphysEventDetection"] = pynwb.get_class("OphysEventDetection", "ndx-aibs-ophys-event-detection")
    _EXT_CACHE["StimulusTemplate"] = pynwb.get_class("StimulusTemplate", "ndx-aibs-stimulus-template")
    return dict(_EXT_CACHE)


# --------------------------------------------------------------------------
# stimulus interval tables
# --------------------------------------------------------------------------
#: (start s, stop s, stimulus) of each block a session showed, in time order.
StimulusBlocks = Sequence[tuple[float, float, str]]


def _vc_epochs(nwbfile: NWBFile, blocks: StimulusBlocks) -> None:
    """follows .../interfaces/_epochs.py (EpochsInterface.add_to_nwbfile): ``/intervals/epochs`` with a
    ``stimulus_type`` column (AllenSDK's stimulus epoch table: drifting_gratings, natural_scenes,
    spontaneous, ...), and .../interfaces/_spontaneous_stimulus.py: the spontaneous blocks again as the
    TimeIntervals ``spontaneous_stimulus`` in ``/stimulus/presentation`` (nwbfile.add_stimulus)."""
    epochs = TimeIntervals(
        name="epochs",
        description="Coarse grain experiment structure in the alternating presentations of visual stimuli.",
    )
    epochs.add_column(name="stimulus_type", description="Type of visual stimuli.")
    for start, stop, stimulus in blocks:
        epochs.add_interval(start_time=float(start), stop_time=float(stop), stimulus_type=str(stimulus))
    nwbfile.epochs = epochs
    spontaneous = [(start, stop) for start, stop, stimulus in blocks if stimulus == "spontaneous"]
    if spontaneous:
        table = TimeIntervals(name="spontaneous_stimulus", description="Mean luminance gray image.")
        for start, stop in spontaneous:
            table.add_interval(start_time=float(start), stop_time=float(stop))
        nwbfile.add_stimulus(stimulus=table)


def _vb_presentations(nwbfile: NWBFile, blocks: StimulusBlocks, flash: float = 0.25, gap: float = 0.5) -> None:
    """follows AllenSDK behavior/data_objects/stimuli/presentations.py (Presentations.to_nwb) and
    brain_observatory/nwb/__init__.py (create_stimulus_presentation_time_interval): one TimeIntervals
    ``<stimulus_name>_presentations`` in ``/intervals`` per stimulus name, rows tagged
    ``stimulus_time_interval`` and referring to ``processing/stimulus/timestamps``.  Image blocks are
    shown as ``flash`` s flashes every ``flash + gap`` s (the change-detection task's 250 ms / 500 ms);
    a ``spontaneous`` block is one presentation (gray screen)."""
    stimulus_ts = nwbfile.processing["stimulus"]["timestamps"]
    rows: dict[str, list[tuple[float, float, int]]] = {}
    for block, (start, stop, stimulus) in enumerate(blocks):
        if stimulus == "spontaneous":
            rows.setdefault(stimulus, []).append((float(start), float(stop), block))
            continue
        onsets = np.arange(float(start), float(stop) - flash, flash + gap)
        rows.setdefault(stimulus, []).extend((onset, onset + flash, block) for onset in onsets)
    for stimulus in sorted(rows):
        table = TimeIntervals(
            name=f"{stimulus}_presentations",
            description=(f"Presentation times and stimuli details for '{stimulus}' stimuli. \n"
                         "Note: image_name references control_description in stimulus/templates"),
        )
        table.add_column(name="duration", description="No description")
        table.add_column(name="stimulus_block", description="Index of contiguous presentations of one stimulus type")
        table.add_column(name="stimulus_name", description="Name of stimulus")
        for onset, offset, block in rows[stimulus]:
            table.add_interval(start_time=onset, stop_time=offset, duration=offset - onset, stimulus_block=block,
                               stimulus_name=stimulus, tags="stimulus_time_interval", timeseries=stimulus_ts)
        nwbfile.add_time_intervals(table)


# --------------------------------------------------------------------------
# Visual Coding 2p (DANDI 000728) -- catalystneuro/visual-coding-to-nwb-v2
# --------------------------------------------------------------------------
_VC_MONITOR_NOTE = (
    "\n\nStimuli were shown on a gamma-corrected monitor 15 cm from the mouse's eye "
    "(synthetic fixture; see the converter for the full text).\n"
)


def _vc_nwbfile(
    *,
    experiment_id: int,
    session_type: str,
    subject_id: str,
    specimen_name: str,
    genotype: str,
    container_id: int,
    age_days: int,
    sex: str,
    session_start_time: _dt.datetime | None,
) -> NWBFile:
    """NWBFile + Subject as VisualCodingMetadataInterface.get_metadata builds them.

    follows catalystneuro/visual-coding-to-nwb-v2,
    src/visual_coding_to_nwb_v2/visual_coding_ophys/interfaces/_general_metadata.py,
    VisualCodingMetadataInterface.get_metadata, and neuroconv
    (5e0d847e) tools/nwb_helpers/_metadata_and_file_helpers.py,
    make_nwbfile_from_metadata (identifier = a UUID, Subject(**metadata)).
    No LabMetaData is written (the converter leaves it as a TODO); the
    container id, mouse id and session type go into ``notes``.
    """
    if session_start_time is None:
        session_start_time = _dt.datetime(2016, 1, 21, 10, 29, 11, tzinfo=_pacific())
    reduced_session_type = session_type.split("_")[-1]  # three_session_B -> B
    session_id = f"{experiment_id}-Stim{reduced_session_type}"
    mouse_id = specimen_name.split("-")[-1]
    notes = f"Container ID: {container_id}"
    notes += f"\nMouse ID (from genotype white paper): {mouse_id}"
    notes += f"\nSession type: {session_type}"
    subject = Subject(
        subject_id=str(subject_id),
        description="Synthetic Visual Coding subject (v1 'subject/description' + '.').",
        age=f"P{int(age_days)}D",
        sex="M" if sex.lower() in ("m", "male") else "F",
        species="Mus musculus",
        strain=specimen_name,  # the converter puts specimen_name here (marked TODO: confirm)
        genotype=genotype,
    )
    return NWBFile(
        session_description="Synthetic Allen Brain Observatory Visual Coding 2p session." + _VC_MONITOR_NOTE,
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"visual-coding-2p/{experiment_id}")),
        session_start_time=session_start_time,
        session_id=session_id,
        experiment_description="Synthetic fixture; real files carry the v1 'For more information' text.",
        protocol=f"{session_start_time:%Y%m%d}_{mouse_id}_3Stim{reduced_session_type}",
        data_collection="Generated by synthetic fixture (real files: 'Generated by ' + v1 generated_by).",
        institution="Allen Institute for Brain Science",
        notes=notes,
        subject=subject,
    )


def _vc_add_imaging_device(nwbfile: NWBFile) -> Device:
    """follows .../interfaces/shared_methods/_shared_methods.py, add_imaging_device."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Device.manufacturer in pynwb >= 3.1
        device = Device(
            name="Microscope",
            description=(
                "A Nikon A1R-MP multiphoton microscope. "
                "This system was adapted to provide space to accommodate the behavior apparatus."
            ),
            manufacturer="Nikon",
        )
    nwbfile.add_device(device)
    return device


def _vc_add_imaging_plane(nwbfile: NWBFile, location: str) -> ImagingPlane:
    """follows .../interfaces/shared_methods/_shared_methods.py, add_imaging_plane.

    The converter's description string lacks the ``f`` prefix, so the files
    literally contain ``{depth}``; reproduced here.  No imaging_rate is set,
    indicator is hard-coded "GCaMP6f", emission_lambda is NaN.
    """
    optical_channel = OpticalChannel(
        name="OpticalChannel",
        description="An optical channel used to collection light emission during two-photon calcium imaging.",
        emission_lambda=np.nan,
    )
    imaging_plane = ImagingPlane(
        name="ImagingPlane",
        description="The imaging plane sampled by the two-photon calcium imaging at a depth of {depth} µm.",
        excitation_lambda=910.0,
        indicator="GCaMP6f",
        grid_spacing=[0.78, 0.78],
        grid_spacing_unit="micrometers",
        location=location,
        device=nwbfile.devices["Microscope"],
        optical_channel=optical_channel,
    )
    nwbfile.add_imaging_plane(imaging_plane)
    return imaging_plane


class _quiet_region_warning(warnings.catch_warnings):
    """Silence hdmf's 'linked table ... does not share an ancestor' warning.

    It fires while a series and its container are not yet inside the file when
    the shared ``rois`` region is attached; the order is the converter's and
    the written file is fine.
    """

    def __enter__(self):
        result = super().__enter__()
        warnings.filterwarnings("ignore", message="The linked table for DynamicTableRegion")
        return result


def _vc_series(**kwargs) -> RoiResponseSeries:
    """RoiResponseSeries created under ``_quiet_region_warning``."""
    with _quiet_region_warning():
        return RoiResponseSeries(**kwargs)


def write_visual_coding_processed(
    path: str,
    dff,
    rate: float = 30.0,
    genotype: str = VC_GENOTYPE,
    *,
    starting_time: float = 0.0,
    experiment_id: int = 501794235,
    session_type: str = "three_session_B",
    subject_id: str = "501000001",
    specimen_name: str = "Cux2-CreERT2;Camk2a-tTA;Ai93-222424",
    container_id: int = 511507650,
    age_days: int = 107,
    sex: str = "M",
    location: str = "VISp",
    include_events: bool = True,
    include_demixed: bool = True,
    include_behavior_and_stimulus: bool = True,
    stimulus_epochs: StimulusBlocks | None = None,
    mask_shape: tuple[int, int] = (32, 32),
    trace_dtype: str = "float64",
    seed: int = 0,
    session_start_time: _dt.datetime | None = None,
) -> dict:
    """Visual Coding 2p processed file (DANDI 000728 ``..._behavior+image+ophys.nwb``).

    follows catalystneuro/visual-coding-to-nwb-v2 (e92c56f7),
    src/visual_coding_to_nwb_v2/visual_coding_ophys/interfaces/_processed_ophys.py,
    VisualCodingProcessedOphysInterface.add_to_nwbfile (the ophys part), with
    the device/plane from .../interfaces/shared_methods/_shared_methods.py
    (add_imaging_device, add_imaging_plane), file/subject metadata from
    .../interfaces/_general_metadata.py (VisualCodingMetadataInterface.get_metadata),
    the running speed from .../interfaces/_running_speed.py
    (RunningSpeedInterface.add_to_nwbfile), the natural-scenes stimulus from
    .../interfaces/_natural_scenes_stimulus.py (NaturalSceneStimulusInterface),
    and the write path of .../convert_processed_session.py
    (neuroconv make_or_load_nwbfile + configure_backend: gzip datasets).

    DANDI name: ``sub-<subject_id>/sub-<subject_id>_ses-<experiment_id>-Stim<X>_behavior+image+ophys.nwb``
    where ``session_id = f"{experiment_id}-Stim{session_type.split('_')[-1]}"``
    and subject_id is the 9-digit LIMS specimen id in the real files.

    Layout (processing module ``ophys``, "Contains processed optical physiology data."):

    * ``SummaryImages`` (Images) / ``maximum_intensity_projection`` (Image)
    * ``ImageSegmentation`` / ``PlaneSegmentation`` with ``pixel_mask`` and a
      ``global_roi_id`` column.  Because of a loop-variable shadowing bug in the
      converter, the table ``id`` equals ``global_roi_id`` (the cell specimen id),
      not the local ROI id.
    * ``Fluorescence`` / ``Neuropil``, ``Corrected``, ``Demixed`` (optional; missing in
      some real sessions, e.g. 507691476), unit "n.a."
    * ``DfOverF`` / ``DfOverF`` (unit "a.u.") and ``DfOverFEvents`` (unit "a.u.",
      only when the session had an L0 events file; 1413 sessions do)
    * ``ContaminationRatios`` (DynamicTable; ``ratios`` = r, ``ratios_rmse``)

    All series are time x ROIs and share one DynamicTableRegion (rows 0..N-1);
    every series except ``Corrected`` gets ``timestamps=Corrected`` so its
    ``timestamps`` dataset is an HDF5 link to
    ``/processing/ophys/Fluorescence/Corrected/timestamps``.

    Data chosen (see module docstring): DfOverF = ``dff.T``; Corrected =
    F0*(1+dff); Demixed = Corrected + r*Neuropil + noise; events sparse >= 0.
    The real trace dtype is whatever the v1 (NWB 1) files held; ``trace_dtype``
    picks it here.

    ``stimulus_epochs``: (start s, stop s, stimulus type) of the session's stimulus blocks, written as the
    converter's ``/intervals/epochs`` table (and its spontaneous blocks as ``/stimulus/presentation/
    spontaneous_stimulus``); default none, as in the sessions whose epoch table AllenSDK could not compute.
    """
    dff = _as_dff(dff)
    n_rois, n_frames = dff.shape
    rng = np.random.default_rng(seed)
    raw = _raw_traces(dff, rng)
    timestamps = _frame_times(n_frames, rate, starting_time)
    dtype = np.dtype(trace_dtype)

    nwbfile = _vc_nwbfile(
        experiment_id=experiment_id,
        session_type=session_type,
        subject_id=subject_id,
        specimen_name=specimen_name,
        genotype=genotype,
        container_id=container_id,
        age_days=age_days,
        sex=sex,
        session_start_time=session_start_time,
    )

    # -- RunningSpeedInterface: processing/behavior/BehavioralTimeSeries/running_speed
    if include_behavior_and_stimulus:
        running = TimeSeries(
            name="running_speed",
            description=(
                "Velocity of the subject over time, down-sampled to the 2-photon frame times (synthetic)."
            ),
            data=_gzip(np.abs(rng.normal(5.0, 3.0, size=n_frames))),
            timestamps=_gzip(timestamps.copy()),  # its own dataset in the v1 file, not a link
            unit="cm/s",
        )
        behavior_module = nwbfile.create_processing_module(name="behavior", description="Processed behavioral data.")
        behavior_module.add(BehavioralTimeSeries(time_series=running))

        # -- NaturalSceneStimulusInterface: stimulus_template Images + IndexSeries
        scene_images = [
            Image(
                name=f"NaturalScene{index}",
                description="A natural scene presented to the subject. Lasted for exactly 7 frames.",
                data=rng.integers(0, 256, size=(8, 12), dtype=np.uint8),
            )
            for index in range(3)
        ]
        all_scenes = Images(
            name="natural_scenes_template",
            description="A collection of natural scenes presented to the subject. Lasted for exactly 7 frames.",
            images=scene_images,
        )
        nwbfile.add_stimulus_template(all_scenes)
        n_presentations = max(1, n_frames // 8)
        nwbfile.add_stimulus(
            IndexSeries(
                name="natural_scenes_stimulus",
                description="The order and timing for presentation of the natural scene templates.",
                data=rng.integers(0, 3, size=n_presentations).astype(np.uint32),
                indexed_images=all_scenes,
                # the converter passes unit="n.a."; current pynwb fixes IndexSeries.unit
                # to "N/A" and refuses other values for new objects.
                unit="N/A",
                timestamps=timestamps[::8][:n_presentations].copy(),
            )
        )

    # -- VisualCodingProcessedOphysInterface.add_to_nwbfile, step by step
    ophys_module = nwbfile.create_processing_module(
        name="ophys", description="Contains processed optical physiology data."
    )

    masks, _ = _disk_masks(rng, n_rois, mask_shape)
    background = rng.integers(0, 40, size=masks.shape[1:]).astype(np.uint8)
    projection = (masks.sum(axis=0) > 0).astype(np.uint8) * 200 + background
    maximum_intensity_projection_image = Image(
        name="maximum_intensity_projection",
        description="Summary image calculated from maximum intensity of the plane.",
        data=projection,
    )
    ophys_module.add(
        Images(
            name="SummaryImages",
            description="Summary images derived from the two-photon calcium imaging.",
            images=[maximum_intensity_projection_image],
        )
    )

    local_roi_ids = [int(x) for x in 517000000 + np.arange(n_rois) * 7]
    global_roi_ids = [int(x) for x in 517470000 + np.arange(n_rois) * 13]
    pixel_masks = []
    for mask in masks:
        rows, cols = np.nonzero(mask)
        # stored as (x=column, y=row, weight); the converter swaps the v1 (x, y)
        # order so that pixel_mask lines up with the image orientation.
        pixel_masks.append([(int(c), int(r), 1.0) for r, c in zip(rows, cols)])

    if "Microscope" not in nwbfile.devices:
        _vc_add_imaging_device(nwbfile)
    if "ImagingPlane" not in nwbfile.imaging_planes:
        _vc_add_imaging_plane(nwbfile, location=location)
    imaging_plane = nwbfile.imaging_planes["ImagingPlane"]

    plane_segmentation = PlaneSegmentation(
        name="PlaneSegmentation",
        description="Segmented regions of interest (ROI).",
        imaging_plane=imaging_plane,
    )
    plane_segmentation.add_column(
        name="global_roi_id", description="The global ID assigned to each unique ROI across sessions."
    )
    # The converter's loop ``for global_roi_id, pixel_mask, global_roi_id in
    # zip(local_roi_ids, pixel_masks, global_roi_ids)`` rebinds the first name,
    # so both id and global_roi_id end up as the cell specimen (global) id.
    for _local_id, pixel_mask, global_id in zip(local_roi_ids, pixel_masks, global_roi_ids):
        plane_segmentation.add_roi(id=global_id, pixel_mask=pixel_mask, global_roi_id=global_id)
    ophys_module.add(ImageSegmentation(name="ImageSegmentation", plane_segmentations=plane_segmentation))

    roi_table_region = plane_segmentation.create_roi_table_region(
        region=list(range(n_rois)),
        description="The regions of interest (ROIs) this response series refers to.",
    )

    corrected_series = _vc_series(
        name="Corrected",
        description=(
            "Fluorescence per region of interest (ROI) from the raw imaging after spatial demixing and subtraction "
            "of neuropil background, but prior to dF/F normalization."
        ),
        data=_gzip(raw["corrected"].T.astype(dtype)),
        timestamps=_gzip(timestamps),
        unit="n.a.",
        rois=roi_table_region,
    )
    neuropil_series = _vc_series(
        name="Neuropil",
        description="Fluorescence contaminated by background neuropil.",
        data=_gzip(raw["neuropil"].T.astype(dtype)),
        timestamps=corrected_series,  # link
        unit="n.a.",
        rois=roi_table_region,
    )
    roi_response_series = [neuropil_series, corrected_series]
    if include_demixed:
        roi_response_series.append(
            _vc_series(
                name="Demixed",
                description="Spatially demixed traces of potentially overlapping masks.",
                data=_gzip(raw["demixed"].T.astype(dtype)),
                timestamps=corrected_series,  # link
                unit="n.a.",
                rois=roi_table_region,
            )
        )
    with _quiet_region_warning():
        ophys_module.add(Fluorescence(name="Fluorescence", roi_response_series=roi_response_series))

    df_over_f_series = _vc_series(
        name="DfOverF",
        description=(
            "The normalized ΔF/F trace calculated using the AllenSDK. "
            "Please consult the AllenSDK for details of the calculation."
        ),
        data=_gzip(dff.T.astype(dtype)),
        timestamps=corrected_series,  # link
        unit="a.u.",
        rois=roi_table_region,
    )
    all_df_over_f_series = [df_over_f_series]
    if include_events:
        all_df_over_f_series.append(
            _vc_series(
                name="DfOverFEvents",
                description=(
                    "Events from the ΔF/F detected using the L0 method from the AllenSDK. "
                    "Please consult the AllenSDK for more details of the calculation."
                ),
                # BrainObservatoryCache.get_ophys_experiment_events() is cells x time;
                # generate_df_over_f_events.py saved its transpose (time x cells).
                data=_gzip(raw["events"].T.astype(np.float64)),
                timestamps=corrected_series,  # link
                unit="a.u.",
                rois=roi_table_region,
            )
        )
    with _quiet_region_warning():
        ophys_module.add(DfOverF(name="DfOverF", roi_response_series=all_df_over_f_series))

    ophys_module.add(
        DynamicTable(
            name="ContaminationRatios",
            description="Pre-calculated statistics quantifying the effectiveness of the neuropil subtraction.",
            columns=[
                VectorData(
                    name="ratios",
                    description=(
                        "Contamination ratios r from Corrected = Demixed - ratios * Neuropil (synthetic)."
                    ),
                    data=raw["r"],
                ),
                VectorData(
                    name="ratios_rmse",
                    description="RMSE of the contamination-ratio fit scaled by the mean demixed signal (synthetic).",
                    data=raw["rmse"],
                ),
            ],
        )
    )

    if stimulus_epochs:
        _vc_epochs(nwbfile, stimulus_epochs)

    _write(nwbfile, path)
    return {
        "path": str(path),
        "layout": "visual_coding_processed",
        "session_id": nwbfile.session_id,
        "dandi_name": f"sub-{subject_id}_ses-{nwbfile.session_id}_behavior+image+ophys.nwb",
        "dff_path": "/processing/ophys/DfOverF/DfOverF",
        "events_path": "/processing/ophys/DfOverF/DfOverFEvents" if include_events else None,
        "timestamps_owner": "/processing/ophys/Fluorescence/Corrected/timestamps",
        "roi_ids": np.asarray(global_roi_ids),
        "timestamps": timestamps,
        "f0": raw["f0"],
        "r": raw["r"],
    }


def write_visual_coding_raw_movie(
    path: str,
    frames: int = 200,
    shape: tuple[int, int] = (64, 64),
    rate: float = 30.0,
    genotype: str = VC_GENOTYPE,
    *,
    starting_time: float = 0.0,
    experiment_id: int = 501794235,
    session_type: str = "three_session_B",
    subject_id: str = "501000001",
    specimen_name: str = "Cux2-CreERT2;Camk2a-tTA;Ai93-222424",
    container_id: int = 511507650,
    age_days: int = 107,
    sex: str = "M",
    location: str = "VISp",
    movie_dtype: str = "uint16",
    seed: int = 0,
    session_start_time: _dt.datetime | None = None,
) -> dict:
    """Visual Coding 2p raw-movie companion file (DANDI 000728 ``..._ophys.nwb``).

    follows catalystneuro/visual-coding-to-nwb-v2 (e92c56f7),
    src/visual_coding_to_nwb_v2/visual_coding_ophys/interfaces/_two_photon_series.py,
    VisualCodingTwoPhotonSeriesInterface.add_to_nwbfile, as run by
    .../safe_download_convert_and_upload_raw_session.py
    (safe_download_convert_and_upload_raw_session: source_data holds only
    ``TwoPhotonSeries`` and ``Metadata``, so no processing module at all; the
    local name ``ses-<id>_desc-raw.nwb`` becomes
    ``sub-<subject_id>_ses-<experiment_id>-Stim<X>_ophys.nwb`` on DANDI).

    Layout: device ``Microscope``, ``ImagingPlane`` (as in the processed file),
    ``/acquisition/MotionCorrectedTwoPhotonSeries`` (TwoPhotonSeries, data
    frames x height x width, unit "n.a.", explicit timestamps = the v1
    ``2p_image_series`` timestamps) and ``/acquisition/MotionCorrectionShiftsPerFrame``
    (TimeSeries frames x 2, unit "n.a.", timestamps linked to the
    TwoPhotonSeries).  Movie dtype: the source ``ophys_experiment_<id>.h5``
    dtype (assumed uint16 here).
    """
    rng = np.random.default_rng(seed)
    height, width = int(shape[0]), int(shape[1])
    timestamps = _frame_times(int(frames), rate, starting_time)
    nwbfile = _vc_nwbfile(
        experiment_id=experiment_id,
        session_type=session_type,
        subject_id=subject_id,
        specimen_name=specimen_name,
        genotype=genotype,
        container_id=container_id,
        age_days=age_days,
        sex=sex,
        session_start_time=session_start_time,
    )

    _vc_add_imaging_device(nwbfile)
    _vc_add_imaging_plane(nwbfile, location=location)
    imaging_plane = nwbfile.imaging_planes["ImagingPlane"]

    movie = rng.poisson(300.0, size=(int(frames), height, width)).astype(np.dtype(movie_dtype))
    frame_bytes = height * width * movie.dtype.itemsize
    frames_per_chunk = max(1, min(int(frames), int(10e6 / frame_bytes)))
    two_photon_series = TwoPhotonSeries(
        name="MotionCorrectedTwoPhotonSeries",
        description=(
            "Motion corrected flourescence from calcium imaging recording. "
            "Refer to the 'MotionCorrectionShiftsPerFrame' series to see how each frame was shifted."
        ),
        data=H5DataIO(movie, chunks=(frames_per_chunk, height, width), compression="gzip"),
        imaging_plane=imaging_plane,
        unit="n.a.",
        timestamps=_gzip(timestamps),
    )
    nwbfile.add_acquisition(two_photon_series)

    # v1 MotionCorrection xy_translation is (frames, 2) as (x, y); the converter flips
    # the second axis so column 0 is the row shift... (its own comment is unsure).
    xy_translation = rng.normal(0.0, 1.5, size=(int(frames), 2))
    shifts = TimeSeries(
        name="MotionCorrectionShiftsPerFrame",
        description=(
            "The continuous column (first value of the second axis) and row (second value of second axis) shifts"
            "estimated by motion correction. Actual pixel shifts per axis are the nearest integer to these values."
        ),
        data=_gzip(np.flip(xy_translation, axis=1).copy()),
        unit="n.a.",
        timestamps=two_photon_series,  # link
    )
    nwbfile.add_acquisition(shifts)

    _write(nwbfile, path)
    return {
        "path": str(path),
        "layout": "visual_coding_raw_movie",
        "session_id": nwbfile.session_id,
        "dandi_name": f"sub-{subject_id}_ses-{nwbfile.session_id}_ophys.nwb",
        "movie_path": "/acquisition/MotionCorrectedTwoPhotonSeries",
        "timestamps": timestamps,
    }


# --------------------------------------------------------------------------
# Visual Behavior 2p (DANDI 000711) -- AllenInstitute/AllenSDK
# --------------------------------------------------------------------------
_VB_EXPT_DESCRIPTION = (
    "Synthetic Visual Behavior session; real files carry the session-type specific text from "
    "allensdk behavior_metadata.description_dict."
)


def _vb_nwbfile(
    *,
    session_type: str,
    identifier: str,
    session_start_time: _dt.datetime | None,
    keywords: Sequence[str],
) -> NWBFile:
    """follows allensdk/brain_observatory/behavior/behavior_session.py, BehaviorSession.to_nwb (NWBFile(...))."""
    if session_start_time is None:
        session_start_time = _dt.datetime(2018, 8, 24, 14, 51, 25, tzinfo=_pacific())
    return NWBFile(
        session_description=session_type,
        identifier=identifier,
        session_start_time=session_start_time,
        file_create_date=_dt.datetime.now(_dt.timezone.utc),
        institution="Allen Institute for Brain Science",
        keywords=list(keywords),
        experiment_description=_VB_EXPT_DESCRIPTION,
    )


def _vb_stimulus_timestamps(nwbfile: NWBFile, stimulus_ts: np.ndarray) -> None:
    """follows .../data_objects/timestamps/stimulus_timestamps/stimulus_timestamps.py, StimulusTimestamps.to_nwb."""
    series = TimeSeries(name="timestamps", data=stimulus_ts, timestamps=stimulus_ts, unit="s")
    module = ProcessingModule(name="stimulus", description="Stimulus Times processing")
    module.add(series)
    nwbfile.add_processing_module(module)


def _vb_running(nwbfile: NWBFile, stimulus_ts: np.ndarray, rng: np.random.Generator) -> None:
    """follows .../data_objects/running_speed/running_acquisition.py (RunningAcquisition.to_nwb)
    and .../data_objects/running_speed/running_speed.py (RunningSpeed.to_nwb, unfiltered then filtered)."""
    n = stimulus_ts.size
    dx = rng.normal(0.3, 0.2, size=n)
    running_module = ProcessingModule(name="running", description="Running speed processing module")
    nwbfile.add_processing_module(running_module)
    running_module.add(
        TimeSeries(
            name="dx",
            data=dx,
            timestamps=stimulus_ts,
            unit="cm",
            description="Running wheel angular change, computed during data collection",
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="v_sig",
            data=rng.uniform(0.0, 5.0, size=n),
            timestamps=stimulus_ts,
            unit="V",
            description="Voltage signal from the running wheel encoder",
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="v_in",
            data=np.full(n, 5.0),
            timestamps=stimulus_ts,
            unit="V",
            description="Theoretical maximum encoder voltage before wrapping (synthetic).",
        )
    )
    speed = np.abs(dx) * 60.0
    running_module.add(
        TimeSeries(name="speed_unfiltered", data=speed, timestamps=stimulus_ts, unit="cm/s")
    )
    smooth = np.convolve(speed, np.ones(5) / 5.0, mode="same")
    running_module.add(TimeSeries(name="speed", data=smooth, timestamps=stimulus_ts, unit="cm/s"))


def _vb_subject_and_device(
    nwbfile: NWBFile, *, genotype: str, mouse_id: str, age_days: int, sex: str, equipment_name: str
) -> None:
    """follows .../metadata/subject_metadata/subject_metadata.py (SubjectMetadata.to_nwb)
    and .../metadata/behavior_metadata/equipment.py (Equipment.to_nwb)."""
    ext = allen_extension_classes()
    drivers, reporter = _split_genotype(genotype)
    nwbfile.subject = ext["BehaviorSubject"](
        description="A visual behavior subject with a LabTracks ID",
        age=f"P{int(age_days)}D",
        driver_line=drivers,
        genotype=genotype,
        subject_id=str(mouse_id),
        reporter_line=str(reporter),
        sex=sex,
        species="Mus musculus",
    )
    if equipment_name.startswith("MESO"):
        device_kwargs = {"name": equipment_name, "description": "Allen Brain Observatory - Mesoscope 2P Rig"}
    else:
        device_kwargs = {
            "name": equipment_name,
            "description": "Allen Brain Observatory - Scientifica 2P Rig",
            "manufacturer": "Scientifica",
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Device.manufacturer in pynwb >= 3.1
        nwbfile.create_device(**device_kwargs)


def _vb_licks_rewards(nwbfile: NWBFile, stimulus_ts: np.ndarray, rng: np.random.Generator) -> None:
    """follows .../data_objects/licks.py (Licks.to_nwb) and .../data_objects/rewards.py (Rewards.to_nwb)."""
    n_licks = max(3, stimulus_ts.size // 60)
    frames = np.sort(rng.choice(stimulus_ts.size, size=n_licks, replace=False))
    licks_module = ProcessingModule(name="licking", description="Licking behavior processing module")
    licks_module.add(
        TimeSeries(
            name="licks",
            data=frames.astype(np.int64),
            timestamps=stimulus_ts[frames],
            description="Timestamps and stimulus presentation frame indices for lick events",
            unit="N/A",
        )
    )
    nwbfile.add_processing_module(licks_module)

    reward_times = np.sort(rng.choice(stimulus_ts, size=2, replace=False))
    volume = TimeSeries(name="volume", data=np.array([0.007, 0.005]), timestamps=reward_times, unit="mL")
    autorewarded = TimeSeries(
        name="autorewarded", data=np.array([False, True]), timestamps=volume.timestamps, unit="mL"
    )
    rewards_module = ProcessingModule(name="rewards", description="Licking behavior processing module")
    rewards_module.add(volume)
    rewards_module.add(autorewarded)
    nwbfile.add_processing_module(rewards_module)


def _vb_task_parameters(nwbfile: NWBFile, session_type: str, n_stimulus_frames: int) -> None:
    """follows .../data_objects/task_parameters.py, TaskParameters.to_nwb (lab_meta_data 'task_parameters')."""
    ext = allen_extension_classes()
    nwbfile.add_lab_meta_data(
        ext["BehaviorTaskParameters"](
            name="task_parameters",
            stimulus_distribution="geometric",
            auto_reward_volume=0.005,
            stimulus_name="Natural_Images_Lum_Matched_set_training_2017.07.14",
            blank_duration_sec=np.array(["0.5", "0.5"]),
            omitted_flash_fraction=0.05,
            task="change detection",
            n_stimulus_frames=int(n_stimulus_frames),
            stimulus="images",
            session_type=session_type,
            reward_volume=0.007,
            response_window_sec=np.array(["0.15", "0.75"]),
            stimulus_duration_sec=0.25,
        )
    )


def _vb_image(nwbfile: NWBFile, module_name: str, module_description: str, image_name: str, data, spacing_mm: float):
    """follows allensdk/brain_observatory/nwb/nwb_utils.py, add_image_to_nwb."""
    if module_name not in nwbfile.processing:
        module = ProcessingModule(name=module_name, description=module_description)
        nwbfile.add_processing_module(module)
    else:
        module = nwbfile.processing[module_name]
    image = GrayscaleImage(
        name=image_name,
        data=data,
        resolution=spacing_mm / 10,
        description=f"{image_name} image at pixels/cm resolution",
    )
    if "images" not in module.containers:
        images = Images(name="images")
        module.add(images)
    else:
        images = module["images"]
    images.add_image(image)


_VB_CELL_COL_DESCRIPTIONS = {
    # keys as allensdk/brain_observatory/nwb/__init__.py CELL_SPECIMEN_COL_DESCRIPTIONS
    "cell_specimen_id": "Unified id of segmented cell across experiments (after cell matching)",
    "height": "Height of ROI in pixels",
    "width": "Width of ROI in pixels",
    "mask_image_plane": (
        "Which image plane an ROI resides on. Overlapping ROIs are stored on different mask image planes."
    ),
    "max_correction_down": "Max motion correction in down direction in pixels",
    "max_correction_left": "Max motion correction in left direction in pixels",
    "max_correction_up": "Max motion correction in up direction in pixels",
    "max_correction_right": "Max motion correction in right direction in pixels",
    "valid_roi": "Indicates if cell classification found the ROI to be a cell or not",
    "x": "x position of ROI in Image Plane in pixels (top left corner)",
    "y": "y position of ROI in Image Plane in pixels (top left corner)",
}
# Column order as written: cell_specimen_id first (it is the index that gets
# reset), then the remaining LIMS cell_rois columns sorted alphabetically
# (CellSpecimens._postprocess sorts them); roi_mask becomes image_mask.
_VB_CELL_COLUMNS = [
    "cell_specimen_id",
    "height",
    "mask_image_plane",
    "max_correction_down",
    "max_correction_left",
    "max_correction_right",
    "max_correction_up",
    "valid_roi",
    "width",
    "x",
    "y",
]

_SDK_VERSIONS = ("2.16", "2.14", "2.13", "2.3")


def write_visual_behavior(
    path: str,
    dff,
    rate: float = 31.0,
    genotype: str = VB_GENOTYPE,
    legacy_rois_by_time: bool = False,
    *,
    sdk_version: str = "2.16",
    starting_time: float = 0.0,
    ophys_experiment_id: int = 951980486,
    ophys_session_id: int = 951410079,
    behavior_session_id: int = 951520319,
    ophys_container_id: int = 1018027834,
    mouse_id: str = "403491",
    age_days: int = 139,
    sex: str = "M",
    session_type: str = "OPHYS_1_images_A",
    equipment_name: str = "CAM2P.4",
    project_code: str = "VisualBehavior",
    targeted_structure: str = "VISp",
    imaging_depth: int = 175,
    events_rois: Sequence[int] | None = None,
    include_task_parameters: bool = True,
    stimulus_blocks: StimulusBlocks | None = None,
    mask_shape: tuple[int, int] = (32, 32),
    seed: int = 0,
    session_start_time: _dt.datetime | None = None,
) -> dict:
    """Visual Behavior 2p ophys experiment file (AllenSDK BehaviorOphysExperiment).

    follows AllenInstitute/AllenSDK,
    allensdk/brain_observatory/behavior/behavior_ophys_experiment.py,
    BehaviorOphysExperiment.to_nwb -> BehaviorSession.to_nwb(add_metadata=False)
    (behavior_session.py) then BehaviorOphysMetadata.to_nwb
    (data_objects/metadata/behavior_ophys_metadata.py), Projections.to_nwb
    (data_objects/projections.py), CellSpecimens.to_nwb
    (data_objects/cell_specimens/cell_specimens.py: cell_specimen_table, then
    DFFTraces.to_nwb, DemixedTraces.to_nwb, NeuropilTraces.to_nwb,
    CorrectedFluorescenceTraces.to_nwb in traces/*.py, Events.to_nwb in
    cell_specimens/events.py, segmentation mask image) and
    MotionCorrection.to_nwb (data_objects/motion_correction.py); written with
    NWBHDF5IO (nwb/nwb_utils.py NWBWriter._write_nwb), so the extension
    namespaces are cached in /specifications.

    Layout (``sdk_version="2.16"``, the writer that made the 2023 VBO release
    files; DANDI 000711 version 0.231121.1730 dates from then):

    * ``/general/subject`` BehaviorSubject (ndx-aibs-behavior-ophys), device
      ``<equipment_name>``, ``/general/metadata`` OphysBehaviorMetadata
      (and ``/general/task_parameters`` BehaviorTaskParameters)
    * processing ``stimulus``/timestamps, ``running``/dx, speed_unfiltered, speed,
      acquisition v_sig/v_in, ``licking``/licks, ``rewards``/volume, autorewarded
    * processing ``ophys`` ("Ophys processing module"):
      ``images`` (max_projection, average_image, segmentation_mask_image),
      ``image_segmentation/cell_specimen_table`` (id = cell_roi_id, columns
      cell_specimen_id (-1 if none), height, mask_image_plane,
      max_correction_*, valid_roi, width, x, y, image_mask full-FOV bool),
      ``dff/traces`` (DfOverF, unit "NA", time x ROIs, float64),
      ``demixed_trace/traces``, ``neuropil_trace/traces`` (Fluorescence, "NA"),
      ``corrected_fluorescence/traces`` + 1-D ``r`` and ``RMSE`` (length N,
      timestamps ``arange(N)``),
      ``event_detection`` (OphysEventDetection, directly in the module, unit
      "N/A", time x ROIs-with-events, gzip, lambdas, noise_stds),
      ``ophys_motion_correction_x`` / ``_y`` (TimeSeries, "pixels").
    * Timestamps are NOT links: every series gets a copy of the dff
      timestamps array (numpy array passed, not the TimeSeries).
    * The trace ``rois`` region of dff is reused by the Fluorescence series
      (written as links to ``dff/traces/rois``); event_detection has its own.

    ``sdk_version``:
      "2.16": as above (r/RMSE timestamps = arange(N), commit 91456bf3a, v2.16.0).
      "2.14": r/RMSE present but their timestamps are the full ophys timestamps
              (length T != N), v2.14.0-v2.15.2 (commit 9c3fc8f79 added r/RMSE).
      "2.13": no r/RMSE and no demixed_trace/neuropil_trace (<= v2.13.x).
      "2.3":  the pre-v2.4.0 processing layout: module ``two_photon_imaging``
              ("2P processing module"), dff/traces and corrected_fluorescence/traces
              ROIs x time, no event_detection, motion correction in module
              ``motion_correction`` (series ``x``, ``y``), images in
              ``two_photon_imaging/images``.  Subject/metadata still use the
              0.2.0 extension here (the real <= 2.3 namespace had different
              attributes, e.g. rig_name, experiment_datetime).

    ``legacy_rois_by_time=True`` stores ``dff/traces/data`` (and, as the old
    writer did for both, ``corrected_fluorescence/traces/data``) ROIs x time
    while keeping the rest of the chosen layout.  AllenSDK wrote these two
    datasets ROIs x time up to v2.3.2 (allensdk/brain_observatory/nwb/__init__.py,
    add_dff_traces / add_corrected_fluorescence_traces, called from
    behavior_ophys_api/behavior_ophys_nwb_api.py BehaviorOphysNwbApi.save);
    commit 59c3711d7 (2020-10-12, "Store dff and fluorescence traces as
    timepoints x ROIs") made them time x ROIs, first released in v2.4.0
    (2020-12-21).  The public VBO release (v2.10.2, 2021-03) is time x ROIs.

    ``events_rois``: indices of ROIs that have events (default all); the real
    writer stores only ROIs present in the events file.

    ``stimulus_blocks``: (start s, stop s, stimulus name) of the session's stimulus blocks, written as
    AllenSDK's ``/intervals/<stimulus_name>_presentations`` tables (image blocks as 250 ms flashes);
    default none.
    """
    if sdk_version not in _SDK_VERSIONS:
        raise ValueError(f"sdk_version must be one of {_SDK_VERSIONS}")
    legacy_layout = sdk_version == "2.3"
    rois_by_time = bool(legacy_rois_by_time) or legacy_layout
    module_name = "two_photon_imaging" if legacy_layout else "ophys"
    module_description = "2P processing module" if legacy_layout else "Ophys processing module"
    with_events = not legacy_layout
    with_demixed_neuropil = sdk_version in ("2.16", "2.14")
    with_r_rmse = sdk_version in ("2.16", "2.14")

    dff = _as_dff(dff)
    n_rois, n_frames = dff.shape
    rng = np.random.default_rng(seed)
    raw = _raw_traces(dff, rng)
    ophys_timestamps = _frame_times(n_frames, rate, starting_time)
    ext = allen_extension_classes()

    # ---- BehaviorSession.to_nwb(add_metadata=False)
    nwbfile = _vb_nwbfile(
        session_type=session_type,
        identifier=str(ophys_experiment_id),  # BehaviorOphysExperiment._get_identifier
        session_start_time=session_start_time,
        keywords=["2-photon", "calcium imaging", "visual cortex", "behavior", "task"],
    )
    duration = n_frames / float(rate)
    stimulus_ts = float(starting_time) + np.arange(int(duration * 60.0)) / 60.0
    _vb_stimulus_timestamps(nwbfile, stimulus_ts)
    _vb_running(nwbfile, stimulus_ts, rng)
    _vb_licks_rewards(nwbfile, stimulus_ts, rng)
    if include_task_parameters:
        _vb_task_parameters(nwbfile, session_type, stimulus_ts.size)
    if stimulus_blocks:
        _vb_presentations(nwbfile, stimulus_blocks)

    # ---- BehaviorOphysMetadata.to_nwb: subject, device, lab_meta_data 'metadata'
    _vb_subject_and_device(
        nwbfile, genotype=genotype, mouse_id=mouse_id, age_days=age_days, sex=sex, equipment_name=equipment_name
    )
    fov_height, fov_width = int(mask_shape[0]), int(mask_shape[1])
    nwbfile.add_lab_meta_data(
        ext["OphysBehaviorMetadata"](
            name="metadata",
            ophys_session_id=int(ophys_session_id),
            field_of_view_width=fov_width,
            field_of_view_height=fov_height,
            imaging_plane_group=-1,
            imaging_plane_group_count=0,
            stimulus_frame_rate=60.0,
            ophys_container_id=int(ophys_container_id),
            ophys_experiment_id=int(ophys_experiment_id),
            session_type=session_type,
            equipment_name=equipment_name,
            imaging_depth=int(imaging_depth),
            targeted_imaging_depth=int(imaging_depth),
            behavior_session_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"foraging/{behavior_session_id}")),
            behavior_session_id=int(behavior_session_id),
            project_code=project_code,
        )
    )

    # ---- Projections.to_nwb
    masks, centres = _disk_masks(rng, n_rois, mask_shape)
    spacing_mm = 0.78 / 1000.0
    base = rng.integers(20, 60, size=masks.shape[1:])
    max_projection = np.clip(base + 180 * masks.any(axis=0), 0, 255).astype(np.uint8)
    average_image = np.clip(base + 60 * masks.any(axis=0), 0, 255).astype(np.uint8)
    _vb_image(nwbfile, module_name, module_description, "max_projection", max_projection, spacing_mm)
    _vb_image(nwbfile, module_name, module_description, "average_image", average_image, spacing_mm)

    # ---- CellSpecimens.to_nwb, 1. cell specimen table
    device = nwbfile.get_device()
    imaging_plane_description = f"{(fov_width, fov_height)} field of view in {targeted_structure} at depth {imaging_depth} um"
    optical_channel = OpticalChannel(name="channel_1", description="2P Optical Channel", emission_lambda=520.0)
    _, reporter = _split_genotype(genotype)
    imaging_plane = nwbfile.create_imaging_plane(
        name="imaging_plane_1",
        optical_channel=optical_channel,
        description=imaging_plane_description,
        device=device,
        excitation_lambda=910.0,
        imaging_rate=float(1.0 / np.mean(np.diff(ophys_timestamps))),
        indicator=_indicator_from_reporter(reporter),
        location=(f"Area: {targeted_structure}, Depth: {imaging_depth} um" if legacy_layout else targeted_structure),
    )
    image_segmentation = ImageSegmentation(name="image_segmentation")
    if module_name not in nwbfile.processing:
        ophys_module = ProcessingModule(name=module_name, description=module_description)
        nwbfile.add_processing_module(ophys_module)
    else:
        ophys_module = nwbfile.processing[module_name]
    ophys_module.add(image_segmentation)
    plane_segmentation = image_segmentation.create_plane_segmentation(
        name="cell_specimen_table", description="Segmented rois", imaging_plane=imaging_plane
    )
    for column in _VB_CELL_COLUMNS:
        plane_segmentation.add_column(column, _VB_CELL_COL_DESCRIPTIONS.get(column, "No Description Available"))
    cell_roi_ids = [int(x) for x in 1080740000 + np.arange(n_rois) * 11]
    cell_specimen_ids = [int(x) for x in 1086490000 + np.arange(n_rois) * 17]
    for i in range(n_rois):
        rows, cols = np.nonzero(masks[i])
        plane_segmentation.add_roi(
            image_mask=masks[i],
            id=cell_roi_ids[i],
            cell_specimen_id=cell_specimen_ids[i],
            height=int(rows.max() - rows.min() + 1),
            mask_image_plane=0,
            max_correction_down=3.0,
            max_correction_left=4.0,
            max_correction_right=2.0,
            max_correction_up=5.0,
            valid_roi=True,
            width=int(cols.max() - cols.min() + 1),
            x=int(cols.min()),
            y=int(rows.min()),
        )

    # ---- 2. DFFTraces.to_nwb
    roi_table_region = plane_segmentation.create_roi_table_region(
        description="segmented cells labeled by cell_specimen_id", region=slice(n_rois)
    )
    dff_interface = DfOverF(name="dff")
    ophys_module.add(dff_interface)
    dff_interface.add_roi_response_series(
        _roi_response_series(
            name="traces",
            data=dff if rois_by_time else dff.T,  # rois x time (<= 2.3.x) / time x rois
            unit="NA",
            rois=roi_table_region,
            timestamps=ophys_timestamps,
        )
    )
    dff_traces = dff_interface.roi_response_series["traces"]
    shared_rois = dff_traces.rois
    shared_timestamps = dff_traces.timestamps  # a numpy array -> each series gets its own copy

    # ---- 3./4. DemixedTraces.to_nwb, NeuropilTraces.to_nwb
    if with_demixed_neuropil:
        for container_name, key in (("demixed_trace", "demixed"), ("neuropil_trace", "neuropil")):
            interface = Fluorescence(name=container_name)
            ophys_module.add(interface)
            interface.create_roi_response_series(
                name="traces",
                data=raw[key].T,
                unit="NA",
                rois=shared_rois,
                timestamps=shared_timestamps,
            )

    # ---- 5. CorrectedFluorescenceTraces.to_nwb
    f_interface = Fluorescence(name="corrected_fluorescence")
    ophys_module.add(f_interface)
    f_interface.add_roi_response_series(
        _roi_response_series(
            name="traces",
            data=raw["corrected"] if rois_by_time else raw["corrected"].T,
            unit="NA",
            rois=shared_rois,
            timestamps=shared_timestamps,
        )
    )
    if with_r_rmse:
        # r and RMSE are per-ROI values parked in RoiResponseSeries; from v2.16.0 the
        # timestamps are a dummy arange(N) (int64, stored as float64 by the schema),
        # in v2.14.0-v2.15.2 they were the full ophys timestamps (length T != N).
        for name, values in (("r", raw["r"]), ("RMSE", raw["rmse"])):
            f_interface.add_roi_response_series(
                _roi_response_series(
                    name=name,
                    data=values,
                    unit="NA",
                    rois=shared_rois,
                    timestamps=(np.arange(len(values)) if sdk_version == "2.16" else shared_timestamps),
                )
            )

    # ---- 6. Events.to_nwb (directly in the processing module, fixed name)
    if with_events:
        event_rois = list(range(n_rois)) if events_rois is None else [int(i) for i in events_rois]
        events_region = plane_segmentation.create_roi_table_region(
            description="Cells with detected events", region=event_rois
        )
        events_data = raw["events"][event_rois]
        ophys_module.add(
            ext["OphysEventDetection"](
                data=H5DataIO(events_data.T, compression=True),  # time x rois, gzip
                lambdas=raw["lambdas"][event_rois],
                noise_stds=raw["noise_stds"][event_rois],
                unit="N/A",
                rois=events_region,
                timestamps=dff_traces.timestamps,
            )
        )

    # ---- 7. segmentation mask image
    _vb_image(
        nwbfile,
        module_name,
        module_description,
        "segmentation_mask_image",
        masks.sum(axis=0).astype(int),
        spacing_mm,
    )

    # ---- MotionCorrection.to_nwb
    motion_x = rng.normal(0.0, 1.0, size=n_frames).round()
    motion_y = rng.normal(0.0, 1.0, size=n_frames).round()
    if legacy_layout:
        motion_module = ProcessingModule(name="motion_correction", description="Motion Correction processing module")
        motion_module.add(TimeSeries(name="x", data=motion_x, timestamps=shared_timestamps, unit="pixels"))
        motion_module.add(TimeSeries(name="y", data=motion_y, timestamps=shared_timestamps, unit="pixels"))
        nwbfile.add_processing_module(motion_module)
    else:
        ophys_module.add(
            TimeSeries(name="ophys_motion_correction_x", data=motion_x, timestamps=shared_timestamps, unit="pixels")
        )
        ophys_module.add(
            TimeSeries(name="ophys_motion_correction_y", data=motion_y, timestamps=shared_timestamps, unit="pixels")
        )

    _write(nwbfile, path)
    prefix = f"/processing/{module_name}"
    return {
        "path": str(path),
        "layout": "visual_behavior",
        "sdk_version": sdk_version,
        "module": module_name,
        "dff_path": f"{prefix}/dff/traces",
        "dff_orientation": "rois_x_time" if rois_by_time else "time_x_rois",
        "events_path": f"{prefix}/event_detection" if with_events else None,
        "cell_roi_ids": np.asarray(cell_roi_ids),
        "cell_specimen_ids": np.asarray(cell_specimen_ids),
        "timestamps": ophys_timestamps,
        "f0": raw["f0"],
    }


def write_visual_behavior_behavior_only(
    path: str,
    *,
    duration_s: float = 20.0,
    behavior_session_id: int = 870987812,
    mouse_id: str = "403491",
    genotype: str = VB_GENOTYPE,
    age_days: int = 91,
    sex: str = "M",
    session_type: str = "TRAINING_3_images_A_10uL_reward",
    equipment_name: str = "BEH.B-Box2",
    project_code: str = "VisualBehavior",
    include_stimulus_template: bool = True,
    include_task_parameters: bool = True,
    seed: int = 0,
    session_start_time: _dt.datetime | None = None,
) -> dict:
    """Visual Behavior behavior-only session (AllenSDK BehaviorSession; no ophys module).

    follows AllenInstitute/AllenSDK,
    allensdk/brain_observatory/behavior/behavior_session.py,
    BehaviorSession.to_nwb(add_metadata=True): NWBFile(identifier=str(behavior_session_id),
    keywords ["visual", "behavior", "task"]), StimulusTimestamps.to_nwb,
    RunningAcquisition.to_nwb, RunningSpeed.to_nwb (unfiltered, filtered),
    BehaviorMetadata.to_nwb (data_objects/metadata/behavior_metadata/behavior_metadata.py:
    BehaviorSubject, Equipment device, lab_meta_data ``metadata`` of type
    BehaviorMetadata), Licks.to_nwb, Rewards.to_nwb, Templates.to_nwb
    (data_objects/stimuli/templates.py: StimulusTemplate of
    ndx-aibs-stimulus-template in /stimulus/templates), TaskParameters.to_nwb.
    Trials, stimulus presentation intervals and eye tracking are left out.

    Observed DANDI 000711 name of such a file: ``sub-403491/sub-403491_ses-20180824T145125_image.nwb``
    (only the stimulus template counts as a modality; the files have no
    session_id, so the session label is a start-time stamp).
    """
    rng = np.random.default_rng(seed)
    ext = allen_extension_classes()
    nwbfile = _vb_nwbfile(
        session_type=session_type,
        identifier=str(behavior_session_id),
        session_start_time=session_start_time,
        keywords=["visual", "behavior", "task"],
    )
    stimulus_ts = np.arange(int(duration_s * 60.0)) / 60.0
    _vb_stimulus_timestamps(nwbfile, stimulus_ts)
    _vb_running(nwbfile, stimulus_ts, rng)

    _vb_subject_and_device(
        nwbfile, genotype=genotype, mouse_id=mouse_id, age_days=age_days, sex=sex, equipment_name=equipment_name
    )
    nwbfile.add_lab_meta_data(
        ext["BehaviorMetadata"](
            name="metadata",
            behavior_session_id=int(behavior_session_id),
            behavior_session_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"foraging/{behavior_session_id}")),
            stimulus_frame_rate=60.0,
            session_type=session_type,
            equipment_name=equipment_name,
            project_code=project_code,
        )
    )
    _vb_licks_rewards(nwbfile, stimulus_ts, rng)

    if include_stimulus_template:
        image_names = ["im065", "im077", "im085"]
        warped = rng.integers(0, 256, size=(3, 12, 16)).astype(np.uint8)
        unwarped = warped.astype(np.float64)
        unwarped[:, :2, :] = np.nan  # pixels not visible after warping
        image_index = np.zeros(len(image_names))
        image_index[:] = np.nan
        nwbfile.add_stimulus_template(
            ext["StimulusTemplate"](
                name="Natural_Images_Lum_Matched_set_training_2017.07.14",
                data=warped,
                unwarped=unwarped,
                control=list(range(len(image_names))),
                control_description=image_names,
                unit="NA",
                format="raw",
                timestamps=image_index,
            )
        )
    if include_task_parameters:
        _vb_task_parameters(nwbfile, session_type, stimulus_ts.size)

    _write(nwbfile, path)
    start = nwbfile.session_start_time
    return {
        "path": str(path),
        "layout": "visual_behavior_behavior_only",
        "dandi_name": f"sub-{mouse_id}_ses-{start:%Y%m%dT%H%M%S}_image.nwb",
        "identifier": nwbfile.identifier,
    }
