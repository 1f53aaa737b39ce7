"""Hyperparameter sweeps with Optuna: search spaces as plain dicts, studies kept in a database,
any number of workers on one study, median pruning, and the tables that read them (the figures
are in ``helpers.plots``: ``sweep_curves``, ``sweep_parallel``, ``sweep_importances``).

    space = {"lr": (1e-4, 1e-1, "log"), "optimizer": ["adamw", "nesterov"]}
    study = sweep.create_study("cnn", sampler="tpe", space=space, fixed={"model": "cnn3", "epochs": 6})
    sweep.optimize(study, train, val, n_trials=20)    # runs only the trials still missing
    sweep.results_table(study)                        # one row per trial
    sweep.best_config(study)                          # what to retrain

The space and the fixed settings are plain dicts (``helpers.spaces``). Every trial trains with
the study's seed, so trials differ by their hyperparameters alone. The objective is the best
validation accuracy.

The study stores its settings itself (``study.user_attrs["sweep"]``), so other processes and
machines can join it with nothing but its name and storage URL:

    python -m helpers.sweep worker --study vit --storage postgresql://user@host/sweeps --trials 40

Optuna does the distributed work: ``Study.optimize`` runs the trials, Optuna's heartbeat marks a
killed worker's trial FAIL and ``RetryHeartbeatStaleTrialCallback`` queues its parameters again,
so a killed sweep resumes where it stopped. One thing is ours: ``n_trials`` is the total of
finished (COMPLETE or PRUNED) trials the study should end with, and workers count and start
trials one at a time under a lock (``_Lock``), so together they never run more than asked for.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import math
import sys
import time
import warnings
import weakref
import zlib
from collections import Counter
from pathlib import Path

import optuna
import sqlalchemy
from optuna.trial import TrialState

from . import models, profiles
from .data import Batches, ImageSet, find_data, is_standin, resolve_device, splits
from .files import save_atomic
from .spaces import (CNN_SPACE, PRESETS, SAMPLERS, VIT_SPACE, check_settings, grid_size, preset, route,  # noqa: F401
                     suggest, validate_space)
from .training import TrainingDiverged, fit, seconds_per_step, seed_everything

__all__ = ["CNN_SPACE", "VIT_SPACE", "PRESETS", "SAMPLERS", "StorageError", "validate_space",
           "preset", "default_storage", "create_study", "optimize", "results_table", "best_config",
           "study_settings", "importances", "epoch_seconds", "quiet_optuna", "main"]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
_LOCKS: "weakref.WeakKeyDictionary[optuna.Study, tuple]" = weakref.WeakKeyDictionary()   # lock, URL, heartbeat


class StorageError(RuntimeError):
    """The study's storage (database) cannot be opened or used."""


class _TrialSeeded(optuna.samplers.BaseSampler):
    """The study's sampler made afresh for each trial. Random and TPE samplers are seeded with the
    study's seed and the trial's number, so one process reproduces a sweep and two workers never
    share a random stream; the grid sampler keeps the study's seed, which fixes the grid's order."""

    def __init__(self, settings: dict):
        self.settings, self.inner = settings, None

    def before_trial(self, study, trial) -> None:
        kind, seed, space = self.settings["sampler"], self.settings["seed"], self.settings["space"]
        if kind == "grid":
            self.inner = optuna.samplers.GridSampler({k: list(v) for k, v in space.items()}, seed=seed)
        elif kind == "random":
            self.inner = optuna.samplers.RandomSampler(seed=seed * 1_000_003 + trial.number)
        else:
            self.inner = optuna.samplers.TPESampler(n_startup_trials=5, seed=seed * 1_000_003 + trial.number)
        self.inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self.inner.after_trial(study, trial, state, values)


# ---------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------
def default_storage(name: str, profile: str | None = None) -> str:
    """``sqlite:///<run folder>/sweeps/<name>.db``: a study's default home."""
    folder = profiles.run_dir(profiles.profile_name(profile)) / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / f'{name}.db').resolve()}"


