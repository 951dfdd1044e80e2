"""Finding the calcium traces of an NWB file, telling what each series holds, and reading them.

Every ``RoiResponseSeries`` of a processing module is a candidate, whether it sits in a
container (``DfOverF``, ``Fluorescence``, or any other) or directly in the module, as
pynwb's mocks and the AllenSDK's ``event_detection`` put it.  Each gets a **role**, decided
from its name, its container's name and type, and its description (never from a list of
known files):

1. a name (of the series or its container) that says *event*, *deconv*/*spks*/*spike*,
   *denois*, *baseline*, or *neuropil*/*fneu*/*background* (but not *corrected*) gives
   that role: ``events``, ``deconvolved``, ``denoised``, ``baseline``, ``neuropil``;
2. a name that says ΔF/F (*dff*, *dfof*, *df/f*, *dfoverf*, *deltaf*) gives ``dff``;
3. a description that says *event*, *deconvolved* or *denoised* gives that role;
4. a description that says the series is ΔF/F (*ΔF/F*, *dF/F*, *DF/F*, *deltaF/F*, *delta F over F*,
   *(F - F0)/F0*...) gives ``dff``, wherever the series sits (some fly datasets keep ΔF/F in a
   ``Fluorescence`` container); a mention that places ΔF/F after the series (*prior to dF/F
   normalization*, Allen Visual Coding's fluorescence; *used to compute ΔF/F*) does not;
5. the container type: ``DfOverF`` gives ``dff``, ``Fluorescence`` gives ``fluorescence``
   (raw, or neuropil-corrected, fluorescence; NeuroConv 0.10 names its ΔF/F ``DfOverF``
   inside ``Fluorescence``, which rule 2 catches); otherwise ``unknown``.

Series that share a ROI region (the same ROI table and the same rows) belong to one
**plane**: suite2p's export keeps several planes in one table, NeuroConv gives each plane
its own.  Per plane the input is the ΔF/F series; if there is none, ΔF/F is computed from
the fluorescence series (with the plane's neuropil series); a series of unknown role is
taken as ΔF/F only when it is the plane's only candidate.  Events, deconvolved, denoised,
baseline and neuropil series are never used; a plane with two candidates of the same role
is ambiguous and needs ``series=``.  Series that are not traces (1-D, no ROI table, a shape
that fits neither orientation, data compressed with an HDF5 filter this installation lacks) are listed
by :func:`find_series` but never used.

What each series measures (the indicator, the species, the cells) is decided by
:func:`~nwb_cascade.nwb.measure.read_measure`: series of sensors other than calcium indicators are
refused, series of non-spiking species or of glia skipped, and planes are formed from the others
(so that a two-channel file runs its calcium channel only).

Values are read as NWB defines them (:class:`Storage`): ``value = data × conversion + offset``, in
``unit``; a series whose unit says percent is read as a fraction.  Values no recording gives (infinite,
or orders of magnitude beyond their ROI's range: :mod:`nwb_cascade.cascade.outliers`) become missing
(NaN) frames, with a warning that counts them; a series with more than 1% of them is refused.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pynwb import NWBFile
from pynwb.ophys import DfOverF, Fluorescence, RoiResponseSeries

from ..cascade.errors import OrientationWarning, OutlierWarning, QuantizationWarning
from ..cascade.outliers import impossible_values
from ..common.errors import NWBCascadeError
from .filters import missing_filters
from .measure import SKIP, Overrides, Reading, read_measure

log = logging.getLogger(__name__)

#: Frames read at once when transposing frames × ROIs data into ROIs × frames.
READ_BLOCK_BYTES = 32 << 20
#: Relative spread of frame intervals beyond which timestamps count as irregular.
IRREGULAR_SPREAD = 0.05
#: Share of a series' values that may be impossible (read as missing) before the series is refused as damaged.
MOST_IMPOSSIBLE = 0.01
#: A unit that says percent (ΔF/F in percent is read as a fraction).
_PERCENT_UNIT = re.compile(r"%|\bpercent\b", re.IGNORECASE)

DFF, FLUORESCENCE, UNKNOWN = "dff", "fluorescence", "unknown"
EVENTS, DECONVOLVED, DENOISED, BASELINE, NEUROPIL = "events", "deconvolved", "denoised", "baseline", "neuropil"
#: Roles whose series are never an input: what each one is, and what to use instead.
REFUSED = {
    EVENTS: "detected events, not a calcium trace",
    DECONVOLVED: "a deconvolved (spike-like) trace, not a calcium trace",
    DENOISED: ("a denoised or model-fitted trace (such as CaImAn's C), whose noise Cascade needs has been "
               "removed; store CaImAn's raw trace YrA + C (or its F_dff) instead"),
    BASELINE: "a fluorescence baseline, not a calcium trace",
    NEUROPIL: "the neuropil (background) signal around the ROIs, not a calcium trace",
}
USE_INSTEAD = ("use the ΔF/F series, or the raw fluorescence (suite2p's F, CaImAn's YrA + C) from which "
               "nwb-cascade computes ΔF/F")
_NAME_MARKERS = (
    (EVENTS, re.compile(r"event")),
    (DECONVOLVED, re.compile(r"deconv|spks|spike")),
    (DENOISED, re.compile(r"denois")),
    (BASELINE, re.compile(r"baseline")),
    (NEUROPIL, re.compile(r"neuropil|fneu|background")),
)
_DFF_MARKER = re.compile(r"dfoverf|df_over_f|dfof|dff|deltaf|delta_f|df/f|δf/f")
_CNMF_MARKER = re.compile(r"caiman|cnmf")
_DESCRIPTION_MARKERS = (
    (EVENTS, re.compile(r"\bevents?\b")),
    (DECONVOLVED, re.compile(r"deconvolved")),
    (DENOISED, re.compile(r"denoised")),
)


class NWBInputError(NWBCascadeError, ValueError):
    """An NWB file or series that cannot be used as given, with what to do about it."""


class NoTracesError(NWBInputError):
    """A file with no calcium traces at all (a raw movie, a behaviour-only session): nothing to infer from."""


class NotSpikingCellsError(NoTracesError):
    """A file whose calcium traces are all of cells Cascade cannot calibrate (a non-spiking species, glia):
    nothing to infer spikes from (a batch records it as skipped)."""


class IrregularTimestampsWarning(UserWarning):
    """Frame intervals that vary more than a few percent."""


@dataclass(frozen=True)
class Storage:
    """How a series' stored numbers become its values: NWB's ``value = data × conversion + offset``, in ``unit``.

    A unit that says percent (``%``, ``percent``) makes the values fractions (× 0.01): ΔF/F is read as a
    fraction whatever the storage.  ``resolution`` (NWB: the smallest meaningful difference of the values,
    in ``unit``; -1 when unknown) and the integer step of integer data say how finely values are stored.
    """

    conversion: float = 1.0
    offset: float = 0.0
    resolution: float = -1.0
    unit: str = ""
    integer: bool = False

    @classmethod
    def of(cls, series: Any) -> Storage:
        """The storage of a TimeSeries (pynwb's defaults where the file states nothing)."""
        data = getattr(series, "data", None)
        dtype = getattr(data, "dtype", None)
        return cls(conversion=_number(getattr(series, "conversion", 1.0), 1.0),
                   offset=_number(getattr(series, "offset", 0.0), 0.0),
                   resolution=_number(getattr(series, "resolution", -1.0), -1.0),
                   unit=str(getattr(series, "unit", "") or ""),
                   integer=dtype is not None and np.dtype(dtype).kind in "iu")

    @property
    def percent(self) -> bool:
        return bool(_PERCENT_UNIT.search(self.unit))

    @property
    def scale(self) -> float:
        """What each stored number is multiplied by: ``conversion`` (× 0.01 for percent)."""
        return self.conversion * (0.01 if self.percent else 1.0)

    @property
    def shift(self) -> float:
        """What is added after the multiplication: ``offset`` (× 0.01 for percent)."""
        return self.offset * (0.01 if self.percent else 1.0)

    @property
    def plain(self) -> bool:
        """Whether the values are the stored numbers themselves."""
        return self.scale == 1.0 and self.shift == 0.0

    @property
    def step(self) -> float | None:
        """The smallest difference between values the storage keeps (in the values' units), if known:
        ``resolution``, else the step of integer data; None for floating-point data of unknown resolution."""
        factor = 0.01 if self.percent else 1.0
        if np.isfinite(self.resolution) and self.resolution > 0:
            return self.resolution * factor
        return abs(self.scale) if self.integer else None

    @property
    def problem(self) -> str:
        """Why the values cannot be computed (``""`` if they can)."""
        if not np.isfinite(self.conversion) or self.conversion == 0:
            return (f"its conversion is {self.conversion!r}, so its values (data x conversion + offset) are not "
                    "numbers; the file's scaling is damaged")
        if not np.isfinite(self.offset):
            return f"its offset is {self.offset!r}, so its values are not numbers; the file's scaling is damaged"
        return ""

    def describe(self) -> str:
        """How values are read, in words (``"as stored"`` when they are the stored numbers)."""
        if self.plain:
            return "as stored"
        parts = [f"data x {self.conversion:g}" if self.conversion != 1 else "data"]
        if self.offset:
            parts.append(f"{'+' if self.offset > 0 else '-'} {abs(self.offset):g}")
        text = " ".join(parts)
        return f"({text}) / 100 (unit {self.unit!r}: percent)" if self.percent else text

    def apply(self, block: Any) -> np.ndarray:
        """Stored numbers as float32 values (computed in float64: one rounding, to float32, at the end)."""
        if self.plain:
            return np.asarray(block, dtype=np.float32)
        values = np.asarray(block, dtype=np.float64) * self.scale + self.shift
        return values.astype(np.float32)


def _number(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


@dataclass
class SeriesInfo:
    """One RoiResponseSeries of a file: where it is, what it holds, and whether it can be read as traces.

    Attributes
    ----------
    path
        Its path in the file, e.g. ``processing/ophys/DfOverF/DfOverF`` (or ``processing/ophys/x``
        for a series directly in a module).
    kind
        Its container's type (``DfOverF``, ``Fluorescence``...), or ``"module"``.
    series
        The pynwb object.
    role
        What it holds (see the module docstring).
    role_reason
        Why it is taken to hold that.
    reading
        What it measures and whether a run reads it (set when inputs are chosen; see
        :func:`~nwb_cascade.nwb.measure.read_measure`).
    problem
        Why it cannot be read as ROIs × frames traces, or ``""``.
    transposed
        Stored ROIs × frames (read transposed, with a warning).
    """

    path: str
    kind: str
    series: RoiResponseSeries
    role: str = UNKNOWN
    problem: str = ""
    transposed: bool = False
    role_reason: str = ""
    reading: Reading | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.series.data.shape)

    @property
    def n_rois(self) -> int:
        rois = getattr(self.series, "rois", None)
        return 0 if rois is None else len(rois.data)

    @property
    def n_frames(self) -> int:
        shape = self.shape
        if not shape:
            return 0
        return shape[1] if self.transposed else shape[0]

    @property
    def unit(self) -> str:
        return str(self.series.unit)

    @property
    def storage(self) -> Storage:
        """How its stored numbers become values (conversion, offset, percent)."""
        return Storage.of(self.series)

    @property
    def container_name(self) -> str:
        """The name of its container (``""`` for a series directly in a module)."""
        parts = self.path.split("/")
        return parts[2] if len(parts) > 3 else ""

    @property
    def runs(self) -> bool:
        """Whether a run may read it: readable as traces, and measuring what Cascade reads (see :attr:`reading`)."""
        return not self.problem and (self.reading is None or self.reading.runs)

    @property
    def name(self) -> str:
        """A container name for results: the path below ``processing``, joined by underscores."""
        return "_".join(self.path.split("/")[1:])

    @property
    def plane(self) -> tuple:
        """What identifies the series' plane: its ROI table and the rows of its region."""
        rois = self.series.rois
        table = rois.table
        return (id(table), np.asarray(rois.data[:], dtype=np.int64).tobytes())

    @property
    def usable_role(self) -> bool:
        return self.role not in REFUSED

    def describe(self) -> str:
        """One line: path, role, ROIs × frames."""
        size = f"{self.n_rois} ROIs x {self.n_frames} frames" if not self.problem else self.problem
        return f"{self.path} ({self.kind}, {self.role}, {size})"


@dataclass
class PlaneInput:
    """What one plane's inference reads: a ΔF/F series, or fluorescence (and neuropil) to compute ΔF/F from."""

    series: SeriesInfo
    neuropil: SeriesInfo | None = None
    others: list[SeriesInfo] = field(default_factory=list)  # the plane's other series, for the record

    @property
    def compute_dff(self) -> bool:
        return self.series.role == FLUORESCENCE


def classify(series: RoiResponseSeries, container_name: str, container_type: str, context: str = "") -> str:
    """The role of a series from its name, its container's name and type, and its description (see
    :func:`classify_with_reason`)."""
    return classify_with_reason(series, container_name, container_type, context)[0]


def classify_with_reason(series: RoiResponseSeries, container_name: str, container_type: str,
                         context: str = "") -> tuple[str, str]:
    """The role of a series and why: from its name, its container's name and type, and its description.

    Names decide first (forbidden roles, then ΔF/F); then a description that says *event*,
    *deconvolved* or *denoised*; then a description that says ΔF/F (unless it places ΔF/F after
    the series: fluorescence is often described by what it becomes, "... prior to dF/F
    normalization", Allen Visual Coding); then the container type.  ``context`` is the description
    of the series' module and ROI table: CaImAn's ``save_NWB`` describes them as CaImAn/CNMF
    estimates, and stores the model-fitted (denoised) ``C`` as a ``Fluorescence`` series, so
    fluorescence there counts as ``denoised``.
    """
    names = [series.name.lower(), container_name.lower()]
    for role, marker in _NAME_MARKERS:
        for name in names:
            if marker.search(name):
                if role == NEUROPIL and any("correct" in other for other in names):
                    break  # "neuropil-corrected" fluorescence is fluorescence
                return role, f"its name{'' if name == names[0] else ' (of its container)'} {name!r} says {role}"
    for name in names:
        if _DFF_MARKER.search(name):
            return DFF, f"its name{'' if name == names[0] else ' (of its container)'} {name!r} says ΔF/F"
    description = str(series.description or "")
    for role, marker in _DESCRIPTION_MARKERS:
        if marker.search(description.lower()):
            return role, f"its description says {role}"
    said = says_dff(description)
    if said:
        return DFF, f"its description says ΔF/F ({said!r})"
    if container_type == "DfOverF":
        return DFF, "it is in a DfOverF container"
    if container_type == "Fluorescence":
        if _CNMF_MARKER.search(context.lower()):
            return DENOISED, "a Fluorescence series of CaImAn (CNMF) estimates: its model-fitted C"
        return FLUORESCENCE, "it is in a Fluorescence container"
    return UNKNOWN, "neither its name, its container nor its description says what it holds"


#: How descriptions write ΔF/F.
_DFF_WORDS = re.compile(
    r"(?<![a-z])(?:d\s*f\s*/\s*f|δ\s*f\s*/\s*f|delta\s*-?\s*f\s*(?:/|over)\s*f|d\s*f\s*over\s*f|dff|dfof"
    r"|\(\s*f\s*-\s*f_?0\s*\)\s*/\s*f_?0)",
    re.IGNORECASE,
)
#: Words before a mention of ΔF/F that place ΔF/F after the series (fluorescence described by what it becomes).
_BEFORE_DFF = re.compile(r"prior\s+to|before|\bnot\b|without|to\s+(?:compute|calculate|derive|obtain|get)|"
                         r"for\s+(?:computing|calculating|deriving)|from\s+which|input\s+(?:to|for|of)|basis\s+(?:of|for)",
                         re.IGNORECASE)
#: Words after it that do the same ("ΔF/F is computed from these").
_AFTER_DFF = re.compile(r"^\W*(?:\w+\s+){0,3}(?:computed|calculated|derived)\s+from\s+(?:this|these|them|it)\b",
                        re.IGNORECASE)


def says_dff(description: str) -> str:
    """The words by which a description says its series is ΔF/F, or ``""``: a mention of ΔF/F that nothing
    places after the series (``prior to dF/F``, ``used to compute ΔF/F``, ``ΔF/F is computed from these``)."""
    for match in _DFF_WORDS.finditer(description or ""):
        before = description[max(0, match.start() - 40):match.start()]
        after = description[match.end():match.end() + 60]
        if not _BEFORE_DFF.search(before) and not _AFTER_DFF.search(after):
            return match.group(0)
    return ""


def find_series(nwbfile: NWBFile) -> list[SeriesInfo]:
    """Every RoiResponseSeries in the processing modules (in a container or directly in a module),
    with its role; Cascade's own outputs are left out."""
    from .extension import CascadeSpikeRates

    found = []
    for module_name, module in nwbfile.processing.items():
        for container_name, container in module.data_interfaces.items():
            if isinstance(container, RoiResponseSeries):
                members = [(container_name, container, "module", "")]
            elif isinstance(container, (DfOverF, Fluorescence)) or hasattr(container, "roi_response_series"):
                members = [(f"{container_name}/{name}", series, type(container).__name__, container_name)
                           for name, series in container.roi_response_series.items()]
            else:
                continue
            for relative, series, kind, parent_name in members:
                if isinstance(series, CascadeSpikeRates):
                    continue
                context = f"{module.description or ''} {_table_description(series)}"
                role, why = classify_with_reason(series, parent_name, kind, context)
                info = SeriesInfo(f"processing/{module_name}/{relative}", kind, series, role, role_reason=why)
                info.problem, info.transposed = _layout(info)
                found.append(info)
    return found


def _table_description(series: RoiResponseSeries) -> str:
    try:
        return str(series.rois.table.description or "")
    except Exception:  # a dangling region; _layout reports it
        return ""


def _layout(info: SeriesInfo) -> tuple[str, bool]:
    """Why a series cannot be read as traces (``""`` if it can), and whether it is stored ROIs × frames."""
    series = info.series
    try:
        rois = series.rois
        n_rois = len(rois.data) if rois is not None else 0
        table = rois.table if rois is not None else None
    except Exception as error:  # a dangling region: pynwb cannot resolve it
        return f"its ROI table cannot be read ({type(error).__name__})", False
    if rois is None or table is None:
        return "no ROI table", False
    missing = missing_filters(series.data)
    if missing:
        return f"its data is compressed with HDF5 {'; '.join(missing)}, which HDF5 cannot read without it", False
    storage = info.storage
    if storage.problem:
        return storage.problem, False
    shape = tuple(int(v) for v in series.data.shape)
    if len(shape) == 1:
        if n_rois == 1 and shape[0] > 1:
            return "", False  # one ROI's trace
        return f"1-D data ({shape[0]} values for {n_rois} ROIs), not ROIs x frames traces", False
    if len(shape) != 2:
        return f"{len(shape)}-D data {shape}", False
    if n_rois == 0:
        return "an empty ROI region (0 ROIs)", False
    indices = np.asarray(rois.data[:])
    rows = len(table)
    if indices.size and (indices.min() < 0 or indices.max() >= rows):
        return (f"its ROI region points outside its ROI table (index {int(indices.max())} of a table of {rows} rows): "
                "the file is damaged"), False
    frames = _timestamp_count(series)
    if shape[1] == n_rois and (shape[0] != n_rois or frames in (None, shape[0])):
        return "", False
    if shape[0] == n_rois and (frames is None or frames == shape[1]):
        return "", True
    return f"data {shape} fits neither frames x {n_rois} ROIs nor {n_rois} ROIs x frames", False


def _timestamp_count(series: RoiResponseSeries) -> int | None:
    stamps = series.timestamps
    return None if stamps is None else len(stamps)


def plane_inputs(candidates: list[SeriesInfo]) -> tuple[list[PlaneInput], list[str]]:
    """The input of each plane (see the module docstring), and why the other planes have none."""
    planes: dict[tuple, list[SeriesInfo]] = {}
    for info in candidates:
        if not info.problem:
            planes.setdefault(info.plane, []).append(info)
    inputs, reasons = [], []
    for members in planes.values():
        by_role: dict[str, list[SeriesInfo]] = {}
        for info in members:
            by_role.setdefault(info.role, []).append(info)
        listing = ", ".join(info.path for info in members)
        chosen = None
        for role in (DFF, FLUORESCENCE):
            if by_role.get(role):
                if len(by_role[role]) > 1:
                    paths = "\n".join(f"  {info.describe()}" for info in by_role[role])
                    raise NWBInputError(f"one plane has {len(by_role[role])} {role} series and none is the "
                                        f"obvious input; choose with --series PATH (series=PATH):\n{paths}")
                chosen = by_role[role][0]
                break
        if chosen is None and by_role.get(UNKNOWN):
            if len(by_role[UNKNOWN]) > 1:
                reasons.append(f"the plane of {listing} has no ΔF/F or fluorescence series, and several series "
                               "whose names do not say what they hold")
                continue
            chosen = by_role[UNKNOWN][0]
            log.warning("%s: its name, container and description do not say what it holds; taking it as ΔF/F "
                        "(its noise levels are checked)", chosen.path)
        if chosen is None:
            reasons.append("; ".join(f"{info.path} is {REFUSED[info.role]}" for info in members))
            continue
        neuropil = None
        if chosen.role == FLUORESCENCE:
            neuropils = by_role.get(NEUROPIL, [])
            if len(neuropils) > 1:
                raise NWBInputError(f"{chosen.path}: its plane has {len(neuropils)} neuropil series ("
                                    + ", ".join(info.path for info in neuropils) + "); give the ΔF/F yourself")
            neuropil = neuropils[0] if neuropils else None
        inputs.append(PlaneInput(chosen, neuropil, [info for info in members if info is not chosen]))
    return inputs, reasons


@dataclass
class Selection:
    """The inputs of a run, and the series left out for what they measure (path, reason)."""

    inputs: list[PlaneInput]
    left_out: list[tuple[str, str]] = field(default_factory=list)


def measure_all(candidates: list[SeriesInfo], nwbfile: NWBFile, overrides: Overrides | None = None) -> None:
    """Decide what each readable series measures (:attr:`SeriesInfo.reading`)."""
    for info in candidates:
        if not info.problem:
            info.reading = read_measure(info.series, info.container_name, nwbfile, overrides)


def choose_inputs(nwbfile: NWBFile, series: str | None = None, *, compute_dff: bool = True,
                  overrides: Overrides | None = None) -> list[PlaneInput]:
    """The inputs of a run (see :func:`select_inputs`)."""
    return select_inputs(nwbfile, series, compute_dff=compute_dff, overrides=overrides).inputs


def select_inputs(nwbfile: NWBFile, series: str | None = None, *, compute_dff: bool = True,
                  overrides: Overrides | None = None) -> Selection:
    """The inputs of a run: one per plane (``series`` None or ``"all"``), or those ``series`` names; and the
    series left out for what they measure.

    ``series`` is a full path, the end of one (``DfOverF/DfOverF``, ``plane1``), or a glob
    (``*/Fluorescence/plane*``).  A name that matches several series is an error listing them.
    Series of sensors other than calcium indicators, of non-spiking species or of glia are left
    out of the planes (:mod:`nwb_cascade.nwb.measure`; ``overrides`` says what the user said over
    the file), each with a warning.

    Raises
    ------
    NWBInputError
        No series, nothing usable (with what the file holds and what to use instead), an
        ambiguous plane or name, a chosen series that must not be used, a refused sensor (with how
        to force it), or ``overrides.indicator`` over planes that the file says measure different things.
    NotSpikingCellsError
        Every series left out is of a non-spiking species or of glia.
    """
    candidates = find_series(nwbfile)
    if not candidates:
        raise NoTracesError(
            "this file holds no RoiResponseSeries in any processing module, so there are no calcium traces to "
            "infer spikes from (a raw movie or behaviour-only file? segment the movie first)"
        )
    overrides = overrides or Overrides()
    measure_all(candidates, nwbfile, overrides)
    listing = "\n".join(f"  {info.describe()}" for info in candidates)
    left_out: list[tuple[str, str]] = []
    if series is None or series == "all":
        if overrides.indicator:
            _refuse_one_indicator_for_several(candidates, nwbfile, overrides)
        left = [info for info in candidates if not info.problem and not info.runs and info.usable_role]
        left_out = [(info.path, info.reading.reason) for info in left]
        inputs, reasons = plane_inputs([info for info in candidates if info.runs])
        if not inputs:
            if left:
                _refuse_left_out(left)
            unreadable = [f"{info.path}: {info.problem}" for info in candidates if info.problem and info.usable_role]
            # the fix first: a manifest row keeps only the start of a long message
            raise NWBInputError(f"no series of this file can be used for spike inference ({USE_INSTEAD}): "
                                + ("; ".join(reasons or unreadable) or "none is a readable ROIs x frames trace")
                                + f". The file holds:\n{listing}")
        for path, reason in left_out:
            log.warning("%s is not run: %s", path, reason)
    else:
        inputs = [_named_input(info, candidates) for info in _match(candidates, series, listing)]
    if not compute_dff:
        for plane in inputs:
            if plane.compute_dff:
                raise NWBInputError(f"{plane.series.path} is raw fluorescence and computing ΔF/F is switched off; "
                                    "switch it on (drop --no-compute-dff) or give a ΔF/F series")
    return Selection(inputs, left_out)


def _refuse_left_out(left: list[SeriesInfo]) -> None:
    """Nothing runs: say why of every series left out (skipped when all are skips, else refused)."""
    lines = "\n".join(f"  {info.path}: {info.reading.reason}" for info in left)
    if all(info.reading.verdict == SKIP for info in left):
        raise NotSpikingCellsError(f"no series of this file holds calcium traces of spiking neurons that Cascade "
                                   f"calibrates; skipped:\n{lines}")
    raise NWBInputError(f"no series of this file can be used for spike inference:\n{lines}")


def _refuse_one_indicator_for_several(candidates: list[SeriesInfo], nwbfile: NWBFile, overrides: Overrides) -> None:
    """An indicator given for every plane of a file whose planes, it says, measure different things."""
    own = {}
    for info in candidates:
        if not info.problem and info.usable_role:
            reading = read_measure(info.series, info.container_name, nwbfile,
                                   Overrides(model_given=overrides.model_given, spiking_cells=overrides.spiking_cells))
            if reading.where:
                own[info.path] = reading
    if len({reading.measures for reading in own.values()}) > 1:
        listing = "\n".join(f"  {path}: {reading.taken_for()}" for path, reading in own.items())
        raise NWBInputError(f"--indicator {overrides.indicator} would apply to every series, but this file says its "
                            f"series measure different things; choose the series it is for with --series PATH:"
                            f"\n{listing}")


def _match(candidates: list[SeriesInfo], series: str, listing: str) -> list[SeriesInfo]:
    wanted = series.strip("/")
    if any(char in wanted for char in "*?["):
        found = [info for info in candidates
                 if fnmatch.fnmatch(info.path, wanted) or fnmatch.fnmatch(info.path, "*/" + wanted)]
    else:
        found = [info for info in candidates if info.path == wanted or info.path.endswith("/" + wanted)]
    if not found:
        raise NWBInputError(f"no RoiResponseSeries at {series!r}; the file holds:\n{listing}")
    if len(found) > 1 and not any(char in wanted for char in "*?["):
        paths = "\n".join(f"  {info.describe()}" for info in found)
        raise NWBInputError(f"{series!r} matches {len(found)} series; give the full path:\n{paths}")
    return found


def _named_input(info: SeriesInfo, candidates: list[SeriesInfo]) -> PlaneInput:
    if info.problem:
        raise NWBInputError(f"{info.path} cannot be read as calcium traces: {info.problem}")
    if not info.usable_role:
        raise NWBInputError(f"{info.path} is {REFUSED[info.role]}; {USE_INSTEAD}")
    if not info.runs:
        error = NotSpikingCellsError if info.reading.verdict == SKIP else NWBInputError
        raise error(f"{info.path} is not run: {info.reading.reason}")
    plane = [other for other in candidates if other.runs and other is not info and other.plane == info.plane]
    neuropil = None
    if info.role == FLUORESCENCE:
        neuropils = [other for other in plane if other.role == NEUROPIL]
        neuropil = neuropils[0] if len(neuropils) == 1 else None
        if len(neuropils) > 1:
            raise NWBInputError(f"{info.path}: its plane has {len(neuropils)} neuropil series; give the ΔF/F yourself")
    return PlaneInput(info, neuropil, plane)


@dataclass(frozen=True)
class SeriesDecision:
    """What a run takes a series for, what it does with it, and why (``nwb-cascade inspect`` prints it)."""

    taken_for: str
    action: str
    why: str

    def describe(self) -> str:
        return f"taken for {self.taken_for}: {self.action} ({self.why})"


_ROLE_WORDS = {DFF: "ΔF/F", FLUORESCENCE: "fluorescence", UNKNOWN: "traces of an unstated kind"}


def decide(info: SeriesInfo, planes: list[PlaneInput]) -> SeriesDecision:
    """What a default run (inputs ``planes``, from :func:`plane_inputs`) does with ``info``, and why."""
    if info.problem:
        return SeriesDecision("no traces", "not used", info.problem)
    for plane in planes:
        if plane.neuropil is info:
            return SeriesDecision("neuropil", f"subtracted from {plane.series.path}", info.role_reason)
    if not info.usable_role:
        return SeriesDecision(REFUSED[info.role], "not used", info.role_reason)
    taken = f"{_ROLE_WORDS[info.role]} of {info.reading.taken_for()}" if info.reading else _ROLE_WORDS[info.role]
    if info.reading is not None and not info.reading.runs:
        return SeriesDecision(taken, "refused" if info.reading.verdict != SKIP else "skipped", info.reading.reason)
    why = "; ".join(part for part in (info.role_reason, info.reading.reason if info.reading else "") if part)
    for plane in planes:
        if plane.series is info:
            action = "input of its plane" + (", ΔF/F computed from it" if plane.compute_dff else "")
            return SeriesDecision(taken, action, why)
    chosen = next((plane.series.path for plane in planes if plane.series.plane == info.plane), None)
    return SeriesDecision(taken, f"not used: its plane's input is {chosen}" if chosen else "not used", why)


def choose_series(nwbfile: NWBFile, path: str | None = None) -> SeriesInfo:
    """The one input series of a single-plane file (or the one ``path`` names); see :func:`choose_inputs`."""
    inputs = choose_inputs(nwbfile, path)
    if len(inputs) > 1:
        raise NWBInputError(f"{len(inputs)} planes: " + ", ".join(plane.series.path for plane in inputs))
    return inputs[0].series


def recording_facts(info: SeriesInfo, nwbfile: NWBFile) -> dict[str, str | None]:
    """What the file says about the recording of a series: its imaging plane's ``indicator``, and the
    subject's ``genotype`` and ``species`` (None where absent)."""
    table = info.series.rois.table
    plane = getattr(table, "imaging_plane", None)
    subject = nwbfile.subject
    return {"indicator": getattr(plane, "indicator", None), "genotype": getattr(subject, "genotype", None),
            "species": getattr(subject, "species", None)}


_ID_FIELD = re.compile(r"^(ophys_)?(experiment|session|container|experiment_container|behavior_session)_id$")


def session_ids(nwbfile: NWBFile) -> dict[str, str]:
    """The session's archive ids: ``session_id`` and the ``*_id`` fields of its lab metadata (the Allen
    Brain Observatory's ophys_experiment_id, ophys_session_id, ophys_container_id... where present)."""
    ids = {}
    if nwbfile.session_id:
        ids["session_id"] = str(nwbfile.session_id)
    for metadata in nwbfile.lab_meta_data.values():
        for key, value in metadata.fields.items():
            if _ID_FIELD.match(key) and value is not None:
                ids[key] = str(value)
    return ids


def frame_rate(series: RoiResponseSeries) -> float:
    """Frames per second: the series' ``rate``, or 1 / the median interval of its timestamps.

    Warns (:class:`IrregularTimestampsWarning`) when intervals vary by more than 5% of the median
    or some frames are missing.

    Raises
    ------
    NWBInputError
        A rate that is not a positive number; timestamps that are not finite or do not increase
        (frames out of order or shuffled: spike times would be out of order).
    """
    if series.rate is not None:
        rate = float(series.rate)
        if not np.isfinite(rate) or rate <= 0:
            raise NWBInputError(f"series {series.name!r} has rate {series.rate!r}, not a frame rate (a positive number "
                                "of frames per second); the file's timing is damaged: fix the rate, or give timestamps")
        return rate
    if series.timestamps is None:
        raise NWBInputError(f"series {series.name!r} has neither rate nor timestamps; the file is malformed")
    stamps = np.asarray(series.timestamps[:], dtype=float)
    if stamps.size < 2:
        raise NWBInputError(f"series {series.name!r} has {stamps.size} timestamp(s): too short to know its frame rate")
    if not np.isfinite(stamps).all():
        bad = np.flatnonzero(~np.isfinite(stamps))
        raise NWBInputError(f"series {series.name!r}: {bad.size} timestamps are not finite (first at frame {bad[0]}); "
                            "the file's timing is damaged: fix the timestamps")
    intervals = np.diff(stamps)
    backwards = np.flatnonzero(intervals <= 0)
    if backwards.size:
        first = int(backwards[0])
        raise NWBInputError(
            f"series {series.name!r}: its timestamps do not increase ({backwards.size} of {intervals.size} intervals "
            f"are zero or negative, the first between frames {first} and {first + 1}: {stamps[first]:.6g} s, then "
            f"{stamps[first + 1]:.6g} s). Frames out of order or shuffled would give spike times out of order; fix the "
            "timestamps (sort the frames, or give the series a rate)"
        )
    median = float(np.median(intervals))
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
    """The series' values as ROIs × frames float32, read (and, for frames × ROIs storage, transposed)
    in blocks of frames.  A series stored ROIs × frames is read as it is, with a warning.

    Values are the stored numbers × conversion + offset (as fractions where the unit says percent: see
    :class:`Storage`); values no recording gives become NaN, with a warning that counts them
    (:func:`mask_impossible`); values stored in steps as large as their frame-to-frame changes are
    warned about (:class:`~nwb_cascade.cascade.errors.QuantizationWarning`).

    Raises
    ------
    NWBInputError
        A series that is not ROIs × frames traces (see :attr:`SeriesInfo.problem`), or one with
        more than 1% of impossible values.
    """
    if info.problem:
        raise NWBInputError(f"{info.path} cannot be read as calcium traces: {info.problem}")
    data = info.series.data
    storage = info.storage
    n_rois = info.n_rois
    if not storage.plain:
        log.info("%s: values read as %s", info.path, storage.describe())
    if info.transposed:
        warnings.warn(
            f"{info.path} is stored ROIs x frames {info.shape}, the other way round from NWB's frames x ROIs (its "
            f"rois region has {n_rois} entries); reading it transposed",
            OrientationWarning,
            stacklevel=2,
        )
        out = storage.apply(data[:]).reshape(n_rois, -1)
    else:
        n_frames = info.n_frames
        out = np.empty((n_rois, n_frames), dtype=np.float32)
        block = max(1, READ_BLOCK_BYTES // max(1, 4 * n_rois))
        for start in range(0, n_frames, block):
            stop = min(n_frames, start + block)
            out[:, start:stop] = storage.apply(data[start:stop]).reshape(stop - start, n_rois).T
    mask_impossible(out, info.path)
    check_steps(out, storage, info.path)
    return out


def mask_impossible(traces: np.ndarray, path: str) -> int:
    """Turn the values no recording gives (:func:`~nwb_cascade.cascade.outliers.impossible_values`) into NaN,
    in place, with a warning that counts them; return how many there were.

    Raises
    ------
    NWBInputError
        More than 1% of the values are impossible: the series is damaged, not a recording with a bad frame.
    """
    mask = impossible_values(traces)
    count = int(mask.sum())
    if not count:
        return 0
    rois, frames = int(mask.any(axis=1).sum()), int(mask.any(axis=0).sum())
    finite = np.abs(traces[mask & np.isfinite(traces)])
    infinite = int(np.isinf(traces[mask]).sum())
    details = ([f"{infinite} infinite"] if infinite else []) + \
        ([f"the largest {float(finite.max()):.3g}"] if finite.size else [])
    what = f"{count} value(s) ({', '.join(details)})"
    if count > MOST_IMPOSSIBLE * traces.size:
        raise NWBInputError(
            f"{path}: {what} of {traces.size} lie orders of magnitude beyond their ROI's range or are infinite, "
            f"in {rois} ROIs and {frames} frames: more than {MOST_IMPOSSIBLE:.0%} of the series, so it is damaged "
            "(or not traces); repair it, or have its writer write it again"
        )
    traces[mask] = np.nan
    first = int(np.flatnonzero(mask.any(axis=0))[0])
    warnings.warn(
        f"{path}: {what} in {rois} ROI(s) and {frames} frame(s) (the first at frame {first}) lie orders of magnitude "
        "beyond their ROI's range or are infinite; no recording gives such values, so they are read as missing "
        "(NaN), and the rates of the frames whose window touches them are NaN",
        OutlierWarning,
        stacklevel=3,
    )
    return count


def check_steps(traces: np.ndarray, storage: Storage, path: str) -> None:
    """Warn when values are stored in steps (resolution, or the step of integer data) as large as the median
    frame-to-frame change of the ROIs: the noise levels Cascade measures are then those of the storage."""
    step = storage.step
    if step is None or traces.shape[-1] < 2:
        return
    changes = np.abs(np.diff(traces[:, : 1 << 14], axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        typical = float(np.nanmedian(np.nanmedian(changes, axis=1)))
    if np.isfinite(typical) and step >= typical:
        warnings.warn(
            f"{path}: its values are stored in steps of {step:.3g} ("
            + ("its resolution" if storage.resolution > 0 else f"integers x {storage.scale:g}")
            + f"), as large as the median frame-to-frame change of its ROIs ({typical:.3g}): the noise levels "
            "measure the storage, not the recording, and the spike rates are less reliable; store finer values",
            QuantizationWarning,
            stacklevel=3,
        )


def timestamps_of(series: RoiResponseSeries) -> np.ndarray | None:
    """The series' timestamps, if it has them (else it has ``rate`` and ``starting_time``)."""
    return None if series.timestamps is None else np.asarray(series.timestamps[:], dtype=float)
