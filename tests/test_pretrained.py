"""Tests of the pretrained-backbone registry (helpers.models.pretrained), the feature/t-SNE
helpers (helpers.features) and the transfer-learning data helpers (helpers.transfer).

Everything runs offline: torchvision entries are built with random weights, and the
"offline" case is simulated by an empty hub cache and a download that always fails.
"""
from __future__ import annotations

import copy
import os
import urllib.error

import numpy as np

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import data, evaluate, experiment, features, transfer
from helpers.evaluate import Evaluation
from helpers.models import efficientnet_lite
from helpers.models import pretrained as P
from helpers.models.cnn import LeNet
from helpers.models import count_parameters
from helpers.training import fit

torch.set_num_threads(2)


def images(n: int, side: int = 32, classes: int = 3, seed: int = 0) -> data.ImageSet:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % classes
    return data.ImageSet(x, y, [f"c{i}" for i in range(classes)], name="random")


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", list(P.BACKBONES))
def test_every_backbone_builds_offline_with_a_new_head(name):
    entry = P.BACKBONES[name]
    torch.manual_seed(0)
    model = P.build(name, num_classes=7, pretrained=False).eval()
    for head in P.head_modules(model, name).values():
        assert (head.out_features if isinstance(head, nn.Linear) else head.out_channels) == 7
    with torch.no_grad():
        out = model(torch.randn(1, 3, entry.input_size, entry.input_size))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 7)      # eval mode: logits only
    assert model.backbone == name and model.head_names == entry.head
    assert len(entry.mean) == len(entry.std) == 3 and entry.input_size in (224, 299)


def test_unknown_names_and_modes_are_named():
    with pytest.raises(ValueError, match="unknown backbone 'resnet19'.*resnet18"):
        P.build("resnet19", 10, pretrained=False)
    with pytest.raises(ValueError, match="unknown mode 'frozen'.*features"):
        P.build("resnet18", 10, pretrained=False, mode="frozen")
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        P.build("resnet18", 0, pretrained=False)


# --------------------------------------------------------------------------- EfficientNet-Lite0


def test_lite0_loads_the_shipped_weights_strictly():
    state = torch.load(P.lite0_weights_path(), map_location="cpu", weights_only=True)
    assert len(state) == 296
    model = efficientnet_lite.EfficientNetLite0(1000)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model._blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"])
    assert model._bn0.eps == 1e-3 and count_parameters(model) == 4_652_008
    # build() keeps every pretrained tensor but the replaced head
    loaded = P.build("efficientnet_lite0", 10)
    assert torch.equal(loaded._conv_stem.weight, state["_conv_stem.weight"])
    assert torch.equal(loaded._bn1.running_var, state["_bn1.running_var"])
    assert loaded._fc.out_features == 10


@pytest.mark.parametrize("side, kernel, stride", [(4, 3, 2), (5, 3, 2), (224, 3, 2), (8, 5, 2), (7, 5, 1)])
def test_same_padding_is_tensorflows(side, kernel, stride):
    conv = efficientnet_lite.SameConv2d(1, 1, kernel, stride=stride)
    x = torch.randn(1, 1, side, side)
    out_side = -(-side // stride)                                   # TF: ceil(side / stride) outputs
    total = max((out_side - 1) * stride + kernel - side, 0)
    before, after = total // 2, total - total // 2                  # the odd pixel goes after
    expected = F.conv2d(F.pad(x, [before, after, before, after]), conv.weight, stride=stride)
    assert conv(x).shape[-1] == out_side and torch.allclose(conv(x), expected, atol=1e-6)


def test_imagenet_sanity_counts_plausible_classes():
    class SportsCars(nn.Module):                                   # predicts ImageNet's "sports car" always
        def forward(self, x):
            return F.one_hot(torch.full((len(x),), 817), 1000).float()

    assert P.imagenet_categories()[817] == "sports car"
    cars = data.ImageSet(torch.zeros(6, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 0, 0, 0, 1, 1]),
                         ["automobile", "ship"])
    rows = P.imagenet_sanity(SportsCars(), data.Batches(cars, 4, device="cpu", mean=(0.5,) * 3, std=(0.5,) * 3))
    assert [(r["class"], r["images"], r["plausible"]) for r in rows] == [("automobile", 4, 1.0), ("ship", 2, 0.0)]
    assert rows[0]["most frequent top-1"] == "sports car (4)"


def test_batchnorm_drift_measures_against_the_running_statistics():
    x = torch.randn(64, 3, 8, 8) * 2 + 1
    bn = nn.BatchNorm2d(3)
    bn.running_mean.copy_(x.mean((0, 2, 3)))
    bn.running_var.copy_(x.var((0, 2, 3)))
    model = nn.Sequential(bn)
    same = P.batchnorm_drift(model, x, ["0"])[0]
    assert same["mean shift"] < 1e-3 and abs(same["std ratio"] - 1) < 1e-3
    moved = P.batchnorm_drift(model, x * 0.5 + x.std(), ["0"])[0]
    assert moved["mean shift"] > 0.5 and abs(moved["std ratio"] - 0.5) < 1e-2