def _url(url: str) -> "sqlalchemy.engine.URL":
    """The URL, with PostgreSQL's driver named as psycopg2 when only that one is installed
    (SQLAlchemy 2.1 takes a bare ``postgresql://`` to mean psycopg 3)."""
    u = sqlalchemy.engine.make_url(url)
    if u.drivername == "postgresql":
        with contextlib.suppress(ImportError):
            import psycopg  # noqa: F401
            return u
        with contextlib.suppress(ImportError):
            import psycopg2  # noqa: F401
            u = u.set(drivername="postgresql+psycopg2")
    return u


HINTS = {"sqlite": "that the folder of the database file exists and is writable",
         "postgresql": "that the server runs and listens on that host and port (pg_isready -h HOST -p PORT), "
                       "that the database exists (createdb NAME) and the user may log in, and that a driver "
                       "is installed (pip install psycopg2-binary)"}


@contextlib.contextmanager
def _storage_errors(url: str):
    """Turn a database error into a StorageError naming the URL (password masked) and what to check."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, ImportError, OSError) as e:
        try:
            u = sqlalchemy.engine.make_url(url)
            shown, backend = u.render_as_string(hide_password=True), u.get_backend_name()
        except Exception:
            shown, backend = url, ""
        hint = HINTS.get(backend, "the URL: it has the form dialect+driver://user:password@host:port/database, "
                                  "e.g. sqlite:///path/to/sweep.db or postgresql://user@host:5432/sweeps")
        first = (str(e).strip().splitlines() or [""])[0]
        raise StorageError(f"cannot use the sweep storage {shown}: {type(e).__name__}: {first}. "
                           f"Check {hint}.") from e


class _Lock:
    """Lets one worker at a time count a study's trials and start the next: an exclusive lock on
    ``<database>.lock`` for SQLite, a session advisory lock for PostgreSQL. A killed process
    releases it (the OS closes the file, the server the connection). ``acquire`` and ``release``
    may be called again while held or free: ``optimize`` takes it before Optuna asks for a trial
    and the objective gives it back."""

    KEY = zlib.crc32(b"helpers.sweep")

    def __init__(self, url: str):
        u = _url(url)
        self.path = self.engine = self.held = None
        if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
            self.path = Path(u.database).with_name(Path(u.database).name + ".lock")
        elif u.get_backend_name() == "postgresql":
            self.engine = sqlalchemy.create_engine(u, poolclass=sqlalchemy.pool.NullPool,
                                                   connect_args={"connect_timeout": 10})

    def acquire(self) -> None:
        if self.held is None and self.path is not None:
            self.held = open(self.path, "a")
            with contextlib.suppress(ImportError):      # Windows has no fcntl: one worker per SQLite file
                import fcntl
                fcntl.flock(self.held, fcntl.LOCK_EX)
        elif self.held is None and self.engine is not None:
            self.held = self.engine.connect()
            self.held.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.KEY})
            self.held.commit()

    def release(self) -> None:
        held, self.held = self.held, None
        if held is not None and self.engine is not None:
            held.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.KEY})
            held.commit()
        if held is not None:
            held.close()                                  # closing the file drops its flock

    def __enter__(self):
        self.acquire()

    def __exit__(self, *exc):
        self.release()


@contextlib.contextmanager
def quiet_optuna():
    """Hide Optuna's notes that a feature (the heartbeat, its matplotlib plots) is experimental."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


# ---------------------------------------------------------------------------------------------
# Studies
# ---------------------------------------------------------------------------------------------
def study_settings(study: optuna.Study) -> dict:
    """The settings a study was made with: space, fixed, sampler, seed, prune."""
    stored = study.user_attrs.get("sweep")
    if stored is None:
        raise ValueError(f"study {study.study_name!r} has no sweep settings: make it with helpers.sweep.create_study")
    return ast.literal_eval(stored)


