"""Datasets on disk, in memory and on the device: the one data path of the course.

    load(name, root, split)          -> ImageSet (uint8 images [N,C,H,W], int64 labels, class names)
    splits(name, root, seed)         -> train / val / test ImageSets (CIFAR-10: 40k / 10k / 10k)
    Batches(imageset, batch_size, shuffle, augment, device)
                                     -> the whole set on the device as uint8; every batch is indexed,
                                        augmented as one tensor op, normalised on the device

Readers understand the standard torchvision layouts ``cifar-10-batches-py/``,
``cifar-100-python/`` and ``stl10_binary/``. Their pickles are read with a
restricted unpickler that admits only what the format needs.
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import profiles

__all__ = [
    "DatasetError", "ImageSet", "load", "splits", "Batches", "resolve_device",
    "read_pickle", "make_standin", "find_data", "DataSource", "DATASETS",
]


class DatasetError(RuntimeError):
    """A dataset is missing, damaged or not in the expected format."""


# ---------------------------------------------------------------------------------------------
# What each dataset looks like on disk (file names and official MD5s, as torchvision lists them)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Layout:
    folder: str
    files: dict[str, tuple[str, ...]]   # split -> file names
    meta: str
    md5: dict[str, str]
    archive: str                         # what torchvision downloads
    source: str                          # where a user gets it by hand


DATASETS = {
    "cifar10": _Layout(
        folder="cifar-10-batches-py",
        files={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        meta="batches.meta",
        md5={"data_batch_1": "c99cafc152244af753f735de768cd75f",
             "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
             "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
             "data_batch_4": "634d18415352ddfa80567beed471001a",
             "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
             "test_batch": "40351d587109b95175f43aff81a1287e",
             "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"},
        archive="cifar-10-python.tar.gz",
        source="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "cifar100": _Layout(
        folder="cifar-100-python",
        files={"train": ("train",), "test": ("test",)},
        meta="meta",
        md5={"train": "16019d7e3df5f24257cddd939b257f8d",
             "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
             "meta": "7973b15100ade9c7d40fb424638fde48"},
        archive="cifar-100-python.tar.gz",
        source="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "stl10": _Layout(
        folder="stl10_binary",
        files={"train": ("train_X.bin", "train_y.bin"), "test": ("test_X.bin", "test_y.bin")},
        meta="class_names.txt",
        md5={"train_X.bin": "918c2871b30a85fa023e0c44e0bee87f",
             "train_y.bin": "5a34089d4802c674881badbb80307741",
             "test_X.bin": "7f263ba9f9e0b06b93213547f721ac82",
             "test_y.bin": "36f9794fa4beb8a2c72628de14fa638e"},
        archive="stl10_binary.tar.gz",
        source="https://cs.stanford.edu/~acoates/stl10/",
    ),
}

#: The five-class STL-10 subset of the course (fine-tuning target).
STL10_SUBSET = ("car", "deer", "horse", "monkey", "truck")


# ---------------------------------------------------------------------------------------------
# Restricted unpickling
# ---------------------------------------------------------------------------------------------
def _allowed_globals() -> dict[tuple[str, str], object]:
    core = getattr(np, "_core", None) or np.core   # numpy 2 moved numpy.core to numpy._core
    reconstruct = core.multiarray._reconstruct
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): __import__("codecs").encode,   # how protocol 2 stores bytes
    }


class _SafeUnpickler(pickle.Unpickler):
    """Admits dicts, lists, strings, bytes, numbers and numpy arrays; refuses anything else."""

    def find_class(self, module, name):
        allowed = _allowed_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(
            f"refused to load {module}.{name}: a dataset pickle may hold only dicts, lists, "
            "strings, numbers and numpy arrays, so this file is not a dataset file "
            "(it may be malicious); nothing in it was run"
        )


def read_pickle(path: str | Path) -> dict:
    """Read a CIFAR-style pickle safely; keys come back as ``str``.

    Raises ``DatasetError`` naming the file if it is truncated, malformed, or
    tries to load anything but plain data.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as e:
        if "refused to load" in str(e):
            raise DatasetError(f"{path}: {e}") from None
        raise DatasetError(f"{path} is truncated or malformed ({e}); replace it with a fresh copy") from None
    except (EOFError, ValueError, TypeError, IndexError, AttributeError, KeyError) as e:
        raise DatasetError(
            f"{path} is truncated or malformed ({type(e).__name__}: {e}); "
            "delete it and download or write it again"
        ) from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} holds a {type(obj).__name__}, expected a dict of arrays")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _field(d: dict, key: str, path: Path):
    if key not in d:
        raise DatasetError(f"{path} has no '{key}' entry (it has {sorted(d)}); is it the right file?")
    return d[key]


