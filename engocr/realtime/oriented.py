"""Oriented word boxes for the runtime: conversion to and from word quads, an angle encoding
for a network head, and numba kernels for the IoU of rotated rectangles and greedy NMS over
them. On held-out ic15 photos most tall words are tilted and an axis-aligned box reaches
IoU > 0.5 with only 61% of them, so the detector predicts oriented boxes instead.

An oriented box is float32 (cx, cy, w, h, angle): pixels and radians, `w` along the reading
direction, the angle measured as in image coordinates (y down, a positive angle turns the x axis
toward +y, as OpenCV's RotatedRect does) and wrapped into [-pi/2, pi/2) (the float32 values
of -pi/2 and pi/2 are the ends). Angles a and a + pi give the same rectangle with the same w and
h, so a word written upside down maps to the same box as the word right way up.

Each kernel is compared in the tests with a plain reference (`*_reference`), and the IoU also
with `cv2.rotatedRectangleIntersection`."""

from __future__ import annotations

import math
import time

import numba
import numpy as np

from engocr.realtime.kernels import count_above, decode_centre_size, kernel_cache_dir

if not numba.config.CACHE_DIR:  # read before the kernels below are decorated, as in kernels.py
    numba.config.CACHE_DIR = str(kernel_cache_dir())
from numba import njit  # noqa: E402

HALF_PI32 = np.float32(np.pi / 2)  # the float32 ends of the angle range: [-HALF_PI32, HALF_PI32)

# ------------------------------------------------------------------ boxes, quads and angles


