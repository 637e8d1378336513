"""SVTR-like global mixing blocks over the CRNN's width sequence, kept CTC-decoded.

A convolutional head sees a few characters either side; a curved or slanted word spreads a
letter's evidence over columns further apart. Pre-norm multi-head self-attention plus an MLP,
each residual, lets every column look at the whole word before the per-column logits, so the
numba CTC decoder and the word list stay as they are. A learned position embedding tells the
attention where each column is (the convolutions before it carry little absolute position).

The blocks start as the identity: each residual branch is scaled by a per-channel gate that
starts at zero (LayerScale), the position embedding starts at zero and there is no final norm,
so a run started from a trained CRNN (`--init-from`) reads exactly as well at step 0 and the
attention is learned on top of it. All of it converts to builtin TFLite ops (FULLY_CONNECTED,
BATCH_MATMUL, SOFTMAX, GELU).
"""

from __future__ import annotations

import keras
from keras import layers

NORMS = ("layer", "batch")


@keras.saving.register_keras_serializable("engocr")
class PositionEmbedding(layers.Layer):
    """Adds a learned (steps, dim) embedding, zero at first, to a (B, steps, dim) sequence."""

    def build(self, input_shape):
        self.embedding = self.add_weight(name="embedding", shape=tuple(input_shape[1:]),
                                         initializer="zeros")

    def call(self, x):
        return x + self.embedding


@keras.saving.register_keras_serializable("engocr")
class LayerScale(layers.Layer):
    """Multiplies a residual branch by a learned per-channel gate that starts at zero."""

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],),
                                     initializer="zeros")

    def call(self, x):
        return x * self.gamma


def _norm(x, kind: str, name: str):
    """Layer norm (the transformer's) or batch norm: batch norm folds into a multiply-add at
    export, where int8 layer norm runs as a chain of mean, variance and rsqrt ops."""
    if kind == "layer":
        return layers.LayerNormalization(epsilon=1e-5, name=name)(x)
    if kind == "batch":
        return layers.BatchNormalization(epsilon=1e-5, name=name)(x)
    raise ValueError(f"unknown mixer norm {kind!r} (one of {', '.join(NORMS)})")


def mixer_blocks(x, blocks: int, heads: int = 4, dim: int = 0, mlp_ratio: int = 2,
                 dropout: float = 0.1, norm: str = "layer"):
    """`blocks` pre-norm transformer blocks on (B, T, D); layers named `mixer*`. `dim` > 0 is
    the width inside the attention and the MLP (their cost grows with it); the residual
    sequence keeps D. `norm="batch"` halves the blocks' int8 cost (benchmarks/rec_round3.py)."""
    width = x.shape[-1]
    dim = dim or width
    if dim % heads:
        raise ValueError(f"mixer_heads {heads} must divide the mixer width {dim}")
    x = PositionEmbedding(name="mixer_pos")(x)
    for i in range(blocks):
        y = _norm(x, norm, f"mixer{i}_ln1")
        y = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout,
                                      name=f"mixer{i}_attn")(y, y)  # projects back to D
        y = LayerScale(name=f"mixer{i}_scale1")(y)
        x = layers.Add(name=f"mixer{i}_res1")([x, y])
        y = _norm(x, norm, f"mixer{i}_ln2")
        y = layers.Dense(dim * mlp_ratio, name=f"mixer{i}_fc1")(y)
        y = layers.Activation("gelu", name=f"mixer{i}_gelu")(y)
        y = layers.Dense(width, name=f"mixer{i}_fc2")(y)
        y = layers.Dropout(dropout, name=f"mixer{i}_drop")(y)
        y = LayerScale(name=f"mixer{i}_scale2")(y)
        x = layers.Add(name=f"mixer{i}_res2")([x, y])
    return x
