"""The backend-neutral losses (`engocr.train.losses`, keras.ops) give the values and gradients
of the TensorFlow losses they replaced, on fixed inputs."""

import numpy as np
import pytest

from tests.conftest import TINY_DET, synthetic_detector_batch

STYLES = {"yolov3": {}, "yolov5": {"xy_scale": 2.0, "box_loss": "giou", "iou_objectness": True}}


def _detector_batch(config):
    """Targets and true boxes of two synthetic scenes, and random head outputs."""
    import tensorflow as tf

    _, targets, gt = synthetic_detector_batch(config)
    rng = np.random.default_rng(3)
    outputs = [tf.Variable(rng.normal(0, 1.5, t.shape[:3] + (t.shape[3] * 5,))
                           .astype(np.float32)) for t in targets]
    assert sum(float(tf.reduce_sum(t[..., 4])) for t in targets) > 0  # some positives
    return outputs, targets, gt


def _value_and_grads(loss_fn, outputs, *args):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn(outputs, *args)
    return float(loss), [g.numpy() for g in tape.gradient(loss, outputs)]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_yolo_loss_matches_the_tensorflow_version(style):
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.losses import yolo_loss
    from tests import reference_losses

    config = DetectorConfig(**TINY_DET, **STYLES[style])
    outputs, targets, gt = _detector_batch(config)
    value, grads = _value_and_grads(yolo_loss, outputs, targets, gt, config)
    ref_value, ref_grads = _value_and_grads(reference_losses.yolo_loss, outputs, targets, gt,
                                            config)
    assert value > 0 and value == pytest.approx(ref_value, rel=1e-5)
    for got, want in zip(grads, ref_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_ctc_loss_matches_the_tensorflow_version():
    import tensorflow as tf

    from engocr.train.losses import ctc_loss
    from engocr.train.rec_data import labels_to_dense
    from tests import reference_losses

    rng = np.random.default_rng(4)
    logits = tf.Variable(rng.normal(0, 2, (4, 32, 96)).astype(np.float32))
    labels, lengths = labels_to_dense(["EXIT", "open", "a", "9:30 pm"], 32)
    args = (tf.constant(labels), tf.constant(lengths))
    value, grads = _value_and_grads(ctc_loss, logits, *args)
    ref_value, ref_grads = _value_and_grads(reference_losses.ctc_loss, logits, *args)
    assert value == pytest.approx(ref_value, rel=1e-6)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-5, atol=1e-7)


def test_large_words_objectness_weighs_more_only_where_asked():
    """`large_obj_weight`: the positives 96 input px and taller weigh 1 + X in the objectness
    term, those under 48 px not at all; 0 leaves the loss as it was."""
    import tensorflow as tf

    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det_targets import encode_targets
    from engocr.train.losses import yolo_loss

    config = DetectorConfig(**TINY_DET)
    size = (config.train_width, config.train_height)
    zeros = [np.zeros((1, *t.shape[:2], t.shape[2] * 5), np.float32)
             for t in encode_targets(np.zeros((0, 4)), config.anchors, config.strides, size)]

    def loss(box, weight):
        cfg = DetectorConfig(**{**TINY_DET, "large_obj_weight": weight})
        targets = encode_targets(np.array([box], np.float32), cfg.anchors, cfg.strides, size)
        gt = np.zeros((1, 100, 4), np.float32)
        gt[0, 0] = box
        return float(yolo_loss([tf.constant(z) for z in zeros],
                               [tf.constant(t[None]) for t in targets], tf.constant(gt), cfg))

    small, large = [4, 4, 40, 20], [0, 0, size[0], 110]
    assert loss(small, 2.0) == pytest.approx(loss(small, 0.0))
    assert loss(large, 2.0) > loss(large, 0.0)


def test_the_end_term_weighs_a_long_words_end_errors_in_word_heights():
    """`end_loss_weight`: a long word's box a quarter of a height short at each end costs
    almost nothing in the log-size term and clearly more with the end term; an exact box adds
    nothing."""
    import tensorflow as tf

    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det_targets import encode_targets
    from engocr.train.losses import yolo_loss

    size = (TINY_DET["train_width"], TINY_DET["train_height"])
    word = np.array([[8, 20, 8 + 6 * 16, 36]], np.float32)  # 6 heights long, 16 px high

    def loss(weight, shorten):
        cfg = DetectorConfig(**{**TINY_DET, "end_loss_weight": weight})
        targets = [t[None] for t in encode_targets(word, cfg.anchors, cfg.strides, size)]
        outputs = []
        for t in targets:  # the raw outputs that decode to the target, shortened in log width
            raw = np.zeros(t.shape[:4] + (5,), np.float32)
            xy = np.clip((t[..., 0:2] + 0.0), 1e-4, 1 - 1e-4)
            raw[..., 0:2] = np.log(xy / (1 - xy))
            raw[..., 2:4] = t[..., 2:4]
            raw[..., 2] += np.log(1 - 2 * shorten / 6.0) * t[..., 4]
            raw[..., 4] = np.where(t[..., 4] > 0, 8.0, -8.0)
            outputs.append(tf.constant(raw.reshape(*t.shape[:3], -1)))
        gt = np.zeros((1, 100, 4), np.float32)
        gt[0, 0] = word[0]
        return float(yolo_loss(outputs, [tf.constant(t) for t in targets], tf.constant(gt), cfg))

    assert loss(1.0, 0.0) == pytest.approx(loss(0.0, 0.0), abs=1e-4)
    size_only = loss(0.0, 0.25) - loss(0.0, 0.0)
    with_ends = loss(1.0, 0.25) - loss(1.0, 0.0)
    assert size_only < 0.01 and with_ends > 3 * size_only
