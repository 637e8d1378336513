"""SVTR-like global mixing blocks over the CRNN's width sequence, kept CTC-decoded.

A convolutional head sees a few characters either side; a curved or slanted word spreads a
letter's evidence over columns further apart. Pre-norm multi-head self-attention plus an MLP,
each residual, lets every column look at the whole word before the per-column logits, so the
numba CTC decoder and the word list stay as they are. A learned position embedding tells the
attention where each column is (the convolutions before it carry little absolute position).
All of it converts to builtin TFLite ops (FULLY_CONNECTED, BATCH_MATMUL, SOFTMAX, GELU).
"""

from __future__ import annotations

import keras
from keras import layers


@keras.saving.register_keras_serializable("engocr")
class PositionEmbedding(layers.Layer):
    """Adds a learned (steps, dim) embedding to a (B, steps, dim) sequence."""

    def build(self, input_shape):
        self.embedding = self.add_weight(name="embedding", shape=tuple(input_shape[1:]),
                                         initializer=keras.initializers.TruncatedNormal(
                                             stddev=0.02))

    def call(self, x):
        return x + self.embedding


def mixer_blocks(x, blocks: int, heads: int = 4, dim: int = 0, mlp_ratio: int = 2,
                 dropout: float = 0.1):
    """`blocks` pre-norm transformer blocks on (B, T, D); layers named `mixer*`. `dim` > 0
    projects the sequence to that width first (the blocks' cost grows with its square)."""
    if dim and dim != x.shape[-1]:
        x = layers.Dense(dim, name="mixer_in")(x)
    dim = x.shape[-1]
    if dim % heads:
        raise ValueError(f"mixer_heads {heads} must divide the mixer width {dim}")
    x = PositionEmbedding(name="mixer_pos")(x)
    for i in range(blocks):
        y = layers.LayerNormalization(epsilon=1e-5, name=f"mixer{i}_ln1")(x)
        y = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout,
                                      name=f"mixer{i}_attn")(y, y)
        x = layers.Add(name=f"mixer{i}_res1")([x, y])
        y = layers.LayerNormalization(epsilon=1e-5, name=f"mixer{i}_ln2")(x)
        y = layers.Dense(dim * mlp_ratio, name=f"mixer{i}_fc1")(y)
        y = layers.Activation("gelu", name=f"mixer{i}_gelu")(y)
        y = layers.Dense(dim, name=f"mixer{i}_fc2")(y)
        y = layers.Dropout(dropout, name=f"mixer{i}_drop")(y)
        x = layers.Add(name=f"mixer{i}_res2")([x, y])
    return layers.LayerNormalization(epsilon=1e-5, name="mixer_norm")(x)

