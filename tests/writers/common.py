"""Shared pieces of the writer fixtures: masks of non-overlapping square ROIs, trace checks, a start time."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

SESSION_START_TIME = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
TRACE_KEYS = ("raw", "neuropil", "deconvolved", "denoised", "baseline", "dff")


def make_masks(n_rois: int, frame_shape: tuple[int, int] = (32, 32)) -> np.ndarray:
    """Return ``(n_rois, height, width)`` float32 masks: one small non-overlapping square per ROI.

    ROIs sit on a grid, so every ROI has its own pixels and masks never overlap.  Weights are 1.0 on
    the square, 0.0 elsewhere.
    """
    height, width = frame_shape
    columns = max(1, math.ceil(math.sqrt(n_rois)))
    rows = max(1, math.ceil(n_rois / columns))
    cell_h, cell_w = height // rows, width // columns
    side = min(cell_h, cell_w) - 1
    if side < 1:
        raise ValueError(f"{n_rois} ROIs do not fit as separate squares into a {frame_shape} frame")
    masks = np.zeros((n_rois, height, width), dtype="float32")
    for index in range(n_rois):
        row, column = divmod(index, columns)
        top, left = row * cell_h, column * cell_w
        masks[index, top : top + side, left : left + side] = 1.0
    return masks


def _check_traces(traces: dict, *, allowed=TRACE_KEYS) -> tuple[int, int]:
    unknown = set(traces) - set(allowed)
    if unknown:
        raise ValueError(f"unknown trace keys {sorted(unknown)}; allowed: {list(allowed)}")
    shapes = {key: np.shape(value) for key, value in traces.items() if value is not None}
    if not shapes:
        raise ValueError("no traces given")
    distinct = set(shapes.values())
    if len(distinct) != 1 or len(next(iter(distinct))) != 2:
        raise ValueError(f"all traces must be 2-D and share one (n_rois, n_frames) shape, got {shapes}")
    return next(iter(distinct))


def _select_dff(traces: dict, with_dff: bool | None) -> dict:
    """Apply the ``with_dff`` switch: None = write dff if given, False = drop it, True = require it."""
    traces = {key: value for key, value in traces.items() if value is not None}
    if with_dff is False:
        traces.pop("dff", None)
    elif with_dff is True and "dff" not in traces:
        raise ValueError("with_dff=True but traces has no 'dff' entry; pass the dF/F array you want written")
    return traces


