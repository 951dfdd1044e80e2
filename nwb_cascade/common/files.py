"""Writing a file or folder whole or not at all: under a partial name beside it, renamed over it when complete.

One protocol for every output the package writes (results, manifests, tables, checkpoints, weights, cache
entries, downloaded models and ground truth): the block writes the partial file (or fills the partial folder)
that :func:`atomic_write` (:func:`atomic_folder`) gives it; when the block ends without an error it is moved
over the path with :func:`os.replace` (atomic on one file system: readers see the old file or the new one,
never half of one); otherwise it is removed and the path is as it was.  The partial name is decided in
:func:`nwb_cascade.common.names.partial_name`; a killed process leaves its partial file behind, which
:func:`partial_files` finds (those of processes that are gone, with ``stale_only``) for removal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .names import host, partial_name, partial_names


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, end: str | None = None) -> Iterator[Path]:
    """A partial file beside ``path`` for the block to write; moved over ``path`` when the block ends without an
    error, removed otherwise.

    Parameters
    ----------
    path
        The file to write (its folder must exist).
    end
        The ending the partial file keeps (default: :func:`nwb_cascade.common.names.ending` of the name).

    Yields
    ------
    Path
        The partial file (not created: the block writes it).
    """
    path = Path(path)
    partial = partial_name(path, end)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A new empty partial folder beside ``path`` for the block to fill; when the block ends without an error, a
    folder already at ``path`` is removed and the partial folder renamed to ``path``; it is removed otherwise.

    Yields
    ------
    Path
        The partial folder (created).
    """
    path = Path(path)
    partial = partial_name(path, "")
    partial.mkdir()
    try:
        yield partial
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(partial, path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def partial_files(path: str | os.PathLike[str], *, stale_only: bool = False, end: str | None = None) -> list[Path]:
    """The partial files of ``path`` that :func:`atomic_write` left: all, or only those whose process is gone (of
    this host; a name without host and process counts as gone); sorted."""
    found = partial_names(Path(path), end)
    if not stale_only:
        return [partial for partial, _, _ in found]
    return [partial for partial, owner, pid in found
            if owner is None or pid is None or owner != host() or not process_alive(pid)]


def process_alive(pid: int) -> bool:
    """Whether a process of this host runs under ``pid``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