def _names(values) -> list[str]:
    return [v.decode("latin1") if isinstance(v, bytes) else str(v) for v in values]


# ---------------------------------------------------------------------------------------------
# ImageSet
# ---------------------------------------------------------------------------------------------
def _check_labels(labels: torch.Tensor, names, what: str, names_what: str) -> None:
    """Every label must name one of ``names``: 0 <= label < len(names)."""
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise ValueError(f"{what} range over {int(labels.min())}..{int(labels.max())}, but {names_what} names "
                         f"{len(names)} (labels 0..{len(names) - 1}): the labels or the list of names are wrong")


@dataclass
class ImageSet:
    """Images and labels held in memory.

    ``images`` is uint8 ``[N, C, H, W]``, ``labels`` int64 ``[N]``; ``classes``
    names each label. CIFAR-100 also has ``coarse_labels``/``coarse_classes``
    (its 20 superclasses).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str = ""
    coarse_labels: torch.Tensor | None = None
    coarse_classes: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 [N,C,H,W], got {self.images.dtype} "
                             f"{list(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be [N]={self.images.shape[0]}, got {list(self.labels.shape)}")
        self.labels = self.labels.long()
        where = f" in {self.name}" if self.name else ""
        _check_labels(self.labels, self.classes, f"labels{where}", "classes")
        if (self.coarse_labels is None) != (self.coarse_classes is None):
            raise ValueError(f"coarse_labels and coarse_classes{where} go together: give both or neither")
        if self.coarse_labels is not None:
            if self.coarse_labels.shape != self.labels.shape:
                raise ValueError(f"coarse_labels{where} must be one per image ([N]={len(self.labels)}), "
                                 f"got {list(self.coarse_labels.shape)}")
            self.coarse_labels = self.coarse_labels.long()
            _check_labels(self.coarse_labels, self.coarse_classes, f"coarse_labels{where}", "coarse_classes")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        return (f"ImageSet({self.name!r}, {len(self)} images {list(self.images.shape[1:])}, "
                f"{len(self.classes)} classes)")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices, name: str | None = None) -> "ImageSet":
        """The images at ``indices`` (a tensor, list or boolean mask), in that order."""
        idx = torch.as_tensor(indices)
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()
        idx = idx.long()
        return replace(
            self, images=self.images[idx], labels=self.labels[idx], name=name or self.name,
            coarse_labels=None if self.coarse_labels is None else self.coarse_labels[idx],
            notes=list(self.notes),
        )

    def split(self, fraction: float, seed: int = 0, names=("train", "val")) -> tuple["ImageSet", "ImageSet"]:
        """Split off ``fraction`` of every class (stratified, seeded) as the second set."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
        g = torch.Generator().manual_seed(seed)
        first, second = [], []
        for c in range(self.num_classes):
            idx = (self.labels == c).nonzero().flatten()
            idx = idx[torch.randperm(len(idx), generator=g)]
            k = round(len(idx) * fraction)
            second.append(idx[:k])
            first.append(idx[k:])
        a, b = torch.cat(first).sort().values, torch.cat(second).sort().values
        base = self.name.split("/")[0]
        return self.subset(a, f"{base}/{names[0]}"), self.subset(b, f"{base}/{names[1]}")

    def select_classes(self, names, relabel: bool = True) -> "ImageSet":
        """Keep only the classes ``names`` (in that order); relabel them 0..k-1."""
        unknown = [n for n in names if n not in self.classes]
        if unknown:
            raise ValueError(f"unknown class(es) {unknown}; this set has {self.classes}")
        ids = [self.classes.index(n) for n in names]
        keep = torch.isin(self.labels, torch.tensor(ids))
        out = self.subset(keep)
        if relabel:
            remap = torch.full((self.num_classes,), -1, dtype=torch.long)
            remap[torch.tensor(ids)] = torch.arange(len(ids))
            out = replace(out, labels=remap[out.labels], classes=list(names), coarse_labels=None,
                          coarse_classes=None)
        return out

    def per_class(self, n: int | None, seed: int = 0) -> "ImageSet":
        """A seeded subset with at most ``n`` images of every class (few-shot training sets, the quick
        profile's smaller sets); ``n=None``: the whole set."""
        if n is None:
            return self
        g = torch.Generator().manual_seed(seed)
        picks = []
        for c in range(self.num_classes):
            idx = (self.labels == c).nonzero().flatten()
            picks.append(idx[torch.randperm(len(idx), generator=g)[:n]])
        return self.subset(torch.cat(picks).sort().values)

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.labels, minlength=self.num_classes)

    def channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and standard deviation of the pixels, scaled to [0, 1]."""
        x = self.images.transpose(0, 1).reshape(self.images.shape[1], -1).double() / 255
        return x.mean(1).float(), x.std(1).float()


# ---------------------------------------------------------------------------------------------
# Reading the standard layouts
# ---------------------------------------------------------------------------------------------
_WARNED: set[str] = set()
_MD5_CACHE: dict[tuple, str] = {}


def _cached_md5(path: Path) -> str:
    """MD5 of a file, remembered while its size and modification time stay the same."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MD5_CACHE:
        _MD5_CACHE[key] = _md5(path)
    return _MD5_CACHE[key]


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _missing_message(name: str, folder: Path, missing: list[str], extra: str = "") -> str:
    lay = DATASETS[name]
    return (
        f"{name} not found: looked in {folder} for {', '.join(missing)}. "
        f"Get it with helpers.data.load('{name}', root, download=True) where there is internet "
        f"(it fetches {lay.archive} from {lay.source}), or unpack {lay.archive} so that "
        f"{folder} holds {', '.join(lay.files['train'] + lay.files['test'] + (lay.meta,))}"
        + (f". {extra}" if extra else "")
    )


