"""Telling local sources from remote ones, in one place (nwb/sources.py), without the network."""

from pathlib import Path

import pytest

from nwb_cascade.nwb.sources import SourceError, file_name, is_dandi, is_dandiset, is_local, resolve

ASSET = "sub-1/sub-1_ses-2_ophys.nwb"


@pytest.mark.parametrize("text", ["session.nwb", "/data/sess[1].nwb", "folder", "DANDI.nwb", "000728"])
def test_local_paths(text):
    assert is_local(text) and is_local(Path(text)) and not is_dandi(text)


@pytest.mark.parametrize("text", [
    f"DANDI:000728/{ASSET}", f"dandi:000728/{ASSET}@draft", f"dandi://DANDI/000728@draft/{ASSET}",
    f"https://dandiarchive.org/dandiset/000728/draft/files?location={ASSET}",
    "https://api.dandiarchive.org/api/assets/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f/download/",
])
def test_dandi_assets_are_remote(text):
    assert not is_local(text) and is_dandi(text)


@pytest.mark.parametrize("text", ["DANDI:000728", "dandi://DANDI/000728@0.240827.1809"])
def test_dandisets(text):
    assert not is_local(text) and is_dandiset(text)


def test_urls_are_remote_and_only_http_is_read():
    assert not is_local("HTTPS://host/x.nwb") and not is_dandi("https://host/x.nwb")
    assert file_name("https://host/blobs/x.nwb?versionId=7") == "x.nwb"
    assert file_name(f"dandi://DANDI/000728@draft/{ASSET}") == "sub-1_ses-2_ophys.nwb"
    assert not is_local("s3://bucket/x.nwb")
    with pytest.raises(SourceError, match="not a source nwb-cascade reads"):
        resolve("s3://bucket/x.nwb")
