"""Does an indicator-matched model help on held-out data of that indicator?

Usage: python benchmarks/indicator_models.py [--ground-truth ../shared/data/ground_truth]

Scores the bundled GCaMP6f_mouse_V1_30Hz_smoothing50ms (trained on DS09-DS11 only) beside the
bundled Default_EXC_30Hz_smoothing25ms (the published list, DS03-DS20) on the GCaMP6f datasets that
neither was trained on (DS24-DS27: PV, SST and VIP interneurons in mouse V1), resampled to 30 Hz
and to noise levels 2 and 4: median correlation, error and bias over neurons (the paper's measures),
against the true spikes smoothed by one common Gaussian for both models (``--kernel``, 50 ms by default:
the models' own smoothing differs, and each scored against its own would not be comparable).
The GCaMP6s model has no held-out GCaMP6s data to be scored on (DS12-DS16 are all in its training).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nwb_cascade.cascade import load_model
from nwb_cascade.cascade.evaluate import score_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TEST = ["DS24-GCaMP6f-m-PV-V1", "DS25-GCaMP6f-m-SST-V1", "DS26-GCaMP6f-m-VIP-V1", "DS27-GCaMP6f-m-PV-vivo-V1"]
MODELS = ["GCaMP6f_mouse_V1_30Hz_smoothing50ms", "Default_EXC_30Hz_smoothing25ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ground-truth", default=str(SHARED / "ground_truth"))
    parser.add_argument("--kernel", type=float, default=0.05, help="σ of the common target kernel, seconds")
    args = parser.parse_args()
    print(f"common kernel σ = {args.kernel * 1e3:g} ms\n")
    models = {name: load_model(name) for name in MODELS}
    print("| dataset | noise | " + " | ".join(f"{name} r / error / bias" for name in MODELS) + " |")
    print("|---|---|" + "---|" * len(MODELS))
    correlations: dict[str, list[float]] = {name: [] for name in MODELS}
    for dataset in TEST:
        for level in (2.0, 4.0):
            cells = []
            for name, model in models.items():
                row = score_dataset(model, Path(args.ground_truth) / dataset, level, smoothing=args.kernel)
                correlations[name].append(row.correlation)
                cells.append(f"{row.correlation:.3f} / {row.error:.2f} / {row.bias:+.2f}")
            print(f"| {dataset} | {level:g} | " + " | ".join(cells) + " |")
    print("| **median r** | | " + " | ".join(f"**{np.nanmedian(correlations[n]):.3f}**" for n in MODELS) + " |")


if __name__ == "__main__":
    main()
