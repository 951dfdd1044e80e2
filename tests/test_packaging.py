"""The extension's spec ships inside the wheel and loads outside the repository."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_spec(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("nwb_cascade-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nwb_cascade/spec/ndx-cascade.namespace.yaml" in names
    assert "nwb_cascade/spec/ndx-cascade.extensions.yaml" in names
    assert "nwb_cascade/cascade/available_models.yaml" in names


def test_extension_loads_outside_the_repository(tmp_path):
    code = "import nwb_cascade.nwb.extension as e; print(e.spec_path().is_file(), e.CascadeResults.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "CascadeResults"]


def test_spec_yaml_is_what_the_generator_writes(tmp_path):
    """The committed YAML is the generator's output (regenerate with python spec/create_extension_spec.py)."""
    import shutil

    copy = tmp_path / "spec"
    copy.mkdir()
    shutil.copy(ROOT / "spec" / "create_extension_spec.py", copy)
    subprocess.run([sys.executable, str(copy / "create_extension_spec.py")], check=True, capture_output=True)
    for name in ("ndx-cascade.namespace.yaml", "ndx-cascade.extensions.yaml"):
        assert (copy / name).read_text() == (ROOT / "spec" / name).read_text(), name
