"""DANDI addresses as users paste them, read by dandi's parser without the network; one line for a malformed one;
an archive that cannot be reached named in one line, in seconds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from nwb_cascade.nwb.sources import (DANDI_API_URL, DandiAddressError, SourceError, _parse_dandi, file_name,
                                     is_dandiset, is_local, list_assets, resolve)

from ..http_server import unused_port_url

ASSET = "a5a1d5f8-3c12-4c7e-8b51-4e3e4f0b7c11"
FILE = "sub-1/sub-1_ses-2_behavior+image+ophys.nwb"

#: (address, (dandiset, version, asset path, asset id)), all on the public archive's API.
FORMS = [
    ("DANDI:000728", ("000728", None, None, None)),
    ("dandi:000728", ("000728", None, None, None)),
    ("DANDI:000728/0.240827.1809", ("000728", "0.240827.1809", None, None)),
    ("DANDI:000728/draft", ("000728", "draft", None, None)),
    ("DANDI:000728@0.240827.1809", ("000728", "0.240827.1809", None, None)),
    (f"DANDI:000728/{FILE}", ("000728", None, FILE, None)),
    (f"DANDI:000728/{FILE}@0.240827.1809", ("000728", "0.240827.1809", FILE, None)),
    (f"DANDI:000728/{FILE}@draft", ("000728", "draft", FILE, None)),
    (f"DANDI:000728@draft/{FILE}", ("000728", "draft", FILE, None)),
    (f"dandi://DANDI/000728@draft/{FILE}", ("000728", "draft", FILE, None)),
    (f"dandi://DANDI/000728/{FILE}", ("000728", None, FILE, None)),
    ("dandi://DANDI/000728@0.240827.1809", ("000728", "0.240827.1809", None, None)),
    (f"https://dandiarchive.org/dandiset/000728/draft/files?location={FILE}", ("000728", "draft", FILE, None)),
    ("https://dandiarchive.org/dandiset/000728/draft/files?location=sub-1%2Fsub-1_ses-2_behavior%2Bimage%2Bophys.nwb",
     ("000728", "draft", FILE, None)),
    (f"https://dandiarchive.org/dandiset/000728/draft/files?location={FILE}&page=2", ("000728", "draft", FILE, None)),
    (f"https://gui.dandiarchive.org/#/dandiset/000728/draft/files?location={FILE}", ("000728", "draft", FILE, None)),
    ("https://dandiarchive.org/dandiset/000728/0.240827.1809", ("000728", "0.240827.1809", None, None)),
    ("https://dandiarchive.org/dandiset/000728", ("000728", None, None, None)),
    ("https://dandiarchive.org/dandiset/000728/draft/files", ("000728", "draft", None, None)),
    ("https://identifiers.org/DANDI:000728/0.240827.1809", ("000728", "0.240827.1809", None, None)),
    (f"https://api.dandiarchive.org/api/assets/{ASSET}/download/", (None, None, None, ASSET)),
    (f"https://api.dandiarchive.org/api/assets/{ASSET.upper()}/", (None, None, None, ASSET)),
    (f"https://api.dandiarchive.org/api/dandisets/000728/versions/draft/assets/{ASSET}/",
     ("000728", "draft", None, ASSET)),
    (f"https://api.dandiarchive.org/api/dandisets/000728/versions/0.240827.1809/assets/{ASSET}/download/",
     ("000728", "0.240827.1809", None, ASSET)),
    (f"https://api.dandiarchive.org/api/dandisets/000728/versions/draft/assets/?path={FILE}",
     ("000728", "draft", FILE, None)),
    ("https://api.dandiarchive.org/api/dandisets/000728/", ("000728", None, None, None)),
]


@pytest.fixture
def offline(monkeypatch):
    """No connection can be opened and no name resolved: a parse that tried would fail here."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network used while parsing: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("NWB_CASCADE_DANDI_API_URL", raising=False)


@pytest.mark.parametrize("address, expected", FORMS, ids=[address for address, _ in FORMS])
def test_each_form_is_read_offline(offline, address, expected):
    """Every form a user pastes (this package's, dandi's, the web site's and the API's) names its dandiset, version,
    asset path or asset id; on the public archive's API; in milliseconds, no network used."""
    start = time.monotonic()
    reference = _parse_dandi(address)
    assert time.monotonic() - start < 5
    assert reference is not None
    assert (reference.dandiset_id, reference.version, reference.path, reference.asset_id) == expected
    assert reference.api_url == DANDI_API_URL
    assert not is_local(address)
    whole = expected[2] is None and expected[3] is None
    assert is_dandiset(address) == whole
    if expected[2]:
        assert file_name(address) == "sub-1_ses-2_behavior+image+ophys.nwb"


