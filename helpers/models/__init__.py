"""Model families, one file each: ``mlp``, ``cnn``, ``resnet``, ``vit``, ``efficientnet_lite``, and
``pretrained`` (the registry of ImageNet backbones).

``build(name, num_classes, **kwargs)`` makes any model of the course by name
(``MODELS`` lists them); ``count_parameters(model)`` counts its parameters.

>>> model = build("lenet", num_classes=100)
>>> count_parameters(model.fc2)
10164
"""
from __future__ import annotations

from torch import nn

from . import cnn, mlp, resnet, vit

MODELS = {
    "mlp_small": mlp.mlp_small,
    "mlp_large": mlp.mlp_large,
    "mlp_deep": mlp.mlp_deep,
    "two_layer": mlp.two_layer_net,
    "lenet": cnn.LeNet,
    "lenet_improved": cnn.LeNetImproved,
    "cnn3": cnn.CNN3,
    "cnn_dropout": cnn.CNNDropout,
    "cnn5_gap": cnn.CNN5GAP,
    "rn": resnet.rn,
    "rr": resnet.rr,
    "resnet9": resnet.resnet9,
    "resnet18": resnet.resnet18,
    "resnet18_cifar": resnet.resnet18_cifar,
    "vit": vit.ViT,
}


def build(name: str, num_classes: int = 10, **kwargs) -> nn.Module:
    """The model called ``name`` (a key of ``MODELS``) with ``num_classes`` outputs.

    Other keywords go to its constructor, e.g. ``build("rn", n_blocks=3)``,
    ``build("lenet", input_size=96)`` or ``build("vit", depth=2)``.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name](num_classes=num_classes, **kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model``; with ``trainable_only``, those with requires_grad."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
