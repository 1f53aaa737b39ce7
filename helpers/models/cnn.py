"""Convolutional networks: LeNet, its improved variant and three plain CNNs.

Models that end in a flatten + linear layer take an ``input_size`` argument
(32 for CIFAR, 96 for STL-10) that sets the size of that linear layer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import (
    check_dropout,
    check_images,
    check_positive,
    check_widths,
    conv_output_side,
)


def _move_like(module: nn.Module, reference: torch.Tensor) -> nn.Module:
    """Put a freshly built layer on the device and dtype of the model's other weights."""
    return module.to(device=reference.device, dtype=reference.dtype)


class LeNet(nn.Module):
    """LeNet-style ConvNet: conv5 -> avgpool -> conv5 -> avgpool -> fc 120 -> fc 84 -> fc classes.

    Origin: the sources' LeNet ``ConvNet`` (ReLU, average pooling), trained on
    CIFAR-100 and fine-tuned on STL-10. At 32x32 the first fc reads 16*5*5 = 400
    features; at 96x96 it reads 16*21*21 = 7056.
    """

    def __init__(self, num_classes: int = 10, input_size: int = 32, in_channels: int = 3):
        super().__init__()
        check_positive("LeNet", in_channels=in_channels)
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5)
        self.pool = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.reset_classifier(num_classes, input_size)

    @staticmethod
    def feature_side(input_size: int) -> int:
        """Side of the feature map after the two conv5 + pool stages."""
        return ((input_size - 4) // 2 - 4) // 2

    def reset_classifier(self, num_classes: int, input_size: int | None = None) -> None:
        """Replace fc1, fc2 and fc3 by fresh layers for a new number of classes and input size.

        The conv layers keep their weights; this is the fine-tuning step
        (e.g. CIFAR-100 at 32x32 -> STL-10 at 96x96). ``input_size`` defaults
        to the current one.
        """
        input_size = getattr(self, "input_size", 32) if input_size is None else input_size
        check_positive("LeNet", num_classes=num_classes, input_size=input_size)
        side = conv_output_side("LeNet", input_size, self.feature_side(input_size))
        self.num_classes, self.input_size = num_classes, input_size
        self.fc1 = _move_like(nn.Linear(16 * side * side, 120), self.conv1.weight)
        self.fc2 = _move_like(nn.Linear(120, 84), self.conv1.weight)
        self.fc3 = _move_like(nn.Linear(84, num_classes), self.conv1.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images("LeNet", x, self.in_channels, self.input_size,
                     "input_size={side} or call reset_classifier(num_classes, input_size={side})")
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNetImproved(nn.Module):
    """Improved LeNet: [conv3 -> BN -> ReLU -> avgpool] x 2 (64, 128) -> fc 512 -> fc classes.

    Origin: the sources' improved ConvNet. The one AvgPool2d(2) module is
    applied after each conv block, so the first fc reads 128*8*8 = 8192
    features at 32x32 and 128*24*24 = 73728 at 96x96. ``dropout`` (ours; the
    source has none) drops inputs of fc1 and fc2 while training, where 98 % of
    the parameters are; off by default, since within notebook 09's 30 CIFAR-100
    epochs it made the network underfit.
    """

    def __init__(self, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
                 dropout: float = 0.0):
        super().__init__()
        check_positive("LeNetImproved", in_channels=in_channels)
        check_dropout("LeNetImproved", dropout)
        self.in_channels = in_channels
        self.dropout = nn.Dropout(dropout)
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(128)
        self.pool = nn.AvgPool2d(2)
        self.reset_classifier(num_classes, input_size)

    def reset_classifier(self, num_classes: int, input_size: int | None = None) -> None:
        """Replace fc1 and fc2 by fresh layers for a new number of classes and input size."""
        input_size = getattr(self, "input_size", 32) if input_size is None else input_size
        check_positive("LeNetImproved", num_classes=num_classes, input_size=input_size)
        side = conv_output_side("LeNetImproved", input_size, input_size // 4)
        self.num_classes, self.input_size = num_classes, input_size
        self.fc1 = _move_like(nn.Linear(128 * side * side, 512), self.conv1.weight)
        self.fc2 = _move_like(nn.Linear(512, num_classes), self.conv1.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images("LeNetImproved", x, self.in_channels, self.input_size,
                     "input_size={side} or call reset_classifier(num_classes, input_size={side})")
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = F.relu(self.fc1(self.dropout(torch.flatten(x, 1))))
        return self.fc2(self.dropout(x))


def conv_block(in_channels: int, out_channels: int, batch_norm: bool = True,
               convs: int = 1) -> nn.Sequential:
    """[conv3 (padding 1) -> [BN] -> ReLU] x ``convs`` -> maxpool 2: halves the image side."""
    layers = []
    for i in range(convs):
        c_in = in_channels if i == 0 else out_channels
        layers.append(nn.Conv2d(c_in, out_channels, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class CNN3(nn.Module):
    """Three conv blocks (conv3 -> BN -> ReLU -> maxpool) -> Linear -> ReLU -> Dropout -> Linear.

    Origin: the sources' three-block CNN with a two-layer MLP head and dropout.
    ``channels`` sets the blocks' widths (one block per entry), ``hidden`` the
    head's hidden width. ``convs=2`` stacks two conv-BN-ReLU layers in each block
    before its pool, as VGG does (the source's network has one).
    """

    def __init__(
        self,
        num_classes: int = 10,
        channels=(32, 64, 128),
        hidden: int = 256,
        dropout: float = 0.5,
        batch_norm: bool = True,
        input_size: int = 32,
        in_channels: int = 3,
        convs: int = 1,
    ):
        super().__init__()
        check_positive("CNN3", num_classes=num_classes, hidden=hidden,
                       input_size=input_size, in_channels=in_channels, convs=convs)
        channels = check_widths("CNN3", "channels", channels)
        check_dropout("CNN3", dropout)
        side = conv_output_side("CNN3", input_size, input_size // 2 ** len(channels))
        self.in_channels, self.input_size = in_channels, input_size

        widths = (in_channels,) + channels
        self.features = nn.Sequential(
            *[conv_block(c_in, c_out, batch_norm, convs) for c_in, c_out in zip(widths, widths[1:])]
        )
        self.classifier = nn.Sequential(
            nn.Linear(channels[-1] * side * side, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images("CNN3", x, self.in_channels, self.input_size, "input_size={side}")
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


class CNNDropout(nn.Module):
    """[conv3 -> ReLU -> maxpool -> Dropout2d] x 3 (32, 64, 128) -> Linear 512, 40, classes.

    Origin: the sources' (32, 64, 128) CNN with dropout2d and a (512, 40) head.
    ``dropout`` is the Dropout2d probability after each conv block (whole
    channels are dropped).
    """

    def __init__(
        self,
        num_classes: int = 10,
        channels=(32, 64, 128),
        hidden=(512, 40),
        dropout: float = 0.25,
        input_size: int = 32,
        in_channels: int = 3,
    ):
        super().__init__()
        check_positive("CNNDropout", num_classes=num_classes,
                       input_size=input_size, in_channels=in_channels)
        channels = check_widths("CNNDropout", "channels", channels)
        hidden = check_widths("CNNDropout", "hidden", hidden)
        check_dropout("CNNDropout", dropout)
        side = conv_output_side("CNNDropout", input_size, input_size // 2 ** len(channels))
        self.in_channels, self.input_size = in_channels, input_size

        blocks, c_in = [], in_channels
        for c_out in channels:
            blocks += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Dropout2d(dropout),
            ]
            c_in = c_out
        self.features = nn.Sequential(*blocks)

        head, width = [], channels[-1] * side * side
        for h in hidden:
            head += [nn.Linear(width, h), nn.ReLU()]
            width = h
        head.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images("CNNDropout", x, self.in_channels, self.input_size, "input_size={side}")
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


class CNN5GAP(nn.Module):
    """Five conv3 layers (32, 64, 128, 256, 512) -> global average pooling -> Linear classes.

    Origin: the sources' five-conv CNN with global average pooling. ReLU after
    every conv, 2x2 max-pool after the first four. Global average pooling makes
    it work for any input size of at least 16x16 without changes.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        check_positive("CNN5GAP", num_classes=num_classes, in_channels=in_channels)
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(128, 256, kernel_size=3, padding=1)
        self.conv5 = nn.Conv2d(256, 512, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or min(x.shape[-2:]) < 16:
            raise ValueError(
                f"CNN5GAP needs batches of images of at least 16x16, got shape {tuple(x.shape)}"
            )
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.pool(F.relu(self.conv3(x)))
        x = self.pool(F.relu(self.conv4(x)))
        x = F.relu(self.conv5(x))
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)
