"""Denoising movies that real files keep outside NWB (``external_file``): suite2p's own export (run for real in the
writer environment) with its raw binary or its input TIFFs, files found relative to the NWB file, and the errors
for what cannot be read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pynwb import NWBHDF5IO

from nwb_cascade.cli import main
from nwb_cascade.denoise import MovieError, apply, train
from nwb_cascade.denoising import denoise
from nwb_cascade.synthetic import synthetic_movie

from ..denoise_files import write_external_movie_file
from ..writers import suite2p_files

tifffile = pytest.importorskip("tifffile")

needs_suite2p = pytest.mark.skipif(
    suite2p_files.writers_python() is None,
    reason="no suite2p writer environment (.ci/run makes .venv-writers; or set NWB_CASCADE_WRITERS_PYTHON)",
)


@pytest.fixture(scope="module")
def movie() -> np.ndarray:
    """48 frames of 40 x 40 int16, as suite2p's binaries hold them."""
    return np.clip(synthetic_movie(48, 40, photons=2.0, seed=5).noisy, 0, 2**15 - 1).astype(np.int16)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, movie) -> Path:
    path = tmp_path_factory.mktemp("denoiser") / "tiny.pt"
    train(movie, patch=(16, 32, 32), steps=2, checkpoint=path)
    return path


def _suite2p_export(folder: Path, movie: np.ndarray, *, planes: int = 1, filelist: list | None = None) -> Path:
    """suite2p's own ``save_nwb`` on a suite2p output folder whose plane(s) hold ``movie`` as ``data.bin``."""
    rng = np.random.default_rng(0)
    planes_data = [{"F": rng.uniform(100, 200, (3, len(movie))).astype(np.float32), "movie": movie}
                   for _ in range(planes)]
    suite2p_folder = suite2p_files.make_suite2p_folder(folder / "suite2p", planes_data, 30.0, movie=True,
                                                       frame_shape=movie.shape[1:], filelist=filelist)
    return suite2p_files.suite2p_export(suite2p_folder)


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _denoised(path: Path) -> np.ndarray:
    with NWBHDF5IO(str(path), "r") as io:
        return io.read().processing["denoising"]["TwoPhotonSeries"].data[:]


@pytest.mark.slow
@needs_suite2p
def test_suite2p_export_is_denoised_from_its_binary_and_the_binary_is_untouched(movie, checkpoint, tmp_path):
    export = _suite2p_export(tmp_path, movie)
    binary = tmp_path / "suite2p" / "plane0" / "data.bin"
    with NWBHDF5IO(str(export), "r") as io:  # the layout the fix is for: empty data, the movie outside
        series = io.read().acquisition["TwoPhotonSeries"]
        assert series.data.shape[0] == 0 and list(series.external_file[:]) == [str(binary)]
        assert list(series.dimension[:]) == [40, 40]
    before = _digest(binary)
    summary = denoise(export, tmp_path / "den.nwb", denoiser=checkpoint, frames="8:40")
    np.testing.assert_array_equal(_denoised(summary.output), apply(movie, checkpoint, frames=(8, 40)))
    assert summary.shape == (48, 40, 40)
    denoise(export, in_place=True, denoiser=checkpoint)  # in place: the export gains the series, the binary stays
    np.testing.assert_array_equal(_denoised(export), apply(movie, checkpoint))
    assert _digest(binary) == before


@pytest.mark.slow
@needs_suite2p
def test_suite2p_export_listing_its_input_tiffs_reads_them_back_to_back(movie, checkpoint, tmp_path):
    tiffs = [tmp_path / "raw_00001.tif", tmp_path / "raw_00002.tif"]
    tifffile.imwrite(tiffs[0], movie[:20])
    tifffile.imwrite(tiffs[1], movie[20:])
    export = _suite2p_export(tmp_path, movie, filelist=tiffs)
    (tmp_path / "suite2p" / "plane0" / "data.bin").unlink()  # only the TIFFs remain
    summary = denoise(export, tmp_path / "den.nwb", denoiser=checkpoint)
    np.testing.assert_array_equal(_denoised(summary.output), apply(movie, checkpoint))


@pytest.mark.slow
@needs_suite2p
def test_missing_external_file_is_an_error_naming_it(movie, checkpoint, tmp_path):
    export = _suite2p_export(tmp_path, movie)
    binary = tmp_path / "suite2p" / "plane0" / "data.bin"
    binary.rename(tmp_path / "elsewhere.bin")
    with pytest.raises(MovieError, match="data.bin.*not there"):
        denoise(export, tmp_path / "den.nwb", denoiser=checkpoint)
    assert not (tmp_path / "den.nwb").exists()
    result = CliRunner().invoke(main, ["denoise", str(export), "--denoiser", str(checkpoint), "-o",
                                       str(tmp_path / "den.nwb")])
    assert result.exit_code != 0 and str(binary) in result.output.replace("\n", "")


@pytest.mark.slow
@needs_suite2p
def test_multiplane_export_is_refused_not_mixed(movie, checkpoint, tmp_path):
    export = _suite2p_export(tmp_path, movie, planes=2)
    with pytest.raises(MovieError, match="interleave 2 planes"):
        denoise(export, tmp_path / "den.nwb", denoiser=checkpoint)


def test_relative_external_tiff_is_found_beside_the_nwb_file(movie, checkpoint, tmp_path):
    (tmp_path / "movies").mkdir()
    tifffile.imwrite(tmp_path / "movies" / "session.tif", movie)
    source = write_external_movie_file(tmp_path / "session.nwb", ["movies/session.tif"], dimension=None, frames=48)
    summary = denoise(source, tmp_path / "den.nwb", denoiser=checkpoint, frames="4:44")
    np.testing.assert_array_equal(_denoised(summary.output), apply(movie, checkpoint, frames=(4, 44)))


def test_raw_binary_needs_the_frame_shape(movie, checkpoint, tmp_path):
    movie.tofile(tmp_path / "data.bin")
    source = write_external_movie_file(tmp_path / "no_shape.nwb", ["data.bin"], dimension=None, frames=48)
    with pytest.raises(MovieError, match="no frame shape"):
        denoise(source, tmp_path / "den.nwb", denoiser=checkpoint)
    wrong = write_external_movie_file(tmp_path / "wrong_shape.nwb", ["data.bin"], dimension=[40, 41], frames=48)
    with pytest.raises(MovieError, match="not a whole number"):
        denoise(wrong, tmp_path / "den.nwb", denoiser=checkpoint)
    right = write_external_movie_file(tmp_path / "right.nwb", ["data.bin"], dimension=[40, 40], frames=48)
    summary = denoise(right, tmp_path / "den.nwb", denoiser=checkpoint)
    np.testing.assert_array_equal(_denoised(summary.output), apply(movie, checkpoint))


def test_series_without_frames_or_external_files_is_refused(checkpoint, tmp_path):
    source = write_external_movie_file(tmp_path / "empty.nwb", [""], dimension=[40, 40], frames=0)
    with pytest.raises(MovieError, match="names no file"):
        denoise(source, tmp_path / "den.nwb", denoiser=checkpoint)
