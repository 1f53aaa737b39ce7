"""A fast CIFAR-10 recipe: about 94% test accuracy in seconds on one GPU, and why each trick helps.

The ideas come from the public CIFAR-10 speed runs (airbench by Keller Jordan, hlb-CIFAR10 by
Tysam&co, and David Page's earlier work); the code is ours, built from the course's parts:

* the data stays on the device as one tensor (``ImageSet``), translated with ``augment.PadCrop``
  on reflect-padded images;
* flips alternate: every image is flipped in every other epoch, so two epochs show both
  orientations of every image exactly once, with no randomness to waste;
* the first layer is a frozen 2x2 convolution that whitens image patches (its filters are the
  eigenvectors of the patches' covariance, scaled by 1/sqrt(eigenvalue)): the network starts
  from decorrelated inputs;
* the other convolutions start as identity maps (``dirac`` initialisation) for their first
  channels, so the untrained net passes its input through;
* BatchNorm runs in float32 with its scale frozen at 1 (only the shift learns);
* label smoothing 0.2; Nesterov SGD with a short warm-up and a linear decay;
* test-time augmentation: the average of the logits of the image, its mirror image and
  one-pixel translations;
* channels_last memory on CUDA and the CPU (see ``data.channels_last_pays``); on CUDA also
  bfloat16 autocast and (optionally) ``torch.compile``.

``train_recipe`` uses its own short loop rather than ``helpers.training.fit``: it needs the
per-epoch flip state, a learning-rate schedule per step with separate bias rates, and no
per-epoch validation, checkpointing or progress bookkeeping, all of which would cost time
in a run that lasts a few seconds.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import results
from .augment import PadCrop
from .data import ImageSet, channels_last_pays, resolve_device
from .experiment import fingerprint
from .models import count_parameters

__all__ = ["RecipeConfig", "FastNet", "train_recipe", "whitening_weights", "alternating_flip",
           "tta_logits", "TRICKS"]

#: the tricks ``train_recipe`` can switch off one at a time (the notebook's ablations)
TRICKS = ("whitening", "dirac", "alternating_flip", "frozen_bn_scale", "label_smoothing", "tta")


@dataclass
class RecipeConfig:
    """The recipe's knobs.

    The loss is summed over the batch (not averaged). ``lr`` and ``weight_decay`` are in the
    speed-run convention: the step size is ``lr / (1024 * (1 + 1 / (1 - momentum)))`` per example,
    so it neither changes with the batch size nor with the momentum's gain.
    """

    epochs: float = 10.0
    batch_size: int = 1024
    widths: tuple = (64, 256, 256)
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_lr_scale: float = 64.0
    label_smoothing: float = 0.2
    warmup: float = 0.23                                 # share of the steps spent warming up
    translate: int = 2
    whiten_bias_epochs: float = 3.0
    bn_momentum: float = 0.4
    tta_level: int = 2                                   # 0 none, 1 + mirror, 2 + 1-pixel shifts
    compile: bool = False
    off: tuple = ()                                      # tricks switched off, names from TRICKS

    def __post_init__(self):
        unknown = [t for t in self.off if t not in TRICKS]
        if unknown:
            raise ValueError(f"unknown trick(s) {unknown}; the tricks are {', '.join(TRICKS)}")
        if self.epochs <= 0 or self.batch_size < 1:
            raise ValueError(f"epochs must be > 0 and batch_size >= 1, got {self.epochs}, {self.batch_size}")


# ------------------------------------------------------------------------------------------------
# The network
# ------------------------------------------------------------------------------------------------
class _BatchNorm(nn.BatchNorm2d):
    """BatchNorm whose scale can be frozen at 1; always computed in float32."""

    def __init__(self, channels: int, momentum: float, frozen_scale: bool):
        super().__init__(channels, momentum=momentum, eps=1e-12)
        self.weight.requires_grad = not frozen_scale

    def forward(self, x):
        return super().forward(x.float()).to(x.dtype)


class _ConvGroup(nn.Sequential):
    """conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU."""

    def __init__(self, cin: int, cout: int, bn_momentum: float, frozen_scale: bool):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2),
            _BatchNorm(cout, bn_momentum, frozen_scale), nn.GELU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            _BatchNorm(cout, bn_momentum, frozen_scale), nn.GELU(),
        )


class FastNet(nn.Module):
    """A small, wide CNN for 32x32 images: whitening stem and three conv groups.

    [B,3,32,32] -> whiten (2x2, 24 channels) -> 31x31 -> groups (64, 256, 256) with a
    max-pool each -> 3x3 -> max-pool -> linear -> logits scaled by 1/9.
    """

    def __init__(self, num_classes: int = 10, widths=(64, 256, 256), bn_momentum: float = 0.4,
                 frozen_bn_scale: bool = True):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)
        chans = (24,) + tuple(widths)
        self.groups = nn.Sequential(*[_ConvGroup(a, b, bn_momentum, frozen_bn_scale)
                                      for a, b in zip(chans[:-1], chans[1:])])
        self.head = nn.Linear(chans[-1], num_classes, bias=False)

    def forward(self, x):
        x = F.gelu(self.whiten(x))
        x = self.groups(x)
        x = F.adaptive_max_pool2d(x, 1).flatten(1)
        return self.head(x) / 9


def whitening_weights(images: torch.Tensor, eps: float = 5e-4) -> torch.Tensor:
    """Weights ``[24, 3, 2, 2]`` of a 2x2 convolution that whitens the patches of ``images``.

    ``images`` is a float batch ``[N, 3, H, W]`` (already normalised). The 12 eigenvectors of the
    2x2x3 patches' covariance, each divided by sqrt(eigenvalue + eps), decorrelate the patches
    and give them unit variance; the negated copies keep the information a GELU would cut off.
    """
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1)                   # [N, 3, H-1, W-1, 2, 2]
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
    patches = patches - patches.mean(0)
    cov = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)                   # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    w = (eigenvectors / torch.sqrt(eigenvalues + eps)).T.reshape(12, 3, 2, 2)
    return torch.cat([w, -w]).float()


def _init(model: FastNet, cfg: RecipeConfig, train_images: torch.Tensor) -> None:
    """Reset every weight; whitening from the training images; dirac starts for the convs."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            m.reset_parameters()
        if isinstance(m, nn.Conv2d) and m is not model.whiten and "dirac" not in cfg.off:
            nn.init.dirac_(m.weight.data[:m.in_channels])                # identity for the first channels
    with torch.no_grad():
        if "whitening" not in cfg.off:
            model.whiten.weight.copy_(whitening_weights(train_images[:5000].float()))
            model.whiten.weight.requires_grad = False
        else:
            model.whiten.weight.requires_grad = True
        model.whiten.bias.zero_()
    model.whiten.bias.requires_grad = True


