"""Denoise a synthetic two-photon movie stored in NWB, and measure the result against the clean movie.

Usage: python examples/denoise_synthetic_movie.py [OUT_DIR] [--ground-truth DIR] [--steps N]

Writes OUT_DIR/synthetic_movie.nwb (the noisy movie as acquisition/TwoPhotonSeries, with
the ROIs' ΔF/F), runs the same workflow as ``nwb-cascade denoise`` on it (train on the
movie, save the checkpoint, write OUT_DIR/synthetic_movie.denoised.nwb), then reads the
denoised movie back and logs its PSNR, and the best Gaussian blur's, against the clean
movie.  Simulated ΔF/F by default; with --ground-truth (the Cascade ground-truth folder,
e.g. ../shared/data/ground_truth) the neurons follow real GCaMP6 recordings.
"""

import argparse
import logging
from pathlib import Path

from pynwb import NWBHDF5IO

from nwb_cascade.denoise.quality import best_blur, psnr
from nwb_cascade.denoising import denoise
from nwb_cascade.nwb.example import write_example_file
from nwb_cascade.synthetic import synthetic_movie

log = logging.getLogger("example")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default=".")
    parser.add_argument("--ground-truth", default=None)
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the device's)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    movie = synthetic_movie(600, 64, photons=2.0, ground_truth=args.ground_truth, seed=1)
    source = write_example_file(out / "synthetic_movie.nwb", movie.roi_dff(movie.clean), movie.frame_rate,
                                movie=movie.noisy)
    denoise(source, out / "synthetic_movie.denoised.nwb", checkpoint=out / "synthetic_movie.denoiser.pt",
            steps=args.steps, progress=True)
    with NWBHDF5IO(str(out / "synthetic_movie.denoised.nwb"), "r") as io:
        denoised = io.read().processing["denoising"]["TwoPhotonSeries"].data[:]
    blur, sigmas, _ = best_blur(movie.noisy, movie.clean)
    log.info("PSNR against the clean movie: raw %.1f dB, denoised %.1f dB, best Gaussian blur %.1f dB "
             "(σ %g frames, %g px)", psnr(movie.noisy, movie.clean), psnr(denoised, movie.clean), blur, *sigmas)


if __name__ == "__main__":
    main()
