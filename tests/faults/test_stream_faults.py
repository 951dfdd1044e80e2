"""Real faults sent to the stream reader and its cache: real ``nwb-cascade infer URL`` processes reading from a Range
server on 127.0.0.1 that sends answers from the wrong place, drops long answers, sends slowly; a cache whose blocks
were damaged on disk.  Whatever happens, a run gives the results a local run gives, or one line and no output; and
no wrong byte outlives the run that met it (docs/faults-batch.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from ..conftest import MODEL_DIR, assert_rates_close, need
from ..http_server import Fault, RangeServer

pytestmark = pytest.mark.slow  # real processes and servers

RATES = "processing/cascade/ophys_DfOverF_DfOverF/spike_rates/data"


def infer_cli(source: str | Path, output: Path, cache: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """A real ``nwb-cascade infer`` process with its own stream cache."""
    return subprocess.run([sys.executable, "-c", "from nwb_cascade.cli import run; run()", "infer", str(source),
                           "-o", str(output), "--model", str(need(MODEL_DIR)), "--no-discrete-spikes"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NWB_CASCADE_CACHE": str(cache), "NWB_CASCADE_BACKOFF": "0.05",
                               **(env or {})})


def rates(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as handle:
        return handle[RATES][()]


def cached_blocks(cache: Path) -> dict[str, bytes]:
    return {str(path.relative_to(cache)): path.read_bytes() for path in (cache / "streams").rglob("*")
            if path.is_file() and path.name.isdigit()}


@pytest.fixture(scope="module")
def served(tmp_path_factory, allen_traces) -> dict:
    """A 3 MB session (74 ROIs, 12 blocks of 256 KiB) to serve, and its spike rates from a local run."""
    from nwb_cascade.nwb.example import write_example_file

    root = tmp_path_factory.mktemp("served")
    path = write_example_file(root / "session.nwb", allen_traces[:74, :6001], 30.0)
    folder = tmp_path_factory.mktemp("local")
    done = infer_cli(path, folder / "local.nwb", folder / "cache")
    assert done.returncode == 0, done.stderr
    return {"root": root, "path": path, "rates": rates(folder / "local.nwb")}


def clean_run(served: dict, tmp_path: Path) -> list[tuple[str, str, int, int]]:
    """The requests of a cold run with a healthy server."""
    with RangeServer(served["root"]) as server:
        done = infer_cli(f"{server.url}/session.nwb", tmp_path / "clean.nwb", tmp_path / "clean-cache")
        assert done.returncode == 0, done.stderr
        return [entry for entry in server.log if entry[0] == "GET"]


def test_an_answer_from_the_wrong_place_never_gives_a_wrong_result_nor_stays_in_the_cache(served, tmp_path):
    """Each request of a cold run in turn answered with the bytes 8 places further on (right length, right
    Content-Range): the run gives the local run's rates (the bad answer is found, its run read again from the
    server), and the next run, from the cache with a healthy server, gives them too."""
    gets = clean_run(served, tmp_path)
    assert len(gets) >= 6
    outcomes = []
    for index in range(len(gets)):
        cache = tmp_path / f"cache{index}"
        fault = Fault(skip=index, shift=8)
        with RangeServer(served["root"], faults=[fault]) as server:
            url = f"{server.url}/session.nwb"
            done = infer_cli(url, tmp_path / f"bad{index}.nwb", cache)
            assert fault.times == 0, "the wrong answer was never sent"
            assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
            assert_rates_close(rates(tmp_path / f"bad{index}.nwb"), served["rates"], frames_axis=0)
            outcomes.append("read again" if "read once more from the server" in done.stderr else "no effect")
            warm = infer_cli(url, tmp_path / f"warm{index}.nwb", cache)
            assert warm.returncode == 0, warm.stderr
            assert_rates_close(rates(tmp_path / f"warm{index}.nwb"), served["rates"], frames_axis=0)
    assert outcomes.count("read again") >= len(gets) - 1, outcomes


def test_answers_from_the_wrong_place_on_both_tries_end_in_one_line_and_leave_no_block(served, tmp_path):
    cache = tmp_path / "cache"
    with RangeServer(served["root"], faults=[Fault(skip=2, shift=8, times=10_000)]) as server:
        done = infer_cli(f"{server.url}/session.nwb", tmp_path / "out.nwb", cache)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    assert "disagree" in lines[-1] or "not a readable" in lines[-1], lines[-1]
    assert not (tmp_path / "out.nwb").exists()
    assert cached_blocks(cache) == {}


@pytest.mark.parametrize("damage", ["other-bytes", "cut-short"])
def test_a_damaged_block_in_the_cache_is_dropped_and_read_again(served, tmp_path, damage):
    """A block of the cache damaged on disk (another program, a failing disk): the run that meets it says so,
    reads the file again from the server, and gives the local run's rates; the cache is mended."""
    cache = tmp_path / "cache"
    with RangeServer(served["root"]) as server:
        url = f"{server.url}/session.nwb"
        done = infer_cli(url, tmp_path / "first.nwb", cache)
        assert done.returncode == 0, done.stderr
        good = cached_blocks(cache)
        (name,) = [key for key in good if key.endswith("/0")]  # the superblock and the root's metadata
        block = cache / name
        if damage == "other-bytes":
            data = bytearray(block.read_bytes())
            data[96:4096] = bytes(4096 - 96)
            block.write_bytes(bytes(data))
        else:
            block.write_bytes(block.read_bytes()[:1000])
        server.log.clear()
        done = infer_cli(url, tmp_path / "second.nwb", cache)
        sent = server.bytes_sent()
    assert done.returncode == 0, done.stderr
    assert_rates_close(rates(tmp_path / "second.nwb"), served["rates"], frames_axis=0)
    assert "stream cache" in done.stderr, done.stderr  # the message says the cached data were involved
    assert 0 < sent and cached_blocks(cache)[name] == good[name]


