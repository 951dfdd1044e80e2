"""The published model zoo: names, download links, the per-user cache, and ``load_model``.

The list of published models ships with the package (``available_models.yaml``,
the published ``available_models_CascadeTorch.yaml``).  Each link serves a zip
of one model folder.  Downloaded models live in the user cache directory
(``platformdirs``), or in ``$NWB_CASCADE_CACHE`` when set (:mod:`nwb_cascade.common.cache`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import uuid4

import yaml

from ..common.cache import MODELS, cache_folder
from ..common.files import atomic_folder
from .download import fetch, sha256_of
from .errors import DownloadError, ModelError
from .model import CONFIG_FILE, CascadeModel, load_model_folder

log = logging.getLogger(__name__)

REGISTRY_FILE = "available_models.yaml"
BUNDLED_FOLDER = "models"
DOWNLOAD_RECORD = ".download.json"


@dataclass(frozen=True)
class ModelEntry:
    """One published model: its name, download link, and what is known of the zip."""

    name: str
    url: str
    info: str = ""
    sha256: str | None = None
    size: int | None = None


def cache_dir() -> Path:
    """Folder of downloaded models: ``models/`` in the package's cache folder
    (:func:`nwb_cascade.common.cache.cache_root`)."""
    return cache_folder(MODELS)


def registry(source: str | Path | dict[str, Any] | None = None) -> dict[str, ModelEntry]:
    """The model zoo as ``{name: ModelEntry}``.

    Parameters
    ----------
    source
        A registry YAML file or an already parsed mapping in the published
        layout (``NAME: {Link: URL, Info: TEXT}``, optionally ``sha256`` and
        ``size``); default: ``$NWB_CASCADE_REGISTRY`` when set (a mirror's
        list), else the list shipped with the package.
    """
    source = source if source is not None else os.environ.get("NWB_CASCADE_REGISTRY")
    if source is None:
        text = resources.files(__package__).joinpath(REGISTRY_FILE).read_text()
        raw = yaml.safe_load(text)
    elif isinstance(source, dict):
        raw = source
    else:
        raw = yaml.safe_load(Path(source).read_text())
    entries = {}
    for name, fields in (raw or {}).items():
        if not isinstance(fields, dict) or "Link" not in fields:
            continue
        size = fields.get("size")
        entries[str(name)] = ModelEntry(
            name=str(name),
            url=str(fields["Link"]),
            info=str(fields.get("Info") or ""),
            sha256=fields.get("sha256"),
            size=int(size) if size is not None else None,
        )
    return entries


def bundled_models() -> dict[str, Path]:
    """Models that ship inside the package (trained by this package; see examples/train_default_models.py)."""
    root = Path(str(resources.files(__package__).joinpath(BUNDLED_FOLDER)))
    if not root.is_dir():
        return {}
    return {path.name: path for path in sorted(root.iterdir()) if (path / CONFIG_FILE).is_file()}


def list_models(source: str | Path | dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Bundled models, then the published ones with whether each is in the local cache."""
    folder = cache_dir()
    rows = [{"name": name, "cached": True, "bundled": True, "info": "bundled with nwb-cascade", "url": str(path)}
            for name, path in bundled_models().items()]
    return rows + [
        {"name": entry.name, "cached": (folder / entry.name / CONFIG_FILE).is_file(), "bundled": False,
         "info": entry.info, "url": entry.url}
        for entry in registry(source).values()
    ]


def download_model(
    name: str,
    *,
    source: str | Path | dict[str, Any] | None = None,
    force: bool = False,
    progress: bool = True,
    retries: int = 4,
) -> Path:
    """Download a published model into the cache and return its folder.

    The zip is fetched resumably, checked against the registry's size and
    SHA-256 when it lists them and against its own CRCs, unpacked into a
    temporary folder and moved into place only when it holds a loadable
    model, so the cache never holds a half-written model.

    Raises
    ------
    ModelError
        The name is not in the registry, or the zip holds no valid model.
    DownloadError
        The download failed after its retries (offline, server errors).
    """
    entries = registry(source)
    if name not in entries:
        close = [known for known in entries if name.lower() in known.lower()][:8]
        raise ModelError(
            f"{name!r} is not a published model. "
            + (f"Did you mean one of: {', '.join(close)}? " if close else "")
            + "See nwb-cascade models list for all names, or pass the path of a model folder."
        )
    entry = entries[name]
    folder = cache_dir()
    target = folder / name
    if (target / CONFIG_FILE).is_file() and not force:
        return target
    zip_path = fetch(
        entry.url, folder / f"{name}.zip", sha256=entry.sha256, size=entry.size, retries=retries, progress=progress
    )
    try:
        _unpack(zip_path, target, entry)
    finally:
        zip_path.unlink(missing_ok=True)
    return target


