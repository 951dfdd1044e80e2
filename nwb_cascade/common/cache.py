"""The package's folders on disk, decided in one place: the cache (models, streamed blocks, LINDI references)
and the data folder (downloaded ground truth).

The cache lives in the user cache directory (``platformdirs``), or in ``$NWB_CASCADE_CACHE`` when set; each use
has its own subfolder (:data:`MODELS`, :data:`STREAMS`, :data:`LINDI`).  The data folder lives in the user data
directory, or in ``$NWB_CASCADE_DATA`` when set.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: The environment variable that moves the cache folder.
CACHE_VARIABLE = "NWB_CASCADE_CACHE"
#: The environment variable that moves the data folder.
DATA_VARIABLE = "NWB_CASCADE_DATA"
#: The subfolders of the cache: downloaded models, blocks of streamed files, LINDI's cache of remote chunks.
MODELS, STREAMS, LINDI = "models", "streams", "lindi"

_APP = "nwb-cascade"


def cache_root() -> Path:
    """The package's cache folder: ``$NWB_CASCADE_CACHE`` or the user cache directory."""
    root = os.environ.get(CACHE_VARIABLE)
    return Path(root) if root else Path(platformdirs.user_cache_dir(_APP))


def cache_folder(part: str) -> Path:
    """One part of the cache folder (:data:`MODELS`, :data:`STREAMS` or :data:`LINDI`): a subfolder of
    :func:`cache_root` (not created here)."""
    return cache_root() / part


def data_root() -> Path:
    """The package's data folder: ``$NWB_CASCADE_DATA`` or the user data directory."""
    root = os.environ.get(DATA_VARIABLE)
    return Path(root) if root else Path(platformdirs.user_data_dir(_APP))
