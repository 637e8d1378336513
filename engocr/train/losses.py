"""The training losses in `keras.ops`, so that they run on any Keras backend (TensorFlow on
these CPUs, JAX or PyTorch on a GPU machine without TensorFlow). Each has a parity test
against the TensorFlow version it replaced (tests/reference_losses.py)."""

from __future__ import annotations

from keras import ops

from engocr.models.yolo_mobilenet import DetectorConfig


def sigmoid_bce(labels, logits):
    """Elementwise binary cross-entropy on logits, in tf.nn's stable form
    max(x, 0) - x * z + log(1 + exp(-|x|))."""
    return ops.relu(logits) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def _iou(a: tuple, b: tuple):
    """IoU and union of boxes given as (x1, y1, x2, y2) tensors (broadcast against each
    other)."""
    inter = ops.maximum(ops.minimum(a[2], b[2]) - ops.maximum(a[0], b[0]), 0.0) * \
        ops.maximum(ops.minimum(a[3], b[3]) - ops.maximum(a[1], b[1]), 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ops.maximum(union, 1e-6), union


def _giou(a: tuple, b: tuple):
    """Generalised IoU (and IoU) of boxes given as in `_iou`."""
    iou, union = _iou(a, b)
    hull = (ops.maximum(a[2], b[2]) - ops.minimum(a[0], b[0])) * \
        (ops.maximum(a[3], b[3]) - ops.minimum(a[1], b[1]))
    return iou - (hull - union) / ops.maximum(hull, 1e-6), iou


LARGE_FROM = 48.0  # input pixels: where `DetectorConfig.large_obj_weight` starts to rise
# The angle term per positive, 4 sin^2 of the angle error: 4 for a box a quarter turn off,
# 0.27 for one 15 degrees off (beside the log-size term's 0.5 per unit squared).
ANGLE_WEIGHT = 1.0


def yolo_loss(outputs, targets, gt_boxes, config: DetectorConfig, gamma: float = 2.0):
    """Box term plus a focal objectness term (gamma 2: with thousands of empty cells per word,
    plain BCE drove every objectness to zero in the first runs). Negatives whose predicted box
    overlaps a true or don't-care box by IoU > 0.5 are ignored. Normalised by the number of
    positives; positives are weighted up for small boxes.

    Box term, `config.box_loss`: "l2" is YOLOv3's (BCE on centre offsets, L2 on log sizes);
    "giou" is 1 - GIoU, which trains the quantity the ICDAR match is judged on (IoU > 0.5).
    `config.iou_objectness`: a positive's objectness target is its predicted box's IoU with
    the word instead of 1 (YOLOv5; with the focal term this is the quality focal loss), so
    that a fragment of a word scores lower than the whole word and loses in NMS.
    `config.large_obj_weight`: large positives' objectness term weighs more.
    `config.end_loss_weight`: each positive's two ends along the text, in word heights, add a
    smooth L1 term to the box term (the log-size term scales an end's error down by the
    word's length).
    `config.oriented`: each positive's angle, as (sin 2a, cos 2a), adds an L2 term to the box
    term (targets channels 6 and 7; the boxes are then the words' own, turned level)."""
    total = 0.0
    positives = 0.0
    gt = gt_boxes[:, None, None, None, :, :]  # (B, 1, 1, 1, N, 4)
    gt = tuple(gt[..., c] for c in range(4))
    s = config.xy_scale
    shift = (s - 1.0) / 2.0  # centre = cell + s * sigmoid - shift
    for k, (raw, target) in enumerate(zip(outputs, targets, strict=True)):
        _, gh, gw, _ = raw.shape  # training windows have a fixed size
        anchors = ops.convert_to_tensor(config.anchors[k], "float32")[None, None, None]
        raw = ops.reshape(raw, (-1, gh, gw, len(config.anchors[k]), config.channels))
        stride = float(config.strides[k])
        obj, weight = target[..., 4], target[..., 5]
        gx, gy = ops.meshgrid(ops.arange(gw, dtype="float32"), ops.arange(gh, dtype="float32"))
        gx, gy = gx[None, :, :, None], gy[None, :, :, None]
        cx = (s * ops.sigmoid(raw[..., 0]) - shift + gx) * stride
        cy = (s * ops.sigmoid(raw[..., 1]) - shift + gy) * stride
        wh = anchors * ops.exp(ops.clip(raw[..., 2:4], -8.0, 8.0))
        pred = (cx - wh[..., 0] / 2, cy - wh[..., 1] / 2, cx + wh[..., 0] / 2,
                cy + wh[..., 1] / 2)
        best_iou = ops.max(_iou(tuple(c[..., None] for c in pred), gt)[0], axis=-1)
        negative = (1.0 - obj) * ops.cast(best_iou < 0.5, "float32")
        tcx, tcy = (target[..., 0] + gx) * stride, (target[..., 1] + gy) * stride
        twh = anchors * ops.exp(target[..., 2:4])
        true = (tcx - twh[..., 0] / 2, tcy - twh[..., 1] / 2, tcx + twh[..., 0] / 2,
                tcy + twh[..., 1] / 2)
        giou, iou = _giou(pred, true)
        if config.box_loss == "giou":
            box = 1.0 - giou
        else:
            xy_labels = (target[..., 0:2] + shift) / s  # cell offsets -> 0..1
            box = ops.sum(sigmoid_bce(xy_labels, raw[..., 0:2]), -1) + \
                ops.sum(ops.square(target[..., 2:4] - raw[..., 2:4]), -1) * 0.5
        if config.oriented:
            box = box + ops.sum(ops.square(target[..., 6:8] - raw[..., 5:7]), -1) * ANGLE_WEIGHT
        if config.end_loss_weight:
            height = ops.maximum(twh[..., 1], 1.0)
            box = box + config.end_loss_weight * (huber((pred[0] - true[0]) / height) +
                                                  huber((pred[2] - true[2]) / height))
        p = ops.sigmoid(raw[..., 4])
        quality = ops.stop_gradient(ops.maximum(iou, 0.0)) if config.iou_objectness else 1.0
        quality = quality * ops.ones_like(obj)
        focal_pos = obj * ops.power(ops.abs(quality - p), gamma) * sigmoid_bce(quality,
                                                                               raw[..., 4])
        if config.large_obj_weight:
            ramp = ops.clip((twh[..., 1] - LARGE_FROM) / LARGE_FROM, 0.0, 1.0)
            focal_pos = focal_pos * (1.0 + config.large_obj_weight * ramp)
        focal_neg = negative * ops.power(p, gamma) * sigmoid_bce(ops.zeros_like(obj),
                                                                 raw[..., 4])
        total += ops.sum(obj * weight * box + focal_pos + focal_neg)
        positives += ops.sum(obj)
    return total / ops.maximum(positives, 1.0)


def huber(x, delta: float = 0.5):
    """Smooth L1: quadratic within `delta`, linear beyond (a far end's big error does not
    swamp the near cells' fine ones)."""
    a = ops.abs(x)
    return ops.where(a < delta, 0.5 * ops.square(a) / delta, a - 0.5 * delta)


# The end head's distance terms weigh this much on cells that put an end within
# `end_head.NEAR` heights (the ones the runtime reads) against 1 elsewhere on a centre line.
NEAR_WEIGHT = 3.0


def end_head_loss(raw, target):
    """The end head's loss (`engocr.realtime.end_head`): cross-entropy of the centre-line
    logit, its mean over the centre-line cells plus its mean over the other cells that count
    (target channel 3; balanced: a word's rows are a few per cent of a frame's cells, and a
    plain mean taught the first heads to call almost every cell background), plus a smooth
    L1 on the two end distances over the cells they are taught on (channel 4)."""
    from engocr.realtime.end_head import NEAR

    line, weight = target[..., 0], target[..., 3]
    terms = weight * sigmoid_bce(line, raw[..., 0])
    bce = ops.sum(line * terms) / ops.maximum(ops.sum(line), 1.0) + \
        ops.sum((1.0 - line) * terms) / ops.maximum(ops.sum(weight * (1.0 - line)), 1.0)
    taught, dist = target[..., 4], 0.0
    for k in (1, 2):
        near = 1.0 + (NEAR_WEIGHT - 1.0) * ops.cast(target[..., k] <= NEAR, "float32")
        dist = dist + ops.sum(taught * near * huber(raw[..., k] - target[..., k]))
    return bce + dist / ops.maximum(ops.sum(taught), 1.0)


def ctc_loss(logits, labels, label_lengths):
    """Mean CTC loss of (batch, steps, classes) logits against dense labels padded with 0 (the
    blank), every sequence using all its steps."""
    batch, steps = ops.shape(logits)[0], ops.shape(logits)[1]
    lengths = ops.full((batch,), steps, dtype="int32")
    return ops.mean(ops.ctc_loss(labels, logits, label_lengths, lengths, mask_index=0))
