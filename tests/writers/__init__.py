"""NWB files as the real writers lay them out: suite2p, NeuroConv, CaImAn, pynwb's mocks, the Allen Institute's
converters (Visual Coding on DANDI 000728, the AllenSDK's Visual Behavior on 000711), and NWB Zarr.

Where a writer installs beside this package it runs for real (NeuroConv, roiextractors, pynwb's mocks,
hdmf-zarr; suite2p in a separate environment, see :mod:`tests.writers.suite2p_files`); where it does not
(CaImAn, the AllenSDK, the Visual Coding converter) the layout is rebuilt with pynwb from the writer's
code, and each function's docstring names the file and function it follows.  FACTS.md beside this
package lists the facts with their sources.
"""
