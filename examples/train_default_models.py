"""The recipe of the models bundled with nwb-cascade (nwb_cascade/cascade/models/).

Usage: python examples/train_default_models.py [--ground-truth ../shared/data/ground_truth]
                                               [--ensemble-size N] [--nr-of-epochs N] [--device cuda] [--only NAME]

Two general-purpose models for excitatory neurons, trained on every excitatory
dataset of the public ground truth (interneuron datasets, which name PV, SST or
VIP, are left out), noise levels 1-9, the published network, epoch rule and
optimiser (see nwb_cascade.cascade.train):

- Default_EXC_30Hz_smoothing50ms: 30 Hz, targets smoothed with σ = 50 ms;
- Default_EXC_7.5Hz_smoothing200ms: 7.5 Hz, σ = 200 ms.

And two indicator-matched models for the Allen Brain Observatory (``nwb-cascade allen``
picks one from the subject's genotype), trained on the mouse V1 datasets of that
indicator only, noise levels 1-6 (Allen ΔF/F sits at about 0.5-3):

- GCaMP6f_mouse_V1_30Hz_smoothing50ms: DS09, DS10, DS11 (GCaMP6f);
- GCaMP6s_mouse_V1_30Hz_smoothing50ms: DS12-DS16 (GCaMP6s).

Training resumes where it stopped (weight files already written are kept).
"""

import argparse
import logging
from pathlib import Path

import numpy as np

from nwb_cascade.cascade.ground_truth import dataset_folders, excitatory
from nwb_cascade.cascade.train import matched_config, train

BUNDLED = Path(__file__).resolve().parents[1] / "nwb_cascade" / "cascade" / "models"
# name: (frame rate, smoothing, datasets (None: every excitatory one), noise levels)
RECIPES = {
    "Default_EXC_30Hz_smoothing50ms": (30.0, 0.05, None, range(1, 10)),
    "Default_EXC_7.5Hz_smoothing200ms": (7.5, 0.2, None, range(1, 10)),
    "GCaMP6f_mouse_V1_30Hz_smoothing50ms": (30.0, 0.05, "GCaMP6f-m-V1", range(1, 7)),
    "GCaMP6s_mouse_V1_30Hz_smoothing50ms": (30.0, 0.05, "GCaMP6s-m-V1", range(1, 7)),
}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ground-truth", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ground_truth"))
    parser.add_argument("--ensemble-size", type=int, default=5)
    parser.add_argument("--nr-of-epochs", type=int, default=20, help="cap of the published epoch rule (config key)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--workers", type=int, default=None, help="training processes on the CPU (default: one per core)")
    parser.add_argument("--only", choices=sorted(RECIPES), default=None)
    args = parser.parse_args()
    every = excitatory([folder.name for folder in dataset_folders(args.ground_truth)])
    for name, (rate, smoothing, indicator, levels) in RECIPES.items():
        if args.only and name != args.only:
            continue
        datasets = every if indicator is None else [dataset for dataset in every if indicator in dataset]
        config = matched_config(rate, np.arange(1, 10, dtype=float), datasets, ensemble_size=args.ensemble_size,
                                nr_of_epochs=args.nr_of_epochs, name=name)
        config["noise_levels"] = list(levels)
        config["smoothing"] = smoothing
        model = train(config, args.ground_truth, BUNDLED / name, device=args.device, workers=args.workers)
        logging.getLogger("recipe").info("%s: %s", name, model.path)


if __name__ == "__main__":
    main()
