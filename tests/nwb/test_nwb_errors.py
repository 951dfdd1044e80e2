"""Bad NWB input and failed writes: clear messages, and files left exactly as they were."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_cascade.nwb.example import example_nwbfile, write_example_file
from nwb_cascade.nwb.inplace import NWBWriteError
from nwb_cascade.nwb.read import IrregularTimestampsWarning, NWBInputError
from nwb_cascade.spike_inference import infer

from ..conftest import h5_snapshot


@pytest.mark.slow
def test_failed_write_leaves_the_file_as_it_was(nwb_copy, model, monkeypatch):
    """Make the HDF5 write fail after part of the results is on disk: the file must come back intact."""
    from hdmf.backends.hdf5.h5tools import HDF5IO

    path = nwb_copy("visual_coding")
    before = h5_snapshot(path)
    original = HDF5IO.write_dataset

    def failing(self, parent, builder, **kwargs):
        if builder.name == "spike_count":  # written after the spike rates and spike times
            raise OSError("disk full (simulated)")
        return original(self, parent, builder, **kwargs)

    monkeypatch.setattr(HDF5IO, "write_dataset", failing)
    with pytest.raises(OSError, match="disk full"):
        infer(path, in_place=True, model=model)
    monkeypatch.undo()
    assert h5_snapshot(path) == before
    with NWBHDF5IO(str(path), "r") as io:  # still readable, no half-written group
        assert "cascade" not in io.read().processing
    infer(path, in_place=True, model=model)  # and the next run succeeds


def test_existing_results_refused_unless_overwrite(nwb_copy, model):
    path = nwb_copy("visual_coding")
    infer(path, in_place=True, model=model, discrete_spikes=False)
    before = h5_snapshot(path)
    with pytest.raises(NWBInputError, match="already holds Cascade results.*--overwrite"):
        infer(path, in_place=True, model=model)
    assert h5_snapshot(path) == before
    infer(path, in_place=True, model=model, overwrite=True)
    with NWBHDF5IO(str(path), "r") as io:
        module = io.read().processing["cascade"]
        assert list(module.data_interfaces) == ["ophys_DfOverF_DfOverF"]
        assert module["ophys_DfOverF_DfOverF"].discrete_spikes is not None


def test_not_an_nwb_file(tmp_path, model):
    text = tmp_path / "notes.nwb"
    text.write_text("not hdf5")
    with pytest.raises(NWBInputError, match="not an HDF5 file"):
        infer(text, in_place=True, model=model)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(NWBInputError, match="HDF5 file but not an NWB file"):
        infer(plain, tmp_path / "out.nwb", model=model)
    assert not (tmp_path / "out.nwb").exists()


def test_truncated_file(nwb_copy, model, tmp_path):
    path = nwb_copy("visual_coding")
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = truncated.read_bytes()
    with pytest.raises(NWBInputError, match="truncated or damaged"):
        infer(truncated, in_place=True, model=model)
    assert truncated.read_bytes() == before


def test_read_only_file_in_place(nwb_copy, model):
    path = nwb_copy("visual_coding")
    before = h5_snapshot(path)
    os.chmod(path, 0o444)
    try:
        with pytest.raises(NWBWriteError, match="read-only.*--output"):
            infer(path, in_place=True, model=model)
    finally:
        os.chmod(path, 0o644)
    assert h5_snapshot(path) == before


def test_no_roi_response_series(tmp_path, model):
    from datetime import datetime, timezone

    from pynwb import NWBFile

    path = tmp_path / "empty.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(NWBFile(session_description="no ophys", identifier="x", session_start_time=datetime.now(timezone.utc)))
    before = h5_snapshot(path)
    with pytest.raises(NWBInputError, match="no RoiResponseSeries"):
        infer(path, in_place=True, model=model)
    assert h5_snapshot(path) == before


def test_series_with_one_frame(tmp_path, model, allen_traces):
    path = write_example_file(tmp_path / "one.nwb", allen_traces[:, :1], 30.0, layout="fluorescence")
    with pytest.raises(NWBInputError, match="1 frame.*at least 64"):
        infer(path, in_place=True, model=model)


@pytest.mark.slow
def test_data_stored_rois_by_frames_is_read_transposed_with_a_warning(nwb_copy, model, tmp_path):
    """Older AllenSDK files store ΔF/F ROIs x time: where the ROI count makes it unambiguous, it is read
    transposed (never silently), with the same results as the file stored the NWB way."""
    from nwb_cascade.nwb.read import OrientationWarning

    path = nwb_copy("visual_coding")
    expected = infer(path, tmp_path / "normal.nwb", model=model, discrete_spikes=False).output
    with h5py.File(path, "r+") as handle:
        data = handle["processing/ophys/DfOverF/DfOverF/data"]
        attrs, values = dict(data.attrs), data[()].T
        del handle["processing/ophys/DfOverF/DfOverF/data"]
        handle["processing/ophys/DfOverF/DfOverF/data"] = values
        handle["processing/ophys/DfOverF/DfOverF/data"].attrs.update(attrs)
    with pytest.warns(OrientationWarning, match=r"stored ROIs x frames \(74, 6001\).*reading it transposed"):
        infer(path, tmp_path / "transposed.nwb", model=model, discrete_spikes=False)
    with h5py.File(expected, "r") as a, h5py.File(tmp_path / "transposed.nwb", "r") as b:
        name = "processing/cascade/ophys_DfOverF_DfOverF/spike_rates/data"
        np.testing.assert_array_equal(a[name][()], b[name][()])
        copied = "processing/ophys/DfOverF/DfOverF/data"
        assert b[copied].shape == (6001, 74)  # the copy in the output is stored the NWB way


def test_file_open_for_writing_by_another_process(nwb_copy, model):
    path = nwb_copy("visual_coding")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import h5py, time; f = h5py.File({str(path)!r}, 'r+'); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(NWBInputError, match="open for writing by another process"):
            infer(path, in_place=True, model=model)
    finally:
        holder.kill()
        holder.wait()


def test_several_candidates_need_a_choice(tmp_path, allen_traces, model):
    from pynwb.ophys import DfOverF

    nwbfile = example_nwbfile(allen_traces[:10], 30.0)
    series = nwbfile.processing["ophys"]["DfOverF"]["DfOverF"]
    other = DfOverF(name="DfOverF_neuropil_corrected")
    nwbfile.processing["ophys"].add(other)
    other.create_roi_response_series(name="corrected", data=series.data.data.copy() if hasattr(series.data, "data") else series.data,
                                     rois=series.rois, unit="n.a.", timestamps=series)
    path = tmp_path / "two.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    with pytest.raises(NWBInputError, match=r"(?s)2 dff series.*--series PATH.*DfOverF/DfOverF.*corrected"):
        infer(path, in_place=True, model=model)
    summary = infer(path, in_place=True, model=model, series="DfOverF_neuropil_corrected/corrected", discrete_spikes=False)
    assert summary.container == "processing/cascade/ophys_DfOverF_neuropil_corrected_corrected"
    with pytest.raises(NWBInputError, match="no RoiResponseSeries at 'nope'"):
        infer(path, in_place=True, model=model, series="nope")


def test_irregular_timestamps_are_reported(tmp_path, allen_traces, model):
    nwbfile = example_nwbfile(allen_traces[:5], 30.0)
    series = nwbfile.processing["ophys"]["DfOverF"]["DfOverF"]
    stamps = np.array(series.timestamps)
    stamps[3000:] += 0.5  # 15 dropped frames
    series.fields["timestamps"] = stamps
    path = tmp_path / "gaps.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    with pytest.warns(IrregularTimestampsWarning, match="1 look like dropped frames"):
        infer(path, in_place=True, model=model, discrete_spikes=False)


@pytest.mark.slow
def test_cli_reports_errors_in_one_line(tmp_path):
    path = tmp_path / "notes.nwb"
    path.write_text("x")
    done = subprocess.run([sys.executable, "-c", "from nwb_cascade.cli import run; run()", "infer", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "not an HDF5 file" in done.stderr
