"""Run profiles: one switch that sets every notebook's defaults.

A notebook's first code cell (tagged ``parameters``) holds its knobs. Each knob
that is left at ``None`` takes the value of the chosen profile:

* ``smoke``: seconds on a laptop CPU, on small generated data. It checks that
  everything runs; its numbers are not results.
* ``full``: the real experiment on the real data.

Explicit values always win over the profile. The profile itself, when the
notebook leaves it at ``None``, comes from the environment variable
``COURSE_PROFILE`` (the test suite sets it to ``smoke``), else ``full``.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

PROFILES = ("smoke", "full")
ENV_VAR = "COURSE_PROFILE"
REPO_ROOT = Path(__file__).resolve().parents[1]


def profile_name(profile: str | None = None) -> str:
    """The profile to use: ``profile`` if given, else ``$COURSE_PROFILE``, else ``full``."""
    name = profile if profile is not None else os.environ.get(ENV_VAR) or "full"
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}"
            + (f" (it came from ${ENV_VAR})" if profile is None else "")
        )
    return name


def resolve(profile: str | None, defaults: dict[str, dict], **explicit) -> SimpleNamespace:
    """Merge a profile's defaults with the values a user set explicitly.

    ``defaults`` maps each profile name to a dict of knob values. A keyword in
    ``explicit`` whose value is not ``None`` wins; ``None`` means "use the
    profile's default". Knobs that only one profile names are an error, so a
    typo cannot silently fall back to a default.

    >>> cfg = resolve("smoke", {"smoke": {"epochs": 1}, "full": {"epochs": 30}}, epochs=None)
    >>> cfg.profile, cfg.epochs
    ('smoke', 1)
    """
    name = profile_name(profile)
    missing = [p for p in PROFILES if p not in defaults]
    if missing:
        raise ValueError(f"defaults name no values for profile(s) {missing}")
    keys = set(defaults[PROFILES[0]])
    for p in PROFILES[1:]:
        if set(defaults[p]) != keys:
            raise ValueError(
                f"profiles disagree on their knobs: {sorted(keys ^ set(defaults[p]))}"
            )
    unknown = sorted(set(explicit) - keys)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: {sorted(keys)}")
    values = dict(defaults[name])
    values.update({k: v for k, v in explicit.items() if v is not None})
    return SimpleNamespace(profile=name, **values)


def run_dir(profile: str) -> Path:
    """Where a profile's checkpoints, results and figures go: ``runs/<profile>/``.

    ``$COURSE_RUN_DIR`` overrides the folder (the runner and the tests set it).
    """
    base = os.environ.get("COURSE_RUN_DIR")
    path = Path(base) if base else REPO_ROOT / "runs" / profile_name(profile)
    path.mkdir(parents=True, exist_ok=True)
    return path
