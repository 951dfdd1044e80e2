"""The Cascade network, per window and as one whole-trace evaluation.

The published network sees one window of ``windowsize`` (64) frames::

    conv1 (1 -> 30, kernel 31) -> ReLU
    conv2 (30 -> 40, kernel 19) -> ReLU -> max-pool 2
    conv3 (40 -> 50, kernel 5)  -> ReLU -> max-pool 2
    dense1 (50 -> 10) on each remaining time step -> ReLU
    flatten time-major (index = step * 10 + channel) -> dense2 (20 -> 1)

:class:`CascadeNet` is that network, with the published state-dict keys, for
training and for the naive per-window reference.  :class:`TraceEnsemble` gives
the same numbers for every window of a trace at once (:meth:`CascadeNet.forward_trace`):
each layer runs once over the whole trace, max-pooling keeps every phase
(stride 1), and the layers after a pooling are dilated by the pooling factor so
that they read exactly the samples that the windowed network reads.
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

    def forward_trace(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs for every window of traces ``x`` (batch, frames): (batch, frames - windowsize + 1).

        Element ``s`` equals ``forward(x[:, s : s + windowsize])``.  Each layer runs
        once over the whole trace: max-pooling keeps every phase (stride 1), so the
        layers after the first pooling read every 2nd sample (dilation 2) and those
        after the second every 4th (dilation 4); dense1 becomes a 1x1 convolution and
        dense2 a convolution over ``steps`` taps, 4 frames apart.  Tensors are 2-D
        images of height 1 in channels-last order, which the CPU convolution kernels
        (oneDNN) run fastest.  Differentiable: training uses it too.
        """
        relu = F.relu if torch.is_grad_enabled() else F.relu_
        steps = self.dense2.weight.shape[1] // self.dense1.weight.shape[0]
        h = x.reshape(x.shape[0], 1, 1, x.shape[-1])
        h = relu(F.conv2d(h, _image_kernel(self.conv1.weight), self.conv1.bias))
        h = relu(F.conv2d(h, _image_kernel(self.conv2.weight), self.conv2.bias))
        h = torch.maximum(h[..., :-1], h[..., 1:])  # stride-1 pooling: every phase
        h = relu(F.conv2d(h, _image_kernel(self.conv3.weight), self.conv3.bias, dilation=(1, 2)))
        h = torch.maximum(h[..., :-2], h[..., 2:])  # pooling of the dilated signal
        h = relu(F.conv2d(h, _image_kernel(self.dense1.weight.unsqueeze(-1)), self.dense1.bias))
        # dense2's weight index is step * width + channel (time-major); as a kernel: [channel, step]
        kernel = self.dense2.weight.reshape(1, steps, -1).transpose(1, 2)
        out = F.conv2d(h, _image_kernel(kernel), self.dense2.bias, dilation=(1, 4))
        return out.reshape(x.shape[0], -1)