def test_the_api_in_use_and_a_server_dandi_does_not_know(offline, monkeypatch):
    """The public archive's addresses are looked up at $NWB_CASCADE_DANDI_API_URL; an asset URL of a server dandi
    does not know (a mirror, a test server, its API under a path) is read on that server."""
    monkeypatch.setenv("NWB_CASCADE_DANDI_API_URL", "http://127.0.0.1:8123/api/")
    assert _parse_dandi(f"DANDI:000728/{FILE}").api_url == "http://127.0.0.1:8123/api"
    assert _parse_dandi("https://dandiarchive.org/dandiset/000728/draft").api_url == "http://127.0.0.1:8123/api"
    sandbox = _parse_dandi("https://sandbox.dandiarchive.org/dandiset/000123/draft")
    assert (sandbox.api_url, sandbox.dandiset_id) == ("https://api.sandbox.dandiarchive.org/api", "000123")
    for url, api, dandiset in [
        (f"http://127.0.0.1:9000/api/assets/{ASSET}/download/", "http://127.0.0.1:9000/api", None),
        (f"https://mirror.example.org/dandi/api/dandisets/000728/versions/draft/assets/{ASSET}/",
         "https://mirror.example.org/dandi/api", "000728"),
    ]:
        reference = _parse_dandi(url)
        assert (reference.api_url, reference.dandiset_id, reference.asset_id) == (api, dandiset, ASSET)


@pytest.mark.parametrize("text", ["session.nwb", "data/sub-1/x.nwb", r"C:\data\x.nwb", "https://example.org/x.nwb",
                                  "https://dandiarchive.s3.amazonaws.com/blobs/2a1/5b3/2a15b3", "s3://bucket/x.nwb"])
def test_what_is_no_dandi_address(offline, text):
    """Local paths and other URLs (the archive's S3 blobs included) are no DANDI addresses."""
    assert _parse_dandi(text) is None


@pytest.mark.parametrize("text", [
    "DANDI:72", "DANDI:0007280/sub-1/x.nwb", "DANDI:", "dandi://NOPE/000728", "dandi://DANDI/72/x.nwb",
    "https://dandiarchive.org/dandiset/000728/draft/overview", "https://dandiarchive.org/dandiset/72",
    "https://api.dandiarchive.org/api/assets/not-an-id/download/",
])
def test_a_malformed_address_gets_one_line_with_the_forms_that_work(offline, text):
    """A string meant as a DANDI address that is none: one line naming it and the forms that work, before any
    request (also from resolve and list_assets, as a SourceError: what a batch records)."""
    with pytest.raises(DandiAddressError) as caught:
        _parse_dandi(text)
    message = str(caught.value)
    assert "\n" not in message and repr(text) in message
    assert "the forms that work: DANDI:000728/<asset path>[@<version>]" in message and "dandi://" in message
    with pytest.raises(SourceError, match="not a DANDI address"):
        resolve(text)


def test_a_pattern_or_a_place_inside_a_zarr_asset_is_refused_with_what_to_give(offline):
    glob = "https://api.dandiarchive.org/api/dandisets/000728/versions/draft/assets/?glob=sub-1/*.nwb"
    with pytest.raises(DandiAddressError, match=r"matching a pattern.*--glob 'sub-1/\*.nwb'"):
        _parse_dandi(glob)
    with pytest.raises(DandiAddressError, match="not a dandiset"):
        list_assets(f"DANDI:000728/{FILE}")


@pytest.mark.slow  # a subprocess
def test_dandi_ls_without_the_archive_fails_in_seconds_with_one_line(tmp_path):
    """`nwb-cascade dandi ls` when the archive cannot be reached: one line saying so and what to do, in seconds (it
    took a minute of dandi's retries and printed four tracebacks)."""
    env = {**os.environ, "NWB_CASCADE_DANDI_API_URL": f"{unused_port_url()}/api", "NWB_CASCADE_CACHE": str(tmp_path)}
    start = time.monotonic()
    command = [sys.executable, "-c", "from nwb_cascade.cli import run; run()", "dandi", "ls", "DANDI:000728"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    spent = time.monotonic() - start
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: cannot reach the DANDI archive at http://127.0.0.1:"), lines
    assert "connection was refused" in lines[0] and "$NWB_CASCADE_DANDI_API_URL" in lines[0], lines
    assert spent < 20, spent
