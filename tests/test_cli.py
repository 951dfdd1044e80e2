"""The command line mirrors the Python API."""

import subprocess
import sys

from click.testing import CliRunner

from nwb_cascade.cli import main


def test_models_list_filters_by_pattern():
    result = CliRunner().invoke(main, ["models", "list", "Global_EXC_30Hz"])
    assert result.exit_code == 0
    assert "Global_EXC_30Hz_smoothing25ms" in result.output and "7.5Hz" not in result.output


def test_unknown_model_is_a_one_line_error():
    done = subprocess.run(
        [sys.executable, "-c", "from nwb_cascade.cli import run; run()", "models", "download", "No_such_model"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: 'No_such_model' is not a published model")


def test_infer_and_inspect_from_the_command_line(nwb_copy, tmp_path):
    from .conftest import MODEL_DIR, need

    path = nwb_copy("visual_behavior")
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0 and result.output.startswith("* processing/ophys/dff/traces  [DfOverF] 74 ROIs x 6001")
    out = tmp_path / "result.nwb"
    result = runner.invoke(main, ["infer", str(path), "--model", str(need(MODEL_DIR)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "processing/cascade/ophys_dff_traces" in result.output and out.is_file()
    result = runner.invoke(main, ["plot", str(out), "--rois", "1,2", "--out", str(tmp_path / "f.png")])
    assert result.exit_code == 0 and (tmp_path / "f.png").is_file()
    result = runner.invoke(main, ["infer", str(path), "--in-place", "-o", str(out)])
    assert result.exit_code != 0 and "exclude each other" in result.output


def test_ground_truth_list_prints_a_table():
    from .conftest import GROUND_TRUTH, need

    result = CliRunner().invoke(main, ["ground-truth", "list", str(need(GROUND_TRUTH))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("| dataset | neurons | recordings | frame rate (Hz)")
    assert len(lines) == 2 + 29 and lines[2].startswith("| DS01-OGB1-m-V1 | 21 | 21 | 11.6 |")


def test_train_needs_a_config_or_a_file_to_match():
    result = CliRunner().invoke(main, ["train"])
    assert result.exit_code != 0 and "either CONFIG.yaml or --match" in result.output
