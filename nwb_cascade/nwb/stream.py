"""Streaming a remote HDF5 file over HTTP(S): whole blocks, fetched with ``Range`` requests, cached on disk.

h5py reads through :class:`RemoteFile`, a read-only file object.  A read fetches the blocks it
touches that are not cached yet (256 KiB each), each run of consecutive missing blocks in one
``Range`` request, and keeps them in a small in-memory LRU and on disk (``streams/`` in the package
cache folder), so only the blocks HDF5 asks for travel and a second run reads them from disk.

What can go wrong on the way, and what happens:

- **Stalls**: every request has a connect timeout and a read timeout (no byte for that long), and
  each block fetch, retries included, an overall deadline; the error names the host and what stalled.
  ``NWB_CASCADE_CONNECT_TIMEOUT`` (10 s), ``NWB_CASCADE_READ_TIMEOUT`` (30 s),
  ``NWB_CASCADE_DEADLINE`` (300 s).
- **Dropped connections, server errors** (5xx, 408, 429): retried with exponential backoff
  (``NWB_CASCADE_RETRIES`` tries, default 5; ``NWB_CASCADE_BACKOFF``, default 0.5 s, doubled each
  time).  404 and refused tokens fail at once.
- **A server that ignores ``Range``** (says ``Accept-Ranges: none``, or answers 200 with the whole
  file): detected on the first answer, whose body is not read, and reported as such.
- **A file that changes on the server**: the file's identity is its ``ETag`` where the server gives
  one, else its ``Last-Modified`` and size, else its size.  The disk cache is keyed by it, so a
  changed file never gets the old blocks; and every answer's validators are checked against it, so
  a run that sees the file change half-way fails rather than mixing two versions.
- A block enters the cache only complete, written under a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from ..common.errors import NWBCascadeError
from ..common.retry import retrying

log = logging.getLogger(__name__)

BLOCK_SIZE = 1 << 18
ATTEMPTS = 5
BACKOFF = 0.5
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
DEADLINE = 300.0
USER_AGENT = "nwb-cascade"


class SourceError(NWBCascadeError):
    """A source cannot be found, resolved or read; the message says what to do."""


class _Changed(SourceError):
    """The remote file is not the one this run opened (permanent: never retried)."""


class _Permanent(SourceError):
    """An answer that no retry mends (404, refused access, a server that ignores Range)."""


@dataclass(frozen=True)
class Settings:
    """Timeouts (s), tries and backoff of remote reads; defaults from the environment."""

    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    deadline: float = DEADLINE
    attempts: int = ATTEMPTS
    backoff: float = BACKOFF

    @classmethod
    def from_environment(cls) -> Settings:
        def number(name: str, default: float) -> float:
            value = os.environ.get(name)
            try:
                return float(value) if value else default
            except ValueError:
                raise SourceError(f"${name} is {value!r}, not a number of seconds") from None

        return cls(number("NWB_CASCADE_CONNECT_TIMEOUT", CONNECT_TIMEOUT), number("NWB_CASCADE_READ_TIMEOUT", READ_TIMEOUT),
                   number("NWB_CASCADE_DEADLINE", DEADLINE), int(number("NWB_CASCADE_RETRIES", ATTEMPTS)),
                   number("NWB_CASCADE_BACKOFF", BACKOFF))


@dataclass(frozen=True)
class Identity:
    """What tells one version of a remote file from another."""

    size: int
    etag: str | None = None
    last_modified: str | None = None

    @property
    def key(self) -> str:
        return json.dumps([self.size, self.etag, self.last_modified])

    def differs(self, headers: Any) -> str | None:
        """Why an answer's headers show another version of the file, or None."""
        etag = headers.get("ETag")
        if self.etag and etag and etag != self.etag:
            return f"its ETag changed from {self.etag} to {etag}"
        modified = headers.get("Last-Modified")
        if not self.etag and self.last_modified and modified and modified != self.last_modified:
            return f"its Last-Modified changed from {self.last_modified} to {modified}"
        return None


