import math

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from helpers import augment, data


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


# ---------------------------------------------------------------------------------------------
# The full set of transforms
# ---------------------------------------------------------------------------------------------
def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def every_transform():
    """One instance of every transform, with enough randomness to tell seeds apart."""
    return [
        augment.HorizontalFlip(0.5), augment.VerticalFlip(0.5), augment.PadCrop(4),
        augment.PadCrop(3, mode="reflect"), augment.Rotation(30),
        augment.ColorJitter(0.4, 0.4, 0.4, 0.1), augment.RandomErasing(0.5),
        augment.RandomResizedCrop(16), augment.PatchMask(4, 0.5), augment.PatchMask(1, 0.3),
        augment.ChannelDropout(1 / 3), augment.RandomApply(augment.Rotation(20), 0.5), augment.Compose(augment.basic_erasing()),
    ]


@pytest.mark.parametrize("t", every_transform(), ids=repr)
def test_same_seed_same_batch_for_every_transform(t):
    x = batch(32, 16)
    assert torch.equal(t(x, seeded(3)), t(x, seeded(3)))
    assert not torch.equal(t(x, seeded(3)), t(x, seeded(4)))


@pytest.mark.parametrize("t", every_transform(), ids=repr)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_every_transform_keeps_dtype_and_shape(t, dtype):
    x = batch(8, 16)
    x = x if dtype == torch.uint8 else x.float() / 255
    y = t(x, seeded())
    assert y.dtype == dtype
    size = t.size if isinstance(t, augment.RandomResizedCrop) else 16
    assert y.shape == (8, 3, size, size)
    if dtype == torch.float32:
        assert 0 <= y.min() and y.max() <= 1
    assert repr(t).startswith(type(t).__name__ + "(")


def test_vertical_flip_twice_is_identity():
    x = batch()
    f = augment.VerticalFlip(1.0)
    assert torch.equal(f(x), x.flip(-2)) and torch.equal(f(f(x)), x)
    assert torch.equal(augment.VerticalFlip(0.0)(x), x)


def test_rotation_by_zero_is_identity_and_by_90_is_rot90():
    x = batch(6, 9)
    assert torch.equal(augment.Rotation(0)(x, seeded()), x)
    xf = x.float() / 255
    assert torch.allclose(augment.Rotation(0)(xf, seeded()), xf, atol=1e-5)
    assert torch.equal(augment.Rotation((90, 90))(x, seeded()), torch.rot90(x, 1, dims=(2, 3)))
    assert torch.equal(augment.Rotation((-90, -90))(x, seeded()), torch.rot90(x, -1, dims=(2, 3)))


def test_rotation_angles_differ_per_image_and_fill_corners_with_zero():
    x = torch.full((64, 1, 16, 16), 255, dtype=torch.uint8)
    y = augment.Rotation(45)(x, seeded())
    lost = (y < 128).flatten(1).sum(1)          # a rotated square loses its corners
    assert len(lost.unique()) > 10 and lost.max() > 20
    assert (y[:, :, 6:10, 6:10] == 255).all()   # the centre stays


def test_color_jitter_with_zero_strengths_is_identity():
    x = batch()
    assert torch.equal(augment.ColorJitter()(x, seeded()), x)
    assert torch.equal(augment.ColorJitter(0, 0, 0, 0)(x.float(), seeded()), x.float())


@pytest.mark.parametrize("which, tv", [
    ("brightness", lambda x, f: TF.adjust_brightness(x, f)),
    ("contrast", lambda x, f: TF.adjust_contrast(x, f)),
    ("saturation", lambda x, f: TF.adjust_saturation(x, f)),
])
def test_color_jitter_matches_torchvision_for_fixed_factors(which, tv):
    x = batch(4, 8).float() / 255
    for f in (0.3, 1.6):
        y = augment.ColorJitter(**{which: (f, f)})(x, seeded())
        assert torch.allclose(y, torch.stack([tv(im, f) for im in x]), atol=1e-5)


