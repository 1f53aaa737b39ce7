"""Hyperparameter sweeps with Optuna: search spaces as plain dicts, studies kept in a database,
any number of workers on one study, median pruning, and the tables and figures that read them.

    space = {"lr": (1e-4, 1e-1, "log"), "optimizer": ["adamw", "nesterov"]}
    study = sweep.create_study("cnn", sampler="tpe", space=space, fixed={"model": "cnn3", "epochs": 6})
    sweep.optimize(study, train, val, n_trials=20)    # runs only the trials still missing
    sweep.results_table(study)                        # one row per trial
    sweep.best_config(study)                          # what to retrain

A space maps each parameter to a **list** of choices (categorical; the grid sampler makes each list
one axis of its grid) or to a **range** ``(low, high, "log" | "linear")`` (integers when both ends
are integers). ``fixed`` holds the settings all trials share. A trial's settings (fixed, then
sampled) are routed by name: ``model`` names the model (``helpers.models.build``), ``batch_size``
the batch size, the keywords of ``helpers.train.fit`` (``epochs``, ``lr``, ``optimizer``,
``weight_decay``, ``scheduler`` ...) go to training, and all others (``dropout``, ``patch_size``,
``channels`` ...) to the model's constructor. Every trial trains with the study's seed, so trials
differ by their hyperparameters alone. The objective is the best validation accuracy.

The study stores its settings itself (``study.user_attrs["sweep"]``), so other processes and
machines can join it with nothing but its name and storage URL:

    python -m helpers.sweep worker --study vit --storage postgresql://user@host/sweeps --trials 40

``n_trials`` is the total the study should end with, counting finished (COMPLETE or PRUNED)
trials. A worker claims each trial under a lock (a lock file beside a SQLite database, an
advisory lock in PostgreSQL) after counting the finished and running ones, so workers never run
more trials than asked for. While it trains, a worker records a heartbeat; a trial whose
heartbeat stops (its process was killed) is marked FAIL after a grace period and its parameters
are queued again. So a killed sweep resumes where it stopped: no trial is lost, none is counted
twice.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import math
import sys
import threading
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
from .train import TrainingDiverged, fit, seed_everything

__all__ = ["CNN_SPACE", "VIT_SPACE", "PRESETS", "SAMPLERS", "StorageError", "validate_space",
           "preset", "default_storage", "create_study", "optimize", "results_table", "best_config",
           "study_settings", "importances", "plot_best_curves", "plot_parallel", "plot_importances", "main"]

SAMPLERS = ("grid", "random", "tpe")
RANGE_KINDS = ("log", "linear")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

#: A CNN3's training hyperparameters and its dropout. The learning-rate range spans what AdamW
#: (about 1e-3) and SGD with Nesterov momentum (about 1e-2 to 1e-1) each need.
CNN_SPACE = {
    "batch_size": [64, 128, 256],
    "lr": (1e-4, 1e-1, "log"),
    "weight_decay": (1e-5, 1e-1, "log"),
    "dropout": (0.0, 0.6, "linear"),
    "optimizer": ["adamw", "nesterov"],
}

#: A ViT's training hyperparameters and its shape (head_dim and mlp_dim stay fixed).
VIT_SPACE = {
    "batch_size": [128, 256],
    "lr": (1e-4, 3e-3, "log"),
    "weight_decay": (1e-4, 3e-1, "log"),
    "dropout": (0.0, 0.3, "linear"),
    "optimizer": ["adamw"],
    "patch_size": [4, 8],
    "embed_dim": [64, 128, 192],
    "depth": [2, 4, 6],
    "num_heads": [2, 4, 8],
}

#: What ``python -m helpers.sweep worker --space NAME`` and the notebook use, by profile.
#: ``smoke`` shrinks the models and the epochs (seconds on a CPU), not the search space's kind.
PRESETS = {
    "full": {
        "cnn": {"space": CNN_SPACE, "fixed": {"model": "cnn3", "epochs": 6, "scheduler": "cosine"}},
        "vit": {"space": VIT_SPACE, "fixed": {"model": "vit", "epochs": 6, "head_dim": 32, "mlp_dim": 256,
                                              "scheduler": "warmup_cosine", "warmup_epochs": 1}},
    },
    "smoke": {
        "cnn": {"space": CNN_SPACE, "fixed": {"model": "cnn3", "channels": (8, 16), "hidden": 32, "epochs": 3}},
        "vit": {"space": {**VIT_SPACE, "batch_size": [64, 128], "patch_size": [8, 16], "embed_dim": [16, 32],
                          "depth": [1, 2], "num_heads": [1, 2]},
                "fixed": {"model": "vit", "epochs": 3, "head_dim": 8, "mlp_dim": 32}},
    },
}

# Keywords of helpers.train.fit that a space or the fixed settings may set (the rest fit owns).
_FIT_ARGS = set(inspect.signature(fit).parameters) - {
    "model", "train", "val", "checkpoint_dir", "resume", "seed", "progress", "on_epoch_end"}
_HANDLES: "weakref.WeakKeyDictionary[optuna.Study, _Handle]" = weakref.WeakKeyDictionary()


class StorageError(RuntimeError):
    """The study's storage (database) cannot be opened or used."""