def box_channels(oriented: bool) -> int:
    """A detector head's output channels per anchor: tx ty tw th obj, then sin 2a cos 2a when
    it is oriented (the layout of `engocr.models.yolo_mobilenet` and the decode kernels)."""
    return 7 if oriented else 5


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles (any shape) into float32 [-pi/2, pi/2): a rectangle turned by pi is itself. The
    wrap is done in float64, then the float32 values that round up to pi/2 are moved to -pi/2
    so that the range stays half-open after the cast."""
    a = np.asarray(angle, np.float64)
    wrapped = ((a + np.pi / 2) % np.pi - np.pi / 2).astype(np.float32)
    return np.where(wrapped >= HALF_PI32, -HALF_PI32, wrapped).astype(np.float32)


def _quads64(obbs: np.ndarray) -> np.ndarray:
    """(N, 5) boxes to (N, 4, 2) float64 corners: TL, TR, BR, BL of the word as read."""
    obbs = np.asarray(obbs, np.float64).reshape(-1, 5)
    cx, cy, w, h, a = obbs.T
    cos, sin = np.cos(a), np.sin(a)
    ux, uy = 0.5 * w * cos, 0.5 * w * sin  # half the reading direction
    vx, vy = -0.5 * h * sin, 0.5 * h * cos  # half the downward direction (y down)
    return np.stack([np.stack([cx - ux - vx, cy - uy - vy], -1),
                     np.stack([cx + ux - vx, cy + uy - vy], -1),
                     np.stack([cx + ux + vx, cy + uy + vy], -1),
                     np.stack([cx - ux + vx, cy - uy + vy], -1)], 1)


def obb_to_quads(obbs: np.ndarray) -> np.ndarray:
    """(N, 5) oriented boxes to (N, 4, 2) float32 quads, corners top-left, top-right,
    bottom-right, bottom-left of the word as read: the order `engocr.geometry.rectify_quad`
    warps to an upright crop (clockwise on screen, with y down)."""
    return _quads64(obbs).astype(np.float32)


# The six directions between pairs of a quad's corners: every edge of its convex hull is one of
# them, and the minimum-area enclosing rectangle has a side along a hull edge.
_PAIRS_I = np.array([0, 1, 2, 3, 0, 1])
_PAIRS_J = np.array([1, 2, 3, 0, 2, 3])


def quads_to_obbs(quads: np.ndarray) -> np.ndarray:
    """(N, 4, 2) quads (TL, TR, BR, BL as read) to (N, 5) float32 oriented boxes: each quad's
    minimum-area enclosing rectangle, with w the side closer in direction to the quad's top
    edge (TL -> TR) and the angle that side's, wrapped. Choosing w by the top edge rather than
    by length keeps a narrow word ("I", a vertical column of text) the right way round.

    The rectangle is the best of the six pairwise corner directions (a superset of the hull's
    edges), so a non-convex or self-touching quad still gets its true minimum (cv2.minAreaRect
    gives the same area)."""
    q = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    n = len(q)
    d = q[:, _PAIRS_J] - q[:, _PAIRS_I]  # (N, 6, 2)
    theta = np.arctan2(d[..., 1], d[..., 0])
    cos, sin = np.cos(theta)[..., None], np.sin(theta)[..., None]
    x, y = q[:, None, :, 0], q[:, None, :, 1]  # (N, 1, 4)
    along, across = x * cos + y * sin, y * cos - x * sin  # (N, 6, 4)
    s1 = along.max(-1) - along.min(-1)
    s2 = across.max(-1) - across.min(-1)
    best = np.argmin(s1 * s2, axis=1)
    rows = np.arange(n)
    theta, s1, s2 = theta[rows, best], s1[rows, best], s2[rows, best]
    mid1 = 0.5 * (along.max(-1) + along.min(-1))[rows, best]
    mid2 = 0.5 * (across.max(-1) + across.min(-1))[rows, best]
    c, s = np.cos(theta), np.sin(theta)
    cx, cy = mid1 * c - mid2 * s, mid1 * s + mid2 * c
    top = q[:, 1] - q[:, 0]
    along_top = np.abs(top[:, 0] * c + top[:, 1] * s)
    across_top = np.abs(top[:, 1] * c - top[:, 0] * s)
    first = along_top >= across_top
    w, h = np.where(first, s1, s2), np.where(first, s2, s1)
    angle = np.where(first, theta, theta + np.pi / 2)
    out = np.stack([cx, cy, w, h, np.zeros(n)], -1).astype(np.float32)
    out[:, 4] = wrap_angle(angle)
    return out.reshape(-1, 5)


def encode_angle(angle: np.ndarray) -> np.ndarray:
    """Angles (any shape) to (..., 2) float32 (sin 2a, cos 2a), the target of a network head.

    Why this one: with w fixed to the reading direction the only ambiguity left in (w, h, a)
    is a vs a + pi (the same rectangle, same w and h), so the target must have period pi,
    no less and no more. (sin 2a, cos 2a) has period exactly pi: it is continuous across the
    wrap at +-pi/2 (the two ends are the same box and encode to the same point), and it is
    one-to-one on [-pi/2, pi/2), so a box and its 90-degree turn (which would be the w/h-swapped
    box) encode to opposite points, as far apart as the circle allows. Regressing the raw angle
    jumps by pi at the wrap; (sin 4a, cos 4a) (period pi/2, used for w/h-agnostic boxes) would
    confuse w with h. The distance between two encodings is 2|sin(da)|, da the angle difference
    modulo pi, so an L1/L2 loss on it grows with the real misalignment."""
    a = 2.0 * np.asarray(angle, np.float64)
    return np.stack([np.sin(a), np.cos(a)], -1).astype(np.float32)


def decode_angle(encoded: np.ndarray) -> np.ndarray:
    """(..., 2) (sin 2a, cos 2a), not necessarily of unit length (a head's raw output), to
    float32 angles in [-pi/2, pi/2). A zero vector decodes to 0."""
    e = np.asarray(encoded, np.float64)
    return wrap_angle(0.5 * np.arctan2(e[..., 0], e[..., 1]))


# ----------------------------------------------------------------- intersection, IoU and NMS


@njit(cache=True, nogil=True)
def _signed_area(poly: np.ndarray, n: int) -> float:
    """Shoelace area of the first `n` vertices: positive for clockwise-on-screen (y down)."""
    total = 0.0
    for i in range(n):
        j = (i + 1) % n
        total += poly[i, 0] * poly[j, 1] - poly[j, 0] * poly[i, 1]
    return 0.5 * total


@njit(cache=True, nogil=True)
def convex_intersection_area(p: np.ndarray, q: np.ndarray) -> float:
    """Area of the intersection of two convex polygons ((n, 2) and (m, 2), usually quads, either
    winding): Sutherland-Hodgman clipping of `p` by each edge of `q`, in float64. A vertex on a
    clipping edge counts as inside, so touching polygons give 0 and identical ones their area."""
    n, m = p.shape[0], q.shape[0]
    if n < 3 or m < 3:
        return 0.0
    cap = 2 * (n + m)
    cur = np.empty((cap, 2), np.float64)
    nxt = np.empty((cap, 2), np.float64)
    for i in range(n):
        cur[i, 0] = p[i, 0]
        cur[i, 1] = p[i, 1]
    count = n
    sign = 1.0 if _signed_area(q, m) >= 0 else -1.0
    for e in range(m):
        ax, ay = np.float64(q[e, 0]), np.float64(q[e, 1])
        ex, ey = np.float64(q[(e + 1) % m, 0]) - ax, np.float64(q[(e + 1) % m, 1]) - ay
        if 2 * count > cap:  # a clip adds at most one vertex per vertex: never short of room
            cap = 2 * count
            grown = np.empty((cap, 2), np.float64)
            grown[:count] = cur[:count]
            cur = grown
            nxt = np.empty((cap, 2), np.float64)
        k = 0
        for i in range(count):
            px, py = cur[i, 0], cur[i, 1]
            rx, ry = cur[(i + 1) % count, 0], cur[(i + 1) % count, 1]
            dp = sign * (ex * (py - ay) - ey * (px - ax))
            dr = sign * (ex * (ry - ay) - ey * (rx - ax))
            if dp >= 0:
                nxt[k, 0] = px
                nxt[k, 1] = py
                k += 1
            if (dp >= 0) != (dr >= 0):  # the edge p -> r crosses the clipping line
                t = dp / (dp - dr)
                nxt[k, 0] = px + t * (rx - px)
                nxt[k, 1] = py + t * (ry - py)
                k += 1
        cur, nxt = nxt, cur
        count = k
        if count < 3:
            return 0.0
    return abs(_signed_area(cur, count))


@njit(cache=True, nogil=True)
def _corners(obbs: np.ndarray):
    """(N, 5) boxes to float64 (N, 4, 2) corners (TL, TR, BR, BL), their axis-aligned bounds
    (N, 4: x1 y1 x2 y2, for a cheap rejection of far pairs) and areas."""
    n = obbs.shape[0]
    quads = np.empty((n, 4, 2), np.float64)
    bounds = np.empty((n, 4), np.float64)
    areas = np.empty(n, np.float64)
    for i in range(n):
        cx, cy = np.float64(obbs[i, 0]), np.float64(obbs[i, 1])
        w, h, a = np.float64(obbs[i, 2]), np.float64(obbs[i, 3]), np.float64(obbs[i, 4])
        cos, sin = math.cos(a), math.sin(a)
        ux, uy = 0.5 * w * cos, 0.5 * w * sin
        vx, vy = -0.5 * h * sin, 0.5 * h * cos
        quads[i, 0, 0], quads[i, 0, 1] = cx - ux - vx, cy - uy - vy
        quads[i, 1, 0], quads[i, 1, 1] = cx + ux - vx, cy + uy - vy
        quads[i, 2, 0], quads[i, 2, 1] = cx + ux + vx, cy + uy + vy
        quads[i, 3, 0], quads[i, 3, 1] = cx - ux + vx, cy - uy + vy
        bounds[i, 0] = quads[i, :, 0].min()
        bounds[i, 1] = quads[i, :, 1].min()
        bounds[i, 2] = quads[i, :, 0].max()
        bounds[i, 3] = quads[i, :, 1].max()
        areas[i] = abs(w * h)
    return quads, bounds, areas


@njit(cache=True, nogil=True)
def _quad_iou(qa: np.ndarray, ba: np.ndarray, area_a: float,
              qb: np.ndarray, bb: np.ndarray, area_b: float) -> float:
    if ba[0] >= bb[2] or bb[0] >= ba[2] or ba[1] >= bb[3] or bb[1] >= ba[3]:
        return 0.0
    inter = convex_intersection_area(qa, qb)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


@njit(cache=True, nogil=True)
def obb_iou_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 5) x (M, 5) oriented boxes -> (N, M) float64 IoU; 0 where a union is empty."""
    qa, ba, area_a = _corners(a)
    qb, bb, area_b = _corners(b)
    out = np.zeros((a.shape[0], b.shape[0]), np.float64)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = _quad_iou(qa[i], ba[i], area_a[i], qb[j], bb[j], area_b[j])
    return out


def obb_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every oriented box of `a` (N, 5) with every one of `b` (M, 5): (N, M) float64.
    Inputs are cast to contiguous float32 so that one compiled kernel serves every caller."""
    a = np.ascontiguousarray(np.asarray(a, np.float32).reshape(-1, 5))
    b = np.ascontiguousarray(np.asarray(b, np.float32).reshape(-1, 5))
    return obb_iou_kernel(a, b)


@njit(cache=True, nogil=True)
def obb_nms_kernel(obbs: np.ndarray, scores: np.ndarray, iou_threshold: float,
                   max_boxes: int) -> np.ndarray:
    """Class-agnostic greedy NMS over oriented boxes (N, 5): the contract of
    `kernels.nms_kernel` (ties broken by index, a box is dropped when its IoU with a kept one
    is above `iou_threshold`, at most `max_boxes`); returns indices of kept boxes (int64), best
    score first (`max_boxes` 0 gives none). Two words crossing at 90 degrees (an X at +-45)
    overlap little as rotated rectangles, so both survive where their axis-aligned bounds, the
    same box, would suppress one."""
    order = np.argsort(-scores, kind="mergesort")
    n = len(order)
    quads, bounds, areas = _corners(obbs)
    suppressed = np.zeros(n, np.bool_)
    keep = np.empty(min(n, max_boxes), np.int64)
    kept = 0
    for ii in range(n):
        i = order[ii]
        if suppressed[i]:
            continue
        if kept >= max_boxes:
            break
        keep[kept] = i
        kept += 1
        for jj in range(ii + 1, n):
            j = order[jj]
            if not suppressed[j] and _quad_iou(quads[i], bounds[i], areas[i], quads[j],
                                               bounds[j], areas[j]) > iou_threshold:
                suppressed[j] = True
    return keep[:kept]


@njit(cache=True, nogil=True)
def obb_merge_kernel(obbs: np.ndarray, scores: np.ndarray, keep: np.ndarray,
                     iou_threshold: float) -> np.ndarray:
    """Weighted NMS for oriented boxes (`kernels.merge_boxes_kernel`'s contract): each kept box
    becomes the score-weighted mean of the candidates overlapping it by more than
    `iou_threshold`, itself included; centres and sizes are averaged, and the angle through
    its (sin 2a, cos 2a) encoding, so that boxes either side of the wrap at +-pi/2 average to
    a box near it, not to a level one."""
    quads, bounds, areas = _corners(obbs)
    merged = np.empty((len(keep), 5), np.float32)
    for k in range(len(keep)):
        i = keep[k]
        total = np.zeros(4, np.float64)
        s2, c2, weight = 0.0, 0.0, 0.0
        for j in range(len(obbs)):
            if j == i or _quad_iou(quads[i], bounds[i], areas[i], quads[j], bounds[j],
                                   areas[j]) > iou_threshold:
                wj = np.float64(scores[j])
                for c in range(4):
                    total[c] += wj * np.float64(obbs[j, c])
                s2 += wj * math.sin(2.0 * np.float64(obbs[j, 4]))
                c2 += wj * math.cos(2.0 * np.float64(obbs[j, 4]))
                weight += wj
        if weight > 0:
            for c in range(4):
                merged[k, c] = total[c] / weight
            a = 0.5 * math.atan2(s2, c2)
            merged[k, 4] = a if a < np.float64(HALF_PI32) else -np.float64(HALF_PI32)
        else:
            merged[k] = obbs[i]
    return merged


@njit(cache=True, nogil=True)
def yolo_decode_oriented_kernel(raw: np.ndarray, anchors: np.ndarray, stride: float,
                                threshold: float, xy_scale: float = 1.0):
    """One scale's raw oriented head output (grid_h, grid_w, anchors, 7: tx ty tw th obj
    sin2a cos2a) to oriented boxes (n, 5: cx cy w h angle, model-input pixels) and scores
    above `threshold`; centre and size as `kernels.yolo_decode_kernel` decodes them."""
    gh, gw, na, _ = raw.shape
    logit_thr = np.log(threshold / (1.0 - threshold))
    count = count_above(raw, logit_thr)
    obbs = np.empty((count, 5), np.float32)
    scores = np.empty(count, np.float32)
    k = 0
    for i in range(gh):
        for j in range(gw):
            for a in range(na):
                if raw[i, j, a, 4] > logit_thr:
                    obbs[k, 0], obbs[k, 1], obbs[k, 2], obbs[k, 3] = decode_centre_size(
                        raw, i, j, a, anchors, stride, xy_scale)
                    angle = 0.5 * math.atan2(np.float64(raw[i, j, a, 5]),
                                             np.float64(raw[i, j, a, 6]))
                    obbs[k, 4] = angle if angle < np.float64(HALF_PI32) else -np.float64(HALF_PI32)
                    scores[k] = 1.0 / (1.0 + np.exp(-raw[i, j, a, 4]))
                    k += 1
    return obbs, scores


def oriented_postprocess(outputs: list[np.ndarray], anchors: np.ndarray, strides: list[float],
                         score_threshold: float, iou_threshold: float = 0.45,
                         max_boxes: int = 200, xy_scale: float = 1.0, merge_iou: float = 0.0,
                         large_min_height: float = 0.0, large_threshold: float = 1.0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """All scales of one image from an oriented head: decode, concatenate, rotated NMS, then
    (`merge_iou` > 0) the weighted merge; oriented boxes (n, 5, model-input pixels) and
    scores, best first. Candidates whose own height (across the text) is at least
    `large_min_height` input pixels (when > 0) need only `large_threshold` where that is lower
    than `score_threshold`, as in `kernels.yolo_postprocess`."""
    large = large_min_height > 0 and large_threshold < score_threshold
    lowest = large_threshold if large else score_threshold
    if lowest >= 1.0:
        return np.zeros((0, 5), np.float32), np.zeros(0, np.float32)
    found = [yolo_decode_oriented_kernel(np.ascontiguousarray(raw, np.float32),
                                         np.asarray(scale_anchors, np.float32), float(stride),
                                         float(lowest), float(xy_scale))
             for raw, scale_anchors, stride in zip(outputs, anchors, strides, strict=True)]
    obbs = np.concatenate([f[0] for f in found]) if found else np.zeros((0, 5), np.float32)
    scores = np.concatenate([f[1] for f in found]) if found else np.zeros(0, np.float32)
    if large:
        passed = (scores >= score_threshold) | (obbs[:, 3] >= large_min_height)
        obbs, scores = obbs[passed], scores[passed]
    keep = obb_nms_kernel(obbs, scores, float(iou_threshold), int(max_boxes))
    if merge_iou > 0 and len(keep):
        return obb_merge_kernel(obbs, scores, keep, float(merge_iou)), scores[keep]
    return obbs[keep], scores[keep]


# ------------------------------------------------------------------------ plain references


def convex_intersection_area_reference(p: np.ndarray, q: np.ndarray) -> float:
    """A different algorithm the kernel must equal: the intersection of two convex polygons is
    the convex hull of the corners of each inside the other and the crossings of their edges;
    its corners are sorted by angle around their mean and the shoelace gives the area."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    scale = max(np.abs(p).max(), np.abs(q).max(), 1.0)
    tol = 1e-9 * scale * scale

    def inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
        edges = np.roll(poly, -1, 0) - poly
        rel = points[:, None, :] - poly[None]
        cross = edges[None, :, 0] * rel[..., 1] - edges[None, :, 1] * rel[..., 0]
        return (cross >= -tol).all(1) | (cross <= tol).all(1)

    points = [p[inside(p, q)], q[inside(q, p)]]
    for a0, a1 in zip(p, np.roll(p, -1, 0), strict=True):
        for b0, b1 in zip(q, np.roll(q, -1, 0), strict=True):
            da, db, d0 = a1 - a0, b1 - b0, b0 - a0
            det = da[0] * db[1] - da[1] * db[0]
            if abs(det) <= 1e-12 * scale * scale:  # parallel edges meet at corners, if at all
                continue
            t = (d0[0] * db[1] - d0[1] * db[0]) / det
            u = (d0[0] * da[1] - d0[1] * da[0]) / det
            if -1e-12 <= t <= 1 + 1e-12 and -1e-12 <= u <= 1 + 1e-12:
                points.append((a0 + t * da)[None])
    pts = np.concatenate(points)
    if len(pts) < 3:
        return 0.0
    rel = pts - pts.mean(0)
    pts = pts[np.argsort(np.arctan2(rel[:, 1], rel[:, 0]))]
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2)


