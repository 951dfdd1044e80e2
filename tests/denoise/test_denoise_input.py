"""Denoising: tiles, network, checkpoints, bad input, and NWB files in and out (fast: a barely trained network)."""

from __future__ import annotations

import logging
import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from pynwb import NWBHDF5IO

from nwb_cascade.cli import main
from nwb_cascade.denoise import CheckpointError, MovieError, apply, load_denoiser, train
from nwb_cascade.denoise.movie import MEAN_FRAMES, mean_image, mean_image_frames, to_dtype
from nwb_cascade.denoise.network import UNet3D, parameter_count
from nwb_cascade.denoise.tiles import spans
from nwb_cascade.denoising import denoise
from nwb_cascade.synthetic import synthetic_movie

from ..denoise_files import write_movie_file

PATCH = (16, 32, 32)


@pytest.fixture(scope="module")
def movie():
    return synthetic_movie(48, 40, photons=2.0, seed=3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, movie):
    """A network trained for two steps: enough to exercise every path, not to denoise."""
    path = tmp_path_factory.mktemp("denoiser") / "tiny.pt"
    train(movie.noisy, patch=PATCH, steps=2, checkpoint=path)
    return path


def test_network_is_the_published_size_and_keeps_the_shape():
    network = UNet3D()
    assert 0.95e6 < parameter_count(network) < 1.1e6
    import torch

    with torch.inference_mode():
        assert network(torch.zeros(1, 1, 8, 24, 16)).shape == (1, 1, 8, 24, 16)


@pytest.mark.parametrize("n", [32, 33, 45, 64, 100, 257])
def test_tile_centres_partition_the_axis(n):
    cover = np.zeros(n, int)
    for span in spans(n, 32, 0.25):
        cover[span.target] += 1
        assert span.start <= span.keep_start < span.keep_stop <= span.start + span.size
    assert (cover == 1).all()


def test_integer_write_back_clips_instead_of_wrapping():
    block = np.array([-3.2, 0.4, 70000.0, 65534.6], dtype=np.float32)
    assert to_dtype(block, np.uint16).tolist() == [0, 0, 65535, 65535]
    assert to_dtype(np.array([300.0, -200.0]), np.int8).tolist() == [127, -128]


def test_checkpoint_round_trip_and_settings(checkpoint, movie):
    denoiser = load_denoiser(checkpoint)
    assert denoiser.settings.patch == PATCH and denoiser.settings.steps == 2
    assert denoiser.settings.movie_shape == movie.noisy.shape and len(denoiser.checksum()) == 64
    assert denoiser.settings.scale > 0


def test_checkpoint_from_another_patch_size_is_refused(checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match=r"trained on patches of 16×32×32.*not 32×64×64"):
        load_denoiser(checkpoint, patch=(32, 64, 64))
    other = tmp_path / "not_a_checkpoint.pt"
    other.write_bytes(b"plain text")
    with pytest.raises(CheckpointError, match="not a denoiser checkpoint"):
        load_denoiser(other)


def test_checkpoint_of_the_earlier_normalisation_is_refused(checkpoint, tmp_path):
    import torch

    content = torch.load(checkpoint, weights_only=True)
    content["version"] = 1
    torch.save(content, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="normalised the movie differently.*train a new one"):
        load_denoiser(tmp_path / "old.pt")


class CountingMovie:
    """A movie that counts the frames read from it."""

    def __init__(self, data: np.ndarray) -> None:
        self.data_, self.shape, self.dtype, self.read = data, data.shape, data.dtype, 0

    def __getitem__(self, index):
        block = self.data_[index]
        self.read += len(block)
        return block