def create_study(name: str, storage: str | None = None, sampler: str | None = None, space: dict | None = None,
                 seed: int | None = None, *, fixed: dict | None = None, prune: bool | None = None,
                 profile: str | None = None, fresh: bool = False, heartbeat: int = 5,
                 grace: int | None = None) -> optuna.Study:
    """Create the study ``name`` in ``storage``, or load it if it exists (so a sweep resumes).

    ``storage``: any SQLAlchemy URL Optuna accepts (``sqlite:///file.db``,
    ``postgresql://user@host/db``); default: ``default_storage(name, profile)``.
    ``sampler``: ``grid``, ``random`` or ``tpe``; ``space``: see ``validate_space``; ``fixed``:
    settings every trial shares (``model`` at least); ``prune``: stop trials whose validation
    accuracy falls below the median of earlier trials at the same epoch (Optuna's MedianPruner).
    A new study stores these settings (defaults: tpe, seed 0, prune); loading one, settings left at
    ``None`` take the stored values and given ones must match them. ``fresh=True`` deletes the
    study first. ``heartbeat``: seconds between a running trial's signs of life; a trial silent
    for ``grace`` seconds (default ``max(3 * heartbeat, 10)``) counts as dead and is run again.
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"a study name must be a plain non-empty name, got {name!r}")
    if sampler is not None and sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
        raise ValueError(f"heartbeat must be a whole number of seconds >= 1, got {heartbeat!r}")
    if space is not None:
        check_settings(space, dict(fixed or {}), sampler or "tpe")
    elif fresh:
        raise ValueError("fresh=True deletes the study and makes it anew: give its space (and fixed settings) too")
    url = storage or default_storage(name, profile)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = sqlalchemy.engine.make_url(url).get_backend_name() if "://" in url else ""
    engine_kwargs = {"sqlite": {"connect_args": {"timeout": 60}},
                     "postgresql": {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}}.get(backend, {})
    with _storage_errors(url):
        lock = _Lock(url)
        with lock, quiet_optuna():
            rdb = optuna.storages.RDBStorage(
                _url(url).render_as_string(hide_password=False), engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat, grace_period=grace if grace is not None else max(3 * heartbeat, 10),
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
            if lock.path is None and lock.engine is None:
                warnings.warn(f"helpers.sweep has no lock for {backend} storages: with several workers a study "
                              "may end with a few more trials than asked for", stacklevel=2)
            exists = name in optuna.get_all_study_names(rdb)
            if fresh and exists:
                optuna.delete_study(study_name=name, storage=rdb)
            elif not exists and space is None:
                raise ValueError(f"there is no study {name!r} in {_shown(url)} yet: give its space (and fixed "
                                 "settings, sampler, seed) to create it (on the command line: --space)")
            study = optuna.create_study(study_name=name, storage=rdb, direction="maximize", load_if_exists=True)
            stored = study.user_attrs.get("sweep")
            given = {"space": space, "fixed": None if fixed is None else dict(fixed), "sampler": sampler,
                     "seed": seed, "prune": prune}
            if stored is None:
                if space is None:
                    raise ValueError(f"study {name!r} in {_shown(url)} was not made by helpers.sweep (it has no "
                                     "sweep settings): give its space to add them, or choose another name")
                settings = {"space": space, "fixed": dict(fixed or {}), "sampler": sampler or "tpe",
                            "seed": 0 if seed is None else int(seed), "prune": True if prune is None else prune}
                study.set_user_attr("sweep", repr(settings))
            else:
                settings = ast.literal_eval(stored)
                differ = [f"{k}: stored {settings[k]!r}, given {v!r}" for k, v in given.items()
                          if v is not None and v != settings[k]]
                if differ:
                    raise ValueError(f"study {name!r} in {_shown(url)} was made with other settings ("
                                     + "; ".join(differ) + "). Give the same settings (or leave them out to use "
                                     "the stored ones), choose another name, or start again with fresh=True "
                                     "(deleting it)")
    study.sampler = _TrialSeeded(settings)
    study.pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1) if settings["prune"]
                    else optuna.pruners.NopPruner())
    _LOCKS[study] = (lock, url, heartbeat)
    return study


def _shown(url: str) -> str:
    with contextlib.suppress(Exception):
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    return url


def _fingerprint(train: ImageSet, val: ImageSet) -> str:
    crc = zlib.crc32(val.labels.numpy().tobytes())
    crc = zlib.crc32(train.images[:256].numpy().tobytes(), crc)
    return f"train {train.name} ({len(train)} images), val {val.name} ({len(val)} images), crc {crc:08x}"


class _Objective:
    """Train one trial's model on ``train``, watching ``val``; return its best validation accuracy.
    Its first act is to give back the lock under which the trial was started."""

    def __init__(self, settings: dict, train: ImageSet, val: ImageSet, device, lock: _Lock):
        self.settings, self.train, self.device, self.lock = settings, train, device, lock
        self.mean, self.std = train.channel_stats()           # normalisation from the training set only
        self.val = Batches(val, 512, device=device, mean=self.mean, std=self.std)

    def __call__(self, trial: optuna.Trial) -> float:
        self.lock.release()
        seed = self.settings["seed"]
        params = suggest(trial, self.settings["space"])
        model_name, model_kw, batch_size, fit_kw = route({**self.settings["fixed"], **params})
        seed_everything(seed)
        model = models.build(model_name, num_classes=self.train.num_classes, **model_kw)
        trial.set_user_attr("parameters", models.count_parameters(model))
        train_b = Batches(self.train, batch_size, shuffle=True, device=self.device, mean=self.mean,
                          std=self.std, seed=seed)
        curves = {"val_acc": [], "train_loss": []}

        def after_epoch(epoch, history):
            acc = history.val_acc[-1]
            curves["val_acc"].append(acc)
            curves["train_loss"].append(history.train_loss[-1])
            for key, values in curves.items():
                trial.set_user_attr(key, values)
            if math.isfinite(acc):
                trial.report(acc, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"val acc {acc:.3f} below the median at epoch {epoch + 1}")

        try:
            history = fit(model, train_b, self.val, seed=seed, progress=False, on_epoch_end=after_epoch, **fit_kw)
        except TrainingDiverged as e:     # a result too: these settings do not train
            trial.set_user_attr("diverged", str(e).split(":")[0])
            return max([a for a in curves["val_acc"] if math.isfinite(a)], default=0.0)
        return history.best_val_acc


def epoch_seconds(settings: dict, images: int, num_classes: int, device="auto") -> float:
    """Seconds one training epoch over ``images`` images takes for a trial with ``settings`` (the
    fixed settings and one value of each searched parameter), from two timed training steps of its
    model at its batch size: for an estimate before a sweep's hours of training. Evaluation comes on top."""
    if images < 1:
        raise ValueError(f"epoch_seconds needs at least one training image, got images={images}")
    model_name, model_kw, batch_size, _ = route(settings)
    build = functools.partial(models.build, model_name, num_classes=num_classes, **model_kw)
    return seconds_per_step(build, batch_size, device=device) * math.ceil(images / batch_size)


