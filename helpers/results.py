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
from .files import save_atomic

__all__ = ["save", "read", "read_all", "read_record", "results_dir", "RecordError"]


class RecordError(ValueError):
    """A result record that is not valid JSON or not shaped as the readers expect; the message names it."""


_NUMBER = (int, float)
#: the keys that notebooks and the report read, and the JSON types they must have where present
_TYPES = {"test_acc": _NUMBER + (type(None),), "best_val_acc": _NUMBER + (type(None),), "seconds": _NUMBER,
          "parameters": int, "device": str, "model": (dict, type(None)), "config": (dict, type(None)),
          "rows": list, "ablation": list, "histories": list, "notebooks": list, "total_seconds": _NUMBER}


def read_record(path: str | Path) -> dict:
    """The record in the JSON file ``path``, checked: a damaged or ill-formed file gives a
    ``RecordError`` naming the file, the key and what to do, not a bare ``JSONDecodeError``."""
    path = Path(path)
    fix = "Delete it and rerun the notebook that writes it (its number starts the file name)."
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"result record {path} is not valid JSON ({e}): it is damaged. {fix}") from None
    if not isinstance(record, dict):
        raise RecordError(f"result record {path} holds a JSON {type(record).__name__}, not an object. {fix}")
    for key, types in _TYPES.items():
        value = record.get(key)
        if key in record and (not isinstance(value, types) or isinstance(value, bool)):
            raise RecordError(f"result record {path}: {key!r} is {value!r} ({type(value).__name__}), expected "
                              f"{' or '.join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__}. {fix}")
    for key in ("rows", "ablation", "notebooks", "histories"):
        bad = [i for i, row in enumerate(record.get(key) or []) if not isinstance(row, dict)]
        if bad:
            raise RecordError(f"result record {path}: {key!r} item {bad[0]} is not an object. {fix}")
    for i, nb in enumerate(record.get("notebooks") or []):     # the run summary's notebook entries
        missing = [k for k in ("notebook", "status", "seconds") if k not in nb]
        wrong = [k for k, t in (("notebook", str), ("status", str), ("seconds", _NUMBER), ("data", str),
                                ("device", str)) if k in nb and nb[k] is not None and not isinstance(nb[k], t)]
        if missing or wrong:
            raise RecordError(f"result record {path}: notebook entry {i} "
                              + (f"lacks {missing}" if missing else f"has a {wrong[0]!r} of the wrong type") + f". {fix}")
    return record


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


def read(name: str, profile: str) -> dict | None:
    """The record saved under ``name``, or ``None`` if there is none."""
    path = results_dir(profile) / f"{name}.json"
    return read_record(path) if path.is_file() else None


def read_all(profile: str) -> dict[str, dict]:
    """Every record of a profile, by name."""
    folder = results_dir(profile)
    return {p.stem: read_record(p) for p in sorted(folder.glob("*.json"))}
