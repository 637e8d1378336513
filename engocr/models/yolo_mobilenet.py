"""YOLOv3-style text detector on a MobileNet (v2 or v1) backbone: three scales (strides 8, 16,
32) joined by upsampling + concatenation, three anchors per scale, one class (text), so each
anchor predicts (tx, ty, tw, th, objectness); an `oriented` detector also predicts the word's
angle as (sin 2a, cos 2a), its w and h then being the word's own (along and across the text),
not its axis-aligned bound's (`engocr.realtime.oriented`).

The backbone is built without weights; a new training run may start it from ImageNet weights
read from a quantized TFLite classifier (`engocr.models.imagenet`, `DetectorConfig.pretrained`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers, ops

from engocr.models.imagenet import BACKBONES, build_backbone
from engocr.realtime.end_head import END_CHANNELS, END_OUTPUT
from engocr.realtime.oriented import box_channels

BN_MOMENTUM = 0.99


@dataclass(frozen=True)
class DetectorConfig:
    """`width` x `height`: the full-frame input the model is exported at; training runs on
    `train_width` x `train_height` windows at the same pixel scale (fully convolutional)."""

    width: int = 512
    height: int = 384
    # Longest side of the frames the detector is trained and evaluated for, as the runtime
    # scales them (never enlarged); 0: `width`. Training windows are cut at that pixel scale.
    max_side: int = 0
    train_width: int = 320
    train_height: int = 256
    backbone: str = "mobilenet_v2"  # or "mobilenet_v1" (keras.applications.MobileNet)
    alpha: float = 0.35
    # File name of the ImageNet classifier whose weights started the backbone ("" = scratch).
    pretrained: str = ""
    head_filters: int = 64
    strides: tuple[int, ...] = (8, 16, 32)
    # (scale, anchor, w/h) in input pixels; replaced by k-means anchors before training.
    anchors: tuple = (((12, 8), (28, 11), (48, 16)),
                      ((60, 26), (100, 30), (150, 44)),
                      ((120, 70), (220, 80), (340, 130)))
    # Box centre range per cell: 1 is YOLOv3 (centre = cell + sigmoid, inside the cell); 2 is
    # YOLOv5's (cell + 2 sigmoid - 0.5), which lets the two nearest neighbour cells also
    # predict a word: three positives per word instead of one (see `encode_targets`).
    xy_scale: float = 1.0
    box_loss: str = "l2"  # "l2": YOLOv3 offsets and log sizes; "giou": 1 - GIoU
    iou_objectness: bool = False  # objectness target = the predicted box's IoU (YOLOv5)
    # Large words are few among the training positives and end up scoring like background: a
    # positive's objectness term weighs up to 1 + this, rising from 48 to 96 input pixels high.
    large_obj_weight: float = 0.0
    # The box term's log sizes and centre offsets weigh an end error by the word's length: a
    # quarter of a height off at each end of a five-heights word is a 10% size error, which
    # costs almost nothing, yet cuts a letter (issue 25). With X > 0, each positive adds X times
    # a smooth L1 on its two ends' errors along the text, in the word's heights.
    end_loss_weight: float = 0.0
    # Oriented boxes: 68% of the ic15 validation words 96 px and taller are tilted, and an
    # axis-aligned box reaches IoU > 0.5 with only 61% of them.
    oriented: bool = False
    # Spread of the synthetic scenes' text rotation, x their default (SynthScenes.tilt).
    synth_tilt: float = 1.0
    # Real training windows turned by up to this many degrees either way (half of them):
    # the tilted real words an oriented head learns its angle from (det_data.ROTATED_SHARE).
    real_rotate: float = 0.0
    # Share of real training windows zoomed so that one of their words is large (48 px to most
    # of the window high, `det_data.CLOSEUP_HEIGHT`): real large words, and the large
    # background around them, are few at the runtime's own scale.
    real_closeup: float = 0.0
    # Share of the synthetic scenes that are close-ups of real photographed word crops
    # (`engocr.train.data.lettering`): bold sign and shop-front lettering, which the detector
    # scored below large background.
    synth_lettering: float = 0.0
    # A fourth output at stride 8 (`ends_s8`, END_CHANNELS): per cell, whether it lies on a
    # word's centre line and how far that word's two ends are, in word heights
    # (`engocr.realtime.end_head`): box ends read where they are seen, not from a cell near a
    # long word's middle.
    end_head: bool = False

    @property
    def frame_side(self) -> int:
        return self.max_side or self.width

    @property
    def channels(self) -> int:
        """Output channels per anchor: tx ty tw th obj (and sin 2a, cos 2a when oriented)."""
        return box_channels(self.oriented)

    def to_dict(self) -> dict:
        return asdict(self)


# Initial output biases per anchor: objectness at a 1% prior (bias -4.6) so that the thousands
# of empty cells do not swamp the first steps with a huge loss (a source of the NaNs YOLO code
# is known for); the angle at 0 (sin 0, cos 0), text being mostly level.
HEAD_BIAS = (0.0, 0.0, 0.0, 0.0, -4.6, 0.0, 1.0)


def output_name(stride: int) -> str:
    """The name of the box output layer at `stride` (the export, the trainer and the
    quantization-aware twin find it by this name)."""
    return f"out_s{stride}"


def _sep_block(x, filters: int, name: str):
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(name=f"{name}_pw_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_pw_relu")(x)


def repeat2x(x):
    """Nearest-neighbour x2 in `keras.ops` (any backend): each pixel repeated down and across."""
    return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)


class Upsample2x(layers.Layer):
    """Nearest-neighbour x2 (the same values as UpSampling2D) that keeps the channel count
    static when height and width are free: UpSampling2D loses it in the traced graph, and the
    TFLite converter then cannot convert the convolution after it. On TensorFlow (the export)
    it is tf.image.resize, which converts to TFLite's one RESIZE_NEAREST_NEIGHBOR op (the
    `keras.ops` form converts to seven ops and was slower); elsewhere `repeat2x`."""

    def call(self, x):
        if keras.backend.backend() != "tensorflow":
            return repeat2x(x)
        import tensorflow as tf  # keras.ops.image.resize wants sizes known when traced

        return tf.image.resize(x, tf.shape(x)[1:3] * 2, method="nearest")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return b, None if h is None else h * 2, None if w is None else w * 2, c


def _conv1(x, filters: int, name: str):
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def build_detector(config: DetectorConfig = DetectorConfig(), training: bool = False,
                   any_size: bool = False) -> keras.Model:
    """Input: BGR pixels 0..255 (float32, HxWx3; normalised to [-1, 1] inside, as the MobileNets
    expect). Outputs, one per stride: (batch, H/s, W/s, anchors * channels) raw logits. The same
    weights fit every size (`training` picks the training window size; `any_size` leaves
    height and width free, multiples of 32, for the export that the runtime sizes per frame)."""
    c = config
    h, w = (c.train_height, c.train_width) if training else (c.height, c.width)
    if any_size:
        h = w = None
    inputs = keras.Input((h, w, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(inputs)
    backbone = build_backbone(c.backbone, c.alpha, (h, w, 3))
    # keras.applications uses BatchNorm momentum 0.999, tuned for long ImageNet runs: in a short
    # from-scratch run its moving statistics lag so far behind that the model in inference mode
    # predicted no text at all while training-mode outputs were right. 0.99 keeps up.
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    taps = keras.Model(backbone.input, [backbone.get_layer(n).output
                                         for n in BACKBONES[c.backbone]["taps"]],
                       name="backbone")
    c3, c4, c5 = taps(x)
    f = c.head_filters
    n_out = len(c.anchors[0]) * c.channels
    p5 = _sep_block(_conv1(c5, f * 2, "p5_in"), f * 2, "p5")
    upsample = (lambda name: Upsample2x(name=name)) if any_size else \
        (lambda name: layers.UpSampling2D(2, name=name))
    p4 = layers.Concatenate(name="p4_cat")([upsample("p5_up")(_conv1(p5, f, "p5_lat")), c4])
    p4 = _sep_block(_conv1(p4, f, "p4_in"), f, "p4")
    p3 = layers.Concatenate(name="p3_cat")([upsample("p4_up")(_conv1(p4, f, "p4_lat")), c3])
    p3 = _sep_block(_conv1(p3, f, "p3_in"), f, "p3")
    bias = list(HEAD_BIAS[:c.channels]) * len(c.anchors[0])
    outputs = [layers.Conv2D(n_out, 1, name=output_name(s),
                             bias_initializer=keras.initializers.Constant(bias))(p)
               for p, s in zip((p3, p4, p5), c.strides, strict=True)]
    if c.end_head:
        outputs.append(_end_head(p3, c3, f))
    return keras.Model(inputs, outputs, name="yolo_mobilenetv2")


def _end_head(p3, c3, filters: int):
    """The end head (`DetectorConfig.end_head`): the finest level's features beside the
    backbone's own stride-8 features (edges and strokes, where a word's last letter stops),
    two separable blocks, then END_CHANNELS per cell."""
    x = layers.Concatenate(name="ends_cat")([p3, c3])
    x = _sep_block(_conv1(x, filters, "ends_in"), filters, "ends1")
    x = _sep_block(x, filters, "ends2")
    return layers.Conv2D(END_CHANNELS, 1, name=END_OUTPUT)(x)


def set_backbone_trainable(model: keras.Model, trainable: bool) -> None:
    """Freeze or unfreeze the backbone (the fine-tuning recipe's first stage)."""
    model.get_layer("backbone").trainable = trainable


END_LAYERS = "ends"  # the prefix of every end-head layer's name (`_end_head`)


def train_end_head_only(model: keras.Model) -> None:
    """Freeze every layer but the end head's: the head learns on a finished detector whose
    boxes and scores stay exactly as they were (its batch norms frozen in inference mode)."""
    for layer in model.layers:
        layer.trainable = layer.name.startswith(END_LAYERS)
