"""Result records: one JSON file per experiment, read back by later notebooks and the report.

Records live in ``runs/<profile>/results/<name>.json`` (``profiles.run_dir``) and are
written atomically. Each carries its profile, device and date, so a number never
travels without saying where it came from.
"""
from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path

import torch

from . import profiles
from .train import save_atomic

__all__ = ["save", "load", "load_all", "results_dir"]


def results_dir(profile: str) -> Path:
    return profiles.run_dir(profile) / "results"


def _plain(value):
    """Tensors and other numeric objects as JSON-friendly Python values."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def save(name: str, record: dict, profile: str) -> Path:
    """Write ``record`` as ``results/<name>.json`` (atomically), adding where it came from."""
    if not name or "/" in name:
        raise ValueError(f"a result name must be a plain file name, got {name!r}")
    meta = {"name": name, "profile": profiles.profile_name(profile),
            "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "torch": torch.__version__, "host": platform.node()}
    full = {**meta, **_plain(record)}
    return save_atomic(json.dumps(full, indent=1, allow_nan=True).encode(),
                       results_dir(profile) / f"{name}.json")


def load(name: str, profile: str) -> dict | None:
    """The record saved under ``name``, or ``None`` if there is none."""
    path = results_dir(profile) / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def load_all(profile: str) -> dict[str, dict]:
    """Every record of a profile, by name."""
    folder = results_dir(profile)
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
