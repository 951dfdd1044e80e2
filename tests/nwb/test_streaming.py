"""Streaming NWB files over HTTP (a real server on 127.0.0.1 that honours Range) and from a
DANDI-shaped API: results equal to the local run, bytes read bounded, faults handled."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from nwb_cascade.nwb.sources import SourceError, expand_sources, list_assets, resolve
from nwb_cascade.nwb.target import default_output, output_name
from nwb_cascade.spike_inference import infer

from ..conftest import ALLEN_DIR, need
from ..dandi_api import ASSET_ID, ASSET_PATH, DANDISET, VERSION, DandiArchive
from ..http_server import Fault, RangeServer, unused_port_url

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

MOVIE_SHAPE = (400, 128, 128)  # 13 MB of raw movie in the file: what streaming must not read


@pytest.fixture(scope="module")
def served(tmp_path_factory, allen_traces) -> dict:
    """Both Allen layouts, each with a raw movie, in a folder to serve; sizes of what matters."""
    from nwb_cascade.nwb.example import write_example_file

    need(ALLEN_DIR)
    root = tmp_path_factory.mktemp("served")
    movie = np.random.default_rng(0).integers(0, 4096, MOVIE_SHAPE, dtype=np.uint16)
    files = {}
    for layout in ("visual_coding", "visual_behavior"):
        path = write_example_file(root / f"{layout}.nwb", allen_traces, 30.0, layout=layout, movie=movie)
        with h5py.File(path, "r") as handle:
            movie_bytes = handle["acquisition/TwoPhotonSeries/data"].id.get_storage_size()
        files[layout] = {"path": path, "size": path.stat().st_size, "needed": path.stat().st_size - movie_bytes}
    return {"root": root, "files": files}


def _results(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        module = handle["processing/cascade"]
        out = {}
        for name, group in module.items():
            out[f"{name}/rates"] = group["spike_rates/data"][:]
            out[f"{name}/noise"] = group["spike_rates/noise_levels"][:]
            if "discrete_spikes" in group:
                out[f"{name}/spikes"] = group["discrete_spikes/spike_times"][:]
        return out


def _attributes(path) -> dict:
    with h5py.File(path, "r") as handle:
        (group,) = handle["processing/cascade"].values()
        return dict(group.attrs)


@pytest.mark.parametrize("layout", ["visual_coding", "visual_behavior"])
def test_streamed_results_equal_local_and_read_few_bytes(served, layout, tmp_path):
    entry = served["files"][layout]
    local = infer(entry["path"], tmp_path / "local.nwb")
    with RangeServer(served["root"]) as server:
        url = f"{server.url}/{layout}.nwb"
        remote = infer(url, tmp_path / "remote.nwb")
        cold = list(server.log)
        server.log.clear()
        infer(url, tmp_path / "again.nwb")  # warm cache: nothing but the size
        warm = list(server.log)
    expected, got = _results(tmp_path / "local.nwb"), _results(tmp_path / "remote.nwb")
    assert expected.keys() == got.keys() and all(np.array_equal(expected[k], got[k], equal_nan=True) for k in expected)
    assert remote.rois == local.rois == 74
    sent = sum(entry[3] for entry in cold)
    # ΔF/F plus metadata (everything but the raw movie), with room for block granularity
    assert sent < 1.5 * entry["needed"], (sent, entry)
    assert sent < 0.5 * entry["size"]
    assert all(status == 206 for method, _, status, _ in cold if method == "GET")  # ranges only, never the file
    assert sum(entry[3] for entry in warm) == 0 and all(method == "HEAD" for method, *_ in warm)
    assert _attributes(tmp_path / "remote.nwb")["source_url"] == url


def test_dandi_asset_resolved_through_the_api(served, tmp_path, monkeypatch):
    with RangeServer(served["root"]) as server:
        archive = DandiArchive(served["root"], served["files"]["visual_coding"]["path"], base=server.url)
        server.routes.append(archive.route)
        monkeypatch.setenv("NWB_CASCADE_DANDI_API_URL", f"{server.url}/api")
        monkeypatch.delenv("DANDI_API_KEY", raising=False)
        source = resolve(f"DANDI:{DANDISET}/{ASSET_PATH}")
        # the download URL redirects to the blob; the query of the redirect is stripped
        assert source.url == f"{server.url}/blobs/8d3/c0e/8d3c0e5a-1c2b-4e8f-a4a4-3b9f0c7d2e61"
        assert (source.dandiset_id, source.dandiset_version, source.asset_id) == (DANDISET, VERSION, ASSET_ID)
        assert source.size == served["files"]["visual_coding"]["size"]
        assert resolve(f"DANDI:{DANDISET}/{ASSET_PATH}@draft").dandiset_version == "draft"
        by_id = resolve(f"{server.url}/api/assets/{ASSET_ID}/download/")
        assert by_id.url == source.url and by_id.asset_id == ASSET_ID
        web = f"https://dandiarchive.org/dandiset/{DANDISET}/{VERSION}/files?location={ASSET_PATH}"
        assert resolve(web).asset_id == ASSET_ID

        name = output_name(f"DANDI:{DANDISET}/{ASSET_PATH}")
        assert name == "sub-691657859_ses-710504563-StimA_behavior+image+ophys.cascade.nwb"
        infer(f"DANDI:{DANDISET}/{ASSET_PATH}", tmp_path / name, discrete_spikes=False)
        attributes = _attributes(tmp_path / name)
        assert attributes["dandiset_id"] == DANDISET and attributes["dandiset_version"] == VERSION
        assert attributes["asset_id"] == ASSET_ID and attributes["source_url"] == source.url

        listed = list_assets(f"DANDI:{DANDISET}")
        assert [(a.path, a.size) for a in listed] == [(ASSET_PATH, source.size)]
        assert expand_sources([f"DANDI:{DANDISET}"]) == [f"DANDI:{DANDISET}/{ASSET_PATH}@{VERSION}"]
        assert list_assets(f"DANDI:{DANDISET}", glob="sub-1*") == []

        with pytest.raises(SourceError, match="not found.*dandi ls"):
            resolve(f"DANDI:{DANDISET}/sub-0/nothing.nwb")
        with pytest.raises(SourceError, match="names a dandiset, not one file"):
            resolve(f"DANDI:{DANDISET}")


def test_embargoed_asset_needs_the_token(served, monkeypatch):
    with RangeServer(served["root"]) as server:
        archive = DandiArchive(served["root"], served["files"]["visual_coding"]["path"], token="s3cret",
                               base=server.url)
        server.routes.append(archive.route)
        monkeypatch.setenv("NWB_CASCADE_DANDI_API_URL", f"{server.url}/api")
        monkeypatch.delenv("DANDI_API_KEY", raising=False)
        with pytest.raises(SourceError, match="embargoed or private: set DANDI_API_KEY"):
            resolve(f"DANDI:{DANDISET}/{ASSET_PATH}")
        monkeypatch.setenv("DANDI_API_KEY", "s3cret")
        source = resolve(f"DANDI:{DANDISET}/{ASSET_PATH}")
        assert source.embargoed and "response-content-disposition" in source.url  # a signed URL keeps its query


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setenv("NWB_CASCADE_RETRIES", "4")
    monkeypatch.setenv("NWB_CASCADE_BACKOFF", "0.05")


@pytest.mark.parametrize("fault", [Fault(times=1, drop_after=4096), Fault(times=2, status=500)],
                         ids=["dropped-connection", "server-error-then-recovery"])
def test_transient_faults_are_retried(served, tmp_path, quick_retries, fault):
    entry = served["files"]["visual_coding"]
    infer(entry["path"], tmp_path / "local.nwb", discrete_spikes=False)
    with RangeServer(served["root"], faults=[fault]) as server:
        infer(f"{server.url}/visual_coding.nwb", tmp_path / "remote.nwb", discrete_spikes=False)
        failures = [e for e in server.log if e[2] == 500 or (e[0] == "GET" and e[2] == 206 and e[3] == 4096)]
    assert failures, "the fault never happened"
    expected, got = _results(tmp_path / "local.nwb"), _results(tmp_path / "remote.nwb")
    assert all(np.array_equal(expected[k], got[k], equal_nan=True) for k in expected)


@pytest.mark.parametrize("case", ["404", "persistent-500", "unreachable"])
def test_lasting_faults_end_in_a_clear_error_and_no_output(served, tmp_path, quick_retries, case):
    out = tmp_path / "out"
    out.mkdir()
    if case == "unreachable":
        url, expected = f"{unused_port_url()}/visual_coding.nwb", "failed 4 times.*check the network connection"
        with pytest.raises(SourceError, match=expected):
            infer(url, out / "result.nwb")
    else:
        faults = [Fault(times=1000, status=500)] if case == "persistent-500" else []
        with RangeServer(served["root"], faults=faults) as server:
            name = "visual_coding.nwb" if case == "persistent-500" else "missing.nwb"
            # the size comes from a HEAD, so the persistent 500 strikes the first data read
            expected = "failed 4 times.*500" if case == "persistent-500" else "not found"
            with pytest.raises(SourceError, match=expected):
                infer(f"{server.url}/{name}", out / "result.nwb")
    assert list(out.iterdir()) == []  # no output, no temporary file


def test_remote_sources_are_read_only(served):
    from nwb_cascade.spike_inference import infer

    with RangeServer(served["root"]) as server, pytest.raises(SourceError, match="remote and read-only"):
        infer(f"{server.url}/visual_coding.nwb", in_place=True)


@pytest.mark.parametrize("kind", ["cascade", "denoised"])
def test_default_output_names(tmp_path, kind):
    """One naming rule for every command: <stem>.<kind>.nwb, beside a local file; for remote sources named after the
    asset's or URL's file, in the working directory (or a batch's folder); never a DANDI id as a folder."""
    local = tmp_path / "sub-1_ses-2_ophys.nwb"
    local.touch()
    asset = "DANDI:000728/sub-1/sub-1_ses-2_behavior+image+ophys.nwb"
    expected = f"sub-1_ses-2_behavior+image+ophys.{kind}.nwb"
    assert default_output(str(local), kind) == tmp_path / f"sub-1_ses-2_ophys.{kind}.nwb"
    assert default_output(local, kind) == tmp_path / f"sub-1_ses-2_ophys.{kind}.nwb"
    assert default_output("https://host/blobs/abc/x.nwb?versionId=7", kind) == Path(f"x.{kind}.nwb")
    assert default_output(asset, kind) == Path(expected)
    assert default_output(asset + "@0.240827.1809", kind) == Path(expected)
    web = "https://dandiarchive.org/dandiset/000728/draft/files?location=sub-1%2Fsub-1_ses-2_behavior%2Bimage%2Bophys.nwb"
    assert default_output(web, kind) == Path(expected)
    assert default_output("https://host/store/x.nwb.zarr", kind) == Path(f"x.{kind}.nwb")
    assert default_output(asset, kind, folder=tmp_path / "out") == tmp_path / "out" / expected
    assert default_output(local, kind, folder=tmp_path / "out") == tmp_path / "out" / f"sub-1_ses-2_ophys.{kind}.nwb"
    assert default_output(tmp_path / "x.cascade.nwb", "", extension=".png") == tmp_path / "x.cascade.png"


def test_source_strings():
    assert output_name("/data/session one.nwb") == "session one.cascade.nwb"
    assert output_name("https://host/blobs/abc/file.nwb?x=1") == "file.cascade.nwb"
    assert json.dumps(resolve("https://host/x.nwb").provenance()) == '{"source_url": "https://host/x.nwb"}'
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve("/no/such/file.nwb")
