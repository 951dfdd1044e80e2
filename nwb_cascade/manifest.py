"""The batch manifest: one CSV row per source, rewritten whole and atomically as results come in.

The file ``manifest.csv`` in a batch's output folder is the batch's memory: a rerun
skips the sources whose row says ``done`` (and whose output is still there) and
runs the others again.  It is written to a temporary file and moved over the old
one (``os.replace``), so an interrupted batch, a killed process or a full disk
never leaves a half-written manifest behind.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common.errors import NWBCascadeError

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
LOCK_NAME = ".manifest.lock"

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
    failed source failed, or why a skipped one holds nothing to run on.
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

    def update(self, values: dict[str, Any]) -> None:
        """Set the fields named in ``values`` (unknown names are a programming error)."""
        for name, value in values.items():
            if name not in FIELDS:
                raise KeyError(f"manifest rows have no field {name!r}")
            setattr(self, name, value)


FIELDS = tuple(field.name for field in dataclasses.fields(ManifestRow))
#: The columns that describe a finished run: the names of :class:`nwb_cascade.spike_inference.RunSummary`'s record.
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
        """Read the rows from the file (none if it is absent)."""
        self.rows = {row.source: row for row in read_manifest(self.path)} if self.path.is_file() else {}

    def row(self, source: str) -> ManifestRow:
        """The row of ``source``, added (pending) if it is new."""
        if source not in self.rows:
            self.rows[source] = ManifestRow(source)
        return self.rows[source]

    def save(self) -> None:
        """Write every row to a temporary file and move it over the manifest."""
        partial = self.path.with_name(f".{MANIFEST_NAME}.partial-{os.getpid()}")
        try:
            with open(partial, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(FIELDS)
                for row in self.rows.values():
                    writer.writerow([_format(getattr(row, name)) for name in FIELDS])
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, self.path)
        finally:
            partial.unlink(missing_ok=True)

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
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK_NAME, "a") as handle:
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


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """The rows of a manifest file."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in ("source", "status") if name not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path} is not a batch manifest (no column {', '.join(missing)}); "
                                "move it away or choose another output folder")
        rows = []
        for number, record in enumerate(reader, start=2):
            try:
                values = {name: _parse(name, record.get(name) or "") for name in FIELDS}
            except ValueError as error:
                raise ManifestError(f"{path}, line {number}: {error}; fix or delete that row to run it again") from error
            if values["status"] not in STATUSES:
                values["status"] = PENDING  # unknown state: run it again
            rows.append(ManifestRow(**values))
    return rows


def count(rows: Iterable[ManifestRow], status: str) -> int:
    """How many of ``rows`` have ``status``."""
    return sum(row.status == status for row in rows)
