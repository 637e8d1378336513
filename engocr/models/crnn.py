"""CRNN recognizer: a light VGG-style convolutional body that turns a 32-pixel-high word crop
into a sequence over its width, a sequence head, and per-step class logits for CTC.

Bodies: `vgg` (plain 3x3 convolutions, shipped) or `mobile` (depthwise-separable blocks).
Heads, chosen by measurement (see README): `conv` (dilated 1-D convolutions, fast everywhere),
`bilstm` / `bigru` (recurrent; exported unrolled at a fixed width, see notes/stack.md).
Optional stages (issue 29), off by default so every earlier run config builds the same model:
`rectify="tps"` straightens the crop before the body (`engocr.models.rectify`), and
`mixer_blocks` > 0 adds self-attention blocks after the head (`engocr.models.mixer`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers

from engocr.charset import NUM_CLASSES


@dataclass(frozen=True)
class CRNNConfig:
    height: int = 32
    width: int = 128
    channels: int = 1
    head: str = "conv"  # conv | bilstm | bigru
    body: str = "vgg"  # vgg (plain 3x3 convolutions) | mobile (depthwise-separable)
    widths: tuple[int, ...] = (32, 64, 96, 96, 128)
    hidden: int = 128
    unroll: bool = False  # recurrent heads: unrolled for export and oneDNN speed
    rectify: str = "none"  # none | tps (thin-plate-spline spatial transformer)
    tps_points: int = 20  # fiducial points of the TPS (half on each edge)
    mixer_blocks: int = 0  # SVTR-like self-attention blocks over the sequence
    mixer_heads: int = 4
    mixer_dim: int = 0  # width of the mixing blocks (0: the head's width)
    mixer_norm: str = "layer"  # layer | batch (folds away in int8)
    # crops narrower than this x their height are widened to it (preprocess.fit_crop_to_width)
    min_aspect: float = 0.0

    @property
    def time_steps(self) -> int:
        return self.width // 4

    def to_dict(self) -> dict:
        return asdict(self)


def _conv_bn(x, filters: int, name: str, kernel=(3, 3)):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _sep_bn(x, filters: int, name: str, kernel=(3, 3)):
    """MobileNet-style block: depthwise then pointwise, each with BatchNorm and ReLU."""
    x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dwbn")(x)
    x = layers.ReLU(name=f"{name}_dwrelu")(x)
    return _conv_bn(x, filters, name, kernel=(1, 1))


def build_crnn(config: CRNNConfig = CRNNConfig()) -> keras.Model:
    """Input: pixel values 0..255 (float32, HxWxC); normalisation to [-1, 1] is in the model so
    that the runtime and int8 quantisation see raw pixels. Output: (batch, W/4, classes) logits,
    class 0 = CTC blank."""
    c = config
    inputs = keras.Input((c.height, c.width, c.channels), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(inputs)
    if c.rectify == "tps":
        from engocr.models.rectify import tps_rectify

        x = tps_rectify(x, c.tps_points)
    elif c.rectify != "none":
        raise ValueError(f"unknown rectify {c.rectify!r}")
    w = c.widths
    if c.body not in ("vgg", "mobile"):
        raise ValueError(f"unknown body {c.body!r}")
    # The first block sees one channel: a depthwise convolution there would be too weak.
    block = _conv_bn if c.body == "vgg" else _sep_bn
    x = _conv_bn(x, w[0], "block1")
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)  # 16 x W/2
    x = block(x, w[1], "block2")
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)  # 8 x W/4
    x = block(x, w[2], "block3a")
    x = block(x, w[3], "block3b")
    x = layers.MaxPooling2D((2, 1), name="pool3")(x)  # 4 x W/4
    x = block(x, w[4], "block4")
    x = layers.MaxPooling2D((2, 1), name="pool4")(x)  # 2 x W/4
    x = _conv_bn(x, w[4], "block5", kernel=(2, 1))
    x = layers.Conv2D(w[4], (2, 1), padding="valid", name="collapse")(x)  # 1 x W/4
    x = layers.Reshape((c.time_steps, w[4]), name="to_sequence")(x)
    if c.head == "conv":
        for i, dilation in enumerate((1, 2, 4)):
            y = layers.Conv1D(c.hidden, 3, padding="same", dilation_rate=dilation,
                              activation="relu", name=f"seq{i}")(x)
            x = layers.Add(name=f"seq{i}_res")([x, y]) if x.shape[-1] == c.hidden else y
    elif c.head in ("bilstm", "bigru"):
        cell = layers.LSTM if c.head == "bilstm" else layers.GRU
        x = layers.Bidirectional(cell(c.hidden // 2, return_sequences=True, unroll=c.unroll),
                                 name="seq_rnn")(x)
    else:
        raise ValueError(f"unknown sequence head {c.head!r}")
    if c.mixer_blocks:
        from engocr.models.mixer import mixer_blocks

        x = mixer_blocks(x, c.mixer_blocks, c.mixer_heads, c.mixer_dim,
                         norm=c.mixer_norm)
    x = layers.Dropout(0.1, name="dropout")(x)
    logits = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, logits, name=f"crnn_{c.body}_{c.head}")


# Blocks frozen in the first fine-tuning stage (the lower, most generic features).
LOWER_BLOCKS = ("block1", "block2", "block3a")


def set_lower_trainable(model: keras.Model, trainable: bool) -> None:
    """Freeze or unfreeze the lower convolution blocks (BatchNorm included)."""
    for layer in model.layers:
        if layer.name.split("_")[0] in LOWER_BLOCKS:
            layer.trainable = trainable
