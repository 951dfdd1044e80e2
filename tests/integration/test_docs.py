"""The code blocks of the README and the docs: each one runs here, offline, or says why it does not.

A block is preceded by ``<!-- doc: run -->`` or ``<!-- doc: not run: REASON -->``.  The blocks that run do so
in order, one folder per page, as a user would paste them: shell blocks with bash (the package's commands on
the PATH), Python blocks with this Python, in a folder that holds ``session.nwb`` (``nwb-cascade example``'s
file), with ``../shared`` where the data is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"(?P<mark><!-- doc: (?P<verdict>run|not run: (?P<reason>[^>]+?)) -->\n)?```(?P<lang>[a-z]*)\n"
                   r"(?P<code>.*?)```", re.S)


def blocks(page: Path) -> list[dict]:
    return [match.groupdict() for match in BLOCK.finditer(page.read_text()) if match["lang"] in ("bash", "python")]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_block_says_whether_it_runs(page):
    unmarked = [block["code"].splitlines()[0] for block in blocks(page) if not block["mark"]]
    assert not unmarked, f"{page.name}: blocks without <!-- doc: run --> or <!-- doc: not run: REASON -->: {unmarked}"


@pytest.mark.slow
@pytest.mark.parametrize("page", [page for page in PAGES if any(block["verdict"] == "run" for block in blocks(page))],
                         ids=lambda page: str(page.relative_to(ROOT)))
def test_the_blocks_that_run_offline_run(page, tmp_path):
    from nwb_cascade.nwb.example import write_example

    from ..conftest import SHARED

    work = tmp_path / "work"
    work.mkdir()
    write_example(work / "session.nwb")
    if SHARED.parent.is_dir():
        (tmp_path / "shared").symlink_to(SHARED.parent)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "MPLBACKEND": "Agg"}
    for block in blocks(page):
        if block["verdict"] != "run":
            continue
        if block["lang"] == "bash":
            command = ["bash", "-euo", "pipefail", "-c", block["code"]]
        else:
            command = [sys.executable, "-c", block["code"]]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{page.name}:\n{block['code']}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
