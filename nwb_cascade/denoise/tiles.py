"""Overlapping 3D tiles and their seamless stitching.

A movie axis of length ``n`` is covered by tiles of ``size`` samples that overlap
by about ``overlap`` of their size.  Each sample of the output is taken from
exactly one tile, the one in whose centre part it lies: neighbouring tiles
meet half way through their overlap, so no output sample comes from a tile's
border, where the network sees zero padding.  Axes shorter than one tile are
padded by reflection (see :func:`padded`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """One tile along one axis: it reads ``[start, start + size)`` and keeps ``[keep_start, keep_stop)``."""

    start: int
    size: int
    keep_start: int
    keep_stop: int

    @property
    def read(self) -> slice:
        return slice(self.start, self.start + self.size)

    @property
    def keep(self) -> slice:
        """The kept part, in the tile's own coordinates."""
        return slice(self.keep_start - self.start, self.keep_stop - self.start)

    @property
    def target(self) -> slice:
        """The kept part, in the movie's coordinates."""
        return slice(self.keep_start, self.keep_stop)


def spans(n: int, size: int, overlap: float = 0.25) -> list[Span]:
    """Tiles of ``size`` covering ``[0, n)`` (``n >= size``) that overlap by about ``overlap · size``.

    The kept parts partition ``[0, n)``; the first tile starts at 0 and the last ends at ``n``.
    """
    if n < size:
        raise ValueError(f"an axis of {n} samples is shorter than one tile of {size}; pad it first")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), not {overlap}")
    step = max(1, round(size * (1 - overlap)))
    starts = list(range(0, n - size, step)) + [n - size]
    bounds = [0] + [(a + size + b) // 2 for a, b in itertools.pairwise(starts)] + [n]
    return [Span(start, size, lo, hi) for start, lo, hi in zip(starts, bounds[:-1], bounds[1:]) if hi > lo]


def tile_size(n: int, size: int, multiple: int) -> int:
    """The tile size along an axis of ``n`` samples: ``size``, or ``n`` rounded up to ``multiple`` if smaller."""
    return min(size, -(-n // multiple) * multiple)


def padded(block: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``block`` padded by reflection at the end of each axis to at least ``shape``."""
    widths = [(0, max(0, target - have)) for have, target in zip(block.shape, shape)]
    if not any(after for _, after in widths):
        return block
    # "symmetric" repeats the edge sample, so it also works for axes of length 1
    return np.pad(block, widths, mode="symmetric")


def plane_tiles(height: int, width: int, size: tuple[int, int], overlap: float) -> Iterator[tuple[Span, Span]]:
    """Every (row span, column span) pair covering a ``height × width`` frame."""
    yield from itertools.product(spans(height, size[0], overlap), spans(width, size[1], overlap))
