import pytest
import torch
import torch.nn as nn

from helpers import data, recipes, results


def test_whitening_layer_decorrelates_patches():
    g = torch.Generator().manual_seed(0)
    # correlated channels: the green and blue planes follow the red one
    base = torch.randn(200, 1, 16, 16, generator=g)
    images = torch.cat([base, 0.8 * base + 0.2 * torch.randn(200, 1, 16, 16, generator=g),
                        0.5 * base + 0.5 * torch.randn(200, 1, 16, 16, generator=g)], 1)
    w = recipes.whitening_weights(images, eps=0.0)
    assert w.shape == (24, 3, 2, 2)
    assert torch.allclose(w[12:], -w[:12])
    out = nn.functional.conv2d(images, w[:12]).permute(0, 2, 3, 1).reshape(-1, 12).double()
    cov = torch.cov(out.T)
    assert torch.allclose(cov, torch.eye(12, dtype=torch.float64), atol=1e-3)
    raw = images.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
    assert torch.cov(raw.T).abs().sub(torch.eye(12)).abs().max() > 0.5     # the input was far from white


def test_alternating_flip_shows_both_orientations_across_two_epochs():
    a = recipes.alternating_flip(1000, 0, seed=3, device="cpu")
    b = recipes.alternating_flip(1000, 1, seed=3, device="cpu")
    c = recipes.alternating_flip(1000, 2, seed=3, device="cpu")
    assert torch.equal(a ^ b, torch.ones(1000, dtype=torch.bool))     # each image flipped in exactly one
    assert torch.equal(a, c) and 400 < a.sum() < 600


def test_tta_views():
    model = nn.Conv2d(3, 2, 3, padding=1)           # not flip-invariant, so the views differ
    x = torch.randn(4, 3, 8, 8)
    assert torch.equal(recipes.tta_logits(model, x, 0), model(x))
    assert torch.allclose(recipes.tta_logits(model, x, 1), 0.5 * (model(x) + model(x.flip(-1))))
    padded = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    pair = lambda v: 0.5 * (model(v) + model(v.flip(-1)))  # noqa: E731
    expected = 0.5 * pair(x) + 0.25 * (pair(padded[..., :-2, :-2]) + pair(padded[..., 2:, 2:]))
    assert torch.allclose(recipes.tta_logits(model, x, 2), expected, atol=1e-6)
    with pytest.raises(ValueError, match="tta level"):
        recipes.tta_logits(model, x, 3)


def test_dirac_init_starts_convs_as_identity(standin):
    train = data.load("cifar10", standin, "train")
    model = recipes.FastNet(widths=(8, 16, 16))
    recipes._init(model, recipes.RecipeConfig(widths=(8, 16, 16)), train.images[:64].float() / 255)
    conv = model.groups[1][4]                      # second conv of group 2: 16 -> 16
    x = torch.randn(2, 16, 5, 5)
    assert torch.allclose(nn.functional.conv2d(x, conv.weight, padding=1), x, atol=1e-6)
    assert not model.whiten.weight.requires_grad and model.whiten.bias.requires_grad
    assert not any(bn.weight.requires_grad for bn in model.modules() if isinstance(bn, nn.BatchNorm2d))


def test_recipe_trains_and_every_trick_can_be_switched_off(standin):
    train, test = data.load("cifar10", standin, "train"), data.load("cifar10", standin, "test")
    cfg = recipes.RecipeConfig(epochs=2, batch_size=64, widths=(8, 16, 16))
    r = recipes.train_recipe(train, test, cfg, device="cpu")
    right = r.accuracy * len(test)                     # a count of test images, not an average of averages
    assert right == pytest.approx(round(right)) and r.train_seconds > 0 and r.device == "cpu"
    assert r.parameters == sum(p.numel() for p in recipes.FastNet(widths=(8, 16, 16)).parameters())
    assert r.record()["test_acc"] == r.accuracy and r.record()["parameters"] == r.parameters
    r2 = recipes.train_recipe(train, test, recipes.RecipeConfig(epochs=2, batch_size=64, widths=(8, 16, 16),
                                                                 off=recipes.TRICKS), device="cpu")
    assert r2.accuracy == r2.accuracy_no_tta           # no TTA: both numbers are the same evaluation
    with pytest.raises(ValueError, match="unknown trick"):
        recipes.RecipeConfig(off=("magic",))


def test_speedrun_reads_a_reference_table():
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("speedrun", Path(__file__).parents[1] / "benchmarks" / "speedrun.py")
    speedrun = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speedrun)
    out = """
-----------------------------------------------------------------------------
|  run     |  epoch  |  train_acc  |  val_acc  |  tta_val_acc  |  time_seconds  |
-----------------------------------------------------------------------------
|  warmup  |      0  |     0.1000  |   0.1000  |               |        40.0000 |
|          |   eval  |     0.1000  |   0.1000  |       0.1000  |        41.0000 |
|       0  |      0  |     0.5000  |   0.6000  |               |         0.5000 |
|          |   eval  |     0.9000  |   0.9380  |       0.9401  |         2.5900 |
|       1  |      0  |     0.5000  |   0.6000  |               |         0.5000 |
|          |   eval  |     0.9000  |   0.9370  |       0.9395  |         2.6100 |
"""
    assert speedrun.parse_reference(out) == [(0.9401, 2.59), (0.9395, 2.61)]
    assert speedrun.parse_reference("no table here") == []


def test_recipe_on_a_set_smaller_than_one_batch_ends(standin):
    train, test = data.load("cifar10", standin, "train"), data.load("cifar10", standin, "test")
    cfg = recipes.RecipeConfig(epochs=2, batch_size=4096, widths=(8, 16, 16), tta_level=0)
    assert len(train) < cfg.batch_size
    r = recipes.train_recipe(train, test, cfg, device="cpu")
    right = r.accuracy * len(test)
    assert right == pytest.approx(round(right)) and r.epochs == 2 and r.train_seconds > 0


def test_run_recipe_records_its_numbers_and_reuses_them_only_for_the_same_recipe(standin, tmp_path, monkeypatch,
                                                                                capsys):
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path / "run"))
    train, test = data.load("cifar10", standin, "train"), data.load("cifar10", standin, "test")
    cfg = recipes.RecipeConfig(epochs=1, batch_size=64, widths=(8, 16, 16))
    first = recipes.run_recipe("t_recipe", train, test, cfg, device="cpu", profile="smoke", reuse=True)
    assert results.read("t_recipe", "smoke")["test_acc"] == first.accuracy
    trained = recipes.train_recipe
    monkeypatch.setattr(recipes, "train_recipe", lambda *a, **k: pytest.fail("trained again"))
    again = recipes.run_recipe("t_recipe", train, test, cfg, device="cpu", profile="smoke", reuse=True)
    assert (again.accuracy, again.accuracy_no_tta, again.train_seconds, again.parameters) == \
           (first.accuracy, first.accuracy_no_tta, first.train_seconds, first.parameters)
    assert "reused" in capsys.readouterr().out
    monkeypatch.setattr(recipes, "train_recipe", trained)
    other = recipes.RecipeConfig(epochs=2, batch_size=64, widths=(8, 16, 16))        # another recipe: trains
    assert recipes.run_recipe("t_recipe", train, test, other, device="cpu", profile="smoke", reuse=True).epochs == 2
    assert results.read("t_recipe", "smoke")["epochs"] == 2
