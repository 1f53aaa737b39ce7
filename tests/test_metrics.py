import pytest
import torch

from helpers.metrics import Accuracy


def test_accuracy_overall_and_per_class_over_batches():
    torch.manual_seed(0)
    acc = Accuracy(4)
    preds, targets = [], []
    for _ in range(3):
        scores, y = torch.randn(25, 4), torch.randint(0, 4, (25,))
        acc.update(scores, y)
        preds.append(scores.argmax(1))
        targets.append(y)
    p, t = torch.cat(preds), torch.cat(targets)
    assert acc.compute() == pytest.approx((p == t).float().mean().item())
    for c in range(4):
        assert acc.per_class()[c].item() == pytest.approx((p[t == c] == c).float().mean().item())
    acc.reset()
    with pytest.raises(ValueError, match="no samples"):
        acc.compute()


def test_accuracy_accepts_class_ids():
    acc = Accuracy(3)
    acc.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]))
    assert acc.compute() == 0.75
    assert torch.isnan(Accuracy(3).per_class()).all()


@pytest.mark.parametrize("pred, target, message", [
    (torch.zeros(4, 5), torch.zeros(4, dtype=torch.long), r"5 scores per sample \(\[4, 5\]\), expected 3"),
    (torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long), r"target must have shape \[N\], got \[4, 1\]"),
    (torch.zeros(4, 3), torch.zeros(4), "integer class ids, got dtype torch.float32"),
    (torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]), r"class ids in \[0, 3\], expected 0..2"),
    (torch.zeros(4, 3), torch.tensor([0, -1, 2, 1]), r"class ids in \[-1, 2\]"),
    (torch.zeros(5, 3), torch.zeros(4, dtype=torch.long), "lengths differ: 5 vs 4"),
    (torch.zeros(2, 3, 3), torch.zeros(2, dtype=torch.long), r"got \[2, 3, 3\]"),
    (torch.zeros(4), torch.zeros(4, dtype=torch.long), "integer class ids, got dtype torch.float32"),
    ([0, 1], torch.zeros(2, dtype=torch.long), "must be tensors"),
])
def test_accuracy_rejects_bad_input_with_a_clear_message(pred, target, message):
    with pytest.raises(ValueError, match=message):
        Accuracy(3).update(pred, target)


def test_non_finite_scores_are_wrong_not_class_zero():
    acc = Accuracy(num_classes=3)
    nan, inf = float("nan"), float("inf")
    acc.update(torch.tensor([[nan, nan, nan], [nan, 0., 0.], [inf, 0., 0.], [5., 1., 0.]]),
               torch.tensor([0, 0, 0, 0]))
    assert acc.compute() == 0.25                 # only the finite, correct last row counts
    assert acc.per_class()[0].item() == 0.25
