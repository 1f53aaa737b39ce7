"""Multi-layer perceptrons on flattened images, and the course's presets."""
from __future__ import annotations

import torch
from torch import nn

from .common import check_dropout, check_positive, check_widths, make_activation


class MLP(nn.Module):
    """Flatten -> [Linear -> activation (-> Dropout)] per hidden width -> Linear.

    ``dropout`` follows every hidden layer, or only the last one when
    ``dropout_last_only`` is true. ``in_features`` is the flattened image size
    (3*32*32 = 3072 for CIFAR, 3*96*96 = 27648 for STL-10).
    """

    def __init__(
        self,
        in_features: int = 3072,
        hidden=(512,),
        num_classes: int = 10,
        activation: str = "relu",
        dropout: float = 0.0,
        dropout_last_only: bool = False,
    ):
        super().__init__()
        check_positive("MLP", in_features=in_features, num_classes=num_classes)
        hidden = check_widths("MLP", "hidden", hidden)
        check_dropout("MLP", dropout)
        make_activation(activation)  # fail early on a bad name
        self.in_features = in_features

        layers, width = [], in_features
        for i, h in enumerate(hidden):
            layers += [nn.Linear(width, h), make_activation(activation)]
            is_last = i == len(hidden) - 1
            if dropout > 0 and (is_last or not dropout_last_only):
                layers.append(nn.Dropout(dropout))
            width = h
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x.shape[1:].numel()
        if features != self.in_features:
            raise ValueError(
                f"MLP was built for {self.in_features} input features, got {features} "
                f"(input shape {tuple(x.shape)}): build it with in_features={features}"
            )
        x = torch.flatten(x, 1)
        return self.out(self.hidden(x))


def mlp_small(num_classes: int = 10, in_features: int = 3072) -> MLP:
    """MLP "small" preset: hidden (1500, 500, 100), ReLU, dropout 0.1 after the last.

    Origin: the course sources' small fully connected CIFAR-10 baseline.
    """
    return MLP(in_features, (1500, 500, 100), num_classes, "relu", 0.1, dropout_last_only=True)


def mlp_large(num_classes: int = 10, in_features: int = 3072) -> MLP:
    """MLP "large" preset: hidden 2048 halving down to 16, ReLU, dropout 0.1 after the last.

    Origin: the course sources' large fully connected CIFAR-10 baseline.
    """
    hidden = (2048, 1024, 512, 256, 128, 64, 32, 16)
    return MLP(in_features, hidden, num_classes, "relu", 0.1, dropout_last_only=True)


def two_layer_net(num_classes: int = 10, in_features: int = 3072, hidden: int = 100,
                  dropout: float = 0.0) -> MLP:
    """TwoLayerNet: in_features -> hidden -> classes with ReLU (and ``dropout`` after the hidden layer).

    Origin: the sources' ``TwoLayerNet`` (the default ``hidden=100`` is our choice).
    """
    return MLP(in_features, (hidden,), num_classes, "relu", dropout)


def mlp_deep(num_classes: int = 10, in_features: int = 3072) -> MLP:
    """Deep MLP: Linear(3072, 256), 8 x Linear(256, 256), Linear(256, classes).

    LeakyReLU and dropout 0.3 after every hidden layer.
    Origin: the sources' deep 8x256 MLP with dropout 0.3 and LeakyReLU.
    """
    return MLP(in_features, (256,) * 9, num_classes, "leaky_relu", 0.3)
