"""The DeepCAD-RT network: a 3D U-Net that maps a noisy sub-stack to its neighbouring frames.

Four levels with 16/32/64/128 channels, two 3×3×3 convolutions per level (each
followed by a ReLU), max-pooling by 2 on the way down,
nearest-neighbour upsampling and skip connections on the way up, and a 1×1×1
output convolution: about 1.0 M parameters.  The network is fully
convolutional; each of the three input sizes must be a multiple of
``2 ** (levels - 1)`` (8 for four levels).

Unlike DeepCAD-RT, the network has no group normalisation: a normalisation over
the whole tile makes each output depend on which tile it was computed in, which
shows as seams between tiles (measured: frame-to-frame jumps at every temporal
tile boundary of twice the usual size), and it made a training step on the CPU
about twice as slow.  Without it, an output depends only on its receptive field.
"""

from __future__ import annotations

import torch
from torch import nn

#: Channel widths of the four levels, as in DeepCAD-RT.
WIDTHS = (16, 32, 64, 128)


def _conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True))


def _double_conv(in_channels: int, out_channels: int, encoder: bool) -> nn.Sequential:
    # 3D U-Net (Çiçek et al. 2016): the encoder's first convolution goes half way to its width.
    middle = max(out_channels // 2, in_channels) if encoder else out_channels
    return nn.Sequential(_conv(in_channels, middle), _conv(middle, out_channels))


class UNet3D(nn.Module):
    """3D U-Net on (batch, 1, frames, height, width) tensors.

    Parameters
    ----------
    widths
        Channels of each level, finest first; the number of levels is ``len(widths)``.
    """

    def __init__(self, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        channels = (1, *self.widths)
        self.encoders = nn.ModuleList(
            _double_conv(channels[i], channels[i + 1], encoder=True) for i in range(len(self.widths))
        )
        self.decoders = nn.ModuleList(
            _double_conv(self.widths[i] + self.widths[i + 1], self.widths[i], encoder=False)
            for i in reversed(range(len(self.widths) - 1))
        )
        self.pool = nn.MaxPool3d(2)
        self.output = nn.Conv3d(self.widths[0], 1, kernel_size=1)

    @property
    def multiple(self) -> int:
        """Each input size must be a multiple of this."""
        return 2 ** (len(self.widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level:
                x = self.pool(x)
            x = encoder(x)
            skips.append(x)
        for decoder, skip in zip(self.decoders, reversed(skips[:-1])):
            x = nn.functional.interpolate(x, size=skip.shape[2:], mode="nearest")
            x = decoder(torch.cat([skip, x], dim=1))
        return self.output(x)


def memory_format(device: torch.device) -> torch.memory_format:
    """The layout the network runs fastest in on ``device``: channels-last on the CPU (oneDNN's 3D
    convolutions, measured on 2 AMD EPYC cores: inference 1.5x, a training step 1.34x faster than the
    default layout; benchmarks/denoise_speed.py), the default elsewhere (not measured on a GPU)."""
    return torch.channels_last_3d if torch.device(device).type == "cpu" else torch.contiguous_format


def parameter_count(network: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
