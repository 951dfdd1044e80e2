"""HDF5 compression filters: every filter the writers of this field may use is readable, and a missing one is named.

Importing this module imports ``hdf5plugin``, which registers with HDF5 the filters that NeuroConv's
backend configuration and hdmf's ``H5DataIO`` offer beyond HDF5's own gzip, shuffle and scale-offset
(and h5py's LZF): Blosc, Blosc2, Zstd, LZ4, Bitshuffle, BZip2, ZFP, SZ, SZ3, SPERR, FCIDECOMP and
HTJ2K.  Without it, HDF5 answers a read of such a dataset with a message about a plugin folder
("can't open directory (/usr/local/lib/plugin)") that names neither the filter nor the fix.

A filter that is still missing (``hdf5plugin`` not installed, or a filter it does not provide) is
named in one line, with the package that provides it: :func:`missing_filters` for one dataset,
:func:`missing_filters_in` for a whole file.
"""

from __future__ import annotations

import logging
from typing import Any

import h5py

log = logging.getLogger(__name__)

try:  # registers the filters with HDF5 (the import is all it takes)
    import hdf5plugin
except ImportError:  # pragma: no cover - a dependency; its absence is named when a filter is missing
    hdf5plugin = None
    log.debug("hdf5plugin is not installed: Blosc, Zstd, LZ4... compressed datasets cannot be read")

#: The filters hdf5plugin registers (``hdf5plugin.FILTERS`` of hdf5plugin 7.1.0): id -> name.
HDF5PLUGIN_FILTERS = {
    32001: "blosc", 32026: "blosc2", 32015: "zstd", 32004: "lz4", 32008: "bitshuffle", 307: "bzip2",
    32013: "zfp", 32017: "sz", 32024: "sz3", 32028: "sperr", 32018: "fcidecomp", 32033: "htj2k",
}
#: Other registered filters (The HDF Group's list of registered filter plugins): id -> (name, what provides it).
OTHER_FILTERS = {
    4: ("szip", "an HDF5 library built with szip (libaec), such as conda-forge's h5py"),
    305: ("lzo", "The HDF Group's hdf5_plugins collection (H5Z-LZO)"),
    32000: ("lzf", "h5py (built in)"),
    32020: ("vbz", "Oxford Nanopore's vbz_compression plugin"),
}
REGISTRY = "https://github.com/HDFGroup/hdf5_plugins/blob/master/docs/RegisteredFilterPlugins.md"


def filter_phrase(code: int, name: str = "") -> str:
    """``filter 'blosc' (id 32001), provided by hdf5plugin (pip install hdf5plugin)``: a filter and its provider."""
    if code in HDF5PLUGIN_FILTERS:
        provider = ("hdf5plugin (pip install hdf5plugin)" if hdf5plugin is None
                    else f"hdf5plugin, whose {hdf5plugin.version} does not register it here (reinstall hdf5plugin)")
        return f"filter '{HDF5PLUGIN_FILTERS[code]}' (id {code}), provided by {provider}"
    if code in OTHER_FILTERS:
        known, provider = OTHER_FILTERS[code]
        return f"filter '{known}' (id {code}), provided by {provider}"
    label = f"'{name}' " if name else ""
    return f"filter {label}(id {code}), which no package of this installation provides (see {REGISTRY})"


def missing_filters(data: Any) -> list[str]:
    """The filters of an h5py dataset's pipeline that HDF5 cannot apply here, one phrase each (see
    :func:`filter_phrase`); empty for datasets of other stores (Zarr, LINDI, arrays) and readable ones."""
    if not isinstance(data, h5py.Dataset):
        return []
    try:
        plist = data.id.get_create_plist()
        pipeline = [plist.get_filter(index) for index in range(plist.get_nfilters())]
    except Exception:  # pragma: no cover - a dataset whose creation properties cannot be read: HDF5 says why on read
        return []
    return [filter_phrase(int(code), name.decode(errors="replace") if isinstance(name, bytes) else str(name))
            for code, _flags, _values, name in pipeline if not h5py.h5z.filter_avail(int(code))]


def missing_filters_in(handle: h5py.File) -> dict[str, list[str]]:
    """Every dataset of an open HDF5 file that cannot be read here for want of a filter: path -> phrases."""
    found: dict[str, list[str]] = {}

    def visit(name: str, item: Any) -> None:
        missing = missing_filters(item)
        if missing:
            found[name] = missing

    handle.visititems(visit)
    return found


def describe_missing(found: dict[str, list[str]]) -> str:
    """One line: the missing filters and the datasets they compress (first three named)."""
    phrases = sorted({phrase for missing in found.values() for phrase in missing})
    paths = sorted(found)
    where = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return f"{'; '.join(phrases)}: compresses {where}, which HDF5 cannot read without it"
