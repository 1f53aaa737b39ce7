"""Batch augmentations: each transform changes a whole batch with a few tensor operations.

A transform is a callable ``t(x, generator) -> x`` on a batch ``[B, C, H, W]``
(uint8 or float) that lives on any device. The generator makes it
deterministic: the same seed gives the same batch. A pipeline is a plain list
of transforms, applied in order (``Batches(augment=[...])``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["HorizontalFlip", "PadCrop", "standard"]


def _check_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    return p


def _uniform(n: int, x: torch.Tensor, generator) -> torch.Tensor:
    return torch.rand(n, device=x.device, generator=generator)


class HorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = _check_p(p)

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        flip = _uniform(x.shape[0], x, generator) < self.p
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p})"


class PadCrop:
    """Pad every image by ``padding`` pixels, then cut a random crop of the original size.

    ``mode`` is ``"zeros"`` or ``"reflect"``. All crops of the batch are gathered in
    one ``gather`` over the flattened images (no per-image loop).
    """

    def __init__(self, padding: int = 4, mode: str = "zeros"):
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        if mode not in ("zeros", "reflect"):
            raise ValueError(f"mode must be 'zeros' or 'reflect', got {mode!r}")
        self.padding, self.mode = padding, mode

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        if self.padding == 0:
            return x
        b, c, h, w = x.shape
        p = self.padding
        if self.mode == "reflect":
            padded = F.pad(x.float(), (p, p, p, p), mode="reflect").to(x.dtype)
        else:
            padded = F.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (b,), device=x.device, generator=generator)
        dx = torch.randint(0, 2 * p + 1, (b,), device=x.device, generator=generator)
        # one gather on the flattened padded images: output pixel (i, j) of image k is
        # padded pixel (dy[k] + i, dx[k] + j), i.e. flat index (dy[k] + i) * (w + 2p) + dx[k] + j
        i = torch.arange(h, device=x.device).view(1, h, 1)
        j = torch.arange(w, device=x.device).view(1, 1, w)
        flat = (dy.view(b, 1, 1) + i) * (w + 2 * p) + dx.view(b, 1, 1) + j          # [B, H, W]
        index = flat.view(b, 1, h * w).expand(b, c, h * w)
        return padded.reshape(b, c, -1).gather(2, index).view(b, c, h, w)

    def __repr__(self) -> str:
        return f"PadCrop(padding={self.padding}, mode={self.mode!r})"


def standard(padding: int = 4) -> list:
    """The usual CIFAR augmentation: random horizontal flip, then pad-and-crop."""
    return [HorizontalFlip(0.5), PadCrop(padding)]
