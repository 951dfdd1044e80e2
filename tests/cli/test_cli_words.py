"""What a user meets first on the command line: one vocabulary, defaults shown, one line for bad input, a fast
start, and the Python API with the same options."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from nwb_cascade.cli import main
from nwb_cascade.options import DenoiseOptions, OptionError, RunOptions


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_one_vocabulary_across_commands():
    """What a command writes is -o/--output everywhere; -v and -h everywhere; no command calls it --out."""
    for path, command in _commands(main):
        names = {param.name: param for param in command.params}
        assert "out" not in names, path
        if "output" in names:
            assert names["output"].opts == ["--output", "-o"] or set(names["output"].opts) == {"--output", "-o"}, path
        assert "-v" in names["verbose"].opts, path


def test_run_options_are_generated_from_their_declaration():
    """Every RunOptions field is an option of infer, allen, batch and inspect, with the declared help and default."""
    declared = [item for item in dataclasses.fields(RunOptions) if item.metadata.get("cli", True)]
    for name in ("infer", "allen", "batch", "inspect"):
        params = {param.name: param for param in main.commands[name].params}
        for item in declared:
            assert item.name in params, (name, item.name)
            help_text = item.metadata["off"] if item.default is True else item.metadata["help"]
            assert params[item.name].help == help_text, (name, item.name)
    denoise = {param.name for param in main.commands["denoise"].params}
    assert {item.name for item in dataclasses.fields(DenoiseOptions) if item.metadata.get("cli", True)} <= denoise


def test_help_shows_defaults():
    text = CliRunner().invoke(main, ["infer", "--help"]).output
    assert "[default: 0.7]" in text and "[default: 0]" in text and "--no-discrete-spikes" in text


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize("arguments", [[], ["infer"], ["batch"], ["denoise"], ["models", "list"], ["summarize"]])
def test_help_imports_nothing_heavy(arguments):
    """--help of every command answers without importing torch, pynwb or dask (measured start-up: docs/tests.md)."""
    code = ("import sys; from nwb_cascade.cli import main\n"
            f"try:\n    main({[*arguments, '--help']!r})\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'pynwb', 'dask', 'distributed', 'h5py') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow  # subprocesses
def test_verbose_before_or_after_the_command(nwb_copy, tmp_path):
    path = nwb_copy("visual_coding")
    for arguments in (["-v", "infer", str(path)], ["infer", str(path), "-v"]):
        done = subprocess.run([sys.executable, "-c", "from nwb_cascade.cli import run; run()", *arguments,
                               "--no-discrete-spikes", "-o", str(tmp_path / "out.nwb"), "--overwrite"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "INFO nwb_cascade.spike_inference: no model given" in done.stderr, arguments
    quiet = subprocess.run([sys.executable, "-c", "from nwb_cascade.cli import run; run()", "infer", str(path),
                            "--no-discrete-spikes", "-o", str(tmp_path / "out.nwb"), "--overwrite"],
                           capture_output=True, text=True)
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr


@pytest.mark.slow  # a subprocess
def test_threshold_off_speaks_no_python_warning(nwb_copy, tmp_path):
    """``--threshold off`` keeps the raw output in the rates; the discrete spikes explain what is above 0, and
    the command says nothing about ``predict(..., threshold=0)``."""
    done = subprocess.run([sys.executable, "-c", "from nwb_cascade.cli import run; run()", "infer",
                           str(nwb_copy("visual_coding")), "--threshold", "off", "-o", str(tmp_path / "out.nwb")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "predict(" not in done.stderr, done.stderr


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize(("arguments", "message"), [
    (["infer", "{file}", "--device", "foo", "-o", "{tmp}/x.nwb"], "error: 'foo' is not a device"),
    (["infer", "{file}", "-o", "/nonexistent/dir/x.nwb"], "error: cannot write /nonexistent/dir/x.nwb: the folder"),
    (["infer", "{file}", "--neuropil-coefficient", "-1", "-o", "{tmp}/x.nwb"], "neuropil_coefficient must be"),
    (["infer", "{file}", "--baseline-window", "0", "-o", "{tmp}/x.nwb"], "baseline_window must be"),
    (["plot", "{file}", "--rois", "abc"], "'abc' is not comma-separated ROI indices"),
    (["plot", "{file}", "-o", "{tmp}/x.txt"], "error: cannot save a figure as"),
    (["plot", "{file}", "--window", "1:2:3"], "is not START:STOP"),
    (["denoise", "{file}", "--steps", "0"], "steps must be a whole number above 0"),
    (["denoise", "{file}", "--patch", "10,32,32"], "multiples of 8"),
    (["batch", "{file}", "--workers", "0", "-o", "{tmp}/b"], "0 is not in the range"),
    (["train", "--epochs", "0"], "0 is not in the range"),
])
def test_bad_input_is_one_line_with_exit_status_2(nwb_copy, tmp_path, arguments, message):
    path = nwb_copy("visual_coding")
    filled = [argument.format(file=path, tmp=tmp_path) for argument in arguments]
    done = subprocess.run([sys.executable, "-c", "from nwb_cascade.cli import run; run()", *filled],
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "x.nwb").exists() and not (tmp_path / "b").exists()
    assert not __import__("pathlib").Path("/nonexistent").exists()


def test_options_are_keyword_only_and_checked():
    with pytest.raises(TypeError):
        RunOptions("processing/ophys/DfOverF/DfOverF")  # positional: a field inserted later cannot shift values
    with pytest.raises(OptionError, match="threshold must be 0, 1 or off"):
        RunOptions(threshold=2)
    assert RunOptions(threshold="off").threshold is False and RunOptions(threshold="1").threshold == 1
    with pytest.raises(OptionError, match="frames 'a:b' is not a range"):
        DenoiseOptions(frames="a:b")


def test_unknown_keyword_of_a_verb_names_the_known_ones(nwb_copy, tmp_path):
    import nwb_cascade

    with pytest.raises(OptionError, match="unknown option.*modell.*RunOptions has.*model"):
        nwb_cascade.infer(nwb_copy("visual_coding"), tmp_path / "x.nwb", modell="Default_EXC_30Hz_smoothing25ms")
    assert not (tmp_path / "x.nwb").exists()


@pytest.mark.slow  # subprocesses
def test_an_unguarded_script_batch_stops_at_once_with_the_fix(tmp_path):
    """nwb_cascade.batch on a local cluster at a script's top level: one error naming the guard, before any worker
    starts (the workers would import the script again)."""
    script = tmp_path / "run_batch.py"
    script.write_text("import nwb_cascade\nnwb_cascade.batch(['missing.nwb'], 'out', workers=1)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert 'line 2: a batch on a local cluster must be started under `if __name__ == "__main__":`' in done.stderr
    assert not (tmp_path / "out").exists()


def test_options_a_file_gives_no_use_are_named(nwb_copy, tmp_path, caplog):
    """ΔF/F recipe options on a file whose planes hold ΔF/F: said, not ignored silently."""
    import logging

    import nwb_cascade

    from ..conftest import MODEL_DIR, need

    with caplog.at_level(logging.WARNING, logger="nwb_cascade"):
        nwb_cascade.infer(nwb_copy("visual_coding"), tmp_path / "x.nwb", model=need(MODEL_DIR), discrete_spikes=False,
                          neuropil_coefficient=0.5)
    assert "neuropil-coefficient did not apply: every plane's input is ΔF/F already" in caplog.text
