import json

import pytest
import torch
import torch.nn as nn

from helpers import augment, experiment, results


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
    rec = results.read("tiny", "smoke")
    assert rec["profile"] == "smoke" and rec["seeds"] == 2 and rec["config"]["lr"] == 3e-3
    assert rec["test_acc"] == pytest.approx(sum(e.accuracy for e in out.tests) / 2)
    assert (tmp_path / "checkpoints" / "tiny" / "seed1" / "best.pt").is_file()
    assert set(results.read_all("smoke")) == {"tiny"}


def test_results_refuse_bad_names_and_write_plain_json(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="plain file name"):
        results.save("a/b", {}, "smoke")
    path = results.save("r", {"acc": torch.tensor(0.5), "per_class": torch.tensor([1, 2])}, "smoke")
    assert json.loads(path.read_text())["per_class"] == [1, 2]
    assert results.read("missing", "smoke") is None
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_load_or_train_rebuilds_the_model_with_its_best_weights(cifar_splits, tmp_path, monkeypatch):
    import functools
    from helpers import models
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, test = cifar_splits
    assert experiment.load_model("lenet_run", "smoke") is None                 # nothing trained yet
    out = experiment.run("lenet_run", functools.partial(models.build, "lenet"), train, val, test,
                         seeds=(3,), epochs=1, profile="smoke", keep_models=True)
    model, record = experiment.load_model("lenet_run", "smoke", device="cpu")
    assert record["model"] == {"name": "lenet", "kwargs": {"num_classes": 10}}
    for k, v in out.models[0].state_dict().items():
        assert torch.equal(v.cpu(), model.state_dict()[k])
    experiment.run("anonymous", tiny, train, val, profile="smoke", epochs=1)
    assert experiment.load_model("anonymous", "smoke") is None                 # no spec: cannot rebuild
    assert results.read("anonymous", "smoke")["architecture"] == "Sequential"   # but it names its class
    assert record["architecture"] == type(model).__name__


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
    # the trained model is tested in the layout a model loaded from disk has (fit trains in
    # channels-last): on some CPUs the two layouts' kernels differed in the last bits
    assert all(p.is_contiguous() for m in first.models for p in m.parameters())

    changed = {"lr": 1e-3, "augment": [augment.HorizontalFlip(0.5)], "seeds": (0,)}
    for key, value in changed.items():
        experiment.run("r", lenet, train, val, **{**kw, key: value}, reuse=True)
        assert len(fits) == (1 if key == "seeds" else 2), key                 # each change trains again
        fits.clear()
    experiment.run("r", lenet, train.subset(range(len(train) - 10)), val, **kw, reuse=True)
    assert len(fits) == 2                                                # other training data: trained again


def test_a_bad_setting_is_refused_before_a_finished_run_is_touched(cifar_splits, tmp_path, monkeypatch):
    """A typo in a rerun's settings must not cost the finished run: its record and weights stay."""
    import functools
    from helpers import models
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, _ = cifar_splits
    lenet = functools.partial(models.build, "lenet")
    kw = dict(epochs=1, lr=3e-3, batch_size=32, profile="smoke")
    experiment.run("done", lenet, train, val, **kw)
    record = tmp_path / "results" / "done.json"
    weights = tmp_path / "checkpoints" / "done" / "seed0" / "best.pt"
    saved = record.read_bytes(), weights.read_bytes()
    bad = [({"epochs": -1}, ValueError, "epochs"), ({"optimizer": "nestrov"}, ValueError, "nestrov"),
           ({"lr": -0.1}, ValueError, "lr"), ({"scheduler": "cosin"}, ValueError, "cosin"),
           ({"warmup_epoch": 1}, TypeError, "warmup_epoch"), ({"seeds": ()}, ValueError, "seeds"),
           ({"resume": True}, TypeError, "resume"), ({"amp": "float16"}, ValueError, "amp must be one of")]
    for change, error, named in bad:
        with pytest.raises(error, match=named):
            experiment.run("done", lenet, train, val, **{**kw, **change}, reuse=True)
        assert (record.read_bytes(), weights.read_bytes()) == saved, change


def test_reuse_never_trusts_a_run_that_did_not_finish_or_a_model_it_cannot_rebuild(cifar_splits, tmp_path, monkeypatch):
    import functools
    from helpers import models
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, _ = cifar_splits
    lenet = functools.partial(models.build, "lenet")
    experiment.run("k", lenet, train, val, epochs=1, profile="smoke")
    assert results.read("k", "smoke")["fingerprint"]

    def killed(*a, **k):
        raise KeyboardInterrupt
    real_fit = experiment.fit
    monkeypatch.setattr(experiment, "fit", killed)
    with pytest.raises(KeyboardInterrupt):                                # stopped half-way, no reuse asked
        experiment.run("k", lenet, train, val, epochs=1, profile="smoke")
    assert results.read("k", "smoke") is None        # its checkpoints may be half-new: the old record goes
    with pytest.raises(KeyboardInterrupt):
        experiment.run("k", lenet, train, val, epochs=1, profile="smoke", reuse=True)
    monkeypatch.setattr(experiment, "fit", real_fit)
    experiment.run("anon", tiny, train, val, epochs=1, profile="smoke")
    assert results.read("anon", "smoke")["fingerprint"] is None
    monkeypatch.setattr(experiment, "fit", killed)
    with pytest.raises(KeyboardInterrupt):                                # a closure is always trained
        experiment.run("anon", tiny, train, val, epochs=1, profile="smoke", reuse=True)


