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


def test_reuse_skips_a_finished_run_with_the_same_settings_only(cifar_splits, tmp_path, monkeypatch):
    import functools
    from helpers import models
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, test = cifar_splits
    lenet = functools.partial(models.build, "lenet")
    kw = dict(seeds=(0, 1), epochs=1, lr=3e-3, batch_size=32, augment=augment.standard(), profile="smoke")
    first = experiment.run("r", lenet, train, val, test, keep_models=True, **kw)
    fits = []
    real_fit = experiment.fit
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))

    again = experiment.run("r", lenet, train, val, test, keep_models=True, reuse=True, **kw)
    assert fits == []                                                    # nothing trained
    assert [h.to_dict() for h in again.histories] == [h.to_dict() for h in first.histories]
    assert [e.accuracy for e in again.tests] == [e.accuracy for e in first.tests]   # re-tested, same weights
    assert torch.equal(again.tests[1].probabilities, first.tests[1].probabilities)
    assert again.seconds == pytest.approx(first.seconds, abs=0.01)
    for a, b in zip(again.models, first.models):
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())

    changed = {"lr": 1e-3, "augment": [augment.HorizontalFlip(0.5)], "seeds": (0,)}
    for key, value in changed.items():
        experiment.run("r", lenet, train, val, **{**kw, key: value}, reuse=True)
        assert len(fits) == (1 if key == "seeds" else 2), key                 # each change trains again
        fits.clear()
    experiment.run("r", lenet, train.subset(range(len(train) - 10)), val, **kw, reuse=True)
    assert len(fits) == 2                                                # other training data: trained again


def test_reuse_never_trusts_a_run_that_did_not_finish_or_a_model_it_cannot_rebuild(cifar_splits, tmp_path, monkeypatch):
    import functools
    from helpers import models
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, _ = cifar_splits
    lenet = functools.partial(models.build, "lenet")
    experiment.run("k", lenet, train, val, epochs=1, profile="smoke")
    assert results.load("k", "smoke")["fingerprint"]

    def killed(*a, **k):
        raise KeyboardInterrupt
    real_fit = experiment.fit
    monkeypatch.setattr(experiment, "fit", killed)
    with pytest.raises(KeyboardInterrupt):                                # stopped half-way, no reuse asked
        experiment.run("k", lenet, train, val, epochs=1, profile="smoke")
    assert results.load("k", "smoke") is None        # its checkpoints may be half-new: the old record goes
    with pytest.raises(KeyboardInterrupt):
        experiment.run("k", lenet, train, val, epochs=1, profile="smoke", reuse=True)
    monkeypatch.setattr(experiment, "fit", real_fit)
    experiment.run("anon", tiny, train, val, epochs=1, profile="smoke")
    assert results.load("anon", "smoke")["fingerprint"] is None
    monkeypatch.setattr(experiment, "fit", killed)
    with pytest.raises(KeyboardInterrupt):                                # a closure is always trained
        experiment.run("anon", tiny, train, val, epochs=1, profile="smoke", reuse=True)
