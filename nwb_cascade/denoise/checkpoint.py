"""A trained denoiser: the network and the settings it was trained with, saved as one file.

The file is a ``torch.save`` dictionary holding only tensors and plain values
(``torch.load(..., weights_only=True)`` reads it): a format tag, the settings
(patch size, channel widths, the movie's scale, training details)
and the network weights.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..common.errors import NWBCascadeError
from ..common.files import atomic_write
from .network import WIDTHS, UNet3D

log = logging.getLogger(__name__)

FORMAT = "nwb-cascade-denoise"
FORMAT_VERSION = 2  # 2: normalised by the mean image, not the mean


class CheckpointError(NWBCascadeError, ValueError):
    """A checkpoint that cannot be used as given, with what to do about it."""


@dataclass
class Settings:
    """What a denoiser was trained with, and what applying it needs.

    ``patch`` is (frames, height, width) of the network's input; a training
    sub-stack holds twice as many frames.  The network sees
    ``(movie - mean image) / scale``: the mean image is the movie's own (see
    :func:`.movie.mean_image`), ``scale`` the training frames' standard deviation about theirs.
    """

    patch: tuple[int, int, int]
    widths: tuple[int, ...] = WIDTHS
    scale: float = 1.0
    steps: int = 0
    batch_size: int = 1
    learning_rate: float = 1e-3
    train_frames: tuple[int, int] = (0, 0)
    movie_shape: tuple[int, ...] = ()
    movie_dtype: str = "float32"
    seed: int = 0
    final_loss: float = float("nan")
    seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Settings:
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        for name in ("patch", "widths", "train_frames", "movie_shape"):
            if name in known:
                known[name] = tuple(int(v) for v in known[name])
        return cls(**known)


@dataclass
class Denoiser:
    """A trained network and its settings."""

    network: UNet3D
    settings: Settings
    path: Path | None = None

    def checksum(self) -> str:
        """SHA-256 over the network weights (names and bytes, in order)."""
        digest = hashlib.sha256()
        for name, tensor in self.network.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint to ``path`` (via a temporary file, then renamed)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {key: value.detach().cpu() for key, value in self.network.state_dict().items()}
        with atomic_write(path) as partial:
            torch.save({"format": FORMAT, "version": FORMAT_VERSION, "settings": self.settings.to_dict(),
                        "state_dict": state}, partial)
        self.path = path
        log.info("saved denoiser checkpoint %s", path)
        return path


def load_denoiser(path: str | Path, patch: tuple[int, int, int] | None = None) -> Denoiser:
    """Read a checkpoint written by :meth:`Denoiser.save`.

    ``patch`` (frames, height, width), if given, is the tile size the caller means
    to apply it with; a checkpoint trained on another patch size is refused, since
    the network's scale and its temporal context were fitted to it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path} is not a denoiser checkpoint that torch can read ({error})") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an nwb-cascade denoiser checkpoint (no {FORMAT!r} format tag); "
            "train one with nwb_cascade.denoise.train or `nwb-cascade denoise`"
        )
    if content.get("version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer nwb-cascade (format {content['version']}); upgrade")
    if content.get("version", 0) < FORMAT_VERSION:
        raise CheckpointError(f"{path} was trained by an earlier nwb-cascade that normalised the movie differently "
                              f"(format {content.get('version')}); train a new one")
    settings = Settings.from_dict(content["settings"])
    if patch is not None and tuple(patch) != settings.patch:
        raise CheckpointError(
            f"{path} was trained on patches of {_shape(settings.patch)} (frames × height × width), not "
            f"{_shape(patch)}; apply it with its own patch size (leave patch unset) or train a new one "
            "for this patch size"
        )
    network = UNet3D(settings.widths)
    try:
        network.load_state_dict(content["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: the weights do not fit a U-Net of widths {settings.widths} ({error})") \
            from error
    network.eval()
    return Denoiser(network, settings, path)


def _shape(patch: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in patch)