def _check_folder(name: str, folder: Path, split: str) -> list[str]:
    """Check the files a split needs: present, and with the official MD5s.

    Returns a warning note if the files differ from the official ones (a mirror or
    re-encoded copy): that loads, with one warning line.
    """
    lay = DATASETS[name]
    needed = list(lay.files[split]) + [lay.meta]
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        raise DatasetError(_missing_message(name, folder, missing))
    if is_standin(folder.parent):
        return ["generated stand-in data, not the real dataset"]
    present = [f for f in lay.md5 if (folder / f).is_file()]
    differ = [f for f in present if _cached_md5(folder / f) != lay.md5[f]]
    if differ:
        note = (f"{name}: {', '.join(differ)} in {folder} differ from the official "
                "checksums (a mirror or re-encoded copy?); using them as they are")
        if str(folder) not in _WARNED:            # one line per folder, however often it is loaded
            _WARNED.add(str(folder))
            print(f"WARNING: {note}", file=sys.stderr)
        return [note]
    return []


def _read_cifar(name: str, folder: Path, split: str) -> ImageSet:
    lay = DATASETS[name]
    meta_path = folder / lay.meta
    meta = read_pickle(meta_path)
    images, labels, coarse = [], [], []
    for fname in lay.files[split]:
        path = folder / fname
        d = read_pickle(path)
        data = np.asarray(_field(d, "data", path))
        key = "labels" if name == "cifar10" else "fine_labels"
        y = np.asarray(_field(d, key, path), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(y) != len(data):
            raise DatasetError(
                f"{path} is malformed: 'data' is {data.dtype} {list(data.shape)} with {len(y)} labels, "
                "expected uint8 [N, 3072] with N labels")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(y)
        if name == "cifar100":
            coarse.append(np.asarray(_field(d, "coarse_labels", path), dtype=np.int64))
    if name == "cifar10":
        classes = _names(_field(meta, "label_names", meta_path))
        extra = {}
    else:
        classes = _names(_field(meta, "fine_label_names", meta_path))
        extra = dict(coarse_labels=torch.from_numpy(np.concatenate(coarse)),
                     coarse_classes=_names(_field(meta, "coarse_label_names", meta_path)))
    try:
        return ImageSet(torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)),
                        classes, name=f"{name}/{split}", **extra)
    except ValueError as e:          # labels and names disagree: say which files hold them
        raise DatasetError(f"{folder} is malformed: {e} (labels in {', '.join(lay.files[split])}, names in "
                           f"{meta_path.name}). Delete the folder and fetch {name} again") from None


