"""Batch augmentations: each transform changes a whole batch with a few tensor operations.

A transform is a callable ``t(x, generator) -> x`` on a batch ``[B, C, H, W]``
(uint8 or float) that lives on any device. Every image gets its own random
draw, but there is no loop over the images: the draws are tensors of size B.
The generator makes it deterministic: the same seed gives the same batch.
The output has the input's dtype (uint8 results are rounded and clamped to
0..255) and shape (``RandomResizedCrop`` changes H and W to its ``size``).

A pipeline is a plain list of transforms, applied in order
(``Batches(augment=[...])``); ``Compose`` wraps a list into one callable.

    HorizontalFlip(p)       VerticalFlip(p)          PadCrop(padding, mode)
    Rotation(degrees)       ColorJitter(brightness, contrast, saturation, hue)
    RandomErasing(p, scale, ratio, value)            RandomResizedCrop(size, scale, ratio)
    PatchMask(granularity, ratio)                    ChannelDropout(p)
    RandomApply(transform, p)                        Compose(transforms)
    standard(), basic(), basic_erasing(), heavy(), by_name("flip+crop")
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "HorizontalFlip", "VerticalFlip", "PadCrop", "Rotation", "ColorJitter", "RandomErasing",
    "RandomResizedCrop", "PatchMask", "ChannelDropout", "RandomApply", "Compose",
    "standard", "basic", "basic_erasing", "heavy", "by_name", "NAMES",
]


def _check_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    return p


def _uniform(n: int, x: torch.Tensor, generator) -> torch.Tensor:
    return torch.rand(n, device=x.device, generator=generator)


def _check_batch(x: torch.Tensor, name: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name} expects a batch [B, C, H, W], got shape {list(x.shape)}")


def _as_float(x: torch.Tensor) -> torch.Tensor:
    """The batch as float for arithmetic (float inputs are used as they are)."""
    return x if x.is_floating_point() else x.float()


def _like(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y`` (float) back in the dtype of ``x``: integer pixels are rounded and clamped."""
    if x.is_floating_point():
        return y.to(x.dtype)
    info = torch.iinfo(x.dtype)
    return y.round().clamp(info.min, info.max).to(x.dtype)


def _check_range(name: str, r, low: float, high: float = math.inf) -> tuple[float, float]:
    """A pair ``(a, b)`` with ``low < a <= b <= high`` (``low`` itself excluded)."""
    try:
        a, b = (float(v) for v in r)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {r!r}") from None
    if not low < a <= b <= high:
        lower = "" if low == -math.inf else f"{low:g} < "
        upper = "" if high == math.inf else f" <= {high:g}"
        raise ValueError(f"{name} must satisfy {lower}min <= max{upper}, got {r!r}")
    return a, b


def _random_boxes(n: int, h: int, w: int, scale, ratio, generator, device, tries: int = 10):
    """Random boxes as torchvision draws them for RandomResizedCrop and RandomErasing.

    A box covers a fraction of the image drawn uniformly from ``scale`` and has an
    aspect ratio width/height drawn log-uniformly from ``ratio``. Each image gets
    ``tries`` draws at once and keeps the first that fits inside the image.
    Returns ``top, left, height, width`` (int64 ``[n]``) and ``found`` (bool ``[n]``,
    false where no draw fitted: the caller decides what to do there).
    """
    u = torch.rand(2, n, tries, device=device, generator=generator)
    area = h * w * (scale[0] + (scale[1] - scale[0]) * u[0])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[1])
    bw = torch.sqrt(area * aspect).round().long()
    bh = torch.sqrt(area / aspect).round().long()
    fits = (bw >= 1) & (bw <= w) & (bh >= 1) & (bh <= h)
    first = fits.float().argmax(1, keepdim=True)          # index of the first fitting draw
    bh, bw = bh.gather(1, first).squeeze(1), bw.gather(1, first).squeeze(1)
    found = fits.any(1)
    bh, bw = torch.where(found, bh, h), torch.where(found, bw, w)   # keep positions valid
    pos = torch.rand(2, n, device=device, generator=generator)
    top = (pos[0] * (h - bh + 1)).floor().long().clamp(max=h - bh)
    left = (pos[1] * (w - bw + 1)).floor().long().clamp(max=w - bw)
    return top, left, bh, bw, found


class HorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = _check_p(p)

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        flip = _uniform(x.shape[0], x, generator) < self.p
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p})"


class VerticalFlip:
    """Mirror each image upside down with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = _check_p(p)

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        flip = _uniform(x.shape[0], x, generator) < self.p
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-2), x)

    def __repr__(self) -> str:
        return f"VerticalFlip(p={self.p})"


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


class Rotation:
    """Rotate each image about its centre by its own random angle.

    ``degrees`` is a number d >= 0 (angles uniform in [-d, d]) or a pair
    ``(min, max)``. The whole batch is resampled by one ``affine_grid`` /
    ``grid_sample`` call (bilinear); corners that come from outside the image are 0.
    """

    def __init__(self, degrees=10.0):
        if isinstance(degrees, (int, float)):
            if degrees < 0:
                raise ValueError(f"degrees must be >= 0 or a pair (min, max), got {degrees}")
            self.range = (-float(degrees), float(degrees))
        else:
            self.range = _check_range("degrees", degrees, -math.inf)
        self.degrees = degrees

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        _check_batch(x, "Rotation")
        b, c, h, w = x.shape
        lo, hi = self.range
        angle = torch.deg2rad(lo + (hi - lo) * _uniform(b, x, generator))
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        # grid coordinates run from -1 to 1 along both axes: the h/w factors keep the
        # rotation rigid when the image is not square
        theta = torch.stack([torch.stack([cos, -sin * h / w, zero], 1),
                             torch.stack([sin * w / h, cos, zero], 1)], 1)          # [B, 2, 3]
        xf = _as_float(x)
        grid = F.affine_grid(theta.to(xf.dtype), [b, c, h, w], align_corners=False)
        y = F.grid_sample(xf, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return _like(y, x)

    def __repr__(self) -> str:
        return f"Rotation(degrees={self.degrees!r})"


def _grey(y: torch.Tensor) -> torch.Tensor:
    """Luma of a float batch, [B, 1, H, W] (the ITU-R 601 weights torchvision uses)."""
    if y.shape[1] == 1:
        return y
    r, g, b = y.unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def _shift_hue(y: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of an RGB float batch in [0, 1] by ``shift`` (fractions of a turn, [B,1,1,1])."""
    r, g, b = y[:, 0:1], y[:, 1:2], y[:, 2:3]
    v = y.max(1, keepdim=True).values
    chroma = v - y.min(1, keepdim=True).values
    d = torch.where(chroma == 0, torch.ones_like(chroma), chroma)
    h = torch.where(v == r, (g - b) / d, torch.where(v == g, 2 + (b - r) / d, 4 + (r - g) / d))
    h = (h / 6 + shift) % 1
    # HSV -> RGB, one formula for the three channels: c = v - chroma * clamp(min(k, 4 - k), 0, 1)
    k = (torch.tensor([5.0, 3.0, 1.0], device=y.device, dtype=y.dtype).view(1, 3, 1, 1) + 6 * h) % 6
    return v - chroma * torch.minimum(k, 4 - k).clamp(0, 1)


