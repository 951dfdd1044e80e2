"""Every valid file read as its writer meant it (issue 25): values, what each series measures, descriptions,
impossible values, compression filters.  docs/reading-rules.md lists each rule with its test here.

Files are written by real writers: pynwb (conversion, offset, resolution, unit), ``pynwb.testing.mock``,
hdmf's ``H5DataIO`` with hdf5plugin's filters, and NeuroConv 0.10 with its compression options; the traces
are the real ΔF/F of the Allen excerpt.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from click.testing import CliRunner
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

from nwb_cascade.cascade import NoiseLevelError
from nwb_cascade.cascade.errors import OutlierWarning, QuantizationWarning
from nwb_cascade.cli import main
from nwb_cascade.nwb.read import NotSpikingCellsError, NWBInputError, classify
from nwb_cascade.spike_inference import infer, inspect

from ..conftest import ALLEN_DIR, assert_rates_close, need
from ..writers import neuroconv

ROIS, FRAMES, RATE = 10, 2400, 30.0
GENERAL = "Default_EXC_30Hz_smoothing25ms"
START = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def dff(allen_traces) -> np.ndarray:
    """Real ΔF/F (a fraction), ROIs x frames, float32."""
    need(ALLEN_DIR)
    return np.ascontiguousarray(allen_traces[:ROIS, :FRAMES], dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# Files written with pynwb


@dataclass
class Series:
    """One RoiResponseSeries as it is to be stored (``data`` ROIs x frames, written frames x ROIs)."""

    name: str
    data: np.ndarray
    container: type | None = DfOverF  # None: directly in the processing module
    container_name: str | None = None
    description: str = "no description"
    conversion: float = 1.0
    offset: float = 0.0
    resolution: float = -1.0
    unit: str = "n.a."
    comments: str = "no comments"
    io: dict = field(default_factory=lambda: {"compression": "gzip"})


@dataclass
class Plane:
    """One imaging plane, its ROI table and its series."""

    series: list[Series]
    indicator: str = "GCaMP6f"
    table: str = "PlaneSegmentation"
    table_description: str = "segmented ROIs"


def write_session(path: Path, planes: list[Plane], *, species: str = "Mus musculus",
                  genotype: str | None = None) -> Path:
    """A session written with pynwb: each plane its own imaging plane and ROI table, series in their containers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb's notes on data types, hdmf's on filters other than gzip
        return _write_session(path, planes, species, genotype)


