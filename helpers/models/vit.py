"""A Vision Transformer written by hand, attention included.

image -> patches (strided conv) -> [class token, patch tokens] + position embeddings
-> depth x pre-norm encoder layer -> head on the class token (LayerNorm -> Linear, or with
``head_hidden``: LayerNorm -> Linear -> GELU -> dropout -> Linear).

Origin: the sources' hand-written ViT. As there, ``head_dim`` and
``num_heads`` are independent of ``embed_dim`` (e.g. embed_dim 32 with 20
heads of 16): the heads' concatenation (num_heads * head_dim wide) is
projected back to embed_dim.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_dropout, check_images, check_positive


def attention(q, k, v, dropout: nn.Module | None = None):
    """softmax(q k^T / sqrt(d)) v over the last two dimensions.

    ``q``, ``k``, ``v``: [..., tokens, d]. Returns the attended values
    [..., tokens, d] and the attention weights [..., tokens, tokens] (before
    dropout, which only touches the weights used to mix ``v``).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = scores.softmax(dim=-1)
    mixing = dropout(weights) if dropout is not None else weights
    return mixing @ v, weights


class AttentionHead(nn.Module):
    """One attention head: project the tokens to queries, keys, values, then attend.

    [B, tokens, embed_dim] -> ([B, tokens, head_dim], weights [B, tokens, tokens]).
    """

    def __init__(self, embed_dim: int, head_dim: int, dropout: float = 0.0):
        super().__init__()
        check_positive("AttentionHead", embed_dim=embed_dim, head_dim=head_dim)
        check_dropout("AttentionHead", dropout)
        self.query = nn.Linear(embed_dim, head_dim)
        self.key = nn.Linear(embed_dim, head_dim)
        self.value = nn.Linear(embed_dim, head_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor):
        return attention(self.query(x), self.key(x), self.value(x), self.dropout)


class HeadView:
    """Head ``index`` of a :class:`MultiHeadAttention`, used like an :class:`AttentionHead`.

    ``view.query(x)`` (and ``key``, ``value``) project with that head's rows of the layer's
    matrices; ``view(x)`` attends. It holds no parameters of its own.
    """

    def __init__(self, mha: "MultiHeadAttention", index: int):
        self.mha, self.index = mha, index

    def _project(self, name: str, x: torch.Tensor) -> torch.Tensor:
        layer, d = getattr(self.mha, name), self.mha.head_dim
        rows = slice(self.index * d, (self.index + 1) * d)
        return F.linear(x, layer.weight[rows], layer.bias[rows])

    def query(self, x):
        return self._project("query", x)

    def key(self, x):
        return self._project("key", x)

    def value(self, x):
        return self._project("value", x)

    def __call__(self, x: torch.Tensor):
        return attention(self.query(x), self.key(x), self.value(x), self.mha.dropout)


