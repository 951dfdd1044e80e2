"""Changing a local NWB file in place so that no fault can damage it or leave it half-changed.

The file is never written to.  :func:`amended` makes a private copy beside it, the caller adds to
the copy, and the copy replaces the file in one atomic rename:

1. **Lock**: a lock file ``.<name>.nwb-cascade.lock`` beside the file, created exclusively
   (``O_CREAT | O_EXCL``: atomic also on NFS and Lustre, where HDF5's own locking is usually off),
   holding the host, process and start time.  A second writer is refused with who holds it; a lock
   whose process is gone (same host) is stale and taken over.
2. **Leftovers** of interrupted runs (copies ``.<name>.nwb-cascade-*.tmp`` that no live run owns)
   are removed.
3. **Free space**: the copy and what the caller will add must fit (checked before the copy and again,
   by the caller, before writing results): HDF5 can crash on a full disk, and then only the copy is
   lost.
4. **Copy**: a reflink (an instant, space-sharing clone, on btrfs, XFS, bcachefs...) where the file
   system offers one, else a byte copy.
5. The caller amends the copy.
6. The copy is flushed to disk, reopened read-only to check that it is a whole HDF5 file, given the
   file's permissions (and owner, when run as root), and moved over the file with ``os.replace``
   (atomic), unless the file changed meanwhile (another program wrote to it: then nothing is
   replaced); then the folder is flushed.

SIGINT and SIGTERM during these steps stop the run at once (or, if the interrupt arrives inside
HDF5, at the next step) and leave the file as it was; after the rename they change nothing.  A kill
(SIGKILL, power loss) at any moment leaves either the old file or the new one whole, and at most a
copy and a lock that the next run removes.  What the rename costs: hard links to the file keep the
old content (a warning says so), and programs that hold the file open keep reading the old version.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import h5py

from ..common.errors import Interrupted, NWBCascadeError
from ..common.files import process_alive
from ..common.names import sidecar, sidecars
from .open import open_hdf5

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".nwb-cascade.lock"
COPY_INFIX = ".nwb-cascade-"
#: Free space kept beyond every estimate (HDF5 metadata, the file system's own needs).
MARGIN_BYTES = 16 << 20
FICLONE = 0x40049409  # the Linux ioctl that clones a file's extents (reflink)


class NWBWriteError(NWBCascadeError, OSError):
    """Results that cannot be written where asked, with what to do instead."""


class LockedError(NWBWriteError):
    """Another run is changing the file."""


def lock_path(path: Path) -> Path:
    """The lock file of ``path`` (:mod:`nwb_cascade.common.names`: ``.<name>.nwb-cascade.lock``)."""
    return sidecar(path, LOCK_SUFFIX)


def new_copy_path(path: Path) -> Path:
    """A new name for a working copy of ``path``: ``.<name>.nwb-cascade-<8 random hex digits>.tmp``."""
    return sidecar(path, f"{COPY_INFIX}{uuid.uuid4().hex[:8]}.tmp")


def copies_of(path: Path) -> list[Path]:
    """Private copies that runs amending ``path`` have made (live or left by interrupted runs), by exact name."""
    return sidecars(path, re.escape(COPY_INFIX) + r"[0-9a-f]{8}\.tmp")


def _owner_alive(record: dict) -> bool:
    """Whether the process that wrote a lock or copy record still runs (unknown hosts count as alive)."""
    if record.get("host") != socket.gethostname():
        return True
    return process_alive(int(record.get("pid", -1)))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock file while the body runs (see the module docstring)."""
    lock = lock_path(path)
    record = {"host": socket.gethostname(), "pid": os.getpid(),
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_record(lock)
            if holder is not None and _owner_alive(holder):
                raise LockedError(
                    f"another nwb-cascade run (process {holder.get('pid')} on {holder.get('host')}, since "
                    f"{holder.get('started')}) is changing {path}; run again when it has finished (if no such "
                    f"run exists, delete {lock})"
                ) from None
            log.warning("removing the stale lock %s (%s)", lock, holder or "unreadable")
            lock.unlink(missing_ok=True)
            continue
        except PermissionError as error:
            raise NWBWriteError(f"cannot create {lock} beside {path} ({error}); results can only be added in place "
                                "where the folder is writable: write them to a new file instead (--output)") from error
        except OSError as error:
            raise NWBWriteError(f"cannot create the lock {lock} ({error}); {path} was not changed") from error
        try:
            with os.fdopen(handle, "w") as stream:
                json.dump(record, stream)
        except OSError as error:
            lock.unlink(missing_ok=True)
            full = "not enough free space even for the lock file: " if error.errno == errno.ENOSPC else ""
            raise NWBWriteError(f"cannot write the lock {lock} ({full}{error}); {path} was not changed") from error
        break
    else:  # pragma: no cover - a race with another stale-lock remover
        raise LockedError(f"{path} is being locked by another run at the same moment; run again")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _read_record(path: Path) -> dict | None:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_text())
    return None


