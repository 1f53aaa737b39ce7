"""The course report, generated from one run's result records and figures.

    python -m helpers.report                       # the full run: runs/full -> report/
    python -m helpers.report --profile smoke --out /tmp/report

writes ``report.md`` and ``report.html`` (one self-contained file, figures embedded) into ``--out``.
Into the repository's ``report/`` it also copies the run's result records (``report/results/``) and
its figures go to ``figures/``: the folders a full run commits, so the Markdown shows its figures
wherever the repository is browsed.
Its sections follow the notebooks; each shows its key figures and a table of measured numbers,
then the report sets our numbers beside the source reports' and answers their four questions
with evidence from this run. A report built from a smoke run says at the top that its numbers
come from generated data and are not results.
"""
from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import math
import os
import re
import shutil
import sys
from pathlib import Path

from . import profiles, results

#: (title, notebook prefix of records and figures, what the section is about)
SECTIONS = [
    ("Data", "00_", "CIFAR-10 with its seeded 40k/10k/10k split, CIFAR-100 and its superclasses, the STL-10 subset."),
    ("Gradient descent", "01_", "Learning rate, momentum, Nesterov, numeric gradients and stopping rules on 2-D functions."),
    ("MLP", "02_", "The sources' MLPs over three seeds, and a well-trained MLP."),
    ("CNN", "03_", "The sources' CNNs, their hyperparameter grids, and the fast recipe."),
    ("ResNet", "04_", "Residual networks: depth, re-injected inputs, ResNet18's stems."),
    ("ViT", "05_", "A Vision Transformer from scratch: patch size, depth, heads, attention maps."),
    ("Augmentation and regularization", "06_", "Which augmentations and regularizers help, measured."),
    ("Hyperparameter sweeps", "07_", "Grid, random and TPE search with pruning."),
    ("Test evaluation", "08_", "Every final model on the test set."),
    ("Transfer learning and t-SNE", "09_", "ImageNet backbones, CIFAR-100 to the fine-tuning target, t-SNE."),
]

CIFAR10_TEST, CIFAR100_TEST, KAGGLE_TEST = "CIFAR-10 test set", "CIFAR-100 test set", "Kaggle's 300,000-image test set"
CIFAR10_VAL = "a validation split of CIFAR-10's training images (val)"
D_CATDOG_VAL = "D's own validation cats and dogs of CIFAR-10 (val)"
CATDOG_VAL = "our validation cats and dogs of CIFAR-10 (another split than D's, val)"
C_STUDY = "CIFAR-100 test set, after the study's short run"
C_WORSE = "worse than SGD + momentum at lr 0.01 (no number given)"
E_NO_NUMBER = "no number given"

