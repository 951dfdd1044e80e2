"""Held-out accuracy of a model trained here with the published model's own config, beside the
published weights, both run through this package's engine.

Usage: python benchmarks/accuracy.py RETRAINED_MODEL_DIR [--published DIR]

Test data: DS21-DS29 (none was in either model's training set), resampled to 30 Hz and to noise
levels 2 and 4; median correlation over neurons per dataset (the paper's measure).  When the
retrained model has fewer ensemble members than the published one, the published model is also
shown with as many members (its first ones), for a like-for-like comparison.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nwb_cascade.cascade import load_model
from nwb_cascade.cascade.evaluate import score_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TEST = ["DS21-jGECO1a-m-V1", "DS22-OGB1-m-SST-V1", "DS23-OGB1-m-PV-V1", "DS24-GCaMP6f-m-PV-V1",
        "DS25-GCaMP6f-m-SST-V1", "DS26-GCaMP6f-m-VIP-V1", "DS27-GCaMP6f-m-PV-vivo-V1", "DS28-XCaMPgf-m-V1",
        "DS29-GCaMP7f-m-V1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("retrained")
    parser.add_argument("--published", default=str(SHARED / "models" / "Global_EXC_30Hz_smoothing25ms"))
    args = parser.parse_args()
    ours = load_model(args.retrained)
    published = load_model(args.published)
    members = min(len(m) for m in ours.weights.values())
    models = {"published": published}
    if members < min(len(m) for m in published.weights.values()):
        models[f"published, {members} member(s)"] = published.first_members(members)
    models[f"retrained here, {members} member(s)"] = ours
    names = list(models)
    print("| dataset | noise | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    columns: dict[str, list[float]] = {name: [] for name in names}
    for dataset in TEST:
        for level in (2.0, 4.0):
            values = [score_dataset(models[name], SHARED / "ground_truth" / dataset, level).correlation for name in names]
            for name, value in zip(names, values):
                columns[name].append(value)
            print(f"| {dataset} | {level:g} | " + " | ".join(f"{v:.3f}" for v in values) + " |", flush=True)
    print("| **median** | | " + " | ".join(f"**{np.nanmedian(columns[n]):.3f}**" for n in names) + " |")


if __name__ == "__main__":
    main()
