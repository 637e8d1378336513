"""The numba kernels equal their numpy references on random inputs."""

import numpy as np
import pytest

from engocr.charset import CHARSET, NUM_CLASSES
from engocr.realtime import kernels


@pytest.mark.parametrize("seed", range(5))
def test_ctc_greedy_matches_reference(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (16, 32, NUM_CLASSES)).astype(np.float32)
    # Long runs of blanks and repeats, as real outputs have.
    logits[:, ::3, 0] += 8
    logits[:, 1::5, 5] += 9
    texts, conf = kernels.ctc_greedy_decode(logits, CHARSET)
    ref_texts, ref_conf = kernels.ctc_greedy_reference(logits, CHARSET)
    assert texts == ref_texts
    np.testing.assert_allclose(conf, ref_conf, rtol=1e-5, atol=1e-6)


def test_ctc_collapses_repeats_but_keeps_blank_separated_doubles():
    steps = [1 + CHARSET.index(c) if c != "-" else 0 for c in "hh-e-ll-l-oo"]
    logits = np.full((1, len(steps), NUM_CLASSES), -10, np.float32)
    logits[0, np.arange(len(steps)), steps] = 10
    assert kernels.ctc_greedy_decode(logits)[0] == ["hello"]


def test_ctc_all_blank_is_empty_with_zero_confidence():
    logits = np.zeros((2, 8, NUM_CLASSES), np.float32)
    logits[..., 0] = 5
    texts, conf = kernels.ctc_greedy_decode(logits)
    assert texts == ["", ""] and conf.tolist() == [0.0, 0.0]


def _random_boxes(rng, n):
    xy = rng.uniform(0, 600, (n, 2))
    wh = rng.uniform(5, 120, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32), rng.random(n).astype(np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_reference(seed):
    rng = np.random.default_rng(seed)
    boxes, scores = _random_boxes(rng, 400)
    for iou, cap in ((0.45, 200), (0.3, 10), (0.7, 1000)):
        got = kernels.nms_kernel(boxes, scores, iou, cap)
        ref = kernels.nms_reference(boxes, scores, iou, cap)
        assert got.tolist() == ref.tolist()


@pytest.mark.parametrize("seed", range(3))
def test_box_merge_matches_reference(seed):
    rng = np.random.default_rng(seed)
    boxes, scores = _random_boxes(rng, 300)
    keep = kernels.nms_kernel(boxes, scores, 0.45, 200)
    for iou in (0.3, 0.5, 0.8):
        np.testing.assert_allclose(kernels.merge_boxes_kernel(boxes, scores, keep, iou),
                                   kernels.merge_boxes_reference(boxes, scores, keep, iou),
                                   rtol=1e-5, atol=1e-3)


def test_box_merge_averages_a_cluster_by_score_and_leaves_a_lone_box():
    boxes = np.array([[0, 0, 100, 20], [4, 0, 104, 20], [300, 300, 340, 320]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    keep = kernels.nms_kernel(boxes, scores, 0.45, 10)
    assert keep.tolist() == [0, 2]
    merged = kernels.merge_boxes_kernel(boxes, scores, keep, 0.5)
    np.testing.assert_allclose(merged[0], [1, 0, 101, 20], atol=1e-4)  # (0*0.9 + 4*0.3) / 1.2
    np.testing.assert_array_equal(merged[1], boxes[2])


def test_yolo_decode_matches_reference(rng):
    raw = rng.normal(0, 2, (12, 16, 3, 5)).astype(np.float32)
    anchors = np.array([[10, 5], [30, 10], [60, 20]], np.float32)
    boxes, scores = kernels.yolo_decode_kernel(raw, anchors, 8.0, 0.6)
    sig = 1 / (1 + np.exp(-raw))
    i, j, a = np.nonzero(sig[..., 4] > 0.6)
    cx = (j + sig[i, j, a, 0]) * 8
    cy = (i + sig[i, j, a, 1]) * 8
    w = anchors[a, 0] * np.exp(raw[i, j, a, 2])
    h = anchors[a, 1] * np.exp(raw[i, j, a, 3])
    ref = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    np.testing.assert_allclose(boxes, ref, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(scores, sig[i, j, a, 4], rtol=1e-6)


def test_warm_up_compiles_everything():
    assert kernels.warm_up() >= 0


def test_large_boxes_count_from_their_own_lower_threshold():
    """Large words score lower than small ones: a box at least `large_min_height` input
    pixels high passes from `large_threshold`, a small one at the same score does not."""
    from engocr.realtime.kernels import yolo_postprocess

    logit = float(np.log(0.3 / 0.7))  # both cells score 0.3
    raw = np.full((4, 4, 1, 5), -20.0, np.float32)
    raw[0, 0] = [0, 0, 0, 0, logit]          # a 10 px high box (the anchor's size)
    raw[3, 3] = [0, 0, 0, np.log(6.0), logit]  # 60 px high
    anchors = np.array([[[20.0, 10.0]]], np.float32)
    one, _ = yolo_postprocess([raw], anchors, [16.0], 0.5, merge_iou=0)
    assert len(one) == 0
    both, _ = yolo_postprocess([raw], anchors, [16.0], 0.5, merge_iou=0,
                               large_min_height=48, large_threshold=0.25)
    assert len(both) == 1 and both[0, 3] - both[0, 1] == pytest.approx(60, rel=1e-4)
    low, _ = yolo_postprocess([raw], anchors, [16.0], 0.25, merge_iou=0,
                              large_min_height=48, large_threshold=0.4)
    assert len(low) == 2  # a higher large threshold never drops what the main one keeps


def test_large_oriented_boxes_count_from_their_own_lower_threshold():
    """The same for an oriented detector, by the word's own height (across the text): a
    tilted large word passes from the lower threshold."""
    from engocr.realtime.oriented import oriented_postprocess

    logit = float(np.log(0.3 / 0.7))
    raw = np.full((4, 4, 1, 7), -20.0, np.float32)
    turn = [np.sin(2 * 0.5), np.cos(2 * 0.5)]  # tilted 0.5 rad
    raw[0, 0] = [0, 0, 0, 0, logit, *turn]             # 10 px high
    raw[3, 3] = [0, 0, 0, np.log(6.0), logit, *turn]   # 60 px high
    anchors = np.array([[[20.0, 10.0]]], np.float32)
    assert len(oriented_postprocess([raw], anchors, [16.0], 0.5)[0]) == 0
    both, _ = oriented_postprocess([raw], anchors, [16.0], 0.5, large_min_height=48,
                                   large_threshold=0.25)
    assert len(both) == 1 and both[0, 3] == pytest.approx(60, rel=1e-4)
    assert both[0, 4] == pytest.approx(0.5, abs=1e-4)