def test_an_interrupted_run_continues_from_its_last_epoch_and_ends_as_if_never_stopped(
        cifar_splits, tmp_path, monkeypatch):
    import functools
    from helpers import models
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, test = cifar_splits
    lenet = functools.partial(models.build, "lenet")
    kw = dict(seeds=(0, 1), epochs=3, lr=3e-3, batch_size=32, augment=augment.standard(), profile="smoke")
    whole = experiment.run("whole", lenet, train, val, test, keep_models=True, **kw)
    ckpts = tmp_path / "checkpoints" / "whole"
    assert sorted(p.name for p in (ckpts / "seed1").iterdir()) == ["best.pt", "run.json"]   # last.pt deleted

    real_fit, seen = experiment.fit, []

    def killed_in_seed1_epoch2(*a, **k):     # seed 0 finishes; seed 1 is killed after its 2nd epoch
        def on_epoch_end(epoch, history):
            seen.append(list(history.seconds))
            if k["seed"] == 1 and epoch == 1:
                raise KeyboardInterrupt
        return real_fit(*a, **k, on_epoch_end=on_epoch_end)
    monkeypatch.setattr(experiment, "fit", killed_in_seed1_epoch2)
    with pytest.raises(KeyboardInterrupt):
        experiment.run("cut", lenet, train, val, test, keep_models=True, reuse=True, **kw)
    monkeypatch.setattr(experiment, "fit", real_fit)
    assert results.read("cut", "smoke") is None
    trained = []                                           # (seed, epoch) of every epoch the second call trains
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: real_fit(
        *a, **k, on_epoch_end=lambda epoch, history: trained.append((k["seed"], epoch))))
    cut = experiment.run("cut", lenet, train, val, test, keep_models=True, reuse=True, **kw)
    monkeypatch.setattr(experiment, "fit", real_fit)

    assert trained == [(1, 2)]                             # seed 0 and seed 1's first two epochs: not again
    assert cut.histories[0].seconds == seen[2]             # and their recorded timings are the old ones
    for a, b in zip(cut.histories, whole.histories):       # and the numbers are an uninterrupted run's
        assert (a.train_loss, a.val_acc) == (b.train_loss, b.val_acc)
    for a, b in zip(cut.models, whole.models):
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert [e.accuracy for e in cut.tests] == [e.accuracy for e in whole.tests]
    assert results.read("cut", "smoke")["seconds"] >= sum(seen[2]) + sum(seen[4])
    assert not list((tmp_path / "checkpoints" / "cut").glob("seed*/last.pt"))


def test_an_interrupted_run_with_other_settings_or_without_reuse_starts_afresh(cifar_splits, tmp_path, monkeypatch):
    import functools
    from helpers import models
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, _ = cifar_splits
    lenet = functools.partial(models.build, "lenet")
    kw = dict(epochs=2, lr=3e-3, batch_size=32, profile="smoke")
    real_fit, seen = experiment.fit, []

    def killed_after_epoch1(*a, **k):
        def on_epoch_end(epoch, history):
            seen.append(list(history.seconds))
            raise KeyboardInterrupt
        return real_fit(*a, **k, on_epoch_end=on_epoch_end)
    for other in (dict(lr=1e-3, reuse=True), dict(lr=3e-3, reuse=False)):
        seen.clear()
        monkeypatch.setattr(experiment, "fit", killed_after_epoch1)
        with pytest.raises(KeyboardInterrupt):
            experiment.run("x", lenet, train, val, **kw)
        monkeypatch.setattr(experiment, "fit", real_fit)
        out = experiment.run("x", lenet, train, val, **{**kw, **other})
        assert len(out.histories[0].epoch) == 2
        assert out.histories[0].seconds[0] != seen[0][0], other        # epoch 1 was trained again
        fresh = experiment.run("fresh", lenet, train, val, **{**kw, **other})
        assert out.histories[0].val_acc == fresh.histories[0].val_acc


def test_resuming_a_run_that_stopped_early_trains_no_more(cifar_splits, tmp_path):
    from helpers.data import Batches
    from helpers.training import fit
    train, val, _ = cifar_splits
    tb, vb = Batches(train, 32, shuffle=True), Batches(val, 64)
    kw = dict(epochs=6, lr=1e-12, patience=1, min_epochs=2, checkpoint_dir=tmp_path, progress=False)
    first = fit(tiny(), tb, vb, **kw)       # lr ~0: validation never improves, so it stops after 2 epochs
    assert first.stopped_early and len(first.epoch) == 2
    trained = []
    again = fit(tiny(), tb, vb, resume=True, on_epoch_end=lambda epoch, history: trained.append(epoch), **kw)
    assert trained == [] and again.epoch == first.epoch and again.seconds == first.seconds


