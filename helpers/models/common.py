"""Small pieces every model family shares: activations by name and argument checks."""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from its name, e.g. ``make_activation("relu")``."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]()


def check_positive(owner: str, **values) -> None:
    """Raise a ValueError unless every keyword value is a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")


def check_widths(owner: str, name: str, widths) -> tuple[int, ...]:
    """Return ``widths`` as a tuple after checking it is a sequence of positive integers."""
    if isinstance(widths, int):
        widths = (widths,)
    widths = tuple(widths)
    for i, w in enumerate(widths):
        check_positive(owner, **{f"{name}[{i}]": w})
    return widths


def check_dropout(owner: str, p: float) -> None:
    """Raise a ValueError unless ``0 <= p < 1``."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"{owner}: dropout must be a number in [0, 1), got {p!r}")


def check_images(owner: str, x: torch.Tensor, channels: int, size: int, fix: str) -> None:
    """Raise a ValueError unless ``x`` is a batch of ``channels`` x ``size`` x ``size`` images.

    ``fix`` says how to build the model for other sizes, e.g. ``"input_size={side}"``
    (``{side}`` becomes the side of the images received).
    """
    expected = (channels, size, size)
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        got = "x".join(map(str, x.shape[1:])) if x.dim() == 4 else f"shape {tuple(x.shape)}"
        raise ValueError(
            f"{owner} was built for batches of {channels}x{size}x{size} images, "
            f"got {got}: build it with {fix.format(side=x.shape[-1])} (or resize the input)"
        )


def conv_output_side(owner: str, input_size: int, side: int) -> int:
    """Check that the feature map left after the convs and pools is at least 1x1."""
    if side < 1:
        raise ValueError(
            f"{owner}: input_size {input_size} is too small, the feature map "
            "shrinks to nothing; use a larger input_size"
        )
    return side
