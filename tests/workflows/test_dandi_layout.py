"""Batch outputs as a derived dandiset: named as dandi-cli's own organize names them, and clean for
``dandi validate``."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject
from pynwb.ophys import ImageSegmentation, OpticalChannel

from nwb_cascade.dandi_layout import (
    DANDISET_FILE,
    DRAFT_MARKER,
    PLACEHOLDER,
    DandiLayoutError,
    dandi_paths,
    organize,
    output_facts,
    publication_problems,
    write_dandiset_yaml,
)
from nwb_cascade.manifest import DONE, Manifest, read_manifest

MOUSE = {"species": "Mus musculus", "sex": "F", "age": "P90D"}


@pytest.fixture(autouse=True)
def _dandi_offline(monkeypatch):
    monkeypatch.setenv("DANDI_NO_ET", "1")  # no version check over the network
    monkeypatch.setenv("DANDI_CACHE", "ignore")  # no metadata cache in the user's folders


def write_session(path: Path, subject: dict | None, session_id: str | None,
                  start: datetime = datetime(2020, 5, 4, 13, 30, tzinfo=timezone.utc)) -> Path:
    """A small ophys NWB file (an imaging plane and its ROI table), written by pynwb."""
    nwbfile = NWBFile(session_description="a session", identifier=f"id-{path.stem}", session_start_time=start,
                      session_id=session_id, subject=Subject(**subject) if subject is not None else None)
    device = nwbfile.create_device(name="microscope")
    plane = nwbfile.create_imaging_plane(name="plane", optical_channel=OpticalChannel(name="green", description="green", emission_lambda=520.0),
                                         description="a plane", device=device, excitation_lambda=920.0,
                                         indicator="GCaMP6f", location="VISp")
    segmentation = ImageSegmentation()
    nwbfile.create_processing_module("ophys", "optical physiology").add(segmentation)
    table = segmentation.create_plane_segmentation(name="rois", description="ROIs", imaging_plane=plane)
    table.add_roi(image_mask=np.ones((4, 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def dandi_organize_names(paths: list[Path]) -> dict[Path, str]:
    """The paths dandi-cli's organize gives ``paths`` (its metadata reader and its naming, in this process)."""
    from dandi.metadata.nwb import get_metadata
    from dandi.organize import create_unique_filenames_from_metadata

    records = [{**get_metadata(path), "path": str(path)} for path in paths]
    return {Path(record["path"]): record["dandi_path"] for record in create_unique_filenames_from_metadata(records)}


@pytest.mark.parametrize("sessions", [
    # subject, session id (one subject, two sessions; ids dandi must sanitise)
    [("501000001", "501794235-StimB"), ("501000001", "501794236_Stim.A")],
    # one file: no ses- entity
    [("mouse_1", "only")],
    # no session ids: the start time stands in (date and time)
    [("m1", None), ("m1", None)],
    # the same subject and session twice: told apart by their object ids
    [("m2", "s1"), ("m2", "s1"), ("m3", "s2")],
])
def test_names_are_those_dandi_organize_gives(tmp_path, sessions):
    paths = []
    for index, (subject, session) in enumerate(sessions):
        start = datetime(2020, 5, 4 + index, 13, 30 + index, tzinfo=timezone.utc)
        paths.append(write_session(tmp_path / f"file{index}.nwb", {"subject_id": subject, **MOUSE}, session, start))
    ours = dandi_paths([output_facts(path) for path in paths])
    assert ours == dandi_organize_names(paths)
    assert all(name.endswith("_ophys.nwb") and name.startswith(f"sub-{name.split('/')[0][4:]}/") for name in ours.values())