def _read_stl10(folder: Path, split: str) -> ImageSet:
    xf, yf = (folder / f for f in DATASETS["stl10"].files[split])
    x = np.fromfile(xf, dtype=np.uint8)
    y = np.fromfile(yf, dtype=np.uint8).astype(np.int64) - 1
    for f, n in ((xf, x.size), (yf, len(y))):
        if n == 0:
            raise DatasetError(f"{f} is empty (0 bytes): the download or copy did not finish. Delete "
                               f"{folder} and fetch STL-10 again")
    if x.size != len(y) * 3 * 96 * 96:
        raise DatasetError(f"{xf} is truncated or malformed: {x.size} bytes for {len(y)} labels in {yf}, "
                           f"expected {len(y) * 3 * 96 * 96}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DatasetError(f"{yf} is malformed: labels must be 1..10")
    # stored as [N, 3, 96, 96] column-major planes: transpose each plane to row-major
    images = torch.from_numpy(x.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2).copy())
    classes = (folder / "class_names.txt").read_text().split()
    return ImageSet(images, torch.from_numpy(y), classes, name=f"stl10/{split}")


def _download(name: str, root: Path) -> None:
    """Fetch the official archive (URL and MD5 as torchvision lists them), check it, unpack it."""
    import torchvision.datasets as tvd
    from torchvision.datasets.utils import download_and_extract_archive

    cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "stl10": tvd.STL10}[name]
    try:
        download_and_extract_archive(cls.url, str(root), filename=DATASETS[name].archive, md5=cls.tgz_md5)
    except Exception as e:  # URLError, HTTPError, socket errors, a bad checksum, a broken archive
        raise DatasetError(
            _missing_message(name, root / DATASETS[name].folder, list(DATASETS[name].files["train"]),
                             f"Downloading it failed: {type(e).__name__}: {e}")
        ) from e


def load(name: str, root: str | Path, split: str = "train", download: bool = False) -> ImageSet:
    """Load ``split`` ("train" or "test") of ``name`` ("cifar10", "cifar100", "stl10") from ``root``.

    ``root`` holds the standard folder (``cifar-10-batches-py`` ...). If it is
    missing and ``download`` is true, torchvision fetches and checks the
    official archive first.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    root = Path(root).expanduser()
    folder = root / DATASETS[name].folder
    needed = DATASETS[name].files[split] + (DATASETS[name].meta,)
    if download and not all((folder / f).is_file() for f in needed):
        _download(name, root)
    notes = _check_folder(name, folder, split)
    data = _read_stl10(folder, split) if name == "stl10" else _read_cifar(name, folder, split)
    data.notes = notes
    return data


def splits(name: str, root: str | Path, val_fraction: float = 0.2, seed: int = 0,
           download: bool = False) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Train / validation / test sets. Validation is a seeded, stratified share of the
    official training set (CIFAR-10: 40,000 / 10,000); test is the official test set."""
    train, val = load(name, root, "train", download).split(val_fraction, seed)
    test = load(name, root, "test", download=False)
    test.name = f"{name}/test"
    return train, val, test


# ---------------------------------------------------------------------------------------------
# Which data a notebook uses
# ---------------------------------------------------------------------------------------------
@dataclass
class DataSource:
    """Where a notebook's data comes from, and a one-line description for its output."""

    root: Path
    generated: bool
    description: str

    def __str__(self) -> str:
        return self.description


def standin_dir() -> Path:
    """Where generated stand-in data is kept: ``$COURSE_STANDIN_DIR`` or ``runs/standin``."""
    env = os.environ.get("COURSE_STANDIN_DIR")
    return Path(env) if env else profiles.REPO_ROOT / "runs" / "standin"