def _describe(t: optuna.trial.FrozenTrial) -> str:
    curve = t.user_attrs.get("val_acc", [])
    best = max([a for a in curve if math.isfinite(a)], default=float("nan"))
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
    secs = t.duration.total_seconds() if t.duration else float("nan")
    return (f"trial {t.number:3d} {t.state.name.lower():8s} val acc {best:.3f} "
            f"({len(curve)} ep, {secs:5.1f} s)  {params}")


def _may_start(study: optuna.Study, lock: _Lock, n_trials: int) -> tuple[int, list[int]]:
    """Take the lock, fail the trials of dead workers (Optuna queues them again), and count.
    Returns (finished trials, numbers of running ones); keeps the lock only if another may start."""
    lock.acquire()
    with quiet_optuna():
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    done = sum(t.state in FINISHED for t in trials)
    running = [t.number for t in trials if t.state == TrialState.RUNNING]
    if done + len(running) >= n_trials:
        lock.release()
    return done, running


def optimize(study: optuna.Study, train: ImageSet, val: ImageSet, n_trials: int | None = None, *,
             device: str = "auto", timeout: float | None = None, verbose: bool = True) -> optuna.Study:
    """Run trials of ``study`` until it holds ``n_trials`` finished (COMPLETE or PRUNED) trials.

    Trials already finished, by this or any other process, count: a resumed sweep runs only the
    missing ones. Trials running in other processes count too; when no trial is left to start this
    waits until they finish, or, if their worker died, until they go stale and are run again. A
    grid study runs each grid point once at most (``n_trials=None``: the whole grid). With
    ``timeout`` (seconds), no trial is started, and no waiting done, after that time. Prints one
    line per trial unless ``verbose`` is false. Returns the study.
    """
    if study not in _LOCKS:
        raise ValueError("optimize needs a study made (or loaded) by helpers.sweep.create_study")
    lock, url, heartbeat = _LOCKS[study]
    settings = study_settings(study)
    grid = grid_size(settings["space"]) if settings["sampler"] == "grid" else None
    n_trials = grid if n_trials is None else n_trials
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer (the total the study should hold), got {n_trials!r}"
                         + ("" if n_trials is not None else "; only a grid study knows its size by itself"))
    if grid is not None and n_trials > grid:
        if verbose:
            print(f"the grid has {grid} points: running those, not {n_trials} trials")
        n_trials = grid
    fingerprint = _fingerprint(train, val)
    with _storage_errors(url), lock:
        stored = study.user_attrs.get("data")
        if stored is None:
            study.set_user_attr("data", fingerprint)
        elif stored != fingerprint:
            raise ValueError(f"study {study.study_name!r} was trained on other data ({stored}) than given "
                             f"({fingerprint}): use the same data and split, or another study")
    objective = _Objective(settings, train, val, resolve_device(device), lock)

    def after_trial(study, frozen):              # Study.optimize calls this after each trial
        if verbose:
            print(_describe(frozen), flush=True)
        done, running = _may_start(study, lock, n_trials)
        if done + len(running) >= n_trials:
            study.stop()                          # else the lock stays held until the next trial starts

    told_waiting, t0 = False, time.monotonic()
    with _storage_errors(url):
        while True:
            left = None if timeout is None else timeout - (time.monotonic() - t0)
            if left is not None and left <= 0:
                if verbose:
                    print(f"{study.study_name}: stopped after the timeout of {timeout:g} s")
                return study
            done, running = _may_start(study, lock, n_trials)
            if done >= n_trials:
                if verbose and time.monotonic() - t0 < 1 and not told_waiting:
                    print(f"{study.study_name}: {done} finished trials already, none left to run")
                return study
            if done + len(running) < n_trials:
                try:
                    study.optimize(objective, timeout=left, callbacks=[after_trial], gc_after_trial=False)
                finally:
                    lock.release()
                continue
            if verbose and not told_waiting:
                print(f"waiting for trial(s) {running}, running elsewhere (or until they go stale)", flush=True)
                told_waiting = True
            time.sleep(heartbeat)