# ---------------------------------------------------------------------------------------------
# Search spaces
# ---------------------------------------------------------------------------------------------
def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_space(space: dict, sampler: str | None = None) -> dict:
    """Check a search space; raise a ValueError naming the first bad parameter. Returns ``space``.

    Each value is a list of choices (numbers, strings, booleans or None) or a range
    ``(low, high, "log" | "linear")`` with ``low < high`` (and ``low > 0`` for "log").
    ``sampler="grid"`` also demands lists only: a grid cannot enumerate a range.
    """
    if not isinstance(space, dict) or not space:
        raise ValueError(f"a search space must be a non-empty dict {{parameter: choices or range}}, got {space!r}")
    for name, spec in space.items():
        where = f"search space parameter {name!r}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"search space parameter names must be non-empty strings, got {name!r}")
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"{where} has an empty list of choices: give at least one value, "
                                 f"e.g. {name!r}: [0.1, 0.2]")
            if len(spec) == 3 and spec[2] in RANGE_KINDS and all(map(_is_number, spec[:2])):
                raise ValueError(f"{where}: {spec!r} is a list, so it means three choices; "
                                 f"write a range as a tuple: {tuple(spec)!r}")
            for c in spec:
                if not (c is None or isinstance(c, (bool, int, float, str))):
                    raise ValueError(f"{where}: the choice {c!r} is a {type(c).__name__}; choices must be numbers, "
                                     "strings, booleans or None (put a tuple-valued setting in fixed=)")
            if len({repr(c) for c in spec}) != len(spec):
                raise ValueError(f"{where} repeats a choice in {spec!r}: list each value once")
        elif isinstance(spec, tuple):
            if len(spec) != 3:
                raise ValueError(f"{where}: a range is (low, high, kind) with kind 'log' or 'linear', got {spec!r}")
            low, high, kind = spec
            if kind not in RANGE_KINDS:
                raise ValueError(f"{where}: unknown range kind {kind!r} in {spec!r}; use 'log' or 'linear'")
            if not (_is_number(low) and _is_number(high)):
                raise ValueError(f"{where}: the ends of {spec!r} must be finite numbers")
            if not low < high:
                raise ValueError(f"{where}: low ({low}) must be below high ({high}); for a single value "
                                 f"use a one-element list [{low}] or put it in fixed=")
            if kind == "log" and low <= 0:
                raise ValueError(f"{where}: a log range needs low > 0, got {spec!r}; start at a small "
                                 f"positive value, e.g. ({high / 1000:g}, {high}, 'log'), or use 'linear'")
            if sampler == "grid":
                raise ValueError(f"{where}: the grid sampler needs a list of choices, not the range {spec!r}; "
                                 f"e.g. {name!r}: [{low}, {high}] (or use sampler 'random' or 'tpe')")
        else:
            raise ValueError(f"{where}: {spec!r} is neither a list of choices nor a range "
                             "(low, high, 'log' | 'linear')")
    if sampler is not None and sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    return space


def preset(name: str, profile: str | None = None) -> dict:
    """The ``space`` and ``fixed`` settings of a preset sweep (``cnn`` or ``vit``) for a profile,
    ready for ``create_study(..., **preset("cnn", profile))``."""
    profile = profiles.profile_name(profile)
    if name not in PRESETS[profile]:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS[profile])}")
    p = PRESETS[profile][name]
    return {"space": dict(p["space"]), "fixed": dict(p["fixed"])}


def _split(settings: dict) -> tuple[str, dict, int, dict]:
    """A trial's settings -> (model name, model keywords, batch size, fit keywords)."""
    rest = dict(settings)
    model = rest.pop("model", None)
    batch_size = rest.pop("batch_size", 128)
    fit_kwargs = {k: rest.pop(k) for k in list(rest) if k in _FIT_ARGS}
    return model, rest, batch_size, fit_kwargs