def test_midnight_start_times_give_dates(tmp_path):
    midnight = [write_session(tmp_path / f"f{day}.nwb", {"subject_id": "m", **MOUSE}, None,
                              datetime(2020, 1, day, tzinfo=timezone.utc)) for day in (1, 2)]
    ours = dandi_paths([output_facts(path) for path in midnight])
    assert ours == dandi_organize_names(midnight)
    assert sorted(ours.values()) == ["sub-m/sub-m_ses-20200101_ophys.nwb", "sub-m/sub-m_ses-20200102_ophys.nwb"]


def test_what_dandi_would_refuse_is_named():
    assert publication_problems({"subject_id": "m1", **MOUSE}, "s1") == []
    assert publication_problems({"subject_id": "m1", "species": "Mus musculus", "sex": "F",
                                 "date_of_birth": "2020-01-01T00:00:00+00:00"}, "s1") == []
    problems = publication_problems({"subject_id": "m/1", "species": "mouse", "sex": "female", "age": "90 days"}, "a/b")
    assert len(problems) == 5 and problems[0] == "its session_id 'a/b' holds a slash"
    assert [name for name in ("slash", "species", "sex", "age") if any(name in text for text in problems[1:])] == \
        ["slash", "species", "sex", "age"]
    assert publication_problems(None, None) == [
        "it has no subject (DANDI needs subject_id, species, sex and age or date_of_birth)"]


def test_organize_moves_what_is_done_and_leaves_the_rest(tmp_path, caplog):
    folder = tmp_path / "out"
    manifest = Manifest(folder)
    outputs = {"a": write_session(folder / "a_cascade.nwb", {"subject_id": "m1", **MOUSE}, "s1"),
               "b": write_session(folder / "b_cascade.nwb", {"subject_id": "m1", **MOUSE}, "s2"),
               "c": write_session(folder / "c_cascade.nwb", {"subject_id": "m2", "sex": "F"}, "s3")}  # no species, age
    for source, path in outputs.items():
        manifest.row(f"/data/{source}.nwb").update({"status": DONE, "output": path.name})
    manifest.row("/data/d.nwb")  # pending: no output
    manifest.save()
    with caplog.at_level(logging.WARNING, logger="nwb_cascade.dandi_layout"):
        moves = organize(manifest)
    assert moves == {"a_cascade.nwb": "sub-m1/sub-m1_ses-s1_ophys.nwb", "b_cascade.nwb": "sub-m1/sub-m1_ses-s2_ophys.nwb"}
    rows = {row.source: row.output for row in read_manifest(folder / "manifest.csv")}
    assert rows == {"/data/a.nwb": moves["a_cascade.nwb"], "/data/b.nwb": moves["b_cascade.nwb"],
                    "/data/c.nwb": "c_cascade.nwb", "/data/d.nwb": ""}
    assert all((folder / path).is_file() for path in rows.values() if path)
    assert "c_cascade.nwb is left out of the dandiset layout" in caplog.text and "species" in caplog.text
    assert organize(Manifest(folder)) == {}  # done already: nothing moves

    # a file that no output of this batch is, where an output would go: refused, nothing moved
    manifest = Manifest(folder)
    manifest.row("/data/e.nwb").update({"status": DONE, "output": write_session(
        folder / "e_cascade.nwb", {"subject_id": "m3", **MOUSE}, "s4").name})
    manifest.save()
    foreign = write_session(folder / "sub-m3" / "sub-m3_ses-s4_ophys.nwb", {"subject_id": "m3", **MOUSE}, "s4")
    with pytest.raises(DandiLayoutError, match="never writes over a file it did not make"):
        organize(manifest)
    assert (folder / "e_cascade.nwb").is_file() and foreign.is_file()


def test_dandiset_yaml_is_a_draft_and_never_replaces_anothers(tmp_path):
    path = write_dandiset_yaml(tmp_path, [])
    text = path.read_text()
    assert text.startswith(DRAFT_MARKER) and "Derived from: local files" in text
    draft = yaml.safe_load(text)
    assert draft["identifier"] == PLACEHOLDER and draft["relatedResource"] == [] and draft["name"] and draft["description"]
    (tmp_path / DANDISET_FILE).write_text("identifier: DANDI:001234\nname: mine\ndescription: mine\n")
    assert write_dandiset_yaml(tmp_path, []) is None
    assert (tmp_path / DANDISET_FILE).read_text().startswith("identifier: DANDI:001234")


