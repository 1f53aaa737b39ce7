"""Figures for the notebooks and the report, in one consistent style.

Every function returns the matplotlib ``Figure`` (or draws into a given ``Axes``)
with a title and labelled axes; ``save`` writes it as a PNG at a modest DPI.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

STYLE = {"figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
         "axes.spines.top": False, "axes.spines.right": False}
plt.rcParams.update(STYLE)


def save(fig, path: str | Path) -> None:
    """Write ``fig`` as a PNG atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
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


def curves(runs: dict, metrics=("train_loss", "val_acc"), title: str = "", logy_loss: bool = False):
    """Training curves, one line per run, mean ± standard deviation over its seeds as a band.

    ``runs`` maps a label to a list of ``History`` objects (one per seed) or an ``Outcome``.
    """
    import numpy as np

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
        if logy_loss and "loss" in metric:
            ax.set_yscale("log")
    axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