class MultiHeadAttention(nn.Module):
    """``num_heads`` attention heads side by side, concatenated, then projected to embed_dim.

    [B, tokens, embed_dim] -> ([B, tokens, embed_dim], weights [B, heads, tokens, tokens]).

    Each head is an :class:`AttentionHead`'s computation with its own query, key and value
    projections. Their weights are stored stacked, one matrix per projection (rows
    ``i * head_dim`` to ``(i + 1) * head_dim`` are head ``i``'s), so that ``forward`` computes all
    heads in one batched matmul and a training step launches a few large operations instead of
    many tiny ones per head. ``self.heads[i]`` is head ``i`` (a :class:`HeadView`), and
    ``forward_loop`` computes the same thing one head at a time, as the diagram reads.
    """

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int, dropout: float = 0.0):
        super().__init__()
        check_positive("MultiHeadAttention", embed_dim=embed_dim,
                       num_heads=num_heads, head_dim=head_dim)
        check_dropout("MultiHeadAttention", dropout)
        self.num_heads, self.head_dim = num_heads, head_dim
        # nn.Linear's initialisation depends on embed_dim only: the same as one Linear per head
        self.query = nn.Linear(embed_dim, num_heads * head_dim)
        self.key = nn.Linear(embed_dim, num_heads * head_dim)
        self.value = nn.Linear(embed_dim, num_heads * head_dim)
        self.heads = [HeadView(self, i) for i in range(num_heads)]   # views, no parameters
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(num_heads * head_dim, embed_dim)

    def _all_heads(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Every head's ``name`` ("query", "key", "value") projection: [B, heads, T, head_dim]."""
        y = getattr(self, name)(x)  # [B, T, heads * head_dim]
        return y.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def forward(self, x: torch.Tensor):
        q, k, v = (self._all_heads(x, name) for name in ("query", "key", "value"))
        attended, weights = attention(q, k, v, self.dropout)  # [B, heads, T, head_dim]
        concat = attended.transpose(1, 2).flatten(2)  # [B, T, heads * head_dim]
        return self.proj(concat), weights

    def forward_loop(self, x: torch.Tensor):
        """Same as ``forward``, one head after the other (slower, reads like the diagram)."""
        outputs, weights = zip(*(head(x) for head in self.heads))
        return self.proj(torch.cat(outputs, dim=-1)), torch.stack(weights, dim=1)


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(LN(x)), then x + mlp(LN(x)).

    The MLP is embed_dim -> mlp_dim -> embed_dim with GELU and dropout.
    ``forward`` returns the new tokens and the layer's attention weights.
    """

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int, mlp_dim: int,
                 dropout: float = 0.0):
        super().__init__()
        check_positive("EncoderLayer", mlp_dim=mlp_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads, head_dim, dropout)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, embed_dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor):
        attended, weights = self.attn(self.norm1(x))
        x = x + attended
        x = x + self.mlp(self.norm2(x))
        return x, weights


class PatchEmbedding(nn.Module):
    """Cut the image into patch_size x patch_size patches and embed each one linearly.

    A conv with kernel = stride = patch_size does exactly that.
    [B, C, H, W] -> [B, (H / patch_size) * (W / patch_size), embed_dim].
    """

    def __init__(self, patch_size: int, in_channels: int, embed_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv(images).flatten(2).transpose(1, 2)


class ViT(nn.Module):
    """Vision Transformer: patch embedding, class token, position embeddings, encoder, head.

    ``dropout`` is used on the embedded tokens, on the attention weights and
    in the MLPs. ``head_hidden=None`` gives the head LayerNorm -> Linear; an
    integer gives the sources' MLP head LayerNorm -> Linear(embed_dim,
    head_hidden) -> GELU -> dropout -> Linear(head_hidden, num_classes).
    ``attention_maps(images)`` returns each layer's attention weights and
    ``class_attention(images)`` the class token's attention to the patches, as
    a map over the patch grid, for visualisation.
    """

    def __init__(
        self,
        image_size: int = 32,
        patch_size: int = 4,
        in_channels: int = 3,
        num_classes: int = 10,
        embed_dim: int = 64,
        depth: int = 6,
        num_heads: int = 4,
        head_dim: int = 16,
        mlp_dim: int = 128,
        dropout: float = 0.1,
        head_hidden: int | None = None,
    ):
        super().__init__()
        check_positive("ViT", image_size=image_size, patch_size=patch_size,
                       in_channels=in_channels, num_classes=num_classes,
                       embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                       head_dim=head_dim, mlp_dim=mlp_dim)
        if head_hidden is not None:
            check_positive("ViT", head_hidden=head_hidden)
        check_dropout("ViT", dropout)
        if image_size % patch_size != 0:
            divisors = [p for p in range(1, image_size + 1) if image_size % p == 0]
            raise ValueError(
                f"ViT: image_size {image_size} is not divisible by patch_size {patch_size}; "
                f"choose a patch_size that divides it: {divisors}"
            )
        self.image_size, self.in_channels, self.patch_size = image_size, in_channels, patch_size
        self.num_patches = (image_size // patch_size) ** 2

        self.patch_embed = PatchEmbedding(patch_size, in_channels, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, self.num_patches + 1, embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embedding, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [EncoderLayer(embed_dim, num_heads, head_dim, mlp_dim, dropout) for _ in range(depth)]
        )
        if head_hidden is None:
            self.mlp_head = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, num_classes))
        else:
            self.mlp_head = nn.Sequential(
                nn.LayerNorm(embed_dim),
                nn.Linear(embed_dim, head_hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(head_hidden, num_classes),
            )

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] -> tokens [B, 1 + num_patches, embed_dim], class token first."""
        check_images("ViT", images, self.in_channels, self.image_size, "image_size={side}")
        patches = self.patch_embed(images)
        cls = self.cls_token.expand(len(images), -1, -1)
        tokens = torch.cat([cls, patches], dim=1) + self.pos_embedding
        return self.dropout(tokens)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.embed(images)
        for layer in self.layers:
            x, _ = layer(x)
        return self.mlp_head(x[:, 0])

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's attention weights, a list of ``depth`` tensors [B, heads, tokens, tokens].

        Token 0 is the class token; tokens 1.. are the patches row by row.
        Runs in eval mode (no dropout) and restores the model's mode afterwards.
        """
        was_training = self.training
        self.eval()
        try:
            maps, x = [], self.embed(images)
            for layer in self.layers:
                x, weights = layer(x)
                maps.append(weights)
        finally:
            self.train(was_training)
        return maps

    @torch.no_grad()
    def class_attention(self, images: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """How much the class token attends to each patch in ``layer``, averaged over the heads.

        Returns [B, H / patch_size, W / patch_size]: row 0 of the layer's attention
        weights without its first entry (the class token itself), on the patch grid.
        Each map sums to 1 minus the class token's attention to itself.
        """
        weights = self.attention_maps(images)[layer]  # [B, heads, tokens, tokens]
        side = self.image_size // self.patch_size
        return weights[:, :, 0, 1:].mean(dim=1).unflatten(-1, (side, side))
