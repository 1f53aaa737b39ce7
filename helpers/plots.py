"""Figures for the notebooks and the report, in one consistent style.

Every function returns the matplotlib ``Figure`` (or draws into a given ``Axes``)
with a title and labelled axes; ``save`` writes it as a PNG at a modest DPI.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm

STYLE = {"figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
         "axes.spines.top": False, "axes.spines.right": False}
plt.rcParams.update(STYLE)


def save(fig, path: str | Path) -> None:
    """Write ``fig`` as a PNG atomically (rendered in memory, then ``files.save_atomic``)."""
    from .files import save_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    save_atomic(buf.getvalue(), path)
    return None


def image_grid(images, titles=None, ncols: int = 8, title: str = "", size: float = 1.0):
    """Show uint8 images ``[N, C, H, W]`` in a grid, each with an optional title."""
    images = images.cpu() if hasattr(images, "cpu") else images
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = images[i]
            ax.imshow(img.permute(1, 2, 0).numpy() if img.shape[0] == 3 else img[0].numpy(),
                      cmap=None if img.shape[0] == 3 else "gray", interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def class_balance(counts: dict, classes, title: str = "Images per class"):
    """Grouped bars: how many images of each class every split holds (``{split: counts}``)."""
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame([{"class": c, "split": s, "images": int(n)}
                       for s, cnt in counts.items() for c, n in zip(classes, cnt)])
    fig, ax = plt.subplots(figsize=(max(6, len(classes) * 0.7), 3.2))
    sns.barplot(df, x="class", y="images", hue="split", ax=ax)
    ax.set(title=title, xlabel="class", ylabel="number of images")
    ax.tick_params(axis="x", rotation=45)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), title="split")
    fig.tight_layout()
    return fig


def curves(runs: dict, metrics=("train_loss", "val_acc"), title: str = "", loglog: bool = False):
    """Training curves, one line per run, mean ± standard deviation over its seeds as a band.

    ``runs`` maps a label to a list of ``History`` objects (one per seed) or an ``Outcome``.
    ``loglog``: both axes of every panel on a log scale, as report E plotted its runs (a power
    law is a straight line there, and late epochs get as much room as early ones).
    """
    labels = {"train_loss": "training loss", "val_loss": "validation loss",
              "train_acc": "training accuracy", "val_acc": "validation accuracy"}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, hs in runs.items():
            hs = getattr(hs, "histories", hs)
            n = min(len(h.epoch) for h in hs)
            values = np.array([getattr(h, metric)[:n] for h in hs], dtype=float)
            x = np.arange(1, n + 1)
            mean = np.nanmean(values, 0)
            line, = ax.plot(x, mean, label=label)
            if len(hs) > 1:
                std = np.nanstd(values, 0)
                ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set(xlabel="epoch", ylabel=labels.get(metric, metric), title=labels.get(metric, metric))
        if loglog:
            ax.set(xscale="log", yscale="log")
    axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- Lesson 01: gradient descent on 2-D functions --------------------------


LANDSCAPE_CMAP = ListedColormap(plt.cm.Greys(np.linspace(0.0, 0.6, 256)))  # white (low) to mid-grey


def contour_trajectories(f, trajectories: dict, ax=None, title: str | None = None,
                         bounds=None, log: bool = True, levels: int = 15, n: int = 200,
                         units: str = "", mark_minima: bool = True):
    """Filled contours of a 2-D function with descent trajectories drawn over them.

    Light is low, dark is high; with ``log=True`` the levels are spaced
    geometrically in ``f - min`` (say so in the title). Filled bands keep the
    PNG small, unlike thousands of contour lines.

    Args:
        f: anything with ``value(x, y)`` (vectorised) and ``bounds``, such as a
            ``helpers.gd.TestFunction`` or ``GriddedFunction``; ``min_value``
            and ``minima`` are used when present.
        trajectories: ``{label: array (steps + 1, 2)}`` (or a ``Descent``, whose
            ``path`` is taken). Each path gets a line, a dot at its start and a
            cross at its end.
        ax: draw into these axes; a new figure otherwise.
        bounds: ``((xmin, xmax), (ymin, ymax))``; ``f.bounds`` by default.
        log: space the levels geometrically in ``f - min`` so that both the
            steep walls and the flat floor get lines.
        levels: how many contour levels.
        n: grid points per axis for the contours.
        units: appended to the axis labels, e.g. ``"grid units"``.
        mark_minima: mark ``f.minima`` with a star.

    Returns:
        The figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
    fig = ax.figure
    (x0, x1), (y0, y1) = bounds if bounds is not None else f.bounds
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = np.asarray(f.value(X, Y), dtype=np.float64)
    if log:
        fmin = getattr(f, "min_value", None)
        fmin = Z.min() if fmin is None else min(fmin, Z.min())
        D = Z - fmin
        top = np.percentile(D, 99)
        low = max(np.percentile(D, 1), top * 1e-6, 1e-12)
        ax.contourf(X, Y, np.clip(D, low, top), levels=np.geomspace(low, top, levels),
                    norm=LogNorm(low, top), cmap=LANDSCAPE_CMAP)
    else:
        ax.contourf(X, Y, Z, levels=levels, cmap=LANDSCAPE_CMAP)
    for (name, path), color in zip(trajectories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        path = np.asarray(getattr(path, "path", path))
        ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.2, alpha=0.9,
                label=f"{name} ({len(path) - 1} steps)")
        ax.plot(*path[0], "o", color=color, ms=5)
        ax.plot(*path[-1], "x", color=color, ms=8, mew=2)
    if mark_minima and getattr(f, "minima", None) is not None:
        ax.plot(f.minima[:, 0], f.minima[:, 1], "*", color="black", mec="white", ms=13,
                label="global minimum")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    suffix = f" ({units})" if units else ""
    ax.set_xlabel("x" + suffix)
    ax.set_ylabel("y" + suffix)
    ax.set_title(title if title is not None else getattr(f, "name", ""))
    if trajectories:
        ax.legend(fontsize=7, loc="best")
    return fig