def _shown(path: Path) -> str:
    """A path as a reader should see it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(profiles.REPO_ROOT))
    except ValueError:
        return str(path)


def find_data(profile: str, data_dir: str | Path | None, datasets=("cifar10",),
              download: bool = True, verbose: bool = True) -> DataSource:
    """Decide which data a notebook runs on, and say so in one visible line.

    * ``smoke``: small generated data (written once, then reused).
    * ``quick`` and ``full``: the real datasets in ``data_dir`` (default ``<repo>/data``),
      downloaded there if missing and ``download`` is true. If they cannot be had
      (offline, nothing supplied) the notebook runs on the generated stand-in
      instead, and the line says so loudly.
    """
    profile = profiles.profile_name(profile)
    root = Path(data_dir).expanduser() if data_dir else profiles.REPO_ROOT / "data"
    reason = "the smoke profile uses generated data"
    if profile != "smoke":
        try:
            for name in datasets:
                folder = root / DATASETS[name].folder
                needed = [f for split in ("train", "test") for f in DATASETS[name].files[split]]
                if not all((folder / f).is_file() for f in needed + [DATASETS[name].meta]):
                    if not download:
                        raise DatasetError(_missing_message(name, folder, needed))
                    _download(name, root)
            src = DataSource(root, is_standin(root), "")
            if src.generated:
                what = f"GENERATED stand-in {', '.join(datasets)}"
            else:                                  # each dataset's own verdict: one may be a copy, one not
                kinds = []
                for name in datasets:
                    notes = [n for split in ("train", "test")
                             for n in _check_folder(name, root / DATASETS[name].folder, split)]
                    verdict = ("a copy whose files differ from the official checksums" if notes
                               else "the original files, official checksums")
                    kinds.append(f"{name} ({verdict})")
                what = "real " + ", ".join(kinds)
            src.description = f"DATA: {what} from {_shown(root)}"
            if verbose:
                print(src.description)
            return src
        except DatasetError as e:
            reason = f"the real data could not be had ({e})"
    gen = standin_dir()
    if not is_standin(gen) or not all((gen / DATASETS[n].folder).is_dir() for n in datasets):
        make_standin(gen, datasets=tuple(DATASETS))
    src = DataSource(gen, True, f"DATA: GENERATED stand-in data in {_shown(gen)}, not real results: {reason}")
    if verbose:
        print(src.description)
    return src


# ---------------------------------------------------------------------------------------------
# Batches on the device
# ---------------------------------------------------------------------------------------------
class Batches:
    """Iterate over an ImageSet in batches, the whole set living on ``device`` as uint8.

    Each batch is picked by indexing, augmented as one tensor operation per
    transform (``augment`` is a callable or a list of callables taking
    ``(uint8 batch [B,C,H,W], generator)``), then converted to float and
    normalised on the device. No DataLoader, no worker processes.

    The order and the augmentation of epoch ``e`` depend only on ``(seed, e)``,
    so a resumed run sees exactly the batches it would have seen.
    """

    def __init__(self, data: ImageSet, batch_size: int, shuffle: bool = False, augment=None,
                 device: str | torch.device = "auto", mean=None, std=None, drop_last: bool = False,
                 seed: int = 0, size: int | None = None, channels_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.data = data
        self.device = resolve_device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed
        self.augment = list(augment) if isinstance(augment, (list, tuple)) else ([augment] if augment else [])
        if mean is None or std is None:
            mean, std = data.channel_stats()
        c = data.images.shape[1]
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=self.device).view(1, c, 1, 1) * 255
        self.std = torch.as_tensor(std, dtype=torch.float32, device=self.device).view(1, c, 1, 1) * 255
        self.size = size
        self.channels_last = channels_last
        self.epoch = 0

    @property
    def classes(self) -> list[str]:
        return self.data.classes

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Choose which epoch's order and augmentation the next iteration gives."""
        self.epoch = epoch

    def generator(self, epoch: int | None = None) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed * 1_000_003 + (self.epoch if epoch is None else epoch))
        return g

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (or float 0..255) batch -> float, normalised with the set's channel statistics."""
        x = (x.float() - self.mean) / self.std
        if self.size is not None and x.shape[-1] != self.size:
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear",
                                                antialias=True, align_corners=False)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __iter__(self):
        g = self.generator()
        n = len(self.data)
        order = torch.randperm(n, generator=g, device=self.device) if self.shuffle else \
            torch.arange(n, device=self.device)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = self.images[idx]
            for t in self.augment:
                x = t(x, g)
            yield self.normalize(x), self.labels[idx]
        self.epoch += 1


# The stand-in data is written in this module's formats (DATASETS), so it is imported last; device
# helpers live in devices.py. Both stay reachable as data.<name>, as the notebooks use them.
from .devices import bf16_pays, channels_last_pays, resolve_device  # noqa: E402, F401
from .standin import is_standin, make_standin  # noqa: E402
