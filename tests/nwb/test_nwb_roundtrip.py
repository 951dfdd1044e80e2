"""Results written into NWB read back as computed; outputs are valid NWB that any reader opens."""

import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_cascade.cascade import discrete_spikes, predict, spike_times
from nwb_cascade.nwb.read import choose_series, frame_rate
from nwb_cascade.spike_inference import infer, inspect

from ..conftest import h5_snapshot

EXPECTED_PATHS = {
    "visual_coding": "processing/ophys/DfOverF/DfOverF",
    "visual_behavior": "processing/ophys/dff/traces",
    "fluorescence": "processing/ophys/Fluorescence/DfOverF",
}


@pytest.mark.parametrize("layout", sorted(EXPECTED_PATHS))
def test_series_found_by_type_in_each_layout(allen_nwb, layout):
    with NWBHDF5IO(str(allen_nwb[layout]), "r") as io:
        info = choose_series(io.read())
    assert info.path == EXPECTED_PATHS[layout] and info.n_rois == 74 and info.n_frames == 6001


def test_in_place_round_trip(nwb_copy, model, allen_traces):
    path = nwb_copy("visual_coding")
    summary = infer(path, in_place=True, model=model)
    with NWBHDF5IO(str(path), "r") as io:  # the frame rate the run took from the timestamps
        rate = frame_rate(choose_series(io.read()).series)
    expected = predict(allen_traces, model, frame_rate=rate)
    frames, _ = discrete_spikes(expected, model, frame_rate=rate)
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        results = nwbfile.processing["cascade"]["ophys_DfOverF_DfOverF"]
        source = nwbfile.processing["ophys"]["DfOverF"]["DfOverF"]
        rates = results.spike_rates
        assert rates.unit == "spikes/s" and rates.data.dtype == np.float32
        np.testing.assert_allclose(rates.data[:].T, expected * np.float32(rate), rtol=1e-6, equal_nan=True)
        assert rates.timestamps is source.timestamps or np.array_equal(rates.timestamps[:], source.timestamps[:])
        assert np.array_equal(rates.rois.data[:], source.rois.data[:]) and rates.rois.table is source.rois.table
        table = results.discrete_spikes
        stamps = source.timestamps[:]
        for roi in (0, 12, 73):
            np.testing.assert_array_equal(table["spike_times"][roi], spike_times(frames[roi], timestamps=stamps))
        assert int(table["spike_count"].data[:].sum()) == summary.spikes == sum(map(len, frames))
        assert results.source is source
        assert results.model_name == model.name and results.model_checksum == model.checksum()
        assert results.source_identifier == nwbfile.identifier and results.source_series_path == EXPECTED_PATHS["visual_coding"]
        assert "sampling_rate: 30" in results.model_config and results.run_time.endswith("+00:00")


def test_standalone_output_is_complete_and_source_untouched(allen_nwb, model, allen_traces, tmp_path):
    source = allen_nwb["visual_behavior"]
    before = h5_snapshot(source)
    output = tmp_path / "out.nwb"
    infer(source, output, model=model)
    assert h5_snapshot(source) == before
    with NWBHDF5IO(str(source), "r") as io_in, NWBHDF5IO(str(output), "r") as io_out:
        original, copy = io_in.read(), io_out.read()
        assert copy.identifier != original.identifier
        assert copy.subject.genotype == original.subject.genotype
        assert copy.session_start_time == original.session_start_time
        planes_in = original.processing["ophys"]["image_segmentation"]["cell_specimen_table"]
        planes_out = copy.processing["ophys"]["image_segmentation"]["cell_specimen_table"]
        np.testing.assert_array_equal(planes_out["image_mask"].data[:], planes_in["image_mask"].data[:])
        assert planes_out.imaging_plane.indicator == "GCaMP6f"
        traces = copy.processing["ophys"]["dff"]["traces"]
        np.testing.assert_array_equal(traces.data[:], original.processing["ophys"]["dff"]["traces"].data[:])
        results = copy.processing["cascade"]["ophys_dff_traces"]
        assert results.source is traces and results.source_identifier == original.identifier
        np.testing.assert_allclose(results.spike_rates.data[:].T, predict(allen_traces, model, frame_rate=30.0) * 30,
                                   rtol=1e-6, equal_nan=True)
        assert results.spike_rates.data.chunks is not None and results.spike_rates.data.compression == "gzip"
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.slow
def test_namespace_is_cached_for_readers_without_the_package(nwb_copy, model):
    path = nwb_copy("fluorescence")
    infer(path, in_place=True, model=model)
    code = (
        "import sys; sys.modules['nwb_cascade'] = None\n"  # the package cannot be imported
        "from pynwb import NWBHDF5IO\n"
        f"with NWBHDF5IO({str(path)!r}, 'r', load_namespaces=True) as io:\n"
        "    results = io.read().processing['cascade']['ophys_Fluorescence_DfOverF']\n"
        "    print(type(results).__name__, results.spike_rates.data.shape, results.discrete_spikes['spike_count'].data[:].sum())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=path.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("CascadeResults (6001, 74)")


@pytest.mark.slow
def test_outputs_pass_pynwb_validation_and_nwbinspector(nwb_copy, model, tmp_path):
    from nwbinspector import Importance, inspect_nwbfile
    from pynwb import validate

    in_place = nwb_copy("visual_coding")
    infer(in_place, in_place=True, model=model)
    standalone = tmp_path / "standalone.nwb"
    infer(nwb_copy("fluorescence"), standalone, model=model)
    for path in (in_place, standalone):
        errors = validate(path=str(path), use_cached_namespaces=True)
        errors = errors[0] if isinstance(errors, tuple) else errors
        assert list(errors) == [], errors
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            findings = list(inspect_nwbfile(nwbfile_path=str(path)))
        critical = [f for f in findings if f.importance == Importance.CRITICAL]
        assert critical == [], critical
        assert not [f for f in findings if f.check_function_name == "check_units_resolution_is_set"]
        with h5py.File(path, "r") as handle:  # one frame: spikes sit on the frame grid (30 Hz here)
            (results,) = handle["processing/cascade"].values()
            resolution = results["discrete_spikes/spike_times"].attrs["resolution"]
        assert resolution == pytest.approx(1 / 30, rel=1e-9)


def test_inspect_lists_candidates_and_results(nwb_copy, model):
    path = nwb_copy("visual_coding")
    found = inspect(path)
    (row,) = found.series
    assert row.used and row.rois == 74 and row.frames == 6001 and abs(row.frame_rate - 30) < 1e-6
    assert 0.9 < row.noise_median < 1.0 and found.results == []
    infer(path, in_place=True, model=model, discrete_spikes=False)
    assert inspect(path).results == ["processing/cascade/ophys_DfOverF_DfOverF"]


def test_plot_draws_a_figure(nwb_copy, model, tmp_path):
    from nwb_cascade.plot import plot_results

    path = nwb_copy("visual_coding")
    infer(path, in_place=True, model=model)
    figure = plot_results(path, rois=[3, 1], out=tmp_path / "figure.png")
    assert len(figure.axes) >= 3 and (tmp_path / "figure.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="out of range"):
        plot_results(path, rois=[500])