def test_mean_image_of_a_long_movie_reads_a_bounded_spread_sample():
    rng = np.random.default_rng(0)
    drift = np.linspace(0, 1, 10_000, dtype=np.float32)[:, None, None]
    data = (100 + 10 * drift + rng.standard_normal((10_000, 4, 4))).astype(np.float32)
    movie = CountingMovie(data)
    image, nan_fraction = mean_image(movie)
    assert movie.read == MEAN_FRAMES and nan_fraction == 0
    np.testing.assert_allclose(image, data.mean(axis=0), atol=0.1)  # the spread sample sees the whole drift
    data[:, 0, 0] = np.nan
    data[::2, 1, 1] = np.nan
    image, nan_fraction = mean_image(data, 0, 100)
    assert image[0, 0] == pytest.approx(np.nanmean(data[:100])) and np.isfinite(image).all()
    assert image[1, 1] == pytest.approx(np.nanmean(data[1:100:2, 1, 1]))
    assert nan_fraction == pytest.approx((100 + 50) / (100 * 16))


@pytest.mark.parametrize(("selection", "n_frames", "window"), [
    ((20, 28), 48, (0, 48)),  # a short movie: all of it
    ((5000, 5010), 100_000, (4005, 6005)),  # a short selection: MEAN_FRAMES around it
    ((99_995, 100_000), 100_000, (98_000, 100_000)),  # ... within the movie
    ((0, 3000), 100_000, (0, 3000)),  # a long selection: itself
])
def test_mean_image_frames_surround_a_short_selection(selection, n_frames, window):
    assert mean_image_frames(*selection, n_frames) == window


def test_a_movie_in_normalised_units_is_warned_about(movie, caplog):
    with caplog.at_level(logging.WARNING):
        train(movie.noisy / 1e4, patch=PATCH, steps=1)
    assert "normalised units, multiply it" in caplog.text


def test_one_frame_is_refused_with_a_reason(checkpoint, movie):
    with pytest.raises(MovieError, match="one 2D image"):
        apply(movie.noisy[0], checkpoint)
    with pytest.raises(MovieError, match="at least 2 consecutive frames"):
        apply(movie.noisy[:1], checkpoint)
    with pytest.raises(MovieError, match="at least 16 frames"):
        train(movie.noisy[:10], patch=PATCH, steps=1)


@pytest.mark.parametrize("settings", [{"steps": 0}, {"steps": -5}, {"train_frames": 0}, {"batch_size": 0},
                                      {"steps": 2.5}, {"learning_rate": 0.0}])
def test_training_settings_that_would_not_train_are_refused(movie, settings):
    with pytest.raises(MovieError, match="must be"):
        train(movie.noisy, patch=PATCH, **{"steps": 1, **settings})


@pytest.mark.parametrize("frames", [(0, 5000), (-100, None), (60, 70)])
def test_frames_beyond_the_movie_are_refused_not_clipped(checkpoint, movie, frames):
    with pytest.raises(MovieError, match="beyond the movie, which has 48 frames"):
        apply(movie.noisy, checkpoint, frames=frames)


def test_cli_refuses_zero_steps_and_frames_beyond_the_movie_before_writing(movie, tmp_path):
    source = write_movie_file(tmp_path / "raw.nwb", movie.noisy)
    for arguments, message in ((["--steps", "0"], "steps must be a whole number above 0"),
                               (["--frames", "0:5000"], "reach beyond the movie, which has 48 frames")):
        result = CliRunner().invoke(main, ["denoise", str(source), *arguments, "-o", str(tmp_path / "den.nwb")])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "den.nwb").exists() and not (tmp_path / "den.denoiser.pt").exists()


def test_movie_smaller_than_one_tile(checkpoint, movie, caplog):
    small = movie.noisy[:12, :20, :13]
    with caplog.at_level(logging.INFO):
        out = apply(small, checkpoint)
    assert out.shape == small.shape and out.dtype == small.dtype
    assert "smaller than the trained patch" in caplog.text
    with caplog.at_level(logging.WARNING):
        denoiser = train(movie.noisy[:20, :20, :13], patch=PATCH, steps=1)
    assert denoiser.settings.patch == (8, 24, 24) and "smaller than the patch" in caplog.text


def test_nan_pixels_stay_nan_and_do_not_spread(checkpoint, movie):
    data = movie.noisy.astype(np.float32)
    data[5:9, 10:14, 10:14] = np.nan
    out = apply(data, checkpoint)
    missing = np.isnan(data)
    assert np.isnan(out[missing]).all() and np.isfinite(out[~missing]).all()
    assert np.isfinite(train(data, patch=PATCH, steps=1).settings.scale)


