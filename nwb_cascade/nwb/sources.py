"""Where NWB files come from: a local path, an http(s) URL or a DANDI asset, opened read-only.

A source is named by a string:

- a local path: ``session.nwb``;
- an http(s) URL of the file itself: ``https://dandiarchive.s3.amazonaws.com/blobs/...``;
- a DANDI asset: ``DANDI:000728/sub-.../file.nwb``, optionally with ``@VERSION`` at the end
  (``@0.240827.1809``, ``@draft``; default: the most recent published version, else the draft),
  ``dandi://DANDI/000728@draft/sub-.../file.nwb``,
  a DANDI web URL (``https://dandiarchive.org/dandiset/000728/draft/files?location=sub-.../file.nwb``)
  or an API URL (``https://api.dandiarchive.org/api/assets/<asset id>/download/``, also
  with ``dandisets/<id>/versions/<version>/`` before ``assets``): every form of :data:`DANDI_FORMS`,
  read by dandi's parser without the network (:func:`_parse_dandi`).

DANDI assets are resolved with the ``dandi`` client to their content URL (redirects
followed, query stripped, except for embargoed assets, whose signed URL needs it);
public assets need no token, embargoed ones read the user's ``DANDI_API_KEY``.  The API
is ``https://api.dandiarchive.org/api`` unless ``$NWB_CASCADE_DANDI_API_URL`` names another; an API that
cannot be reached is named in one line within seconds, before the dandi client's minute of retries.

Remote HDF5 files are streamed, never downloaded whole, by :class:`~nwb_cascade.nwb.stream.RemoteFile`
(block cache, timeouts, retries, the file's identity checked); NWB Zarr stores are read by hdmf-zarr.
Why a reader of this package's and not remfile, or fsspec's own ``blockcache`` file system: measured with
``benchmarks/streaming.py`` (100 ROIs × 30 min + a raw movie: 22.4 MB needed out of 153 MB), ``nwb-cascade
infer`` through this reader sent 1.02× the needed bytes in 23 requests cold and nothing warm; remfile read
1.19× cold, and 3.7 MB again with a warm disk cache (it learns the size with a GET that it aborts, which
still transfers megabytes); fsspec's ``blockcache`` read 1.09× cold and the same again on the next open,
and a failed fetch left a damaged block in its cache.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import functools
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import h5py
import requests

from ..common.cache import STREAMS, cache_folder
from ..common.names import is_partial
from ..common.retry import retrying
from . import filters  # noqa: F401  (registers hdf5plugin's filters before any file is opened)
from .origin import results_origin
from .stream import USER_AGENT, RemoteFile, Settings, SourceError, source_error_in

log = logging.getLogger(__name__)

DANDI_API_URL = "https://api.dandiarchive.org/api"

#: A URL of any scheme (``https://``, ``s3://``): never a local path.
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
#: A URL this package reads (streamed).
_HTTP_URL = re.compile(r"^https?://", re.IGNORECASE)
_DANDI_ID = r"(?P<dandiset>\d{6})"
_VERSION = r"(?:draft|\d+\.\d+\.\d+)"
#: This package's own form, ``DANDI:000728/<path>@<version>`` (also ``DANDI:000728@<version>/<path>``), which
#: dandi's parser does not read: rewritten to ``dandi://DANDI/000728@<version>/<path>`` for it.
_DANDI_REFERENCE = re.compile(
    rf"^(?P<instance>[a-z][\w-]*):{_DANDI_ID}(?:@(?P<version>{_VERSION}))?(?:/(?P<path>.+?))?"
    rf"(?:@(?P<path_version>{_VERSION}))?/?$",
    re.IGNORECASE,
)
#: An asset's API URL on a server that is not a DANDI instance dandi knows (a mirror, a test server), whose API
#: may sit under a path (``https://host/prefix/api``): read by this package, as dandi's parser needs the network
#: to learn what such a server is.
_DANDI_API = re.compile(
    rf"^(?P<api>https?://[^/]+(?:/[^?#]*?)?/api)/(?:dandisets/{_DANDI_ID}/versions/(?P<version>{_VERSION})/)?"
    r"assets/(?P<asset>[0-9a-fA-F-]{36})(?:/download)?/?$"
)
#: Host names of the DANDI web sites besides those dandi knows (older or alternative names of the archive's).
_DANDI_ALIASES = {"www.dandiarchive.org": "dandiarchive.org", "gui.dandiarchive.org": "dandiarchive.org"}

#: The forms of a DANDI address that nwb-cascade reads, for messages (``<version>``: ``draft`` or
#: ``0.240827.1809``; default: the most recent published version, else the draft).
DANDI_FORMS = (
    "DANDI:000728/<asset path>[@<version>]",
    "DANDI:000728[/<version>] (a whole dandiset)",
    "dandi://DANDI/000728[@<version>]/<asset path>",
    "https://dandiarchive.org/dandiset/000728[/<version>][/files?location=<asset path>]",
    "https://api.dandiarchive.org/api/assets/<asset id>/download/",
    "https://api.dandiarchive.org/api/dandisets/000728/versions/<version>/assets/<asset id>/",
)


class DandiAddressError(SourceError, ValueError):
    """A string that looks like a DANDI address (``DANDI:...``, ``dandi://...``, a dandiarchive.org URL) but is
    none that can be read; the message names the forms that are."""


@dataclass(frozen=True)
class Source:
    """One NWB file, local or remote, with where it came from.

    Attributes
    ----------
    text
        The string the user gave.
    path
        The local file (local sources).
    url
        The URL the bytes are read from (remote sources).
    dandiset_id, dandiset_version, asset_id, asset_path
        The DANDI asset, for DANDI sources.
    size
        Size in bytes, when known before opening.
    embargoed
        Whether the asset needed a token.
    sha256
        The file's SHA-256, where its archive gives one (DANDI assets): checked when a run reads
        the whole file.
    """

    text: str
    path: Path | None = None
    url: str | None = None
    dandiset_id: str | None = None
    dandiset_version: str | None = None
    asset_id: str | None = None
    asset_path: str | None = None
    size: int | None = None
    embargoed: bool = False
    sha256: str | None = None

    @property
    def remote(self) -> bool:
        return self.path is None

    @property
    def zarr(self) -> bool:
        """Whether the source is an NWB Zarr store (a ``.nwb.zarr`` folder or URL), not an HDF5 file."""
        if self.path is not None:
            return _is_zarr_store(self.path)
        return self.name.lower().rstrip("/").endswith(".zarr")

    @property
    def name(self) -> str:
        """The file name: of the asset path, the URL path or the local path."""
        if self.asset_path:
            return Path(self.asset_path).name
        if self.path is not None:
            return self.path.name
        return _url_file_name(self.url or "")

    def provenance(self) -> dict[str, str]:
        """The provenance fields of the results (``source_url`` and, for DANDI, the dandiset and asset)."""
        fields = {
            "source_url": str(self.path.resolve()) if self.path is not None else self.url,
            "dandiset_id": self.dandiset_id,
            "dandiset_version": self.dandiset_version,
            "asset_id": self.asset_id,
        }
        return {key: value for key, value in fields.items() if value is not None}


@dataclass(frozen=True)
class _DandiReference:
    api_url: str
    dandiset_id: str | None = None
    version: str | None = None
    path: str | None = None
    asset_id: str | None = None


def dandi_api_url() -> str:
    """The DANDI API in use: ``$NWB_CASCADE_DANDI_API_URL`` or the public archive's."""
    return os.environ.get("NWB_CASCADE_DANDI_API_URL", DANDI_API_URL).rstrip("/")


def _parse_dandi(text: str) -> _DandiReference | None:
    """The DANDI asset (or dandiset) a string names, or None when it names none; no network is used.

    DANDI addresses are read by dandi's own parser (:func:`dandi.dandiarchive.parse_dandi_url`), run offline:
    this package's ``DANDI:000728/<path>@<version>`` form is first rewritten into dandi's ``dandi://`` form, and
    the forms that dandi resolves by following redirects (``gui.dandiarchive.org``, ``identifiers.org``) are
    rewritten without it.  An asset API URL on a server that dandi does not know (a mirror, a test server) is
    read by this package.  The public archive's addresses are looked up at :func:`dandi_api_url`.

    Raises
    ------
    DandiAddressError
        For a string that looks like a DANDI address but is none that can be read.
    """
    text = text.strip()
    if not _looks_like_dandi(text):
        if match := _DANDI_API.match(text):
            return _DandiReference(match["api"], match["dandiset"], match["version"], None, match["asset"].lower())
        return None
    try:
        parsed = _parse_offline(_dandi_form(text))
        return _reference_of(text, parsed)
    except DandiAddressError:
        raise
    except Exception as error:  # dandi's UnknownURLError, or an unknown instance
        reason = str(error).splitlines()[0].strip() if str(error).strip() else type(error).__name__
        raise DandiAddressError(_address_message(text, reason)) from None


def _address_message(text: str, reason: str) -> str:
    return (f"{text!r} is not a DANDI address that can be read ({reason.rstrip('.')}); the forms that work: "
            + "; ".join(DANDI_FORMS))


@functools.cache
def _dandi_hosts() -> frozenset[str]:
    """The host names of the DANDI instances dandi knows (web sites and APIs), but for its local test instance."""
    from dandi.consts import known_instances

    return frozenset({urlparse(url).hostname or "" for name, instance in known_instances.items()
                      if "local" not in name for url in instance.urls()} | set(_DANDI_ALIASES)) - {""}


def _looks_like_dandi(text: str) -> bool:
    """Whether ``text`` is meant as a DANDI address: ``DANDI:...`` (or another instance's name), ``dandi://...``,
    or a URL of a DANDI instance's web site or API, or of identifiers.org's ``DANDI:`` ids."""
    lowered = text.lower()
    if lowered.startswith("dandi://"):
        return True
    if lowered.startswith(("http://", "https://")):
        url = urlparse(lowered)
        return (url.hostname or "") in _dandi_hosts() or (url.hostname == "identifiers.org"
                                                          and url.path.startswith("/dandi:"))
    prefix, colon, _ = text.partition(":")
    if not colon or not re.fullmatch(r"[A-Za-z][\w-]*", prefix):
        return False
    from dandi.consts import known_instances

    return prefix.lower() in known_instances


def _dandi_form(text: str) -> str:
    """``text`` in a form that dandi's parser reads without the network."""
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        url = urlparse(text)
        host = (url.hostname or "").lower()
        if host == "identifiers.org":  # a redirect to the dandiset's page: its id is in the path
            return _dandi_form(unquote(url.path).lstrip("/"))
        host = _DANDI_ALIASES.get(host, host) + (f":{url.port}" if url.port else "")
        # the old web site's pages are fragments (https://dandiarchive.org/#/dandiset/...), query included
        page, query = (f"/#{url.fragment.partition('?')[0]}", url.fragment.partition("?")[2]) if url.fragment \
            else (url.path, url.query)
        if "/dandiset/" in page and not page.startswith("/api/"):
            # the web site's: of its query, only the location (raw: a literal "+" in an asset path stays "+")
            fields = dict(part.partition("=")[::2] for part in query.split("&") if part)
            query = f"location={fields['location']}" if fields.get("location") else ""
        return f"https://{host}{page}" + (f"?{query}" if query else "")
    if lowered.startswith("dandi://"):
        return text
    prefix, _, rest = text.partition(":")
    if re.fullmatch(rf"\d{{6}}(?:/{_VERSION})?", rest, re.IGNORECASE):  # dandi's own DANDI:000728[/<version>]
        return f"{prefix.upper()}:{rest.lower() if rest.lower().endswith('draft') else rest}"
    match = _DANDI_REFERENCE.match(text)
    if match is None:
        raise DandiAddressError(_address_message(text, f"after {prefix}: a dandiset id of six digits"))
    version = match["version"] or match["path_version"]
    return (f"dandi://{match['instance'].upper()}/{match['dandiset']}" + (f"@{version.lower()}" if version else "")
            + (f"/{match['path']}" if match["path"] else ""))


@functools.cache
def _offline_parser() -> Any:
    """dandi's URL parser, with its network look-ups (server information, redirects) left out."""
    from dandi import dandiarchive
    from dandi.exceptions import UnknownURLError

    def follow_redirect(url: str) -> str:
        raise UnknownURLError("not a form that is read without following redirects over the network")

    return type("OfflineParser", (dandiarchive._dandi_url_parser,), {"follow_redirect": staticmethod(follow_redirect)})


def _offline_instance(instance: Any) -> Any:
    """dandi's ``get_instance`` without its request for the server's information: a DANDI instance dandi knows,
    by its name or one of its URLs."""
    from dandi.consts import DandiInstance, known_instances, known_instances_rev
    from dandi.exceptions import UnknownURLError

    if isinstance(instance, DandiInstance):
        return instance
    if instance.lower().startswith(("http://", "https://")):
        name = known_instances_rev.get(instance.rstrip("/"))
        if name is None:
            raise UnknownURLError(f"{instance} is not a DANDI archive")
        return known_instances[name]
    return known_instances[instance]  # a KeyError: dandi's parser says the instance is unknown


_PARSE_LOCK = threading.Lock()


def _parse_offline(text: str) -> Any:
    """dandi's ``parse_dandi_url`` of ``text``, offline (dandi asks each server for its information otherwise)."""
    from dandi import dandiarchive

    parser = _offline_parser()
    with _PARSE_LOCK:  # dandi's module-level get_instance is swapped for the offline one while parsing
        saved = dandiarchive.get_instance
        dandiarchive.get_instance = _offline_instance
        try:
            return parser.parse(text)
        finally:
            dandiarchive.get_instance = saved


def _reference_of(text: str, parsed: Any) -> _DandiReference:
    """The reference a ``ParsedDandiURL`` of dandi's names; the public archive's API is :func:`dandi_api_url`."""
    from dandi import dandiarchive as kinds

    instance = parsed.instance
    api_url = dandi_api_url() if instance.name == "dandi" else instance.api.rstrip("/")
    dandiset, version = parsed.dandiset_id, parsed.version_id
    if isinstance(parsed, kinds.AssetGlobURL):
        raise DandiAddressError(f"{text!r} names the assets matching a pattern, not one file: give the dandiset and "
                                f"the pattern, e.g. `nwb-cascade batch DANDI:{dandiset} --glob '{parsed.path}'`")
    if isinstance(parsed, kinds.AssetZarrEntryURL):
        raise DandiAddressError(f"{text!r} names {parsed.zarr_subpath!r} inside the Zarr asset {parsed.asset_path!r}:"
                                f" give the asset itself (DANDI:{dandiset}/{parsed.asset_path})")
    if isinstance(parsed, (kinds.AssetItemURL, kinds.AssetFolderURL, kinds.AssetPathPrefixURL)):
        # a web URL's location is a folder to dandi (its site shows folders); to this package, the asset at it
        path = parsed.path.strip("/")
        return _DandiReference(api_url, dandiset, version, path or None)
    if isinstance(parsed, (kinds.AssetIDURL, kinds.BaseAssetIDURL)):
        if not re.fullmatch(r"[0-9a-fA-F-]{36}", parsed.asset_id):
            raise DandiAddressError(_address_message(text, f"{parsed.asset_id!r} is not an asset id"))
        return _DandiReference(api_url, dandiset, version, None, parsed.asset_id.lower())
    return _DandiReference(api_url, dandiset, version)


def is_dandiset(text: str) -> bool:
    """Whether ``text`` names a whole dandiset (``DANDI:000728``, optionally ``/VERSION`` or ``@VERSION``, or its web
    URL), not one asset."""
    reference = _parse_dandi(text)
    return reference is not None and reference.path is None and reference.asset_id is None


#: Tries of the first request to a DANDI API (``/info/``), which tells an archive that cannot be reached (no network,
#: a name that does not resolve, a refused connection) in a few seconds, before dandi's client retries for a minute.
REACH_ATTEMPTS = 3
REACH_BACKOFF = 0.5
_REACHED: set[str] = set()


def _dandi_client(api_url: str) -> Any:
    """A dandi API client, authenticated when ``DANDI_API_KEY`` is set, for an API that answers.

    The API is asked for its ``/info/`` first (a few tries, a few seconds: :data:`REACH_ATTEMPTS`), once per
    process; the client is made without dandi's own look-up of the server, and its requests time out (the
    connect and read timeouts of :class:`~nwb_cascade.nwb.stream.Settings`).

    Raises
    ------
    SourceError
        When the API cannot be reached: one line, with what to do.
    """
    os.environ.setdefault("DANDI_NO_ET", "1")  # the dandi client's version check phones home; not ours to make
    from dandi.consts import DandiInstance, known_instances, known_instances_rev

    settings = Settings.from_environment()
    _reach(api_url, settings)
    name = known_instances_rev.get(api_url)
    instance = known_instances[name] if name else DandiInstance(name=urlparse(api_url).netloc, gui=None, api=api_url)
    token = os.environ.get("DANDI_API_KEY") or None
    try:
        return _client_class()(dandi_instance=instance, token=token,
                               timeout=(settings.connect_timeout, settings.read_timeout))
    except Exception as error:
        raise SourceError(_dandi_message(error, f"cannot reach the DANDI API at {api_url}")) from error


@functools.cache
def _client_class() -> type:
    """dandi's ``DandiAPIClient`` whose requests time out (dandi's wait for an answer for ever)."""
    from dandi.dandiapi import DandiAPIClient

    class Client(DandiAPIClient):
        def __init__(self, *args: Any, timeout: tuple[float, float], **kwargs: Any) -> None:
            self._timeout = timeout  # before dandi's __init__, whose authentication makes a request
            super().__init__(*args, **kwargs)

        def request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self._timeout)
            return super().request(*args, **kwargs)

    return Client


