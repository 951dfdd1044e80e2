"""Cascade model folders in the published PyTorch format.

A model folder holds ``config.yaml`` and one state dict per noise level and
ensemble member, ``Model_NoiseLevel_{n}_Ensemble_{k}.pth``.  Folders written
here load in the published implementation and the other way round.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from .errors import ModelError
from .network import STATE_KEYS, CascadeNet, TraceEnsemble

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
ACCURACY_FILE = "expected_accuracy.csv"
ACCURACY_MEASURES = ("correlation", "error", "bias")
WEIGHT_PATTERN = re.compile(r"^Model_NoiseLevel_(\d+)_Ensemble_(\d+)\.pth$")

#: Keys every model config must have (the published template's keys that inference or
#: training read).  Other published keys (``placeholder_*``, ``verbose``...) are kept as they are.
REQUIRED_KEYS = (
    "model_name",
    "sampling_rate",
    "training_datasets",
    "noise_levels",
    "smoothing",
    "causal_kernel",
    "windowsize",
    "before_frac",
    "filter_sizes",
    "filter_numbers",
    "dense_expansion",
    "loss_function",
    "optimizer",
    "nr_of_epochs",
    "ensemble_size",
    "batch_size",
)


def weight_file_name(noise_level: int, member: int) -> str:
    """File name of one ensemble member's weights."""
    return f"Model_NoiseLevel_{int(noise_level)}_Ensemble_{int(member)}.pth"


@dataclass(frozen=True)
class ExpectedAccuracy:
    """What a model reaches on ground truth it was not trained on, by noise level (``expected_accuracy.csv``
    in its folder): the median over held-out datasets of each dataset's median over neurons."""

    noise_levels: np.ndarray
    correlation: np.ndarray
    error: np.ndarray
    bias: np.ndarray
    note: str = ""

    def at(self, roi_noise: np.ndarray) -> dict[str, np.ndarray]:
        """Each measure at each ROI's noise level: linear between measured levels, held at the ends; NaN for NaN."""
        noise = np.asarray(roi_noise, dtype=float)
        values = {}
        for measure in ACCURACY_MEASURES:
            known = np.asarray(getattr(self, measure), dtype=float)
            interpolated = np.interp(noise, self.noise_levels, known)
            values[measure] = np.where(np.isfinite(noise), interpolated, np.nan)
        return values

    def write(self, path: Path) -> Path:
        """Write the table as CSV (``noise_level, correlation, error, bias, note``)."""
        import csv

        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["noise_level", *ACCURACY_MEASURES, "note"])
            for index, level in enumerate(self.noise_levels):
                writer.writerow([f"{level:g}", *(f"{getattr(self, name)[index]:.4f}" for name in ACCURACY_MEASURES),
                                 self.note if index == 0 else ""])
        return Path(path)

    @classmethod
    def read(cls, path: Path) -> ExpectedAccuracy:
        import csv

        with open(path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if not row["noise_level"].startswith("#")]
        rows.sort(key=lambda row: float(row["noise_level"]))
        try:
            columns = {name: np.array([float(row[name]) for row in rows]) for name in ("noise_level",
                                                                                      *ACCURACY_MEASURES)}
        except (KeyError, ValueError) as error:
            raise ModelError(f"{path}: not a table of noise_level, correlation, error, bias ({error})") from error
        return cls(columns["noise_level"], columns["correlation"], columns["error"], columns["bias"],
                   rows[0].get("note", "") if rows else "")