def test_saturated_uint16_movie_is_clipped_not_wrapped(checkpoint, movie, caplog):
    data = (movie.noisy.astype(np.float32) * 20000).clip(0, 65535).astype(np.uint16)
    assert (data == 65535).mean() > 0.01
    with caplog.at_level(logging.WARNING):
        as_float = apply(data, checkpoint, dtype=np.float32)
        as_uint = apply(data, checkpoint)
    assert "saturated" in caplog.text
    assert as_uint.dtype == np.uint16
    np.testing.assert_array_equal(as_uint, np.clip(np.rint(as_float), 0, 65535).astype(np.uint16))


def test_apply_reads_lazily_from_an_h5py_dataset_and_writes_into_one(checkpoint, movie, tmp_path):
    with h5py.File(tmp_path / "movie.h5", "w") as handle:
        handle["raw"] = movie.noisy
        handle.create_dataset("out", shape=(30, 40, 40), dtype=np.float32)
        apply(handle["raw"], checkpoint, frames=(10, 40), out=handle["out"], dtype=np.float32)
        stored = handle["out"][:]
    np.testing.assert_allclose(stored, apply(movie.noisy, checkpoint, frames=slice(10, 40), dtype=np.float32),
                               atol=1e-4)


@pytest.mark.parametrize("timestamps", [False, True])
def test_standalone_file_holds_the_denoised_series_with_provenance(checkpoint, movie, tmp_path, timestamps):
    source = write_movie_file(tmp_path / "raw.nwb", movie.noisy, timestamps=timestamps)
    summary = denoise(source, tmp_path / "out.nwb", denoiser=checkpoint, frames="8:40")
    expected = apply(movie.noisy, checkpoint, frames=(8, 40))
    with NWBHDF5IO(str(summary.output), "r") as io:
        nwbfile = io.read()
        series = nwbfile.processing["denoising"]["TwoPhotonSeries"]
        np.testing.assert_array_equal(series.data[:], expected)
        assert series.data.dtype == np.uint16 and series.first_frame == 8
        assert series.source_series_path == "acquisition/TwoPhotonSeries" and series.source is None
        assert series.model_checksum == load_denoiser(checkpoint).checksum()
        assert series.imaging_plane.indicator == "GCaMP6s" and nwbfile.subject.subject_id == "m1"
        assert nwbfile.lab == "test lab" and "TwoPhotonSeries" not in nwbfile.acquisition
        if timestamps:
            np.testing.assert_allclose(series.timestamps[:], 10 + np.arange(8, 40) / 30.0)
        else:
            assert series.rate == 30.0 and series.starting_time == pytest.approx(10 + 8 / 30.0)


def test_in_place_adds_a_linked_series_and_refuses_to_repeat(checkpoint, movie, tmp_path):
    source = write_movie_file(tmp_path / "raw.nwb", movie.noisy)
    denoise(source, in_place=True, denoiser=checkpoint)
    with NWBHDF5IO(str(source), "r") as io:
        nwbfile = io.read()
        series = nwbfile.processing["denoising"]["TwoPhotonSeries"]
        assert series.source is nwbfile.acquisition["TwoPhotonSeries"]
        assert series.imaging_plane is nwbfile.acquisition["TwoPhotonSeries"].imaging_plane
        np.testing.assert_array_equal(series.data[:], apply(movie.noisy, checkpoint))
    with h5py.File(source, "r") as handle:
        assert "TwoPhotonSeries__writing" not in handle["processing/denoising"]
    before = source.read_bytes()
    from nwb_cascade.nwb.read import NWBInputError

    with pytest.raises(NWBInputError, match="already holds processing/denoising/TwoPhotonSeries"):
        denoise(source, in_place=True, denoiser=checkpoint)
    assert source.read_bytes() == before