def _reach(api_url: str, settings: Settings) -> None:
    """Ask the API at ``api_url`` for its ``/info/``: any answer but a server error will do.

    Raises
    ------
    SourceError
        When no answer came after :data:`REACH_ATTEMPTS` tries (within the connect timeout, waits included).
    """
    if api_url in _REACHED:
        return

    def ask() -> None:
        response = requests.get(f"{api_url}/info/", timeout=(settings.connect_timeout, settings.read_timeout),
                                headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        if response.status_code >= 500:
            response.raise_for_status()

    def give_up(error: Exception, tries: int, spent: float) -> SourceError:
        return SourceError(
            f"cannot reach the DANDI archive at {api_url} ({_network_reason(error, settings)}; {tries} "
            f"tr{'y' if tries == 1 else 'ies'} in {spent:.1f} s): check the network connection and try again; "
            "an archive elsewhere (a mirror, a local server) is named by $NWB_CASCADE_DANDI_API_URL")

    retrying(ask, f"reaching the DANDI API at {api_url}", attempts=REACH_ATTEMPTS, backoff=REACH_BACKOFF,
             deadline=settings.connect_timeout, give_up=give_up, level=logging.INFO,
             permanent=lambda error: not isinstance(error, requests.RequestException))
    _REACHED.add(api_url)


def _network_reason(error: Exception, settings: Settings) -> str:
    """Why a request got no answer, in a few words."""
    text = str(error)
    host = urlparse(getattr(getattr(error, "request", None), "url", None) or "").hostname
    if isinstance(error, requests.Timeout):
        return f"no answer within {settings.connect_timeout:g} s"
    if "NameResolutionError" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return f"the name {host or 'of its server'} does not resolve: no network, or no DNS"
    if "Connection refused" in text:
        return "the connection was refused: nothing listens there"
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"the server answered {error.response.status_code} {error.response.reason}"
    return f"{type(error).__name__}: {text}"


def _dandi_message(error: Exception, what: str) -> str:
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status in (401, 403):
        hint = ("it is embargoed or private: set DANDI_API_KEY to an API key of an account with access"
                if not os.environ.get("DANDI_API_KEY") else "the DANDI_API_KEY given has no access to it")
        return f"{what}: {hint}"
    if status == 404 or type(error).__name__ == "NotFoundError":
        return f"{what}: not found ({error}); check the dandiset id, version and asset path (nwb-cascade dandi ls)"
    return f"{what}: {type(error).__name__}: {error}"


def resolve(text: str | Path) -> Source:
    """The :class:`Source` a string names; DANDI assets are looked up (one API call or three).

    Raises
    ------
    SourceError
        For a DANDI reference that names no asset, or an asset that does not exist or needs
        a token.
    FileNotFoundError
        For a local path that does not exist.
    """
    if isinstance(text, Path):
        return _local(text)
    reference = _parse_dandi(text)
    if reference is not None:
        return _resolve_dandi(text, reference)
    if _HTTP_URL.match(text):
        return Source(text=text, url=text)
    if _URL.match(text):
        raise SourceError(f"{text}: not a source nwb-cascade reads: a local path, an http(s) URL or a DANDI asset")
    return _local(Path(text))


def _local(path: Path) -> Source:
    if not path.is_file() and not _is_zarr_store(path):
        raise FileNotFoundError(f"{path}: no such file" + ("" if not path.is_dir() else " (it is a folder)"))
    return Source(text=str(path), path=path)


def _resolve_dandi(text: str, reference: _DandiReference) -> Source:
    if reference.path is None and reference.asset_id is None:
        raise SourceError(
            f"{text} names a dandiset, not one file: add the asset path (DANDI:{reference.dandiset_id}/sub-.../"
            f"file.nwb); `nwb-cascade dandi ls DANDI:{reference.dandiset_id}` lists them"
        )
    client = _dandi_client(reference.api_url)
    what = f"DANDI asset {text}"
    try:
        if reference.dandiset_id is None:
            asset = client.get_asset(reference.asset_id)
            dandiset_id = version = None
        else:
            dandiset = client.get_dandiset(reference.dandiset_id, reference.version, lazy=False)
            asset = (dandiset.get_asset(reference.asset_id) if reference.asset_id
                     else dandiset.get_asset_by_path(reference.path))
            dandiset_id, version = dandiset.identifier, dandiset.version_id
        embargoed = bool(client.session.headers.get("Authorization")) and _is_embargoed(client, dandiset_id)
        url = asset.get_content_url(follow_redirects=True, strip_query=not embargoed)
        sha256 = _sha256_of(asset)
    except SourceError:
        raise
    except Exception as error:
        raise SourceError(_dandi_message(error, what)) from error
    log.info("%s -> %s", text, url)
    return Source(text=text, url=url, dandiset_id=dandiset_id, dandiset_version=version, asset_id=asset.identifier,
                  asset_path=asset.path, size=asset.size, embargoed=embargoed, sha256=sha256)


def _sha256_of(asset: Any) -> str | None:
    """The SHA-256 the archive computed for an asset (its metadata's ``dandi:sha2-256``), where it has one."""
    try:
        digest = asset.get_raw_digest("dandi:sha2-256")
    except Exception:  # not computed yet (new assets), or Zarr: nothing to check against
        return None
    return digest if isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) else None


