"""Spike rates for the real Allen Brain Observatory excerpt with the published 30 Hz model.

Usage: python examples/predict_allen_excerpt.py [SHARED_DATA_DIR] [OUT.npz]

SHARED_DATA_DIR defaults to ../shared/data beside the checkout; it holds the
excerpt (74 ROIs x 6001 frames of ΔF/F at 30 Hz) and the model folder.
"""

import logging
import sys
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from nwb_cascade.cascade import load_model, noise_levels, predict, spikes_per_second

log = logging.getLogger("example")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("allen_excerpt_rates.npz")
    excerpt = shared / "examples" / "Allen-Brain-Observatory-Visual-Coding-30Hz" / "Experiment_552195520_excerpt.mat"
    traces = loadmat(excerpt)["dF_traces"]  # ROIs x frames, ΔF/F as a fraction
    model = load_model(shared / "models" / "Global_EXC_30Hz_smoothing25ms")

    noise = noise_levels(traces, frame_rate=30)
    rates = predict(traces, model, frame_rate=30, noise_levels=noise, progress=True)  # spikes per frame
    per_second = spikes_per_second(rates, 30)
    np.savez_compressed(out, spikes_per_frame=rates, noise_levels=noise)
    log.info("%d ROIs x %d frames; noise levels %.2f-%.2f (median %.2f)", *traces.shape, noise.min(), noise.max(), np.median(noise))
    log.info("mean rate %.2f spikes/s; %.0f spikes inferred in all; saved %s", np.nanmean(per_second), np.nansum(rates), out)


if __name__ == "__main__":
    main()
