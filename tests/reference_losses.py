"""The TensorFlow losses that `engocr.train.losses` replaced, kept as references for the parity
tests (as the numba kernels keep numpy references)."""

import tensorflow as tf


def _iou(a: tuple, b: tuple):
    """IoU and union of boxes given as (x1, y1, x2, y2) tensors (broadcast against each
    other)."""
    inter = tf.maximum(tf.minimum(a[2], b[2]) - tf.maximum(a[0], b[0]), 0.0) * \
        tf.maximum(tf.minimum(a[3], b[3]) - tf.maximum(a[1], b[1]), 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / tf.maximum(union, 1e-6), union


def _giou(a: tuple, b: tuple):
    """Generalised IoU (and IoU) of boxes given as in `_iou`."""
    iou, union = _iou(a, b)
    hull = (tf.maximum(a[2], b[2]) - tf.minimum(a[0], b[0])) * \
        (tf.maximum(a[3], b[3]) - tf.minimum(a[1], b[1]))
    return iou - (hull - union) / tf.maximum(hull, 1e-6), iou


def yolo_loss(outputs, targets, gt_boxes, config, gamma: float = 2.0):
    """Box term plus a focal objectness term (gamma 2: with thousands of empty cells per word,
    plain BCE drove every objectness to zero in the first runs). Negatives whose predicted box
    overlaps a true or don't-care box by IoU > 0.5 are ignored. Normalised by the number of
    positives; positives are weighted up for small boxes.

    Box term, `config.box_loss`: "l2" is YOLOv3's (BCE on centre offsets, L2 on log sizes);
    "giou" is 1 - GIoU, which trains the quantity the ICDAR match is judged on (IoU > 0.5).
    `config.iou_objectness`: a positive's objectness target is its predicted box's IoU with
    the word instead of 1 (YOLOv5; with the focal term this is the quality focal loss), so
    that a fragment of a word scores lower than the whole word and loses in NMS."""
    total = 0.0
    positives = 0.0
    anchors = tf.constant(config.anchors, tf.float32)
    gt = gt_boxes[:, None, None, None, :, :]  # (B, 1, 1, 1, N, 4)
    gt = tuple(gt[..., c] for c in range(4))
    bce = tf.nn.sigmoid_cross_entropy_with_logits
    s = config.xy_scale
    shift = (s - 1.0) / 2.0  # centre = cell + s * sigmoid - shift
    for k, (raw, target) in enumerate(zip(outputs, targets, strict=True)):
        shape = tf.shape(raw)
        gh, gw = shape[1], shape[2]
        raw = tf.reshape(raw, [shape[0], gh, gw, len(config.anchors[k]), 5])
        stride = float(config.strides[k])
        obj, weight = target[..., 4], target[..., 5]
        gx, gy = tf.meshgrid(tf.range(gw, dtype=tf.float32), tf.range(gh, dtype=tf.float32))
        gx, gy = gx[None, :, :, None], gy[None, :, :, None]
        cx = (s * tf.sigmoid(raw[..., 0]) - shift + gx) * stride
        cy = (s * tf.sigmoid(raw[..., 1]) - shift + gy) * stride
        wh = anchors[k][None, None, None] * tf.exp(tf.clip_by_value(raw[..., 2:4], -8.0, 8.0))
        pred = (cx - wh[..., 0] / 2, cy - wh[..., 1] / 2, cx + wh[..., 0] / 2,
                cy + wh[..., 1] / 2)
        best_iou = tf.reduce_max(_iou(tuple(c[..., None] for c in pred), gt)[0], axis=-1)
        negative = (1.0 - obj) * tf.cast(best_iou < 0.5, tf.float32)
        tcx, tcy = (target[..., 0] + gx) * stride, (target[..., 1] + gy) * stride
        twh = anchors[k][None, None, None] * tf.exp(target[..., 2:4])
        true = (tcx - twh[..., 0] / 2, tcy - twh[..., 1] / 2, tcx + twh[..., 0] / 2,
                tcy + twh[..., 1] / 2)
        giou, iou = _giou(pred, true)
        if config.box_loss == "giou":
            box = 1.0 - giou
        else:
            xy_labels = (target[..., 0:2] + shift) / s  # cell offsets -> 0..1
            box = tf.reduce_sum(bce(labels=xy_labels, logits=raw[..., 0:2]), -1) + \
                tf.reduce_sum(tf.square(target[..., 2:4] - raw[..., 2:4]), -1) * 0.5
        p = tf.sigmoid(raw[..., 4])
        quality = tf.stop_gradient(tf.maximum(iou, 0.0)) if config.iou_objectness else 1.0
        quality = quality * tf.ones_like(obj)
        focal_pos = obj * tf.pow(tf.abs(quality - p), gamma) * bce(labels=quality,
                                                                  logits=raw[..., 4])
        focal_neg = negative * tf.pow(p, gamma) * bce(labels=tf.zeros_like(obj),
                                                      logits=raw[..., 4])
        total += tf.reduce_sum(obj * weight * box + focal_pos + focal_neg)
        positives += tf.reduce_sum(obj)
    return total / tf.maximum(positives, 1.0)


def ctc_loss(logits, labels, label_lengths):
    """The recognizer's former loss: tf.nn.ctc_loss, batch-major logits, blank 0, mean."""
    steps = tf.shape(logits)[1]
    loss = tf.nn.ctc_loss(labels=labels, logits=logits, label_length=label_lengths,
                          logit_length=tf.fill([tf.shape(logits)[0]], steps),
                          logits_time_major=False, blank_index=0)
    return tf.reduce_mean(loss)
