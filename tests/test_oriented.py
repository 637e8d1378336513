"""Oriented word boxes: quad <-> box conversion, the angle encoding, and the IoU and NMS
kernels against their plain references and OpenCV."""

import cv2
import numpy as np
import pytest

from engocr.geometry import box_to_quad, rectify_quad
from engocr.realtime import kernels, oriented
from engocr.realtime.oriented import HALF_PI32

# Angles that sit on or next to the ends of the range and next to 0, where wraps go wrong.
EDGE_ANGLES = [-HALF_PI32, -np.pi / 2 + 1e-6, -np.pi / 2 + 1e-3, -1e-6, 0.0, 1e-6,
               np.pi / 4, -np.pi / 4, np.pi / 2 - 1e-3, np.pi / 2 - 1e-6]


def _angle_gap(a, b):
    """|a - b| modulo pi: how far apart two box angles really are."""
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64) + np.pi / 2) % np.pi - np.pi / 2
    return np.abs(d)


def _random_obbs(rng, n, spread=600.0, angles=None):
    cxy = rng.uniform(0, spread, (n, 2))
    w = rng.uniform(10, 200, n)
    h = rng.uniform(5, 60, n)
    a = rng.uniform(-np.pi / 2, np.pi / 2, n) if angles is None else np.asarray(angles)
    return np.column_stack([cxy, w, h, a]).astype(np.float32)


def _cv2_iou(a, b):
    ra = ((float(a[0]), float(a[1])), (float(a[2]), float(a[3])), float(np.degrees(a[4])))
    rb = ((float(b[0]), float(b[1])), (float(b[2]), float(b[3])), float(np.degrees(b[4])))
    ret, pts = cv2.rotatedRectangleIntersection(ra, rb)
    inter = 0.0
    if ret != cv2.INTERSECT_NONE and pts is not None and len(pts) >= 3:
        inter = float(cv2.contourArea(cv2.convexHull(pts)))
    return inter / (float(a[2]) * float(a[3]) + float(b[2]) * float(b[3]) - inter)


def _aabb_iou(p, q):
    ix = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    iy = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = ix * iy
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)


def _bounds(quads):
    return np.concatenate([quads.min(1), quads.max(1)], 1)


# ------------------------------------------------------------------------ quads and boxes


def test_quad_corners_are_tl_tr_br_bl_of_the_word_as_read():
    axis = oriented.obb_to_quads(np.array([[50, 40, 60, 20, 0]], np.float32))[0]
    np.testing.assert_allclose(axis, box_to_quad((20, 30, 80, 50)), atol=1e-5)
    a = np.pi / 6
    q = oriented.obb_to_quads(np.array([[100, 80, 60, 20, a]], np.float32))[0]
    np.testing.assert_allclose(q[1] - q[0], 60 * np.array([np.cos(a), np.sin(a)]), atol=1e-4)
    np.testing.assert_allclose(q[3] - q[0], 20 * np.array([-np.sin(a), np.cos(a)]), atol=1e-4)
    np.testing.assert_allclose(q[2] - q[1], q[3] - q[0], atol=1e-4)
    np.testing.assert_allclose(q.mean(0), [100, 80], atol=1e-4)


def test_angle_convention_is_opencvs_rotated_rect():
    rng = np.random.default_rng(0)
    for box in _random_obbs(rng, 50):
        corners = cv2.boxPoints(((box[0], box[1]), (box[2], box[3]), np.degrees(box[4])))
        ours = oriented.obb_to_quads(box[None])[0]
        dist = np.linalg.norm(ours[:, None] - corners[None], axis=-1)
        assert dist.min(1).max() < 1e-3  # the same four corners


