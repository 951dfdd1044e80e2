"""nwb-cascade: Cascade spike inference and DeepCAD-RT denoising for NWB files.

One function per verb, each ``verb(source, output=None, *, options=None, **overrides)``, mirroring the
``nwb-cascade`` commands:

- :func:`infer` - spike rates and discrete spikes of every plane, into a new NWB file, in place, or as a
  LINDI amendment of a remote file
- :func:`inspect` - every RoiResponseSeries of a file, what a run takes it for, and why
- :func:`batch` - :func:`infer` for many sessions (files, folders, URLs, dandisets) on Dask
- :func:`summarize` - a batch folder's results as one table of every ROI, a log-normal fit and figures
- :func:`nwb_cascade.denoising.denoise` - a TwoPhotonSeries denoised (DeepCAD-RT), into a new NWB file or in
  place (not at the top level: :mod:`nwb_cascade.denoise` is the denoising engine)
- :func:`plot_results` - a figure of traces, rates, spikes and noise levels
- :func:`process_session` - an Allen Brain Observatory session (id, asset, URL, file)
- :class:`RunOptions`, :class:`DenoiseOptions` - the options of those verbs, declared once

The methods live in :mod:`nwb_cascade.cascade` and :mod:`nwb_cascade.denoise` (numpy and torch only),
NWB input and output in :mod:`nwb_cascade.nwb`; the documentation's "How the code is laid out" has a line
for every module.  Importing the package is light: each name loads its module (and torch, pynwb, dask)
when first used.
"""

from importlib import import_module

# The functions named as their modules, imported now: a later import of the module must not replace the name
# (both modules import nothing heavy).
from .batch import batch  # noqa: E402
from .common.version import __version__
from .summarize import summarize  # noqa: E402

#: Public name -> the module that defines it (imported on first use).
_PUBLIC = {
    "infer": "spike_inference",
    "inspect": "spike_inference",
    "plot_results": "plot",
    "process_session": "allen",
    "RunOptions": "options",
    "DenoiseOptions": "options",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    if name == "cascade":
        return import_module(".cascade", __name__)
    raise AttributeError(f"module 'nwb_cascade' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC, "cascade"])


__all__ = ["DenoiseOptions", "RunOptions", "__version__", "batch", "cascade", "infer", "inspect", "plot_results",
           "process_session", "summarize"]