def _is_embargoed(client: Any, dandiset_id: str | None) -> bool:
    if dandiset_id is None:
        return True  # unknown: keep the signed query
    data = client.get(f"/dandisets/{dandiset_id}/")
    return data.get("embargo_status", "OPEN") != "OPEN"


#: Neurodata types in a DANDI asset's ``variableMeasured`` that mean it holds ROI traces.
TRACE_TYPES = ("PlaneSegmentation", "RoiResponseSeries")


@dataclass(frozen=True)
class AssetInfo:
    """One asset of a dandiset, as ``dandi ls`` lists it, with what its DANDI metadata says it measured.

    ``variables`` are the neurodata types of the asset's ``variableMeasured`` (dandi computes them
    from the file at upload; empty when the metadata does not say).
    """

    path: str
    size: int
    asset_id: str
    modified: str = ""
    reference: str = field(default="", compare=False)
    variables: tuple[str, ...] = field(default=(), compare=False)

    @property
    def has_traces(self) -> bool | None:
        """Whether the metadata says the asset holds ROI traces (a segmentation); None when it does not say."""
        if not self.variables:
            return None
        return any(kind in self.variables for kind in TRACE_TYPES)

    def without_traces_reason(self) -> str | None:
        """Why a run can pass over this asset without opening it, or None."""
        if self.has_traces is not False:
            return None
        return ("no calcium traces: its DANDI metadata lists no ROI segmentation (measured: "
                + ", ".join(self.variables) + "); a raw movie or behaviour-only file")


