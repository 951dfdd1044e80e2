"""Movies a TwoPhotonSeries keeps outside its NWB file (``external_file``), read frame block by frame block.

suite2p's NWB export, and other writers that do not copy a raw movie into the file, store an empty
``data`` and list the movie's files in ``external_file``, relative to the NWB file (NWB's rule; absolute
paths work too).  Two kinds are read:

- **TIFF stacks** (``.tif``, ``.tiff``; ``tifffile``): each page a frame, files one after the other;
- **raw binary** (``.bin``, ``.raw``, ``.dat``): frames × height × width int16, C order, as suite2p's
  ``BinaryFile`` writes ``data.bin``; the frame shape comes from the series' ``dimension`` (suite2p writes
  ``[Ly, Lx]``), the frame count from the file's size.

The files of a series follow each other in ``external_file``'s order; ``starting_frame`` says where each
begins (suite2p 1.1 writes zeros for every file: they are then taken back to back).  Nothing is held in
memory but the frames asked for: TIFF pages and binary frames are read as asked (binaries are not
memory-mapped: mapped pages stay resident).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..denoise.movie import MovieError

TIFF = (".tif", ".tiff")
BINARY = (".bin", ".raw", ".dat")


@dataclass
class _Part:
    path: Path
    first: int
    frames: int
    reader: _Tiff | _Binary


class ExternalMovie:
    """Frames × height × width, read from external files on demand: an array-like for the denoiser
    (``shape``, ``dtype``, slicing by frames)."""

    def __init__(self, paths: Sequence[Path], starting_frames: Sequence[int] | None = None,
                 frame_shape: Sequence[int] | None = None) -> None:
        self.parts: list[_Part] = []
        first = 0
        for index, path in enumerate(paths):
            reader, frames, shape, dtype = _open(path, frame_shape)
            start = int(starting_frames[index]) if starting_frames is not None and any(starting_frames) else first
            self.parts.append(_Part(path, start, frames, reader))
            first = start + frames
            if index == 0:
                self.frame_shape, self.dtype = tuple(shape), np.dtype(dtype)
            elif tuple(shape) != self.frame_shape or np.dtype(dtype) != self.dtype:
                raise MovieError(f"{path}: frames of {tuple(shape)} {dtype}, but {paths[0]} has {self.frame_shape} "
                                 f"{self.dtype}: the external files of one series must match")
        self.shape = (first, *self.frame_shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = key[0] if isinstance(key, tuple) else key
        rest = key[1:] if isinstance(key, tuple) else ()
        if isinstance(rows, int | np.integer):
            return self[int(rows):int(rows) + 1][(0, *rest)]
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise MovieError("external movies are read in contiguous ranges of frames")
        out = np.empty((max(0, stop - start), *self.frame_shape), dtype=self.dtype)
        for part in self.parts:
            lo, hi = max(start, part.first), min(stop, part.first + part.frames)
            if lo < hi:
                out[lo - start:hi - start] = part.reader.read(lo - part.first, hi - part.first)
        return out[(slice(None), *rest)] if rest else out

    def close(self) -> None:
        for part in self.parts:
            with contextlib.suppress(Exception):
                part.reader.close()


def _open(path: Path, frame_shape: Sequence[int] | None) -> tuple[_Tiff | _Binary, int, tuple[int, ...], np.dtype]:
    suffix = path.suffix.lower()
    if suffix in TIFF:
        reader = _Tiff(path)
        return reader, reader.frames, reader.frame_shape, reader.dtype
    if suffix in BINARY:
        if frame_shape is None or len(frame_shape) != 2:
            raise MovieError(f"{path} is a raw binary movie, but its series gives no frame shape (dimension "
                             "[height, width]); add it, or denoise the movie's TIFFs")
        frame_bytes = int(np.prod(frame_shape)) * 2
        size = path.stat().st_size
        if size % frame_bytes:
            raise MovieError(f"{path} holds {size} bytes, not a whole number of {tuple(frame_shape)} int16 frames: "
                             "its frame shape is not the series' dimension")
        return _Binary(path, tuple(int(v) for v in frame_shape)), size // frame_bytes, tuple(frame_shape), \
            np.dtype(np.int16)
    raise MovieError(f"{path}: external movies of this kind ({suffix or 'no extension'}) cannot be read; TIFF stacks "
                     f"({', '.join(TIFF)}) and raw int16 binaries ({', '.join(BINARY)}) can")


class _Binary:
    """A raw int16 movie file, read by explicit reads (not memory-mapped: the pages of a map stay resident and
    count against the process, so a long movie would grow its memory)."""

    def __init__(self, path: Path, frame_shape: tuple[int, ...]) -> None:
        self.handle = open(path, "rb")  # noqa: SIM115 - closed by ExternalMovie.close
        self.frame_shape = frame_shape

    def read(self, start: int, stop: int) -> np.ndarray:
        frame = int(np.prod(self.frame_shape))
        self.handle.seek(start * frame * 2)
        data = np.fromfile(self.handle, dtype=np.int16, count=(stop - start) * frame)
        return data.reshape(stop - start, *self.frame_shape)

    def close(self) -> None:
        self.handle.close()


class _Tiff:
    """A TIFF stack, one frame per page, pages read as asked (tifffile)."""

    def __init__(self, path: Path) -> None:
        import tifffile

        self.handle = tifffile.TiffFile(path)
        page = self.handle.pages[0]
        self.frames, self.frame_shape, self.dtype = len(self.handle.pages), tuple(page.shape), np.dtype(page.dtype)

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.handle.asarray(key=range(start, stop))).reshape(stop - start, *self.frame_shape)

    def close(self) -> None:
        self.handle.close()


def external_movie(series: Any, nwb_path: Path | None) -> ExternalMovie:
    """The external movie of a TwoPhotonSeries, its files found relative to the NWB file at ``nwb_path``.

    Raises
    ------
    MovieError
        A remote NWB file (its external files are not reachable), a file that is not there (naming
        where it was looked for), or a kind of file that cannot be read.
    """
    names = [str(name) for name in np.asarray(series.external_file[:]).ravel()]
    if nwb_path is None:
        raise MovieError(f"{series.name} keeps its movie outside the NWB file ({', '.join(names)}), and this NWB file "
                         "is remote: download the movie's files beside a local copy of the NWB file")
    if not any(names):
        raise MovieError(f"{series.name} holds no frames and its external_file names no file ({names!r}; suite2p 1.1's "
                         "export writes this when its input files were not recorded): there is no movie to denoise; "
                         "write the movie into a TwoPhotonSeries, or set external_file to the movie's files")
    paths = []
    for name in names:
        path = Path(name) if Path(name).is_absolute() else (Path(nwb_path).parent / name)
        if not name or not path.is_file():
            raise MovieError(
                f"{series.name} keeps its movie in the external file {name!r}, which is not there (looked for "
                f"{path}); put the movie's files where the NWB file says (external_file is relative to the NWB "
                "file), or denoise a series that holds its data"
            )
        paths.append(path)
    starting = np.asarray(series.starting_frame[:]).ravel().tolist() if series.starting_frame is not None else None
    dimension = np.asarray(series.dimension[:]).ravel().tolist() if series.dimension is not None else None
    return ExternalMovie(paths, starting, dimension)
