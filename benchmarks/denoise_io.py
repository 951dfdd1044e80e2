"""Denoising movies wherever real files keep them, with bounded memory: peak RSS against movie length.

Usage: python benchmarks/denoise_io.py [--frames 1000,10000,50000] [--size 64] [--widths 4,8,16,32]

For each movie length, the same int16 movie (shot noise on a static scene) is kept four ways, and
``nwb-cascade denoise SOURCE --model CKPT -o OUT`` runs on each in its own process:

- ``hdf5 chunked``: ``data`` in the NWB file, gzip chunks of 32 frames (as NeuroConv writes movies);
- ``hdf5 over HTTP``: that file served by a real HTTP server on 127.0.0.1 with Range requests;
- ``suite2p binary``: an NWB file whose TwoPhotonSeries has empty data and ``external_file`` naming a raw
  int16 ``data.bin`` (suite2p's export) with ``dimension`` [height, width];
- ``TIFF stacks``: ``external_file`` naming 4 TIFF files taken back to back.

The table: the movie's size, the process's peak resident memory (``os.wait4``'s ru_maxrss: everything the
process held, torch included), wall time and frames per second.  Bounded means the peak does not grow with the
movie: compare the rows of the lengths.  The checkpoint is trained for a few steps only, and by default with a
network 4 times narrower than the package's (``--widths 16,32,64,128`` for that one), so that the run measures
reading and writing rather than the network; the network's own memory is one batch of tiles whatever the movie.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from uuid import uuid4

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from http_server import RangeServer

log = logging.getLogger("denoise_io")
BLOCK = 500  # frames written at once


def frame_blocks(frames: int, size: int, seed: int = 0):
    """The movie, block by block (the writer never holds it whole): Poisson counts on a static scene."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    scene = 50 + 400 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 3) ** 2) / (2 * (size / 8) ** 2))
    for first in range(0, frames, BLOCK):
        count = min(BLOCK, frames - first)
        yield rng.poisson(np.broadcast_to(scene, (count, size, size))).astype(np.int16)


def nwb_file(path: Path, frames: int, size: int, *, data=None, external: list[str] | None = None) -> Path:
    """An NWB file with one TwoPhotonSeries: ``data`` in the file, or ``external`` files beside it."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import OpticalChannel, TwoPhotonSeries

    nwbfile = NWBFile(session_description="denoise_io benchmark", identifier=str(uuid4()),
                      session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    device = nwbfile.create_device(name="Microscope")
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=[OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0)],
        description="plane", device=device, excitation_lambda=920.0, imaging_rate=30.0, indicator="GCaMP6s",
        location="V1")
    if external is not None:
        series = TwoPhotonSeries(name="TwoPhotonSeries", imaging_plane=plane, external_file=external,
                                 starting_frame=[0] * len(external), format="external", rate=30.0, num_samples=frames,
                                 dimension=[size, size], unit="n.a.")
    else:
        series = TwoPhotonSeries(name="TwoPhotonSeries", imaging_plane=plane, data=data, rate=30.0, unit="n.a.",
                                 dimension=[size, size])
    nwbfile.add_acquisition(series)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def write_sources(folder: Path, frames: int, size: int) -> dict[str, Path]:
    """The movie kept the four ways; returns kind -> NWB file."""
    import tifffile
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.data_utils import DataChunkIterator

    folder.mkdir(parents=True, exist_ok=True)
    iterator = DataChunkIterator(data=(frame for block in frame_blocks(frames, size) for frame in block),
                                 maxshape=(frames, size, size), dtype=np.dtype(np.int16), buffer_size=BLOCK)
    sources = {"hdf5 chunked": nwb_file(folder / "chunked.nwb", frames, size,
                                        data=H5DataIO(iterator, chunks=(32, size, size), compression="gzip"))}
    with open(folder / "data.bin", "wb") as binary:
        for block in frame_blocks(frames, size):
            binary.write(block.tobytes())
    sources["suite2p binary"] = nwb_file(folder / "binary.nwb", frames, size, external=["data.bin"])
    parts = np.array_split(np.arange(frames), 4)
    names = [f"movie_{index:05d}.tif" for index in range(4)]
    writers = [tifffile.TiffWriter(folder / name) for name in names]
    written = 0
    for block in frame_blocks(frames, size):
        for frame in block:
            part = next(index for index, rows in enumerate(parts) if rows[0] <= written <= rows[-1])
            writers[part].write(frame, contiguous=True)
            written += 1
    for writer in writers:
        writer.close()
    sources["TIFF stacks"] = nwb_file(folder / "tiffs.nwb", frames, size, external=names)
    return sources


def run_denoise(source: str, checkpoint: Path, output: Path) -> tuple[float, float]:
    """``nwb-cascade denoise`` in its own process: (peak RSS in MiB, wall seconds)."""
    began = time.perf_counter()
    with tempfile.TemporaryFile() as log_file:  # a file, not a pipe: a long run's log would fill a pipe and block
        process = subprocess.Popen([sys.executable, "-c", "from nwb_cascade.cli import run; run()", "denoise",
                                    source, "--denoiser", str(checkpoint), "-o", str(output), "--overwrite"],
                                   stdout=subprocess.DEVNULL, stderr=log_file)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        if os.waitstatus_to_exitcode(status) != 0:
            log_file.seek(0)
            raise RuntimeError(f"denoise {source} failed:\n{log_file.read().decode()[-4000:]}")
    return usage.ru_maxrss / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="1000,10000,50000", help="movie lengths, comma-separated")
    parser.add_argument("--size", type=int, default=64, help="frames of size × size pixels")
    parser.add_argument("--widths", default="4,8,16,32", help="channels of the network's levels")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from nwb_cascade.denoise import train

    rows = []
    with tempfile.TemporaryDirectory(prefix="denoise_io_") as tmp:
        folder = Path(tmp)
        checkpoint = folder / "tiny.pt"
        sample = next(frame_blocks(BLOCK, args.size))
        widths = tuple(int(v) for v in args.widths.split(","))
        train(sample, patch=(16, 32, 32), steps=5, widths=widths, checkpoint=checkpoint)
        for frames in (int(v) for v in args.frames.split(",")):
            sources = write_sources(folder / f"movie_{frames}", frames, args.size)
            megabytes = frames * args.size**2 * 2 / 2**20
            kinds = [(kind, str(path)) for kind, path in sources.items()]
            with RangeServer(sources["hdf5 chunked"].parent) as server:
                kinds.insert(1, ("hdf5 over HTTP", f"{server.url}/{sources['hdf5 chunked'].name}"))
                for kind, source in kinds:
                    rss, seconds = run_denoise(source, checkpoint, folder / "out.nwb")
                    log.info("%s, %d frames: %.0f MiB peak, %.1f s", kind, frames, rss, seconds)
                    rows.append((kind, frames, megabytes, rss, seconds))
    print(f"\nDenoising {args.size}×{args.size} int16 movies (nwb-cascade denoise, CPU, {os.cpu_count()} cores, "
          f"network widths {args.widths}):\n")
    print("| movie kept as | frames | movie MiB | peak RSS MiB | wall s | frames/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, frames, megabytes, rss, seconds in rows:
        print(f"| {kind} | {frames} | {megabytes:.0f} | {rss:.0f} | {seconds:.0f} | {frames / seconds:.0f} |")


if __name__ == "__main__":
    main()