def list_assets(dandiset: str, glob: str | None = None) -> list[AssetInfo]:
    """The NWB assets of a dandiset (``DANDI:000728``, ``000728`` or its web URL, optionally with a version),
    sorted by path, whose paths match ``glob`` (fnmatch, ``*`` crosses ``/``; default ``*.nwb`` in any case),
    with their DANDI metadata's measured variables (one listing, metadata included)."""
    text = f"DANDI:{dandiset}" if re.fullmatch(rf"\d{{6}}(?:[@/]{_VERSION})?", dandiset.strip()) else dandiset
    reference = _parse_dandi(text)
    if reference is None or reference.path is not None or reference.asset_id is not None:
        raise DandiAddressError(f"{dandiset!r} is not a dandiset (expected DANDI:000728, optionally /VERSION or "
                                f"@VERSION, or its dandiarchive.org URL)")
    client = _dandi_client(reference.api_url)
    pattern = glob or "*.nwb"
    try:
        remote = client.get_dandiset(reference.dandiset_id, reference.version, lazy=False)
        version = remote.version_id
        rows = [row for row in client.paginate(f"{remote.version_api_path}assets/",
                                               params={"order": "path", "metadata": "true"})
                if fnmatch.fnmatch(row["path"] if glob else row["path"].lower(), pattern)]
    except Exception as error:
        raise SourceError(_dandi_message(error, f"dandiset {dandiset}")) from error
    return [AssetInfo(row["path"], int(row["size"]), row["asset_id"], str(row.get("modified", "")),
                      f"DANDI:{reference.dandiset_id}/{row['path']}@{version}", _measured(row.get("metadata")))
            for row in rows]