def _image_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A (out, in, width) 1-D kernel as a height-1 2-D kernel, channels-last."""
    return weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def window_steps(windowsize: int, filter_sizes: Sequence[int]) -> int:
    """Time steps left in one window after the three convolutions and two poolings."""
    k1, k2, k3 = filter_sizes
    return ((windowsize - k1 + 1 - k2 + 1) // 2 - k3 + 1) // 2


class GroupedCascadeNet(nn.Module):
    """``K`` independent :class:`CascadeNet` members as one network of grouped convolutions (for training).

    ``forward(x)`` with ``x`` of shape (batch, K, frames) returns (batch, K, frames - windowsize + 1):
    member ``k`` reads only ``x[:, k]``, and element ``[b, k, s]`` equals member ``k``'s
    :meth:`CascadeNet.forward_trace` of ``x[b, k]`` at ``s``.  The members share no weight
    and no arithmetic, so a loss that sums the members' losses gives each member exactly the
    gradient of its own loss, and an element-wise optimiser (Adagrad) updates each as if it
    trained alone; what is shared is the work of calling the kernels, which for a network this
    small is most of a step's time on a CPU.

    Parameters
    ----------
    members
        The members' networks (their current weights are copied in; usually freshly initialised).
    """

    def __init__(self, members: Sequence[CascadeNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a grouped network needs at least one member")
        self.groups = len(members)
        self.steps = members[0].dense2.weight.shape[1] // members[0].dense1.weight.shape[0]
        kernels = [self._kernels(member) for member in members]
        self.weights = nn.ParameterDict({
            key: nn.Parameter(torch.cat([k[key][0] for k in kernels]).contiguous(memory_format=torch.channels_last))
            for key in STATE_KEYS
        })
        self.biases = nn.ParameterDict({key: nn.Parameter(torch.cat([k[key][1] for k in kernels])) for key in STATE_KEYS})

    def _kernels(self, member: CascadeNet) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """A member's weights as (kernel, bias) per layer, in the grouped network's layout."""
        kernels = {
            "conv1": member.conv1.weight.unsqueeze(2),
            "conv2": member.conv2.weight.unsqueeze(2),
            "conv3": member.conv3.weight.unsqueeze(2),
            "dense1": member.dense1.weight[:, :, None, None],
            # dense2's weight index is step * width + channel (time-major); as a kernel: [channel, step]
            "dense2": member.dense2.weight.reshape(1, self.steps, -1).transpose(1, 2).unsqueeze(2),
        }
        return {key: (kernels[key].detach().clone(), getattr(member, key).bias.detach().clone()) for key in STATE_KEYS}

    def member_rows(self, key: str, member: int) -> slice:
        """The rows of layer ``key``'s grouped kernel (and bias) that belong to member ``member``."""
        rows = self.weights[key].shape[0] // self.groups
        return slice(member * rows, (member + 1) * rows)

    @torch.no_grad()
    def replace_member(self, member: int, net: CascadeNet) -> None:
        """Put ``net``'s weights in the place of member ``member`` (a restart from a fresh initialisation)."""
        for key, (kernel, bias) in self._kernels(net).items():
            self.weights[key][self.member_rows(key, member)] = kernel.to(self.weights[key].device)
            self.biases[key][self.member_rows(key, member)] = bias.to(self.biases[key].device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b, k = self.weights, self.biases, self.groups
        h = x.reshape(x.shape[0], k, 1, x.shape[-1]).contiguous(memory_format=torch.channels_last)
        h = F.relu(F.conv2d(h, w["conv1"], b["conv1"], groups=k))
        # ReLU after the stride-1 pooling: the same values (both are monotonic), on fewer samples
        h = F.relu(F.max_pool2d(F.conv2d(h, w["conv2"], b["conv2"], groups=k), (1, 2), 1))
        h = F.conv2d(h, w["conv3"], b["conv3"], dilation=(1, 2), groups=k)
        h = F.relu(F.max_pool2d(h, (1, 2), 1, dilation=(1, 2)))
        h = F.relu(F.conv2d(h, w["dense1"], b["dense1"], groups=k))
        out = F.conv2d(h, w["dense2"], b["dense2"], dilation=(1, 4), groups=k)
        return out.reshape(x.shape[0], k, -1)

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s weights as a published :class:`CascadeNet` state dict (on the CPU)."""
        state = {}
        for key in STATE_KEYS:
            weight = self.weights[key].detach()[self.member_rows(key, member)].squeeze(2).contiguous()
            if key == "dense1":
                weight = weight.squeeze(-1)
            elif key == "dense2":
                weight = weight.transpose(1, 2).reshape(1, -1)  # back to step * width + channel
            state[f"{key}.weight"] = weight.cpu().clone()
            state[f"{key}.bias"] = self.biases[key].detach()[self.member_rows(key, member)].cpu().clone()
        return state


class TraceEnsemble(nn.Module):
    """Whole-trace evaluation of an ensemble of :class:`CascadeNet` members (their mean).

    ``forward(x)`` with ``x`` of shape (batch, frames) returns (batch,
    frames - windowsize + 1): element ``s`` is the ensemble mean of the
    networks' outputs for the window ``x[:, s : s + windowsize]``.

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
        members = []
        for state in state_dicts:
            k1, k2, k3 = (int(state[f"conv{i}.weight"].shape[-1]) for i in (1, 2, 3))
            n1, n2, n3 = (int(state[f"conv{i}.weight"].shape[0]) for i in (1, 2, 3))
            net = CascadeNet(windowsize, (k1, k2, k3), (n1, n2, n3), int(state["dense1.weight"].shape[0]))
            net.load_state_dict(state)
            members.append(net.requires_grad_(False))
        self.members = nn.ModuleList(members)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.members[0].forward_trace(x)
        for member in self.members[1:]:
            total.add_(member.forward_trace(x))
        return total.div_(len(self.members))
