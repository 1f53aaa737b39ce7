"""Test evaluation: loss, accuracy, per-class accuracy, confusion matrix, probabilities."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metrics import Accuracy

__all__ = ["Evaluation", "evaluate", "predict"]


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

    def __repr__(self) -> str:
        return f"Evaluation(loss={self.loss:.4f}, accuracy={self.accuracy:.4f}, n={len(self.labels)})"


@torch.no_grad()
def predict(model: torch.nn.Module, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities ``[N, K]`` and labels ``[N]`` for every sample of ``batches`` (on the CPU)."""
    model.eval()
    probs, labels = [], []
    for x, y in batches:
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        probs.append(F.softmax(logits.float(), 1).cpu())
        labels.append(y.cpu())
    return torch.cat(probs), torch.cat(labels)


def evaluate(model: torch.nn.Module, batches) -> Evaluation:
    """Evaluate ``model`` on every sample of ``batches`` (a ``helpers.data.Batches``)."""
    probs, labels = predict(model, batches)
    k = probs.shape[1]
    loss = F.nll_loss(torch.log(probs.double().clamp_min(1e-12)), labels).item()
    acc = Accuracy(k)
    acc.update(probs, labels)
    confusion = torch.bincount(labels * k + probs.argmax(1), minlength=k * k).view(k, k)
    return Evaluation(loss, acc.compute(), acc.per_class(), confusion, probs, labels,
                      list(batches.data.classes))
