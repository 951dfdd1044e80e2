"""Downloading one file over HTTP(S): resumable, verified, retried.

Used for model zips and the ground-truth archive.  A transfer goes to
``DEST.part``; a broken transfer resumes from there with a ``Range`` request
(or starts over when the server ignores ranges), and the file is renamed to
``DEST`` only after its size and checksum were verified.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from ..common.retry import retrying
from .errors import DownloadError

log = logging.getLogger(__name__)

_BLOCK = 1 << 20
USER_AGENT = "nwb-cascade"


def sha256_of(path: str | Path) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, resuming and retrying, and verify it.

    Parameters
    ----------
    url
        http(s) address of the file.
    dest
        Where the complete file goes.
    sha256, size
        Expected checksum and size in bytes, when known; the server's
        ``Content-Length`` is always checked.
    retries
        Attempts after the first one; waits grow as ``backoff * 2**attempt`` seconds.
    timeout
        Seconds without data before an attempt counts as broken.
    progress
        Show a progress bar.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    DownloadError
        When every attempt failed (offline, server errors, not found) or the
        file does not match its expected size or checksum.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    def permanent(error: Exception) -> bool:
        return isinstance(error, urllib.error.HTTPError) and error.code in (401, 403, 404, 410)

    def give_up(error: Exception, tries: int, seconds: float) -> DownloadError:
        if permanent(error):
            return DownloadError(f"{url}: the server answered {error.code} {error.reason}; the link is wrong or gone")
        kept = (f" The partial file {part} ({part.stat().st_size} bytes) is kept and the next attempt resumes it."
                if part.exists() and part.stat().st_size else "")
        return DownloadError(
            f"could not download {url} after {tries} attempts ({error}). Check the network connection; offline, "
            f"fetch the file on another machine and pass its local path instead.{kept}"
        )

    try:
        retrying(lambda: _transfer(url, part, timeout=timeout, progress=progress), f"download of {url}",
                 attempts=retries + 1, backoff=backoff, permanent=permanent, give_up=give_up)
    except urllib.error.HTTPError as error:  # permanent: raised at once
        raise give_up(error, 1, 0.0) from error

    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink()
        raise DownloadError(f"{url}: got {actual_size} bytes, expected {size}; the partial file was removed, try again")
    if sha256 is not None:
        actual = sha256_of(part)
        if actual != sha256.lower():
            part.unlink()
            raise DownloadError(
                f"{url}: SHA-256 {actual} does not match the expected {sha256}; the file was removed. "
                "The server may serve a different version: try again or check the registry entry."
            )
    os.replace(part, dest)
    return dest


def _transfer(url: str, part: Path, *, timeout: float, progress: bool) -> None:
    """One attempt: append to ``part`` from where it ends; raise on a short or broken transfer."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to fetch: the part file is complete... or stale
            part.unlink()
        raise
    with response:
        if have and response.status != 206:
            log.info("%s ignores range requests: starting over", url)
            have = 0
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        with open(part, mode) as handle, tqdm(
            total=expected, initial=have, unit="B", unit_scale=True, disable=not progress, desc=part.name[:-5]
        ) as bar:
            for block in iter(lambda: response.read(_BLOCK), b""):
                handle.write(block)
                bar.update(len(block))
    got = part.stat().st_size
    if expected is not None and got != expected:
        raise http.client.IncompleteRead(b"", expected - got)