def test_rectify_quad_of_a_tilted_word_is_upright_and_left_to_right():
    """A word drawn tilted (dark first half, light second half) comes out of `rectify_quad`
    upright and in reading order when its quad comes from the oriented box."""
    image = np.full((240, 320), 128, np.uint8)
    box = np.array([[160, 120, 160, 40, np.radians(35)]], np.float32)
    q = oriented.obb_to_quads(box)[0]
    mid_top, mid_bottom = (q[0] + q[1]) / 2, (q[3] + q[2]) / 2
    cv2.fillPoly(image, [np.round(np.array([q[0], mid_top, mid_bottom, q[3]])).astype(np.int32)],
                 20)
    cv2.fillPoly(image, [np.round(np.array([mid_top, q[1], q[2], mid_bottom])).astype(np.int32)],
                 235)
    crop = rectify_quad(image, q, pad=0.0)
    assert crop.shape[1] > 3 * crop.shape[0]
    third = crop.shape[1] // 3
    assert crop[:, :third].mean() < 60 and crop[:, -third:].mean() > 200


@pytest.mark.parametrize("seed", range(3))
def test_obb_quad_obb_round_trip(seed):
    rng = np.random.default_rng(seed)
    angles = np.concatenate([rng.uniform(-np.pi / 2, np.pi / 2, 300), EDGE_ANGLES])
    boxes = _random_obbs(rng, len(angles), angles=angles)
    boxes[:10, 3] = boxes[:10, 2]  # squares too
    back = oriented.quads_to_obbs(oriented.obb_to_quads(boxes))
    assert back.dtype == np.float32 and back.shape == boxes.shape
    np.testing.assert_allclose(back[:, :4], boxes[:, :4], atol=2e-3)
    assert _angle_gap(back[:, 4], boxes[:, 4]).max() < 1e-4
    assert (back[:, 4] >= -HALF_PI32).all() and (back[:, 4] < HALF_PI32).all()
    # Inside the range (away from the wrap) the angle comes back as itself, not shifted by pi.
    inner = np.abs(boxes[:, 4]) < np.pi / 2 - 1e-3
    np.testing.assert_allclose(back[inner, 4], boxes[inner, 4], atol=1e-4)


@pytest.mark.parametrize("seed", range(2))
def test_quad_obb_quad_round_trip_over_the_whole_circle(seed):
    """Words turned by any angle, upside down included: the quad comes back, or (beyond
    +-90 degrees, which the box cannot tell from the word right way up) turned by 180."""
    rng = np.random.default_rng(seed)
    angles = np.concatenate([rng.uniform(-np.pi, np.pi, 300), EDGE_ANGLES,
                             np.array(EDGE_ANGLES) + np.pi])
    boxes = _random_obbs(rng, len(angles), angles=np.zeros(len(angles)))
    quads = oriented.obb_to_quads(boxes)
    centre = boxes[:, None, :2]
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    rel = quads - centre
    turned = np.stack([rel[..., 0] * cos - rel[..., 1] * sin,
                       rel[..., 0] * sin + rel[..., 1] * cos], -1) + centre
    back = oriented.obb_to_quads(oriented.quads_to_obbs(turned))
    same = np.abs(back - turned).max((1, 2))
    flipped = np.abs(np.roll(back, 2, axis=1) - turned).max((1, 2))
    assert np.minimum(same, flipped).max() < 2e-3
    upright = np.abs(angles) < np.pi / 2 - 1e-3
    assert same[upright].max() < 2e-3


def test_w_follows_the_top_edge_not_the_longer_side():
    """A narrow word ("I", a column of letters) keeps w across its reading direction."""
    for a in [-1.2, -0.4, 0.0, 0.3, 1.0, 1.5]:
        box = np.array([[50, 60, 10, 40, a]], np.float32)
        back = oriented.quads_to_obbs(oriented.obb_to_quads(box))[0]
        np.testing.assert_allclose(back[2:4], [10, 40], atol=1e-3)
        assert _angle_gap(back[4], a) < 1e-4