def test_cli_trains_saves_a_checkpoint_and_denoises(movie, tmp_path):
    source = write_movie_file(tmp_path / "raw.nwb", movie.noisy)
    out = tmp_path / "den.nwb"
    result = CliRunner().invoke(main, ["denoise", str(source), "--frames", "4:36", "--train-frames", "32",
                                       "--steps", "1", "--patch", "16,32,32", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "processing/denoising/TwoPhotonSeries" in result.output and (tmp_path / "den.denoiser.pt").is_file()
    with NWBHDF5IO(str(out), "r") as io:
        series = io.read().processing["denoising"]["TwoPhotonSeries"]
        assert series.data.shape == (32, 40, 40)
        settings = load_denoiser(tmp_path / "den.denoiser.pt").settings
        assert settings.train_frames == (4, 36) and settings.patch == (16, 32, 32)
    result = CliRunner().invoke(main, ["denoise", str(source), "--patch", "10,32,32", "-o", str(out), "--overwrite"])
    assert result.exit_code != 0 and "multiples of 8" in result.output


@pytest.mark.slow
def test_cli_one_frame_series_is_a_one_line_error(movie, tmp_path, checkpoint):
    source = write_movie_file(tmp_path / "one.nwb", movie.noisy[:1])
    done = subprocess.run([sys.executable, "-c", "from nwb_cascade.cli import run; run()", "denoise", str(source),
                           "--denoiser", str(checkpoint), "-o", str(tmp_path / "o.nwb")], capture_output=True, text=True,
                          check=False)
    assert done.returncode != 0
    assert "at least 2 consecutive frames" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("chunks", [None, (5, 16, 16)], ids=["contiguous", "chunked"])
def test_remote_movie_streams_to_the_same_result(checkpoint, movie, tmp_path, chunks):
    from ..http_server import RangeServer

    served = tmp_path / "served"
    served.mkdir()
    write_movie_file(served / "raw.nwb", movie.noisy, chunks=chunks)
    local = denoise(served / "raw.nwb", tmp_path / "local.nwb", denoiser=checkpoint, frames="8:40")
    with RangeServer(served) as server:
        url = f"{server.url}/raw.nwb"
        remote = denoise(url, tmp_path / "remote.nwb", denoiser=checkpoint, frames="8:40")
        assert all(status == 206 for method, _, status, _ in server.log if method == "GET")
        with pytest.raises(Exception, match="remote|local"):
            denoise(url, in_place=True, denoiser=checkpoint)
    with NWBHDF5IO(str(local.output), "r") as a, NWBHDF5IO(str(remote.output), "r") as b:
        ours, theirs = (io.read().processing["denoising"]["TwoPhotonSeries"] for io in (a, b))
        np.testing.assert_array_equal(ours.data[:], theirs.data[:])
        assert theirs.source_url == url


def test_zarr_movie_gives_the_same_result_as_hdf5(checkpoint, movie, tmp_path):
    from ..writers.neuroconv import to_zarr

    hdf5 = write_movie_file(tmp_path / "raw.nwb", movie.noisy, chunks=(5, 16, 16))
    zarr = to_zarr(hdf5, tmp_path / "raw.nwb.zarr")
    ours = denoise(hdf5, tmp_path / "from_hdf5.nwb", denoiser=checkpoint, frames="8:40")
    theirs = denoise(zarr, tmp_path / "from_zarr.nwb", denoiser=checkpoint, frames="8:40")
    with NWBHDF5IO(str(ours.output), "r") as a, NWBHDF5IO(str(theirs.output), "r") as b:
        np.testing.assert_array_equal(*(io.read().processing["denoising"]["TwoPhotonSeries"].data[:] for io in (a, b)))


@pytest.mark.slow
def test_denoising_example_runs_end_to_end(tmp_path):
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "denoise_synthetic_movie.py"
    run = subprocess.run([sys.executable, str(script), str(tmp_path), "--steps", "2"], capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "PSNR against the clean movie" in run.stderr
    with NWBHDF5IO(str(tmp_path / "synthetic_movie.nwb"), "r") as raw_io, \
            NWBHDF5IO(str(tmp_path / "synthetic_movie.denoised.nwb"), "r") as out_io:
        raw = raw_io.read().acquisition["TwoPhotonSeries"]
        denoised = out_io.read().processing["denoising"]["TwoPhotonSeries"]
        assert denoised.data.shape == raw.data.shape and denoised.data.dtype == raw.data.dtype
