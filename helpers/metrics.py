"""Accuracy, overall and per class, accumulated batch by batch."""
from __future__ import annotations

import torch

__all__ = ["Accuracy"]


class Accuracy:
    """Count correct predictions over many batches.

    >>> acc = Accuracy(num_classes=3)
    >>> acc.update(torch.tensor([[2., 0, 0], [0, 1, 0]]), torch.tensor([0, 2]))
    >>> acc.compute()
    0.5
    """

    def __init__(self, num_classes: int):
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.correct = torch.zeros(self.num_classes, dtype=torch.long)
        self.total = torch.zeros(self.num_classes, dtype=torch.long)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: ``prediction`` is scores ``[N, num_classes]`` or class ids ``[N]``;
        ``target`` is class ids ``[N]``. A sample whose scores are not all finite (NaN, inf)
        counts as wrong: its argmax would name a class the model never chose."""
        if not isinstance(prediction, torch.Tensor) or not isinstance(target, torch.Tensor):
            raise ValueError(f"prediction and target must be tensors, got "
                             f"{type(prediction).__name__} and {type(target).__name__}")
        if target.ndim != 1:
            raise ValueError(f"target must have shape [N], got {list(target.shape)}")
        if target.dtype.is_floating_point or target.dtype.is_complex or target.dtype == torch.bool:
            raise ValueError(f"target must hold integer class ids, got dtype {target.dtype}")
        finite = None
        if prediction.ndim == 2:
            if prediction.shape[1] != self.num_classes:
                raise ValueError(f"prediction has {prediction.shape[1]} scores per sample "
                                 f"({list(prediction.shape)}), expected {self.num_classes}")
            finite = torch.isfinite(prediction).all(1)
            prediction = prediction.argmax(1)
        elif prediction.ndim == 1:
            if prediction.dtype.is_floating_point:
                raise ValueError(f"a [N] prediction must hold integer class ids, got dtype {prediction.dtype}")
        else:
            raise ValueError(f"prediction must have shape [N, {self.num_classes}] or [N], "
                             f"got {list(prediction.shape)}")
        if prediction.shape[0] != target.shape[0]:
            raise ValueError(f"prediction and target lengths differ: {prediction.shape[0]} vs {target.shape[0]}")
        for name, ids in (("target", target), ("prediction", prediction)):
            if ids.numel() and (ids.min() < 0 or ids.max() >= self.num_classes):
                raise ValueError(f"{name} holds class ids in [{int(ids.min())}, {int(ids.max())}], "
                                 f"expected 0..{self.num_classes - 1}")
        target, prediction = target.detach().cpu().long(), prediction.detach().cpu().long()
        right = prediction == target
        if finite is not None:
            right &= finite.detach().cpu()
        self.total += torch.bincount(target, minlength=self.num_classes)
        self.correct += torch.bincount(target[right], minlength=self.num_classes)

    def compute(self) -> float:
        """Fraction of correct predictions over everything seen since the last reset."""
        n = int(self.total.sum())
        if n == 0:
            raise ValueError("no samples seen yet: call update() before compute()")
        return int(self.correct.sum()) / n

    def per_class(self) -> torch.Tensor:
        """Accuracy of every class ``[num_classes]`` (NaN for a class never seen)."""
        return self.correct.double() / self.total.double()