class ColorJitter:
    """Change brightness, contrast, saturation and hue by random amounts per image.

    The meaning is torchvision's. A strength ``s`` draws a factor uniformly from
    ``[max(0, 1 - s), 1 + s]`` (or give the pair ``(min, max)``); ``hue`` (0 <= s <= 0.5)
    draws a shift from ``[-s, s]`` turns of the colour circle. 0 leaves that property alone.

    * brightness: pixels times the factor
    * contrast: blend with the mean grey level of the image
    * saturation: blend each pixel with its grey value
    * hue: rotate the hue in HSV space (RGB batches only)

    Pixels are clamped to ``[0, max_value]`` after each change; ``max_value`` is 255 for
    integer batches and 1.0 for float batches unless given. The four changes are applied
    in a random order drawn once per batch (torchvision draws one per image).
    """

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, max_value=None):
        self.ranges = [self._factor_range("brightness", brightness),
                       self._factor_range("contrast", contrast),
                       self._factor_range("saturation", saturation),
                       self._hue_range(hue)]
        if max_value is not None and not max_value > 0:
            raise ValueError(f"max_value must be > 0 or None, got {max_value}")
        self.strengths = (brightness, contrast, saturation, hue)
        self.max_value = max_value

    @staticmethod
    def _factor_range(name, s) -> tuple[float, float]:
        if isinstance(s, (int, float)):
            if s < 0:
                raise ValueError(f"{name} must be >= 0 or a pair (min, max), got {s}")
            return max(0.0, 1.0 - s), 1.0 + s
        lo, hi = _check_range(name, s, -math.inf)
        if lo < 0:
            raise ValueError(f"{name} factors must be >= 0, got {s!r}")
        return lo, hi

    @staticmethod
    def _hue_range(s) -> tuple[float, float]:
        if isinstance(s, (int, float)):
            if not 0 <= s <= 0.5:
                raise ValueError(f"hue must lie in [0, 0.5] or be a pair (min, max), got {s}")
            return -float(s), float(s)
        lo, hi = _check_range("hue", s, -math.inf, 0.5)
        if lo < -0.5:
            raise ValueError(f"hue shifts must lie in [-0.5, 0.5], got {s!r}")
        return lo, hi

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        _check_batch(x, "ColorJitter")
        b, c = x.shape[:2]
        active = [r != (1.0, 1.0) for r in self.ranges[:3]] + [self.ranges[3] != (0.0, 0.0)]
        if not any(active):
            return x
        if c != 3 and (active[3] or (c != 1 and (active[1] or active[2]))):
            raise ValueError(f"ColorJitter needs RGB images (3 channels) for this change, got {c} channels")
        bound = self.max_value or (1.0 if x.is_floating_point() else 255.0)
        u = torch.rand(4, b, 1, 1, 1, device=x.device, generator=generator)
        order = torch.randperm(4, device=x.device, generator=generator).tolist()
        y = _as_float(x)
        for i in order:
            if not active[i]:
                continue
            lo, hi = self.ranges[i]
            f = (lo + (hi - lo) * u[i]).to(y.dtype)
            if i == 0:
                y = y * f
            elif i == 1:
                y = f * y + (1 - f) * _grey(y).mean((1, 2, 3), keepdim=True)
            elif i == 2:
                y = f * y + (1 - f) * _grey(y)
            elif c == 3:
                y = _shift_hue(y / bound, f) * bound
            y = y.clamp(0, bound)
        return _like(y, x)

    def __repr__(self) -> str:
        b, c, s, h = self.strengths
        extra = "" if self.max_value is None else f", max_value={self.max_value}"
        return f"ColorJitter(brightness={b!r}, contrast={c!r}, saturation={s!r}, hue={h!r}{extra})"


def _fill(value, x: torch.Tensor) -> torch.Tensor:
    """A fill value (a number, or one per channel) in the dtype of ``x``, ready to broadcast."""
    v = torch.as_tensor(value, dtype=torch.float32, device=x.device)
    if v.ndim == 1:
        if len(v) != x.shape[1]:
            raise ValueError(f"value has {len(v)} entries but the images have {x.shape[1]} channels")
        v = v.view(1, -1, 1, 1)
    return _like(v, x)


def _check_value(value):
    try:
        v = torch.as_tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        v = None
    if v is None or v.ndim > 1:
        raise ValueError(f"value must be a number or one number per channel, got {value!r}")
    return value