#: (experiment, source, its accuracy (None where it gave none), the set it was measured on (or what it
#: said), our records (the best of them is shown), the set ours are measured on[, our record's key:
#: ``test_acc`` unless given]). A difference is printed only where the two sets are the same; a record's
#: own ``config.target`` overrides the set ours are measured on.
SOURCE_NUMBERS = [
    ("MLP", "B", 0.4242, KAGGLE_TEST, ("02_mlp_best",), CIFAR10_TEST),
    ("Simple CNN", "A", 0.77, CIFAR10_TEST, ("03_cnn_best", "07_sweep_best"), CIFAR10_TEST),
    ("Simple CNN", "B", 0.7252, KAGGLE_TEST, ("03_cnn_best", "07_sweep_best"), CIFAR10_TEST),
    ("ResNet (A: ResNet-18; ours: ResNet-9)", "A", 0.78, CIFAR10_TEST, ("04_resnet_best",), CIFAR10_TEST),
    ("ViT from scratch", "A", 0.73, CIFAR10_TEST, ("05_vit_best",), CIFAR10_TEST),
    ("ViT from scratch", "B", 0.5408, KAGGLE_TEST, ("05_vit_best",), CIFAR10_TEST),
    ("CNN grid as B ran it, lr 1e-4 (3 seeds, early stopping after 30 epochs) (val)", "B", 0.63, CIFAR10_VAL,
     ("03_grid_as_b_b64_lr0.0001", "03_grid_as_b_b128_lr0.0001"), CIFAR10_VAL, "best_val_acc"),
    ("Report A's best ViT configuration, as A trained it (60 epochs)", "A", 0.73, CIFAR10_TEST, ("05_vit_report_a",),
     CIFAR10_TEST),
    ("Report B's ViT (6 layers, embed 30, patch 4), as B trained it (val)", "B", 0.51, CIFAR10_VAL, ("05_vit_report_b",),
     CIFAR10_VAL, "best_val_acc"),
    ("Pretrained, fine-tuned (B: MobileNetV3-S; ours: EfficientNet-Lite0)", "B", 0.8316, KAGGLE_TEST,
     ("09_efficientnet_finetune",), CIFAR10_TEST),
    ("CIFAR-100 first training, as C ran it: TwoLayerNet, hidden 64", "C", 0.11, CIFAR100_TEST,
     ("09_cifar100_first_two_layer",), CIFAR100_TEST),
    ("CIFAR-100 first training, as C ran it: LeNet ConvNet", "C", 0.22, CIFAR100_TEST,
     ("09_cifar100_first_lenet",), CIFAR100_TEST),
    ("CIFAR-100 TwoLayerNet", "C", 0.22, CIFAR100_TEST, ("09_cifar100_two_layer",), CIFAR100_TEST),
    ("CIFAR-100 ConvNet", "C", 0.56, CIFAR100_TEST, ("09_cifar100_convnet",), CIFAR100_TEST),
    ("CIFAR-100 ConvNet, ours: the speed-run network", "C (its ConvNet)", 0.56, CIFAR100_TEST,
     ("09_cifar100_speedrun",), CIFAR100_TEST),
    ("CIFAR-100 ConvNet as C trained it: SGD + momentum, lr 0.01", "C: 50 epochs", 0.56, CIFAR100_TEST,
     ("09_c_opt_momentum",), C_STUDY),
    *[(f"CIFAR-100 ConvNet as C trained it, but {change}", "C", None, C_WORSE, (record,), C_STUDY)
      for change, record in (("Adam", "09_c_opt_adam"), ("RMSprop", "09_c_opt_rmsprop"), ("Adagrad", "09_c_opt_adagrad"),
                             ("lr 0.5", "09_c_lr0.5"), ("lr 0.1", "09_c_lr0.1"), ("lr 0.001", "09_c_lr0.001"))],
    ("Fine-tuned from CIFAR-100 to STL-10", "C: 60 epochs", 0.8267, "STL-10 test set", ("09_finetune_target",),
     "STL-10 test set"),
    ("ResNet-18 from torchvision, untuned, a new head (ours: from scratch, the ImageNet stem) (val)", "A: 60 epochs",
     0.78, CIFAR10_TEST, ("04_resnet18_imagenet_stem",), "CIFAR-10 val, a quarter of the training set, 4 epochs",
     "best_val_acc"),
    ("Six frozen torchvision backbones, Inception v3 with loss1 + 0.4 loss2 (D: its best, ResNet) (val)", "D", 0.8589,
     "D's cat/dog subset (val)", (), "not run offline: torchvision's ImageNet weights need a download; notebook 09 "
     "runs all six (and the auxiliary loss) where they can be had"),
    ("Five-conv CNN, cat vs dog, no augmentation (val)", "D", 0.8035, D_CATDOG_VAL, ("06_d_catdog_none_wd0",),
     CATDOG_VAL, "best_val_acc"),
    ("Five-conv CNN, cat vs dog, flip + crop, weight decay 1e-5 (val)", "D", 0.8644, D_CATDOG_VAL,
     ("06_d_catdog_flip+crop_wd1e-05",), CATDOG_VAL, "best_val_acc"),
    ("RN-4 (E: RN04) (val)", "E", 0.77, "CIFAR-10, E's full training", ("04_rn4",),
     "CIFAR-10 val, a quarter of the training set, 6 epochs", "best_val_acc"),
    *[(f"{what} (val)", "E", None, E_NO_NUMBER, (record,), "CIFAR-10 val, a quarter of the training set",
       "best_val_acc")
      for what, record in (("RR-16", "04_rr16"), ("RR-32", "04_rr32"), ("RN-4, batch 16 (E: less stable)", "04_rn4_batch16"),
                           ("RN-4, heavy regularization with Dropout2d(1/3)", "04_rn4_heavy"))],
    *[(f"Masked pre-training, {g}x{g} blocks, {p:.0%} masked, then crops (val)", "E", None,
       "accuracy declined (no number given)", (f"06_mask_tuned_g{g}_p{p}",),
       "CIFAR-10 validation images, 10,000 training images",
       "best_val_acc") for g in (4, 2, 1) for p in (0.5, 0.7, 0.9)],
]

