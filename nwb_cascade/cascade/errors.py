"""Errors of the Cascade engine: each names what is wrong and how to fix it."""

from ..common.errors import NWBCascadeError


class CascadeError(NWBCascadeError, ValueError):
    """Base class of the engine's errors (a ``ValueError``: the input is at fault)."""


class ModelError(CascadeError):
    """A model folder, config or weight file that cannot be used."""


class InputError(CascadeError):
    """Traces that the engine cannot process as given."""


class FrameRateError(CascadeError):
    """The data's frame rate does not match the model's."""


class NoiseLevelError(CascadeError):
    """Noise levels far outside anything a model covers (usually not ΔF/F)."""


class DownloadError(CascadeError, OSError):
    """A download that failed after its retries, or whose file failed verification."""


class OrientationWarning(UserWarning):
    """Traces that look like frames × ROIs instead of ROIs × frames."""


class NoiseLevelWarning(UserWarning):
    """ROIs noisier than the highest noise level the model was trained for."""


class OutlierWarning(UserWarning):
    """Values no recording gives (infinite, or orders of magnitude beyond their ROI's range), read as missing."""


class QuantizationWarning(UserWarning):
    """Values stored in steps as large as their frame-to-frame changes: noise levels measure the storage."""