# ---------------------------------------------------------------------------------------------
# Reading a study
# ---------------------------------------------------------------------------------------------
def results_table(study: optuna.Study, path: str | Path | None = None):
    """Every trial as a row of a pandas DataFrame (number, state, value, epochs, duration,
    model parameters, then the sampled parameters); with ``path``, also written there as CSV,
    atomically. ``retry_of`` names the trial a rerun replaces."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"number": t.number, "state": t.state.name,
               "value": t.value if t.value is not None else float("nan"),
               "epochs": len(t.user_attrs.get("val_acc", [])),
               "duration_s": round(t.duration.total_seconds(), 2) if t.duration else float("nan"),
               "parameters": t.user_attrs.get("parameters"),
               "retry_of": t.system_attrs.get("failed_trial")}
        for k, v in t.params.items():
            row[f"param_{k}" if k in row else k] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values("number").reset_index(drop=True)
    if path is not None:
        save_atomic(df.to_csv(index=False).encode(), path)
    return df


def best_config(study: optuna.Study) -> dict:
    """The best trial's settings, split for retraining:
    ``models.build(c["model"], **c["model_kwargs"])``, ``Batches(..., c["batch_size"])``,
    ``fit(..., **c["fit"])``; with its ``val_acc``, ``trial`` number and raw ``params``."""
    settings = study_settings(study)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        raise ValueError(f"study {study.study_name!r} has no completed trial yet: run optimize first")
    best = max(complete, key=lambda t: t.value)
    model, model_kw, batch_size, fit_kw = route({**settings["fixed"], **best.params})
    return {"study": study.study_name, "trial": best.number, "val_acc": best.value, "model": model,
            "model_kwargs": model_kw, "batch_size": batch_size, "fit": fit_kw, "params": dict(best.params)}


def importances(study: optuna.Study, seed: int = 0) -> dict[str, float]:
    """Each parameter's share of the variation of validation accuracy (fANOVA, seeded),
    largest first. Needs at least two completed trials."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < 2:
        raise ValueError(f"parameter importances need at least two completed trials, study "
                         f"{study.study_name!r} has {len(complete)}")
    with quiet_optuna():
        return optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def _worker_data(profile: str, data_dir: str | None):
    """CIFAR-10 train/val for a worker: ``data_dir`` if given, else the profile's data. A full-profile
    worker refuses generated data, so a shared study never mixes stand-in and real results."""
    if data_dir:
        root = Path(data_dir).expanduser()
        generated = is_standin(root)
        print(f"DATA: {'GENERATED stand-in' if generated else 'real'} cifar10 from {root}", flush=True)
    else:
        src = find_data(profile, None)
        root, generated = src.root, src.generated
    if profile != "smoke" and generated:
        raise ValueError("a worker of the quick or full profile needs the real CIFAR-10: give --data-dir with "
                         "cifar-10-batches-py/ in it (or use --profile smoke to try things out)")
    train, val, _ = splits("cifar10", root, seed=0)
    return train, val


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.sweep",
                                 description="Work on, or summarise, a hyperparameter sweep kept in a database.")
    sub = ap.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="run trials of a study until it holds --trials finished trials")
    s = sub.add_parser("summary", help="print a study's trials and best configuration")
    for p in (w, s):
        p.add_argument("--study", required=True, help="the study's name")
        p.add_argument("--storage", default=None, help="SQLAlchemy URL, e.g. postgresql://user@host:5432/sweeps "
                       "(default: SQLite file runs/<profile>/sweeps/<study>.db)")
        p.add_argument("--profile", choices=profiles.PROFILES, default=None,
                       help="smoke or full (default: $COURSE_PROFILE, else full)")
    w.add_argument("--space", choices=("cnn", "vit"), default=None,
                   help="create the study with this preset (helpers.sweep.PRESETS); leave out to join a study")
    w.add_argument("--sampler", choices=SAMPLERS, default=None, help="for a new study (default tpe)")
    w.add_argument("--seed", type=int, default=None, help="for a new study (default 0)")
    w.add_argument("--trials", type=int, default=20, help="finished trials the study should hold in total")
    w.add_argument("--data-dir", default=None, help="folder with cifar-10-batches-py/ (default: the profile's data)")
    w.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    w.add_argument("--heartbeat", type=int, default=5, help="seconds between heartbeats of a running trial")
    w.add_argument("--grace", type=int, default=None,
                   help="seconds without a heartbeat after which a running trial counts as dead "
                        "(default max(3 x heartbeat, 10))")
    w.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (0: torch's default; 1 suits several workers on one machine)")
    s.add_argument("--csv", default=None, help="also write the table to this CSV file")
    args = ap.parse_args(argv)
    profile = profiles.profile_name(args.profile)
    try:
        if args.command == "worker":
            if args.threads:
                import torch
                torch.set_num_threads(args.threads)
            chosen = preset(args.space, profile) if args.space else {}
            study = create_study(args.study, args.storage, sampler=args.sampler, seed=args.seed, profile=profile,
                                 heartbeat=args.heartbeat, grace=args.grace, **chosen)
            train, val = _worker_data(profile, args.data_dir)
            optimize(study, train, val, args.trials, device=args.device)
        else:
            study = create_study(args.study, args.storage, profile=profile)
        counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
        print(f"study {args.study}: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"))
        if args.command == "summary":
            print(results_table(study, args.csv).to_string(index=False))
            if counts["complete"]:
                print("best:", best_config(study))
    except (ValueError, StorageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
