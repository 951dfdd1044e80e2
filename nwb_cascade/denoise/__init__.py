"""Self-supervised denoising of two-photon movies (DeepCAD-RT).

This subpackage knows numpy and torch, not NWB.  Its public names:

- :func:`train` - train a denoiser on (part of) a movie (array, h5py dataset or TwoPhotonSeries)
- :func:`apply` - denoise a movie with it, tile by tile and frame block by frame block
- :func:`denoised_blocks` - the same as a stream of frame blocks
- :func:`load_denoiser`, :class:`Denoiser` - checkpoints
"""

from .apply import apply, denoised_blocks
from .checkpoint import CheckpointError, Denoiser, Settings, load_denoiser
from .movie import MovieError
from .network import UNet3D
from .train import train

__all__ = ["CheckpointError", "Denoiser", "MovieError", "Settings", "UNet3D", "apply", "denoised_blocks",
           "load_denoiser", "train"]