def test_irregular_quads_get_their_minimum_area_rectangle():
    rng = np.random.default_rng(7)
    boxes = _random_obbs(rng, 200)
    quads = oriented.obb_to_quads(boxes) + rng.normal(0, 2.0, (200, 4, 2)).astype(np.float32)
    got = oriented.quads_to_obbs(quads)
    for quad, box in zip(quads, got, strict=True):
        _, (w, h), _ = cv2.minAreaRect(quad)
        # The same area (near-ties between two sides can pick a different rectangle of the
        # same area, so the centres are not compared), and every corner inside (or on) it.
        assert box[2] * box[3] == pytest.approx(w * h, rel=1e-4, abs=1e-2)
        rect = oriented.obb_to_quads(box[None])[0]
        assert cv2.pointPolygonTest(rect[:, None], tuple(map(float, quad.mean(0))), False) > 0
        for corner in quad:
            assert cv2.pointPolygonTest(rect[:, None], tuple(map(float, corner)), True) > -1e-2
        # w is the side closer in direction to the quad's top edge.
        top = quad[1] - quad[0]
        assert _angle_gap(np.arctan2(top[1], top[0]), box[4]) <= np.pi / 4 + 1e-6


def test_degenerate_quads_do_not_fail():
    quads = np.array([[[5, 5]] * 4, [[0, 0], [10, 0], [20, 0], [30, 0]]], np.float32)
    got = oriented.quads_to_obbs(quads)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[0, :4], [5, 5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(got[1, :4], [15, 0, 30, 0], atol=1e-5)


# ----------------------------------------------------------------------------- the angle


def test_angle_encoding_round_trips_over_the_range():
    angles = np.concatenate([np.linspace(-np.pi / 2, np.pi / 2, 1001)[:-1], EDGE_ANGLES])
    enc = oriented.encode_angle(angles)
    assert enc.shape == (len(angles), 2) and enc.dtype == np.float32
    dec = oriented.decode_angle(enc)
    assert (dec >= -HALF_PI32).all() and (dec < HALF_PI32).all()
    assert _angle_gap(dec, angles).max() < 1e-5
    inner = np.abs(angles) < np.pi / 2 - 1e-3
    np.testing.assert_allclose(dec[inner], angles[inner], atol=1e-5)
    # A head's raw output need not be of unit length.
    np.testing.assert_allclose(oriented.decode_angle(enc * 3.7), dec, atol=1e-6)
    assert oriented.decode_angle(np.zeros(2)) == 0.0


def test_angle_encoding_is_continuous_across_the_wrap_and_keeps_w_and_h_apart():
    for eps in (1e-6, 1e-3, 0.05):
        below, above = oriented.encode_angle([np.pi / 2 - eps, -np.pi / 2 + eps])
        # The two are the same box turned by 2 * eps: as close as two angles eps apart.
        assert np.linalg.norm(below - above) == pytest.approx(2 * np.sin(2 * eps), abs=1e-6)
    # a and a + pi are the same box (same w and h): the same code.
    a = np.linspace(-np.pi / 2, np.pi / 2, 37)
    np.testing.assert_allclose(oriented.encode_angle(a), oriented.encode_angle(a + np.pi),
                               atol=1e-6)
    # A 90-degree turn (the w/h-swapped box) is as far away as the code allows.
    dist = np.linalg.norm(oriented.encode_angle(a) - oriented.encode_angle(a + np.pi / 2), axis=1)
    np.testing.assert_allclose(dist, 2.0, atol=1e-6)
    # Distance in the code grows with the real misalignment: 2 |sin(angle gap)|.
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-np.pi / 2, np.pi / 2, (2, 500))
    dist = np.linalg.norm(oriented.encode_angle(x) - oriented.encode_angle(y), axis=1)
    np.testing.assert_allclose(dist, 2 * np.sin(_angle_gap(x, y)), atol=1e-5)


# ------------------------------------------------------------------ intersection and IoU


