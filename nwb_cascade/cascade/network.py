"""The Cascade network, per window and as one whole-trace evaluation.

The published network sees one window of ``windowsize`` (64) frames::

    conv1 (1 -> 30, kernel 31) -> ReLU
    conv2 (30 -> 40, kernel 19) -> ReLU -> max-pool 2
    conv3 (40 -> 50, kernel 5)  -> ReLU -> max-pool 2
    dense1 (50 -> 10) on each remaining time step -> ReLU
    flatten time-major (index = step * 10 + channel) -> dense2 (20 -> 1)

:class:`CascadeNet` is that network, with the published state-dict keys, for
training and for the naive per-window reference.  :class:`TraceEnsemble` gives
the same numbers for every window of a trace at once: each layer runs once over
the whole trace, max-pooling keeps every phase (stride 1), and the layers after
a pooling are dilated by the pooling factor so that they read exactly the
samples that the windowed network reads.  The members of an ensemble are fused
into grouped convolutions, and the ensemble mean is folded into the last layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

STATE_KEYS = ("conv1", "conv2", "conv3", "dense1", "dense2")


class CascadeNet(nn.Module):
    """The published per-window Cascade network.

    Parameters
    ----------
    windowsize
        Frames per window (64 for every published model).
    filter_sizes
        Kernel sizes of the three convolutions.
    filter_numbers
        Output channels of the three convolutions.
    dense_expansion
        Width of the first dense layer.
    """

    def __init__(
        self,
        windowsize: int = 64,
        filter_sizes: Sequence[int] = (31, 19, 5),
        filter_numbers: Sequence[int] = (30, 40, 50),
        dense_expansion: int = 10,
    ) -> None:
        super().__init__()
        k1, k2, k3 = filter_sizes
        n1, n2, n3 = filter_numbers
        self.conv1 = nn.Conv1d(1, n1, k1)
        self.conv2 = nn.Conv1d(n1, n2, k2)
        self.conv3 = nn.Conv1d(n2, n3, k3)
        self.dense1 = nn.Linear(n3, dense_expansion)
        steps = window_steps(windowsize, filter_sizes)
        if steps < 1:
            raise ValueError(
                f"windowsize {windowsize} is too short for filter sizes {tuple(filter_sizes)}"
            )
        self.dense2 = nn.Linear(steps * dense_expansion, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Evaluate windows of shape (n, windowsize) or (n, windowsize, 1); returns (n,)."""
        x = windows.reshape(windows.shape[0], 1, -1)
        x = F.relu(self.conv1(x))
        x = F.max_pool1d(F.relu(self.conv2(x)), 2)
        x = F.max_pool1d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.dense1(x.transpose(1, 2)))  # (n, steps, dense): time-major flatten
        return self.dense2(x.flatten(1)).squeeze(1)


def window_steps(windowsize: int, filter_sizes: Sequence[int]) -> int:
    """Time steps left in one window after the three convolutions and two poolings."""
    k1, k2, k3 = filter_sizes
    return ((windowsize - k1 + 1 - k2 + 1) // 2 - k3 + 1) // 2


class TraceEnsemble(nn.Module):
    """Whole-trace evaluation of an ensemble of :class:`CascadeNet` members.

    ``forward(x)`` with ``x`` of shape (batch, frames) returns (batch,
    frames - windowsize + 1): element ``s`` is the ensemble mean of the
    networks' outputs for the window ``x[:, s : s + windowsize]``.

    Each layer runs once over the whole trace.  Max-pooling keeps every phase
    (stride 1), so the layers after the first pooling read every 2nd sample
    (dilation 2) and those after the second every 4th (dilation 4); dense1
    becomes a 1x1 convolution and dense2 a 2-tap convolution with dilation 4.
    Tensors are laid out as 2-D images of height 1 in channels-last order,
    which the CPU convolution kernels (oneDNN) run fastest.

    Parameters
    ----------
    state_dicts
        One published state dict per ensemble member.
    windowsize
        The window length the members were trained on.
    """

    def __init__(self, state_dicts: Sequence[Mapping[str, torch.Tensor]], windowsize: int = 64) -> None:
        super().__init__()
        if not state_dicts:
            raise ValueError("an ensemble needs at least one member")
        self.windowsize = windowsize
        self.members = len(state_dicts)
        kernel_sizes = tuple(state_dicts[0][f"conv{i}.weight"].shape[-1] for i in (1, 2, 3))
        self.steps = window_steps(windowsize, kernel_sizes)
        self.layers = nn.ModuleList(_member_layers(sd, self.steps, self.members) for sd in state_dicts)
        bias = torch.stack([sd["dense2.bias"].detach().float().reshape(()) for sd in state_dicts])
        self.register_buffer("bias", bias.mean().reshape(1))

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = x.reshape(x.shape[0], 1, 1, x.shape[-1])
        total = None
        for conv1, conv2, conv3, dense1, dense2 in self.layers:
            h = F.relu_(conv1(image))
            h = F.relu_(conv2(h))
            h = torch.maximum(h[..., :-1], h[..., 1:])  # stride-1 pooling: every phase
            h = F.relu_(conv3(h))  # dilation 2
            h = torch.maximum(h[..., :-2], h[..., 2:])  # pooling of the dilated signal
            h = F.relu_(dense1(h))
            out = dense2(h)  # 2 taps, dilation 4; already divided by the ensemble size
            total = out if total is None else total.add_(out)
        return total.add_(self.bias).reshape(x.shape[0], -1)


def _member_layers(state_dict: Mapping[str, torch.Tensor], steps: int, members: int) -> nn.ModuleList:
    """One member's layers as height-1 2-D convolutions, channels-last."""

    def conv(key: str, dilation: int = 1, kernel: torch.Tensor | None = None, bias: bool = True) -> nn.Conv2d:
        weight = state_dict[f"{key}.weight"].detach().float() if kernel is None else kernel
        if weight.dim() == 2:  # a dense layer acting on each time step
            weight = weight.unsqueeze(-1)
        out_channels, in_channels, width = weight.shape
        layer = nn.Conv2d(in_channels, out_channels, (1, width), dilation=(1, dilation), bias=bias)
        layer.weight.data = weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        if bias:
            layer.bias.data = state_dict[f"{key}.bias"].detach().float().clone()
        layer.requires_grad_(False)
        return layer

    width = state_dict["dense1.weight"].shape[0]
    # dense2's weight index is step * width + channel (time-major); as a kernel: [channel, step].
    # The ensemble mean is folded in here; the mean bias is added once by the caller.
    dense2_kernel = state_dict["dense2.weight"].detach().float().reshape(steps, width).T / members
    return nn.ModuleList(
        [
            conv("conv1"),
            conv("conv2"),
            conv("conv3", dilation=2),
            conv("dense1"),
            conv("dense2", dilation=4, kernel=dense2_kernel.unsqueeze(0), bias=False),
        ]
    )
