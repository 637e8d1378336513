"""Merging the detector's fine and coarse passes of one frame.

The fine pass (the frame at the card's `max_side`) finds small words and misses large ones: a
word far larger than the detector's anchors and receptive field never fires as one box. The
coarse pass (the frame at `coarse_side`) sees the same large word at a size it was trained
on. The fine pass is trusted for small words; the coarse pass adds the large words it alone
sees, and where the fine pass boxed a large word too, the coarse box takes the place of the
fine boxes it overlaps if every one of them is large as well: the fine pass boxes a word that
large short or in parts (a fine detector trained on large sign lettering boxed DEVEL of
DEVELOPMENT), and the recognizer then reads the part. A coarse box over a small fine word
leaves it alone. (Letting coarse boxes replace every fine box they contain, small ones
included, lost 1-5 points of ic15 validation H-mean: a coarse box is looser around small
words and merges neighbours.)"""

from __future__ import annotations

import numpy as np


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)


def _intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection areas of x1 y1 x2 y2 boxes."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.maximum(hi - lo, 0), axis=2)


def _quad_overlaps(fine: np.ndarray, coarse: np.ndarray, candidates: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Intersection and smaller-area matrices of two passes' quads ((N, 4, 2), (M, 4, 2)),
    computed for the `candidates` pairs only (those whose bounds overlap); 0 elsewhere. Tilted
    words' bounds overlap far more than the words do."""
    import cv2

    fine, coarse = np.asarray(fine, np.float32), np.asarray(coarse, np.float32)
    inter = np.zeros(candidates.shape, np.float64)
    for i, j in zip(*np.nonzero(candidates), strict=True):
        inter[i, j] = cv2.intersectConvexConvex(fine[i], coarse[j])[0]
    areas = [np.array([abs(cv2.contourArea(q)) for q in quads]) for quads in (fine, coarse)]
    return inter, np.minimum(areas[0][:, None], areas[1][None, :])


def merge_passes(fine: tuple[np.ndarray, ...], coarse: tuple[np.ndarray, ...],
                 min_coarse_height: float, overlap: float = 0.2) -> tuple[np.ndarray, ...]:
    """Boxes, scores and (optionally) quads, best first, of both passes (frame pixels). Large
    means at least `min_coarse_height` frame pixels high (the fine pass sees lower words
    better), and two boxes overlap where they share `overlap` of the smaller one's area (with
    quads: the quads', as an oriented detector's tilted words overlap far less than their
    bounds). Kept: each large coarse box that overlaps no fine box or only large ones, and every
    fine box that no such coarse box overlaps (module docstring)."""
    fine_boxes, coarse_boxes = fine[0], coarse[0]
    keep_coarse = (coarse_boxes[:, 3] - coarse_boxes[:, 1]) >= min_coarse_height
    keep_fine = np.ones(len(fine_boxes), bool)
    if len(fine_boxes) and keep_coarse.any():
        inter = _intersections(fine_boxes, coarse_boxes)
        smaller = np.minimum(_areas(fine_boxes)[:, None], _areas(coarse_boxes)[None, :])
        if len(fine) > 2:
            inter, smaller = _quad_overlaps(fine[2], coarse[2], inter > 0)
        overlaps = inter >= overlap * smaller
        small_fine = (fine_boxes[:, 3] - fine_boxes[:, 1]) < min_coarse_height
        keep_coarse &= ~overlaps[small_fine].any(0)
        keep_fine = ~overlaps[:, keep_coarse].any(1)
    joined = [np.concatenate([a[keep_fine], b[keep_coarse]]).astype(np.float32)
              for a, b in zip(fine, coarse, strict=True)]
    order = np.argsort(-joined[1], kind="stable")
    return tuple(part[order] for part in joined)