def test_a_slow_but_steady_server_finishes(served, tmp_path, allen_traces):
    """10 KB/s, with a deadline of 5 s and a read timeout of 2 s: the run takes far longer than the deadline and
    finishes, as bytes keep arriving (a stall is no byte for the read timeout, not a slow answer)."""
    from nwb_cascade.nwb.example import write_example_file

    root = tmp_path / "small"
    root.mkdir()
    path = write_example_file(root / "small.nwb", allen_traces[:5, :1000], 30.0, field_size=16)  # 258 KB
    local = infer_cli(path, tmp_path / "local.nwb", tmp_path / "local-cache")
    assert local.returncode == 0, local.stderr
    settings = {"NWB_CASCADE_DEADLINE": "5", "NWB_CASCADE_READ_TIMEOUT": "2"}
    with RangeServer(root, rate=10_000) as server:
        began = time.monotonic()
        done = infer_cli(f"{server.url}/small.nwb", tmp_path / "slow.nwb", tmp_path / "cache", env=settings)
        spent = time.monotonic() - began
        sent = server.bytes_sent()
    assert done.returncode == 0, done.stderr
    assert spent > sent / 10_000 > 5  # it really was that slow, and longer than the deadline
    np.testing.assert_array_equal(rates(tmp_path / "slow.nwb"), rates(tmp_path / "local.nwb"))


