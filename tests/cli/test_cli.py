"""The command line mirrors the Python API."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from nwb_cascade.cli import main


def test_models_list_filters_by_pattern():
    result = CliRunner().invoke(main, ["models", "list", "Global_EXC_30Hz"])
    assert result.exit_code == 0
    assert "Global_EXC_30Hz_smoothing25ms" in result.output and "7.5Hz" not in result.output


@pytest.mark.slow
def test_unknown_model_is_a_one_line_error():
    done = subprocess.run(
        [sys.executable, "-c", "from nwb_cascade.cli import run; run()", "models", "download", "No_such_model"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: 'No_such_model' is not a published model")


def test_infer_and_inspect_from_the_command_line(nwb_copy, tmp_path):
    from ..conftest import MODEL_DIR, need

    path = nwb_copy("visual_behavior")
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0 and result.output.startswith("* processing/ophys/dff/traces  [DfOverF, dff] 74 ROIs x 6001")
    out = tmp_path / "result.nwb"
    result = runner.invoke(main, ["infer", str(path), "--model", str(need(MODEL_DIR)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "processing/cascade/ophys_dff_traces" in result.output and out.is_file()
    result = runner.invoke(main, ["plot", str(out), "--rois", "1,2", "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 0 and (tmp_path / "f.png").is_file()
    result = runner.invoke(main, ["infer", str(path), "--in-place", "-o", str(out)])
    assert result.exit_code == 2 and "not both" in result.output


def test_ground_truth_list_prints_a_table():
    from ..conftest import GROUND_TRUTH, need

    result = CliRunner().invoke(main, ["ground-truth", "list", str(need(GROUND_TRUTH))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("| dataset | neurons | recordings | frame rate (Hz)")
    assert len(lines) == 2 + 29 and lines[2].startswith("| DS01-OGB1-m-V1 | 21 | 21 | 11.6 |")


def test_train_needs_a_config_or_a_file_to_match():
    result = CliRunner().invoke(main, ["train"])
    assert result.exit_code != 0 and "either CONFIG.yaml or --match" in result.output


@pytest.mark.slow
def test_threshold_mode_is_recorded_as_asked(nwb_copy, tmp_path):
    """0 (the default: negatives clipped), 1 and off each reach the file as themselves (0 == False in Python)."""
    import h5py
    import numpy as np

    from ..conftest import MODEL_DIR, need

    path = nwb_copy("visual_coding")
    runner = CliRunner()
    recorded = {}
    for value in ("0", "1", "off"):
        out = tmp_path / f"threshold_{value}.nwb"
        result = runner.invoke(main, ["infer", str(path), "--model", str(need(MODEL_DIR)), "--threshold", value,
                                      "--no-discrete-spikes", "-o", str(out)])
        assert result.exit_code == 0, result.output
        with h5py.File(out, "r") as handle:
            rates = handle["processing/cascade/ophys_DfOverF_DfOverF/spike_rates"]
            recorded[value] = (rates.attrs["threshold_mode"], np.nanmin(rates["data"][:]))
    assert {value: mode for value, (mode, _) in recorded.items()} == {"0": "0", "1": "1", "off": "off"}
    assert recorded["0"][1] == 0 and recorded["1"][1] == 0 and recorded["off"][1] < 0  # only off keeps negatives


def test_threshold_values_are_named_by_mode():
    import pytest

    from nwb_cascade.cascade.inference import threshold_mode

    assert [threshold_mode(v) for v in (0, 1, False, True, None, "off", "0", "1", 0.0)] == \
        ["0", "1", "off", "1", "off", "off", "0", "1", "0"]
    for bad in (2, -1, 0.5, "2"):
        with pytest.raises(ValueError, match="threshold must be 0, 1 or False"):
            threshold_mode(bad)