def _check_settings(space: dict, fixed: dict, sampler: str) -> None:
    """Catch mistakes before any training: a bad space, a missing model, a misspelt setting."""
    validate_space(space, sampler)
    both = sorted(set(space) & set(fixed))
    if both:
        raise ValueError(f"{both} are both searched (space) and fixed: keep each setting in one of them")
    names = fixed.get("model") or space.get("model")
    names = names if isinstance(names, list) else [names]
    if names == [None]:
        raise ValueError("say which model to train: fixed={'model': 'cnn3', ...} (a name of helpers.models.MODELS)")
    for name in names:
        if name not in models.MODELS:
            raise ValueError(f"unknown model {name!r}: choose one of {', '.join(models.MODELS)}")
        model_args = set(inspect.signature(models.MODELS[name]).parameters)
        _, model_kw, _, _ = _split({**fixed, **space})
        unknown = sorted(set(model_kw) - model_args)
        if unknown:
            raise ValueError(f"setting(s) {unknown} are neither arguments of helpers.train.fit nor of model "
                             f"{name!r} (which takes {', '.join(sorted(model_args - {'num_classes'}))})")


def _suggest(trial: optuna.Trial, space: dict) -> dict:
    params = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            params[name] = trial.suggest_categorical(name, spec)
        else:
            low, high, kind = spec
            if isinstance(low, int) and isinstance(high, int):
                params[name] = trial.suggest_int(name, low, high, log=kind == "log")
            else:
                params[name] = trial.suggest_float(name, float(low), float(high), log=kind == "log")
    return params


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its ``study.stop()`` at the end of the grid: ``optimize``
    below counts the trials itself, and ``stop`` only works inside ``Study.optimize``."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def _sampler(settings: dict, n_trials_so_far: int) -> optuna.samplers.BaseSampler:
    """A fresh sampler for the next trial. Random and TPE samplers are seeded with the study's seed
    and the trial's index, so one process reproduces a sweep and two workers never share a random
    stream. The grid sampler keeps the study's seed: it fixes the grid's order."""
    kind, seed = settings["sampler"], settings["seed"]
    if kind == "grid":
        return _GridSampler({k: list(v) for k, v in settings["space"].items()}, seed=seed)
    seed = seed * 1_000_003 + n_trials_so_far
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=5, seed=seed)


def _grid_size(space: dict) -> int:
    return math.prod(len(v) for v in space.values())


# ---------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------
def default_storage(name: str, profile: str | None = None) -> str:
    """``sqlite:///<run folder>/sweeps/<name>.db``: a study's default home."""
    folder = profiles.run_dir(profiles.profile_name(profile)) / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / f'{name}.db').resolve()}"


def _shown(url: str) -> str:
    """The URL with any password masked."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _hint(url: str) -> str:
    try:
        backend = sqlalchemy.engine.make_url(url).get_backend_name()
    except Exception:
        backend = ""
    if backend == "sqlite":
        return "that the folder of the database file exists and is writable"
    if backend == "postgresql":
        return ("that the server runs and listens on that host and port (pg_isready -h HOST -p PORT), that the "
                "database exists (createdb NAME) and the user may log in, and that a driver is installed "
                "(pip install psycopg2-binary)")
    return ("the URL: it has the form dialect+driver://user:password@host:port/database, e.g. "
            "sqlite:///path/to/sweep.db or postgresql://user@host:5432/sweeps")


@contextlib.contextmanager
def _storage_errors(url: str):
    """Turn a database error into a StorageError naming the URL and what to check."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, ImportError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise StorageError(f"cannot use the sweep storage {_shown(url)}: {type(e).__name__}: {first}. "
                           f"Check {_hint(url)}.") from e


def _with_driver(url: str) -> "sqlalchemy.engine.URL":
    """The URL, with PostgreSQL's driver named as psycopg2 when only that one is installed
    (SQLAlchemy 2.1 takes a bare ``postgresql://`` to mean psycopg 3)."""
    u = sqlalchemy.engine.make_url(url)
    if u.drivername == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            try:
                import psycopg2  # noqa: F401
                u = u.set(drivername="postgresql+psycopg2")
            except ImportError:
                pass
    return u


