"""What the fault suites share: a small disk to fill."""

import subprocess

import pytest


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 48 MB at tmp_path/disk (root only: mount needs it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