def _measured(metadata: dict | None) -> tuple[str, ...]:
    """The neurodata types of an asset metadata's ``variableMeasured``."""
    values = (metadata or {}).get("variableMeasured") or []
    return tuple(str(item.get("value", "")) if isinstance(item, dict) else str(item) for item in values)


def expand_sources(items: Sequence[str | Path], glob: str | None = None,
                   without_traces: dict[str, str] | None = None, passed_over: dict[str, str] | None = None,
                   identities: dict[str, str] | None = None) -> list[str]:
    """The NWB files that ``items`` name, one string per file.

    Local files and URLs stay as they are; local folders become their NWB files (``.nwb``, in any case:
    ``.NWB``, ``.Nwb``) and NWB Zarr stores (recursive, sorted, symbolic links followed, each folder
    searched once); a whole dandiset (``DANDI:000728``, optionally ``@VERSION``) becomes one
    ``DANDI:000728/<asset path>@<version>`` per NWB asset matching ``glob`` (``glob`` filters folder
    contents too, matched against paths relative to the folder).  Assets whose DANDI metadata says they
    hold no ROI traces are listed too, with the reason put into ``without_traces`` (when given), so
    that a batch can record them without running them; the assets' ids go into ``identities``.

    What is not a session is passed over, with the reason put into ``passed_over``: files that
    nwb-cascade wrote (results computed from another file, partial outputs of interrupted runs),
    hidden files in folders (``._x.nwb`` of macOS, temporary files), symbolic-link loops and broken
    links.
    """
    expanded: list[str] = []
    skipped: dict[str, str] = {} if passed_over is None else passed_over
    for item in items:
        text = str(item)
        if is_dandiset(text):
            for asset in list_assets(text, glob):
                expanded.append(asset.reference)
                if identities is not None:
                    identities[asset.reference] = f"asset={asset.asset_id}"
                reason = asset.without_traces_reason()
                if reason and without_traces is not None:
                    without_traces[asset.reference] = reason
        elif not is_local(text):
            expanded.append(text)
        elif _is_folder(Path(text)) and not _is_zarr_store(Path(text)):
            for path in _nwb_files(Path(text), skipped):
                if glob is None or fnmatch.fnmatch(path.relative_to(text).as_posix(), glob):
                    reason = _not_a_session(path, in_folder=True)
                    if reason is None:
                        expanded.append(str(path))
                    else:
                        skipped[str(path)] = reason
        else:
            reason = _not_a_session(Path(text), in_folder=False)
            if reason is None:
                expanded.append(text)
            else:
                skipped[text] = reason
    for path, reason in skipped.items():
        log.warning("not taken as a source: %s: %s", path, reason)
    return list(dict.fromkeys(expanded))


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a symbolic-link loop, on Pythons that raise for it
        return False


