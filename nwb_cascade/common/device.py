"""The torch device a computation runs on: one rule for the Cascade engine and the denoiser."""

from __future__ import annotations

import torch

from .errors import NWBCascadeError


class DeviceError(NWBCascadeError, RuntimeError):
    """A device that was asked for and is not there."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to run on: the one asked for, else CUDA when present, else CPU.

    Raises
    ------
    DeviceError
        For a name torch does not know (``"foo"``), or a device this machine does not have
        (``"cuda"`` without a CUDA GPU, ``"cuda:3"`` with fewer GPUs, ``"mps"`` off Apple silicon).
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"{device!r} is not a device: use cpu, cuda, cuda:1 (a GPU by its index) or mps") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {str(device)!r} was asked for, but PyTorch sees no CUDA GPU (a CPU build of "
                              "torch, or no driver); use --device cpu (device='cpu')")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise DeviceError(f"device {str(device)!r} was asked for, but this machine has "
                              f"{torch.cuda.device_count()} CUDA GPU(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    elif chosen.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {str(device)!r} was asked for, but PyTorch sees no Apple GPU; use --device cpu")
    elif chosen.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {str(device)!r} is not supported here: use cpu, cuda or mps")
    return chosen
