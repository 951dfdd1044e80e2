"""The names of the files nwb-cascade keeps beside a file (locks, working copies, partial outputs), found by exact name.

Each such file is named ``.<name><tail>``: a dot, the file's own name, and a tail saying what it is
(``.nwb-cascade.lock``, ``.nwb-cascade-<random>.tmp``).  Where that would be longer than a file name may be (255 bytes on every common file system), the
file's name is shortened to its first bytes, ``~`` and 12 hex digits of its SHA-256: unique for
the file, and still readable.

They are found by listing the folder and comparing names, never with a glob pattern built from the
file's name: a name may hold ``[``, ``*`` or ``?`` (``sess[1].nwb``), which a pattern would take as
wildcards, finding other files' leftovers (``sess1.nwb``'s) and missing its own.

A partial file (what :func:`nwb_cascade.common.files.atomic_write` writes before renaming it over the file)
keeps the file's ending, as libraries that go by it need: ``.<stem>.partial-<host>-<pid>-<random><ending>``
(``.sess.cascade.partial-node1-4242-0a1b2c3d.nwb``); host and process tell whose it is, so that a later run
removes only those of processes that are gone.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path
from uuid import uuid4

#: The longest file name (bytes) that ext4, XFS, btrfs, ZFS, APFS and NTFS allow.
NAME_MAX = 255
#: Bytes kept free in a name for the longest tail (``.partial-`` + a 64-byte host name + pid + random + ``.nwb``).
TAIL_RESERVE = 100
_HASH_DIGITS = 12
#: What a partial file's tail starts with (after the file's stem).
PARTIAL_INFIX = ".partial-"
#: Endings of more than one suffix that a partial file keeps whole (LINDI goes by them).
LONG_ENDINGS = (".lindi.tar", ".lindi.json")
#: A partial file's tail after its stem: host, process id, 8 random hex digits, the file's ending.
_PARTIAL_TAIL = re.compile(rf"{re.escape(PARTIAL_INFIX)}(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{{8}}(?P<ending>.*)")


def base_name(name: str) -> str:
    """The part of a sidecar's name that stands for the file ``name``: ``.<name>``, shortened where too long."""
    whole = "." + name
    if len(os.fsencode(whole)) + TAIL_RESERVE <= NAME_MAX:
        return whole
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:_HASH_DIGITS]
    room = NAME_MAX - TAIL_RESERVE - 1 - _HASH_DIGITS
    return "." + _first_bytes(name, room - 1) + "~" + digest


def sidecar(path: Path, tail: str) -> Path:
    """The file ``.<path's name><tail>`` beside ``path`` (the name shortened where it would not fit)."""
    return path.with_name(base_name(path.name) + tail)


def sidecars(path: Path, tail: str) -> list[Path]:
    """The files beside ``path`` named :func:`sidecar` ``(path, T)`` for a tail ``T`` that matches the regular
    expression ``tail`` as a whole; sorted."""
    prefix = base_name(path.name)
    pattern = re.compile(tail)
    try:
        entries = os.listdir(path.parent)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(path.with_name(entry) for entry in entries
                  if entry.startswith(prefix) and pattern.fullmatch(entry[len(prefix):]))


def fits(name: str) -> bool:
    """Whether ``name`` is short enough for a file name."""
    return len(os.fsencode(name)) <= NAME_MAX


def shortened(name: str, ending: str) -> str:
    """``name`` + ``ending`` if that fits a file name, else ``name`` cut short, ``~``, 12 hex digits of the SHA-256 of
    the whole ``name``, and ``ending``: distinct names stay distinct."""
    if fits(name + ending):
        return name + ending
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:_HASH_DIGITS]
    room = NAME_MAX - len(os.fsencode(ending)) - 1 - _HASH_DIGITS
    return _first_bytes(name, room) + "~" + digest + ending


def _first_bytes(text: str, limit: int) -> str:
    """The longest start of ``text`` of at most ``limit`` bytes in UTF-8 (never half a character)."""
    return os.fsencode(text)[:max(0, limit)].decode("utf-8", "ignore")


def ending(name: str) -> str:
    """The ending a partial file of ``name`` keeps: ``.lindi.tar`` or ``.lindi.json``, else the last suffix
    (``""`` for none)."""
    for long in LONG_ENDINGS:
        if name.endswith(long) and len(name) > len(long):
            return long
    return Path(name).suffix


def host() -> str:
    """This host's name as partial files carry it (at most 64 characters, as on Linux)."""
    return socket.gethostname()[:64]


def partial_name(path: Path, end: str | None = None) -> Path:
    """A new partial file of ``path``, beside it: ``.<stem>.partial-<host>-<pid>-<random><ending>``.

    ``end`` is the ending it keeps (default: :func:`ending` of the name; ``""`` for a folder, whose name may hold
    dots).
    """
    end = ending(path.name) if end is None else end
    stem = path.with_name(path.name[: len(path.name) - len(end)] if end else path.name)
    return sidecar(stem, f"{PARTIAL_INFIX}{host()}-{os.getpid()}-{uuid4().hex[:8]}{end}")


def partial_names(path: Path, end: str | None = None) -> list[tuple[Path, str | None, int | None]]:
    """The partial files of ``path`` beside it (named by :func:`partial_name` with the same ending), each with the
    host and process id its name gives (None for a name without them, from older versions); sorted."""
    end = ending(path.name) if end is None else end
    stem = path.with_name(path.name[: len(path.name) - len(end)] if end else path.name)
    prefix = len(sidecar(stem, "").name)
    found = []
    for partial in sidecars(stem, re.escape(PARTIAL_INFIX) + ".*" + re.escape(end)):
        match = _PARTIAL_TAIL.fullmatch(partial.name[prefix:])
        if match is None:
            found.append((partial, None, None))
        elif match.group("ending") == end:  # not another file's, of the same stem and another ending
            found.append((partial, match.group("host"), int(match.group("pid"))))
    return found


def is_partial(name: str) -> bool:
    """Whether ``name`` is that of a partial file (:func:`partial_name`) of some file."""
    return re.fullmatch(r"\..+" + re.escape(PARTIAL_INFIX) + r".+-\d+-[0-9a-f]{8}(\..+)?", name) is not None
