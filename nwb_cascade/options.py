"""The options of the package's verbs, each declared once: its default, its check and its help text.

:class:`RunOptions` (spike inference: ``infer``, ``allen``, ``batch``) and :class:`DenoiseOptions`
(``denoise``) are frozen, keyword-only dataclasses.  The Python API takes them as ``options=`` or as
keywords (``infer(path, model="...")``, see :func:`with_overrides`); the command line makes one option
per field from the same declaration (:mod:`nwb_cascade.cli.options`), with the same default and help.
This module imports nothing heavy, so that the command line starts fast.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .common.errors import NWBCascadeError

if TYPE_CHECKING:
    from .cascade import CascadeModel, DffRecipe

DEVICE_HELP = "cpu, cuda, cuda:1 (a GPU by its index) or mps; default: CUDA when present, else the CPU."


class OptionError(NWBCascadeError, ValueError):
    """An option with a value it cannot take, or an option that does not exist."""


def option(default: Any, help: str, *, off: str | None = None, choices: Sequence[str] | None = None,
           kind: type | None = None, metavar: str | None = None) -> Any:
    """A dataclass field declared with what the command line needs to offer it.

    The command-line flag is ``--field-name``; a boolean that defaults to True is offered as
    ``--no-field-name``, with ``off`` as its help.  ``choices``: the values it takes (as text); ``kind``:
    the type a command-line value is converted to (default: the default's type, else text).
    """
    return field(default=default, metadata={"help": help, "off": off, "choices": choices, "kind": kind,
                                            "metavar": metavar})


def _threshold(value: Any) -> int | bool:
    """The threshold mode: 0, 1, or off (False); "0", "1", "off" from the command line."""
    if value in ("off", "False", "false") or value is False:
        return False
    if isinstance(value, str) and value in ("0", "1"):
        return int(value)
    if value is True or not isinstance(value, int) or value not in (0, 1):
        raise OptionError(f"threshold must be 0, 1 or off, got {value!r}")
    return int(value)


def _positive(name: str, value: float | None, *, whole: bool = False, zero: bool = False) -> None:
    if value is None:
        return
    wrong = isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    wrong = wrong or (value < 0 if zero else value <= 0) or (whole and int(value) != value)
    if wrong:
        what = "a whole number" if whole else "a number"
        raise OptionError(f"{name} must be {what} {'of at least 0' if zero else 'above 0'}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How spike inference runs, the same for :func:`nwb_cascade.infer`, :func:`nwb_cascade.allen.process_session`
    and :func:`nwb_cascade.batch`."""

    series: str | None = option(
        None, "Which RoiResponseSeries: a path, its end, a glob, or 'all' (default: every plane's ΔF/F, or ΔF/F "
              "computed from its fluorescence).", metavar="PATH")
    model: str | Path | CascadeModel | None = option(
        None, "Model name or folder (default: the one the indicator and frame rate call for).", metavar="NAME")
    indicator: str | None = option(
        None, "The indicator of the chosen series, over what the file says (it picks the model); a sensor of "
              "something other than calcium runs only with --model too.", metavar="NAME")
    spiking_cells: bool = option(
        False, "The chosen series are spiking neurons, whatever the subject's species or the ROIs' names say.")
    discrete_spikes: bool = option(True, "Also fit discrete spikes.", off="Only spike rates, no discrete spikes.")
    threshold: int | bool = option(
        0, "0: negative rates to 0; 1: also rates below 1/e of one spike's height; off: the raw network output "
        "(discrete spikes explain what is above 0).",
        choices=("0", "1", "off"))
    device: str | None = option(None, DEVICE_HELP)
    compute_dff: bool = option(
        True, "Compute ΔF/F from fluorescence where a plane has no ΔF/F.",
        off="Never compute ΔF/F from fluorescence: planes without ΔF/F are refused.")
    neuropil_coefficient: float = option(0.7, "c in F - c * Fneu, when ΔF/F is computed.")
    baseline_window: float = option(60.0, "Seconds of the running min/max (maximin) baseline F0, when ΔF/F is "
                                          "computed.")
    progress: bool = field(default=False, metadata={"cli": False})

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _threshold(self.threshold))
        _positive("baseline_window", self.baseline_window)
        _positive("neuropil_coefficient", self.neuropil_coefficient, zero=True)
        if self.neuropil_coefficient > 2:
            raise OptionError(f"neuropil_coefficient must lie between 0 and 2 (suite2p's default is 0.7), got "
                              f"{self.neuropil_coefficient!r}")

    @property
    def dff_recipe(self) -> DffRecipe:
        """How ΔF/F is computed from fluorescence."""
        from .cascade import DffRecipe

        return DffRecipe(neuropil_coefficient=self.neuropil_coefficient, window=self.baseline_window)


