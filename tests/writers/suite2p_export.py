"""Run suite2p's own NWB export on a suite2p output folder: ``python suite2p_export.py FOLDER`` writes
``FOLDER/ophys.nwb``.  Runs in the writer environment (see tests/writers/suite2p_files.py), not in the tests'.
"""

import sys

from suite2p.io import save_nwb

if __name__ == "__main__":
    save_nwb(sys.argv[1])
