"""The names of the files nwb-cascade keeps beside a file (locks, working copies, partial outputs), found by exact name.

Each such file is named ``.<name><tail>``: a dot, the file's own name, and a tail saying what it is
(``.nwb-cascade.lock``, ``.nwb-cascade-<random>.tmp``, ``.partial-<host>-<pid>-<random>.nwb``).
Where that would be longer than a file name may be (255 bytes on every common file system), the
file's name is shortened to its first bytes, ``~`` and 12 hex digits of its SHA-256: unique for
the file, and still readable.

They are found by listing the folder and comparing names, never with a glob pattern built from the
file's name: a name may hold ``[``, ``*`` or ``?`` (``sess[1].nwb``), which a pattern would take as
wildcards, finding other files' leftovers (``sess1.nwb``'s) and missing its own.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

#: The longest file name (bytes) that ext4, XFS, btrfs, ZFS, APFS and NTFS allow.
NAME_MAX = 255
#: Bytes kept free in a name for the longest tail (``.partial-`` + a 64-byte host name + pid + random + ``.nwb``).
TAIL_RESERVE = 100
_HASH_DIGITS = 12


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
