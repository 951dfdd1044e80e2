"""nwb-cascade: Cascade spike inference for NWB files.

The method lives in :mod:`nwb_cascade.cascade` (numpy and torch only).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nwb-cascade")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

from . import cascade

__all__ = ["__version__", "cascade"]
