"""Search spaces for hyperparameter sweeps, as plain dicts, and how a trial's settings reach the
model and the training loop.

A space maps each parameter to a **list** of choices (categorical; the grid sampler makes each list
one axis of its grid) or to a **range** ``(low, high, "log" | "linear")`` (integers when both ends
are integers). ``fixed`` holds the settings all trials share. A trial's settings (fixed, then
sampled) are routed by name: ``model`` names the model (``helpers.models.build``), ``batch_size``
the batch size, the keywords of ``helpers.training.fit`` (``epochs``, ``lr``, ``optimizer``,
``weight_decay``, ``scheduler`` ...) go to training, and all others (``dropout``, ``patch_size``,
``channels`` ...) to the model's constructor.
"""
from __future__ import annotations

import inspect
import math

import optuna

from . import models, profiles
from .training import fit

SAMPLERS = ("grid", "random", "tpe")
RANGE_KINDS = ("log", "linear")

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
#: ``smoke`` shrinks the models and the epochs (seconds on a CPU), ``quick`` the epochs, not the search space's kind.
PRESETS = {
    "full": {
        "cnn": {"space": CNN_SPACE, "fixed": {"model": "cnn3", "epochs": 6, "scheduler": "cosine"}},
        "vit": {"space": VIT_SPACE, "fixed": {"model": "vit", "epochs": 6, "head_dim": 32, "mlp_dim": 256,
                                              "scheduler": "warmup_cosine", "warmup_epochs": 1}},
    },
    "quick": {    # the full models, two epochs a trial
        "cnn": {"space": CNN_SPACE, "fixed": {"model": "cnn3", "epochs": 2, "scheduler": "cosine"}},
        "vit": {"space": VIT_SPACE, "fixed": {"model": "vit", "epochs": 2, "head_dim": 32, "mlp_dim": 256,
                                              "scheduler": "warmup_cosine", "warmup_epochs": 0.5}},
    },
    "smoke": {
        "cnn": {"space": CNN_SPACE, "fixed": {"model": "cnn3", "channels": (8, 16), "hidden": 32, "epochs": 3}},
        "vit": {"space": {**VIT_SPACE, "batch_size": [64, 128], "patch_size": [8, 16], "embed_dim": [16, 32],
                          "depth": [1, 2], "num_heads": [1, 2]},
                "fixed": {"model": "vit", "epochs": 3, "head_dim": 8, "mlp_dim": 32}},
    },
}

# Keywords of helpers.training.fit that a space or the fixed settings may set (the rest fit owns).
FIT_ARGS = set(inspect.signature(fit).parameters) - {
    "model", "train", "val", "checkpoint_dir", "resume", "seed", "progress", "on_epoch_end"}



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


def route(settings: dict) -> tuple[str, dict, int, dict]:
    """A trial's settings -> (model name, model keywords, batch size, fit keywords)."""
    rest = dict(settings)
    model = rest.pop("model", None)
    batch_size = rest.pop("batch_size", 128)
    fit_kwargs = {k: rest.pop(k) for k in list(rest) if k in FIT_ARGS}
    return model, rest, batch_size, fit_kwargs


def check_settings(space: dict, fixed: dict, sampler: str) -> None:
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
        _, model_kw, _, _ = route({**fixed, **space})
        unknown = sorted(set(model_kw) - model_args)
        if unknown:
            raise ValueError(f"setting(s) {unknown} are neither arguments of helpers.training.fit nor of model "
                             f"{name!r} (which takes {', '.join(sorted(model_args - {'num_classes'}))})")


def suggest(trial: optuna.Trial, space: dict) -> dict:
    """Ask ``trial`` for a value of each parameter of ``space``."""
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


def grid_size(space: dict) -> int:
    """The number of points of a grid over ``space`` (lists only)."""
    return math.prod(len(v) for v in space.values())
