"""Tests of the model zoo (helpers.models): shapes, documented sizes, attention, errors, training.

Parameter counts here are worked out by hand from the layer shapes
(a Linear(i, o) has i*o + o parameters, a Conv2d(i, o, k) i*o*k*k + o).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.models import MODELS, build, count_parameters
from helpers.models.cnn import CNN3, CNN5GAP, CNNDropout, LeNet, LeNetImproved
from helpers.models.mlp import MLP, mlp_deep, mlp_large, mlp_small, two_layer_net
from helpers.models.resnet import ResidualBlock, resnet9, resnet18, rn, rr
from helpers.models.vit import AttentionHead, MultiHeadAttention, ViT


def linear(i: int, o: int) -> int:
    """Parameters of nn.Linear(i, o)."""
    return i * o + o


def linear_shapes(model: nn.Module) -> list[tuple[int, int]]:
    """(in_features, out_features) of every Linear layer, in order."""
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


# Keywords each model needs for 32x32 and for 96x96 images (small ViT to stay fast).
SMALL_VIT = dict(embed_dim=32, depth=2, num_heads=2, head_dim=16, mlp_dim=64)
KWARGS_32 = {"rn": dict(n_blocks=2), "rr": dict(n_blocks=2), "resnet9": dict(widths=(8, 16, 16, 32)), "vit": SMALL_VIT}
KWARGS_96 = {
    "mlp_small": dict(in_features=3 * 96 * 96),
    "mlp_large": dict(in_features=3 * 96 * 96),
    "mlp_deep": dict(in_features=3 * 96 * 96),
    "two_layer": dict(in_features=3 * 96 * 96),
    "lenet": dict(input_size=96),
    "lenet_improved": dict(input_size=96),
    "cnn3": dict(input_size=96),
    "cnn_dropout": dict(input_size=96),
    "cnn5_gap": {},
    "rn": dict(n_blocks=2, input_size=96),
    "rr": dict(n_blocks=2, input_size=96),
    "resnet9": dict(widths=(8, 16, 16, 32)),
    "resnet18": {},
    "resnet18_cifar": {},
    "vit": dict(SMALL_VIT, image_size=96, patch_size=16),
}


def test_every_model_is_tested_at_96():
    assert set(KWARGS_96) == set(MODELS)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("num_classes", [10, 100])
@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape_32(name, num_classes):
    torch.manual_seed(0)
    model = build(name, num_classes=num_classes, **KWARGS_32.get(name, {}))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, num_classes)


@pytest.mark.parametrize("num_classes", [10, 100])
@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape_96(name, num_classes):
    torch.manual_seed(0)
    model = build(name, num_classes=num_classes, **KWARGS_96[name])
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 96, 96)).shape == (2, num_classes)


def test_vit_default_config_shape():
    assert ViT()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


# ------------------------------------------------------------------- parameter counts


def test_mlp_small_layers():
    model = mlp_small()
    shapes = [(3072, 1500), (1500, 500), (500, 100), (100, 10)]
    assert linear_shapes(model) == shapes
    assert count_parameters(model) == sum(linear(i, o) for i, o in shapes)
    # dropout 0.1 only after the last hidden layer, ReLU after every hidden layer
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in dropouts] == [0.1]
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 3
    assert isinstance(model.hidden[-1], nn.Dropout) and isinstance(model.hidden[-2], nn.ReLU)


def test_mlp_large_layers():
    widths = [3072, 2048, 1024, 512, 256, 128, 64, 32, 16, 100]
    model = mlp_large(num_classes=100)
    assert linear_shapes(model) == list(zip(widths, widths[1:]))
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.1]


def test_mlp_deep_layers():
    model = mlp_deep()
    assert linear_shapes(model) == [(3072, 256)] + [(256, 256)] * 8 + [(256, 10)]
    assert sum(isinstance(m, nn.LeakyReLU) for m in model.modules()) == 9
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.3}


def test_two_layer_net():
    model = two_layer_net(hidden=50)
    assert linear_shapes(model) == [(3072, 50), (50, 10)]
    assert count_parameters(model) == linear(3072, 50) + linear(50, 10)


def test_mlp_dropout_everywhere_by_default():
    model = MLP(hidden=(8, 8, 8), dropout=0.2, activation="tanh")
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 3


def test_lenet_parameters():
    model = LeNet(num_classes=10)
    assert count_parameters(model.fc2) == 10_164 == linear(120, 84)
    assert count_parameters(model.fc1) == linear(400, 120)
    conv1, conv2 = 6 * 3 * 5 * 5 + 6, 16 * 6 * 5 * 5 + 16
    total = conv1 + conv2 + linear(400, 120) + linear(120, 84) + linear(84, 10)
    assert count_parameters(model) == total
    # flatten size at 96x96: 96 -conv5-> 92 -pool-> 46 -conv5-> 42 -pool-> 21
    assert count_parameters(LeNet(input_size=96).fc1) == linear(16 * 21 * 21, 120)


def test_lenet_reset_classifier_for_fine_tuning():
    torch.manual_seed(0)
    model = LeNet(num_classes=100)  # e.g. trained on CIFAR-100
    conv1 = model.conv1.weight.detach().clone()
    model.reset_classifier(10, input_size=96)  # fine-tune on STL-10
    assert torch.equal(model.conv1.weight, conv1)
    assert linear_shapes(model) == [(16 * 21 * 21, 120), (120, 84), (84, 10)]
    assert model(torch.randn(2, 3, 96, 96)).shape == (2, 10)
    with pytest.raises(ValueError, match="input_size"):
        model(torch.randn(2, 3, 32, 32))


def test_lenet_improved_parameters():
    assert count_parameters(LeNetImproved().fc1) == 8192 * 512 + 512
    assert count_parameters(LeNetImproved(input_size=96).fc1) == 73728 * 512 + 512
    model = LeNetImproved(num_classes=100)
    model.reset_classifier(10, input_size=96)
    assert linear_shapes(model) == [(73728, 512), (512, 10)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2


def test_lenet_improved_dropout_only_while_training():
    torch.manual_seed(0)
    plain, dropped = LeNetImproved(num_classes=7), LeNetImproved(num_classes=7, dropout=0.5)
    dropped.load_state_dict(plain.state_dict())  # dropout adds no parameters
    x = torch.randn(4, 3, 32, 32)
    plain.eval(), dropped.eval()
    assert torch.equal(plain(x), dropped(x))
    dropped.train()
    assert not torch.allclose(dropped(x), dropped(x))
    with pytest.raises(ValueError, match="dropout"):
        LeNetImproved(dropout=1.0)


def test_two_layer_net_dropout_after_hidden_layer():
    model = build("two_layer", num_classes=100, hidden=64, dropout=0.3)
    assert linear_shapes(model) == [(3072, 64), (64, 100)]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3]
    assert not any(isinstance(m, nn.Dropout) for m in build("two_layer").modules())


def test_cnn3_layout():
    model = CNN3(channels=(8, 16, 32), hidden=20, dropout=0.3)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 8), (8, 16), (16, 32)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3
    assert linear_shapes(model) == [(32 * 4 * 4, 20), (20, 10)]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in CNN3(batch_norm=False).modules())



def test_cnn3_two_convs_per_block():
    model = CNN3(channels=(8, 16), convs=2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 8), (8, 8), (8, 16), (16, 16)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 4
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 2
    assert linear_shapes(model) == [(16 * 8 * 8, 256), (256, 10)]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="convs"):
        CNN3(convs=0)

def test_cnn_dropout_layout():
    model = CNNDropout()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 32), (32, 64), (64, 128)]
    assert sum(isinstance(m, nn.Dropout2d) for m in model.modules()) == 3
    assert linear_shapes(model) == [(128 * 4 * 4, 512), (512, 40), (40, 10)]


def test_cnn5_gap_parameters():
    model = CNN5GAP()
    widths = [3, 32, 64, 128, 256, 512]
    convs = sum(i * o * 9 + o for i, o in zip(widths, widths[1:]))
    assert count_parameters(model) == convs + linear(512, 10)


def test_residual_block_parameters():
    block = rn(1).blocks[0]
    assert block.conv1.weight.numel() == 16 * 32 * 9 and block.conv1.bias is None
    assert block.conv2.weight.numel() == 32 * 16 * 9 and block.conv2.bias is None
    bn = 2 * 32 + 2 * 16  # weight and bias of BatchNorm2d(32) and BatchNorm2d(16)
    assert count_parameters(block) == 16 * 32 * 9 + 32 * 16 * 9 + bn
    assert rn(1).stem.kernel_size == (1, 1) and rn(1).stem.out_channels == 16


def test_residual_block_adds_its_input():
    torch.manual_seed(0)
    block = ResidualBlock(16, 32).eval()
    nn.init.zeros_(block.bn2.weight)  # residual branch outputs bn2.bias = 0
    h = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(h), h)
    nn.init.ones_(block.bn2.weight)
    assert not torch.allclose(block(h), h)


def test_zero_init_starts_every_block_as_the_identity():
    torch.manual_seed(0)
    for build in (rn, rr):
        model = build(8, zero_init=True).train()      # train mode: batch statistics, as in training
        x = torch.randn(4, 3, 32, 32)
        h = model.stem(x)
        for block in model.blocks:
            assert torch.equal(block(h, x if model.reinject else None), h)
        plain = build(8)
        assert all(torch.equal(b.bn2.weight, torch.ones(16)) for b in plain.blocks)   # the default is unchanged


def test_rn_number_of_blocks_and_activation():
    model = rn(4, activation="tanh")
    assert len(model.blocks) == 4
    assert all(isinstance(b.act, nn.Tanh) for b in model.blocks)


def test_resnet18_parameters():
    # torchvision's ResNet-18 has 11,689,512 parameters with its 1000-class fc
    imagenet = resnet18(10)
    assert count_parameters(imagenet) == 11_689_512 - linear(512, 1000) + linear(512, 10)
    cifar = resnet18(10, stem="cifar")
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1)
    assert isinstance(cifar.maxpool, nn.Identity)
    assert count_parameters(cifar) == count_parameters(imagenet) - 64 * 3 * 7 * 7 + 64 * 3 * 3 * 3


def test_vit_attention_parameters():
    # the sources' example: embed_dim 32, 20 heads of 16 (num_heads * head_dim != embed_dim)
    mha = MultiHeadAttention(embed_dim=32, num_heads=20, head_dim=16)
    per_head = 3 * linear(32, 16)
    assert count_parameters(mha) == 20 * per_head + linear(20 * 16, 32)


def test_count_parameters_trainable_only():
    model = LeNet()
    for p in list(model.conv1.parameters()) + list(model.conv2.parameters()):
        p.requires_grad_(False)
    frozen = (6 * 3 * 25 + 6) + (16 * 6 * 25 + 16)
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - frozen


# ------------------------------------------------------------------------ attention


def test_attention_head_equals_sdpa():
    torch.manual_seed(0)
    head = AttentionHead(embed_dim=32, head_dim=16).double()
    x = torch.randn(3, 7, 32, dtype=torch.float64)
    out, weights = head(x)
    expected = F.scaled_dot_product_attention(head.query(x), head.key(x), head.value(x))
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    assert weights.shape == (3, 7, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 7, dtype=torch.float64))


def test_multi_head_attention_equals_sdpa():
    torch.manual_seed(0)
    mha = MultiHeadAttention(embed_dim=32, num_heads=20, head_dim=16).double()
    x = torch.randn(2, 5, 32, dtype=torch.float64)
    q, k, v = (
        torch.stack([getattr(h, name)(x) for h in mha.heads], dim=1)  # [B, heads, T, d]
        for name in ("query", "key", "value")
    )
    heads = F.scaled_dot_product_attention(q, k, v)
    expected = mha.proj(heads.transpose(1, 2).reshape(2, 5, 20 * 16))
    out, weights = mha(x)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(weights @ v, heads, rtol=1e-10, atol=1e-10)
    loop_out, loop_weights = mha.forward_loop(x)
    torch.testing.assert_close(loop_out, out, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(loop_weights, weights, rtol=1e-10, atol=1e-10)


def test_vit_attention_maps():
    torch.manual_seed(0)
    model = ViT(image_size=32, patch_size=8, depth=3, num_heads=5, head_dim=8, embed_dim=24)
    model.train()
    maps = model.attention_maps(torch.randn(2, 3, 32, 32))
    tokens = (32 // 8) ** 2 + 1
    assert len(maps) == 3
    assert all(m.shape == (2, 5, tokens, tokens) for m in maps)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(2, 5, tokens))
    assert model.training  # mode restored


def test_vit_head_hidden():
    torch.manual_seed(0)
    plain = ViT(num_classes=10, **SMALL_VIT)
    assert [type(m) for m in plain.mlp_head] == [nn.LayerNorm, nn.Linear]
    model = ViT(num_classes=100, head_hidden=48, dropout=0.2, **SMALL_VIT)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert [type(m) for m in model.mlp_head] == [nn.LayerNorm, nn.Linear, nn.GELU, nn.Dropout, nn.Linear]
    assert linear_shapes(model.mlp_head) == [(32, 48), (48, 100)]
    assert model.mlp_head[3].p == 0.2
    body = count_parameters(plain) - count_parameters(plain.mlp_head)
    assert count_parameters(model) == body + 2 * 32 + linear(32, 48) + linear(48, 100)
    assert build("vit", head_hidden=48, **SMALL_VIT)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_vit_class_attention():
    torch.manual_seed(0)
    model = ViT(image_size=32, patch_size=8, depth=3, num_heads=5, head_dim=8, embed_dim=24)
    x = torch.randn(2, 3, 32, 32)
    maps = model.attention_maps(x)
    grid = model.class_attention(x)
    assert grid.shape == (2, 4, 4)
    torch.testing.assert_close(grid.flatten(1), maps[-1][:, :, 0, 1:].mean(1))
    torch.testing.assert_close(grid.sum((1, 2)) + maps[-1][:, :, 0, 0].mean(1), torch.ones(2))
    torch.testing.assert_close(model.class_attention(x, layer=0).flatten(1), maps[0][:, :, 0, 1:].mean(1))


# ------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(image_size=32, patch_size=5), r"image_size 32 is not divisible by patch_size 5"),
        (dict(image_size=32, patch_size=64), r"not divisible by patch_size 64"),
        (dict(embed_dim=0), r"embed_dim must be a positive integer, got 0"),
        (dict(num_heads=-2), r"num_heads must be a positive integer, got -2"),
        (dict(head_dim=2.5), r"head_dim must be a positive integer, got 2.5"),
        (dict(depth=0), r"depth"),
        (dict(image_size=0), r"image_size"),
        (dict(dropout=1.0), r"dropout must be a number in \[0, 1\), got 1.0"),
        (dict(head_hidden=0), r"head_hidden must be a positive integer, got 0"),
    ],
)
def test_vit_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViT(**kwargs)


def test_vit_wrong_input_size():
    model = ViT(image_size=32, **SMALL_VIT)
    with pytest.raises(ValueError, match=r"3x32x32.*got 3x96x96.*image_size"):
        model(torch.randn(1, 3, 96, 96))


def test_resnet9_layout_and_parameters():
    model = resnet9(10)                                    # Page's widths (64, 128, 256, 512)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 128, 128, 256, 512, 512, 512]
    bns = sum(2 * c for c in (64, 128, 128, 128, 256, 512, 512, 512))
    conv_weights = sum(c.weight.numel() for c in convs)
    assert conv_weights == 9 * (3 * 64 + 64 * 128 + 2 * 128 * 128 + 128 * 256 + 256 * 512 + 2 * 512 * 512)
    assert count_parameters(model) == conv_weights + bns + linear(512, 10)


def test_resnet9_shortcuts_carry_the_input():
    torch.manual_seed(0)
    model = resnet9(10, widths=(8, 16, 16, 32)).eval()
    shortcut = model.layer1[1]
    h = torch.randn(2, 16, 16, 16)
    with torch.no_grad():
        for m in shortcut.branch.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.zero_()
                m.bias.zero_()
        assert torch.equal(shortcut(h), h)             # branch switched off: the block is the identity


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"unknown model 'lenet5'.*lenet.*resnet18_cifar.*vit"):
        build("lenet5")


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLP(activation="relu6"),
        lambda: rn(2, activation="relu6"),
        lambda: rr(2, activation="relu6"),
    ],
)
def test_bad_activation(make):
    with pytest.raises(ValueError, match=r"unknown activation 'relu6'.*relu, leaky_relu, tanh"):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: MLP(hidden=(10, 0)), r"hidden\[1\]"),
        (lambda: MLP(dropout=-0.1), r"dropout"),
        (lambda: LeNet(input_size=8), r"input_size 8 is too small"),
        (lambda: CNN3(num_classes=0), r"num_classes"),
        (lambda: rn(-1), r"n_blocks"),
        (lambda: resnet18(10, stem="tiny"), r"unknown stem 'tiny'.*imagenet, cifar"),
        (lambda: resnet9(10, widths=(8, 16, 32)), r"resnet9: widths needs 4 values"),
        (lambda: resnet9(10, widths=(8, 16, 0, 32)), r"widths\[2\]"),
    ],
)
def test_other_bad_configs(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_input_sizes_at_forward():
    with pytest.raises(ValueError, match=r"in_features=27648"):
        mlp_small()(torch.randn(1, 3, 96, 96))
    with pytest.raises(ValueError, match=r"32x32.*96x96.*input_size"):
        LeNet()(torch.randn(1, 3, 96, 96))
    with pytest.raises(ValueError, match=r"input_size"):
        rr(1)(torch.randn(1, 3, 64, 64))


# ------------------------------------------------------------------------------ RR


def test_rr_blocks_read_the_image():
    torch.manual_seed(0)
    model = rr(3).eval()
    assert [b.conv1.in_channels for b in model.blocks] == [19, 19, 19]
    assert [b.conv2.out_channels for b in model.blocks] == [16, 16, 16]
    assert [b.conv1.in_channels for b in rn(3).blocks] == [16, 16, 16]

    inputs = []
    hooks = [b.conv1.register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
             for b in model.blocks]
    x = torch.randn(2, 3, 32, 32)
    x_changed = x.clone()
    x_changed[:, :, 5, 7] += 1.0  # one pixel
    with torch.no_grad():
        model(x)
        model(x_changed)
    for hook in hooks:
        hook.remove()
    first, second = inputs[:3], inputs[3:]
    for a, b in zip(first, second):
        assert a.shape == (2, 19, 32, 32)
        assert torch.equal(a[:, 16:], x)  # the last 3 channels are the image itself
        assert torch.equal(b[:, 16:], x_changed)
        assert not torch.equal(a, b)


# ------------------------------------------------------------------------ training

TRAIN_KWARGS = {
    "rn": dict(n_blocks=2),
    "rr": dict(n_blocks=2),
    "vit": dict(SMALL_VIT, patch_size=8, dropout=0.0),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_a_few_adam_steps_reduce_the_loss(name):
    torch.manual_seed(0)
    model = build(name, num_classes=10, **TRAIN_KWARGS.get(name, {}))
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses


# One model of each family and the image side it trains on: small enough that a few epochs on the
# CPU take seconds (ResNet-18 with the CIFAR stem gets 16x16 images, a quarter of the work).
FAMILIES = {
    "mlp_small": ({}, 32),
    "cnn3": ({}, 32),
    "rn": (dict(n_blocks=1), 32),
    "resnet18_cifar": ({}, 16),
    "vit": (dict(SMALL_VIT, patch_size=8, dropout=0.0), 32),
}


def test_fit_reduces_loss_for_each_family(tmp_path):
    """The course's own training loop (helpers.training.fit over helpers.data.Batches) makes every
    family's training loss fall on a tiny generated CIFAR-10 (40 training images, 3 epochs of 2 steps)."""
    from helpers import data
    from helpers.training import fit

    root = data.make_standin(tmp_path, datasets=("cifar10",), train_per_class=5, test_per_class=1)
    train, _, _ = data.splits("cifar10", root, seed=0)
    mean, std = train.channel_stats()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)    # batches this small run fastest on one thread, on a busy machine far faster
    try:
        for name, (kwargs, side) in FAMILIES.items():
            torch.manual_seed(0)
            model = build(name, num_classes=10, **kwargs)
            batches = data.Batches(train, 20, shuffle=True, device="cpu", mean=mean, std=std, size=side)
            history = fit(model, batches, epochs=3, optimizer="adam", lr=1e-3, progress=False)
            assert history.train_loss[-1] < history.train_loss[0], (name, history.train_loss)
    finally:
        torch.set_num_threads(threads)