def remove_leftovers(path: Path) -> list[Path]:
    """Remove the copies that interrupted runs left beside ``path`` (call while holding its lock)."""
    removed = []
    for copy in copies_of(path):
        log.info("removing %s, left by an interrupted run", copy)
        copy.unlink(missing_ok=True)
        removed.append(copy)
    return removed


def ensure_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse to start a write that would not fit: ``needed`` bytes plus a margin must be free in ``folder``."""
    free = shutil.disk_usage(folder).free
    if free < needed + MARGIN_BYTES:
        raise NWBWriteError(
            f"not enough free space in {folder} for {what}: it needs about {(needed + MARGIN_BYTES) / 1e6:.0f} MB and "
            f"{free / 1e6:.0f} MB are free; free some space or write elsewhere (--output)"
        )


def compact(copy: Path) -> None:
    """Rewrite the working copy ``copy`` into a new file holding exactly its objects, and put that in its place.

    HDF5 never gives back the space of deleted objects: a working copy from which earlier results were
    removed (``--overwrite``) would keep their bytes, and every overwrite would grow the file by the
    results' size.  The new file is written by HDF5's own object copy (``H5Ocopy`` of the root group, raw
    chunks copied as they are, with the file's creation properties: user block, format versions); the
    object references, which such a copy leaves empty, are then set again to the objects at the same paths.
    """
    from h5py import h5f, h5o, h5p

    packed = copy.with_name(copy.name[:-len("12345678.tmp")] + f"{uuid.uuid4().hex[:8]}.tmp")  # one of copies_of
    ensure_free_space(copy.parent, copy.stat().st_size, "a compacted working copy")
    try:
        with h5py.File(copy, "r") as old:
            creation = old.id.get_create_plist()
            access = h5p.create(h5p.FILE_ACCESS)
            if creation.get_version()[0] >= 2:  # a file in the newer format stays in it
                access.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
            with h5py.File(h5f.create(os.fsencode(packed), h5f.ACC_TRUNC, fcpl=creation, fapl=access)) as new:
                h5o.copy(old.id, b".", new.id, b"__root__")
                for name in list(new["__root__"]):
                    new.move(f"__root__/{name}", name)  # a link renamed: the object is the same
                del new["__root__"]
                for key in old.attrs:
                    new.attrs.create(key, old.attrs[key], dtype=old.attrs.get_id(key).dtype)
                _point_references_again(old, new)
            userblock = creation.get_userblock()
        if userblock:
            with open(copy, "rb") as reading, open(packed, "r+b") as writing:
                writing.write(reading.read(userblock))
        before, after = copy.stat().st_size, packed.stat().st_size
        os.replace(packed, copy)
        log.info("working copy rewritten without the space of removed objects: %d -> %d bytes", before, after)
    finally:
        packed.unlink(missing_ok=True)


def _point_references_again(old: h5py.File, new: h5py.File) -> None:
    """Set every object reference of ``new`` (a copy of ``old`` by path) to the object at the path that the same
    reference in ``old`` names: in attributes, in datasets of references, and in fields of compound datasets."""
    import numpy as np

    def again(value: np.ndarray | h5py.Reference) -> np.ndarray | h5py.Reference:
        if isinstance(value, h5py.Reference):
            return new[old[value].name].ref if value else value
        flat = [new[old[item].name].ref if item else item for item in np.ravel(value)]
        return np.array(flat, dtype=h5py.ref_dtype).reshape(np.shape(value))

    def has_references(kind: np.dtype) -> bool:
        if h5py.check_ref_dtype(kind) is h5py.RegionReference:
            raise NWBWriteError("the file holds HDF5 region references, which this version cannot carry into a "
                                "compacted copy; write the results to a new file instead (--output)")
        if h5py.check_ref_dtype(kind) is h5py.Reference:
            return True
        return any(has_references(field[0]) for field in (kind.fields or {}).values())

    def visit(name: str, item: h5py.HLObject) -> None:
        target = new[name]
        for key in item.attrs:
            kind = item.attrs.get_id(key).dtype
            if has_references(kind):
                value = item.attrs[key]
                if kind.fields:
                    value = np.array(value, copy=True)
                    for field in kind.fields:
                        if has_references(kind.fields[field][0]):
                            value[field] = again(value[field])
                else:
                    value = again(value)
                target.attrs.modify(key, value)
        if isinstance(item, h5py.Dataset) and has_references(item.dtype) and item.size:
            value = item[()]
            if item.dtype.fields:
                for field in item.dtype.fields:
                    if has_references(item.dtype.fields[field][0]):
                        value[field] = again(value[field])
            else:
                value = again(value)
            target[()] = value

    visit("/", old["/"])
    old.visititems(visit)


def clone_or_copy(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` (a new file): a reflink where the file system offers one; how it was done."""
    with open(source, "rb") as reading, open(target, "wb") as writing:
        try:
            fcntl.ioctl(writing.fileno(), FICLONE, reading.fileno())
            return "reflink"
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF,
                                   errno.ENOSYS, errno.EPERM):
                raise
        shutil.copyfileobj(reading, writing, 1 << 22)
        return "copy"