# ------------------------------------------------------------------------------------------------
# Data: alternating flips, translations; test-time augmentation
# ------------------------------------------------------------------------------------------------
def alternating_flip(n: int, epoch: int, seed: int, device) -> torch.Tensor:
    """Which of ``n`` images to mirror in ``epoch``: a random half in epoch 0, and from then on
    each image is flipped exactly when it was not in the epoch before."""
    g = torch.Generator(device=device).manual_seed(seed)
    first = torch.rand(n, generator=g, device=device) < 0.5
    return first ^ bool(epoch % 2)


def tta_logits(model: nn.Module, x: torch.Tensor, level: int = 2) -> torch.Tensor:
    """Average logits over views: level 0 the image; 1 also its mirror; 2 also, with half the
    weight, the pair translated by one pixel (reflect padding)."""
    if level not in (0, 1, 2):
        raise ValueError(f"tta level must be 0, 1 or 2, got {level}")
    if level == 0:
        return model(x)
    both = lambda v: 0.5 * (model(v) + model(v.flip(-1)))  # noqa: E731
    if level == 1:
        return both(x)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    up_left, down_right = padded[..., :-2, :-2], padded[..., 2:, 2:]
    return 0.5 * both(x) + 0.25 * (both(up_left) + both(down_right))


@dataclass
class RecipeResult:
    accuracy: float
    train_seconds: float
    epochs: float
    device: str
    config: RecipeConfig = field(repr=False)
    accuracy_no_tta: float = float("nan")
    parameters: int = 0

    def record(self) -> dict:
        """The numbers a notebook saves with ``results.save`` (keys as in ``experiment.run``'s records)."""
        return {"test_acc": self.accuracy, "test_acc_no_tta": self.accuracy_no_tta, "seconds": self.train_seconds,
                "device": self.device, "epochs": self.epochs, "parameters": self.parameters,
                "architecture": "FastNet"}


