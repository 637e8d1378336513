"""Detector targets: k-means anchors over word boxes, and the encoding of ground-truth boxes
into per-scale YOLO target grids (the exact inverse of the runtime's decode kernel)."""

from __future__ import annotations

import numpy as np

from engocr.realtime.oriented import encode_angle


def wh_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of boxes and anchors placed on a common centre: (n, 2) x (k, 2) -> (n, k)."""
    inter = np.minimum(wh[:, None, 0], anchors[None, :, 0]) * \
        np.minimum(wh[:, None, 1], anchors[None, :, 1])
    union = wh[:, 0:1] * wh[:, 1:2] + (anchors[:, 0] * anchors[:, 1])[None] - inter
    return inter / union


def kmeans_anchors(wh: np.ndarray, k: int = 9, seed: int = 0, iters: int = 100) -> np.ndarray:
    """k-means with 1 - IoU as distance (YOLOv2/v3), sorted by area."""
    rng = np.random.default_rng(seed)
    centres = wh[rng.choice(len(wh), k, replace=False)].astype(np.float64)
    for _ in range(iters):
        assign = wh_iou(wh, centres).argmax(1)
        new = np.array([np.median(wh[assign == i], 0) if (assign == i).any() else centres[i]
                        for i in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return centres[np.argsort(centres.prod(1))]


def encode_targets(boxes: np.ndarray, anchors: np.ndarray, strides: tuple[int, ...],
                   size: tuple[int, int], extra_iou: float = 0.35,
                   xy_scale: float = 1.0, angles: np.ndarray | None = None
                   ) -> list[np.ndarray]:
    """Boxes (n, 4: x1 y1 x2 y2, input pixels) -> per scale (gh, gw, A, 6) grids of
    [tx, ty (centre in cell units from the cell's corner), log(w/aw), log(h/ah), objectness,
    box weight]. Each box goes to the anchor (over all scales) whose shape fits it best, in the
    cell holding its centre, and also to every other anchor whose shape IoU exceeds
    `extra_iou` where that slot is free (more positives per word speed up learning; the best
    anchor always wins a shared slot). With `xy_scale` >= 2 (YOLOv5) the horizontal and the
    vertical neighbour cell nearest the centre take the box too, their tx/ty in -0.5..1.5.

    `angles` (n, radians; an oriented detector): `boxes` are then the words' own boxes turned
    level about their centres, and each grid gains (sin 2a, cos 2a) as channels 6 and 7."""
    width, height = size
    anchors = np.asarray(anchors, np.float32)
    n_scales, n_anchors = anchors.shape[:2]
    depth = 6 if angles is None else 8
    grids = [np.zeros((height // s, width // s, n_anchors, depth), np.float32) for s in strides]
    if len(boxes) == 0:
        return grids
    boxes = np.asarray(boxes, np.float32)
    wh = np.maximum(boxes[:, 2:4] - boxes[:, 0:2], 1.0)
    centres = (boxes[:, 0:2] + boxes[:, 2:4]) / 2
    ious = wh_iou(wh, anchors.reshape(-1, 2))
    best = ious.argmax(1)
    extra = [(n, flat) for n in range(len(boxes)) for flat in np.nonzero(ious[n] > extra_iou)[0]
             if flat != best[n]]
    # Lowest priority first, so that later writes win a shared slot: neighbour cells before
    # centre cells, extra anchors before best ones.
    slots = []
    for priority, pairs in ((0, extra), (2, list(enumerate(best)))):
        for n, flat in pairs:
            scale, a = divmod(int(flat), n_anchors)
            stride, grid = strides[scale], grids[scale]
            cx, cy = centres[n] / stride
            j = int(np.clip(cx, 0, grid.shape[1] - 1))
            i = int(np.clip(cy, 0, grid.shape[0] - 1))
            slots.append((priority + 1, n, scale, a, i, j))
            if xy_scale >= 2:
                nj = j - 1 if cx - j < 0.5 else j + 1
                ni = i - 1 if cy - i < 0.5 else i + 1
                for ii, jj in ((i, nj), (ni, j)):
                    if 0 <= ii < grid.shape[0] and 0 <= jj < grid.shape[1]:
                        slots.append((priority, n, scale, a, ii, jj))
    for _, n, scale, a, i, j in sorted(slots, key=lambda slot: slot[0]):
        stride = strides[scale]
        (cx, cy), (w, h) = centres[n] / stride, wh[n]
        aw, ah = anchors[scale, a]
        grids[scale][i, j, a, :6] = (cx - j, cy - i, np.log(w / aw), np.log(h / ah), 1.0,
                                     2.0 - (w * h) / (width * height))
        if angles is not None:
            grids[scale][i, j, a, 6:] = encode_angle(angles[n])
    return grids


def obbs_to_level_boxes(obbs: np.ndarray) -> np.ndarray:
    """Oriented boxes (n, 5) as the level boxes (n, 4: x1 y1 x2 y2) of the same centre and
    size: what `encode_targets` takes with their angles."""
    obbs = np.asarray(obbs, np.float32).reshape(-1, 5)
    half = obbs[:, 2:4] / 2
    return np.concatenate([obbs[:, :2] - half, obbs[:, :2] + half], 1)


def targets_to_raw(grids: list[np.ndarray], eps: float = 1e-4,
                   xy_scale: float = 1.0) -> list[np.ndarray]:
    """Target grids as the raw logits a perfect model would output (for round-trip tests)."""
    raws = []
    for grid in grids:
        oriented = grid.shape[-1] == 8
        raw = np.empty(grid.shape[:3] + (7 if oriented else 5,), np.float32)
        txy = np.clip((grid[..., 0:2] + (xy_scale - 1) / 2) / xy_scale, eps, 1 - eps)
        raw[..., 0:2] = np.log(txy / (1 - txy))
        raw[..., 2:4] = grid[..., 2:4]
        raw[..., 4] = np.where(grid[..., 4] > 0, 12.0, -12.0)
        if oriented:
            raw[..., 5:7] = grid[..., 6:8]
        raws.append(raw)
    return raws