def test_color_jitter_hue_matches_torchvision_and_turns_red_into_green():
    x = batch(4, 8).float() / 255
    for shift in (-0.3, 0.1, 0.45):
        y = augment.ColorJitter(hue=(shift, shift))(x, seeded())
        assert torch.allclose(y, torch.stack([TF.adjust_hue(im, shift) for im in x]), atol=1e-5)
    red = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    red[:, 0] = 200
    green = augment.ColorJitter(hue=(1 / 3, 1 / 3))(red, seeded())
    assert (green[:, 1] == 200).all() and (green[:, [0, 2]] == 0).all()


def test_color_jitter_draws_a_factor_per_image_within_range():
    x = torch.full((200, 3, 4, 4), 100, dtype=torch.uint8)
    y = augment.ColorJitter(brightness=0.5)(x, seeded()).float()
    factors = y[:, 0, 0, 0] / 100
    assert (y == y[:, :1, :1, :1]).all()                         # one factor per image
    assert factors.min() >= 0.5 - 0.01 and factors.max() <= 1.5 + 0.01
    assert len(factors.unique()) > 50 and abs(factors.mean() - 1) < 0.05


def erased_boxes(y, value=0):
    """Bounding boxes (top, left, height, width) of the erased pixels, and whether each is a full rectangle."""
    out = []
    for im in (y == value).all(1):
        rows, cols = im.any(1).nonzero().flatten(), im.any(0).nonzero().flatten()
        if len(rows) == 0:
            out.append(None)
            continue
        t, l, h, w = rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        out.append((int(h), int(w), bool(im[t:t + h, l:l + w].all()) and int(im.sum()) == h * w))
    return out


def test_random_erasing_p0_never_and_p1_always_erases_one_rectangle_of_the_right_size():
    x = torch.full((100, 3, 32, 32), 255, dtype=torch.uint8)
    assert torch.equal(augment.RandomErasing(0.0)(x, seeded()), x)
    boxes = erased_boxes(augment.RandomErasing(1.0)(x, seeded()))
    assert all(b is not None and b[2] for b in boxes)
    areas = torch.tensor([h * w / 1024 for h, w, _ in boxes])
    assert areas.min() > 0.01 and areas.max() < 0.36 and len(areas.unique()) > 30
    half = erased_boxes(augment.RandomErasing(0.5, value=(0, 0, 0))(x, seeded()))
    assert 30 < sum(b is not None for b in half) < 70


def test_random_erasing_fills_per_channel_value_in_float():
    x = torch.rand(8, 3, 16, 16, generator=seeded(1))
    y = augment.RandomErasing(1.0, value=(0.5, 2.0, -1.0))(x, seeded())
    changed = (y != x).any(1)
    assert changed.flatten(1).any(1).all()
    assert (y[:, 0][changed] == 0.5).all() and (y[:, 1][changed] == 2.0).all()


def test_resized_crop_with_full_scale_and_square_ratio_is_the_identity_resize():
    x = batch(6, 16)
    t = augment.RandomResizedCrop(16, scale=(1, 1), ratio=(1, 1))
    assert torch.equal(t(x, seeded()), x)
    xf = x.float()
    for size in (8, 24):
        y = augment.RandomResizedCrop(size, scale=(1, 1), ratio=(1, 1))(xf, seeded())
        ref = F.interpolate(xf, size=(size, size), mode="bilinear", align_corners=False)
        assert torch.allclose(y, ref, atol=1e-3)


def test_resized_crop_cuts_boxes_inside_the_image():
    # pixel value = column index: a crop of a horizontal ramp is a ramp within [0, 31]
    ramp = torch.arange(32.0).view(1, 1, 1, 32).expand(64, 1, 32, 32)
    y = augment.RandomResizedCrop(16, scale=(0.1, 0.5))(ramp, seeded())
    widths = y[:, 0, 0, -1] - y[:, 0, 0, 0]
    assert (y.diff(dim=-1) >= -1e-4).all() and (widths < 31).all() and len(widths.unique()) > 10
    assert (y >= 0).all() and (y <= 31).all()


PATCHES = [(4, 0.5), (2, 0.75), (1, 0.3), (8, 0.6)]