@dataclass(frozen=True, kw_only=True)
class DenoiseOptions:
    """How a movie is denoised (:func:`nwb_cascade.denoise`)."""

    series: str | None = option(None, "Path of the TwoPhotonSeries (default: the only one).", metavar="PATH")
    frames: str | None = option(None, "Frames to denoise, START:STOP (default: all).", metavar="START:STOP")
    train_frames: int | None = option(None, "Train on at most N frames from the start of --frames (default 2000).",
                                      kind=int, metavar="N")
    steps: int | None = option(None, "Training steps (default 400 on a GPU, 600 on a CPU).", kind=int, metavar="N")
    patch: str | None = option(None, "Network input frames,height,width, multiples of 8 (default 32,64,64 on a GPU, "
                                     "16,32,32 on a CPU).", metavar="F,H,W")
    denoiser: str | Path | None = option(None, "A trained denoiser (checkpoint file): no training.", metavar="FILE")
    checkpoint: str | Path | None = option(None, "Where to save the trained denoiser (default: the output with "
                                                 ".denoiser.pt).", metavar="FILE")
    device: str | None = option(None, DEVICE_HELP)
    batch_size: int = field(default=4, metadata={"cli": False})  # tiles per forward pass
    progress: bool = field(default=False, metadata={"cli": False})

    def __post_init__(self) -> None:
        _positive("batch_size", self.batch_size, whole=True)
        _positive("train_frames", self.train_frames, whole=True)
        _positive("steps", self.steps, whole=True)
        self.frame_range  # noqa: B018 - checks the text
        self.patch_shape  # noqa: B018

    @property
    def frame_range(self) -> slice | None:
        """``frames`` as a slice (either side may be empty)."""
        if self.frames is None:
            return None
        try:
            first, last = str(self.frames).split(":")
            return slice(int(first) if first else None, int(last) if last else None)
        except ValueError:
            raise OptionError(f"frames {self.frames!r} is not a range START:STOP (e.g. 0:1000, 500:, :2000)") from None

    @property
    def patch_shape(self) -> tuple[int, int, int] | None:
        """``patch`` as (frames, height, width)."""
        if self.patch is None:
            return None
        try:
            shape = tuple(int(value) for value in str(self.patch).split(","))
        except ValueError:
            shape = ()
        if len(shape) != 3 or any(value <= 0 or value % 8 for value in shape):
            raise OptionError(f"patch {self.patch!r} is not frames,height,width in multiples of 8 (e.g. 16,32,32)")
        return shape  # type: ignore[return-value]


def settings_of(options: RunOptions) -> str:
    """The options that shape a run's results, other than their defaults, as compact JSON (``{}``: the defaults).
    Where it runs (``device``) and how it reports (``progress``) are left out; a model is named by its name or
    folder."""
    import json

    defaults = RunOptions()
    chosen = {}
    for item in dataclasses.fields(RunOptions):
        value = getattr(options, item.name)
        if item.name in ("device", "progress") or value == getattr(defaults, item.name):
            continue
        chosen[item.name] = getattr(value, "name", None) if hasattr(value, "weights") else (
            str(value) if isinstance(value, Path) else value)
    return json.dumps(chosen, sort_keys=True, separators=(",", ":")) if chosen else ""


Options = TypeVar("Options", RunOptions, DenoiseOptions)


def with_overrides(options: Options | None, kind: type[Options], overrides: dict[str, Any]) -> Options:
    """``options`` (default: ``kind()``) with the keywords given beside them; an unknown keyword is refused,
    with the known ones."""
    known = {item.name for item in dataclasses.fields(kind)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise OptionError(f"unknown option(s) {', '.join(unknown)}; {kind.__name__} has {', '.join(sorted(known))}")
    base = options if options is not None else kind()
    if not isinstance(base, kind):
        raise OptionError(f"options must be a {kind.__name__}, got {type(base).__name__}")
    return dataclasses.replace(base, **overrides) if overrides else base
