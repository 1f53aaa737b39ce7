"""The data side of transfer learning: the small fine-tuning targets, and per-superclass accuracy.

    name = choose_target(None, src)                      # "stl10" if real STL-10 is there, else "cifar10-fewshot"
    train, val, test = target_sets(name, root)           # 500 training images per class, 5 classes
    fine, coarse = superclass_accuracy(evaluation, test) # CIFAR-100: accuracy per superclass

Two targets, both five classes with 500 training images each:

* ``stl10``: STL-10's car, deer, horse, monkey and truck (96x96 photos);
* ``cifar10-fewshot``: CIFAR-10's automobile, deer, dog, horse and truck (32x32), a
  few-shot subset that needs no download beyond CIFAR-10 and is measured on the
  full CIFAR-10 test images of those classes.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .data import DATASETS, STL10_SUBSET, DataSource, ImageSet, is_standin, load

__all__ = ["TARGETS", "FEWSHOT_CLASSES", "real_stl10", "choose_target", "target_sets", "superclass_accuracy"]

TARGETS = ("stl10", "cifar10-fewshot")
#: The CIFAR-10 stand-ins of the STL-10 subset (CIFAR-10 has no monkey: dog instead).
FEWSHOT_CLASSES = ("automobile", "deer", "dog", "horse", "truck")


def real_stl10(root: str | Path) -> bool:
    """Whether ``root`` holds the real STL-10 (every file of both splits, not generated data)."""
    lay = DATASETS["stl10"]
    folder = Path(root) / lay.folder
    files = [*lay.files["train"], *lay.files["test"], lay.meta]
    return not is_standin(root) and all((folder / f).is_file() for f in files)


def choose_target(target: str | None, src: DataSource, verbose: bool = True) -> str:
    """The fine-tuning target: ``target`` if given, else ``stl10`` when the real STL-10 lies
    beside the CIFAR data of ``src``, else ``cifar10-fewshot``. Prints one ``TARGET:`` line."""
    if target is not None and target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)} (or None: automatic)")
    if target is None:
        have = real_stl10(src.root)
        target = "stl10" if have else "cifar10-fewshot"
        why = "the real STL-10 is present" if have else f"no real STL-10 in {src.root}"
    else:
        why = "chosen by the parameter target"
    if verbose:
        print(f"TARGET: {target} ({why})")
    return target


def target_sets(target: str, root: str | Path, per_class: int = 500, val_fraction: float = 0.1,
                seed: int = 0) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Train / validation / test sets of a fine-tuning target, five classes each.

    ``per_class`` training images per class are drawn (seeded) from the official training
    split (STL-10 has exactly 500), then ``val_fraction`` of them is held out for validation;
    the test set is every official test image of those classes.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    name, classes = ("stl10", STL10_SUBSET) if target == "stl10" else ("cifar10", FEWSHOT_CLASSES)
    pool = load(name, root, "train").select_classes(list(classes)).per_class(per_class, seed=seed)
    train, val = pool.split(val_fraction, seed=seed)
    test = load(name, root, "test").select_classes(list(classes))
    for part, split in ((train, "train"), (val, "val"), (test, "test")):
        part.name = f"{target}/{split}"
    return train, val, test


def superclass_accuracy(evaluation, test: ImageSet) -> tuple[torch.Tensor, torch.Tensor]:
    """Per CIFAR-100 superclass (``test.coarse_classes``): the share of its test images whose
    fine class was predicted right, and the share predicted as *some* class of the right
    superclass. The gap between the two is the confusions inside a superclass."""
    if test.coarse_labels is None or test.coarse_classes is None:
        raise ValueError(f"{test.name or 'this set'} has no superclasses (coarse labels): use CIFAR-100")
    if len(evaluation.labels) != len(test) or not torch.equal(evaluation.labels, test.labels):
        raise ValueError("the evaluation is not of this test set (labels differ): evaluate with an unshuffled "
                         "Batches of the same ImageSet")
    k = len(test.coarse_classes)
    coarse_of = torch.zeros(test.num_classes, dtype=torch.long)
    coarse_of[test.labels] = test.coarse_labels
    pred = evaluation.predictions
    right_fine = (pred == test.labels).double()
    right_coarse = (coarse_of[pred] == test.coarse_labels).double()
    count = torch.bincount(test.coarse_labels, minlength=k).clamp_min(1)
    fine = torch.bincount(test.coarse_labels, right_fine, minlength=k) / count
    coarse = torch.bincount(test.coarse_labels, right_coarse, minlength=k) / count
    return fine.float(), coarse.float()
