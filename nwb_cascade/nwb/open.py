"""Opening an NWB file, wherever it is: a local HDF5 file, a remote one (streamed), an NWB Zarr store.

:func:`open_nwb` is the one way the workflows open their sources; :func:`open_hdf5` opens a local
HDF5 file with the messages that say what to do when that fails (not HDF5, truncated, held open for
writing by another program, left marked as open for writing).  Importing this module registers the HDF5
compression filters of ``hdf5plugin`` (:mod:`nwb_cascade.nwb.filters`); a read that fails for want of a
filter is answered with one line naming the filter and the package that provides it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
from pynwb import NWBHDF5IO, NWBFile

from .filters import describe_missing, missing_filters_in
from .read import NWBInputError
from .sources import Source, open_remote, resolve
from .stream import Settings, SourceError, source_error_in


@contextlib.contextmanager
def open_nwb(source: str | Path | Source, mode: str = "r") -> Iterator[tuple[NWBHDF5IO, NWBFile]]:
    """Open an NWB file, local or remote, turning the ways this fails into messages that say what to do.

    ``source`` is a path, a URL, a DANDI asset (see :mod:`nwb_cascade.nwb.sources`) or a
    resolved :class:`~nwb_cascade.nwb.sources.Source`; ``mode`` is "r" or "a" (append, local
    files only).  Yields the IO object and the file's contents.  A remote read that fails
    after its retries raises :class:`~nwb_cascade.nwb.sources.SourceError`, also from inside
    the ``with`` block.
    """
    source = source if isinstance(source, Source) else resolve(source)
    if source.remote and mode != "r":
        raise SourceError(f"{source.text} is remote and read-only: write the results to a new local file instead")
    if source.zarr:
        with _open_zarr(source, mode) as opened:
            yield opened
        return
    with _open_h5(source, mode) as handle:
        try:
            if "nwb_version" not in handle.attrs:
                raise NWBInputError(f"{source.text} is an HDF5 file but not an NWB file (it has no nwb_version attribute)")
            io = NWBHDF5IO(mode=mode, file=handle, load_namespaces=True)
            try:
                nwbfile = io.read()
            except Exception as error:
                cause = source_error_in(error)
                if cause is not None:
                    raise cause from error
                found = broken_roi_tables(handle)
                if found:
                    raise NWBInputError(f"{source.text}: pynwb cannot read this NWB file: " + "; ".join(found)
                                        + ". A RoiResponseSeries needs its ROI table: repair the file (or have its "
                                        "writer write it again)") from error
                raise NWBInputError(
                    f"{source.text}: pynwb cannot read this NWB file ({type(error).__name__}: {str(error)[:300]})"
                ) from error
            yield io, nwbfile
        except OSError as error:
            cause = source_error_in(error)
            if cause is not None:
                raise cause from error
            missing = missing_filters_in(handle) if _filter_failure(error) else {}
            if missing:
                raise NWBInputError(f"{source.text}: {describe_missing(missing)}") from error
            raise


def _filter_failure(error: BaseException) -> bool:
    """Whether an HDF5 read failed for want of a filter (HDF5 says so by naming its plugin folder, or the filter)."""
    text = str(error).lower()
    return "plugin" in text or "filter" in text or "can't open directory" in text


@contextlib.contextmanager
def _open_zarr(source: Source, mode: str) -> Iterator[tuple[Any, NWBFile]]:
    """An NWB Zarr store (hdmf-zarr), local or remote, read like an HDF5 file."""
    from hdmf_zarr import NWBZarrIO

    if mode != "r":
        raise NWBInputError(f"{source.text} is an NWB Zarr store: write the results to a new file (--output) instead "
                            "of into the store")
    location = str(source.path) if source.path is not None else source.url
    options = None
    if source.remote:  # fsspec's HTTP client, with this package's timeouts (nwb/stream.py)
        import aiohttp

        settings = Settings.from_environment()
        options = {"client_kwargs": {"timeout": aiohttp.ClientTimeout(
            total=settings.deadline, connect=settings.connect_timeout, sock_read=settings.read_timeout)}}
    try:
        io = NWBZarrIO(location, mode="r", storage_options=options)
        nwbfile = io.read()
    except Exception as error:
        raise NWBInputError(f"{source.text}: hdmf-zarr cannot read this NWB Zarr store ({type(error).__name__}: "
                            f"{error})") from error
    try:
        yield io, nwbfile
    finally:
        with contextlib.suppress(Exception):
            io.close()


def broken_roi_tables(handle: h5py.File) -> list[str]:
    """What is wrong with the ROI tables of the file's RoiResponseSeries: a missing ``rois`` region, or one that
    points at no table (the table deleted or the reference damaged)."""
    problems: list[str] = []

    def visit(name: str, group: object) -> None:
        if not isinstance(group, h5py.Group) or group.attrs.get("neurodata_type") != "RoiResponseSeries":
            return
        rois = group.get("rois")
        if rois is None:
            problems.append(f"{name} has no rois region (no ROI table)")
            return
        reference = rois.attrs.get("table")
        try:
            target = handle[reference] if reference is not None else None
        except (ValueError, KeyError, TypeError):
            target = None
        if target is None or target.name is None:  # no object, or one no longer linked into the file
            problems.append(f"the rois region of {name} refers to a ROI table that is not in the file")

    handle.visititems(visit)
    return problems


@contextlib.contextmanager
def _open_h5(source: Source, mode: str) -> Iterator[h5py.File]:
    if source.remote:
        with open_remote(source) as handle:
            yield handle
        return
    with open_hdf5(source.path, source.text, mode) as handle:  # source.text: the name the user knows
        yield handle


@contextlib.contextmanager
def open_hdf5(path: Path, name: str | Path, mode: str = "r") -> Iterator[h5py.File]:
    """A local HDF5 file opened read-only (``"r"``; HDF5's shared lock refuses a file a writer holds) or for
    appending (``"a"``), with the messages that say what to do when that fails; ``name`` is what they call it."""
    if not h5py.is_hdf5(path):
        raise NWBInputError(f"{name} is not an HDF5 file, so not an NWB file (NWB files written by pynwb are HDF5)")
    try:
        handle = h5py.File(path, "r+" if mode == "a" else "r")
    except OSError as error:
        text = str(error).lower()
        if "already open for write" in text:
            raise NWBInputError(
                f"{name} is marked as open for writing by a program that never closed it (a version-3 superblock: "
                "SWMR writers and some converters make them). If no program has it open, clear the mark with "
                f"`h5clear -s {name}` (HDF5's tools) and run again"
            ) from error
        if "truncated" in text or "signature" in text or "bad object header" in text:
            raise NWBInputError(f"{name} is truncated or damaged ({error}); re-download or restore it") from error
        if "unable to lock file" in text or "file locking" in text:
            raise NWBInputError(
                f"{name} is open for writing by another process (HDF5 file lock); close it there and try again"
            ) from error
        raise
    try:
        yield handle
    finally:
        with contextlib.suppress(Exception):
            handle.close()