#: Source experiments that gave no number but a finding: (experiment, source, its finding, our record, what
#: ours shows, read from the record by a function, what ours is measured on). No difference is computed.
FINDINGS = [
    ("Gradient descent on the gridded Schaffer function (bilinear interpolation, numeric gradient), lr 10 in grid "
     "units", "D", "trapped in local minima; Nesterov with beta 0.9 best overall (no number given)",
     "01_gridded_schaffer",
     lambda r: "share of starts ending at the global minimum: " + ", ".join(
         f"{row['setting']} {_pct(row['global min'])}" for row in r["rows"] if row["lr_grid"] == 10),
     "random starts on the gridded function"),
    ("Loss and accuracy of RN/RR networks on log/log axes", "E", "a figure (no number given)", "04_rr32",
     lambda r: "training loss and validation accuracy of RN-4 (batch 512 and 16, heavy regularization), RR-16 "
               "and RR-32 on log/log axes: figure 04_report_e_loglog.png", "CIFAR-10 val, a quarter of the training set"),
]


def _finding_rows(records: dict[str, dict]) -> list[list]:
    """The comparison table's rows for ``FINDINGS``: ours described from its record, or a dash."""
    return [[experiment, source, "–", theirs, f"{describe(records[name])} ({name})" if name in records else "–",
             our_set, "–"] for experiment, source, theirs, name, describe, our_set in FINDINGS]


#: A source's setup as it ran it, beside our version of the same experiment: (what, the records run as the
#: source ran it (the best is shown), our record, the metric both are compared on, what the records do not
#: say that also differs). Both sides are measured on the same set, so the difference is like for like.
IMPROVED = [
    ("the sources' small MLP", ("02_mlp_small_source",), "02_mlp_best", "best_val_acc", ""),
    ("report B's CNN grid, lr 1e-4", ("03_grid_as_b_b64_lr0.0001", "03_grid_as_b_b128_lr0.0001"), "03_cnn_best",
     "best_val_acc", ""),
    ("report A's best ViT", ("05_vit_report_a",), "05_vit_best", "test_acc", ""),
    ("report B's ViT", ("05_vit_report_b",), "05_vit_best", "best_val_acc", ""),
    ("report A's ResNet-18 (the ImageNet stem)", ("04_resnet18_imagenet_stem",), "04_resnet18_cifar_stem",
     "best_val_acc", "the CIFAR stem: a 3x3 first convolution, no max-pooling"),
    ("report C's first TwoLayerNet", ("09_cifar100_first_two_layer",), "09_cifar100_two_layer", "test_acc", ""),
    ("report C's first LeNet", ("09_cifar100_first_lenet",), "09_cifar100_lenet", "test_acc", ""),
    ("report C's improved ConvNet as C trained it", ("09_c_opt_momentum",), "09_cifar100_convnet", "test_acc",
     "ours trains on all 45,000 training images, C's setup here on the study's subset"),
    ("report E's masked pre-training (its best block size and fraction)",
     tuple(f"06_mask_tuned_g{g}_p{p}" for g in (4, 2, 1) for p in (0.5, 0.7, 0.9)), "06_mask_none", "best_val_acc",
     "crops for every epoch; the masked record counts only its crop epochs, after as many masked ones"),
]
#: the training settings a record's config holds that "what changes" compares
SETTINGS = ("optimizer", "lr", "weight_decay", "scheduler", "warmup_epochs", "label_smoothing", "grad_clip", "epochs",
            "batch_size", "patience", "augment")


def _changes(theirs: dict, ours: dict) -> str:
    """What differs between two records' models and training settings, as "key: theirs → ours" (the
    models only where both records describe theirs: a class name alone says nothing about its settings)."""
    both = bool(theirs.get("model")) and bool(ours.get("model"))

    def described(r):
        model = r.get("model") or {}
        kwargs = {k: v for k, v in (model.get("kwargs") or {}).items() if k != "num_classes"}
        config = r.get("config") or {}
        return {**({"model": model["name"], **kwargs} if both else {}),
                **{k: config[k] for k in SETTINGS if k in config}}
    a, b = described(theirs), described(ours)
    return "; ".join(f"{k}: {_cell(a.get(k))} → {_cell(b.get(k))}" for k in dict.fromkeys([*a, *b])
                     if a.get(k) != b.get(k))


def _improved_rows(records: dict[str, dict]) -> list[list]:
    """One row per source setup that ran beside our version of it, with what changed and by how much."""
    rows = []
    for what, as_ran, ours, key, note in IMPROVED:
        found = [(records[n][key], n) for n in as_ran if _finite(records.get(n, {}).get(key))]
        if not found or not _finite(records.get(ours, {}).get(key)):
            continue
        theirs, name = max(found)
        changes = "; ".join(c for c in (_changes(records[name], records[ours]), note) if c)
        rows.append([what, f"{_pct(theirs)} ({name})", f"{_pct(records[ours][key])} ({ours})",
                     "validation" if key == "best_val_acc" else "test",
                     f"{100 * (records[ours][key] - theirs):+.2f} points", changes or "–"])
    return rows


