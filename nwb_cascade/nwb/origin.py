"""What a file written by nwb-cascade records of where its results came from, read back without pynwb.

Every results container (Cascade results, a denoised movie) carries the identifier of the NWB file
it was computed from (``source_identifier``), that file's path or URL (``source_url``) and, for DANDI
assets, the asset's id.  A file whose results were computed from *another* file (its own identifier
differs) is an output of nwb-cascade, never a session to run on; a file whose results were computed
from itself was annotated in place.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import h5py


@dataclass(frozen=True)
class Origin:
    """Where the results of a file came from; ``derived``: they came from another file (it is an output)."""

    identifier: str
    source_identifier: str
    source_url: str = ""
    asset_id: str = ""

    @property
    def derived(self) -> bool:
        return self.identifier != self.source_identifier


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def file_identifier(path: Path) -> str | None:
    """The NWB identifier of the local HDF5 file ``path``; None where it has none or cannot be read."""
    with contextlib.suppress(OSError, KeyError, ValueError, TypeError):
        with h5py.File(path, "r") as handle:
            return _text(handle["identifier"][()])
    return None


def results_origin(path: Path) -> Origin | None:
    """The origin of the first results container (a group under ``processing/`` with a ``source_identifier``)
    of the local HDF5 file ``path``; None for a file with none, or that is not a readable HDF5 file."""
    with contextlib.suppress(OSError, KeyError, ValueError, TypeError):
        if not h5py.is_hdf5(path):
            return None
        with h5py.File(path, "r") as handle:
            identifier = _text(handle["identifier"][()]) if "identifier" in handle else ""
            for module in handle.get("processing", {}).values():
                if not isinstance(module, h5py.Group):
                    continue
                for group in module.values():
                    attrs = group.attrs
                    if isinstance(group, h5py.Group) and "source_identifier" in attrs:
                        return Origin(identifier, _text(attrs["source_identifier"]), _text(attrs.get("source_url")),
                                      _text(attrs.get("asset_id")))
    return None