class _Timer:
    """Wall time of the training, with CUDA events on a GPU (they time the GPU's own work)."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            torch.cuda.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1000
        else:
            self.seconds = time.perf_counter() - self.t0


def _normalise(images: ImageSet, device, mean, std, dtype) -> torch.Tensor:
    x = images.images.to(device).float().div_(255)
    return ((x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)).to(dtype)


@torch.no_grad()
def _evaluate(model, x, y, level, batch_size=2000):
    model.eval()
    correct = sum((tta_logits(model, x[i:i + batch_size], level).argmax(1) == y[i:i + batch_size]).sum()
                  for i in range(0, len(x), batch_size))
    return (correct / len(x)).item()


def train_recipe(train: ImageSet, test: ImageSet, cfg: RecipeConfig | None = None, *, seed: int = 0,
                 device="auto", model: FastNet | None = None) -> RecipeResult:
    """Train ``FastNet`` on ``train`` with the recipe and return its test accuracy and training time.

    ``model`` may be passed to reuse one (compiled) network across runs; it is re-initialised.
    The time covers the training steps only (whitening statistics included), not evaluation.
    """
    cfg = cfg or RecipeConfig()
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    nhwc = channels_last_pays(dev)
    torch.manual_seed(seed)
    mean, std = (t.to(dev) for t in train.channel_stats())
    dtype = torch.bfloat16 if cuda else torch.float32
    x_train = _normalise(train, dev, mean, std, torch.float32)
    y_train = train.labels.to(dev)
    x_test, y_test = _normalise(test, dev, mean, std, dtype), test.labels.to(dev)
    if model is None:
        model = FastNet(train.num_classes, cfg.widths, cfg.bn_momentum, "frozen_bn_scale" not in cfg.off)
        model = model.to(dev, memory_format=torch.channels_last if nhwc else torch.contiguous_format)
    net = torch.compile(model) if cfg.compile and cuda else model
    crop = PadCrop(cfg.translate, mode="reflect")
    n = len(y_train)
    steps_per_epoch = max(1, n // cfg.batch_size)          # a set smaller than one batch is one step
    total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    smoothing = cfg.label_smoothing if "label_smoothing" not in cfg.off else 0.0

    with _Timer(dev) as timer:
        _init(model, cfg, x_train)
        x_train = x_train.to(dtype)
        biases = [p for name, p in model.named_parameters() if p.requires_grad and "bias" in name]
        others = [p for name, p in model.named_parameters() if p.requires_grad and "bias" not in name]
        bs = cfg.batch_size
        lr = cfg.lr / (1024 * (1 + 1 / (1 - cfg.momentum)))
        wd = cfg.weight_decay * bs / cfg.lr           # torch's SGD multiplies weight decay by the lr
        opt = torch.optim.SGD([dict(params=others, lr=lr, weight_decay=wd),
                               dict(params=biases, lr=lr * cfg.bias_lr_scale, weight_decay=wd / cfg.bias_lr_scale)],
                              momentum=cfg.momentum, nesterov=True)
        base_lrs = [g["lr"] for g in opt.param_groups]
        warm = max(1, round(cfg.warmup * total))
        gen = torch.Generator(device=dev).manual_seed(seed)
        step, epoch = 0, 0
        while step < total:
            model.train()
            if "alternating_flip" in cfg.off:
                flip = torch.rand(n, generator=gen, device=dev) < 0.5
            else:
                flip = alternating_flip(n, epoch, seed, dev)
            images = torch.where(flip.view(-1, 1, 1, 1), x_train.flip(-1), x_train)
            order = torch.randperm(n, generator=gen, device=dev)
            for start in range(0, steps_per_epoch * bs, bs):
                if step >= total:
                    break
                idx = order[start:start + bs]
                x = crop(images[idx], gen).to(dtype)
                if nhwc:
                    x = x.contiguous(memory_format=torch.channels_last)
                factor = (step + 1) / warm if step < warm else max(0.0, (total - step) / (total - warm))
                for g, base in zip(opt.param_groups, base_lrs):
                    g["lr"] = base * factor
                if epoch >= cfg.whiten_bias_epochs:
                    model.whiten.bias.requires_grad = False
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
                    loss = F.cross_entropy(net(x), y_train[idx], label_smoothing=smoothing,
                                           reduction="sum")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
            epoch += 1
    level = cfg.tta_level if "tta" not in cfg.off else 0
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
        acc = _evaluate(net, x_test, y_test, level)
        acc0 = _evaluate(net, x_test, y_test, 0) if level else acc
    return RecipeResult(acc, timer.seconds, cfg.epochs, str(dev), cfg, acc0,
                        count_parameters(model))


def run_recipe(name: str, train: ImageSet, test: ImageSet, cfg: RecipeConfig | None = None, *, seed: int = 0,
               device="auto", profile: str | None = None, reuse: bool = False) -> RecipeResult:
    """``train_recipe`` whose numbers are recorded as ``results/<name>.json``, with a fingerprint of the
    recipe, the data, the seed and the device. With ``reuse``, a run already recorded with the same
    fingerprint is read back instead of trained again (the numbers are those it measured)."""
    cfg = cfg or RecipeConfig()
    dev = resolve_device(device)
    key = fingerprint({"name": "FastNet", "recipe": asdict(cfg)}, (train, test), {"seed": seed, "device": dev.type})
    record = results.read(name, profile) if reuse else None
    if record is not None and record.get("fingerprint") == key:
        print(f"{name}: reused the run finished on {record['date']} (same recipe, data, seed and device)")
        return RecipeResult(record["test_acc"], record["seconds"], record["epochs"], record["device"], cfg,
                            record["test_acc_no_tta"], record["parameters"])
    out = train_recipe(train, test, cfg, seed=seed, device=dev)
    results.save(name, {**out.record(), "fingerprint": key}, profile)
    return out
