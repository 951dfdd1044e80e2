"""The torch device a computation runs on: one rule for the Cascade engine and the denoiser."""

from __future__ import annotations

import torch

from .errors import NWBCascadeError


class DeviceError(NWBCascadeError, RuntimeError):
    """A device that was asked for and is not there."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to run on: the one asked for, else CUDA when present, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU; use device='cpu' (--device cpu)")
    return device
