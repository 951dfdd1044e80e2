"""Streaming a remote HDF5 file over HTTP(S): whole blocks, fetched with ``Range`` requests, checked, cached on disk.

h5py reads through :class:`RemoteFile`, a read-only file object.  A read fetches the blocks it
touches that are not cached yet (256 KiB each), each run of consecutive missing blocks in requests
of at most :data:`REQUEST_BLOCKS` blocks, and keeps them in a small in-memory LRU and on disk
(``streams/`` in the package cache folder), so only the blocks HDF5 asks for travel and a second run
reads them from disk.  ``nwb-cascade cache info`` and ``cache clear`` show and empty that folder.

What can go wrong on the way, and what happens:

- **Stalls**: every request has a connect timeout and a read timeout (no byte for that long); the
  error names the host and what stalled.  A slow answer that keeps sending is never cut off, and
  each block is kept (and cached) as soon as its last byte arrives, so that a dropped connection
  costs at most the block under way; a fetch that fails gives up after its tries, or once
  ``NWB_CASCADE_DEADLINE`` has passed without progress.  ``NWB_CASCADE_CONNECT_TIMEOUT`` (10 s),
  ``NWB_CASCADE_READ_TIMEOUT`` (30 s), ``NWB_CASCADE_DEADLINE`` (300 s).
- **Dropped connections, server errors** (5xx, 408, 429): retried with exponential backoff
  (``NWB_CASCADE_RETRIES`` tries, default 5; ``NWB_CASCADE_BACKOFF``, default 0.5 s, doubled each
  time).  404 and refused tokens fail at once.
- **A server that ignores ``Range``** (says ``Accept-Ranges: none``, or answers 200 with the whole
  file): detected on the first answer, whose body is not read, and reported as such.
- **A file that changes on the server**: the file's identity is its ``ETag`` where the server gives
  one, else its ``Last-Modified`` and size, else its size.  The disk cache is keyed by it, so a
  changed file never gets the old blocks; and every answer's validators are checked against it, so
  a run that sees the file change half-way fails rather than mixing two versions.
- **A wrong answer** (bytes from another place of the file under the right ``Content-Range``: a
  faulty proxy or cache): every answer reaches :data:`OVERLAP` bytes into the blocks on each side,
  which are compared with those blocks where they are known (cached, or fetched later in the same
  run); an answer that could be compared with nothing is checked with a second, small request for a
  part of it.  Answers that disagree fail the run (:class:`Inconsistent`).  HDF5 checks the rest
  where it can: the checksums of gzip-compressed chunks and of its newer metadata.
- **A run whose read or parse fails**: :func:`read_once_more` drops every block the run fetched or
  read from the cache and runs it once more, reading everything from the server; what the cache
  held is never trusted over an error.

A block enters the cache only complete, with the answer's ``Content-Range``, length and the
file's identity checked, written under a temporary name and renamed; a cached block of the wrong
length is dropped when read.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import itertools
import json
import logging
import os
import re
import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests

from ..common.errors import NWBCascadeError
from ..common.files import atomic_write
from ..common.retry import retrying

log = logging.getLogger(__name__)

BLOCK_SIZE = 1 << 18
#: The most blocks one request asks for (4 MiB): a long read is split so that what arrived is kept.
REQUEST_BLOCKS = 16
#: Bytes each answer reaches into the blocks on either side, to be compared with them.
OVERLAP = 64
#: Part of the cache folders' names: blocks cached by versions that kept unchecked answers are never read.
CACHE_FORMAT = "checked-1"
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


class Unreachable(SourceError):
    """The server did not deliver after every try (stalls, dropped connections, errors): what arrived before was
    checked and is kept, and no reading again mends it now."""


class Inconsistent(SourceError):
    """Two answers of the server disagree on the same bytes (one of them came from the wrong place): the run's
    blocks cannot be trusted; :func:`read_once_more` drops them and reads again."""


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
    fresh
        Read nothing from the disk cache (what is fetched is still cached); default: as the
        :func:`read_once_more` attempt in progress says (fresh on its second try).
    sha256
        The whole file's SHA-256, where known (a DANDI asset's digest): checked once every block
        of the file has been read.
    """

    def __init__(self, url: str, cache: str | Path | None = None, *, block_size: int = BLOCK_SIZE,
                 memory_blocks: int = 64, settings: Settings | None = None, fresh: bool | None = None,
                 sha256: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.host = urlparse(url).netloc
        self.block_size = int(block_size)
        self.settings = settings or Settings.from_environment()
        self.requests = 0
        self.bytes_fetched = 0
        self.sha256 = sha256
        attempt = _ATTEMPT.get()
        self.fresh = bool(attempt.fresh if fresh is None and attempt is not None else fresh)
        self.fetched: set[int] = set()  # blocks this object fetched from the server
        self.from_cache: set[int] = set()  # blocks it read from the disk cache
        self._pending: dict[int, list[tuple[int, bytes, str]]] = {}  # block -> (offset in it, bytes, what saw them)
        self._digest_checked = False
        self.failure: Exception | None = None  # the first error of a read, whether or not its reader passed it on
        self._memory: OrderedDict[int, bytes] = OrderedDict()
        self._memory_blocks = max(1, memory_blocks)
        self._position = 0
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self.identity = self._retrying(self._probe, "asking the size")
        self.size = self.identity.size
        self.blocks = -(-self.size // self.block_size)
        self._folder = None
        if cache is not None:
            key = hashlib.sha256(f"{CACHE_FORMAT}|{url}|{self.identity.key}|{block_size}".encode()).hexdigest()[:32]
            self._folder = Path(cache) / key
            self._folder.mkdir(parents=True, exist_ok=True)
            _describe_folder(self._folder, url, self.identity, self.block_size)
        if attempt is not None:
            attempt.files.append(self)

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

    def _answer(self, start: int, stop: int) -> Iterator[bytes]:
        """The bytes ``start..stop-1`` as they arrive, after checking the answer's headers: a partial answer of
        exactly that range, of the same file version.  Raises when the answer stops short or stalls."""
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
            got = 0
            try:
                for piece in response.iter_content(1 << 16):
                    got += len(piece)
                    if got > stop - start:
                        raise ConnectionError(f"{self.host} sent more than the {stop - start} bytes asked for")
                    yield piece
            except (requests.exceptions.ConnectionError,  # urllib3 read timeouts and resets land here
                    requests.exceptions.ChunkedEncodingError) as error:  # and answers cut short
                if "timed out" in str(error).lower():
                    raise TimeoutError(f"{self.host} sent no byte for {self.settings.read_timeout:g} s after "
                                       f"{got} of {stop - start} bytes") from error
                raise ConnectionError(f"{self.host} dropped the connection after {got} of {stop - start} bytes") \
                    from error
        if got != stop - start:
            raise ConnectionError(f"short read: {got} of {stop - start} bytes at offset {start}")

    def _get(self, start: int, stop: int) -> bytes:
        """Bytes ``start..stop-1``, checked (:meth:`_answer`), in one piece."""
        return b"".join(self._answer(start, stop))

    def _retrying(self, action: Any, what: str, progressed: Any = None) -> Any:
        settings = self.settings

        def give_up(error: Exception, tries: int, seconds: float) -> SourceError:
            stalled = isinstance(error, TimeoutError)
            return Unreachable(
                f"{what} of {self.url} failed {tries} time{'s' if tries != 1 else ''} in {seconds:.0f} s "
                f"({type(error).__name__}: {error}); "
                + ("the server stalls: check the network or try later (timeouts: NWB_CASCADE_READ_TIMEOUT, "
                   "NWB_CASCADE_DEADLINE)" if stalled else
                   "check the network connection and that the server is up, then run again")
            )

        return retrying(action, f"{what} of {self.url}", attempts=settings.attempts, backoff=settings.backoff,
                        deadline=settings.deadline, permanent=lambda error: isinstance(error, SourceError),
                        give_up=give_up, progressed=progressed)

    # -- the cache -----------------------------------------------------------------------------

    def _length(self, index: int) -> int:
        return min(self.block_size, self.size - index * self.block_size)

    def _cached(self, index: int) -> bytes | None:
        if index in self._memory:
            self._memory.move_to_end(index)
            return self._memory[index]
        if self._folder is not None and (not self.fresh or index in self.fetched):
            path = self._folder / str(index)
            with contextlib.suppress(FileNotFoundError):
                data = path.read_bytes()
                if len(data) != self._length(index):  # damaged: never served
                    log.warning("dropping block %d of %s from the stream cache: %d bytes, not %d", index, self.url,
                                len(data), self._length(index))
                    path.unlink(missing_ok=True)
                    return None
                if index not in self.fetched:
                    self.from_cache.add(index)
                    self._check_pending(index, data, "the stream cache")
                self._remember(index, data)
                return data
        return None

    def _remember(self, index: int, data: bytes) -> None:
        self._memory[index] = data
        self._memory.move_to_end(index)
        while len(self._memory) > self._memory_blocks:
            self._memory.popitem(last=False)

    def _store(self, index: int, data: bytes) -> None:
        """Keep a block whose answer was checked (headers, length): in memory, and in the disk cache."""
        self._check_pending(index, data, "the server")
        self.fetched.add(index)
        self.from_cache.discard(index)
        self._remember(index, data)
        if self._folder is not None:
            try:
                with atomic_write(self._folder / str(index)) as partial:  # writers may race: each its own partial
                    partial.write_bytes(data)
            except OSError as error:  # a full disk: the cache is only a cache
                log.warning("cannot keep block %d of %s in the stream cache (%s)", index, self.url, error)

    def forget(self) -> int:
        """Drop every block this object fetched or read from the disk cache (from memory and disk); how many."""
        dropped = self.fetched | self.from_cache
        if self._folder is not None:
            for index in dropped:
                with contextlib.suppress(OSError):
                    (self._folder / str(index)).unlink(missing_ok=True)
        self._memory.clear()
        self._pending.clear()
        self.fetched, self.from_cache = set(), set()
        return len(dropped)

    # -- checks --------------------------------------------------------------------------------

    def _known(self, index: int) -> bytes | None:
        """Block ``index`` if it is known without a request (memory, this run's fetches, the cache)."""
        if index < 0 or index >= self.blocks:
            return None
        return self._cached(index)

    def _compare(self, index: int, offset: int, seen: bytes, where: str) -> bool:
        """Compare ``seen`` (bytes of block ``index`` from ``offset`` that an answer carried) with the block where
        it is known (True: compared); else keep them to compare when it arrives."""
        block = self._known(index)
        if block is None:
            self._pending.setdefault(index, []).append((offset, seen, where))
            return False
        if block[offset:offset + len(seen)] != seen:
            origin = "the stream cache" if index in self.from_cache else "the server"
            raise Inconsistent(self._disagree(index * self.block_size + offset, where, origin))
        return _distinctive(seen)  # bytes that repeat with a short period would look the same misplaced

    def _check_pending(self, index: int, data: bytes, where: str) -> None:
        for offset, seen, other in self._pending.pop(index, []):
            if data[offset:offset + len(seen)] != seen:
                raise Inconsistent(self._disagree(index * self.block_size + offset, other, where))

    def _disagree(self, position: int, first: str, second: str) -> str:
        return (f"{self.url}: two answers disagree on the bytes at offset {position} ({first} and {second}): one "
                f"of them came from the wrong place of the file (a faulty server, proxy or cache); the blocks of this "
                f"run are not trusted")

    def _witness(self, first: int, last: int) -> None:
        """Check an answer that could be compared with nothing: ask again for a part of it that does not repeat
        with a short period (which an answer misplaced by that period would repeat), and compare."""
        for index in range(first, last + 1):
            block = self._memory.get(index)
            if block is None:
                continue
            for offset in range(0, len(block), OVERLAP):
                window = block[offset:offset + OVERLAP]
                if _distinctive(window):
                    start = index * self.block_size + offset
                    again = self._retrying(lambda start=start, window=window: self._get(start, start + len(window)),
                                           f"checking bytes {start}-{start + len(window) - 1}")
                    if again != window:
                        raise Inconsistent(self._disagree(start, "the server", "the server asked again"))
                    return

    def _check_digest(self) -> None:
        """With every block of the file read, the whole file's SHA-256 against the one given (a DANDI digest)."""
        if self.sha256 is None or self._digest_checked or len(self.fetched | self.from_cache) < self.blocks:
            return
        self._digest_checked = True
        digest = hashlib.sha256()
        for index in range(self.blocks):
            block = self._cached(index)
            if block is None:  # gone from the cache meanwhile: cannot be told
                return
            digest.update(block)
        if digest.hexdigest() != self.sha256:
            raise Inconsistent(f"{self.url}: the file read (all {self.size} bytes) does not have the SHA-256 its "
                               f"archive gives ({digest.hexdigest()[:12]}... instead of {self.sha256[:12]}...); the "
                               "blocks of this run are not trusted")

    # -- fetching ------------------------------------------------------------------------------

    def _fetch(self, first: int, last: int) -> None:
        """Fetch blocks ``first..last`` (requests of at most :data:`REQUEST_BLOCKS` blocks) and cache them."""
        for piece in range(first, last + 1, REQUEST_BLOCKS):
            self._fetch_piece(piece, min(last, piece + REQUEST_BLOCKS - 1))
        self._check_digest()

    def _fetch_piece(self, first: int, last: int) -> None:
        """Fetch blocks ``first..last`` in one request; a try cut off keeps the blocks that arrived whole, and the
        next asks only for the rest."""
        received: set[int] = set()
        counted = [0]

        def progressed() -> bool:
            grew = len(received) > counted[0]
            counted[0] = len(received)
            return grew

        def attempt() -> None:
            start_block = next(index for index in range(first, last + 1) if index not in received)
            checked = self._receive(start_block, last, received)
            if not checked:
                self._witness(start_block, last)

        self._retrying(attempt, f"reading bytes {first * self.block_size}-"
                                f"{min(self.size, (last + 1) * self.block_size) - 1}", progressed)

    def _receive(self, first: int, last: int, received: set[int]) -> bool:
        """One request for blocks ``first..last`` and :data:`OVERLAP` bytes on either side; each block stored as
        soon as it is whole; whether the answer was compared with known bytes."""
        body_start, body_stop = first * self.block_size, min(self.size, (last + 1) * self.block_size)
        start, stop = max(0, body_start - OVERLAP), min(self.size, body_stop + OVERLAP)
        buffer = bytearray()
        position = start  # the file offset of buffer[0]
        checked = False
        for piece in self._answer(start, stop):
            self.bytes_fetched += len(piece)
            buffer += piece
            if position < body_start and position + len(buffer) >= body_start:  # the bytes before: the last block's end
                head = bytes(buffer[:body_start - position])
                checked |= self._compare(first - 1, self.block_size - len(head), head, "the server")
                del buffer[:body_start - position]
                position = body_start
            while body_start <= position < body_stop:
                index = position // self.block_size
                length = self._length(index)
                if len(buffer) < length:
                    break
                self._store(index, bytes(buffer[:length]))
                received.add(index)
                del buffer[:length]
                position += length
        if position == body_stop and buffer:  # the bytes after: the next block's start
            checked |= self._compare(last + 1, 0, bytes(buffer), "the server")
        return checked

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
        try:
            return self._readinto(buffer)
        except Exception as error:  # remembered: the reader above (HDF5, hdmf) may swallow it
            if self.failure is None:
                self.failure = _detached(error)
            raise

    def _readinto(self, buffer: Any) -> int:
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


@dataclass
class Attempt:
    """One try of :func:`read_once_more`: the remote files it opened, and whether it reads past the cache."""

    fresh: bool = False
    files: list[RemoteFile] = field(default_factory=list)

    @property
    def used_cache(self) -> int:
        """How many blocks it read from the disk cache."""
        return sum(len(remote.from_cache) for remote in self.files)

    def forget(self) -> int:
        """Drop every block it fetched or read from the cache; how many."""
        return sum(remote.forget() for remote in self.files)

    @property
    def failure(self) -> Exception | None:
        """The first error a read of its files met, also one that the reader (HDF5, hdmf) did not pass on."""
        return next((remote.failure for remote in self.files if remote.failure is not None), None)


def check_reads() -> None:
    """Raise the first error that a remote read of the current :func:`read_once_more` try met, even one that the
    reader swallowed (HDF5 and hdmf turn some into a missing value): call it before using what was read."""
    attempt = _ATTEMPT.get()
    if attempt is not None and attempt.failure is not None:
        raise attempt.failure


_ATTEMPT: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("nwb_cascade_stream_attempt", default=None)

T = TypeVar("T")


def read_once_more(action: Callable[[], T], what: str, keep: tuple[type[BaseException], ...] = ()) -> T:
    """Run ``action`` (which reads remote files through :class:`RemoteFile`); when it fails after reading any,
    drop every block it fetched or read from the stream cache and run it once more, reading from the server.

    A read or a parse that fails may have met a wrong answer of a server, or a cached block that is
    wrong: neither may outlive the run, nor be trusted by the next one.  Errors of the kinds in ``keep``
    (what no reading mends: the output, the model), answers no retry changes (404, refused access), a
    file that changed on the server during the run (the message says to run again), and a server that did not deliver after all its tries (:class:`Unreachable`: what did arrive is kept, so
    that a rerun goes on from there) are raised at once; the second try's error is raised as it is, its
    blocks dropped too.
    """
    first = Attempt()
    token = _ATTEMPT.set(first)
    try:
        result = action()
        check_reads()
        return result
    except keep:
        raise
    except Exception as error:
        cause = error if isinstance(error, SourceError) else source_error_in(error)
        if not first.files or isinstance(cause, (_Permanent, _Changed, Unreachable)):
            raise  # what no second reading mends; the checked blocks that did arrive stay cached
        cached = first.used_cache
        dropped = first.forget()
        log.warning("%s failed (%s: %s)%s; the %d block(s) it fetched or read from the stream cache are dropped, and "
                    "it is read once more from the server", what, type(error).__name__, str(error)[:300],
                    f" after reading {cached} block(s) from the stream cache" if cached else "", dropped)
    finally:
        _ATTEMPT.reset(token)
    second = Attempt(fresh=True)
    token = _ATTEMPT.set(second)
    try:
        result = action()
        check_reads()
    except BaseException:
        second.forget()
        raise
    finally:
        _ATTEMPT.reset(token)
    log.warning("%s succeeded when read again from the server%s", what,
                " (the stream cache had held blocks of the failed try)" if cached else "")
    return result


def _describe_folder(folder: Path, url: str, identity: Identity, block_size: int) -> None:
    """Write what a cache folder holds (for ``nwb-cascade cache info``), once."""
    description = folder / "source.json"
    if description.exists():
        return
    with contextlib.suppress(OSError), atomic_write(description) as partial:
        partial.write_text(json.dumps({"url": url, "size": identity.size, "etag": identity.etag,
                                       "last_modified": identity.last_modified, "block_size": block_size}))


@dataclass(frozen=True)
class CachedFile:
    """One file version in the stream cache: its URL, size, how many of its blocks and bytes are cached."""

    url: str
    size: int
    blocks: int
    bytes: int
    folder: Path


def cache_contents(folder: Path) -> list[CachedFile]:
    """What the stream cache ``folder`` holds, one entry per file version, largest first."""
    found = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not sub.is_dir():
            continue
        try:
            about = json.loads((sub / "source.json").read_text())
        except (OSError, ValueError):
            about = {}
        blocks = [entry for entry in sub.iterdir() if entry.name.isdigit()]
        found.append(CachedFile(str(about.get("url", "(unknown: written by an earlier version)")),
                                int(about.get("size", 0) or 0), len(blocks),
                                sum(entry.stat().st_size for entry in blocks), sub))
    return sorted(found, key=lambda entry: -entry.bytes)


def clear_cache(folder: Path) -> tuple[int, int]:
    """Empty the stream cache ``folder``; (file versions, bytes) removed."""
    contents = cache_contents(folder)
    for entry in contents:
        shutil.rmtree(entry.folder, ignore_errors=True)
    return len(contents), sum(entry.bytes for entry in contents)


def _detached(error: Exception) -> Exception:
    """A copy of ``error`` without its traceback: an error kept while HDF5 is half-way through opening a file would
    keep that file's objects alive until the interpreter ends, and HDF5 crashes closing them then."""
    try:
        return type(error)(str(error))
    except Exception:
        return SourceError(f"{type(error).__name__}: {error}")


def _distinctive(data: bytes) -> bool:
    """Whether ``data`` repeats with no period of up to half its length (or 32 bytes): the same bytes taken a
    little further on (a misplaced answer) would differ."""
    if len(data) < 2:
        return False
    return all(data[period:] != data[:-period] for period in range(1, min(32, len(data) // 2) + 1))


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