@dataclass
class CascadeModel:
    """A Cascade model: its config and the weights of every noise level's ensemble.

    Attributes
    ----------
    config
        The model's ``config.yaml`` as a dict (all keys kept).
    weights
        Noise level -> list of state dicts, one per ensemble member.
    path
        The folder the model was loaded from, if any.
    """

    config: dict[str, Any]
    weights: dict[int, list[dict[str, torch.Tensor]]]
    path: Path | None = None
    accuracy: ExpectedAccuracy | None = None  # from the folder's expected_accuracy.csv, where it has one
    _ensembles: dict[tuple[int, str], TraceEnsemble] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_config(self.config, where=str(self.path or self.config.get("model_name", "config")))
        for level, members in self.weights.items():
            for k, state in enumerate(members):
                validate_state_dict(state, self.config, str(Path(self.path or ".") / weight_file_name(level, k)))

    def __repr__(self) -> str:
        members = sorted({len(states) for states in self.weights.values()})
        count = str(members[0]) if len(members) == 1 else f"{members[0]}-{members[-1]}"
        return (f"CascadeModel({self.name!r}, {self.frame_rate:g} Hz, smoothing {self.smoothing * 1000:g} ms, "
                f"noise levels {', '.join(f'{v:g}' for v in self.noise_levels)}, {count} member(s) per level"
                + (f", from {self.path}" if self.path is not None else "") + ")")

    def describe(self) -> str:
        """One line: where the model is and what it is."""
        return f"{self.path or self.name}: {repr(self)}"

    @property
    def name(self) -> str:
        """The model's name (``model_name`` in its config)."""
        return str(self.config["model_name"])

    @property
    def frame_rate(self) -> float:
        """The frame rate (Hz) the model was trained for."""
        return float(self.config["sampling_rate"])

    @property
    def smoothing(self) -> float:
        """σ (s) of the Gaussian that smoothed the training target."""
        return float(self.config["smoothing"])

    @property
    def causal(self) -> bool:
        """Whether the training target was smoothed with a causal kernel."""
        return bool(int(self.config.get("causal_kernel", 0)))

    @property
    def windowsize(self) -> int:
        """Frames the network sees for one output."""
        return int(self.config["windowsize"])

    @property
    def before(self) -> int:
        """Frames of the window before the frame an output belongs to."""
        return int(float(self.config["before_frac"]) * self.windowsize)

    @property
    def noise_levels(self) -> np.ndarray:
        """Noise levels that have trained weights, ascending."""
        return np.array(sorted(self.weights), dtype=float)

    def select_levels(self, roi_noise: np.ndarray) -> np.ndarray:
        """The model noise level for each ROI: the closest one (the lower on a tie).

        ROIs whose noise level is NaN (no finite frames) get NaN.
        """
        levels = self.noise_levels
        roi_noise = np.asarray(roi_noise, dtype=float)
        chosen = np.full(roi_noise.shape, np.nan)
        finite = np.isfinite(roi_noise)
        index = np.argmin(np.abs(roi_noise[finite, None] - levels[None, :]), axis=1)
        chosen[finite] = levels[index]
        return chosen

    def ensemble(self, noise_level: int, device: torch.device | str = "cpu") -> TraceEnsemble:
        """The whole-trace evaluator of one noise level's ensemble on ``device`` (cached)."""
        key = (int(noise_level), str(device))
        if key not in self._ensembles:
            members = self.weights[int(noise_level)]
            self._ensembles[key] = TraceEnsemble(members, self.windowsize).to(device).eval()
        return self._ensembles[key]

    def first_members(self, count: int) -> CascadeModel:
        """The same model with only the first ``count`` members of each ensemble (to measure what members add)."""
        return CascadeModel(dict(self.config), {level: members[:count] for level, members in self.weights.items()},
                            self.path, self.accuracy if count >= self.members else None)

    @property
    def members(self) -> int:
        """Ensemble members per noise level (the fewest, if they differ: a model whose training goes on)."""
        return min(len(members) for members in self.weights.values())

    def network(self, noise_level: int, member: int) -> CascadeNet:
        """One member as the published per-window network (for training or reference)."""
        net = _new_network(self.config)
        net.load_state_dict(self.weights[int(noise_level)][member])
        return net

    def checksum(self) -> str:
        """SHA-256 over all weights, in noise-level and member order (stable across folders)."""
        digest = hashlib.sha256()
        for level in sorted(self.weights):
            for state in self.weights[level]:
                for key in sorted(state):
                    digest.update(key.encode())
                    digest.update(state[key].detach().cpu().contiguous().float().numpy().tobytes())
        return digest.hexdigest()

    def save(self, folder: str | Path) -> Path:
        """Write the model as a published-format folder; returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_config(self.config, folder / CONFIG_FILE)
        for level, members in self.weights.items():
            for k, state in enumerate(members):
                torch.save({key: value.detach().cpu() for key, value in state.items()}, folder / weight_file_name(level, k))
        if self.accuracy is not None:
            self.accuracy.write(folder / ACCURACY_FILE)
        return folder


def _new_network(config: Mapping[str, Any]) -> CascadeNet:
    return CascadeNet(
        windowsize=int(config["windowsize"]),
        filter_sizes=tuple(int(v) for v in config["filter_sizes"]),
        filter_numbers=tuple(int(v) for v in config["filter_numbers"]),
        dense_expansion=int(config["dense_expansion"]),
    )


def validate_config(config: Mapping[str, Any], where: str = "config") -> None:
    """Raise :class:`ModelError` if a required key is missing or a value is unusable."""
    missing = [key for key in REQUIRED_KEYS if key not in config]
    if missing:
        raise ModelError(
            f"{where}: config is missing {', '.join(missing)}. A Cascade config.yaml needs "
            f"all of: {', '.join(REQUIRED_KEYS)}; copy them from a published model's config."
        )
    if float(config["sampling_rate"]) <= 0:
        raise ModelError(f"{where}: sampling_rate must be positive (Hz), got {config['sampling_rate']!r}")
    if not 0 < float(config["before_frac"]) < 1:
        raise ModelError(f"{where}: before_frac must lie between 0 and 1, got {config['before_frac']!r}")
    if len(config["filter_sizes"]) != 3 or len(config["filter_numbers"]) != 3:
        raise ModelError(f"{where}: filter_sizes and filter_numbers must list three values each")


def validate_state_dict(state: Mapping[str, torch.Tensor], config: Mapping[str, Any], where: str) -> None:
    """Raise :class:`ModelError` if a state dict does not fit the network the config describes."""
    expected = _new_network(config).state_dict()
    missing = [key for key in expected if key not in state]
    extra = [key for key in state if key not in expected]
    if missing or extra:
        raise ModelError(
            f"{where}: not a Cascade state dict (missing {missing or 'nothing'}, unexpected {extra or 'nothing'}); "
            f"expected the keys {', '.join(STATE_KEYS)} with .weight and .bias"
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ModelError(
                f"{where}: {key} has shape {tuple(state[key].shape)} but the config "
                f"(filter_sizes {list(config['filter_sizes'])}, filter_numbers {list(config['filter_numbers'])}, "
                f"windowsize {config['windowsize']}) needs {tuple(tensor.shape)}; the weights and "
                f"config.yaml do not belong together"
            )


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a ``config.yaml`` (published layout) into a dict."""
    path = Path(path)
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ModelError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(config, dict):
        raise ModelError(f"{path}: expected a mapping of config keys, got {type(config).__name__}")
    return config