def test_convex_intersection_area_matches_reference_either_winding():
    rng = np.random.default_rng(11)
    for _ in range(150):
        p = oriented.obb_to_quads(_random_obbs(rng, 1, spread=60))[0].astype(np.float64)
        hull = cv2.convexHull(rng.uniform(0, 80, (4, 2)).astype(np.float32))[:, 0]
        q = hull.astype(np.float64)  # a convex polygon of 3 or 4 corners, not a rectangle
        ref = oriented.convex_intersection_area_reference(p, q)
        for pp in (p, p[::-1].copy()):
            for qq in (q, q[::-1].copy()):
                assert oriented.convex_intersection_area(pp, qq) == pytest.approx(ref, abs=1e-6)
                assert oriented.convex_intersection_area(qq, pp) == pytest.approx(ref, abs=1e-6)
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float64)
    assert oriented.convex_intersection_area(square, square) == pytest.approx(100)
    assert oriented.convex_intersection_area(square, square + [5, 5]) == pytest.approx(25)
    assert oriented.convex_intersection_area(square, square + [10, 0]) == 0.0  # touching
    assert oriented.convex_intersection_area(square, square + [30, 0]) == 0.0


def test_iou_matches_opencv_and_reference_on_random_pairs():
    rng = np.random.default_rng(5)
    a, b = _random_obbs(rng, 400, spread=120), _random_obbs(rng, 400, spread=120)
    got = np.diagonal(oriented.obb_iou_matrix(a, b))
    expected = np.array([_cv2_iou(x, y) for x, y in zip(a, b, strict=True)])
    assert (expected > 0.05).sum() > 100  # most pairs overlap: the test has teeth
    np.testing.assert_allclose(got, expected, atol=1e-3)
    ref = np.array([oriented.obb_iou_matrix_reference(x, y)[0, 0]
                    for x, y in zip(a[:200], b[:200], strict=True)])
    np.testing.assert_allclose(got[:200], ref, atol=1e-9)


def test_iou_identical_disjoint_symmetric():
    rng = np.random.default_rng(9)
    boxes = _random_obbs(rng, 60, spread=200)
    boxes[:5, 4] = EDGE_ANGLES[:5]
    m = oriented.obb_iou_matrix(boxes, boxes)
    assert m.shape == (60, 60) and m.dtype == np.float64
    np.testing.assert_allclose(np.diagonal(m), 1.0, atol=1e-6)
    np.testing.assert_allclose(m, m.T, atol=1e-9)
    assert ((m >= 0) & (m <= 1 + 1e-9)).all()
    far = boxes.copy()
    far[:, 0] += 5000
    assert not oriented.obb_iou_matrix(boxes, far).any()
    # Disjoint though their bounds overlap: two parallel strips side by side at 45 degrees.
    d = 30 / np.sqrt(2)
    strips = np.array([[100, 100, 200, 20, np.pi / 4], [100 - d, 100 + d, 200, 20, np.pi / 4]],
                      np.float32)
    assert oriented.obb_iou_matrix(strips[:1], strips[1:])[0, 0] == pytest.approx(0, abs=1e-6)
    assert oriented.obb_iou_matrix(np.zeros((0, 5)), boxes).shape == (0, 60)


def test_axis_aligned_boxes_give_the_axis_aligned_iou():
    rng = np.random.default_rng(4)
    boxes = _random_obbs(rng, 80, spread=150, angles=np.zeros(80))
    # The same boxes a quarter turn round with w and h swapped are the same rectangles.
    turned = boxes[:, [0, 1, 3, 2, 4]].copy()
    turned[:, 4] = -HALF_PI32
    bounds = _bounds(oriented.obb_to_quads(boxes)).astype(np.float64)
    expected = np.array([[_aabb_iou(p, q) for q in bounds] for p in bounds])
    np.testing.assert_allclose(oriented.obb_iou_matrix(boxes, boxes), expected, atol=1e-5)
    np.testing.assert_allclose(oriented.obb_iou_matrix(turned, boxes), expected, atol=1e-4)


