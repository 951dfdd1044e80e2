"""The model registry and downloads, against a real HTTP server on 127.0.0.1."""

import hashlib
import zipfile

import pytest
import torch

from nwb_cascade.cascade import DownloadError, ModelError, cache_dir, download_model, list_models, load_model, registry
from nwb_cascade.cascade.model import CascadeModel, read_config

from ..conftest import MODEL_DIR, need
from ..http_server import Fault, RangeServer, unused_port_url

pytestmark = pytest.mark.slow  # servers, subprocesses, clusters or training: `pytest -m "not slow"` leaves them out

NAME = "Tiny_EXC_30Hz_smoothing25ms"


@pytest.fixture(scope="module")
def model_zip(tmp_path_factory):
    """A zip of a real model folder (one noise level, two members of the published weights)."""
    config = read_config(need(MODEL_DIR) / "config.yaml")
    config.update(model_name=NAME, noise_levels=[2], ensemble_size=2)
    weights = {2: [torch.load(MODEL_DIR / f"Model_NoiseLevel_2_Ensemble_{k}.pth") for k in range(2)]}
    root = tmp_path_factory.mktemp("served")
    folder = CascadeModel(config, weights).save(root / "build" / NAME)
    archive = root / f"{NAME}.zip"
    with zipfile.ZipFile(archive, "w") as handle:  # the folder inside the zip, as published zips hold it
        for path in sorted(folder.iterdir()):
            handle.write(path, f"{NAME}/{path.name}")
    (root / "empty.zip").write_bytes(_zip_of({"readme.txt": b"no model here"}))
    return archive


def _zip_of(files):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle:
        for name, data in files.items():
            handle.writestr(name, data)
    return buffer.getvalue()


def _registry(url, archive, **extra):
    data = archive.read_bytes()
    entry = {"Link": url, "Info": "test", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    entry.update(extra)
    return {NAME: entry}


def test_published_list_ships_with_the_package():
    entries = registry()
    assert len(entries) > 100
    assert entries["Global_EXC_30Hz_smoothing25ms"].url.startswith("https://")
    names = [row["name"] for row in list_models()]
    assert "Global_EXC_7.5Hz_smoothing200ms" in names


def test_download_verifies_and_loads(model_zip):
    with RangeServer(model_zip.parent) as server:
        source = _registry(f"{server.url}/{model_zip.name}", model_zip)
        folder = download_model(NAME, source=source, progress=False)
    assert folder == cache_dir() / NAME
    model = load_model(NAME, download=False)
    assert model.noise_levels.tolist() == [2.0] and len(model.weights[2]) == 2
    assert [(row["name"], row["cached"]) for row in list_models(source) if not row["bundled"]] == [(NAME, True)]
    assert not list(cache_dir().glob("*.part")) and not list(cache_dir().glob("*.zip"))
    assert server.bytes_sent() == model_zip.stat().st_size


def test_broken_transfer_resumes_with_a_range_request(model_zip):
    size = model_zip.stat().st_size
    with RangeServer(model_zip.parent, faults=[Fault(times=1, drop_after=size // 3)]) as server:
        download_model(NAME, source=_registry(f"{server.url}/{model_zip.name}", model_zip), progress=False, retries=2)
    statuses = [entry[2] for entry in server.log]
    assert statuses == [200, 206]
    assert server.bytes_sent() == size  # the second request fetched only the rest
    load_model(NAME, download=False)


def test_server_without_ranges_restarts_cleanly(model_zip):
    size = model_zip.stat().st_size
    faults = [Fault(times=1, drop_after=size // 2)]
    with RangeServer(model_zip.parent, honour_ranges=False, faults=faults) as server:
        download_model(NAME, source=_registry(f"{server.url}/{model_zip.name}", model_zip), progress=False, retries=2)
    assert [entry[2] for entry in server.log] == [200, 200]
    load_model(NAME, download=False)


def test_server_error_then_recovery(model_zip):
    with RangeServer(model_zip.parent, faults=[Fault(times=2, status=500)]) as server:
        download_model(NAME, source=_registry(f"{server.url}/{model_zip.name}", model_zip), progress=False, retries=3)
    assert [entry[2] for entry in server.log] == [500, 500, 200]


def test_checksum_mismatch_leaves_nothing(model_zip):
    with RangeServer(model_zip.parent) as server:
        source = _registry(f"{server.url}/{model_zip.name}", model_zip, sha256="0" * 64)
        with pytest.raises(DownloadError, match="does not match the expected"):
            download_model(NAME, source=source, progress=False)
    assert not (cache_dir() / NAME).exists() and not list(cache_dir().iterdir())


def test_offline_is_a_clear_error(model_zip):
    source = _registry(f"{unused_port_url()}/{model_zip.name}", model_zip)
    with pytest.raises(DownloadError, match="Check the network connection") as caught:
        download_model(NAME, source=source, progress=False, retries=1)
    assert not (cache_dir() / NAME).exists()
    assert "partial file" not in str(caught.value) and not list(cache_dir().glob("*.part"))  # none was made


def test_a_transfer_cut_off_on_every_try_keeps_what_came_and_says_so(model_zip):
    size = model_zip.stat().st_size
    with RangeServer(model_zip.parent, faults=[Fault(times=2, drop_after=size // 4)]) as server:
        source = _registry(f"{server.url}/{model_zip.name}", model_zip)
        with pytest.raises(DownloadError, match="Check the network connection") as caught:
            download_model(NAME, source=source, progress=False, retries=1)
    parts = list(cache_dir().glob("*.part"))
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < size
    assert f"The partial file {parts[0]} ({parts[0].stat().st_size} bytes) is kept" in str(caught.value)


def test_not_found_is_not_retried(model_zip):
    with RangeServer(model_zip.parent) as server, pytest.raises(DownloadError, match="404"):
        download_model(NAME, source=_registry(f"{server.url}/missing.zip", model_zip), progress=False)
    assert len(server.log) == 1


def test_zip_without_a_model_is_refused(model_zip):
    empty = model_zip.parent / "empty.zip"
    with RangeServer(model_zip.parent) as server, pytest.raises(ModelError, match="holds no model folder"):
        download_model(NAME, source=_registry(f"{server.url}/empty.zip", empty), progress=False)
    assert not (cache_dir() / NAME).exists()


def test_registry_from_environment(model_zip, tmp_path, monkeypatch):
    import yaml

    with RangeServer(model_zip.parent) as server:
        path = tmp_path / "models.yaml"
        path.write_text(yaml.safe_dump(_registry(f"{server.url}/{model_zip.name}", model_zip)))
        monkeypatch.setenv("NWB_CASCADE_REGISTRY", str(path))
        model = load_model(NAME)  # downloads on first use
    assert model.name == NAME