def write_config(config: Mapping[str, Any], path: str | Path) -> None:
    """Write a config dict as YAML, keys in their given order."""
    with open(path, "w") as handle:
        yaml.safe_dump(dict(config), handle, sort_keys=False, default_flow_style=False)


def _leading_members(members: Mapping[int, Path]) -> int:
    """How many members 0, 1, 2... are present without a gap."""
    count = 0
    while count in members:
        count += 1
    return count


def load_model_folder(folder: str | Path) -> CascadeModel:
    """Load and validate a published-format model folder.

    Raises
    ------
    ModelError
        If ``config.yaml`` or a weight file is missing, a config key is missing,
        or a weight tensor has the wrong shape.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise ModelError(f"{folder}: no {CONFIG_FILE}; a Cascade model folder holds config.yaml and .pth files")
    config = read_config(config_path)
    validate_config(config, where=str(config_path))

    found: dict[int, dict[int, Path]] = {}
    for path in folder.iterdir():
        match = WEIGHT_PATTERN.match(path.name)
        if match:
            found.setdefault(int(match.group(1)), {})[int(match.group(2))] = path
    if not found:
        raise ModelError(f"{folder}: no Model_NoiseLevel_*_Ensemble_*.pth files; the model is not trained yet")
    levels = [int(level) for level in config["noise_levels"]]
    size = int(config["ensemble_size"])
    # A level needs member 0 and no gap; fewer members than ensemble_size is a model whose training
    # goes on (or stopped early): it loads, each level with the members it has.
    counts = {level: _leading_members(found.get(level, {})) for level in levels}
    missing = [weight_file_name(level, 0) for level in levels if counts[level] == 0]
    gaps = [weight_file_name(level, counts[level]) for level in levels
            if found.get(level) and len(found[level]) > counts[level] and counts[level] < size]
    if missing or gaps:
        absent = missing + gaps
        raise ModelError(
            f"{folder}: {len(absent)} weight file(s) missing for the noise levels in config.yaml: "
            f"{', '.join(absent[:6])}{' ...' if len(absent) > 6 else ''}. "
            "Download the model again (nwb-cascade models download NAME) or finish its training."
        )
    short = {level: count for level, count in counts.items() if count < size}
    if short:
        log.info("%s: fewer ensemble members than ensemble_size %d at noise level(s) %s", config["model_name"], size,
                 ", ".join(f"{level} ({count})" for level, count in short.items()))
    weights: dict[int, list[dict[str, torch.Tensor]]] = {}
    for level in levels:
        weights[level] = []
        for k in range(min(size, counts[level])):
            path = found[level][k]
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as error:  # torch raises several types for a damaged file
                raise ModelError(f"{path}: cannot be read as a PyTorch state dict ({error}); download it again") from error
            weights[level].append(state)
    log.debug("loaded model %s from %s: levels %s, members %s", config["model_name"], folder, levels,
              [len(weights[level]) for level in levels])
    accuracy = ExpectedAccuracy.read(folder / ACCURACY_FILE) if (folder / ACCURACY_FILE).is_file() else None
    return CascadeModel(config=config, weights=weights, path=folder, accuracy=accuracy)
