import json

import pytest
import torch
import torch.nn as nn

from helpers import augment, experiment, profiles, results


def tiny():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                         nn.Linear(128, 10))


def test_run_trains_each_seed_tests_and_records(cifar_splits, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, test = cifar_splits
    out = experiment.run("tiny", tiny, train, val, test, seeds=(0, 1), epochs=2, lr=3e-3,
                         batch_size=32, augment=augment.standard(), profile="smoke")
    assert len(out.histories) == 2 and len(out.tests) == 2
    assert out.histories[0].train_loss != out.histories[1].train_loss      # the seeds differ
    assert out.parameters == sum(p.numel() for p in tiny().parameters())
    rec = results.load("tiny", "smoke")
    assert rec["profile"] == "smoke" and rec["seeds"] == 2 and rec["config"]["lr"] == 3e-3
    assert rec["test_acc"] == pytest.approx(sum(e.accuracy for e in out.tests) / 2)
    assert (tmp_path / "checkpoints" / "tiny" / "seed1" / "best.pt").is_file()
    assert set(results.load_all("smoke")) == {"tiny"}


def test_results_refuse_bad_names_and_write_plain_json(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="plain file name"):
        results.save("a/b", {}, "smoke")
    path = results.save("r", {"acc": torch.tensor(0.5), "per_class": torch.tensor([1, 2])}, "smoke")
    assert json.loads(path.read_text())["per_class"] == [1, 2]
    assert results.load("missing", "smoke") is None
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_load_or_train_rebuilds_the_model_with_its_best_weights(cifar_splits, tmp_path, monkeypatch):
    import functools
    from helpers import models
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, test = cifar_splits
    assert experiment.load("lenet_run", "smoke") is None                 # nothing trained yet
    out = experiment.run("lenet_run", functools.partial(models.build, "lenet"), train, val, test,
                         seeds=(3,), epochs=1, profile="smoke", keep_models=True)
    model, record = experiment.load("lenet_run", "smoke", device="cpu")
    assert record["model"] == {"name": "lenet", "kwargs": {"num_classes": 10}}
    for k, v in out.models[0].state_dict().items():
        assert torch.equal(v.cpu(), model.state_dict()[k])
    experiment.run("anonymous", tiny, train, val, profile="smoke", epochs=1)
    assert experiment.load("anonymous", "smoke") is None                 # no spec: cannot rebuild
