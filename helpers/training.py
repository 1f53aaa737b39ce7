"""Training: ``fit(model, train, val, ...)`` with every knob of the course by name.

One epoch = one pass over ``train`` (a ``helpers.data.Batches``), then an
evaluation on ``val``. ``fit`` returns a ``History`` of per-epoch numbers and,
given a ``checkpoint_dir``, keeps two files there, each written atomically:

* ``best.pt``: the weights with the best validation accuracy so far;
* ``last.pt``: everything needed to continue after an interruption
  (``fit(..., resume=True)``): weights, optimizer, scheduler, random state,
  history. On the CPU a resumed run ends with exactly the weights and history
  of an uninterrupted one.
"""
from __future__ import annotations

import inspect
import json
import pickle
import math
import random
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import progress as progress_mod
from .data import channels_last_pays, resolve_device
from .files import save_atomic


__all__ = ["fit", "History", "TrainingDiverged", "CheckpointError", "seed_everything", "make_optimizer",
           "lr_factor", "save_atomic", "load_checkpoint", "seconds_per_step", "OPTIMIZERS", "SCHEDULERS", "AMP"]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
AMP = ("auto", True, False, "bf16", "fp16")
SCHEDULERS = ("none", "exponential", "cosine", "warmup_linear", "warmup_cosine")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class History:
    """Per-epoch numbers of one training run (lists share the epoch index)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_val_acc: float = float("nan")
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)

    def save(self, path: str | Path) -> Path:
        """Write the history as JSON, atomically."""
        return save_atomic(json.dumps(self.to_dict(), indent=1).encode(), path)

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(empty)"
        return (f"History({len(self.epoch)} epochs, last train loss {self.train_loss[-1]:.4f}, "
                f"best val acc {self.best_val_acc:.4f} at epoch {self.best_epoch})")


class CheckpointError(ValueError):
    """A checkpoint file that cannot or must not be loaded; the message names it and what to do."""


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint written by ``fit`` (tensors and plain data only: ``weights_only=True``).

    A file that holds anything else (a pickle that could run code) is refused unread, and a
    broken, empty or foreign file gives a ``CheckpointError`` that names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        if path.stat().st_size and not zipfile.is_zipfile(path):   # torch.save writes zip archives
            raise CheckpointError(f"checkpoint {path} cannot be read (it is not a torch.save archive): it is "
                                  "damaged or not a checkpoint of fit. Delete it and train again.") from None
        raise CheckpointError(
            f"checkpoint {path} holds objects other than tensors and plain data, so it was not loaded "
            "(unpickling it could run code). Load only checkpoints that fit wrote; delete this file "
            "and train again.") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError) as e:
        reason = "it is empty" if path.stat().st_size == 0 else f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        raise CheckpointError(f"checkpoint {path} cannot be read ({reason}): it is damaged or not a "
                              "checkpoint of fit. Delete it and train again.") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {path} is not one of fit's (no 'model' weights in it): "
                              "delete it and train again.")
    return state


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """An optimizer by name: sgd, momentum (SGD with momentum), nesterov, adam, adamw, rmsprop, adagrad."""
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov",
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def lr_factor(scheduler: str, step: int, total_steps: int, steps_per_epoch: int,
              warmup_steps: int = 0, gamma: float = 0.9) -> float:
    """The learning-rate multiplier at ``step`` (0-based) for a schedule by name.

    * ``none``: 1 throughout;
    * ``exponential``: ``gamma ** epoch``;
    * ``cosine``: from 1 down to 0 along a half cosine;
    * ``warmup_linear`` / ``warmup_cosine``: a linear rise over ``warmup_steps``,
      then a linear or cosine decay to 0.
    """
    if scheduler == "none":
        return 1.0
    if scheduler == "exponential":
        return gamma ** (step // steps_per_epoch)
    if scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
    warm = warmup_steps if scheduler.startswith("warmup") else 0
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total_steps - warm)
    if scheduler.endswith("linear"):
        return max(0.0, 1 - progress)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def progress_bar(total: int, progress: bool = True):
    """One progress bar for a whole run (``helpers.progress``: one line updated in place in a
    notebook, text in a terminal; ``$COURSE_PROGRESS`` picks the form)."""
    return progress_mod.bar(total, "training", enabled=progress)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _diverged(epoch: int, step, loss) -> TrainingDiverged:
    return TrainingDiverged(
        f"the training loss became {loss} at epoch {epoch}, step {step}: training diverged. Try a "
        "lower learning rate (e.g. a tenth), gradient clipping (grad_clip=1.0), or a larger batch.")


def _run_epoch(model, batches, optimizer=None, scheduler=None, label_smoothing=0.0, grad_clip=None,
               amp=None, epoch=0, bar=None, scaler=None):
    """One pass over ``batches``; trains when an optimizer is given. Returns (loss, accuracy).

    ``amp`` is the autocast dtype (None: float32); ``scaler`` a ``GradScaler`` for float16.
    A sample whose scores are not all finite counts as wrong (its argmax would name a class).

    Loss, correct predictions and the first non-finite step are counted on the device and read
    once at the end: on a GPU every ``.item()`` inside the loop would stall it once per step.
    (``Accuracy``, with its input checks, serves evaluation; here the labels come from ``Batches``.)
    """
    train = optimizer is not None
    model.train(train)
    dev = batches.device
    total_loss = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.long, device=dev)
    first_bad = torch.full((), -1, dtype=torch.long, device=dev)
    count = 0
    with torch.set_grad_enabled(train):
        for step, (x, y) in enumerate(batches):
            with torch.autocast(dev.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing if train else 0.0)
            if train:
                bad = ~torch.isfinite(loss)
                if dev.type == "cpu":                      # no stall to avoid on the CPU: stop at once
                    if bad:
                        raise _diverged(epoch, step, loss.item())
                else:
                    first_bad = torch.where(bad & (first_bad < 0), step, first_bad)
                optimizer.zero_grad(set_to_none=True)
                aux = getattr(model, "auxiliary_logits", None)   # an auxiliary classifier's (Inception v3)
                if aux is not None:
                    loss = loss + model.aux_weight * F.cross_entropy(aux.float(), y, label_smoothing=label_smoothing)
                if scaler is not None:             # float16: scale the loss so small gradients survive
                    scaler.scale(loss).backward()
                    if grad_clip:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    if grad_clip:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                    optimizer.step()
                scheduler.step()
            total_loss += loss.detach().double() * len(y)
            scores = logits.detach()
            correct += ((scores.argmax(1) == y) & torch.isfinite(scores).all(1)).sum()
            count += len(y)
            if bar is not None:
                bar.update(1)
    if train and first_bad.item() >= 0:
        raise _diverged(epoch, first_bad.item(), "nan or inf")
    return (total_loss / count).item(), correct.item() / count


def check_settings(**settings) -> None:
    """Refuse ``fit`` keywords that would fail once training starts: unknown names, ``epochs`` < 1, an
    unknown optimizer or scheduler, a learning rate <= 0. ``experiment.run`` calls this before it
    replaces an earlier run, so a typo costs nothing that was already trained."""
    known = set(inspect.signature(fit).parameters) - {"model", "train", "val"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"unknown training setting(s) {unknown}; fit takes {', '.join(sorted(known))}")
    epochs = settings.get("epochs", 10)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if settings.get("optimizer", "adamw") not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {settings['optimizer']!r}; choose one of {', '.join(OPTIMIZERS)}")
    if settings.get("scheduler", "none") not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {settings['scheduler']!r}; choose one of {', '.join(SCHEDULERS)}")
    if not settings.get("lr", 1e-3) > 0:
        raise ValueError(f"lr must be > 0, got {settings['lr']}")
    amp = settings.get("amp", "auto")
    if not any(amp is a or (isinstance(amp, str) and amp == a) for a in AMP):
        raise ValueError(f"amp must be one of {', '.join(map(repr, AMP))}, got {amp!r}")


def amp_dtype(amp, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``fit(amp=...)`` on ``device``, or None for float32.

    ``"auto"``: mixed precision on CUDA only. ``True``: bfloat16 where the device has it, else
    (older GPUs such as the T4) float16, which ``fit`` pairs with a ``GradScaler``. ``"bf16"`` and
    ``"fp16"`` choose the dtype; ``False`` trains in float32.
    """
    check_settings(amp=amp)
    if amp == "auto":
        amp = device.type == "cuda"
    if amp is False:
        return None
    if amp == "fp16" or (amp is True and device.type == "cuda" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def fit(model: torch.nn.Module, train, val=None, *, epochs: int = 10, optimizer: str = "adamw",
        lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0, scheduler: str = "none",
        warmup_epochs: float = 0.0, gamma: float = 0.9, grad_clip: float | None = None,
        label_smoothing: float = 0.0, patience: int | None = None, min_epochs: int = 0,
        eval_every: int = 1, checkpoint_dir: str | Path | None = None, resume: bool = False,
        seed: int = 0, amp: str | bool = "auto", channels_last: str | bool = "auto",
        progress: bool = True, on_epoch_end=None) -> History:
    """Train ``model`` on ``train`` and watch it on ``val``; return the ``History``.

    Optimizer (``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw``, ``rmsprop``, ``adagrad``) and
    scheduler (``none``, ``exponential``, ``cosine``, ``warmup_linear``,
    ``warmup_cosine``) are chosen by name. Early stopping: with ``patience`` set,
    training stops once validation accuracy has not improved for ``patience``
    evaluations, but never before ``min_epochs``. With ``checkpoint_dir`` the
    best weights are kept in ``best.pt`` and the model ends with them loaded.
    ``amp`` defaults to on for CUDA and off elsewhere (see ``amp_dtype``); ``channels_last`` to on where it pays
    (CUDA and the CPU: see ``data.channels_last_pays``). (On the CPU, subnormal floats are
    flushed to zero: see ``helpers/__init__.py``.)
    ``on_epoch_end(epoch, history)`` is called after each epoch.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir to resume from")
    device = train.device
    amp = amp_dtype(amp, device)
    scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
    if _use_channels_last(channels_last, device):
        model = model.to(memory_format=torch.channels_last)
        train.channels_last = True
        if val is not None:
            val.channels_last = True
    model.to(device)
    steps_per_epoch = len(train)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay, momentum)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(
        scheduler, s, epochs * steps_per_epoch, steps_per_epoch, round(warmup_epochs * steps_per_epoch), gamma))
    history, start, bad = History(), 0, 0
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    last_path = ckpt_dir / "last.pt" if ckpt_dir else None
    # what decides the run's numbers: a resume must continue a training with the same ones
    settings = dict(epochs=epochs, optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay,
                    scheduler=scheduler, warmup_epochs=warmup_epochs, gamma=gamma, grad_clip=grad_clip,
                    label_smoothing=label_smoothing, patience=patience, min_epochs=min_epochs,
                    eval_every=eval_every, seed=seed, amp=str(amp), steps_per_epoch=steps_per_epoch)
    if resume and last_path.is_file():
        # Loaded onto the CPU: the RNG states must stay CPU byte tensors (torch.set_rng_state takes
        # nothing else); load_state_dict moves the weights and the optimizer state to the model's device.
        state = load_checkpoint(last_path, map_location="cpu")
        _check_resumable(last_path, state, settings)
        model.load_state_dict(state["model"])
        saved_keys = set(state["optimizer"]["param_groups"][0])
        if saved_keys != set(opt.state_dict()["param_groups"][0]):   # a last.pt from before settings were recorded
            raise ValueError(f"{last_path} was written by a training with another optimizer (its settings "
                             f"{sorted(saved_keys - {'params'})}): resume with that optimizer, or start again "
                             "with resume=False")
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        history = History.from_dict(state["history"])
        start, bad = state["epoch"] + 1, state["bad_epochs"]
        if history.stopped_early:       # it had finished: early stopping ended it
            start = epochs
        _set_rng_state({k: v for k, v in state["rng"].items()})
    else:
        seed_everything(seed)
    bar = progress_bar((epochs - start) * steps_per_epoch, progress)
    try:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            train.set_epoch(epoch)
            tr_loss, tr_acc = _run_epoch(model, train, opt, sched, label_smoothing, grad_clip, amp, epoch, bar, scaler)
            evaluate_now = val is not None and ((epoch + 1) % eval_every == 0 or epoch == epochs - 1)
            if evaluate_now:
                va_loss, va_acc = _run_epoch(model, val, amp=amp)
            else:
                va_loss, va_acc = float("nan"), float("nan")
            history.epoch.append(epoch)
            history.train_loss.append(tr_loss)
            history.train_acc.append(tr_acc)
            history.val_loss.append(va_loss)
            history.val_acc.append(va_acc)
            history.lr.append(opt.param_groups[0]["lr"])
            history.seconds.append(time.perf_counter() - t0)
            if evaluate_now:
                if not (va_acc <= history.best_val_acc):        # also true while best is NaN
                    history.best_val_acc, history.best_epoch, bad = va_acc, epoch, 0
                    if ckpt_dir:
                        save_atomic({"model": model.state_dict(), "epoch": epoch, "val_acc": va_acc},
                                    ckpt_dir / "best.pt")
                else:
                    bad += 1
            stop = patience is not None and bad >= patience and epoch + 1 >= min_epochs
            history.stopped_early = stop and epoch + 1 < epochs
            if ckpt_dir:
                save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                             "scheduler": sched.state_dict(), "history": history.to_dict(),
                             "epoch": epoch, "bad_epochs": bad, "rng": _rng_state(), "settings": settings,
                             "scaler": scaler.state_dict() if scaler is not None else None}, last_path)
            bar.set_postfix_str(f"epoch {epoch + 1}/{epochs} loss {tr_loss:.3f} val acc {va_acc:.3f}")
            if on_epoch_end is not None:
                on_epoch_end(epoch, history)
            if stop:
                break
    finally:
        bar.close()
    if ckpt_dir and val is None:      # nothing to choose by: the final weights are this run's best
        save_atomic({"model": model.state_dict(), "epoch": history.epoch[-1] if history.epoch else -1,
                     "val_acc": float("nan")}, ckpt_dir / "best.pt")
    elif ckpt_dir and history.best_epoch >= 0:   # only a best this training saved, never an older run's
        model.load_state_dict(load_checkpoint(ckpt_dir / "best.pt", map_location=device)["model"])
    return history


def _check_resumable(path: Path, state: dict, settings: dict) -> None:
    """Refuse to resume from ``state`` (read from ``path``) when its training had other settings."""
    saved = state.get("settings")
    if saved is None:            # written before settings were recorded: nothing to compare
        return
    diff = [f"{k} {saved.get(k)!r} there, {settings.get(k)!r} here"
            for k in sorted(saved.keys() | settings.keys()) if saved.get(k) != settings.get(k)]
    if diff:
        raise ValueError(f"{path} was written by a training with other settings ({'; '.join(diff)}): "
                         "resume with the same settings, or start again with resume=False")


def _use_channels_last(channels_last: str | bool, device: torch.device) -> bool:
    """``fit``'s ``channels_last`` setting on ``device``: ``"auto"`` where it pays, else as given."""
    return channels_last_pays(device) if channels_last == "auto" else channels_last is True


def seconds_per_step(build, batch_size: int, *, steps: int = 2, amp: str | bool = "auto",
                     device: str | torch.device = "auto", image_size: int = 32,
                     channels_last: str | bool = "auto") -> float:
    """Seconds one training step of a fresh ``build()`` model takes on ``device``, for an estimate
    before hours of training: the fastest of ``steps`` steps on random images, after one warm-up step.
    ``amp`` and ``channels_last`` as in ``fit``, so that the step timed is the step trained.

    Multiply by the steps of a run (batches per epoch × epochs) for its training time; evaluation
    comes on top. The global random state is left as it was, so the notebook's numbers do not change.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"seconds_per_step needs steps >= 1 and batch_size >= 1, got steps={steps}, "
                         f"batch_size={batch_size}")
    dev = resolve_device(device)
    dtype = amp_dtype(amp, dev)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        model = build().to(dev).train()
        opt = torch.optim.AdamW(model.parameters())
        images = torch.rand(batch_size, 3, image_size, image_size, device=dev)
        if _use_channels_last(channels_last, dev):
            model, images = model.to(memory_format=torch.channels_last), images.to(memory_format=torch.channels_last)
        times = []
        for _ in range(steps + 1):
            start = time.perf_counter()
            with torch.autocast(dev.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                loss = model(images).float().logsumexp(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            times.append(time.perf_counter() - start)
    return min(times[1:])