# --------------------------------------------------------------------------- feature extraction


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_features_mode_trains_only_the_head_and_keeps_bn_statistics(name):
    torch.manual_seed(0)
    model = P.build(name, 3, pretrained=name == "efficientnet_lite0", mode="features")
    head = set(map(id, P.head_parameters(model, name)))
    assert all(p.requires_grad == (id(p) in head) for p in model.parameters())
    before = copy.deepcopy(model.state_dict())
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert model.training and not any(m.training for m in bns)       # frozen part stays in eval mode
    assert all(m.training for m in P.head_modules(model, name).values())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):
        loss = F.cross_entropy(model(torch.randn(4, 3, 64, 64) * 2 + 1), torch.tensor([0, 1, 2, 0]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.train()                                                    # eval() then train() again
    assert not any(m.training for m in bns)
    after = model.state_dict()
    head_keys = [k for k in after if any(k.startswith(h + ".") for h in model.head_names)]
    assert head_keys and all(not torch.equal(before[k], after[k]) for k in head_keys if k.endswith("weight"))
    for k in after:
        if k not in head_keys:
            assert torch.equal(before[k], after[k]), f"{k} changed in features mode"


def test_finetune_mode_trains_everything():
    model = P.build("efficientnet_lite0", 5)
    assert count_parameters(model, trainable_only=True) == count_parameters(model)
    model.train()
    assert model._bn0.training


def test_fit_adds_the_auxiliary_loss_with_weight_0_4():
    class TwoHeads(nn.Module):
        """Returns its logits; in training it keeps an auxiliary head's in auxiliary_logits, as Inception v3 does."""
        aux_weight = 0.4

        def __init__(self):
            super().__init__()
            self.main, self.aux = nn.Linear(12, 3), nn.Linear(12, 3)

        def forward(self, x):
            x = x.flatten(1)
            self.auxiliary_logits = self.aux(x) if self.training else None
            return self.main(x)

    train = images(4, side=2)
    batches = data.Batches(train, 4, device="cpu", mean=(0.5,) * 3, std=(0.25,) * 3)
    model = TwoHeads()
    start = copy.deepcopy(model)
    x, y = next(iter(data.Batches(train, 4, device="cpu", mean=(0.5,) * 3, std=(0.25,) * 3)))
    grad_aux = torch.autograd.grad(F.cross_entropy(start.aux(x.flatten(1)), y), start.aux.weight)[0]
    fit(model, batches, epochs=1, optimizer="sgd", lr=1.0, progress=False)
    assert torch.allclose(start.aux.weight - model.aux.weight, 0.4 * grad_aux, atol=1e-6)


def test_inception_auxiliary_logits_go_through_fit():
    """Inception v3 needs 299x299 for its auxiliary branch. In features mode (frozen BatchNorm)
    batches of one image work and no gradient flows through the backbone: cheap on a CPU."""
    torch.manual_seed(0)
    model = P.build("inception_v3", 2, pretrained=False, mode="features")
    aux_before = model.AuxLogits.fc.weight.detach().clone()
    main_before = model.fc.weight.detach().clone()
    frozen_before = model.Mixed_7c.branch_pool.bn.running_mean.clone()
    train = images(2, side=16, classes=2)
    batches = data.Batches(train, 1, device="cpu", mean=P.IMAGENET_MEAN, std=P.IMAGENET_STD, size=299)
    model.train()
    out = model(next(iter(batches))[0])                    # the logits, as from every model
    assert isinstance(out, torch.Tensor) and out.shape == model.auxiliary_logits.shape == (1, 2) and model.aux_weight == 0.4
    history = fit(model, batches, epochs=1, lr=1e-2, progress=False)
    assert np.isfinite(history.train_loss[0])
    assert not torch.equal(model.AuxLogits.fc.weight, aux_before)   # reached only through the aux loss
    assert not torch.equal(model.fc.weight, main_before)
    assert torch.equal(model.Mixed_7c.branch_pool.bn.running_mean, frozen_before)
    model.eval()
    with torch.no_grad():
        assert model(next(iter(batches))[0]).shape == (1, 2) and model.auxiliary_logits is None
    scores, _ = evaluate.logits_and_labels(model, batches)   # evaluate takes it like any other model
    assert scores.shape == (len(train), 2)


# --------------------------------------------------------------------------- weights offline


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty torch hub cache and a download that fails as without internet (no DNS involved)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path


def test_pretrained_offline_raises_weights_unavailable_in_one_line(offline, capsys):
    with pytest.raises(P.WeightsUnavailable) as info:
        P.build("resnet18", 10, pretrained=True)
    assert "Downloading" not in capsys.readouterr().out       # torch.hub's line is kept out of notebooks
    message = str(info.value)
    assert message.startswith("weights unavailable offline: resnet18")
    assert "\n" not in message and "internet" in message
    assert "resnet18-f37072fd.pth" in message and str(offline / "hub" / "checkpoints") in message
    assert info.value.short == "weights unavailable offline: resnet18"


def test_a_damaged_cached_file_is_reported_too(offline):
    folder = offline / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "squeezenet1_0-b66bff10.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(P.WeightsUnavailable, match="weights unavailable offline: squeezenet1_0"):
        P.build("squeezenet1_0", 10, pretrained=True)


class _RunsCode:
    """Unpickling this calls a function: what a hostile file in the hub cache would do."""

    def __reduce__(self):
        return (os.makedirs, (os.environ["HOSTILE_MARKER"],))


def test_a_hostile_cached_file_is_refused_and_runs_nothing(offline, monkeypatch):
    folder = offline / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    marker = offline / "code_ran"
    monkeypatch.setenv("HOSTILE_MARKER", str(marker))
    hostile = folder / "resnet18-f37072fd.pth"
    torch.save({"fc.weight": _RunsCode()}, hostile)
    with pytest.raises(P.WeightsUnavailable) as info:
        P.build("resnet18", 10, pretrained=True)
    assert not marker.exists()                                 # nothing in the file was executed
    assert str(hostile) in str(info.value) and "delete it" in str(info.value)
    assert P.weights_status("resnet18") == (False, "weights unavailable offline: resnet18")   # nor "available"
    assert not marker.exists()


# --------------------------------------------------------------------------- features and t-SNE


def test_penultimate_features_are_what_the_head_reads():
    torch.manual_seed(0)
    model = LeNet(num_classes=3)
    train = images(10)
    batches = data.Batches(train, 4, device="cpu")
    feats = features.penultimate_features(model, batches)
    assert feats.shape == (10, 84)
    x = torch.cat([xb for xb, _ in batches])
    with torch.no_grad():
        h = model.pool(F.relu(model.conv2(model.pool(F.relu(model.conv1(x))))))
        expected = F.relu(model.fc2(F.relu(model.fc1(h.flatten(1)))))
    assert torch.allclose(feats, expected, atol=1e-6)
    squeeze = P.build("squeezenet1_0", 3, pretrained=False)          # a convolutional head: pooled
    assert features.penultimate_features(squeeze, data.Batches(train, 5, device="cpu", size=64)).shape == (10, 512)


def test_tsne_gives_two_seeded_coordinates_per_image():
    feats = torch.randn(40, 64, generator=torch.Generator().manual_seed(0))
    points = features.tsne(feats, seed=1)
    assert points.shape == (40, 2) and np.isfinite(points).all()
    assert np.allclose(points, features.tsne(feats, seed=1))
    with pytest.raises(ValueError, match=r"features \[N, D\]"):
        features.tsne(torch.randn(10))


# --------------------------------------------------------------------------- transfer data


def test_fine_tuning_targets_from_generated_data(standin):
    src = data.DataSource(standin, True, "generated")
    assert transfer.choose_target(None, src, verbose=False) == "cifar10-fewshot"
    with pytest.raises(ValueError, match="unknown target 'stl-10'"):
        transfer.choose_target("stl-10", src)
    for target, side in (("cifar10-fewshot", 32), ("stl10", 96)):
        train, val, test = transfer.target_sets(target, standin, per_class=10, val_fraction=0.2)
        assert train.num_classes == 5 and train.images.shape[-1] == side
        assert train.class_counts().tolist() == [8] * 5 and val.class_counts().tolist() == [2] * 5
        assert set(test.labels.tolist()) == set(range(5))


def test_superclass_accuracy_counts_fine_and_coarse_hits():
    test = images(6, classes=3)
    test.coarse_labels = torch.tensor([0, 0, 1, 0, 0, 1])       # classes 0, 1 -> superclass 0; 2 -> 1
    test.coarse_classes = ["s0", "s1"]
    pred = torch.tensor([0, 0, 2, 1, 1, 0])                     # labels 0 1 2 0 1 2
    probs = F.one_hot(pred, 3).float()
    ev = Evaluation(0.0, 0.0, torch.zeros(3), torch.zeros(3, 3), probs, test.labels, test.classes)
    fine, coarse = transfer.superclass_accuracy(ev, test)
    assert torch.allclose(fine, torch.tensor([2 / 4, 1 / 2])) and torch.allclose(coarse, torch.tensor([1.0, 1 / 2]))


def test_experiment_run_wants_both_mean_and_std(cifar_splits):
    train, val, _ = cifar_splits
    with pytest.raises(ValueError, match="both mean and std"):
        experiment.run("x", lambda: LeNet(), train, val, mean=(0.5,) * 3, save=False, epochs=1)