class _Lock:
    """Serialises claiming trials (and creating tables) among all processes using one storage:
    an exclusive lock on ``<database>.lock`` for SQLite, a session advisory lock for PostgreSQL.
    A killed process releases it (the OS closes the file, the server the connection)."""

    KEY = zlib.crc32(b"helpers.sweep")

    def __init__(self, url: str):
        u = _with_driver(url)
        self.backend, self.path, self.engine = u.get_backend_name(), None, None
        if self.backend == "sqlite" and u.database and u.database != ":memory:":
            self.path = Path(u.database).with_name(Path(u.database).name + ".lock")
        elif self.backend == "postgresql":
            self.engine = sqlalchemy.create_engine(u, poolclass=sqlalchemy.pool.NullPool,
                                                   connect_args={"connect_timeout": 10})

    @contextlib.contextmanager
    def __call__(self):
        if self.path is not None:
            try:
                import fcntl
            except ImportError:       # Windows: one worker per SQLite file is safe without it
                yield
                return
            with open(self.path, "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
        elif self.engine is not None:
            with self.engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.KEY})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.KEY})
                    conn.commit()
        else:
            yield


class _Handle:
    """A study's storage, lock and heartbeat settings."""

    def __init__(self, url: str, heartbeat: int, grace: int | None):
        if not isinstance(heartbeat, int) or heartbeat < 1:
            raise ValueError(f"heartbeat must be a whole number of seconds >= 1, got {heartbeat!r}")
        self.url, self.heartbeat = url, heartbeat
        self.grace = grace if grace is not None else max(3 * heartbeat, 10)
        backend = sqlalchemy.engine.make_url(url).get_backend_name()
        engine_kwargs = ({"connect_args": {"timeout": 60}} if backend == "sqlite" else
                         {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
                         if backend == "postgresql" else {})
        self.lock = _Lock(url)
        with self.lock(), _quiet():
            self.rdb = optuna.storages.RDBStorage(
                _with_driver(url).render_as_string(hide_password=False), engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat, grace_period=self.grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
        if self.lock.path is None and self.lock.engine is None:
            warnings.warn(f"helpers.sweep has no lock for {backend} storages: with several workers a study "
                          "may end with a few more trials than asked for", stacklevel=3)


@contextlib.contextmanager
def _quiet():
    """Hide Optuna's notes that its heartbeat is experimental and meant for ``Study.optimize``:
    ``optimize`` below runs the heartbeat itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
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
    if space is not None:
        _check_settings(space, dict(fixed or {}), sampler or "tpe")
    elif fresh:
        raise ValueError("fresh=True deletes the study and makes it anew: give its space (and fixed settings) too")
    url = storage or default_storage(name, profile)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _storage_errors(url):
        handle = _Handle(url, heartbeat, grace)
        with handle.lock():
            exists = name in optuna.get_all_study_names(handle.rdb)
            if fresh and exists:
                optuna.delete_study(study_name=name, storage=handle.rdb)
            elif not exists and space is None:
                raise ValueError(f"there is no study {name!r} in {_shown(url)} yet: give its space (and fixed "
                                 "settings, sampler, seed) to create it (on the command line: --space)")
            study = optuna.create_study(study_name=name, storage=handle.rdb, direction="maximize",
                                        load_if_exists=True)
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
    study.pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1) if settings["prune"]
                    else optuna.pruners.NopPruner())
    _HANDLES[study] = handle
    return study


def _fingerprint(train: ImageSet, val: ImageSet) -> str:
    crc = zlib.crc32(val.labels.numpy().tobytes())
    crc = zlib.crc32(train.images[:256].numpy().tobytes(), crc)
    return f"train {train.name} ({len(train)} images), val {val.name} ({len(val)} images), crc {crc:08x}"


class _Objective:
    """Train one trial's model on ``train``, watching ``val``; return its best validation accuracy."""

    def __init__(self, settings: dict, train: ImageSet, val: ImageSet, device):
        self.settings, self.train, self.device = settings, train, device
        self.mean, self.std = train.channel_stats()           # normalisation from the training set only
        self.val = Batches(val, 512, device=device, mean=self.mean, std=self.std)

    def __call__(self, trial: optuna.Trial) -> float:
        seed = self.settings["seed"]
        params = _suggest(trial, self.settings["space"])
        model_name, model_kw, batch_size, fit_kw = _split({**self.settings["fixed"], **params})
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


def _beat(rdb, trial_id: int, stop: threading.Event, interval: int) -> None:
    """Record a running trial's heartbeat every ``interval`` seconds until ``stop`` is set."""
    while not stop.wait(interval):
        try:
            rdb.record_heartbeat(trial_id)
        except Exception:   # a missed beat is retried next time; the grace period spans several beats
            pass
    rdb.remove_session()


def _describe(t: optuna.trial.FrozenTrial) -> str:
    curve = t.user_attrs.get("val_acc", [])
    best = max([a for a in curve if math.isfinite(a)], default=float("nan"))
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
    secs = t.duration.total_seconds() if t.duration else float("nan")
    return (f"trial {t.number:3d} {t.state.name.lower():8s} val acc {best:.3f} "
            f"({len(curve)} ep, {secs:5.1f} s)  {params}")


def _run_trial(study: optuna.Study, trial: optuna.Trial, objective: _Objective, handle: _Handle,
               verbose: bool) -> None:
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(handle.rdb, trial._trial_id, stop, handle.heartbeat), daemon=True)
    beat.start()
    state, value = TrialState.COMPLETE, None
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except BaseException:           # a bug, or Ctrl-C: record the trial as failed, then stop
        stop.set()
        beat.join()
        with contextlib.suppress(Exception):
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    stop.set()
    beat.join()
    with _storage_errors(handle.url):
        try:
            frozen = study.tell(trial, value, state=state, skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:    # failed by another worker meanwhile
            frozen = study._storage.get_trial(trial._trial_id)
    if frozen.state != state:
        print(f"trial {trial.number}: another worker had marked it {frozen.state.name} (no heartbeat for "
              f"{handle.grace} s); its result is dropped and it runs again. Raise the grace period if "
              "workers are so busy that their heartbeats come late.", file=sys.stderr)
    elif verbose:
        print(_describe(frozen), flush=True)


def _claim(study: optuna.Study, handle: _Handle) -> optuna.Trial:
    """Start the next trial (under the lock). Its heartbeat is recorded *before* it turns RUNNING:
    ``study.ask`` runs the first WAITING trial (a rerun), else we queue an empty one to be asked for.
    A worker killed in between leaves a WAITING trial that the next claim takes up; a RUNNING trial
    without a heartbeat, which Optuna would never find stale, cannot arise."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if not waiting:
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    handle.rdb.record_heartbeat(waiting[0]._trial_id)
    trial = study.ask()
    if trial._trial_id != waiting[0]._trial_id:           # not expected under the lock; keep it alive anyway
        handle.rdb.record_heartbeat(trial._trial_id)
    return trial


def optimize(study: optuna.Study, train: ImageSet, val: ImageSet, n_trials: int | None = None, *,
             device: str = "auto", timeout: float | None = None, verbose: bool = True) -> optuna.Study:
    """Run trials of ``study`` until it holds ``n_trials`` finished (COMPLETE or PRUNED) trials.

    Trials already finished, by this or any other process, count: a resumed sweep runs only the
    missing ones. Trials running in other processes count too; when no trial is left to claim this
    waits until they finish, or, if their worker died, until they go stale and can be rerun. A
    grid study runs each grid point once at most (``n_trials=None``: the whole grid). With
    ``timeout`` (seconds), no trial is started, and no waiting done, after that time. Prints one
    line per trial unless ``verbose`` is false. Returns the study.
    """
    handle = _HANDLES.get(study)
    if handle is None:
        raise ValueError("optimize needs a study made (or loaded) by helpers.sweep.create_study")
    settings = study_settings(study)
    if n_trials is None and settings["sampler"] == "grid":
        n_trials = _grid_size(settings["space"])
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer (the total the study should hold), got {n_trials!r}"
                         + ("" if n_trials is not None else "; only a grid study knows its size by itself"))
    if settings["sampler"] == "grid" and n_trials > _grid_size(settings["space"]):
        if verbose:
            print(f"the grid has {_grid_size(settings['space'])} points: running those, not {n_trials} trials")
        n_trials = _grid_size(settings["space"])
    fingerprint = _fingerprint(train, val)
    with _storage_errors(handle.url):
        with handle.lock():
            stored = study.user_attrs.get("data")
            if stored is None:
                study.set_user_attr("data", fingerprint)
            elif stored != fingerprint:
                raise ValueError(f"study {study.study_name!r} was trained on other data ({stored}) than given "
                                 f"({fingerprint}): use the same data and split, or another study")
    objective = _Objective(settings, train, val, resolve_device(device))
    told_waiting, ran, t0 = False, 0, time.monotonic()
    while True:
        if timeout is not None and time.monotonic() - t0 > timeout:
            if verbose:
                print(f"{study.study_name}: stopped after the timeout of {timeout:g} s")
            return study
        with _storage_errors(handle.url):
            with handle.lock(), _quiet():
                optuna.storages.fail_stale_trials(study)     # dead workers' trials: FAIL, queued again
                trials = study.get_trials(deepcopy=False)
                done = sum(t.state in FINISHED for t in trials)
                running = [t.number for t in trials if t.state == TrialState.RUNNING]
                trial = None
                if done < n_trials and done + len(running) < n_trials:
                    study.sampler = _sampler(settings, len(trials))
                    trial = _claim(study, handle)
        if done >= n_trials:
            if verbose and ran == 0:
                print(f"{study.study_name}: {done} finished trials already, none left to run")
            return study
        if trial is None:
            if verbose and not told_waiting:
                print(f"waiting for trial(s) {running}, running elsewhere (or stale after {handle.grace} s)",
                      flush=True)
                told_waiting = True
            time.sleep(handle.heartbeat)
            continue
        _run_trial(study, trial, objective, handle, verbose)
        ran += 1


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
    model, model_kw, batch_size, fit_kw = _split({**settings["fixed"], **best.params})
    return {"study": study.study_name, "trial": best.number, "val_acc": best.value, "model": model,
            "model_kwargs": model_kw, "batch_size": batch_size, "fit": fit_kw, "params": dict(best.params)}


def importances(study: optuna.Study, seed: int = 0) -> dict[str, float]:
    """Each parameter's share of the variation of validation accuracy (fANOVA, seeded),
    largest first. Needs at least two completed trials."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < 2:
        raise ValueError(f"parameter importances need at least two completed trials, study "
                         f"{study.study_name!r} has {len(complete)}")
    with _quiet():
        return optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))