class RemoteFile(io.RawIOBase):
    """A read-only, seekable file over HTTP(S) for h5py (see the module docstring).

    Parameters
    ----------
    url
        The file's URL (the server must honour ``Range``).
    cache
        Folder of the on-disk block cache (one sub-folder per file version); None keeps blocks
        in memory only.
    block_size
        Bytes per block: the smallest request.
    memory_blocks
        Blocks kept in memory (memory stays below ``memory_blocks × block_size``).
    settings
        Timeouts, tries and backoff; default :meth:`Settings.from_environment`.
    """

    def __init__(self, url: str, cache: str | Path | None = None, *, block_size: int = BLOCK_SIZE,
                 memory_blocks: int = 64, settings: Settings | None = None) -> None:
        super().__init__()
        self.url = url
        self.host = urlparse(url).netloc
        self.block_size = int(block_size)
        self.settings = settings or Settings.from_environment()
        self.requests = 0
        self.bytes_fetched = 0
        self._memory: OrderedDict[int, bytes] = OrderedDict()
        self._memory_blocks = max(1, memory_blocks)
        self._position = 0
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self.identity = self._retrying(self._probe, "asking the size")
        self.size = self.identity.size
        self._folder = None
        if cache is not None:
            key = hashlib.sha256(f"{url}|{self.identity.key}|{block_size}".encode()).hexdigest()[:32]
            self._folder = Path(cache) / key
            self._folder.mkdir(parents=True, exist_ok=True)

    # -- the network ---------------------------------------------------------------------------

    def _request(self, headers: dict[str, str], method: str = "GET") -> requests.Response:
        self.requests += 1
        try:
            response = self._session.request(method, self.url, headers=headers, stream=True, allow_redirects=True,
                                             timeout=(self.settings.connect_timeout, self.settings.read_timeout))
        except requests.exceptions.ConnectTimeout as error:
            raise TimeoutError(f"no connection to {self.host} within {self.settings.connect_timeout:g} s") from error
        except requests.exceptions.ReadTimeout as error:
            raise TimeoutError(f"{self.host} sent no answer for {self.settings.read_timeout:g} s") from error
        status = response.status_code
        if status in (401, 403):
            response.close()
            raise _Permanent(f"{self.url}: access refused (HTTP {status}); an embargoed DANDI asset needs "
                             "DANDI_API_KEY")
        if status in (404, 410):
            response.close()
            raise _Permanent(f"{self.url}: not found (HTTP {status}); check the URL (a DANDI asset's content URL "
                             "may have moved: resolve it again)")
        if 400 <= status < 500 and status not in (408, 416, 429):
            response.close()
            raise _Permanent(f"{self.url}: the server refused the request (HTTP {status} {response.reason})")
        if status >= 500 or status in (408, 429):
            response.close()
            raise ConnectionError(f"{self.host} answered HTTP {status} {response.reason}")
        return response

    def _probe(self) -> Identity:
        """The file's size and validators: from a HEAD request (no body), or where a server refuses HEAD, from
        a ``Range`` request for the first byte.  A server that says it takes no ranges is refused here."""
        response = self._request({}, method="HEAD")
        with response:
            if response.status_code not in (405, 501):
                if response.headers.get("Accept-Ranges", "").lower() == "none":
                    raise _Permanent(self._no_ranges())
                length = response.headers.get("Content-Length")
                if length is None:
                    raise _Permanent(f"{self.url}: the server does not say how large the file is (no Content-Length); "
                                     "it cannot be streamed: download it and run on the local copy")
                return Identity(int(length), response.headers.get("ETag"), response.headers.get("Last-Modified"))
        response = self._request({"Range": "bytes=0-0"})
        with response:
            if response.status_code == 200:
                raise _Permanent(self._no_ranges())
            match = re.match(r"bytes \d+-\d+/(\d+)$", response.headers.get("Content-Range", ""))
            if response.status_code != 206 or match is None:
                raise _Permanent(f"{self.url}: the server's answer to a Range request has no usable Content-Range "
                                 f"(HTTP {response.status_code}); it cannot be streamed")
            return Identity(int(match.group(1)), response.headers.get("ETag"), response.headers.get("Last-Modified"))

    def _no_ranges(self) -> str:
        return (f"{self.url}: the server ignores HTTP Range requests (it answers with the whole file), so the "
                "file cannot be streamed; download it (e.g. `dandi download`, curl) and run on the local copy")

    def _get(self, start: int, stop: int) -> bytes:
        """Bytes ``start..stop-1``, checked: a partial answer of exactly that range, of the same file version."""
        began = time.monotonic()
        response = self._request({"Range": f"bytes={start}-{stop - 1}"})
        with response:
            if response.status_code == 200:
                raise _Permanent(self._no_ranges())
            changed = self.identity.differs(response.headers)
            match = re.match(r"bytes (\d+)-(\d+)/(\d+)$", response.headers.get("Content-Range", ""))
            if changed is None and match and int(match.group(3)) != self.size:
                changed = f"its size changed from {self.size} to {match.group(3)} bytes"
            if changed is not None:
                raise _Changed(f"{self.url} changed on the server during this run ({changed}); nothing from two "
                               "versions is mixed: run again to read the new version")
            if match is None or (int(match.group(1)), int(match.group(2))) != (start, stop - 1):
                raise ConnectionError(f"{self.host} answered bytes {response.headers.get('Content-Range')} for "
                                      f"{start}-{stop - 1}")
            pieces, got = [], 0
            try:
                for piece in response.iter_content(1 << 16):
                    pieces.append(piece)
                    got += len(piece)
                    if time.monotonic() - began > self.settings.deadline:
                        raise TimeoutError(f"{self.host} sent {got} of {stop - start} bytes in "
                                           f"{self.settings.deadline:g} s")
            except requests.exceptions.ConnectionError as error:  # urllib3 read timeouts and resets land here
                if "timed out" in str(error).lower():
                    raise TimeoutError(f"{self.host} sent no byte for {self.settings.read_timeout:g} s after "
                                       f"{got} of {stop - start} bytes") from error
                raise ConnectionError(f"{self.host} dropped the connection after {got} of {stop - start} bytes") \
                    from error
            data = b"".join(pieces)
        if len(data) != stop - start:
            raise ConnectionError(f"short read: {len(data)} of {stop - start} bytes at offset {start}")
        return data

    def _retrying(self, action: Any, what: str) -> Any:
        settings = self.settings

        def give_up(error: Exception, tries: int, seconds: float) -> SourceError:
            stalled = isinstance(error, TimeoutError)
            return SourceError(
                f"{what} of {self.url} failed {tries} time{'s' if tries != 1 else ''} in {seconds:.0f} s "
                f"({type(error).__name__}: {error}); "
                + ("the server stalls: check the network or try later (timeouts: NWB_CASCADE_READ_TIMEOUT, "
                   "NWB_CASCADE_DEADLINE)" if stalled else
                   "check the network connection and that the server is up, then run again")
            )

        return retrying(action, f"{what} of {self.url}", attempts=settings.attempts, backoff=settings.backoff,
                        deadline=settings.deadline, permanent=lambda error: isinstance(error, SourceError),
                        give_up=give_up)

    # -- the cache -----------------------------------------------------------------------------

    def _cached(self, index: int) -> bytes | None:
        if index in self._memory:
            self._memory.move_to_end(index)
            return self._memory[index]
        if self._folder is not None:
            path = self._folder / str(index)
            with contextlib.suppress(FileNotFoundError):
                data = path.read_bytes()
                self._remember(index, data)
                return data
        return None

    def _remember(self, index: int, data: bytes) -> None:
        self._memory[index] = data
        self._memory.move_to_end(index)
        while len(self._memory) > self._memory_blocks:
            self._memory.popitem(last=False)

    def _fetch(self, first: int, last: int) -> None:
        """Fetch blocks ``first..last`` in one request and cache them."""
        start = first * self.block_size
        stop = min(self.size, (last + 1) * self.block_size)
        data = self._retrying(lambda: self._get(start, stop), f"reading bytes {start}-{stop - 1}")
        self.bytes_fetched += len(data)
        for index in range(first, last + 1):
            block = data[(index - first) * self.block_size:(index - first + 1) * self.block_size]
            self._remember(index, block)
            if self._folder is not None:
                partial = self._folder / f".{index}.{os.getpid()}.{threading.get_ident()}.part"  # writers may race
                partial.write_bytes(block)
                os.replace(partial, self._folder / str(index))

    # -- the file object -----------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), max(0, self.size - self._position))
        if wanted == 0:
            return 0
        first, last = self._position // self.block_size, (self._position + wanted - 1) // self.block_size
        missing = [index for index in range(first, last + 1) if self._cached(index) is None]
        for run_start, run_stop in _runs(missing):
            self._fetch(run_start, run_stop)
        view, filled = memoryview(buffer), 0
        for index in range(first, last + 1):
            block = self._memory.get(index)
            if block is None:  # pushed out of memory by this very read
                block = self._cached(index)
                if block is None:
                    self._fetch(index, index)
                    block = self._memory[index]
            offset = self._position + filled - index * self.block_size
            piece = block[offset:offset + wanted - filled]
            view[filled:filled + len(piece)] = piece
            filled += len(piece)
        self._position += wanted
        return wanted

    def close(self) -> None:
        self._session.close()
        super().close()


def _runs(indices: list[int]) -> Iterator[tuple[int, int]]:
    """Runs of consecutive integers as (first, last)."""
    for _, group in itertools.groupby(enumerate(indices), key=lambda pair: pair[1] - pair[0]):
        members = [index for _, index in group]
        yield members[0], members[-1]


def source_error_in(error: BaseException) -> SourceError | None:
    """The :class:`SourceError` behind an error that h5py raised while reading a remote file, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, SourceError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