@pytest.mark.parametrize("granularity, ratio", PATCHES)
def test_patch_mask_ratio_holds_and_masks_align_to_the_grid(granularity, ratio):
    x = torch.randint(1, 256, (256, 3, 32, 32), dtype=torch.uint8, generator=seeded(2))
    y = augment.PatchMask(granularity, ratio)(x, seeded())
    zero = (y == 0).all(1)                                                        # [B, H, W]
    g, n = granularity, 32 // granularity
    blocks = zero.view(256, n, g, n, g).permute(0, 1, 3, 2, 4).reshape(256, n * n, g * g)
    assert (blocks.all(2) == blocks.any(2)).all()          # every block is all masked or all kept
    kept = ~zero.unsqueeze(1).expand_as(x)
    assert torch.equal(y[kept], x[kept])                   # the rest is untouched
    fraction = blocks.all(2).float().mean(1)
    assert abs(fraction.mean() - ratio) < 0.03
    k = ratio * n * n                                      # per image: floor(k) or floor(k) + 1 blocks
    assert (fraction * n * n >= math.floor(k)).all() and (fraction * n * n <= math.floor(k) + 1).all()
    assert len(blocks.all(2).unique(dim=0)) > 200          # every image has its own mask


def test_channel_dropout_zeroes_whole_channels_at_rate_p():
    x = torch.randint(1, 256, (2000, 3, 8, 8), dtype=torch.uint8, generator=seeded(2))
    y = augment.ChannelDropout(1 / 3)(x, seeded())
    zero = (y == 0).flatten(2)                                  # [B, C, pixels]
    assert (zero.all(2) == zero.any(2)).all()                   # a channel is wholly dropped or kept
    kept = ~zero.all(2)
    assert torch.equal(y[kept], x[kept])                        # kept channels are not rescaled
    assert abs((~kept).float().mean() - 1 / 3) < 0.02
    assert torch.equal(augment.ChannelDropout(0.0)(x, seeded()), x)
    assert augment.ChannelDropout(1.0)(x.float(), seeded()).eq(0).all()


def test_patch_mask_extremes():
    x = batch(4, 8)
    assert torch.equal(augment.PatchMask(2, 0.0)(x, seeded()), x)
    assert (augment.PatchMask(2, 1.0)(x, seeded()) == 0).all()
    # a single block per image: masked with probability ratio, so the average still holds
    one = augment.PatchMask(8, 0.3)(torch.full((1000, 1, 8, 8), 9, dtype=torch.uint8), seeded())
    assert abs((one == 0).flatten(1).all(1).float().mean() - 0.3) < 0.05


class Recorder:
    """A real transform (flip) that notes how many images it was given."""

    def __init__(self):
        self.sizes = []

    def __call__(self, x, generator=None):
        self.sizes.append(len(x))
        return x.flip(-1)


def test_random_apply_p0_never_p1_always_and_only_on_chosen_images():
    x = batch(100)
    rec = Recorder()
    assert torch.equal(augment.RandomApply(rec, 0.0)(x, seeded()), x) and rec.sizes == []
    assert torch.equal(augment.RandomApply(rec, 1.0)(x, seeded()), x.flip(-1)) and rec.sizes == [100]
    y = augment.RandomApply(rec, 0.4)(x, seeded())
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    kept = (y == x).flatten(1).all(1)
    assert (flipped ^ kept).all() and rec.sizes[-1] == flipped.sum() and 25 < rec.sizes[-1] < 55


def test_compose_and_named_pipelines():
    assert list(augment.NAMES) == ["none", "flip", "crop", "flip+crop", "basic", "basic+erasing", "heavy"]
    assert augment.by_name("none") == []
    assert augment.by_name("heavy")[-1].p == pytest.approx(1 / 3)
    assert [type(t).__name__ for t in augment.by_name("flip+crop")] == ["HorizontalFlip", "PadCrop"]
    assert [type(t).__name__ for t in augment.by_name("basic+erasing")] == \
        ["HorizontalFlip", "ColorJitter", "Rotation", "RandomErasing"]
    assert augment.by_name("basic")[2].range == (-10.0, 10.0)
    x = batch(16)
    pipe = augment.by_name("basic")
    g1, g2 = seeded(), seeded()
    step = x
    for t in pipe:
        step = t(step, g1)
    assert torch.equal(augment.Compose(pipe)(x, g2), step)


