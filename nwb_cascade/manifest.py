"""The batch manifest: one CSV row per source, rewritten whole and atomically as results come in.

The file ``manifest.csv`` in a batch's output folder is the batch's memory: a rerun
skips the sources whose row says ``done`` (and whose output is still there) and
runs the others again.  It is written to a temporary file and moved over the old
one (``os.replace``), so an interrupted batch, a killed process or a full disk
never leaves a half-written manifest behind.

Each row records what the source was when it was done (``source_id``: its size and
modification time, optionally its SHA-256; for a remote file its ETag or DANDI asset id)
and what its output is (``output_id``: the output's NWB identifier and size), so that a
changed source is run again and a manifest that no longer matches its outputs is noticed.

Nothing in it can stop a later batch: an error message is stored short (at most
:data:`ERROR_CHARS` characters), its whole text in ``logs/<source>.log`` beside the
manifest; a damaged manifest (bytes that are not UTF-8, a field of many megabytes, rows
that are not CSV) is reported in one line that says how to recover.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import hashlib
import io
import logging
import os
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common.errors import NWBCascadeError
from .common.files import atomic_write

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
LOCK_NAME = ".manifest.lock"
LOGS_NAME = "logs"
#: The longest error message a row holds (room for a refusal and its fix); the whole text goes to the session's log file.
ERROR_CHARS = 600
#: The largest field read from a manifest (this version writes none above a few hundred bytes).
FIELD_LIMIT = 64 << 20

PENDING = "pending"
DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"  # no calcium traces in the file: nothing to do, not an error
STATUSES = (PENDING, DONE, FAILED, SKIPPED)


class ManifestError(NWBCascadeError, RuntimeError):
    """The manifest cannot be read, or another batch holds it."""


@dataclass
class ManifestRow:
    """What is known about one source of a batch.

    ``output`` is relative to the manifest's folder; numbers are empty (None) until
    the source is done; ``seconds`` is the time the session's task took on its
    worker; ``finished`` is a UTC time stamp (ISO 8601); ``error`` says why a
    failed source failed, or why a skipped one holds nothing to run on (short: the
    whole text is in the session's log file); ``source_id`` and ``output_id`` say
    which version of the source was run and which file its output is; ``settings`` with which options.
    """

    source: str
    status: str = PENDING
    output: str = ""
    planes: int | None = None
    series: str = ""
    rois: int | None = None
    frames: int | None = None
    frame_rate: float | None = None
    noise_median: float | None = None
    noise_min: float | None = None
    noise_max: float | None = None
    model: str = ""
    spikes: int | None = None
    seconds: float | None = None
    worker: str = ""
    finished: str = ""
    error: str = ""
    source_id: str = ""
    output_id: str = ""
    settings: str = ""  # the run's options that shape its results (RunOptions other than their defaults), as JSON

    def update(self, values: dict[str, Any]) -> None:
        """Set the fields named in ``values`` (unknown names are a programming error)."""
        for name, value in values.items():
            if name not in FIELDS:
                raise KeyError(f"manifest rows have no field {name!r}")
            setattr(self, name, value)


FIELDS = tuple(field.name for field in dataclasses.fields(ManifestRow))
#: The columns that describe a finished run: fields of :class:`nwb_cascade.spike_inference.RunSummary`, taken by
#: :func:`nwb_cascade.batch.manifest_values`.
RESULT_FIELDS = ("output", "planes", "series", "rois", "frames", "frame_rate", "noise_median", "noise_min",
                 "noise_max", "model", "spikes", "seconds")
_TYPES = {field.name: field.type for field in dataclasses.fields(ManifestRow)}


def _parse(name: str, text: str) -> Any:
    kind = _TYPES[name]
    if kind == "str":
        return text
    if text == "":
        return None
    return int(text) if kind.startswith("int") else float(text)


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return " ".join(str(value).split())  # one line per row, whatever an error message holds


class Manifest:
    """The rows of ``manifest.csv`` in ``folder``, keyed by source, in the order they were added."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST_NAME
        self.rows: dict[str, ManifestRow] = {}
        self.load()

    def load(self) -> None:
        """Read the rows from the file (none if it is absent); error messages of older versions stored whole are
        moved into the sessions' log files and shortened."""
        rows = read_manifest(self.path) if self.path.exists() else []
        self.rows = {row.source: row for row in rows}
        for row in self.rows.values():
            if len(row.error) > ERROR_CHARS:
                self.set_error(row, row.error)

    def row(self, source: str) -> ManifestRow:
        """The row of ``source``, added (pending) if it is new."""
        if source not in self.rows:
            self.rows[source] = ManifestRow(source)
        return self.rows[source]

    def log_path(self, source: str) -> Path:
        """The log file of ``source``'s session: ``logs/<its file name>-<8 hex digits of a hash of source>.log``."""
        tail = re.sub(r"[^\w.+-]", "_", source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])[:120]
        return self.folder / LOGS_NAME / f"{tail}-{hashlib.sha256(source.encode()).hexdigest()[:8]}.log"

    def set_error(self, row: ManifestRow, text: str, details: str = "") -> None:
        """Give ``row`` the error ``text``: short in the row, whole (with ``details``, e.g. a traceback) in its
        session's log file.  A log that cannot be written (a full disk) costs only the long text."""
        original = str(text).strip()
        text = " ".join(original.split())
        log_file = self.log_path(row.source)
        if not text:
            row.error = ""
            with contextlib.suppress(OSError):
                log_file.unlink(missing_ok=True)  # the log of an earlier attempt
            return
        whole = original + ("\n\n" + details if details else "")
        written = False
        if len(text) > ERROR_CHARS or details:
            try:
                log_file.parent.mkdir(exist_ok=True)
                log_file.write_text(f"{row.source}\n{row.finished}\n\n{whole}\n", encoding="utf-8")
                written = True
            except OSError as error:
                log.warning("cannot write %s (%s): the row keeps the start of the message", log_file, error)
        if len(text) > ERROR_CHARS:
            where = f" (whole message: {LOGS_NAME}/{log_file.name})" if written else " (shortened)"
            text = text[:ERROR_CHARS - len(where) - 1].rstrip() + "…" + where
        row.error = text

    def save(self) -> None:
        """Write every row to a temporary file and move it over the manifest.

        Raises
        ------
        ManifestError
            The file cannot be written (a full disk, no permission); the manifest on disk is as before.
        """
        try:
            with atomic_write(self.path) as partial, open(partial, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(FIELDS)
                for row in self.rows.values():
                    writer.writerow([_format(getattr(row, name)) for name in FIELDS])
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            full = "the disk is full: " if error.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            raise ManifestError(f"cannot write {self.path} ({full}{error.strerror or error}); the manifest on disk is "
                                "as it was before this result: free some space (or fix the folder's permissions) and "
                                "run the batch again, which takes up what is not recorded as done") from error

    @contextlib.contextmanager
    def locked(self) -> Iterator[Manifest]:
        """Hold the folder's lock file while the batch runs, so two batches never share a manifest.

        The rows are read again once the lock is held (another batch may have just
        finished).  The lock is an advisory ``flock``, released by the system when the
        process ends, however it ends; where ``fcntl`` is missing (Windows) no lock is taken.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield self
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / LOCK_NAME, "a")
        except OSError as error:
            raise ManifestError(f"cannot create the lock file {self.folder / LOCK_NAME} ({error.strerror or error}); "
                                "the output folder must be writable (or choose another --out)") from error
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise ManifestError(
                    f"another batch is running into {self.folder} (its manifest is locked); "
                    "wait for it to finish or choose another output folder"
                ) from error
            try:
                self.load()
                yield self
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def recovery(path: Path) -> str:
    """How to recover from a damaged manifest at ``path``."""
    return (f"move it aside (mv {shlex.quote(str(path))} {shlex.quote(str(path) + '.damaged')}) and run the batch "
            "again: outputs that are complete are "
            "recognised by their content and recorded as done, the other sessions run again")


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """The rows of a manifest file.

    Raises
    ------
    ManifestError
        The file is not a manifest or is damaged; the message says where and how to recover.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ManifestError(f"cannot read {path} ({error.strerror or error}); check that it is a file you may read, "
                            f"or {recovery(path)}") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ManifestError(f"{path} is damaged at line {line} (bytes that are not UTF-8 text, at byte "
                            f"{error.start}); fix that line, or {recovery(path)}") from None
    limit = csv.field_size_limit()
    csv.field_size_limit(FIELD_LIMIT)
    reader = None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        missing = [name for name in ("source", "status") if name not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path} is not a batch manifest (no column {', '.join(missing)}); "
                                "move it away or choose another output folder")
        rows = []
        for number, record in enumerate(reader, start=2):
            if None in record:  # more fields than columns
                raise ManifestError(f"{path} is damaged at line {number} (more fields than the header); fix or "
                                    f"delete that row, or {recovery(path)}")
            try:
                values = {name: _parse(name, record.get(name) or "") for name in FIELDS}
            except ValueError as error:
                raise ManifestError(f"{path} is damaged at line {number} ({error}); fix or delete that row, or "
                                    f"{recovery(path)}") from None
            if values["status"] not in STATUSES:
                values["status"] = PENDING  # unknown state: run it again
            rows.append(ManifestRow(**values))
    except csv.Error as error:
        where = f"at line {(reader.line_num if reader is not None else 0) + 1}"
        raise ManifestError(f"{path} is damaged {where} ({error}); {recovery(path)}") from None
    finally:
        csv.field_size_limit(limit)
    return rows


def count(rows: Iterable[ManifestRow], status: str) -> int:
    """How many of ``rows`` have ``status``."""
    return sum(row.status == status for row in rows)