#: the names a record's ``config.target`` gives the set it was tested on
TARGETS = {"stl10": "STL-10 test set", "cifar10-fewshot": "few-shot CIFAR-10, a stand-in for STL-10"}


def _records(run_dir: Path) -> dict[str, dict]:
    folder = run_dir / "results"
    return {p.stem: results.read_record(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def _pct(x) -> str:
    return "–" if x is None or x != x else f"{100 * x:.2f} %"


def _comparison_rows(records: dict[str, dict]) -> list[list]:
    """One row per source number: ours (the best of the row's records, named), what each side was
    measured on, and the difference only where both were measured on the same set."""
    rows = []
    for experiment, source, theirs, their_set, candidates, our_set, *metric in SOURCE_NUMBERS:
        key = metric[0] if metric else "test_acc"
        found = [(records[n][key], n) for n in candidates if _finite(records.get(n, {}).get(key))]
        if not found:     # say where the number would come from (a row without records says why itself)
            missing = f"– (not in this run: notebook {candidates[0][:2]} records it as {candidates[0]})" if candidates else "–"
            rows.append([experiment, source, _pct(theirs), their_set, missing, our_set, "–"])
            continue
        ours, name = max(found)
        target = (records[name].get("config") or {}).get("target")
        measured = TARGETS.get(target, target) if target else our_set
        diff = ("–" if theirs is None else f"{100 * (ours - theirs):+.2f} points" if measured == their_set
                else "not comparable: measured on other sets")
        rows.append([experiment, source, _pct(theirs), their_set, f"{_pct(ours)} ({name})", measured, diff])
    return rows


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _model_name(record: dict) -> str:
    """The model of a record: its spec's name, else its class, else what the record is."""
    return ((record.get("model") or {}).get("name") or record.get("architecture")
            or ("FastNet (fast recipe)" if "test_acc_no_tta" in record else "not recorded"))


def _escape(value) -> str:
    """A table cell: record text is data, never markup (a ``<script>`` in a record must not run in the
    report), and ``|`` would split the row. Line breaks are written ``<br>`` and kept."""
    return html.escape(str(value)).replace("&lt;br&gt;", "<br>").replace("|", "\\|")


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _short(data_line: str, limit: int = 160) -> str:
    """A data line for the run table: a stand-in's long how-to-get-it advice cut after its first sentence."""
    if len(data_line) <= limit:
        return data_line
    head, dot, _ = data_line.partition(". ")
    return head + ". …" if dot else head


def _section_table(records: dict[str, dict], prefix: str) -> str:
    """Every record of one notebook that measured an accuracy (a fast-recipe record has no validation set)."""
    rows = []
    for name, r in records.items():
        if not name.startswith(prefix) or not ("best_val_acc" in r or "test_acc" in r):
            continue
        rows.append([name, _model_name(r), f"{r.get('parameters', 0):,}", _pct(r.get("best_val_acc")),
                     _pct(r.get("test_acc")), f"{r.get('seconds', float('nan')):.1f}", r.get("device", "")])
    if not rows:
        return "_No training records from this notebook in this run._"
    return _table(["record", "model", "parameters", "best val acc", "test acc", "seconds", "device"], rows)


def _cell(value) -> str:
    """A value of a saved row: a float to 4 significant digits, a missing one as a dash."""
    return "–" if value is None or value != value else f"{value:.4g}" if isinstance(value, float) else str(value)


def _row_tables(records: dict[str, dict], prefix: str) -> list[str]:
    """The tables a notebook saved as rows (08's test table, 09's backbone comparison, 03's ablation)."""
    out = []
    for name, r in records.items():
        if not name.startswith(prefix):
            continue
        for key in ("rows", "ablation"):
            rows = r.get(key)
            if not isinstance(rows, list):
                continue
            if not rows:
                out.append(f"_{name}: no rows in this run (its part of the notebook was skipped)._")
                continue
            header = list(dict.fromkeys(k for row in rows for k in row))
            out.append(f"**{name}**\n\n" + _table(header, [[_cell(row.get(k)) for k in header] for row in rows]))
    return out


# Question 3's evidence: notebook 06's runs, each change beside the run without it (same network,
# images, epochs and validation set): (what changed, the record with it, the record without it).
Q3_PAIRS = [
    ("flip + crop, CNN", "06_aug_CNN_flip+crop", "06_aug_CNN_none"),
    ("flip + crop, RN-4", "06_aug_RN-4_flip+crop", "06_aug_RN-4_none"),
    ("random erasing added to the basic set, CNN", "06_aug_CNN_basic+erasing", "06_aug_CNN_basic"),
    ("random erasing added to the basic set, RN-4", "06_aug_RN-4_basic+erasing", "06_aug_RN-4_basic"),
    ("weight decay 1e-4 under AdamW, CNN", "06_reg_adamw_wd0.0001", "06_reg_adamw_wd0.0"),
    ("an L2 term of 0.01 under Adam, CNN", "06_reg_adam_wd0.01", "06_reg_adam_wd0.0"),
    ("dropout 0.5 before the classifier, CNN", "06_reg_dropout0.5", "06_reg_dropout0.0"),
]
EARLY_STOPPING = [("flip + crop", "06_early_stopping"), ("no augmentation", "06_early_stopping_noaug")]


def _q3_tables(records: dict[str, dict]) -> str:
    """Notebook 06's deltas (validation accuracy with and without each change) and what early stopping kept."""
    def best(name):
        return (records.get(name) or {}).get("best_val_acc")

    deltas = [[what, _pct(best(w)), _pct(best(wo)), f"{100 * (best(w) - best(wo)):+.2f} points", f"{w} vs {wo}"]
              for what, w, wo in Q3_PAIRS if _finite(best(w)) and _finite(best(wo))]
    stops = []
    for label, name in EARLY_STOPPING:
        h = ((records.get(name) or {}).get("histories") or [{}])[0]
        accs, at = h.get("val_acc") or [], h.get("best_epoch", -1)
        if 0 <= at < len(accs):
            stops.append([label, f"{at + 1} of {len(accs)}", _pct(accs[at]), _pct(accs[-1]),
                          f"{100 * (accs[at] - accs[-1]):+.2f} points", name])
    out = []
    if deltas:
        out.append(_table(["change", "with it", "without it", "difference", "records"], deltas))
    if stops:
        out.append("Early stopping keeps the best epoch's weights rather than the last epoch's:\n\n" + _table(
            ["CNN, augmentation", "best epoch, of those run", "kept (best)", "last epoch", "gain from keeping the best",
             "record"], stops))
    return "\n\n".join(out)


def _equal_budget(records: dict[str, dict]) -> str:
    """Q4 at equal training time on one device: of the ViT and the CNN (or the ResNet), the longer run's
    history is cut where the shorter run's training ended."""
    vit = records.get("05_vit_best")
    if not vit or not _finite(vit.get("seconds")):
        return ""
    sentences = []
    for name in ("03_cnn_best", "04_resnet_best"):
        other = records.get(name)
        if not other or other.get("device") != vit.get("device") or not _finite(other.get("seconds")):
            continue
        (short, s), (long, l) = sorted([("05_vit_best", vit), (name, other)], key=lambda pair: pair[1]["seconds"])
        history = (l.get("histories") or [{}])[0]
        elapsed, done = 0.0, 0
        for seconds in history.get("seconds", []):
            if elapsed + seconds > s["seconds"]:
                break
            elapsed, done = elapsed + seconds, done + 1
        if not done or len(history.get("val_acc", [])) < done:
            continue
        sentences.append(
            f"In the {s['seconds']:,.0f} s that {short} trained on {s['device']}, {long} finished {done} of its "
            f"{len(history['seconds'])} epochs with a best validation accuracy of {_pct(max(history['val_acc'][:done]))}, "
            f"against {short}'s {_pct(s.get('best_val_acc'))} ({long}'s learning rate was scheduled for all "
            f"{len(history['seconds'])} epochs, so a run planned for that time would do somewhat better).")
        if _finite(s.get("test_acc")) and _finite(l.get("test_acc")) and s["test_acc"] > l["test_acc"] and l["seconds"] > 0:
            sentences.append(f"Trained to its end, {short} is the more accurate on the test set ({_pct(s['test_acc'])} against "
                             f"{_pct(l['test_acc'])}) in {s['seconds'] / l['seconds']:.0%} of {long}'s training time.")
    return " ".join(sentences)


def _answers(records: dict[str, dict]) -> str:
    """The four questions of the source reports, answered with this run's evidence where it has some."""
    def acc(name, key="test_acc"):
        r = records.get(name)
        return r.get(key) if r else None

    finals = [[n, _model_name(r), _pct(r["best_val_acc"]), _pct(r["test_acc"]),
               f"{100 * (r['test_acc'] - r['best_val_acc']):+.2f} points"]
              for n, r in records.items() if _finite(r.get("test_acc")) and _finite(r.get("best_val_acc"))]
    gap_table = _table(["tested model (record)", "architecture", "best validation accuracy", "test accuracy", "test − validation"],
                       finals) if finals else ""
    cnn, vit = acc("03_cnn_best"), acc("05_vit_best")
    finals = [(n, records[n]) for n in ("03_cnn_best", "04_resnet_best", "05_vit_best") if n in records]
    budget_table = _table(
        ["final model (record)", "architecture", "parameters", "epochs", "training time", "device", "test accuracy"],
        [[n, _model_name(r), f"{r.get('parameters', 0):,}", _cell(len((r.get("histories") or [{}])[0].get("epoch", []))),
          f"{r.get('seconds', float('nan')):,.0f} s", r.get("device", "–"), _pct(r.get("test_acc"))]
         for n, r in finals]) if finals else ""
    by_confidence = {row.get("predictions"): row for row in (records.get("08_loss_by_confidence") or {}).get("rows", [])}
    sure_wrong = by_confidence.get("wrong, confidence >= 0.9")
    large, small = acc("02_mlp_large_source", "best_val_acc"), acc("02_mlp_small_source", "best_val_acc")
    q3, equal = _q3_tables(records), _equal_budget(records)
    return "\n\n".join([
        "**What are a loss function and cross-entropy?** A loss turns the model's output and the true label "
        "into one number to minimise. Cross-entropy is the negative log of the probability the model gives "
        "the true class: it is small only when the model is confidently right, and it punishes confident "
        "mistakes hardest. Its gradient with respect to the logits is simply (probabilities − one-hot label)."
        + (f" In this run the small MLP reached {_pct(small)} validation accuracy and the large one {_pct(large)}:"
           " the loss only helps if gradients can flow (notebook 02)." if small is not None and large is not None else "")
        + (f" Notebook 08 computes it by hand and checks it against PyTorch's: on the test set, the "
           f"{sure_wrong['images']} images that {sure_wrong['model']} got wrong with a confidence of 0.9 or more cost "
           f"{sure_wrong['mean loss']:.2f} each on average and {_pct(sure_wrong['share of the loss'])} of its whole "
           "loss (08_loss_by_confidence)." if sure_wrong and sure_wrong.get("images") else ""),
        "**Why separate training, validation and test sets?** Training data fits the weights; validation data "
        "chooses everything else (architecture, learning rate, when to stop), so it is no longer unseen; the test "
        "set, used once at the end, estimates accuracy on new data."
        + (" Every model of this run that was tested (the final models, and the runs that, like report C's "
           "studies, were tested as their source tested them), with the validation accuracy that chose its weights "
           "and its one test accuracy. Weights chosen by their validation accuracy also suit the validation set by chance, "
           "so that number is optimistic; the test accuracy is the honest estimate:\n\n" + gap_table if gap_table else ""),
        "**What are augmentation, regularization and early stopping for?** All three fight overfitting: "
        "augmentation shows the model new, label-preserving variants of the images; regularization (weight "
        "decay, dropout, label smoothing) limits how sharply the model can fit the training set; early stopping "
        "keeps the weights from the epoch with the best validation accuracy."
        + (" Notebook 06 measured each in this run, every change against the same run without it (best "
           "validation accuracy):\n\n" + q3 if q3 else " Notebook 06 measures each; it has no records in this run."),
        "**How do ViTs and CNNs differ?** A CNN builds locality and translation equivariance into its "
        "convolutions; a ViT cuts the image into patches and lets attention relate any patch to any other, so it "
        "must learn those regularities from data, and it needs more data or stronger augmentation on small sets."
        + (f" In this run the best CNN reached {_pct(cnn)} and the ViT {_pct(vit)} test accuracy." if cnn and vit else "")
        + (" The final models of notebooks 03-05 with what each was given; accuracies compare fairly only where "
           "the training time on the same device is about the same:\n\n" + budget_table if budget_table else "")
        + ("\n\nAt equal training time, from the per-epoch times of their records: " + equal if equal else ""),
    ])


def _run_summary(records: dict) -> dict:
    return records.get("run_summary", {})


def build_markdown(run_dir: Path, out_dir: Path, profile: str, figures: Path | None = None) -> str:
    """The report as Markdown, figures (from ``figures``, default the run's own) referenced relative to ``out_dir``."""
    records = _records(run_dir)
    summary = _run_summary(records)
    figures = figures or run_dir / "figures"
    devices = sorted({r.get("device") for r in records.values() if r.get("device")})
    notebooks = summary.get("notebooks", [])
    used_by: dict[str, list[str]] = {}     # each distinct data line -> the notebooks (by number) that used it
    for o in notebooks:
        if o.get("data") not in (None, "", "none", "?"):               # "none": a notebook without data
            for part in o["data"].split(" | "):                         # a notebook's lines, one per dataset call
                used_by.setdefault(part, []).append(o["notebook"][:2])
    generated = profile == "smoke" or (bool(used_by) and all("GENERATED" in part for part in used_by))
    partly = [o["notebook"] for o in notebooks if "GENERATED" in o.get("data", "")]
    parts = ["# Small-image classification: the course's results", ""]
    if generated:
        parts += ["> **These numbers come from generated stand-in data"
                  + (" (the smoke profile)" if profile == "smoke" else "")
                  + " and are not results.** They show that every experiment runs; "
                  "build the report from a full run on the real data for real numbers.", ""]
    elif profile == "quick":
        parts += ["> **These numbers come from the quick profile**: the real data, with fewer images, epochs and "
                  "trials than the full run. They are real and lower than the full profile's; the course's results "
                  "are the full run's.", ""]
    if partly and not generated:  # e.g. STL-10, which cannot be had offline, in an otherwise real run
        parts += ["> **Part of this run used generated stand-in data**, because some real data could not be "
                  f"had: {', '.join(partly)} (see the data row below). Whatever those notebooks measured on "
                  "the stand-in is not a result; everything else is.", ""]
    ran = {o["notebook"][:2] for o in notebooks}
    missing = [prefix[:2] for _, prefix, _ in SECTIONS if prefix[:2] not in ran
               and not any(n.startswith(prefix) for n in records) and not any(figures.glob(f"{prefix}*.png"))]
    if missing and len(missing) < len(SECTIONS):
        which = (f"notebook {missing[0]} has not run in it; its section says so" if len(missing) == 1 else
                 f"notebooks {', '.join(missing)} have not run in it; their sections say so")
        parts += [f"> **A partial run:** {which}.", ""]
    parts += ["## Run", "", _table(["", ""], [
        ["built", _dt.datetime.now().isoformat(timespec="seconds")],
        ["profile", profile],
        ["device(s)", ", ".join(devices) or "–"],
        ["data", "<br>".join(f"{_short(d)} (notebooks {', '.join(nbs)})"
                             for d, nbs in used_by.items()) or "–"],
        ["total wall time", f"{summary.get('total_seconds', float('nan')):.0f} s" if summary else "–"],
    ])]
    if notebooks:
        parts += ["", _table(["notebook", "status", "wall time", "device"],
                             [[o["notebook"], o["status"], f"{o['seconds']:.1f} s", o.get("device") or "–"]
                              for o in notebooks])]
    standins = sorted({m for line in used_by if "GENERATED" in line for m in re.findall(r"(\w+) not found", line)})
    for title, prefix, about in SECTIONS:
        parts += ["", f"## {title}", "", about, ""]
        for fig in sorted(figures.glob(f"{prefix}*.png")):          # every figure the notebook saved
            rel = os.path.relpath(fig, out_dir)
            stand_in = next((d for d in standins if d in fig.stem), None)
            if stand_in and not generated:     # named, not shown: a picture of generated data is no data
                parts += [f"_Figure {fig.stem} is left out: it shows generated stand-in data, because {stand_in} "
                          "could not be had._", ""]
                continue
            parts += [f"![{fig.stem}]({rel})", ""]
        if prefix[:2] in missing:
            parts.append(f"_Notebook {prefix[:2]} has not run in this run: there are no records or figures from it._")
            continue
        parts.append(_section_table(records, prefix))
        for table in _row_tables(records, prefix):
            parts += ["", table]
    parts += ["", "## Compared with the source reports", "",
              "Test accuracies, or validation accuracies where a row says (val). A difference is given only where "
              "both numbers were measured on the same set; report B's Kaggle set holds 300,000 images (CIFAR-10's "
              "10,000 test images among them). Where a source gave no number, its column says what it found.", "",
              _table(["experiment", "source", "source's number", "measured on", "ours (record)", "ours measured on",
                      "difference"], _comparison_rows(records) + _finding_rows(records))]
    improved = _improved_rows(records)
    if improved:
        parts += ["", "### What our version changes", "",
                  "Each source setup that ran as the source ran it, beside our version of the same experiment, "
                  "both measured on the same set; \"what changes\" lists every setting the two records differ in "
                  "(the source's → ours).", "",
                  _table(["experiment", "as the source ran it", "ours", "measured on", "difference", "what changes"],
                         improved)]
    parts += ["", "## The four questions", "", _answers(records), ""]
    return "\n".join(parts)


def to_html(markdown_text: str, base: Path, title: str = "Course report") -> str:
    """One self-contained HTML page: Markdown rendered, every image embedded as a data URI."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])

    def embed(match):
        src = match.group(1)
        path = (base / html.unescape(src)).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"the report refers to a figure that does not exist: {path}")
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+\.png)"', embed, body)
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "img{max-width:100%;height:auto}table{border-collapse:collapse;margin:1rem 0}"
             "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}"
             "blockquote{background:#fff3cd;border-left:4px solid #e0a800;margin:0;padding:.5rem 1rem}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n{body}\n</body></html>\n")


def publish_figures(run_dir: Path, figures_dir: Path) -> Path:
    """Replace the PNGs in ``figures_dir`` with the run's figures (a folder to commit beside the report).

    The copies are made in a temporary folder first, so an interrupted copy leaves the old figures whole.
    """
    tmp = figures_dir.with_name(f".{figures_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for fig in sorted((run_dir / "figures").glob("*.png")):
        shutil.copy2(fig, tmp / fig.name)
    figures_dir.mkdir(parents=True, exist_ok=True)
    for old in figures_dir.glob("*.png"):
        old.unlink()
    for fig in tmp.iterdir():
        fig.replace(figures_dir / fig.name)
    tmp.rmdir()
    return figures_dir


def build(run_dir: Path, out_dir: Path, profile: str, figures_dir: Path | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` (atomically) and return their paths.

    With ``figures_dir`` the run's figures are copied there and its result records into
    ``out_dir/results`` (what a full run commits); the Markdown then refers to those copies.
    """
    from .files import save_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    if figures_dir is not None:
        publish_figures(run_dir, figures_dir)
        (out_dir / "results").mkdir(exist_ok=True)
        for rec in sorted((run_dir / "results").glob("*.json")):
            save_atomic(rec.read_bytes(), out_dir / "results" / rec.name)
    md = build_markdown(run_dir, out_dir, profile, figures_dir)
    md_path = save_atomic(md.encode(), out_dir / "report.md")
    html_path = save_atomic(to_html(md, out_dir).encode(), out_dir / "report.html")
    return md_path, html_path


def _notebooks_in(*folders: Path) -> set[str]:
    """The notebook numbers ("03", ...) that records or figures in ``folders`` come from."""
    names = [p.stem for folder in folders if folder.is_dir() for p in folder.glob("*") if p.suffix in (".json", ".png")]
    return {n[:2] for n in names if re.match(r"\d\d_", n)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=profiles.PROFILES, default="full")
    ap.add_argument("--run-dir", type=Path, default=None, help="default: runs/<profile> (or $COURSE_RUN_DIR)")
    ap.add_argument("--out", type=Path, default=profiles.REPO_ROOT / "report")
    ap.add_argument("--figures", type=Path, default=None,
                    help="copy the run's figures here and its records into OUT/results, and refer to the copies "
                         "(default: <repo>/figures when OUT is <repo>/report, the folders a full run commits; "
                         "otherwise the report refers to the run's own figures)")
    args = ap.parse_args(argv)
    run_dir = args.run_dir or profiles.run_dir(args.profile)
    if not (run_dir / "results").is_dir():
        print(f"no results in {run_dir / 'results'}: run the notebooks first "
              f"(python -m helpers.run --profile {args.profile})", file=sys.stderr)
        return 1
    if args.profile != "full" and args.out.resolve() == (profiles.REPO_ROOT / "report").resolve():
        print(f"the report in {args.out} is the full profile's: give the {args.profile} profile's report its own "
              f"folder, e.g. --out /tmp/report-{args.profile}", file=sys.stderr)
        return 1
    figures_dir = args.figures
    if figures_dir is None and args.out.resolve() == (profiles.REPO_ROOT / "report").resolve():
        figures_dir = profiles.REPO_ROOT / "figures"
    if figures_dir is not None:     # publishing replaces the folders: a notebook the run lacks would vanish
        lost = sorted(_notebooks_in(figures_dir, args.out / "results")
                      - _notebooks_in(run_dir / "figures", run_dir / "results"))
        if lost:
            print(f"no report written: {run_dir} holds no records or figures of notebook(s) {', '.join(lost)}, "
                  f"so publishing it would delete theirs from {args.out / 'results'} and {figures_dir}. Run those "
                  f"notebooks into it (python -m helpers.run --profile {args.profile}), or first copy the published "
                  f"ones into it without overwriting (cp -n {args.out / 'results'}/*.json {run_dir / 'results'}/; "
                  f"cp -n {figures_dir}/*.png {run_dir / 'figures'}/)", file=sys.stderr)
            return 1
    try:
        md, page = build(run_dir, args.out, args.profile, figures_dir)
    except results.RecordError as e:
        print(f"no report written: {e}", file=sys.stderr)
        return 1
    print(f"wrote {md} and {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
