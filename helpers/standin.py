"""Generated stand-in data in the standard on-disk formats, for the smoke profile and the tests.

``make_standin(root)`` writes small CIFAR-10, CIFAR-100 and STL-10 look-alikes (class-dependent
stripes and tints under noise: learnable above chance within a few steps) in the layouts that
``helpers.data.load`` reads, CIFAR pickles in Python 2's format as the originals are, and marks the
folder with ``STANDIN.json`` (``is_standin``), so that nothing mistakes it for real data.
"""
from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np

from .files import save_atomic

_CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def _patterns(labels: np.ndarray, num_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Images whose class shows in a stripe orientation and a faint tint, under random colour and
    strong noise: learnable above chance within a few steps, but not trivially."""
    n = len(labels)
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = np.pi * labels / num_classes + rng.normal(0, 0.2, n)
    freq = 2 + (labels % 3) + rng.normal(0, 0.3, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    wave = np.sin(2 * np.pi * freq[:, None, None] * (np.cos(angle)[:, None, None] * xx
                                                     + np.sin(angle)[:, None, None] * yy) + phase[:, None, None])
    hue = 2 * np.pi * ((labels * 7) % num_classes) / num_classes
    tint = np.stack([np.cos(hue), np.cos(hue - 2.1), np.cos(hue + 2.1)], 1)       # [n, 3], by class
    colour = 20 * tint + rng.normal(0, 25, (n, 3))                                 # plus a random cast
    img = 128 + colour[:, :, None, None] + 40 * wave[:, None] + rng.normal(0, 40, (n, 3, size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


class _Py2Str(bytes):
    """A byte string that pickles as a Python 2 ``str``, as in the original CIFAR files: it loads
    as ``bytes`` with ``encoding='bytes'`` and as ``str`` with ``encoding='latin1'``."""


class _Py2Pickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2str(self, obj):
        n = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else
                    pickle.BINSTRING + n.to_bytes(4, "little")) + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = _save_py2str


def _py2(obj):
    """Mark every bytes object inside dicts and lists as a Python 2 string."""
    if isinstance(obj, bytes):
        return _Py2Str(obj)
    if isinstance(obj, dict):
        return {_py2(k): _py2(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_py2(v) for v in obj]
    return obj


def _write_pickle(path: Path, obj) -> None:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(_py2(obj))
    save_atomic(buf.getvalue(), path)


def make_standin(root: str | Path, datasets=("cifar10", "cifar100", "stl10"),
                 train_per_class: int = 60, test_per_class: int = 20, seed: int = 0) -> Path:
    """Write small generated datasets in the standard on-disk layouts under ``root``.

    Every class gets a recognisable colour and stripe pattern with noise, so a
    model learns them above chance in a few steps. ``helpers.data``'s readers read them
    exactly as they read the real files (and so does torchvision).
    """
    from .data import DATASETS          # here, not above: helpers.data imports this module
    root = Path(root)
    rng = np.random.default_rng(seed)
    for name in datasets:
        folder = root / DATASETS[name].folder
        folder.mkdir(parents=True, exist_ok=True)
        if name == "cifar10":
            for split, files in DATASETS[name].files.items():
                per = train_per_class if split == "train" else test_per_class
                y = rng.permutation(np.repeat(np.arange(10), per))
                x = _patterns(y, 10, 32, rng).reshape(len(y), -1)
                for i, part in enumerate(np.array_split(np.arange(len(y)), len(files))):
                    _write_pickle(folder / files[i], {
                        b"batch_label": b"generated stand-in", b"labels": y[part].tolist(),
                        b"data": x[part], b"filenames": [b"standin_%05d.png" % j for j in part]})
            _write_pickle(folder / "batches.meta", {b"label_names": [c.encode() for c in _CIFAR10_CLASSES],
                                                    b"num_cases_per_batch": 10000, b"num_vis": 3072})
        elif name == "cifar100":
            fine = [f"class_{i:02d}" for i in range(100)]
            coarse_names = [f"superclass_{i:02d}" for i in range(20)]
            coarse_of = rng.permutation(np.repeat(np.arange(20), 5))
            for split in ("train", "test"):
                per = max(2, (train_per_class if split == "train" else test_per_class) // 5)
                y = rng.permutation(np.repeat(np.arange(100), per))
                x = _patterns(y, 100, 32, rng).reshape(len(y), -1)
                _write_pickle(folder / split, {
                    b"batch_label": b"generated stand-in", b"fine_labels": y.tolist(),
                    b"coarse_labels": coarse_of[y].tolist(), b"data": x,
                    b"filenames": [b"standin_%05d.png" % j for j in range(len(y))]})
            _write_pickle(folder / "meta", {b"fine_label_names": [c.encode() for c in fine],
                                            b"coarse_label_names": [c.encode() for c in coarse_names]})
        elif name == "stl10":
            for split in ("train", "test"):
                per = max(4, (train_per_class if split == "train" else test_per_class) // 3)
                y = rng.permutation(np.repeat(np.arange(10), per))
                # drawn at 32x32 and upscaled 3x: smaller files, and it still needs the 96x96 path
                x = _patterns(y, 10, 32, rng).repeat(3, axis=2).repeat(3, axis=3)   # [N, 3, 96, 96]
                save_atomic(x.transpose(0, 1, 3, 2).tobytes(), folder / f"{split}_X.bin")
                save_atomic((y + 1).astype(np.uint8).tobytes(), folder / f"{split}_y.bin")
            save_atomic(("\n".join(_STL10_CLASSES) + "\n").encode(), folder / "class_names.txt")
        else:
            raise ValueError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    save_atomic(json.dumps({"generated": True, "seed": seed, "datasets": list(datasets)}).encode(),
                root / "STANDIN.json")
    return root


def is_standin(root: str | Path) -> bool:
    """Whether ``root`` holds generated stand-in data rather than real data."""
    return (Path(root) / "STANDIN.json").is_file()