def _unpack(zip_path: Path, target: Path, entry: ModelEntry) -> None:
    checksum = sha256_of(zip_path)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            broken = archive.testzip()
            if broken is not None:
                raise DownloadError(f"{entry.url}: {broken} in the zip fails its CRC check; download again")
            with atomic_folder(target) as staging:
                archive.extractall(staging)
                _keep_only(_model_root(staging, entry), staging)
                load_model_folder(staging)  # refuses a zip that holds no complete model
                (staging / DOWNLOAD_RECORD).write_text(
                    json.dumps({"url": entry.url, "sha256": checksum, "size": zip_path.stat().st_size, "time": time.time()})
                )
    except zipfile.BadZipFile as error:
        raise DownloadError(f"{entry.url}: the download is not a zip file ({error}); the link may be wrong") from error
    log.info("model %s saved in %s", entry.name, target)


def _keep_only(root: Path, staging: Path) -> None:
    """Make ``staging`` hold what its subfolder ``root`` holds, and nothing else (a zip of a folder, perhaps beside
    macOS's ``__MACOSX``)."""
    if root == staging:
        return
    aside = staging / f".model-{uuid4().hex[:8]}"
    os.replace(root, aside)
    for entry in staging.iterdir():
        if entry == aside:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for entry in aside.iterdir():
        os.replace(entry, staging / entry.name)
    aside.rmdir()


def _model_root(staging: Path, entry: ModelEntry) -> Path:
    """The folder inside an unpacked zip that holds config.yaml (the zip's root or one folder down)."""
    if (staging / CONFIG_FILE).is_file():
        return staging
    candidates = [path.parent for path in staging.glob(f"*/{CONFIG_FILE}")]
    if len(candidates) == 1:
        return candidates[0]
    raise ModelError(f"{entry.url}: the zip holds no model folder (no single {CONFIG_FILE})")


def default_model_name(frame_rate: float, source: str | Path | dict[str, Any] | None = None) -> str:
    """The general-purpose excitatory model for a frame rate: a bundled one, else a published one.

    Among the bundled models, then the published ``Global_EXC_{rate}Hz_smoothing{ms}ms``
    ones, whose rate is within 5% of ``frame_rate``: the one whose smoothing is closest
    to 1.5 frames (the paper's advice: 25-50 ms at 30 Hz, 200 ms at 7.5 Hz).

    Raises
    ------
    ModelError
        No published model is trained for that frame rate.
    """
    for names in (list(bundled_models()), list(registry(source))):
        choice = closest_model(names, "(?:Global|Default)_EXC", frame_rate, high_noise=False)
        if choice is not None:
            return choice
    raise ModelError(
        f"no bundled or published model is trained for {frame_rate:.3g} Hz; name a model (--model) or train one "
        "for this rate (nwb-cascade train --match)"
    )


def closest_model(names: list[str], prefix: str, frame_rate: float, *, high_noise: bool = True) -> str | None:
    """Among ``names`` of the form ``{prefix}_{rate}Hz_smoothing{ms}ms[_high_noise]`` (``prefix`` a regular
    expression) with a rate within 5% of ``frame_rate``: the one whose smoothing is closest to 1.5
    frames, a plain one before a ``_high_noise`` one (allowed only with ``high_noise``)."""
    pattern = re.compile(rf"^{prefix}_([0-9.]+)Hz_smoothing(\d+)ms(_high_noise)?$")
    candidates = []
    for name in names:
        match = pattern.match(name)
        if match and (high_noise or not match.group(3)) and \
                abs(float(match.group(1)) - frame_rate) <= 0.05 * frame_rate:
            candidates.append((bool(match.group(3)), abs(int(match.group(2)) / 1000 - 1.5 / frame_rate), name))
    return min(candidates)[2] if candidates else None


def load_model(name_or_path: str | os.PathLike[str] | CascadeModel, *, download: bool = True) -> CascadeModel:
    """Load a Cascade model from a folder, the cache, or the published zoo.

    Parameters
    ----------
    name_or_path
        A model folder (``config.yaml`` + ``.pth`` files), the name of a bundled
        model, or the name of a published model (downloaded into the cache on first use).
    download
        Download a published model that is not cached yet.

    Returns
    -------
    CascadeModel

    Raises
    ------
    ModelError
        Missing files, missing config keys, wrong weight shapes, unknown names.
    DownloadError
        A needed download failed.
    """
    if isinstance(name_or_path, CascadeModel):
        return name_or_path
    path = Path(name_or_path).expanduser()
    if path.exists():
        return load_model_folder(path)
    name = str(name_or_path)
    if os.sep in name or name.startswith("."):
        raise ModelError(f"{name}: no such model folder")
    bundled = bundled_models()
    if name in bundled:
        return load_model_folder(bundled[name])
    cached = cache_dir() / name
    if (cached / CONFIG_FILE).is_file():
        return load_model_folder(cached)
    if not download:
        raise ModelError(f"model {name!r} is not in the cache ({cache_dir()}); download it first")
    return load_model_folder(download_model(name))
