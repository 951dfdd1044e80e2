"""Streaming a session over HTTP: requests and bytes per processed session, cold and warm cache.

Usage: python benchmarks/streaming.py [--rois 200] [--minutes 30] [--movie-frames 1000]

Writes a session (synthetic ΔF/F of ``--rois`` ROIs for ``--minutes`` at 30 Hz, and a raw
uint16 movie of 256×256 pixels, the bulk of real files) and serves it from a real HTTP
server on 127.0.0.1 that honours Range and logs every byte it sends.  Then:

1. ``nwb-cascade infer URL`` end to end (this package's reader: fsspec transport, own
   block cache), with a cold cache and again with the warm one;
2. the read alone (metadata, ΔF/F, timestamps, ROI table), through this reader at three
   block sizes, through remfile (with its disk cache) and through fsspec's own
   ``blockcache`` file system, the alternatives considered.

The table reports requests, bytes sent by the server, their ratio to the bytes needed
(the file minus the raw movie), and wall time (on localhost, so time says little about
a real link, where each request costs a round trip: count requests).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from http_server import RangeServer

from nwb_cascade.nwb.example import synthetic_traces, write_example_file


def make_session(folder: Path, rois: int, minutes: float, movie_frames: int) -> tuple[Path, int]:
    path = folder / "session.nwb"
    traces, _ = synthetic_traces(rois, int(minutes * 60 * 30), 30.0, seed=1)
    movie = np.random.default_rng(0).integers(0, 4096, (movie_frames, 256, 256), dtype=np.uint16)
    write_example_file(path, traces, 30.0, layout="visual_coding", movie=movie)
    with h5py.File(path, "r") as handle:
        movie_bytes = handle["acquisition/TwoPhotonSeries/data"].id.get_storage_size()
    return path, path.stat().st_size - movie_bytes


def read_session(fileobj) -> None:
    from pynwb import NWBHDF5IO

    with h5py.File(fileobj, "r") as handle:
        nwbfile = NWBHDF5IO(file=handle, mode="r", load_namespaces=True).read()
        series = nwbfile.processing["ophys"]["DfOverF"]["DfOverF"]
        series.data[:]
        series.timestamps[:]
        series.rois.table["image_mask"].data[:]


def measure(server: RangeServer, action) -> tuple[int, int, float]:
    server.log.clear()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    return len(server.log), server.bytes_sent(), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rois", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--movie-frames", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import fsspec
    import remfile

    from nwb_cascade.nwb.stream import RemoteFile
    from nwb_cascade.spike_inference import infer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "served").mkdir()
        path, needed = make_session(folder / "served", args.rois, args.minutes, args.movie_frames)
        size = path.stat().st_size
        rows = []
        with RangeServer(folder / "served") as server:
            url = f"{server.url}/session.nwb"
            os.environ["NWB_CASCADE_CACHE"] = str(folder / "cache")
            for run in ("cold", "warm"):
                output = folder / f"{run}.nwb"
                rows.append((f"nwb-cascade infer, {run} cache", *measure(
                    server, lambda output=output: infer(url, output, discrete_spikes=False))))
            for block in (1 << 18, 1 << 20, 1 << 22):
                rows.append((f"this reader, {block >> 10} KiB blocks, read only", *measure(
                    server, lambda block=block: read_session(RemoteFile(url, cache=None, block_size=block)))))
            disk = remfile.DiskCache(str(folder / "remfile"))
            for run in ("cold", "warm"):
                rows.append((f"remfile, {run} disk cache, read only", *measure(
                    server, lambda: read_session(remfile.File(url, disk_cache=disk)))))
            for run in ("cold", "warm"):
                filesystem = fsspec.filesystem("blockcache", target_protocol="http",
                                               cache_storage=str(folder / "fsspec"), skip_instance_cache=True)
                rows.append((f"fsspec blockcache 1 MiB, {run}, read only", *measure(
                    server, lambda filesystem=filesystem: read_session(filesystem.open(url, "rb", block_size=1 << 20)))))
    print(f"\nsession: {args.rois} ROIs x {args.minutes:g} min at 30 Hz + {args.movie_frames} frames of 256x256 "
          f"uint16 movie; file {size / 1e6:.1f} MB, needed (all but the movie) {needed / 1e6:.1f} MB\n")
    print("| reader | requests | MB sent | sent / needed | seconds |")
    print("|---|---|---|---|---|")
    for name, requests, sent, seconds in rows:
        print(f"| {name} | {requests} | {sent / 1e6:.1f} | {sent / needed:.2f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
