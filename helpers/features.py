"""What a network has learnt to see: its penultimate-layer features, and t-SNE maps of them.

    feats = penultimate_features(model, batches)     # [N, D], what the head reads
    points = tsne(feats, seed=0)                     # [N, 2], for plots.tsne_scatter

The penultimate features are the input of the classification head, so a linear
classifier on them is all the head is. Classes that form separate clusters in a
t-SNE map of them are easy for that head; classes that overlap are where it errs.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["head_layer", "penultimate_features", "tsne"]


def head_layer(model: nn.Module) -> nn.Module:
    """The classification head of ``model``: for ``helpers.models.pretrained`` models the first of
    their ``head_names``, otherwise the last ``nn.Linear`` (LeNet's fc3, an MLP's output layer)."""
    names = getattr(model, "head_names", None)
    if names:
        return model.get_submodule(names[0])
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to take as its head: "
                         "pass the layer whose input you want as layer=...")
    return linears[-1]


@torch.no_grad()
def penultimate_features(model: nn.Module, batches, layer: nn.Module | str | None = None,
                         limit: int | None = None) -> torch.Tensor:
    """The features the head of ``model`` reads, for every image of ``batches``: ``[N, D]`` on the CPU.

    A forward pre-hook on the head (``layer``, default ``head_layer(model)``; a module or its
    dotted name) records its input, i.e. the output of the layer before it after whatever
    activation or flattening ``forward`` applies in between. Feature maps ``[N, C, H, W]``
    (SqueezeNet's convolutional head) are averaged over H and W. The model runs in eval mode;
    ``limit`` stops after that many images. Rows follow the order of ``batches`` (use an
    unshuffled ``Batches``; its ``data.labels`` then give each row's class).
    """
    if layer is None:
        layer = head_layer(model)
    elif isinstance(layer, str):
        layer = model.get_submodule(layer)
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach()))
    was_training = model.training
    model.eval()
    try:
        count = 0
        for x, _ in batches:
            model(x)
            count += len(x)
            if limit is not None and count >= limit:
                break
    finally:
        hook.remove()
        model.train(was_training)
    if not seen:
        raise ValueError("no images reached the head: is the set empty?")
    feats = torch.cat([f.float().mean((2, 3)) if f.dim() == 4 else f.float().flatten(1) for f in seen]).cpu()
    return feats[:limit] if limit is not None else feats


def tsne(features, seed: int = 0, perplexity: float = 30.0, pca_dims: int = 50) -> np.ndarray:
    """A seeded 2-D t-SNE map of ``features`` ``[N, D]`` (tensor or array): ``[N, 2]``.

    Features are standardised and, above ``pca_dims`` dimensions, first reduced by PCA
    (the usual speed-up; it keeps the large-scale structure). The perplexity is capped
    at (N - 1) / 3 so that small sets work too.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(features.cpu() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 5:
        raise ValueError(f"tsne needs features [N, D] with N >= 5, got shape {x.shape}")
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    if x.shape[1] > pca_dims:
        x = PCA(pca_dims, random_state=seed).fit_transform(x) if len(x) > pca_dims else x
    perplexity = min(perplexity, (len(x) - 1) / 3)
    points = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed).fit_transform(x)
    return points.astype(np.float32)
