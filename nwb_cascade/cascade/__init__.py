"""The Cascade method: calibrated spike inference from ΔF/F traces.

This subpackage knows numpy and torch, not NWB.  Its public names:

- :func:`load_model` - a model folder, or a published model by name (downloaded and cached)
- :func:`noise_levels` - per-ROI noise levels
- :func:`delta_f_over_f` - ΔF/F from raw fluorescence and neuropil (:class:`DffRecipe`)
- :func:`predict` - spike rates (spikes per frame) from ΔF/F traces
- :func:`spikes_per_second` - spikes per frame to spikes/s
- :func:`discrete_spikes`, :func:`spike_times` - integer spikes that explain the rates, and their times
- :func:`list_models`, :func:`download_model` - the published model zoo
"""

from .dff import DffRecipe, delta_f_over_f
from .errors import (
    CascadeError,
    DownloadError,
    FrameRateError,
    InputError,
    ModelError,
    NoiseLevelError,
    NoiseLevelWarning,
    OrientationWarning,
)
from .inference import predict, spikes_per_second
from .model import CascadeModel, load_model_folder
from .noise import noise_levels
from .spikes import discrete_spikes, spike_times
from .zoo import cache_dir, download_model, list_models, load_model, registry

__all__ = [
    "CascadeError",
    "CascadeModel",
    "DffRecipe",
    "DownloadError",
    "FrameRateError",
    "InputError",
    "ModelError",
    "NoiseLevelError",
    "NoiseLevelWarning",
    "OrientationWarning",
    "cache_dir",
    "delta_f_over_f",
    "discrete_spikes",
    "download_model",
    "list_models",
    "load_model",
    "load_model_folder",
    "noise_levels",
    "predict",
    "registry",
    "spike_times",
    "spikes_per_second",
]