def convergence_curves(results: dict, ax=None, title: str = "Convergence",
                       f_min: float = 0.0, what: str = "value"):
    """``f(x_t) - f_min`` (or the gradient norm) against the step, on a log scale.

    Args:
        results: ``{label: Descent}`` from ``helpers.gd.descend``.
        ax: draw into these axes; a new figure otherwise.
        title: the axes title.
        f_min: subtracted from the values (the known minimum).
        what: ``"value"`` for ``f - f_min`` or ``"grad"`` for the gradient norm.

    Returns:
        The figure.
    """
    if what not in ("value", "grad"):
        raise ValueError(f"what must be 'value' or 'grad', got {what!r}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
    fig = ax.figure
    for name, r in results.items():
        y = r.values - f_min if what == "value" else r.grad_norms
        ax.semilogy(np.arange(len(y)), y, lw=1.2, label=f"{name}: {r.reason}, {r.steps} steps")
    ax.set_xlabel("step t")
    ax.set_ylabel("f(x_t) − f_min" if what == "value" else "gradient norm |∇f(x_t)|")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig


# --- Evaluation (notebook 08) ----------------------------------------------------------------


def per_class_accuracy(evaluations: dict, title: str = "Test accuracy per class"):
    """Grouped bars: accuracy of every class for each model (``{name: Evaluation}``)."""
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame([{"model": name, "class": c, "accuracy": float(a)}
                       for name, ev in evaluations.items() for c, a in zip(ev.classes, ev.per_class)])
    fig, ax = plt.subplots(figsize=(max(7, 0.8 * df["class"].nunique()), 3.6))
    sns.barplot(df, x="class", y="accuracy", hue="model", ax=ax)
    ax.set(title=title, xlabel="class", ylabel="accuracy", ylim=(0, 1))
    ax.tick_params(axis="x", rotation=45)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def confusion(evaluation, title: str = "Confusion matrix", ax=None):
    """Row-normalised confusion matrix as a heatmap: row = true class, column = predicted class."""
    import seaborn as sns

    cm = evaluation.confusion_rates
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 5.4))
    sns.heatmap(cm.numpy(), annot=len(cm) <= 10, fmt=".0%", annot_kws={"size": 7}, cmap="Blues", vmin=0, vmax=1,
                square=True,
                xticklabels=evaluation.classes, yticklabels=evaluation.classes, ax=ax,
                cbar_kws={"label": "share of the true class"})
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    ax.grid(False)
    ax.figure.tight_layout()
    return ax.figure


def roc(evaluation, title: str = "One-vs-rest ROC curves", ax=None):
    """One ROC curve per class (that class against all others), with its area under the curve."""
    from sklearn.metrics import auc, roc_curve

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.6, 5))
    probs, labels = evaluation.probabilities.numpy(), evaluation.labels.numpy()
    for k, name in enumerate(evaluation.classes):
        fpr, tpr, _ = roc_curve(labels == k, probs[:, k])
        ax.plot(fpr, tpr, lw=1.2, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    ax.set(title=title, xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7, loc="lower right")
    ax.figure.tight_layout()
    return ax.figure


def confidently_wrong(images, evaluation, k: int = 16, title: str = "The most confidently wrong test images"):
    """The ``k`` test images whose wrong prediction had the highest probability."""
    probs = evaluation.probabilities
    pred = probs.argmax(1)
    conf = probs.max(1).values.masked_fill(pred == evaluation.labels, -1.0)
    idx = conf.argsort(descending=True)[:k]
    idx = idx[conf[idx] >= 0]
    names = [f"{evaluation.classes[pred[i]]} {conf[i]:.0%}\n(true: {evaluation.classes[evaluation.labels[i]]})"
             for i in idx]
    return image_grid(images[idx], names, ncols=8, title=title, size=1.25)


def heatmap(table, title: str, value_label: str = "validation accuracy", fmt: str = ".3f"):
    """A pandas table (rows x columns of one measured value) as an annotated heatmap."""
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(1.4 * len(table.columns) + 2.5, 0.5 * len(table) + 1.6))
    sns.heatmap(table.astype(float), annot=True, fmt=fmt, cmap="viridis", ax=ax, cbar_kws={"label": value_label})
    ax.set(title=title, xlabel=table.columns.name or "", ylabel=table.index.name or "")
    ax.grid(False)
    fig.tight_layout()
    return fig


