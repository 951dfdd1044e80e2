"""Writing whole or not at all (common/files.py) and the one name of partial files (common/names.py)."""

import os

import pytest

from nwb_cascade.common.files import atomic_folder, atomic_write, partial_files
from nwb_cascade.common.names import is_partial, partial_name


def test_a_file_is_replaced_only_when_the_block_ends_without_an_error(tmp_path):
    path = tmp_path / "sess[1].cascade.nwb"
    with atomic_write(path) as partial:
        assert partial.parent == tmp_path and partial.suffix == ".nwb" and is_partial(partial.name)
        partial.write_text("first")
    with pytest.raises(RuntimeError), atomic_write(path) as partial:
        partial.write_text("second")
        raise RuntimeError
    assert path.read_text() == "first" and os.listdir(tmp_path) == [path.name]


def test_a_partial_file_keeps_the_ending_libraries_go_by(tmp_path):
    assert partial_name(tmp_path / "s.cascade.nwb.lindi.tar").name.endswith(".lindi.tar")
    folder = partial_name(tmp_path / "Global_EXC_7.5Hz_smoothing200ms", "").name  # a folder: the dots are its name
    assert folder.startswith(".Global_EXC_7.5Hz_smoothing200ms.partial-") and is_partial(folder)


def test_partials_are_found_by_exact_name_and_stale_ones_told_apart(tmp_path):
    path = tmp_path / "sess[1].cascade.nwb"
    mine = tmp_path / f".sess[1].cascade.partial-{os.uname().nodename[:64]}-{os.getpid()}-0123abcd.nwb"
    gone = tmp_path / f".sess[1].cascade.partial-{os.uname().nodename[:64]}-999999-0123abcd.nwb"
    foreign = tmp_path / ".sess[1].cascade.partial-otherhost-1-0123abcd.nwb"
    other = tmp_path / ".sess1.cascade.partial-otherhost-1-0123abcd.nwb"  # another file's (a glob would match)
    for entry in (mine, gone, foreign, other):
        entry.write_text("")
    assert partial_files(path) == sorted([mine, gone, foreign])
    assert partial_files(path, stale_only=True) == sorted([gone, foreign])


def test_a_folder_is_replaced_whole(tmp_path):
    path = tmp_path / "model"
    with atomic_folder(path) as staging:
        (staging / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_folder(path) as staging:
        (staging / "b").write_text("2")
        raise RuntimeError
    with atomic_folder(path) as staging:
        (staging / "c").write_text("3")
    assert os.listdir(path) == ["c"] and os.listdir(tmp_path) == ["model"]