def test_tilted_long_word_fits_an_oriented_box_not_its_bound():
    word = np.array([[300, 200, 240, 36, np.radians(28)]], np.float32)
    quad = oriented.obb_to_quads(word)
    fitted = oriented.quads_to_obbs(quad)
    x1, y1, x2, y2 = _bounds(quad)[0]
    bound = np.array([[(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0]], np.float32)
    assert oriented.obb_iou_matrix(fitted, word)[0, 0] > 0.999
    bound_iou = oriented.obb_iou_matrix(bound, word)[0, 0]
    assert bound_iou < 0.35  # the perfect axis-aligned box is still a miss at IoU 0.5
    # An oriented prediction a few pixels and degrees off is still a hit.
    off = word + np.array([[4, -3, -10, 4, np.radians(2)]], np.float32)
    assert oriented.obb_iou_matrix(off, word)[0, 0] > 0.7


# -------------------------------------------------------------------------------------- NMS


@pytest.mark.parametrize("seed", range(3))
def test_obb_nms_matches_reference(seed):
    rng = np.random.default_rng(seed)
    boxes = _random_obbs(rng, 60, spread=150)
    boxes[:, 2:4] *= 0.6
    scores = rng.random(60).astype(np.float32)
    scores[:6] = scores[6:12]  # ties broken by index
    for iou, cap in ((0.45, 200), (0.2, 8), (0.7, 1000)):
        got = oriented.obb_nms_kernel(boxes, scores, iou, cap)
        ref = oriented.obb_nms_reference(boxes, scores, iou, cap)
        assert got.dtype == np.int64 and got.tolist() == ref.tolist()
        assert len(got) <= cap
    assert 5 < len(oriented.obb_nms_kernel(boxes, scores, 0.45, 200)) < 60  # some suppressed


def test_obb_nms_keeps_the_better_of_two_overlapping_and_two_crossing_words():
    a = np.array([100, 100, 120, 30, 0.5], np.float32)
    b = a + np.array([3, 2, 0, 0, 0.05], np.float32)
    assert oriented.obb_iou_matrix(a[None], b[None])[0, 0] > 0.5
    for scores, winner in (([0.6, 0.9], 1), ([0.9, 0.6], 0)):
        got = oriented.obb_nms_kernel(np.stack([a, b]), np.array(scores, np.float32), 0.45, 10)
        assert got.tolist() == [winner]
    # Two words crossing at 90 degrees (an X): both kept, though their bounds are the same box
    # and axis-aligned NMS keeps only one.
    cross = np.array([[200, 200, 160, 24, np.pi / 4], [200, 200, 160, 24, -np.pi / 4]],
                     np.float32)
    scores = np.array([0.8, 0.9], np.float32)
    assert oriented.obb_nms_kernel(cross, scores, 0.45, 10).tolist() == [1, 0]
    bounds = _bounds(oriented.obb_to_quads(cross)).astype(np.float32)
    assert kernels.nms_kernel(bounds, scores, 0.45, 10).tolist() == [1]


def test_obb_nms_edge_cases():
    empty = oriented.obb_nms_kernel(np.zeros((0, 5), np.float32), np.zeros(0, np.float32),
                                    0.5, 10)
    assert empty.tolist() == []
    boxes = _random_obbs(np.random.default_rng(2), 5, spread=5000)
    scores = np.array([0.1, 0.5, 0.3, 0.9, 0.2], np.float32)
    assert oriented.obb_nms_kernel(boxes, scores, 0.5, 0).tolist() == []
    assert oriented.obb_nms_kernel(boxes, scores, 0.5, 3).tolist() == [3, 1, 2]
    assert oriented.obb_nms_reference(boxes, scores, 0.5, 3).tolist() == [3, 1, 2]


def test_warm_up_compiles():
    assert oriented.warm_up() >= 0.0