@pytest.mark.slow
def test_a_dandiset_batched_with_dandi_layout_validates(tmp_path, gcamp6f_kernel, monkeypatch):
    """`batch DANDI:000728 --dandi-layout` (the archive served on 127.0.0.1): dandi organize's names, a
    dandiset.yaml naming the source, `dandi validate` without errors; then the summary of the folder."""
    from nwb_cascade.batch import batch
    from nwb_cascade.summarize import summarize

    from ..dandi_api import DANDISET, VERSION, Asset, DandiArchive
    from ..http_server import RangeServer
    from ..writers.populations import write_population_session

    written = [write_population_session(tmp_path / "sources" / f"s{index}.nwb", layout, index, gcamp6f_kernel, rois=30,
                                        seconds=60.0, median_hz=0.3, sigma=0.8, noise_level=1.0)
               for index, layout in ((0, "visual_coding"), (1, "visual_coding"), (3, "visual_behavior"))]
    assets = []
    for session in written:
        with NWBHDF5IO(str(session.path), "r", load_namespaces=True) as io:
            nwbfile = io.read()
            subject = nwbfile.subject.subject_id
            label = nwbfile.session_id or f"{nwbfile.session_start_time:%Y%m%dT%H%M%S}"
        assets.append(Asset(f"sub-{subject}/sub-{subject}_ses-{label}_behavior+image+ophys.nwb", session.path))
    out = tmp_path / "derived"
    served = tmp_path / "served"
    served.mkdir()
    with RangeServer(served) as server:
        archive = DandiArchive(served, base=server.url, assets=assets)
        server.routes.append(archive.route)
        monkeypatch.setenv("NWB_CASCADE_DANDI_API_URL", f"{server.url}/api")
        monkeypatch.delenv("DANDI_API_KEY", raising=False)
        result = batch([f"DANDI:{DANDISET}"], out, workers=2, progress=False, dandi_layout=True)
        summary = summarize(out, workers=1, progress=False, figures=False)  # the sources' stimulus tables over HTTP
    assert len(result.done) == 3 and {row.output for row in result.rows} == {
        path.relative_to(out).as_posix() for path in out.glob("sub-*/*.nwb")}
    names = dandi_organize_names(sorted(out.glob("sub-*/*.nwb")))
    assert all(path.relative_to(out).as_posix() == name for path, name in names.items())
    assert sorted(names.values()) == sorted(
        f"{Path(asset.path).parent}/{Path(asset.path).name.replace('behavior+image+ophys', 'ophys')}" for asset in assets)
    draft = yaml.safe_load((out / DANDISET_FILE).read_text())
    assert draft["relatedResource"][0]["identifier"] == f"DANDI:{DANDISET}/{VERSION}"
    assert draft["relatedResource"][0]["relation"] == "dcite:IsDerivedFrom"
    assert f"DANDI:{DANDISET} version {VERSION}" in draft["name"]

    environment = {**os.environ, "DANDI_NO_ET": "1", "DANDI_CACHE": "ignore"}
    checked = subprocess.run([str(Path(sys.executable).with_name("dandi")), "validate", str(out)],
                             capture_output=True, text=True, env=environment, timeout=600, check=False)
    assert checked.returncode == 0 and "No errors found" in checked.stdout, checked.stdout + checked.stderr
    assert "check_units_resolution_is_set" not in checked.stdout

    assert len(summary.rois) == 90 and set(summary.rois["dandiset_id"]) == {DANDISET}
    assert all(origin.startswith(f"source file {server.url}/blobs/") for origin in summary.sessions["stimulus_from"])
    shutil.rmtree(out / "summary")