def obb_iou_matrix_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Plain numpy/python IoU matrix the kernel must equal."""
    qa, qb = _quads64(a), _quads64(b)
    area_a = np.abs(np.asarray(a, np.float64).reshape(-1, 5)[:, 2:4].prod(1))
    area_b = np.abs(np.asarray(b, np.float64).reshape(-1, 5)[:, 2:4].prod(1))
    out = np.zeros((len(qa), len(qb)))
    for i in range(len(qa)):
        for j in range(len(qb)):
            inter = convex_intersection_area_reference(qa[i], qb[j])
            union = area_a[i] + area_b[j] - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def obb_nms_reference(obbs: np.ndarray, scores: np.ndarray, iou_threshold: float,
                      max_boxes: int) -> np.ndarray:
    """Plain numpy greedy NMS the kernel must equal."""
    obbs = np.asarray(obbs, np.float32).reshape(-1, 5)
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    keep = []
    while len(order) and len(keep) < max_boxes:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        ious = obb_iou_matrix_reference(obbs[i:i + 1], obbs[rest])[0]
        order = rest[ious <= iou_threshold]
    return np.asarray(keep, np.int64)


def warm_up() -> float:
    """Compile these kernels (or load them from numba's cache); returns the seconds it took."""
    start = time.perf_counter()
    boxes = np.array([[10, 10, 20, 5, 0.3], [12, 10, 20, 5, -0.2]], np.float32)
    obb_iou_matrix(boxes, boxes)
    obb_nms_kernel(boxes, np.array([0.9, 0.8], np.float32), 0.5, 10)
    raw = np.zeros((2, 2, 1, 7), np.float32)
    raw[..., 4] = 3.0
    oriented_postprocess([raw], np.ones((1, 1, 2), np.float32), [8.0], 0.5, merge_iou=0.5)
    return time.perf_counter() - start
