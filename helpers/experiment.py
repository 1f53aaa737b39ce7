"""One experiment in one call: build a model for each seed, train it, test it, record it.

    out = experiment.run("cnn_baseline", lambda: cnn.SimpleCNN(), train, val, test,
                         seeds=(0, 1, 2), epochs=20, lr=1e-3, augment=augment.standard())

The notebooks use this so that each cell shows the idea (which model, which
setting) and not the plumbing. Validation steers every choice; pass ``test`` only
for the final models of a notebook.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from . import profiles, results
from .data import Batches, ImageSet, resolve_device
from .evaluate import Evaluation, evaluate
from .models import count_parameters
from .files import save_atomic
from .training import History, check_settings, fit, load_checkpoint, seed_everything

__all__ = ["Outcome", "run", "load_model", "table", "model_spec", "fingerprint"]


def model_spec(build) -> dict | None:
    """How a record says to rebuild its model, or ``None`` for a callable it cannot describe:
    ``{"name": ..., "kwargs": ...}`` for ``functools.partial(models.build, name, ...)``, and
    ``{"builder": "pretrained", "name": ..., "kwargs": ...}`` for ``functools.partial(pretrained.build,
    name, num_classes, ...)`` (an ImageNet backbone; its starting weights are part of the spec)."""
    from . import models
    from .models import pretrained

    signatures = {models.build: "models.build(name, num_classes=10, **kwargs)",
                  pretrained.build: "pretrained.build(name, num_classes, pretrained=True, mode='finetune')"}
    if not (isinstance(build, functools.partial) and build.func in signatures):
        return None
    try:      # positional arguments too: partial(models.build, "lenet", 100) has 100 classes
        bound = inspect.signature(build.func).bind_partial(*build.args, **build.keywords).arguments
    except TypeError as e:
        raise TypeError(f"{build!r} does not fit {signatures[build.func]}: {e}") from None
    if "name" not in bound:
        return None
    if build.func is pretrained.build:
        if "num_classes" not in bound:
            return None
        return {"builder": "pretrained", "name": bound["name"],
                "kwargs": {"num_classes": bound["num_classes"], "pretrained": bound.get("pretrained", True),
                           "mode": bound.get("mode", "finetune")}}
    return {"name": bound["name"], "kwargs": {"num_classes": bound.get("num_classes", 10), **bound.get("kwargs", {})}}


def fingerprint(spec: dict, sets, settings: dict) -> str:
    """A short hash of what decides an experiment's numbers: the model spec, the data (sizes,
    labels and a sample of the images of each set) and every setting (``repr`` of each)."""
    h = hashlib.sha256(json.dumps(spec, sort_keys=True, default=repr).encode())
    for s in sets:
        if s is not None:
            h.update(repr((tuple(s.images.shape), s.classes)).encode())
            h.update(s.labels.numpy().tobytes())
            h.update(s.images[::97].numpy().tobytes())
    h.update(json.dumps({k: repr(v) for k, v in sorted(settings.items())}).encode())
    return h.hexdigest()[:16]


def load_model(name: str, profile: str | None = None, device="auto", seed: int | None = None):
    """The model an earlier ``run(name, ...)`` trained, with its best weights, and its record.

    Returns ``(model, record)``, or ``None`` when there is no record, no rebuildable model spec or
    no checkpoint yet (then train it: the load-or-train pattern).
    """
    profile = profiles.profile_name(profile)
    record = results.read(name, profile)
    if record is None or not record.get("model"):
        return None
    seed = record["config"].get("seed0", 0) if seed is None else seed
    ckpt = _checkpoint_dir(name, profile, seed) / "best.pt"
    if not ckpt.is_file():
        return None
    return _rebuild(record["model"], ckpt, resolve_device(device)).eval(), record


def _checkpoint_dir(name: str, profile: str, seed: int):
    return profiles.run_dir(profile) / "checkpoints" / name / f"seed{seed}"


def _rebuild(spec: dict, ckpt, dev) -> torch.nn.Module:
    """The model ``spec`` describes, on ``dev``, with the weights saved in checkpoint ``ckpt``."""
    from . import models
    from .models import pretrained

    if spec.get("builder") == "pretrained":   # the checkpoint holds every weight: no ImageNet file is read
        model = pretrained.build(spec["name"], **dict(spec["kwargs"], pretrained=False)).to(dev)
    else:
        model = models.build(spec["name"], **spec["kwargs"]).to(dev)
    model.load_state_dict(load_checkpoint(ckpt, map_location=dev)["model"])
    return model


@dataclass
class Outcome:
    """What ``run`` measured: one history (and test evaluation) per seed."""

    name: str
    histories: list[History]
    tests: list[Evaluation] = field(default_factory=list)
    parameters: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    models: list[torch.nn.Module] = field(default_factory=list, repr=False)

    @property
    def best_val_acc(self) -> float:
        return sum(h.best_val_acc for h in self.histories) / len(self.histories)

    @property
    def test_acc(self) -> float:
        return sum(e.accuracy for e in self.tests) / len(self.tests) if self.tests else float("nan")

    def summary(self) -> dict:
        accs = torch.tensor([e.accuracy for e in self.tests], dtype=torch.float64)
        return {
            "parameters": self.parameters, "seconds": round(self.seconds, 2), "device": self.device,
            "seeds": len(self.histories), "epochs": [len(h.epoch) for h in self.histories],
            "best_val_acc": self.best_val_acc,
            "test_acc": self.test_acc,
            "test_acc_std": accs.std().item() if len(accs) > 1 else 0.0,
            "test_loss": (sum(e.loss for e in self.tests) / len(self.tests)) if self.tests else float("nan"),
            "histories": [h.to_dict() for h in self.histories],
        }


def table(runs: dict):
    """One row per run of ``{label: Outcome}`` (``None`` skipped, e.g. a diverged run): parameters,
    best validation accuracy, the epoch it came at, the last losses and the seconds per epoch
    (means over the seeds), and the test accuracy where any run was tested. The notebooks print
    their comparisons with it."""
    import pandas as pd

    mean = lambda values: sum(values) / len(values)  # noqa: E731
    runs = {label: out for label, out in runs.items() if out is not None}
    tested = any(out.tests for out in runs.values())
    return pd.DataFrame.from_dict({label: {
        "parameters": out.parameters,
        "best val acc": round(out.best_val_acc, 3),
        "at epoch": round(mean([h.best_epoch + 1 for h in out.histories]), 1),
        "last train loss": round(mean([h.train_loss[-1] for h in out.histories]), 3),
        "last val loss": round(mean([h.val_loss[-1] for h in out.histories]), 3),
        "s / epoch": round(out.seconds / sum(len(h.epoch) for h in out.histories), 2),
        **({"test acc": round(out.test_acc, 4)} if tested else {}),
    } for label, out in runs.items()}, orient="index")


def run(name: str, build: Callable[[], torch.nn.Module], train: ImageSet, val: ImageSet,
        test: ImageSet | None = None, *, seeds=(0,), batch_size: int = 128, augment=None,
        device: str = "auto", profile: str | None = None, size: int | None = None,
        mean=None, std=None, save: bool = True, keep_models: bool = False, config: dict | None = None,
        reuse: bool = False, **fit_kwargs) -> Outcome:
    """Train a fresh ``build()`` model for every seed on ``train``, watching ``val``.

    Normalisation statistics come from ``train`` only, unless ``mean`` and ``std`` (per channel,
    of [0, 1] pixels) are given: a pretrained backbone wants those its weights were trained
    with. ``size`` resizes every batch on the device (e.g. 224 for ImageNet backbones).
    With ``test`` given, each trained model (with its best validation weights) is
    evaluated on it. The record
    goes to ``results/<name>.json`` and checkpoints to ``checkpoints/<name>/seed<N>/``.
    ``fit_kwargs`` go to ``helpers.training.fit`` (epochs, optimizer, lr, ...).

    With ``reuse``, a run that already finished with the same model, data and settings (its
    record's ``fingerprint`` matches and its checkpoints exist) is not trained again: its
    record and best weights are loaded instead, so a notebook that was stopped half-way picks
    up where it was. A seed whose training was interrupted (same fingerprint, in its checkpoint
    folder's ``run.json``) continues from its last finished epoch (``fit(resume=True)``) and ends
    with the numbers of an uninterrupted run. Once the run is recorded, only the best weights are
    kept (``last.pt``, with the optimizer state, is deleted). Only a
    ``functools.partial(models.build, ...)`` model can be reused (any other ``build`` might hide
    weights that changed). Code changes are not in the fingerprint: after changing ``helpers``,
    train again (``reuse=False``).
    """
    profile = profiles.profile_name(profile)
    check_settings(**fit_kwargs)     # before anything below replaces an earlier run's record or weights
    reserved = sorted({"seed", "checkpoint_dir", "resume"} & set(fit_kwargs))
    if reserved:
        raise TypeError(f"run sets {reserved} itself (seeds=..., save=..., reuse=...): leave them out")
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed, e.g. seeds=(0,)")
    dev = resolve_device(device)
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (a pretrained backbone's normalisation), or neither")
    spec = model_spec(build)
    key = None
    if spec is not None and save:
        key = fingerprint(spec, (train, val, test), {
            "seeds": tuple(seeds), "batch_size": batch_size, "augment": augment, "device": dev.type,
            "size": size, "mean": mean, "std": std, "config": config, **fit_kwargs})
    if mean is None:
        mean, std = train.channel_stats()
    val_b = Batches(val, max(batch_size, 256), device=dev, mean=mean, std=std, size=size)
    test_b = Batches(test, max(batch_size, 256), device=dev, mean=mean, std=std, size=size) if test else None
    if reuse and key is not None:
        done = _finished(name, profile, key, spec, seeds, test_b, keep_models, dev)
        if done is not None:
            return done
    if save:   # this run overwrites the checkpoints: an older record would no longer describe them
        (results.results_dir(profile) / f"{name}.json").unlink(missing_ok=True)
    out = Outcome(name, [], device=str(dev))
    t0, earlier = time.perf_counter(), 0.0
    for seed in seeds:
        seed_everything(seed)
        model = build()
        out.parameters = count_parameters(model)
        train_b = Batches(train, batch_size, shuffle=True, augment=augment, device=dev, mean=mean,
                          std=std, seed=seed, size=size)
        ckpt = _checkpoint_dir(name, profile, seed) if save else None
        resume = ckpt is not None and reuse and key is not None and _interrupted(ckpt, key)
        if resume:
            done = load_checkpoint(ckpt / "last.pt")["history"]["seconds"]
            earlier += sum(done)     # the interrupted part's training time counts in the record
            print(f"{name}: seed {seed} continues its interrupted training after epoch {len(done)} "
                  "(same model, data and settings)")
        elif ckpt is not None:
            _start(ckpt, key)
        out.histories.append(fit(model, train_b, val_b, seed=seed, checkpoint_dir=ckpt, resume=resume,
                                 **fit_kwargs))
        # fit may have put the weights in channels-last memory; a model rebuilt from its checkpoint
        # has the default layout. Convolutions take other kernels per layout, whose sums differ in the
        # last bits, so evaluate (and hand out) the model in the layout it has when it comes from disk.
        model = model.to(memory_format=torch.contiguous_format)
        if test_b is not None:
            out.tests.append(evaluate(model, test_b))
        if keep_models:
            out.models.append(model)
    out.seconds = time.perf_counter() - t0 + earlier
    if save:
        settings = {k: v for k, v in fit_kwargs.items() if isinstance(v, (int, float, str, bool))}
        results.save(name, {**out.summary(), "model": spec, "architecture": type(model).__name__,
                            "fingerprint": key, "mean": mean, "std": std,
                            "config": {"batch_size": batch_size, "seed0": seeds[0], "size": size, **(config or {}),
                                       **settings}},
                     profile)
        for seed in seeds:      # recorded: the best weights are all that reuse and load_model need
            (_checkpoint_dir(name, profile, seed) / "last.pt").unlink(missing_ok=True)
    return out


def _start(ckpt, key: str | None) -> None:
    """Clear checkpoint folder ``ckpt`` for a fresh training and note its fingerprint ``key``
    there (``run.json``), so that an interrupted training can tell it may continue."""
    for stale in ("last.pt", "best.pt", "run.json"):
        (ckpt / stale).unlink(missing_ok=True)
    if key is not None:
        save_atomic(json.dumps({"fingerprint": key}).encode(), ckpt / "run.json")


def _interrupted(ckpt, key: str) -> bool:
    """Whether ``ckpt`` holds a training with fingerprint ``key`` that can continue (its ``last.pt``)."""
    try:
        started = json.loads((ckpt / "run.json").read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):
        return False
    return started == key and (ckpt / "last.pt").is_file()


def _finished(name, profile, key, spec, seeds, test_b, keep_models, dev) -> Outcome | None:
    """The Outcome of an earlier run with fingerprint ``key``, its best weights reloaded (and
    re-tested when ``test_b`` is given); ``None`` when there is no such complete run."""
    record = results.read(name, profile)
    if record is None or record.get("fingerprint") != key:
        return None
    ckpts = [_checkpoint_dir(name, profile, seed) / "best.pt" for seed in seeds]
    if not all(p.is_file() for p in ckpts):
        return None
    out = Outcome(name, [History.from_dict(h) for h in record["histories"]], parameters=record["parameters"],
                  seconds=record["seconds"], device=record["device"])
    if test_b is not None or keep_models:
        for path in ckpts:
            model = _rebuild(spec, path, dev)
            if test_b is not None:
                out.tests.append(evaluate(model, test_b))
            if keep_models:
                out.models.append(model)
    print(f"{name}: reused the run finished on {record['date']} (same model, data and settings)")
    return out