def plot_best_curves(study: optuna.Study, top: int = 30):
    """Validation accuracy per epoch of the ``top`` best completed trials (the best in yellow),
    with pruned trials as thin grey lines where they stopped."""
    import matplotlib.pyplot as plt

    trials = study.get_trials(deepcopy=False)
    best = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value, reverse=True)[:top]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    for i, t in enumerate(pruned):
        curve = t.user_attrs.get("val_acc", [])
        ax.plot(range(1, len(curve) + 1), curve, color="0.6", lw=0.8, alpha=0.7, marker="x", ms=3,
                label="pruned" if i == 0 else None)
    cmap = plt.get_cmap("viridis")
    for rank, t in reversed(list(enumerate(best))):
        curve = t.user_attrs.get("val_acc", [])
        ax.plot(range(1, len(curve) + 1), curve, color=cmap(1 - rank / max(1, len(best) - 1)),
                lw=2.2 if rank == 0 else 1.0, label=f"trial {t.number}: {t.value:.3f}" if rank < 3 else None)
    ax.set(xlabel="epoch", ylabel="validation accuracy",
           title=f"{study.study_name}: the best {len(best)} trials' validation curves")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    handles, labels = ax.get_legend_handles_labels()       # the best trial first, "pruned" last
    order = sorted(range(len(labels)), key=lambda i: (labels[i] == "pruned", -float(labels[i].split()[-1] or 0)
                                                      if labels[i] != "pruned" else 0))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_parallel(study: optuna.Study):
    """Optuna's parallel-coordinate plot of the completed trials: one line per trial through its
    parameter values (those that varied), coloured by validation accuracy."""
    import matplotlib.pyplot as plt

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    varied = [k for k in study_settings(study)["space"]           # a parameter that never varied has no axis
              if len({repr(t.params.get(k)) for t in complete}) > 1]
    with _quiet():
        ax = optuna.visualization.matplotlib.plot_parallel_coordinate(study, params=varied or None,
                                                                      target_name="val acc")
    fig = ax.figure
    fig.set_size_inches(8, 3.6)
    ax.set_title(f"{study.study_name}: parallel coordinates (completed trials)")
    plt.tight_layout()
    return fig


def plot_importances(study: optuna.Study, seed: int = 0):
    """Horizontal bars of ``importances(study)``."""
    import matplotlib.pyplot as plt

    imp = importances(study, seed)
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(imp) + 1.2))
    names = list(imp)[::-1]
    ax.barh(names, [imp[n] for n in names], color="tab:blue")
    ax.set(xlabel="importance (share of the variance of val acc, fANOVA)",
           title=f"{study.study_name}: parameter importances")
    fig.tight_layout()
    return fig


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
    if profile == "full" and generated:
        raise ValueError("a full-profile worker needs the real CIFAR-10: give --data-dir with "
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