class _Signals:
    """SIGINT and SIGTERM as :class:`Interrupted` in the main thread, remembered even where Python swallows the
    exception (inside a destructor while HDF5 writes); :meth:`check` raises for one that was swallowed."""

    def __init__(self, state: list[str]) -> None:
        self.state = state
        self.received: int | None = None
        self.previous: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame: object) -> None:
        self.received = number
        raise Interrupted(self.message(), number)

    def message(self) -> str:
        name = signal.Signals(self.received).name if self.received else "a signal"
        return f"interrupted by {name}: {self.state[0]}"

    def check(self) -> None:
        if self.received is not None:
            raise Interrupted(self.message(), self.received)

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def checkpoint(phase: str) -> None:
    """Mark a phase of a write, for the fault tests: with ``$NWB_CASCADE_PHASES`` naming a file, the phase is
    appended to it; with ``$NWB_CASCADE_PAUSE_AT`` naming this phase, the run waits there so that a test can
    act at that very moment: until the file ``$NWB_CASCADE_RESUME_WHEN`` names exists (at most 300 s), or
    else for ``$NWB_CASCADE_PAUSE_SECONDS`` (default 60)."""
    record = os.environ.get("NWB_CASCADE_PHASES")
    if record:
        with open(record, "a") as stream:
            stream.write(phase + "\n")
    if os.environ.get("NWB_CASCADE_PAUSE_AT") != phase:
        return
    resume = os.environ.get("NWB_CASCADE_RESUME_WHEN")
    if not resume:
        time.sleep(float(os.environ.get("NWB_CASCADE_PAUSE_SECONDS", "60")))
        return
    deadline = time.monotonic() + 300
    while not os.path.exists(resume) and time.monotonic() < deadline:
        time.sleep(0.05)


def _identity(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_ino, info.st_size, info.st_mtime_ns


@contextlib.contextmanager
def amended(path: str | Path) -> Iterator[Path]:
    """Yield a private copy of the local file ``path`` to change; when the body returns, the copy replaces
    the file atomically (see the module docstring).  On any error or signal the file is left as it was.

    Raises
    ------
    LockedError
        Another run is changing the file.
    NWBWriteError
        Too little free space, a read-only file or folder, or a file that changed meanwhile.
    Interrupted
        SIGINT or SIGTERM; the message says what state the file is in.
    """
    original = Path(path)
    target = original.resolve()  # through a symlink: amend the file it points to
    check_writable(target)
    state = [f"{original} is unchanged"]
    with _Signals(state) as signals, file_lock(target):
        checkpoint("locked")
        remove_leftovers(target)
        ensure_free_space(target.parent, target.stat().st_size, f"a working copy of {original}")
        copy = new_copy_path(target)
        try:
            with open_hdf5(target, original, "r"):  # no writer may hold it while it is copied
                before = _identity(target)
                try:
                    how = clone_or_copy(target, copy)
                except OSError as error:
                    raise NWBWriteError(f"copying {original} to work on failed ({error}); it was not changed") \
                        from error
            log.info("working on a copy of %s (%s)", original, how)
            checkpoint("copied")
            yield copy
            signals.check()
            checkpoint("written")
            _sync_and_verify(copy)
            mode = target.stat()
            os.chmod(copy, stat.S_IMODE(mode.st_mode))
            if os.geteuid() == 0:
                with contextlib.suppress(OSError):
                    os.chown(copy, mode.st_uid, mode.st_gid)
            if _identity(target) != before:
                raise NWBWriteError(f"{original} changed while this run worked on it (another program wrote to it); "
                                    "it was left as that program made it: run again")
            if mode.st_nlink > 1:
                log.warning("%s has %d hard links: the other names keep the old content", original, mode.st_nlink)
            signals.check()
            checkpoint("before-rename")
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:  # the rename and what the state says of it, with no signal in between
                os.replace(copy, target)
                state[0] = f"{original} holds the added results (the run was complete)"
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            _sync_folder(target.parent)
            checkpoint("renamed")
        finally:
            copy.unlink(missing_ok=True)


def _sync_and_verify(copy: Path) -> None:
    with open(copy, "rb+") as handle:
        os.fsync(handle.fileno())
    try:
        with h5py.File(copy, "r") as handle:
            handle.attrs.get("nwb_version")
    except OSError as error:
        raise NWBWriteError(f"the amended copy does not read back ({error}); the original was not replaced") from error


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def check_writable(path: Path) -> None:
    """Refuse a read-only file (also for root, who could write anyway) or folder before any work is done."""
    mode = path.stat().st_mode
    if not os.access(path, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise NWBWriteError(
            f"{path} is read-only, so results cannot be added in place; write them to a new file instead "
            "(--output OUT.nwb / output=...), or make the file writable if you mean to change it"
        )
    if not os.access(path.parent, os.W_OK):
        raise NWBWriteError(f"{path.parent} is not writable, so {path.name} cannot be replaced by its amended copy; "
                            "write the results to a new file instead (--output)")
