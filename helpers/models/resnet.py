"""Residual networks: the course's RN-N and RR-N, ResNet-9, and torchvision's ResNet-18.

RN-N: 1x1 conv stem (3 -> 16), N residual blocks, then a conv encoder
(conv -> activation -> max-pool per stage) and one linear layer.
RR-N: the same, but every block also sees the original image ("re-injection"):
it reads cat([h, image]) (16 + 3 channels) and adds its output to h only.
"""
from __future__ import annotations

import torch
import torchvision
from torch import nn

from .common import (
    check_images,
    check_positive,
    check_widths,
    conv_output_side,
    make_activation,
)


class ResidualBlock(nn.Module):
    """h + BN(conv3(act(BN(conv3([h, image]))))): conv-BN-act-conv-BN plus the block input.

    Origin: the sources' RN/RR block (convs without bias, 16 -> 32 -> 16 channels).
    With ``extra_channels`` > 0 (RR) the first conv also reads the original
    image, concatenated to ``h`` along the channels; the sum still only adds
    to the ``channels`` channels of ``h``. With ``zero_init`` the last BatchNorm's
    scale starts at 0, so the block starts as the identity (Goyal et al., 2017;
    torchvision's ``zero_init_residual``): a deep stack then starts as shallow as one block.
    """

    def __init__(
        self,
        channels: int = 16,
        hidden: int = 32,
        activation: str = "relu",
        extra_channels: int = 0,
        zero_init: bool = False,
    ):
        super().__init__()
        check_positive("ResidualBlock", channels=channels, hidden=hidden)
        if not isinstance(extra_channels, int) or extra_channels < 0:
            raise ValueError(
                f"ResidualBlock: extra_channels must be an integer >= 0, got {extra_channels!r}"
            )
        self.extra_channels = extra_channels
        self.conv1 = nn.Conv2d(channels + extra_channels, hidden, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act = make_activation(activation)
        self.conv2 = nn.Conv2d(hidden, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        if zero_init:
            nn.init.zeros_(self.bn2.weight)

    def forward(self, h: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        if self.extra_channels:
            if image is None:
                raise ValueError("ResidualBlock was built with extra_channels, pass the image too")
            x = torch.cat([h, image], dim=1)
        else:
            x = h
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return h + out


class ResidualNet(nn.Module):
    """stem conv1x1 -> N residual blocks -> [conv3 -> act -> maxpool] per encoder width -> Linear.

    Origin: the sources' RN-N (``reinject=False``) and RR-N (``reinject=True``).
    ``width`` is the residual stream's channels (16), ``hidden`` the blocks'
    inner channels (32), ``encoder`` the widths of the conv encoder's stages.
    ``zero_init`` starts every block as the identity (see :class:`ResidualBlock`).
    """

    def __init__(
        self,
        n_blocks: int,
        num_classes: int = 10,
        activation: str = "relu",
        reinject: bool = False,
        width: int = 16,
        hidden: int = 32,
        encoder=(32, 64, 128),
        input_size: int = 32,
        in_channels: int = 3,
        zero_init: bool = False,
    ):
        super().__init__()
        name = "RR" if reinject else "RN"
        if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 0:
            raise ValueError(f"{name}: n_blocks must be an integer >= 0, got {n_blocks!r}")
        check_positive(name, num_classes=num_classes, width=width, hidden=hidden,
                       input_size=input_size, in_channels=in_channels)
        encoder = check_widths(name, "encoder", encoder)
        side = conv_output_side(name, input_size, input_size // 2 ** len(encoder))
        self.name, self.reinject = name, reinject
        self.in_channels, self.input_size = in_channels, input_size

        self.stem = nn.Conv2d(in_channels, width, kernel_size=1)
        extra = in_channels if reinject else 0
        self.blocks = nn.ModuleList(
            [ResidualBlock(width, hidden, activation, extra, zero_init) for _ in range(n_blocks)]
        )
        stages, c_in = [], width
        for c_out in encoder:
            stages += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                make_activation(activation),
                nn.MaxPool2d(2),
            ]
            c_in = c_out
        self.encoder = nn.Sequential(*stages)
        self.fc = nn.Linear(encoder[-1] * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(self.name, x, self.in_channels, self.input_size, "input_size={side}")
        h = self.stem(x)
        for block in self.blocks:
            h = block(h, x if self.reinject else None)
        h = self.encoder(h)
        return self.fc(torch.flatten(h, 1))


def rn(n_blocks: int, num_classes: int = 10, activation: str = "relu", **kwargs) -> ResidualNet:
    """RN-N: ``n_blocks`` residual blocks; other keywords go to :class:`ResidualNet`."""
    return ResidualNet(n_blocks, num_classes, activation, reinject=False, **kwargs)


def rr(n_blocks: int, num_classes: int = 10, activation: str = "relu", **kwargs) -> ResidualNet:
    """RR-N: RN-N whose blocks also read the original image; keywords as :class:`ResidualNet`."""
    return ResidualNet(n_blocks, num_classes, activation, reinject=True, **kwargs)


STEMS = ("imagenet", "cifar")


def resnet18(num_classes: int = 10, stem: str = "imagenet") -> nn.Module:
    """torchvision's ResNet-18, untrained (``weights=None``), with a new fc for ``num_classes``.

    Origin: torchvision.models.resnet18. ``stem="imagenet"`` keeps the 7x7
    stride-2 conv and the max-pool (32x32 images shrink to 1x1 by the last
    stage); ``stem="cifar"`` uses a 3x3 stride-1 conv and no max-pool, the
    usual choice for 32x32 images.
    """
    check_positive("resnet18", num_classes=num_classes)
    if stem not in STEMS:
        raise ValueError(f"resnet18: unknown stem {stem!r}: choose one of {', '.join(STEMS)}")
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    if stem == "cifar":
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        model.maxpool = nn.Identity()
    return model


def resnet18_cifar(num_classes: int = 10) -> nn.Module:
    """ResNet-18 with the CIFAR stem: ``resnet18(num_classes, stem="cifar")``."""
    return resnet18(num_classes, stem="cifar")


def _conv_bn(c_in: int, c_out: int, pool: bool = False) -> nn.Sequential:
    """conv3x3 -> BN -> ReLU (-> 2x2 max-pool)."""
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2)) if pool else nn.Sequential(*layers)


class _Residual(nn.Module):
    """x + branch(x)."""

    def __init__(self, branch: nn.Module):
        super().__init__()
        self.branch = branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class ResNet9(nn.Module):
    """ResNet-9: a residual network sized for 32x32 images and short training.

    Origin: David Page's "How to train your ResNet" (2018), the DAWNBench CIFAR-10 entry that
    the later speed runs grew from. Eight conv3x3-BN-ReLU layers and one linear layer:

        prep (w0) -> layer1: conv (w1) + max-pool, then a residual pair of convs
                  -> layer2: conv (w2) + max-pool
                  -> layer3: conv (w3) + max-pool, then a residual pair of convs
                  -> global max-pool -> linear, logits scaled by 1/8

    ``widths`` = (w0, w1, w2, w3); Page's are (64, 128, 256, 512). Narrower widths cost less:
    the multiply-adds grow with the square of the width.
    """

    def __init__(self, num_classes: int = 10, widths=(64, 128, 256, 512), in_channels: int = 3):
        super().__init__()
        check_positive("resnet9", num_classes=num_classes, in_channels=in_channels)
        widths = check_widths("resnet9", "widths", widths)
        if len(widths) != 4:
            raise ValueError(f"resnet9: widths needs 4 values (prep, layer1, layer2, layer3), got {widths}")
        w0, w1, w2, w3 = widths
        self.prep = _conv_bn(in_channels, w0)
        self.layer1 = nn.Sequential(_conv_bn(w0, w1, pool=True), _Residual(nn.Sequential(_conv_bn(w1, w1), _conv_bn(w1, w1))))
        self.layer2 = _conv_bn(w1, w2, pool=True)
        self.layer3 = nn.Sequential(_conv_bn(w2, w3, pool=True), _Residual(nn.Sequential(_conv_bn(w3, w3), _conv_bn(w3, w3))))
        self.fc = nn.Linear(w3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prep(x)
        x = self.layer1(x)          # conv + max-pool, then x + two more convs
        x = self.layer2(x)          # conv + max-pool
        x = self.layer3(x)          # conv + max-pool, then x + two more convs
        return self.fc(torch.amax(x, dim=(2, 3))) * 0.125     # global max-pool; small logits at the start


def resnet9(num_classes: int = 10, widths=(64, 128, 256, 512)) -> nn.Module:
    """ResNet-9 (see ``ResNet9``) with ``num_classes`` outputs."""
    return ResNet9(num_classes, widths)
