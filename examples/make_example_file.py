"""Build a small, realistic NWB file to try nwb-cascade on.

Usage: python examples/make_example_file.py [OUT.nwb] [--layout visual_coding|visual_behavior|fluorescence]
                                            [--allen ../shared/data] [--synthetic]

By default the file holds simulated ΔF/F (40 GCaMP6-like ROIs, 5 minutes at 30 Hz), so it
needs nothing but this package.  With --allen DIR it holds the real Allen Brain Observatory
excerpt from DIR (74 ROIs x 6001 frames at 30 Hz).  Either way the layout is the Allen Visual
Coding one (processing/ophys/DfOverF/DfOverF, with timestamps, ROI masks, imaging plane and
subject), ready for `nwb-cascade infer`.
"""

import argparse
import logging
from pathlib import Path

from nwb_cascade.nwb.example import LAYOUTS, synthetic_traces, write_example_file

EXCERPT = "examples/Allen-Brain-Observatory-Visual-Coding-30Hz/Experiment_552195520_excerpt.mat"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="example.nwb")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="visual_coding")
    parser.add_argument("--allen", default=None, help="shared data folder holding the Allen excerpt")
    args = parser.parse_args()
    if args.allen:
        from scipy.io import loadmat

        traces = loadmat(Path(args.allen) / EXCERPT)["dF_traces"]
    else:
        traces, _ = synthetic_traces()
    path = write_example_file(args.out, traces, 30.0, layout=args.layout)
    logging.getLogger("example").info("wrote %s (%d ROIs x %d frames, %s layout)", path, *traces.shape, args.layout)


if __name__ == "__main__":
    main()