# --- Lesson 07: hyperparameter sweeps (an Optuna study of helpers.sweep) ------------


def sweep_curves(study, top: int = 30):
    """Validation accuracy per epoch of the ``top`` best completed trials (the best in yellow),
    with pruned trials as thin grey lines where they stopped."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    best = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value, reverse=True)[:top]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    for i, t in enumerate(pruned):
        curve = t.user_attrs.get("val_acc", [])
        ax.plot(range(1, len(curve) + 1), curve, color="0.6", lw=0.8, alpha=0.7, marker="x", ms=3,
                label="pruned" if i == 0 else None)
    cmap = plt.get_cmap("viridis")
    for rank, t in reversed(list(enumerate(best))):
        curve = t.user_attrs.get("val_acc", [])
        ax.plot(range(1, len(curve) + 1), curve, color=cmap(1 - rank / max(1, len(best) - 1)),
                lw=2.2 if rank == 0 else 1.0, label=f"trial {t.number}: {t.value:.3f}" if rank < 3 else None)
    ax.set(xlabel="epoch", ylabel="validation accuracy",
           title=f"{study.study_name}: the best {len(best)} trials' validation curves")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    handles, labels = ax.get_legend_handles_labels()       # the best trial first, "pruned" last
    order = sorted(range(len(labels)), key=lambda i: (labels[i] == "pruned", -float(labels[i].split()[-1] or 0)
                                                      if labels[i] != "pruned" else 0))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def sweep_parallel(study):
    """Optuna's parallel-coordinate plot of the completed trials: one line per trial through its
    parameter values (those that varied), coloured by validation accuracy."""
    import optuna
    from optuna.trial import TrialState

    from .sweep import quiet_optuna, study_settings

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    varied = [k for k in study_settings(study)["space"]           # a parameter that never varied has no axis
              if len({repr(t.params.get(k)) for t in complete}) > 1]
    with quiet_optuna():                    # Optuna's matplotlib plots are marked experimental
        ax = optuna.visualization.matplotlib.plot_parallel_coordinate(study, params=varied or None,
                                                                      target_name="val acc")
    fig = ax.figure
    fig.set_size_inches(8, 3.6)
    ax.set_title(f"{study.study_name}: parallel coordinates (completed trials)")
    plt.tight_layout()
    return fig


def sweep_importances(study, seed: int = 0):
    """Horizontal bars of ``sweep.importances(study)``."""
    from .sweep import importances

    imp = importances(study, seed)
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(imp) + 1.2))
    names = list(imp)[::-1]
    ax.barh(names, [imp[n] for n in names], color="tab:blue")
    ax.set(xlabel="importance (share of the variance of val acc, fANOVA)",
           title=f"{study.study_name}: parameter importances")
    fig.tight_layout()
    return fig


# --- Lesson 09: transfer learning ----------------------------------------------


def tsne_scatter(points, labels, classes, title: str = "", ax=None, size: float = 6.0):
    """A 2-D map (``features.tsne`` output ``[N, 2]``), one colour per class, with a legend.

    t-SNE keeps neighbourhoods, not distances: read which classes form their own clusters
    and which overlap, not how far apart clusters lie. The axes have no units.
    """
    points = np.asarray(points)
    labels = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"points must be [N, 2] with one label each, got {points.shape} and {labels.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.4))
    fig = ax.figure
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for k, name in enumerate(classes):
        sel = labels == k
        if sel.any():
            ax.scatter(points[sel, 0], points[sel, 1], s=size, color=cmap(k % cmap.N), label=name, alpha=0.8,
                       linewidths=0)
    ax.set(title=title, xlabel="t-SNE 1", ylabel="t-SNE 2", xticks=[], yticks=[])
    ax.legend(fontsize=7, markerscale=2, loc="best", frameon=True)
    return fig


def grouped_bars(values: dict, names, title: str, ylabel: str, xlabel: str, ax=None):
    """Bars per name (e.g. the 20 CIFAR-100 superclasses), one bar colour per series in ``values``
    (``{series label: [value per name]}``); ``xlabel`` says what the names are."""
    names = list(names)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(names) * max(1, len(values))), 3.8))
    fig = ax.figure
    width = 0.8 / max(1, len(values))
    x = np.arange(len(names))
    for i, (label, v) in enumerate(values.items()):
        v = np.asarray(v, dtype=float)
        if len(v) != len(names):
            raise ValueError(f"series {label!r} has {len(v)} values for {len(names)} names")
        ax.bar(x + (i - (len(values) - 1) / 2) * width, v, width, label=label)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set(title=title, ylabel=ylabel, xlabel=xlabel)
    if len(values) > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))   # beside the bars, never over them
    fig.tight_layout()
    return fig
