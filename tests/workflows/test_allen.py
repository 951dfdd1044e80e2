"""Allen Brain Observatory sessions: both layouts, indicator from genotype, Allen ids, over HTTP."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from nwb_cascade.allen import process_session
from nwb_cascade.cascade.indicators import BUNDLED as MODELS
from nwb_cascade.cascade.indicators import parse_indicator as indicator_from_genotype
from nwb_cascade.cli import main
from nwb_cascade.spike_inference import infer

from ..conftest import ALLEN_DIR, need
from ..dandi_api import ASSET_PATH, DANDISET, VERSION, DandiArchive
from ..http_server import RangeServer

GCAMP6S = "Slc17a7-IRES2-Cre/wt;Camk2a-tTA/wt;Ai94(TITL-GCaMP6s)/wt"


@pytest.mark.parametrize("genotype, indicator", [
    ("Cux2-CreERT2/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/wt", "GCaMP6f"),
    (GCAMP6S, "GCaMP6s"),
    ("Vip-IRES-Cre/wt;Ai148(TIT2L-GC6f-ICL-tTA2)/wt", "GCaMP6f"),
    ("Sst-IRES-Cre/wt;Ai162(TIT2L-GC6s-ICL-tTA2)/wt", "GCaMP6s"),
    ("Emx1-IRES-Cre/wt;Camk2a-tTA/wt;Ai94/wt", "GCaMP6s"),
    ("wt/wt", None),
    (None, None),
])
def test_indicator_from_genotype(genotype, indicator):
    assert indicator_from_genotype(genotype) == indicator


@pytest.fixture(scope="module")
def sessions(tmp_path_factory, allen_traces) -> dict:
    """The real excerpt in both Allen layouts: Visual Coding GCaMP6f, Visual Behavior GCaMP6s."""
    from nwb_cascade.nwb.example import write_example_file

    need(ALLEN_DIR)
    root = tmp_path_factory.mktemp("allen")
    return {
        "visual_coding": write_example_file(root / "visual_coding.nwb", allen_traces, 30.0, layout="visual_coding"),
        "visual_behavior": write_example_file(root / "visual_behavior.nwb", allen_traces, 30.0,
                                              layout="visual_behavior", genotype=GCAMP6S, indicator="GCaMP6s"),
        "root": root,
    }


@pytest.mark.parametrize("layout, series, indicator", [
    ("visual_coding", "processing/ophys/DfOverF/DfOverF", "GCaMP6f"),
    ("visual_behavior", "processing/ophys/dff/traces", "GCaMP6s"),
])
def test_allen_session_over_http(sessions, tmp_path, layout, series, indicator):
    with RangeServer(sessions["root"]) as server:
        summary = process_session(f"{server.url}/{layout}.nwb", tmp_path / "out.nwb", discrete_spikes=False)
    assert summary.series == series and summary.model == MODELS[indicator]
    assert summary.rois == 74 and abs(summary.frame_rate - 30.0) < 1e-6  # from the timestamps
    with h5py.File(tmp_path / "out.nwb", "r") as handle:
        (results,) = handle["processing/cascade"].values()
        assert json.loads(results.attrs["source_ids"]) == {"session_id": "552195520"}
        table = results["spike_rates/rois"].attrs["table"]
        rois = handle[table]
        assert np.array_equal(rois["cell_specimen_id"][:], 517473000 + np.arange(74))  # alongside the ROIs
        rates = results["spike_rates/data"][:]
    # the same as a plain local run with that model and series
    infer(sessions[layout], tmp_path / "local.nwb", series=series, model=MODELS[indicator], discrete_spikes=False)
    with h5py.File(tmp_path / "local.nwb", "r") as handle:
        (local,) = handle["processing/cascade"].values()
        assert np.array_equal(local["spike_rates/data"][:], rates, equal_nan=True)


def test_allen_cli_and_dandi_ls(sessions, tmp_path, monkeypatch):
    with RangeServer(sessions["root"]) as server:
        archive = DandiArchive(sessions["root"], sessions["visual_behavior"], base=server.url)
        server.routes.append(archive.route)
        monkeypatch.setenv("NWB_CASCADE_DANDI_API_URL", f"{server.url}/api")
        monkeypatch.delenv("DANDI_API_KEY", raising=False)
        runner = CliRunner()
        listed = runner.invoke(main, ["dandi", "ls", f"DANDI:{DANDISET}"])
        assert listed.exit_code == 0, listed.output
        assert f"DANDI:{DANDISET}/{ASSET_PATH}@{VERSION}" in listed.output and "1 assets" in listed.output
        monkeypatch.chdir(tmp_path)
        result = runner.invoke(main, ["allen", f"DANDI:{DANDISET}/{ASSET_PATH}", "--no-discrete-spikes"])
        assert result.exit_code == 0, result.output
        by_id = runner.invoke(main, ["allen", "710504563", "-o", "by_id.nwb", "--no-discrete-spikes"])  # session id
        assert by_id.exit_code == 0, by_id.output
        assert (tmp_path / "by_id.nwb").is_file()
    out = tmp_path / "sub-691657859_ses-710504563-StimA_behavior+image+ophys.cascade.nwb"
    assert out.is_file() and MODELS["GCaMP6s"] in result.output
    with h5py.File(out, "r") as handle:
        (results,) = handle["processing/cascade"].values()
        assert results.attrs["dandiset_id"] == DANDISET and results.attrs["dandiset_version"] == VERSION