def test_model_spec_keeps_positional_arguments():
    import functools
    from helpers import models
    assert experiment.model_spec(functools.partial(models.build, "lenet", 100)) == \
        {"name": "lenet", "kwargs": {"num_classes": 100}}
    assert experiment.model_spec(functools.partial(models.build, "rn", n_blocks=2)) == \
        {"name": "rn", "kwargs": {"num_classes": 10, "n_blocks": 2}}
    assert experiment.model_spec(functools.partial(models.build)) is None
    with pytest.raises(TypeError, match=r"does not fit models.build\(name, num_classes=10"):
        experiment.model_spec(functools.partial(models.build, "lenet", 100, 3))


def test_model_spec_describes_a_pretrained_backbone_with_its_starting_weights():
    import functools
    from helpers.models import pretrained
    assert experiment.model_spec(functools.partial(pretrained.build, "efficientnet_lite0", 10)) == \
        {"builder": "pretrained", "name": "efficientnet_lite0",
         "kwargs": {"num_classes": 10, "pretrained": True, "mode": "finetune"}}
    assert experiment.model_spec(functools.partial(pretrained.build, "resnet18", 5, mode="features"))["kwargs"] == \
        {"num_classes": 5, "pretrained": True, "mode": "features"}
    assert experiment.model_spec(functools.partial(pretrained.build, "resnet18")) is None   # no head size given
    with pytest.raises(TypeError, match=r"does not fit pretrained.build\(name, num_classes"):
        experiment.model_spec(functools.partial(pretrained.build, "resnet18", 10, True, "finetune", 3))


def test_reuse_skips_a_finished_pretrained_fine_tune_and_rebuilds_it_without_imagenet_weights(
        cifar_splits, tmp_path, monkeypatch):
    import functools
    from helpers.models import pretrained
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    train, val, test = (s.per_class(4) for s in cifar_splits)
    lite = functools.partial(pretrained.build, "efficientnet_lite0", 10)
    entry = pretrained.BACKBONES["efficientnet_lite0"]
    kw = dict(epochs=1, lr=1e-4, batch_size=32, mean=entry.mean, std=entry.std, profile="smoke", keep_models=True)
    first = experiment.run("lite", lite, train, val, test, **kw)
    assert results.read("lite", "smoke")["fingerprint"]
    fits, builds = [], []
    real_fit, real_build = experiment.fit, pretrained._build
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    monkeypatch.setattr(pretrained, "_build", lambda entry, weights: builds.append(weights) or real_build(entry, weights))
    again = experiment.run("lite", lite, train, val, test, reuse=True, **kw)
    assert fits == [] and builds == [False]            # not trained again; rebuilt from the checkpoint alone
    assert torch.equal(again.tests[0].probabilities, first.tests[0].probabilities)
    features = functools.partial(pretrained.build, "efficientnet_lite0", 10, mode="features")
    experiment.run("lite", features, train, val, test, reuse=True, **kw)
    assert fits == [1]                                  # another mode is another experiment


def test_table_gives_means_over_seeds_and_seconds_per_epoch():
    from helpers.training import History

    def history(n, best_epoch, best, last_val_loss):
        return History(epoch=list(range(n)), train_loss=[1.0] * (n - 1) + [0.5], val_loss=[2.0] * (n - 1) + [last_val_loss],
                       best_epoch=best_epoch, best_val_acc=best)

    two_seeds = experiment.Outcome("a", [history(4, 1, 0.6, 1.0), history(2, 0, 0.4, 3.0)], parameters=123, seconds=12.0)
    one_seed = experiment.Outcome("b", [history(5, 4, 0.9, 0.25)], parameters=7, seconds=10.0)
    t = experiment.table({"A": two_seeds, "diverged": None, "B": one_seed})
    assert list(t.index) == ["A", "B"]                         # a run that is None is left out
    assert t.loc["A", "best val acc"] == 0.5 and t.loc["A", "at epoch"] == 1.5
    assert t.loc["A", "last val loss"] == 2.0 and t.loc["A", "s / epoch"] == 2.0   # 12 s over 4 + 2 epochs
    assert t.loc["B", "parameters"] == 7 and t.loc["B", "s / epoch"] == 2.0 and t.loc["B", "at epoch"] == 5
    assert "test acc" not in t                                 # no run was tested
    import torch
    from helpers.evaluate import Evaluation
    one_seed.tests = [Evaluation(0.5, 0.8125, torch.ones(2), torch.eye(2), torch.eye(2), torch.arange(2), ["a", "b"])]
    t = experiment.table({"A": two_seeds, "B": one_seed})
    assert t.loc["B", "test acc"] == 0.8125 and t.loc["A", "test acc"] != t.loc["A", "test acc"]   # untested: NaN