def test_a_long_answer_cut_off_keeps_the_blocks_that_arrived(served, tmp_path):
    """The longest answer of a cold run dropped half-way, and the server failing from then on: the run fails in one
    line, the blocks that arrived whole stay cached, and the rerun asks only for the rest."""
    gets = clean_run(served, tmp_path)
    longest = max(range(len(gets)), key=lambda index: gets[index][3])
    size = gets[longest][3]
    assert size > 4 * (1 << 18)
    cache = tmp_path / "cache"
    faults = [Fault(skip=longest, drop_after=size // 2), Fault(times=10_000, status=500)]
    with RangeServer(served["root"], faults=faults) as server:
        url = f"{server.url}/session.nwb"
        done = infer_cli(url, tmp_path / "cut.nwb", cache, env={"NWB_CASCADE_RETRIES": "2"})
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "dropped the connection" in done.stderr and "HTTP 500" in done.stderr.splitlines()[-1], done.stderr
        kept = cached_blocks(cache)
        server.faults.clear()  # the server mended
        server.log.clear()
        again = infer_cli(url, tmp_path / "again.nwb", cache)
        assert again.returncode == 0, again.stderr
        resent = server.bytes_sent()
        rerun = [entry[3] for entry in server.log if entry[0] == "GET"]
    cold = sum(entry[3] for entry in gets)
    assert len(kept) >= (size // 2) // (1 << 18) >= 2
    # the rerun sends what is missing, and a few checks (overlaps of 64 bytes each side, a 64-byte witness)
    assert resent <= cold - sum(map(len, kept.values())) + 4096, (resent, cold, rerun)
    assert_rates_close(rates(tmp_path / "again.nwb"), served["rates"], frames_axis=0)


def test_cache_info_and_clear(served, tmp_path):
    cache = tmp_path / "cache"
    with RangeServer(served["root"]) as server:
        url = f"{server.url}/session.nwb"
        assert infer_cli(url, tmp_path / "out.nwb", cache).returncode == 0
    command = [sys.executable, "-c", "from nwb_cascade.cli import run; run()", "cache"]
    env = {**os.environ, "NWB_CASCADE_CACHE": str(cache)}
    info = subprocess.run([*command, "info"], capture_output=True, text=True, env=env, timeout=120)
    blocks = cached_blocks(cache)
    assert info.returncode == 0 and url in info.stdout and f"{len(blocks):6d} blocks" in info.stdout, info.stdout
    assert f"1 file(s), {sum(map(len, blocks.values())) / 1e6:.1f} MB" in info.stdout
    cleared = subprocess.run([*command, "clear"], capture_output=True, text=True, env=env, timeout=120)
    assert cleared.returncode == 0 and "removed 1 file(s)" in cleared.stdout
    assert cached_blocks(cache) == {}
    info = subprocess.run([*command, "info"], capture_output=True, text=True, env=env, timeout=120)
    assert "0 file(s), 0.0 MB" in info.stdout
    shutil.rmtree(cache)


def test_a_whole_file_is_checked_against_its_dandi_digest(tmp_path, allen_traces):
    """A DANDI asset read whole (a small file) is checked against the SHA-256 the archive gives: a blob whose bytes
    changed after upload (one bit of a time stamp: still a valid NWB file) ends in one line, no output and no block
    cached; the intact blob gives the local run's results."""
    from nwb_cascade.nwb.example import write_example_file

    from ..dandi_api import ASSET_PATH, DANDISET, DandiArchive

    root = tmp_path / "served"
    root.mkdir()
    path = write_example_file(tmp_path / "small.nwb", allen_traces[:5, :1000], 30.0, field_size=16)
    with h5py.File(path, "r") as handle:
        offset = handle["processing/ophys/DfOverF/DfOverF/timestamps"].id.get_offset()
    local = infer_cli(path, tmp_path / "local.nwb", tmp_path / "local-cache")
    assert local.returncode == 0, local.stderr
    with RangeServer(root) as server:
        archive = DandiArchive(root, path, base=server.url)
        server.routes.append(archive.route)
        env = {"NWB_CASCADE_DANDI_API_URL": f"{server.url}/api", "DANDI_API_KEY": ""}
        asset = f"DANDI:{DANDISET}/{ASSET_PATH}"
        done = infer_cli(asset, tmp_path / "intact.nwb", tmp_path / "cache", env=env)
        assert done.returncode == 0, done.stderr
        np.testing.assert_array_equal(rates(tmp_path / "intact.nwb"), rates(tmp_path / "local.nwb"))
        (blob,) = [entry for entry in (root / "blobs").rglob("*") if entry.is_file()]
        data = bytearray(blob.read_bytes())
        data[offset] ^= 1
        blob.write_bytes(bytes(data))
        done = infer_cli(asset, tmp_path / "changed.nwb", tmp_path / "cache2", env=env)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert last.startswith("error: ") and "does not have the SHA-256 its archive gives" in last, last
    assert not (tmp_path / "changed.nwb").exists() and cached_blocks(tmp_path / "cache2") == {}