def _is_nwb_name(name: str) -> bool:
    return name.lower().endswith((".nwb", ".nwb.zarr"))


def _nwb_files(folder: Path, skipped: dict[str, str]) -> list[Path]:
    """The NWB files and stores under ``folder``, sorted; each folder searched once (a link back to a folder
    already searched is noted in ``skipped``, never followed round and round)."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            info = current.stat()
        except OSError as error:
            skipped[str(current)] = _unreadable(current, error)
            continue
        if (info.st_dev, info.st_ino) in seen:
            skipped[str(current)] = "a folder already searched (a symbolic link back into it): not searched again"
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            entries = sorted(os.scandir(current), key=lambda entry: entry.name)
        except OSError as error:
            skipped[str(current)] = _unreadable(current, error)
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                is_folder = entry.is_dir()
            except OSError as error:
                if _is_nwb_name(entry.name):
                    skipped[str(path)] = _unreadable(path, error)
                continue
            if is_folder and not _is_zarr_store(path):
                pending.append(path)
            elif _is_nwb_name(entry.name):
                found.append(path)
    return sorted(found)


def _unreadable(path: Path, error: OSError | None) -> str:
    """Why ``path`` cannot be read: a symbolic-link loop, a broken link, or the error."""
    try:
        os.stat(path)
    except OSError as failure:
        error = failure
    if error is not None and error.errno == errno.ELOOP:
        return f"a symbolic-link loop ({path} -> {os.readlink(path) if path.is_symlink() else '...'})"
    if path.is_symlink() and (error is None or error.errno == errno.ENOENT):
        return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
    return f"cannot be read ({error.strerror if error is not None else 'unknown error'})"


def _not_a_session(path: Path, *, in_folder: bool) -> str | None:
    """Why the local ``path`` is not a session to run on, or None when it is one (or may be: a file that cannot be
    opened is left for its run to name the problem)."""
    try:
        path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP or path.is_symlink():
            return _unreadable(path, error)
        return None  # missing: its run says so
    if is_partial(path.name):
        return "a partial output of an interrupted nwb-cascade run (removed by the next run for its output)"
    if in_folder and path.name.startswith("."):
        return "a hidden file (temporary files, macOS's ._ files); name it on its own to run on it"
    if path.is_file():
        origin = results_origin(path)
        if origin is not None and origin.derived:
            made_from = f" computed from {origin.source_url}" if origin.source_url else ""
            return f"an nwb-cascade output (results{made_from}), not a session"
    return None


def identify(source: Source, *, checksum: bool = False) -> str:
    """What tells this version of ``source`` from another, as ``key=value`` words.

    A local file: its size and modification time (``size=N mtime_ns=T``), with its SHA-256 when
    ``checksum`` (reads the whole file); a DANDI asset: its asset id (an asset's content never changes
    under one id); a URL: its ``ETag``, else its ``Last-Modified`` and size (one HEAD request).
    """
    if not source.remote:
        info = source.path.stat()
        text = f"size={info.st_size} mtime_ns={info.st_mtime_ns}"
        if checksum and source.path.is_file():
            digest = hashlib.sha256()
            with open(source.path, "rb") as handle:
                while piece := handle.read(1 << 22):
                    digest.update(piece)
            text += f" sha256={digest.hexdigest()}"
        return text
    if source.asset_id:
        return f"asset={source.asset_id}"
    remote = RemoteFile(source.url, cache=None)
    try:
        identity = remote.identity
    finally:
        remote.close()
    if identity.etag:
        return f"etag={identity.etag.replace(' ', '_')}"
    modified = f" last_modified={identity.last_modified.replace(' ', '_')}" if identity.last_modified else ""
    return f"size={identity.size}{modified}"


def same_version(recorded: str, current: str) -> bool:
    """Whether two :func:`identify` texts name the same version: by SHA-256 (and size) where both have one, else by
    every other word both have; an empty text (not recorded) matches anything."""
    old, new = (dict(word.partition("=")[::2] for word in text.split()) for text in (recorded, current))
    if not old or not new:
        return True
    if "sha256" in old and "sha256" in new:
        return old["sha256"] == new["sha256"] and old.get("size") == new.get("size")
    shared = (set(old) & set(new)) - {"sha256"}
    return bool(shared) and all(old[key] == new[key] for key in shared)


def _is_zarr_store(path: Path) -> bool:
    """Whether a folder is an NWB Zarr store (``.nwb.zarr``, or a folder with Zarr's group metadata)."""
    return path.is_dir() and (path.name.lower().endswith(".zarr") or (path / ".zgroup").is_file()
                              or (path / "zarr.json").is_file())


#: File-name endings of NWB files and stores, longest first: what a default output name replaces.
NWB_ENDINGS = (".nwb.lindi.json", ".nwb.lindi.tar", ".nwb.zarr", ".lindi.json", ".lindi.tar", ".nwb", ".zarr")


def file_name(source: str | Path | Source) -> str:
    """The file name a source names: of its DANDI asset path, its URL path or its local path."""
    if isinstance(source, Source):
        return source.name
    text = str(source)
    reference = _parse_dandi(text)
    if reference is not None and reference.path:
        return Path(reference.path).name
    if _URL.match(text):
        return _url_file_name(text)
    return Path(text).name


def stem(name: str) -> str:
    """A file name without its NWB ending (``.nwb``, ``.nwb.zarr``, ``.nwb.lindi.json``...)."""
    lowered = name.lower()
    ending = next((ending for ending in NWB_ENDINGS if lowered.endswith(ending)), "")
    return name[:len(name) - len(ending)] if ending else name


def is_local(source: str | Path | Source) -> bool:
    """Whether ``source`` names a local file or folder, not a URL (of any scheme) or a DANDI asset or dandiset; no
    network is used.  The one place that tells local from remote sources."""
    if isinstance(source, Source):
        return not source.remote
    if isinstance(source, Path):
        return True
    return not _URL.match(source) and not is_dandi(source)


def is_dandi(text: str | Path) -> bool:
    """Whether ``text`` names, or is meant to name, a DANDI asset or dandiset (in any form :func:`resolve` reads;
    a malformed one is refused by :func:`resolve`); no network is used."""
    if isinstance(text, Path):
        return False
    try:
        return _parse_dandi(text) is not None
    except DandiAddressError:
        return True


def _url_file_name(url: str) -> str:
    """The file name at the end of a URL's path (``remote.nwb`` when it has none)."""
    return Path(unquote(urlparse(url).path)).name or "remote.nwb"


def stream_cache_dir() -> Path:
    """The on-disk block cache of streamed files: ``streams/`` in the package cache folder."""
    return cache_folder(STREAMS)


@contextlib.contextmanager
def open_remote(source: Source, *, cache: bool = True) -> Iterator[h5py.File]:
    """Open a remote source read-only as an h5py file through :class:`RemoteFile`."""
    remote = RemoteFile(source.url, cache=stream_cache_dir() if cache else None, sha256=source.sha256)
    try:
        try:
            handle = h5py.File(remote, "r")
        except OSError as error:
            cause = source_error_in(error)
            if cause is not None:
                raise cause from error
            raise SourceError(f"{source.text} is not a readable HDF5 (NWB) file ({error})") from error
        try:
            yield handle
        finally:
            with contextlib.suppress(Exception):
                handle.close()
    finally:
        remote.close()
