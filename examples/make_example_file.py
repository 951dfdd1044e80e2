"""Build a small, realistic NWB file from the real Allen Brain Observatory excerpt.

Usage: python examples/make_example_file.py [OUT.nwb] [--layout visual_coding|visual_behavior|fluorescence]
                                            [--shared ../shared/data]

The file holds 74 ROIs x 6001 frames of ΔF/F at 30 Hz in the Allen Visual Coding layout
(processing/ophys/DfOverF/DfOverF, with timestamps, ROI masks, imaging plane and subject),
ready for `nwb-cascade infer`.
"""

import argparse
import logging
from pathlib import Path

from scipy.io import loadmat

from nwb_cascade.nwb.example import LAYOUTS, write_example_file

EXCERPT = "examples/Allen-Brain-Observatory-Visual-Coding-30Hz/Experiment_552195520_excerpt.mat"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="example.nwb")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="visual_coding")
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    traces = loadmat(Path(args.shared) / EXCERPT)["dF_traces"]
    path = write_example_file(args.out, traces, 30.0, layout=args.layout)
    logging.getLogger("example").info("wrote %s (%d ROIs x %d frames, %s layout)", path, *traces.shape, args.layout)


if __name__ == "__main__":
    main()