class RandomErasing:
    """With probability ``p`` per image, fill one random rectangle with ``value``.

    As torchvision's RandomErasing: the rectangle covers a fraction of the image drawn
    from ``scale`` and has an aspect ratio (width / height) drawn log-uniformly from
    ``ratio``; an image where none of 10 draws fits stays whole. ``value`` is in the
    batch's pixel units (0 = black), a number or one per channel. The rectangles of the
    whole batch form one boolean mask, made by comparing row and column indices with
    each image's box.
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0):
        self.p = _check_p(p)
        self.scale = _check_range("scale", scale, 0.0, 1.0)
        self.ratio = _check_range("ratio", ratio, 0.0)
        self.value = _check_value(value)

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        _check_batch(x, "RandomErasing")
        b, c, h, w = x.shape
        chosen = _uniform(b, x, generator) < self.p
        top, left, bh, bw, found = _random_boxes(b, h, w, self.scale, self.ratio, generator, x.device)
        top, left, bh, bw = (v.view(b, 1, 1) for v in (top, left, bh, bw))
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        mask = ((rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw)
                & (chosen & found).view(b, 1, 1))                                   # [B, H, W]
        return torch.where(mask.unsqueeze(1), _fill(self.value, x), x)

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value!r})"


class RandomResizedCrop:
    """Cut a random box out of each image and resample it to ``size`` x ``size``.

    As torchvision's RandomResizedCrop: the box covers a fraction of the image drawn
    from ``scale``, with aspect ratio (width / height) drawn log-uniformly from
    ``ratio``; where none of 10 draws fits, the central crop closest to ``ratio`` is
    used. All boxes are resampled by one ``affine_grid`` / ``grid_sample`` call
    (bilinear, without antialiasing, so strong shrinking aliases).
    """

    def __init__(self, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        self.size = size
        self.scale = _check_range("scale", scale, 0.0, 1.0)
        self.ratio = _check_range("ratio", ratio, 0.0)

    def _central(self, h: int, w: int) -> tuple[int, int]:
        """Height and width of the fallback crop (torchvision's rule)."""
        if w / h < self.ratio[0]:
            return min(h, round(w / self.ratio[0])), w
        if w / h > self.ratio[1]:
            return h, min(w, round(h * self.ratio[1]))
        return h, w

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        _check_batch(x, "RandomResizedCrop")
        b, c, h, w = x.shape
        top, left, bh, bw, found = _random_boxes(b, h, w, self.scale, self.ratio, generator, x.device)
        ch, cw = self._central(h, w)
        top, left = torch.where(found, top, (h - ch) // 2), torch.where(found, left, (w - cw) // 2)
        bh, bw = torch.where(found, bh, ch), torch.where(found, bw, cw)
        xf = _as_float(x)
        top, left, bh, bw = (v.to(xf.dtype) for v in (top, left, bh, bw))
        zero = torch.zeros_like(top)
        # output grid [-1, 1] maps onto the box: centre (2*left + bw)/w - 1, half-width bw/w
        theta = torch.stack([torch.stack([bw / w, zero, (2 * left + bw) / w - 1], 1),
                             torch.stack([zero, bh / h, (2 * top + bh) / h - 1], 1)], 1)
        grid = F.affine_grid(theta, [b, c, self.size, self.size], align_corners=False)
        y = F.grid_sample(xf, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return _like(y, x)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class PatchMask:
    """Set a random fraction ``ratio`` of the ``granularity`` x ``granularity`` pixel blocks of each image to ``value``.

    The masking of masked image modelling: the image is a grid of blocks (4x4, 2x2 or
    1x1 pixels, ...), and each image gets its own random set of masked blocks. With N
    blocks per image, an image gets floor(ratio * N) masked blocks, or one more with the
    probability that makes the expected fraction exactly ``ratio``. ``value`` is in the
    batch's pixel units: 0 is black, which ``Batches`` then normalises like any pixel.
    ``size`` (optional) is the image side, to check ``granularity`` at once rather than
    on the first batch.
    """

    def __init__(self, granularity: int = 4, ratio: float = 0.5, value=0, size: int | None = None):
        if isinstance(granularity, bool) or not isinstance(granularity, int) or granularity <= 0:
            raise ValueError(f"granularity must be a positive int (block side in pixels), got {granularity!r}")
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio must lie in [0, 1], got {ratio}")
        self.granularity, self.ratio = granularity, float(ratio)
        self.value = _check_value(value)
        if size is not None:
            self._check_size(size, size)

    def _check_size(self, h: int, w: int) -> None:
        if h % self.granularity or w % self.granularity:
            raise ValueError(f"granularity {self.granularity} does not divide the image size {h}x{w}; "
                             f"choose a divisor of {math.gcd(h, w)}")

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        _check_batch(x, "PatchMask")
        b, c, h, w = x.shape
        self._check_size(h, w)
        g = self.granularity
        gh, gw = h // g, w // g
        n = gh * gw
        scores = torch.rand(b, n, device=x.device, generator=generator)
        base = math.floor(self.ratio * n)
        k = base + (torch.rand(b, 1, device=x.device, generator=generator) < self.ratio * n - base)
        # a block is masked when its random score is among the k smallest of its image
        masked = scores.argsort(1).argsort(1) < k                                    # [B, N]
        mask = masked.view(b, 1, gh, gw).repeat_interleave(g, 2).repeat_interleave(g, 3)
        return torch.where(mask, _fill(self.value, x), x)

    def __repr__(self) -> str:
        return f"PatchMask(granularity={self.granularity}, ratio={self.ratio}, value={self.value!r})"


class ChannelDropout:
    """Set each colour channel of each image to 0 with probability ``p``: ``nn.Dropout2d(p)``
    applied to the image, as report E's "heavy regularization" set did. Unlike ``Dropout2d``
    the kept channels are not scaled by 1 / (1 - p), so every pixel stays in its range."""

    def __init__(self, p: float = 1 / 3):
        self.p = _check_p(p)

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        _check_batch(x, "ChannelDropout")
        b, c = x.shape[:2]
        drop = torch.rand(b, c, 1, 1, device=x.device, generator=generator) < self.p
        return x.masked_fill(drop, 0)

    def __repr__(self) -> str:
        return f"ChannelDropout(p={self.p:.3g})"


class RandomApply:
    """Apply ``transform`` to each image with probability ``p``.

    Only the chosen images are given to ``transform`` (index, transform, scatter back),
    so it must keep the shape of the images.
    """

    def __init__(self, transform, p: float = 0.5):
        if not callable(transform):
            raise ValueError(f"transform must be callable t(x, generator), got {transform!r}")
        self.transform, self.p = transform, _check_p(p)

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        chosen = (_uniform(x.shape[0], x, generator) < self.p).nonzero().flatten()
        if len(chosen) == 0:
            return x
        picked = x[chosen]
        y = self.transform(picked, generator)
        if y.shape != picked.shape:
            raise ValueError(f"RandomApply needs a transform that keeps the shape; {self.transform!r} "
                             f"turned {list(picked.shape)} into {list(y.shape)}")
        out = x.clone()
        out[chosen] = y.to(x.dtype)
        return out

    def __repr__(self) -> str:
        return f"RandomApply({self.transform!r}, p={self.p})"


class Compose:
    """Several transforms as one callable, applied in order (a plain list works as well)."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise ValueError(f"every transform must be callable t(x, generator), got {t!r}")

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


def standard(padding: int = 4) -> list:
    """The usual CIFAR augmentation: random horizontal flip, then pad-and-crop."""
    return [HorizontalFlip(0.5), PadCrop(padding)]


def basic(degrees: float = 10.0, jitter: float = 0.2) -> list:
    """Flip, colour jitter (brightness, contrast and saturation by up to ``jitter``), rotation up to ``degrees``."""
    return [HorizontalFlip(0.5), ColorJitter(jitter, jitter, jitter), Rotation(degrees)]


def basic_erasing(p: float = 0.5, degrees: float = 10.0, jitter: float = 0.2) -> list:
    """``basic()`` followed by RandomErasing with probability ``p``."""
    return basic(degrees, jitter) + [RandomErasing(p)]


def heavy(dropout: float = 1 / 3) -> list:
    """Report E's "heavy regularization", as we read it: horizontal and vertical flips, pad-and-crop,
    colour jitter, then ``ChannelDropout(dropout)`` (Dropout2d on the image)."""
    return [HorizontalFlip(0.5), VerticalFlip(0.5), PadCrop(4), ColorJitter(0.2, 0.2, 0.2), ChannelDropout(dropout)]


#: The pipelines ``by_name`` knows, each made fresh by calling it.
NAMES = {
    "none": lambda: [],
    "flip": lambda: [HorizontalFlip(0.5)],
    "crop": lambda: [PadCrop(4)],
    "flip+crop": standard,
    "basic": basic,
    "basic+erasing": basic_erasing,
    "heavy": heavy,
}


def by_name(name: str) -> list:
    """The pipeline called ``name`` (a key of ``NAMES``), as a list of transforms."""
    if name not in NAMES:
        raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(repr(n) for n in NAMES)}")
    return NAMES[name]()