def _write_session(path: Path, planes: list[Plane], species: str, genotype: str | None) -> Path:
    nwbfile = NWBFile(session_description="reading rules", identifier=path.stem, session_start_time=START,
                      subject=Subject(subject_id="1", species=species, genotype=genotype))
    device = nwbfile.create_device(name="microscope")
    module = nwbfile.create_processing_module(name="ophys", description="optical physiology")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    module.add(segmentation)
    for index, plane in enumerate(planes):
        imaging_plane = nwbfile.create_imaging_plane(
            name=f"ImagingPlane{index}", optical_channel=OpticalChannel(name="channel", description="emission",
                                                                       emission_lambda=520.0),
            description="a plane", device=device, excitation_lambda=920.0, indicator=plane.indicator,
            location="V1", imaging_rate=RATE)
        table = segmentation.create_plane_segmentation(name=plane.table, description=plane.table_description,
                                                       imaging_plane=imaging_plane)
        n_rois = plane.series[0].data.shape[0]
        for roi in range(n_rois):
            mask = np.zeros((16, 16), np.float32)
            mask[roi // 4 * 4:(roi // 4 + 1) * 4 - 1, roi % 4 * 4:(roi % 4 + 1) * 4 - 1] = 1
            table.add_roi(image_mask=mask)
        region = table.create_roi_table_region(region=list(range(n_rois)), description="the ROIs")
        for spec in plane.series:
            series = RoiResponseSeries(
                name=spec.name, data=H5DataIO(np.ascontiguousarray(spec.data.T), **spec.io), rois=region,
                unit=spec.unit, rate=RATE, description=spec.description, comments=spec.comments,
                conversion=spec.conversion, offset=spec.offset, resolution=spec.resolution)
            if spec.container is None:
                module.add(series)
                continue
            name = spec.container_name or spec.container.__name__
            container = module.data_interfaces.get(name)
            if container is None:
                container = spec.container(name=name)
                module.add(container)
            container.add_roi_response_series(series)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def write_mock(path: Path, data: np.ndarray, *, indicator: str, species: str = "Mus musculus") -> Path:
    """A session written with ``pynwb.testing.mock`` (series and ROI table directly in the module ``ophys``)."""
    from pynwb.testing.mock.file import mock_NWBFile
    from pynwb.testing.mock.ophys import mock_ImagingPlane, mock_PlaneSegmentation, mock_RoiResponseSeries

    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.subject = Subject(subject_id="1", species=species)
    plane = mock_ImagingPlane(indicator=indicator, imaging_rate=RATE, nwbfile=nwbfile)
    table = mock_PlaneSegmentation(imaging_plane=plane, n_rois=data.shape[0], nwbfile=nwbfile)
    region = table.create_roi_table_region(region=list(range(data.shape[0])), description="rois")
    mock_RoiResponseSeries(name="RoiResponseSeries", data=np.ascontiguousarray(data.T), rate=RATE, rois=region,
                           nwbfile=nwbfile)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def run(path: Path, out: Path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return infer(path, out, discrete_spikes=options.pop("discrete_spikes", False), **options)


def rates_of(out: Path) -> dict[str, np.ndarray]:
    with h5py.File(out, "r") as handle:
        module = handle["processing/cascade"]
        return {name: module[name]["spike_rates/data"][()] for name in module}


def values(data: np.ndarray, conversion: float = 1.0, offset: float = 0.0, percent: bool = False) -> np.ndarray:
    """What a file with this storage means: data x conversion + offset (/ 100 for percent), computed in float64
    and rounded once to float32, as the reader does."""
    scale = 0.01 if percent else 1.0
    return (data.astype(np.float64) * (conversion * scale) + offset * scale).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# 1. conversion, offset, percent


def fluorescence(dff: np.ndarray) -> np.ndarray:
    """Integer-valued fluorescence (counts) whose ΔF/F is about ``dff``: a baseline of 300-900 counts."""
    baseline = np.linspace(300, 900, dff.shape[0])[:, None]
    return np.round(baseline * (1 + dff))


STORAGE = {
    # case: (stored data from the ΔF/F, container, conversion, offset, unit)
    "dff x2, conversion 0.5": (lambda d: (2 * d).astype(np.float32), DfOverF, 0.5, 0.0, "n.a."),
    "int16 of 1/1000, conversion 1e-3": (lambda d: np.round(d * 1000).astype(np.int16), DfOverF, 1e-3, 0.0, "n.a."),
    "percent, conversion 0.01": (lambda d: (100 * d).astype(np.float32), DfOverF, 0.01, 0.0, "n.a."),
    "percent, unit %": (lambda d: (100 * d).astype(np.float64), DfOverF, 1.0, 0.0, "%"),
    "uint16 fluorescence, offset -400": (lambda d: (fluorescence(d) + 400).astype(np.uint16), Fluorescence, 1.0,
                                         -400.0, "a.u."),
}


@pytest.mark.parametrize("case", sorted(STORAGE))
def test_conversion_and_offset_give_the_rates_of_the_plain_values(case, dff, tmp_path):
    """NWB's value = data x conversion + offset (percent units as fractions): the rates, noise levels and spikes
    equal those of a file holding the same values plainly.  The reader computes the values in float64 and rounds
    them once to float32, which is how the plain file's values were made: the engine gets identical input, so the
    rates agree to float32 reordering (RATES_RTOL)."""
    make, container, conversion, offset, unit = STORAGE[case]
    data = make(dff)
    plain = values(data, conversion, offset, percent=unit == "%")
    scaled_path = write_session(tmp_path / "scaled.nwb", [Plane([Series(
        "traces", data, container, conversion=conversion, offset=offset, unit=unit)])])
    plain_path = write_session(tmp_path / "plain.nwb", [Plane([Series("traces", plain, container)])])
    scaled = run(scaled_path, tmp_path / "scaled_out.nwb", discrete_spikes=True)
    reference = run(plain_path, tmp_path / "plain_out.nwb", discrete_spikes=True)
    np.testing.assert_array_equal(scaled.per_plane[0].noise_levels, reference.per_plane[0].noise_levels)
    assert scaled.spikes == reference.spikes and scaled.per_plane[0].dff_computed == (container is Fluorescence)
    (got,), (want,) = rates_of(tmp_path / "scaled_out.nwb").values(), rates_of(tmp_path / "plain_out.nwb").values()
    assert_rates_close(got, want, frames_axis=0)
    if container is DfOverF:  # the values are the real ΔF/F again, to the storage's step
        step = 1e-3 if data.dtype == np.int16 else 1e-6
        assert 0.5 < scaled.noise_median < 3 and np.allclose(plain, dff, atol=step)


def test_the_output_keeps_every_attribute_of_the_input_series(dff, tmp_path):
    """The copy of the input series in a new file keeps its stored numbers and what makes them values (conversion,
    offset, resolution, unit, description, comments), and ``plot`` draws its values."""
    from nwb_cascade.plot import plot_results

    data = (fluorescence(dff) + 400).astype(np.uint16)
    path = write_session(tmp_path / "f.nwb", [Plane([Series(
        "traces", data, Fluorescence, conversion=2.0, offset=-800.0, resolution=2.0, unit="a.u.",
        description="raw fluorescence", comments="counts of the PMT")])])
    run(path, tmp_path / "out.nwb")
    name = "processing/ophys/Fluorescence/traces"
    with h5py.File(path, "r") as source, h5py.File(tmp_path / "out.nwb", "r") as out:
        for key in ("conversion", "offset", "resolution", "unit"):
            assert out[f"{name}/data"].attrs[key] == source[f"{name}/data"].attrs[key], key
        for key in ("description", "comments"):
            assert out[name].attrs[key] == source[name].attrs[key], key
        assert out[f"{name}/data"].dtype == np.uint16
        np.testing.assert_array_equal(out[f"{name}/data"][()], source[f"{name}/data"][()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = plot_results(tmp_path / "out.nwb", rois=[0])
    drawn = figure.axes[0].lines[0].get_ydata()  # the ΔF/F computed from the values, not from the stored numbers
    with NWBHDF5IO(str(tmp_path / "out.nwb"), "r") as io:
        computed = io.read().processing["cascade"]["ophys_Fluorescence_traces"].dff["traces"].data[:, 0]
    np.testing.assert_array_equal(drawn, computed)


def test_plot_draws_the_values_of_a_scaled_dff_series(dff, tmp_path):
    from nwb_cascade.plot import plot_results

    path = write_session(tmp_path / "x2.nwb", [Plane([Series("traces", 2 * dff, conversion=0.5)])])
    run(path, tmp_path / "out.nwb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = plot_results(tmp_path / "out.nwb", rois=[3])
    np.testing.assert_array_equal(figure.axes[0].lines[0].get_ydata(), dff[3])


def test_percent_stored_plainly_is_refused_with_the_nwb_fix(dff, tmp_path):
    """Percent that the file does not declare (conversion 1, unit n.a.) is not read as a fraction by guess: the
    refusal says how NWB declares percent."""
    path = write_session(tmp_path / "percent.nwb", [Plane([Series("traces", 100 * dff)])])
    with pytest.raises(NoiseLevelError, match=r"percent \(divide by 100\).*conversion=0\.01.*unit '%'"):
        run(path, tmp_path / "out.nwb")
    assert not (tmp_path / "out.nwb").exists()


def test_values_stored_in_steps_as_large_as_their_changes_are_warned_about(dff, tmp_path):
    """resolution where it matters: int8 ΔF/F in steps of 0.2 (coarser than the frame-to-frame noise)."""
    coarse = np.clip(np.round(dff / 0.2), -128, 127).astype(np.int8)
    path = write_session(tmp_path / "coarse.nwb", [Plane([Series("traces", coarse, conversion=0.2)])])
    # most frames do not change at all: the traces are far too smooth for ΔF/F, and the refusal says how they were read
    with pytest.warns(QuantizationWarning, match=r"steps of 0\.2 \(integers x 0\.2\)"), \
            pytest.raises(NWBInputError, match=r"read as data x 0\.2.*far below.*steps too coarse"):
        infer(path, tmp_path / "out.nwb", discrete_spikes=False)


# ------------------------------------------------------------------------------------------------
# 2. what each series measures


SENSORS = {
    "iGluSnFR": "glutamate", "SF-iGluSnFR.A184V": "glutamate", "iGluSnFR3": "glutamate",
    "GACh3.0": "acetylcholine", "rACh1h": "acetylcholine", "dLight1.3b": "dopamine", "GRAB-DA2m": "dopamine",
    "GRAB-5HT1.0": "serotonin", "iGABASnFR": "GABA", "GRAB-NE1m": "norepinephrine", "ASAP3": "membrane voltage",
    "Voltron2": "membrane voltage", "ArcLight": "membrane voltage", "pHluorin": "pH",
    "CaMPARI2": "photoconversion", "Fura-2": "two-wavelength ratio", "tdTomato": "structural",
}


@pytest.mark.parametrize("indicator", sorted(SENSORS))
def test_sensors_other_than_calcium_are_refused_with_how_to_force_them(indicator, dff, tmp_path):
    path = write_mock(tmp_path / "sensor.nwb", dff, indicator=indicator)
    with pytest.raises(NWBInputError, match=rf"(?s){SENSORS[indicator]}.*--indicator NAME --model MODEL") as caught:
        run(path, tmp_path / "out.nwb")
    assert not isinstance(caught.value, NotSpikingCellsError)  # refused (a failure), not skipped
    assert not (tmp_path / "out.nwb").exists()


@pytest.mark.parametrize("where", ["series name", "series description"])
def test_a_sensor_named_by_the_series_itself_is_refused(where, dff, tmp_path):
    spec = Series("DfOverF_GACh", dff, Fluorescence) if where == "series name" else \
        Series("traces", dff, DfOverF, description="iGluSnFR ΔF/F")
    path = write_session(tmp_path / "s.nwb", [Plane([spec], indicator="unknown")])
    with pytest.raises(NWBInputError, match=rf"\({where}\) is a sensor of (acetylcholine|glutamate)"):
        run(path, tmp_path / "out.nwb")


def test_a_sensor_runs_only_when_forced_with_its_indicator_and_a_model(dff, tmp_path):
    path = write_mock(tmp_path / "glu.nwb", dff, indicator="iGluSnFR")
    with pytest.raises(NWBInputError, match="sensor of glutamate"):
        run(path, tmp_path / "out.nwb", model=GENERAL)  # a model alone forces nothing
    with pytest.raises(NWBInputError, match="also name a model with --model"):
        run(path, tmp_path / "out.nwb", indicator="iGluSnFR")
    summary = run(path, tmp_path / "out.nwb", indicator="iGluSnFR", model=GENERAL)
    assert summary.planes == 1 and summary.per_plane[0].model_reason.startswith(
        "forced: iGluSnFR (--indicator) is a sensor of glutamate")


def two_channels(dff: np.ndarray, *, one_plane: bool) -> list[Plane]:
    """An ACh sensor beside GCaMP6s: two imaging planes, or one plane whose indicator names both (the series' names
    say which is which)."""
    calcium, sensor = Series("DfOverF_GCaMP6s", dff), Series("DfOverF_GACh3", dff[::-1].copy())
    if one_plane:
        return [Plane([calcium, sensor], indicator="GCaMP6s and GACh3.0")]
    return [Plane([Series("calcium", dff)], indicator="GCaMP6s", table="calcium_rois"),
            Plane([Series("acetylcholine", dff[::-1].copy())], indicator="GACh3.0", table="ach_rois")]


@pytest.mark.parametrize("one_plane", [False, True], ids=["two imaging planes", "one plane, named series"])
def test_a_two_channel_file_runs_its_calcium_channel_only(one_plane, dff, tmp_path):
    path = write_session(tmp_path / "two.nwb", two_channels(dff, one_plane=one_plane))
    summary = run(path, tmp_path / "out.nwb")
    calcium, sensor = ("DfOverF_GCaMP6s", "DfOverF_GACh3") if one_plane else ("calcium", "acetylcholine")
    assert [plane.series for plane in summary.per_plane] == [f"processing/ophys/DfOverF/{calcium}"]
    assert summary.per_plane[0].model == "GCaMP6s_mouse_V1_30Hz_smoothing50ms"
    assert [path for path, _ in summary.left_out] == [f"processing/ophys/DfOverF/{sensor}"]
    assert "acetylcholine" in summary.left_out[0][1] and "not run: " in summary.describe()
    assert list(rates_of(tmp_path / "out.nwb")) == [f"ophys_DfOverF_{calcium}"]


def test_one_indicator_for_a_file_whose_channels_differ_needs_series(dff, tmp_path):
    path = write_session(tmp_path / "two.nwb", two_channels(dff, one_plane=False))
    with pytest.raises(NWBInputError, match="would apply to every series.*--series"):
        run(path, tmp_path / "out.nwb", indicator="GCaMP6s")
    summary = run(path, tmp_path / "out.nwb", indicator="GCaMP6s", series="DfOverF/calcium")
    assert summary.per_plane[0].model_reason.startswith("GCaMP6s (--indicator) at 30 Hz")


@pytest.mark.parametrize("indicator, reason", [
    ("Calbryte 520", "indicator 'Calbryte 520' not recognised, taken for a calcium indicator"),
    ("GCaMP", "indicator 'GCaMP' names a calcium indicator but not its variant"),
    ("jRGECO1a", "jRGECO1a (imaging plane): no model specific to it"),
])
def test_calcium_indicators_without_a_model_run_with_the_general_model_and_say_so(indicator, reason, dff, tmp_path):
    path = write_session(tmp_path / "c.nwb", [Plane([Series("traces", dff)], indicator=indicator)])
    summary = run(path, tmp_path / "out.nwb")
    assert summary.model == GENERAL and summary.per_plane[0].model_reason.startswith(reason)


def test_the_indicator_given_replaces_the_files(dff, tmp_path):
    path = write_session(tmp_path / "c.nwb", [Plane([Series("traces", dff)], indicator="unknown")])
    summary = run(path, tmp_path / "out.nwb", indicator="GCaMP6s")
    assert summary.model == "GCaMP6s_mouse_V1_30Hz_smoothing50ms"


# ------------------------------------------------------------------------------------------------
# 3. species and cells


def test_c_elegans_is_skipped_with_the_reason_and_forced_with_spiking_cells(dff, tmp_path):
    from nwb_cascade.batch import SKIPPED, run_session
    from nwb_cascade.options import RunOptions

    path = write_session(tmp_path / "worm.nwb", [Plane([Series("traces", dff)], indicator="GCaMP6s")],
                         species="Caenorhabditis elegans")
    with pytest.raises(NotSpikingCellsError, match="graded potentials.*--spiking-cells"):
        run(path, tmp_path / "out.nwb")
    row = run_session(str(path), str(tmp_path / "out.nwb"), RunOptions(discrete_spikes=False))
    assert row["status"] == SKIPPED and "Caenorhabditis" in row["error"]  # a batch skips it, not fails it
    assert not (tmp_path / "out.nwb").exists()
    summary = run(path, tmp_path / "out.nwb", spiking_cells=True)
    assert summary.per_plane[0].model_reason.startswith("forced (--spiking-cells): the subject is")


def neurons_and_glia(dff: np.ndarray, glia: bool = True, neurons: bool = True) -> list[Plane]:
    planes = []
    if neurons:
        planes.append(Plane([Series("RoiResponseSeries", dff, DfOverF, "NeuronDfOverF")], table="NeuronROIs",
                            table_description="Segmented ROIs for the neurons"))
    if glia:
        planes.append(Plane([Series("RoiResponseSeries", dff[::-1].copy(), DfOverF, "GliaDfOverF")],
                            table="GliaROIs", table_description="Segmented ROIs for the glia"))
    return planes


def test_glia_beside_neurons_get_no_results(dff, tmp_path):
    path = write_session(tmp_path / "glia.nwb", neurons_and_glia(dff))
    summary = run(path, tmp_path / "out.nwb")
    assert summary.series == "processing/ophys/NeuronDfOverF/RoiResponseSeries"
    assert list(rates_of(tmp_path / "out.nwb")) == ["ophys_NeuronDfOverF_RoiResponseSeries"]
    ((left, reason),) = summary.left_out
    assert left == "processing/ophys/GliaDfOverF/RoiResponseSeries" and "glial calcium signals" in reason


def test_a_file_of_glia_only_is_skipped(dff, tmp_path):
    path = write_session(tmp_path / "glia.nwb", neurons_and_glia(dff, neurons=False))
    with pytest.raises(NotSpikingCellsError, match="GliaDfOverF.*names Glia"):
        run(path, tmp_path / "out.nwb")


# ------------------------------------------------------------------------------------------------
# 4. descriptions


@pytest.mark.parametrize("description", ["DF/F", "dF/F of each ROI", "deltaF/F", "delta F over F", "ΔF/F",
                                         "(F - F0) / F0"])
def test_a_series_described_as_dff_is_dff_wherever_it_sits(description, dff, tmp_path):
    path = write_session(tmp_path / "fly.nwb", [Plane([Series("RoiResponseSeries", dff, Fluorescence,
                                                             description=description)])])
    summary = run(path, tmp_path / "out.nwb")
    assert not summary.per_plane[0].dff_computed  # read as ΔF/F, not computed from it as if it were fluorescence
    reference = run(write_session(tmp_path / "dff.nwb", [Plane([Series("RoiResponseSeries", dff)])]),
                    tmp_path / "reference.nwb")
    np.testing.assert_array_equal(summary.per_plane[0].noise_levels, reference.per_plane[0].noise_levels)


@pytest.mark.parametrize("description", [
    ("Fluorescence per region of interest (ROI) from the raw imaging after spatial demixing and subtraction of "
     "neuropil background, but prior to dF/F normalization."),  # Allen Visual Coding's corrected fluorescence
    "raw fluorescence used to compute ΔF/F",
])
def test_a_description_that_places_dff_after_the_series_is_not_dff(description):
    from pynwb.testing.mock.ophys import mock_RoiResponseSeries

    series = mock_RoiResponseSeries(name="Corrected", data=np.ones((20, 5)), description=description)
    assert classify(series, "Fluorescence", "Fluorescence") == "fluorescence"
    assert classify(series, "", "module") == "unknown"


# ------------------------------------------------------------------------------------------------
# 5. values no recording gives


def test_a_frame_of_1e30_becomes_a_missing_frame(dff, tmp_path):
    """1e30 (and an infinity) read as missing, with a warning that counts them: the rates are those of a file with
    NaN there."""
    broken, missing = dff.copy(), dff.copy()
    broken[2, 1000], broken[5, 1500] = 1e30, np.inf
    missing[2, 1000] = missing[5, 1500] = np.nan
    path = write_session(tmp_path / "broken.nwb", [Plane([Series("traces", broken)])])
    counted = r"2 value\(s\) \(1 infinite, the largest 1e\+30\) in 2 ROI\(s\) and 2 frame"
    with pytest.warns(OutlierWarning, match=counted):
        infer(path, tmp_path / "out.nwb", discrete_spikes=False)
    run(write_session(tmp_path / "missing.nwb", [Plane([Series("traces", missing)])]), tmp_path / "reference.nwb")
    (got,), (want,) = rates_of(tmp_path / "out.nwb").values(), rates_of(tmp_path / "reference.nwb").values()
    assert_rates_close(got, want, frames_axis=0)
    assert np.isnan(got[1000, 2]) and np.nanmax(got) < 100  # spikes/s


def test_a_series_full_of_impossible_values_is_refused(dff, tmp_path):
    broken = dff.copy()
    broken[:, ::40] = 1e30  # 2.5% of the frames
    path = write_session(tmp_path / "broken.nwb", [Plane([Series("traces", broken)])])
    with pytest.raises(NWBInputError, match="more than 1% of the series, so it is damaged"):
        run(path, tmp_path / "out.nwb")


# ------------------------------------------------------------------------------------------------
# 6. compression filters


def _compressed_by(path: Path, name: str) -> str:
    with h5py.File(path, "r") as handle:
        return handle[name].id.get_create_plist().get_filter(0)[3].decode()


@pytest.mark.parametrize("writer", ["H5DataIO Blosc", "H5DataIO Zstd", "NeuroConv Zstd", "NeuroConv Blosc"])
def test_blosc_and_zstd_series_read_as_gzip_ones(writer, dff, tmp_path):
    kind, method = writer.split()
    filters = {"Blosc": hdf5plugin.Blosc(), "Zstd": hdf5plugin.Zstd()}[method]
    if kind == "H5DataIO":
        path = write_session(tmp_path / "c.nwb", [Plane([Series("traces", dff, io=dict(filters, chunks=(600, ROIS),
                                                                                         allow_plugin_filters=True))])])
        reference = write_session(tmp_path / "gzip.nwb", [Plane([Series("traces", dff)])])
        name = "processing/ophys/DfOverF/traces/data"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = neuroconv.write_neuroconv_mock_segmentation(tmp_path / "c.nwb", {"dff": dff}, RATE,
                                                               compressor=method)
            reference = neuroconv.write_neuroconv_mock_segmentation(tmp_path / "gzip.nwb", {"dff": dff}, RATE)
        name = "processing/ophys/Fluorescence/DfOverF/data"
    assert method.lower() in _compressed_by(path, name).lower() and _compressed_by(reference, name) == "deflate"
    run(path, tmp_path / "out.nwb")
    run(reference, tmp_path / "reference.nwb")
    (got,), (want,) = rates_of(tmp_path / "out.nwb").values(), rates_of(tmp_path / "reference.nwb").values()
    np.testing.assert_array_equal(got, want)  # the same values in the same engine batches


def test_a_zstd_series_is_annotated_in_place(dff, tmp_path):
    """The other mode: results added to the file itself, from a Zstd-compressed series, equal a new file's."""
    from nwb_cascade.spike_inference import infer

    io = dict(hdf5plugin.Zstd(), chunks=(600, ROIS), allow_plugin_filters=True)
    path = write_session(tmp_path / "z.nwb", [Plane([Series("traces", dff, io=io)])])
    run(path, tmp_path / "out.nwb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infer(path, in_place=True, discrete_spikes=False)
    (got,), (want,) = rates_of(path).values(), rates_of(tmp_path / "out.nwb").values()
    np.testing.assert_array_equal(got, want)
    assert _compressed_by(path, "processing/ophys/DfOverF/traces/data").lower().startswith("hdf5 zstd")


BLOCKED = ("import sys; sys.modules['hdf5plugin'] = None; from nwb_cascade.cli import run; "
           "sys.argv[0] = 'nwb-cascade'; run()")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["infer", "in place"])
def test_a_missing_filter_is_one_line_naming_it_and_its_package(mode, dff, tmp_path):
    """hdf5plugin missing from the environment: one line naming the filter and the package, in both modes."""
    path = write_session(tmp_path / "c.nwb", [Plane([Series("traces", dff, io=dict(
        hdf5plugin.Blosc(), chunks=(600, ROIS), allow_plugin_filters=True))])])
    arguments = ["infer", str(path), *(["--in-place"] if mode == "in place" else ["-o", str(tmp_path / "o.nwb")])]
    done = subprocess.run([sys.executable, "-c", BLOCKED, *arguments], capture_output=True, text=True, cwd=tmp_path,
                          check=False)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "filter 'blosc' (id 32001), provided by hdf5plugin (pip install hdf5plugin)" in lines[0]
    assert "processing/ophys/DfOverF/traces" in lines[0] and not (tmp_path / "o.nwb").exists()


# ------------------------------------------------------------------------------------------------
# 7. the command line: no refused run exits 0, and inspect says why


@pytest.mark.parametrize("case", ["sensor", "species", "glia"])
def test_no_refused_run_exits_0_with_results(case, dff, tmp_path):
    if case == "sensor":
        path = write_mock(tmp_path / "in.nwb", dff, indicator="GACh3.0")
    elif case == "species":
        path = write_session(tmp_path / "in.nwb", [Plane([Series("traces", dff)])], species="C. elegans")
    else:
        path = write_session(tmp_path / "in.nwb", neurons_and_glia(dff, neurons=False))
    for extra in ([], ["--model", GENERAL]):
        result = CliRunner().invoke(main, ["infer", str(path), "-o", str(tmp_path / "out.nwb"), *extra])
        assert result.exit_code == 2 and result.output.startswith("error: "), result.output
        assert not (tmp_path / "out.nwb").exists()


def test_inspect_says_what_each_series_is_taken_for_and_why(dff, tmp_path):
    path = write_session(tmp_path / "two.nwb", two_channels(dff, one_plane=False) + neurons_and_glia(dff)[1:])
    rows = {row.path: row for row in inspect(path).series}
    ach = rows["processing/ophys/DfOverF/acetylcholine"]
    assert (ach.measures, ach.indicator, ach.verdict, ach.used) == \
        ("acetylcholine", "GACh3.0", "refuse", False)
    assert rows["processing/ophys/GliaDfOverF/RoiResponseSeries"].decision.action == "skipped"
    calcium = rows["processing/ophys/DfOverF/calcium"].decision
    assert calcium.action == "input of its plane" and calcium.taken_for.startswith("ΔF/F of calcium (GCaMP6s")
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert ("taken for ΔF/F of acetylcholine (GACh3.0, imaging plane indicator): refused (GACh3.0 (imaging plane "
            "indicator) is a sensor of acetylcholine") in result.output
