"""The package as users get it: the built wheel (from the tree and from the sdist) in a clean environment, and the
extension's spec inside it."""

import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

ROOT = Path(__file__).resolve().parents[2]


def _run(*command, **options):
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, **options)
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _packages_in_tree() -> set[str]:
    return {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "nwb_cascade").rglob("__init__.py")}


@pytest.mark.packaging
def test_the_wheel_built_from_the_sdist_installs_and_runs_the_quick_start(tmp_path):
    """sdist -> wheel -> a fresh virtual environment -> the README's quick start, from another folder."""
    import torch

    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT)  # the sdist, then the wheel built from it
    (sdist,) = dist.glob("nwb_cascade-*.tar.gz")
    (wheel,) = dist.glob("nwb_cascade-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {name.rsplit("/", 1)[0].replace("/", ".") for name in names if name.endswith("/__init__.py")}
    assert _packages_in_tree() <= shipped, _packages_in_tree() - shipped
    with tarfile.open(sdist) as archive:
        assert any(member.endswith("spec/ndx-cascade.namespace.yaml") for member in archive.getnames())
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    # the torch this suite runs with (a CPU build here), so that the environment costs no CUDA download
    _run(python, "-m", "pip", "install", "-q", f"torch=={torch.__version__.split('+')[0]}", wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    command = env / "bin" / "nwb-cascade"
    assert "example.nwb" in _run(command, "example", cwd=work, env=clean)
    assert "spikes" in _run(command, "infer", "example.nwb", cwd=work, env=clean)
    _run(command, "plot", "example.cascade.nwb", cwd=work, env=clean)
    assert (work / "example.cascade.nwb").stat().st_size > 0 and (work / "example.cascade.png").stat().st_size > 0
    where = _run(python, "-c", "import nwb_cascade, pathlib; print(pathlib.Path(nwb_cascade.__file__).parent)",
                 cwd=work, env=clean)
    assert Path(where.strip()).is_relative_to(env), where  # the installed wheel, not this checkout


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
