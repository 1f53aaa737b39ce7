"""Test evaluation: loss, accuracy, per-class accuracy, confusion matrix, probabilities."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metrics import Accuracy

__all__ = ["Evaluation", "evaluate", "predict", "logits_and_labels", "predict_folder", "export_predictions"]


@dataclass
class Evaluation:
    """What a model did on a labelled set. ``confusion[i, j]`` counts class ``i`` predicted as ``j``."""

    loss: float
    accuracy: float
    per_class: torch.Tensor      # [K]
    confusion: torch.Tensor      # [K, K]
    probabilities: torch.Tensor  # [N, K]
    labels: torch.Tensor         # [N]
    classes: list[str]

    @property
    def predictions(self) -> torch.Tensor:
        return self.probabilities.argmax(1)

    @property
    def confusion_rates(self) -> torch.Tensor:
        """The confusion matrix with each row divided by its count: ``[i, j]`` is the share of class ``i``
        predicted as ``j`` (float64; a class with no samples gives a row of zeros)."""
        cm = self.confusion.double()
        return cm / cm.sum(1, keepdim=True).clamp_min(1)

    def __repr__(self) -> str:
        return f"Evaluation(loss={self.loss:.4f}, accuracy={self.accuracy:.4f}, n={len(self.labels)})"


@torch.no_grad()
def logits_and_labels(model: torch.nn.Module, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's scores ``[N, K]`` (float32) and the labels ``[N]`` of every sample of ``batches``,
    on the CPU. The model is evaluated in eval mode and left in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        scores, labels = [], []
        for x, y in batches:
            scores.append(model(x).float().cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    return torch.cat(scores), torch.cat(labels)


def predict(model: torch.nn.Module, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities ``[N, K]`` and labels ``[N]`` for every sample of ``batches`` (on the CPU)."""
    logits, labels = logits_and_labels(model, batches)
    return F.softmax(logits, 1), labels


def evaluate(model: torch.nn.Module, batches) -> Evaluation:
    """Evaluate ``model`` on every sample of ``batches`` (a ``helpers.data.Batches``): the loss is
    the cross-entropy of the logits, as in training.

    A sample with non-finite scores counts as wrong and sits in no cell of the confusion matrix."""
    logits, labels = logits_and_labels(model, batches)
    probs = F.softmax(logits, 1)
    k = probs.shape[1]
    loss = F.cross_entropy(logits.double(), labels).item()
    acc = Accuracy(k)
    acc.update(probs, labels)
    chosen = torch.isfinite(probs).all(1)          # a sample with NaN scores chose no class: no cell
    confusion = torch.bincount(labels[chosen] * k + probs[chosen].argmax(1), minlength=k * k).view(k, k)
    return Evaluation(loss, acc.compute(), acc.per_class(), confusion, probs, labels,
                      list(batches.data.classes))


# ------------------------------------------------------------------------------------------------
# Predicting a folder of images (e.g. Kaggle's CIFAR-10 test set) in bounded memory
# ------------------------------------------------------------------------------------------------
def _image_files(folder) -> list:
    """PNG files of ``folder``, in numeric order of their names when they are numbers (1.png, 2.png...)."""
    from pathlib import Path

    files = [p for p in Path(folder).iterdir() if p.suffix.lower() == ".png"]
    return sorted(files, key=lambda p: (0, int(p.stem), "") if p.stem.isdigit() else (1, 0, p.stem))


def predict_folder(model: torch.nn.Module, folder, mean, std, image_size: int = 32, batch_size: int = 256,
                   device="auto", size: int | None = None, skipped: list | None = None):
    """Yield ``(ids, predicted class ids)`` for the PNG images of ``folder``, ``batch_size`` at a time.

    Only one batch of images is in memory at once, whatever the folder's size. Images that cannot
    be read (damaged, or too large to decode safely: PIL's decompression-bomb guard), or are not
    ``image_size`` x ``image_size`` RGB, are skipped and their names appended to ``skipped``. A
    folder without PNG images is an error. ``mean``/``std`` are the [0, 1]-scale channel statistics the model was trained
    with; ``size`` resizes on the device (as ``Batches(size=...)`` does).
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from .data import Batches, ImageSet, resolve_device

    dev = resolve_device(device)
    files = _image_files(folder)
    if not files:
        raise ValueError(f"no PNG images in {folder}: give the folder that holds the images (1.png, 2.png, ...)")
    for start in range(0, len(files), batch_size):
        ids, arrays = [], []
        for path in files[start:start + batch_size]:
            try:
                with Image.open(path) as im:
                    im.load()
                    if im.size != (image_size, image_size):
                        raise ValueError(f"size {im.size[0]}x{im.size[1]}, expected {image_size}x{image_size}")
                    arrays.append(np.asarray(im.convert("RGB")))
                ids.append(path.stem)
            except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
                if skipped is not None:
                    skipped.append(f"{path.name} ({e})")
        if not ids:
            continue
        chunk = ImageSet(torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous(),
                         torch.zeros(len(ids), dtype=torch.long), ["unlabelled"], name=str(folder))
        logits, _ = logits_and_labels(model, Batches(chunk, len(ids), device=dev, mean=mean, std=std, size=size))
        yield ids, logits.argmax(1)


def export_predictions(model: torch.nn.Module, folder, csv_path, classes, mean, std, **kwargs) -> int:
    """Write predictions for every PNG of ``folder`` as a Kaggle CIFAR-10 submission (``id,label``).

    Streams in batches (see ``predict_folder``), writes the CSV atomically, and prints one warning
    listing the images it skipped. Returns the number of rows written.
    """
    import sys

    from .files import atomic_writer

    skipped: list[str] = []
    rows = 0
    with atomic_writer(csv_path, "w") as f:
        f.write("id,label\n")
        for ids, preds in predict_folder(model, folder, mean, std, skipped=skipped, **kwargs):
            f.writelines(f"{i},{classes[p]}\n" for i, p in zip(ids, preds.tolist()))
            rows += len(ids)
        if rows == 0:
            raise ValueError(f"none of the images in {folder} could be read ({', '.join(skipped[:5])}"
                             f"{', ...' if len(skipped) > 5 else ''}): no predictions written to {csv_path}")
    if skipped:
        shown = ", ".join(skipped[:20]) + (f" and {len(skipped) - 20} more" if len(skipped) > 20 else "")
        print(f"WARNING: skipped {len(skipped)} unreadable or wrong-sized image(s): {shown}", file=sys.stderr)
    return rows
