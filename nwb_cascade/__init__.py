"""nwb-cascade: Cascade spike inference and DeepCAD-RT denoising for NWB files.

- :func:`annotate` - add spike rates and discrete spikes to an NWB file, in place
- :func:`infer` - write them, with what they need, into a new NWB file
- :func:`batch` - :func:`infer` for many sessions (files, folders, URLs, dandisets) on Dask
- :func:`summarize` - a batch folder's results as one table of every ROI, a log-normal fit and figures
- :func:`inspect` - every RoiResponseSeries of a file, what it holds, and which a run uses
- :func:`plot_results` - a figure of traces, rates, spikes and noise levels
- :func:`nwb_cascade.allen.process_session` - an Allen Brain Observatory session (id, asset, URL, file)
- :mod:`nwb_cascade.nwb.sources` - local paths, URLs and DANDI assets; ``list_assets`` of a dandiset
- :func:`nwb_cascade.denoising.denoise_nwb` - denoise a TwoPhotonSeries (DeepCAD-RT) into NWB

The methods live in :mod:`nwb_cascade.cascade` and :mod:`nwb_cascade.denoise` (numpy and torch
only), NWB input and output in :mod:`nwb_cascade.nwb`; the README's "How the code is laid out"
has a line for every module.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nwb-cascade")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

from . import cascade
from .batch import batch  # the function: the module stays reachable as sys.modules["nwb_cascade.batch"]
from .spike_inference import annotate, infer, inspect
from .summarize import summarize


def __getattr__(name: str):
    # plot_results imports matplotlib: only when asked for
    if name == "plot_results":
        from .plot import plot_results

        return plot_results
    raise AttributeError(f"module 'nwb_cascade' has no attribute {name!r}")


__all__ = ["__version__", "annotate", "batch", "cascade", "infer", "inspect", "plot_results", "summarize"]
