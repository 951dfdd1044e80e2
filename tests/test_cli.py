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