def test_batches_iterate_with_basic_erasing():
    g = seeded(0)
    s = data.ImageSet(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g),
                      torch.randint(0, 10, (64,), generator=g), [str(i) for i in range(10)])
    b = data.Batches(s, 16, shuffle=True, augment=augment.by_name("basic+erasing"), device="cpu")
    shapes = [(tuple(x.shape), x.dtype, tuple(y.shape)) for x, y in b]
    assert shapes == [((16, 3, 32, 32), torch.float32, (16,))] * 4
    assert not torch.equal(next(iter(b))[0], next(iter(data.Batches(s, 16, device="cpu")))[0])


@pytest.mark.parametrize("make, message", [
    (lambda: augment.VerticalFlip(-0.1), r"p must lie in \[0, 1\], got -0.1"),
    (lambda: augment.RandomErasing(2), r"p must lie in \[0, 1\], got 2"),
    (lambda: augment.RandomApply(augment.VerticalFlip(), 1.01), r"p must lie in \[0, 1\], got 1.01"),
    (lambda: augment.RandomApply("flip", 0.5), "transform must be callable"),
    (lambda: augment.Rotation(-5), "degrees must be >= 0 or a pair"),
    (lambda: augment.Rotation((10, -10)), r"degrees must satisfy min <= max, got \(10, -10\)"),
    (lambda: augment.ColorJitter(brightness=-0.2), "brightness must be >= 0 or a pair .*, got -0.2"),
    (lambda: augment.ColorJitter(contrast=(-1, 2)), r"contrast factors must be >= 0, got \(-1, 2\)"),
    (lambda: augment.ColorJitter(hue=0.7), r"hue must lie in \[0, 0.5\] .*, got 0.7"),
    (lambda: augment.RandomErasing(scale=(0.5, 0.1)), r"scale must satisfy 0 < min <= max <= 1, got \(0.5, 0.1\)"),
    (lambda: augment.RandomErasing(scale=(0.1, 1.5)), r"scale must satisfy 0 < min <= max <= 1"),
    (lambda: augment.RandomErasing(ratio=(0, 2)), r"ratio must satisfy 0 < min <= max, got \(0, 2\)"),
    (lambda: augment.RandomErasing(value="black"), "value must be a number or one number per channel"),
    (lambda: augment.RandomResizedCrop(0), "size must be a positive int, got 0"),
    (lambda: augment.RandomResizedCrop(32, scale=0.5), r"scale must be a pair \(min, max\), got 0.5"),
    (lambda: augment.RandomResizedCrop(32, ratio=(2, 1)), "ratio must satisfy"),
    (lambda: augment.PatchMask(0, 0.5), "granularity must be a positive int .*, got 0"),
    (lambda: augment.PatchMask(-2, 0.5), "granularity must be a positive int .*, got -2"),
    (lambda: augment.PatchMask(4, 1.5), r"ratio must lie in \[0, 1\], got 1.5"),
    (lambda: augment.PatchMask(5, 0.5, size=32), "granularity 5 does not divide the image size 32x32"),
    (lambda: augment.ChannelDropout(1.2), r"p must lie in \[0, 1\], got 1.2"),
    (lambda: augment.Compose([augment.VerticalFlip(), 3]), "every transform must be callable"),
    (lambda: augment.by_name("mixup"), "unknown augmentation 'mixup'; known: 'none', 'flip', 'crop', "
                                       r"'flip\+crop', 'basic', 'basic\+erasing', 'heavy'"),
])
def test_bad_arguments_of_the_full_set(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_batches_are_refused_at_call_time():
    with pytest.raises(ValueError, match="granularity 3 does not divide the image size 32x32"):
        augment.PatchMask(3, 0.5)(batch(2, 32))
    with pytest.raises(ValueError, match=r"Rotation expects a batch \[B, C, H, W\], got shape \[3, 8, 8\]"):
        augment.Rotation(10)(batch(1)[0])
    with pytest.raises(ValueError, match="value has 2 entries but the images have 3 channels"):
        augment.RandomErasing(1.0, value=(1, 2))(batch(2))
    with pytest.raises(ValueError, match="needs RGB images"):
        augment.ColorJitter(hue=0.1)(torch.zeros(2, 4, 8, 8))
    with pytest.raises(ValueError, match="needs a transform that keeps the shape"):
        augment.RandomApply(augment.RandomResizedCrop(4), 1.0)(batch(2))
