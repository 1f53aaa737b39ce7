import pytest
import torch

from helpers import augment


def batch(n=6, size=8):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_flip_with_p1_mirrors_and_twice_is_identity():
    x = batch()
    f = augment.HorizontalFlip(1.0)
    assert torch.equal(f(x), x.flip(-1))
    assert torch.equal(f(f(x)), x)
    assert torch.equal(augment.HorizontalFlip(0.0)(x), x)


def test_flip_half_flips_some_and_keeps_others():
    x = batch(200)
    y = augment.HorizontalFlip(0.5)(x, torch.Generator().manual_seed(0))
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    kept = (y == x).flatten(1).all(1)
    assert (flipped | kept).all() and 60 < flipped.sum() < 140


def test_crop_with_zero_padding_is_identity_and_crops_come_from_the_padded_image():
    x = batch()
    assert torch.equal(augment.PadCrop(0)(x), x)
    y = augment.PadCrop(2)(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):   # every output is one of the 25 possible shifted windows
        assert any(torch.equal(y[i], padded[i, :, dy:dy + 8, dx:dx + 8]) for dy in range(5) for dx in range(5))


def test_reflect_padding_has_no_black_border():
    x = torch.full((4, 3, 8, 8), 200, dtype=torch.uint8)
    y = augment.PadCrop(3, mode="reflect")(x, torch.Generator().manual_seed(0))
    assert (y == 200).all()


def test_same_seed_same_batch():
    x = batch(32)
    pipe = augment.standard(4)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        out = x
        for t in pipe:
            out = t(out, g)
        return out

    assert torch.equal(run(5), run(5)) and not torch.equal(run(5), run(6))


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding must be >= 0, got -1"):
        augment.PadCrop(-1)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got 1.5"):
        augment.HorizontalFlip(1.5)
    with pytest.raises(ValueError, match="mode"):
        augment.PadCrop(2, mode="wrap")
