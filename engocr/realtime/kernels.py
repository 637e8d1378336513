"""numba kernels for the hot post-processing steps: CTC greedy decoding, the lexicon's
candidate search and CTC scoring, and YOLO output decoding + non-maximum suppression. Each is
compared in the tests with a plain reference (numpy, or brute force for the lexicon's);
`warm_up()` compiles (or loads from the on-disk cache) before the first frame."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def kernel_cache_dir() -> Path:
    """Where numba keeps the compiled kernels: a user cache folder, never inside the installed
    package (cache files left in site-packages survive an uninstall, and the folder they leave
    then shadows an editable install of engocr)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "engocr" / "numba"


import numba  # noqa: E402

if not numba.config.CACHE_DIR:  # read before the kernels below are decorated; NUMBA_CACHE_DIR wins
    numba.config.CACHE_DIR = str(kernel_cache_dir())
from numba import njit  # noqa: E402

# --------------------------------------------------------------------------- CTC greedy decoding


@njit(cache=True, nogil=True)
def ctc_greedy_kernel(logits: np.ndarray, codes: np.ndarray, blank: int):
    """(batch, time, classes) logits -> (batch, time) uint8 character codes, lengths, confidence.

    One pass per row: argmax, softmax of the winner (for the confidence), collapse of repeats,
    blank removal and mapping to ASCII codes. Confidence is the mean winning probability over the
    emitted characters (0 for an empty reading).
    """
    batch, steps, classes = logits.shape
    out = np.zeros((batch, steps), np.uint8)
    lengths = np.zeros(batch, np.int32)
    conf = np.zeros(batch, np.float32)
    for b in range(batch):
        prev = -1
        n = 0
        total = 0.0
        for t in range(steps):
            best = 0
            top = logits[b, t, 0]
            for c in range(1, classes):
                if logits[b, t, c] > top:
                    top = logits[b, t, c]
                    best = c
            if best != blank and best != prev:
                denom = 0.0
                for c in range(classes):
                    denom += np.exp(logits[b, t, c] - top)
                total += 1.0 / denom
                out[b, n] = codes[best]
                n += 1
            prev = best
        lengths[b] = n
        conf[b] = total / n if n > 0 else 0.0
    return out, lengths, conf


def _charset_codes() -> np.ndarray:
    from engocr.charset import CHARSET

    return np.frombuffer(("\0" + CHARSET).encode("ascii"), dtype=np.uint8).copy()


def ctc_greedy_decode(logits: np.ndarray, charset: str | None = None,
                      blank: int = 0) -> tuple[list[str], np.ndarray]:
    """Decode logits to strings with per-word confidence; `charset` lists classes 1..N."""
    codes = _charset_codes() if charset is None else \
        np.frombuffer(("\0" + charset).encode("ascii"), np.uint8).copy()
    out, lengths, conf = ctc_greedy_kernel(np.ascontiguousarray(logits, np.float32), codes, blank)
    texts = [out[i, :lengths[i]].tobytes().decode("ascii") for i in range(len(lengths))]
    return texts, conf


def ctc_greedy_reference(logits: np.ndarray, charset: str, blank: int = 0
                         ) -> tuple[list[str], np.ndarray]:
    """The straightforward numpy version the kernel must equal."""
    texts, confs = [], []
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    for row, p in zip(logits.argmax(-1), probs, strict=True):
        keep = np.ones(len(row), bool)
        keep[1:] = row[1:] != row[:-1]
        keep &= row != blank
        texts.append("".join(charset[i - 1] for i in row[keep]))
        confs.append(p[np.arange(len(row)), row][keep].mean() if keep.any() else 0.0)
    return texts, np.asarray(confs, np.float32)


# ------------------------------------------------------------- lexicon: candidates and scores


@njit(cache=True, nogil=True)
def build_trie(words: np.ndarray, lengths: np.ndarray):
    """A prefix tree of lexicographically sorted words (padded uint8 codes), flattened in
    depth-first order: each node's character, depth, the index just past its subtree, and the
    word that ends there (-1 if none). A word shares the nodes of its common prefix with the
    word before it, so one pass builds the tree."""
    total = 0
    for k in range(len(lengths)):
        total += lengths[k]
    chars = np.zeros(total, np.uint8)
    depth = np.zeros(total, np.int32)
    word = np.full(total, -1, np.int32)
    n = 0
    for k in range(len(lengths)):
        shared = 0
        if k > 0:
            while (shared < lengths[k] and shared < lengths[k - 1]
                   and words[k, shared] == words[k - 1, shared]):
                shared += 1
        if shared == lengths[k]:  # a repeat of the word before
            continue
        for j in range(shared, lengths[k]):
            chars[n] = words[k, j]
            depth[n] = j + 1
            n += 1
        word[n - 1] = k
    end = np.full(n, n, np.int32)
    open_nodes = np.empty(words.shape[1] + 1, np.int64)  # the path from the root to node i
    for i in range(n):
        d = depth[i]
        if i > 0 and depth[i - 1] >= d:  # closes every open node at depth >= d
            for j in range(d, depth[i - 1] + 1):
                end[open_nodes[j]] = i
        open_nodes[d] = i
    return chars[:n].copy(), depth[:n].copy(), end, word[:n].copy()


@njit(cache=True, nogil=True)
def trie_within(query: np.ndarray, chars: np.ndarray, depth: np.ndarray, end: np.ndarray,
                word: np.ndarray, max_edits: int):
    """Words of a `build_trie` tree within `max_edits` Levenshtein edits of `query`: their
    indices and distances. One edit-distance row per node on the path, and a subtree is
    skipped as soon as its row has no cell within reach, so only a few thousand of a large
    word list's nodes are visited."""
    m = len(query)
    rows = np.empty((int(depth.max()) + 1 if len(depth) else 1, m + 1), np.int32)
    for j in range(m + 1):
        rows[0, j] = j
    found = np.empty(len(word), np.int32)
    dist = np.empty(len(word), np.int32)
    count = 0
    i = 0
    while i < len(chars):
        d = depth[i]
        rows[d, 0] = d
        row_min = d
        for j in range(1, m + 1):
            best = rows[d - 1, j - 1] + (query[j - 1] != chars[i])
            if rows[d - 1, j] + 1 < best:
                best = rows[d - 1, j] + 1
            if rows[d, j - 1] + 1 < best:
                best = rows[d, j - 1] + 1
            rows[d, j] = best
            if best < row_min:
                row_min = best
        if word[i] >= 0 and rows[d, m] <= max_edits:
            found[count] = word[i]
            dist[count] = rows[d, m]
            count += 1
        i = i + 1 if row_min <= max_edits else end[i]
    return found[:count].copy(), dist[:count].copy()


@njit(cache=True, nogil=True)
def ctc_log_likelihood(log_probs: np.ndarray, labels: np.ndarray, blank: int) -> float:
    """log P(labels | frames) under CTC: the forward algorithm over (time, classes) log
    probabilities, summed over every alignment (the quantity CTC training maximises)."""
    steps = log_probs.shape[0]
    size = 2 * len(labels) + 1
    ext = np.full(size, blank, np.int64)
    for i in range(len(labels)):
        ext[2 * i + 1] = labels[i]
    alpha = np.full(size, -np.inf)
    nxt = np.empty(size)
    alpha[0] = log_probs[0, blank]
    if size > 1:
        alpha[1] = log_probs[0, ext[1]]
    for t in range(1, steps):
        for s in range(size):
            total = alpha[s]
            if s >= 1:
                total = np.logaddexp(total, alpha[s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                total = np.logaddexp(total, alpha[s - 2])
            nxt[s] = total + log_probs[t, ext[s]]
        alpha[:] = nxt
    return np.logaddexp(alpha[size - 1], alpha[size - 2]) if size > 1 else alpha[0]


@njit(cache=True, nogil=True)
def ctc_candidate_scores(log_probs: np.ndarray, prefix: np.ndarray, words: np.ndarray,
                         lengths: np.ndarray, candidates: np.ndarray, suffix: np.ndarray,
                         classes_of: np.ndarray, blank: int) -> np.ndarray:
    """CTC log likelihood of prefix + word + suffix for each candidate row of `words` (ASCII
    codes mapped to classes through `classes_of`); prefix and suffix are class indices."""
    scores = np.empty(len(candidates), np.float64)
    for c in range(len(candidates)):
        k = candidates[c]
        labels = np.empty(len(prefix) + lengths[k] + len(suffix), np.int64)
        labels[:len(prefix)] = prefix
        for j in range(lengths[k]):
            labels[len(prefix) + j] = classes_of[words[k, j]]
        labels[len(prefix) + lengths[k]:] = suffix
        scores[c] = ctc_log_likelihood(log_probs, labels, blank)
    return scores


# --------------------------------------------------------------------- YOLO decoding and NMS


@njit(cache=True, nogil=True)
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@njit(cache=True, nogil=True)
def count_above(raw: np.ndarray, logit_threshold: float) -> int:
    """Anchors of a raw head grid (grid_h, grid_w, anchors, channels) whose objectness logit
    (channel 4) is above `logit_threshold`: the decode kernels size their outputs with it."""
    gh, gw, na, _ = raw.shape
    count = 0
    for i in range(gh):
        for j in range(gw):
            for a in range(na):
                if raw[i, j, a, 4] > logit_threshold:
                    count += 1
    return count


@njit(cache=True, nogil=True)
def decode_centre_size(raw: np.ndarray, i: int, j: int, a: int, anchors: np.ndarray,
                       stride: float, xy_scale: float):
    """Centre and size (model-input pixels) of anchor `a` in cell (i, j): the centre is
    cell + xy_scale * sigmoid(t) - (xy_scale - 1) / 2, the size the anchor's times exp(t)."""
    shift = (xy_scale - 1.0) / 2.0
    cx = (j + xy_scale * _sigmoid(raw[i, j, a, 0]) - shift) * stride
    cy = (i + xy_scale * _sigmoid(raw[i, j, a, 1]) - shift) * stride
    w = anchors[a, 0] * np.exp(min(raw[i, j, a, 2], 8.0))
    h = anchors[a, 1] * np.exp(min(raw[i, j, a, 3], 8.0))
    return cx, cy, w, h


@njit(cache=True, nogil=True)
def yolo_decode_kernel(raw: np.ndarray, anchors: np.ndarray, stride: float,
                       threshold: float, xy_scale: float = 1.0):
    """One scale's raw head output (grid_h, grid_w, anchors, 5: tx ty tw th obj) to boxes
    (x1 y1 x2 y2, model-input pixels) and scores above `threshold`. The centre is
    cell + xy_scale * sigmoid(t) - (xy_scale - 1) / 2 (1: YOLOv3, 2: YOLOv5)."""
    gh, gw, na, _ = raw.shape
    logit_thr = np.log(threshold / (1.0 - threshold))
    count = count_above(raw, logit_thr)
    boxes = np.empty((count, 4), np.float32)
    scores = np.empty(count, np.float32)
    k = 0
    for i in range(gh):
        for j in range(gw):
            for a in range(na):
                if raw[i, j, a, 4] > logit_thr:
                    cx, cy, w, h = decode_centre_size(raw, i, j, a, anchors, stride,
                                                      xy_scale)
                    boxes[k, 0] = cx - w / 2
                    boxes[k, 1] = cy - h / 2
                    boxes[k, 2] = cx + w / 2
                    boxes[k, 3] = cy + h / 2
                    scores[k] = _sigmoid(raw[i, j, a, 4])
                    k += 1
    return boxes, scores


@njit(cache=True, nogil=True)
def _pair_iou(boxes: np.ndarray, areas: np.ndarray, i: int, j: int) -> float:
    xx1 = max(boxes[i, 0], boxes[j, 0])
    yy1 = max(boxes[i, 1], boxes[j, 1])
    xx2 = min(boxes[i, 2], boxes[j, 2])
    yy2 = min(boxes[i, 3], boxes[j, 3])
    inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
    union = areas[i] + areas[j] - inter
    return inter / union if union > 0 else 0.0


@njit(cache=True, nogil=True)
def nms_kernel(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
               max_boxes: int) -> np.ndarray:
    """Class-agnostic greedy NMS; returns indices of kept boxes, best score first."""
    order = np.argsort(-scores, kind="mergesort")
    n = len(order)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = np.zeros(n, np.bool_)
    keep = np.empty(min(n, max_boxes), np.int64)
    kept = 0
    for ii in range(n):
        i = order[ii]
        if suppressed[i]:
            continue
        keep[kept] = i
        kept += 1
        if kept >= max_boxes:
            break
        for jj in range(ii + 1, n):
            j = order[jj]
            if not suppressed[j] and _pair_iou(boxes, areas, i, j) > iou_threshold:
                suppressed[j] = True
    return keep[:kept]


@njit(cache=True, nogil=True)
def merge_boxes_kernel(boxes: np.ndarray, scores: np.ndarray, keep: np.ndarray,
                       iou_threshold: float) -> np.ndarray:
    """Weighted NMS: each kept box becomes the score-weighted mean of every candidate that
    overlaps it by more than `iou_threshold` (itself included). A word lights up several cells
    and anchors whose boxes scatter around it; their mean is a tighter box than the single
    highest-scoring one (measured in README: ic15 H-mean, train and validation)."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    merged = np.empty((len(keep), 4), np.float32)
    for k in range(len(keep)):
        i = keep[k]
        total = np.zeros(4, np.float64)
        weight = 0.0
        for j in range(len(boxes)):
            if j == i or _pair_iou(boxes, areas, i, j) > iou_threshold:
                total += scores[j] * boxes[j].astype(np.float64)
                weight += scores[j]
        if weight > 0:
            merged[k] = total / weight
        else:
            merged[k] = boxes[i]
    return merged


def _ious_reference(boxes: np.ndarray, areas: np.ndarray, i: int, others: np.ndarray
                    ) -> np.ndarray:
    """IoU of box `i` with each of the boxes `others` (indices), in plain numpy."""
    xx1 = np.maximum(boxes[i, 0], boxes[others, 0])
    yy1 = np.maximum(boxes[i, 1], boxes[others, 1])
    xx2 = np.minimum(boxes[i, 2], boxes[others, 2])
    yy2 = np.minimum(boxes[i, 3], boxes[others, 3])
    inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
    return inter / np.maximum(areas[i] + areas[others] - inter, 1e-12)


def merge_boxes_reference(boxes: np.ndarray, scores: np.ndarray, keep: np.ndarray,
                          iou_threshold: float) -> np.ndarray:
    """Plain numpy weighted merge the kernel must equal."""
    merged = boxes[keep].astype(np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for k, i in enumerate(keep):
        member = _ious_reference(boxes, areas, i, np.arange(len(boxes))) > iou_threshold
        member[i] = True
        w = scores[member].astype(np.float64)
        if w.sum() > 0:
            merged[k] = (boxes[member] * w[:, None]).sum(0) / w.sum()
    return merged.astype(np.float32)


def nms_reference(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
                  max_boxes: int) -> np.ndarray:
    """Plain numpy NMS the kernel must equal."""
    order = np.argsort(-scores, kind="mergesort")
    keep = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while len(order) and len(keep) < max_boxes:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[_ious_reference(boxes, areas, i, rest) <= iou_threshold]
    return np.asarray(keep, np.int64)


# Candidates overlapping a kept box by more than this are averaged into it (0: plain NMS).
# Chosen on ic15 training images (README, "Detector post-processing").
BOX_MERGE_IOU = 0.5


def yolo_postprocess(outputs: list[np.ndarray], anchors: np.ndarray, strides: list[float],
                     score_threshold: float, iou_threshold: float = 0.45,
                     max_boxes: int = 200, xy_scale: float = 1.0,
                     merge_iou: float = BOX_MERGE_IOU, large_min_height: float = 0.0,
                     large_threshold: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """All scales of one image: decode, concatenate, NMS, then (`merge_iou` > 0) weighted
    merging of each kept box with its overlapping candidates. `anchors` is (scales, A, 2).
    Candidates at least `large_min_height` input pixels high (when > 0) need only
    `large_threshold` where that is lower than `score_threshold`."""
    large = large_min_height > 0 and large_threshold < score_threshold
    lowest = large_threshold if large else score_threshold
    if lowest >= 1.0:  # no score is above 1 (and its logit would divide by zero)
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    all_boxes, all_scores = [], []
    for raw, scale_anchors, stride in zip(outputs, anchors, strides, strict=True):
        boxes, scores = yolo_decode_kernel(np.ascontiguousarray(raw, np.float32),
                                           np.asarray(scale_anchors, np.float32),
                                           float(stride), float(lowest), float(xy_scale))
        all_boxes.append(boxes)
        all_scores.append(scores)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4), np.float32)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0, np.float32)
    if large:
        tall = boxes[:, 3] - boxes[:, 1] >= large_min_height
        passed = (scores >= score_threshold) | tall
        boxes, scores = boxes[passed], scores[passed]
    keep = nms_kernel(boxes, scores, float(iou_threshold), int(max_boxes))
    if merge_iou > 0 and len(keep):
        return merge_boxes_kernel(boxes, scores, keep, float(merge_iou)), scores[keep]
    return boxes[keep], scores[keep]


def kernels_cached(oriented: bool = False) -> bool:
    """Whether every kernel is in numba's on-disk cache, fresh for this source: `warm_up` then
    loads them in well under a second instead of compiling them (10-15 s on a first run).
    `oriented`: an oriented detector's kernels (`engocr.realtime.oriented`) too, and the box
    ends' (`engocr.realtime.box_ends`, `engocr.realtime.end_head`) that its card may ask
    for."""
    spaces = [globals()]
    if oriented:
        from engocr.realtime import box_ends, end_head  # they import this module
        from engocr.realtime import oriented as oriented_kernels

        spaces += [vars(oriented_kernels), vars(box_ends), vars(end_head)]
    kernels = [v for space in spaces for v in space.values()
               if isinstance(v, numba.core.registry.CPUDispatcher)]
    try:
        return all(k._cache._cache_file._load_index() for k in kernels)
    except Exception:  # numba's cache internals changed: assume cached and say nothing
        return True


def warm_up() -> float:
    """Compile every kernel (or load it from numba's cache); returns the seconds it took."""
    start = time.perf_counter()
    ctc_greedy_decode(np.zeros((1, 4, 96), np.float32))
    raw = np.zeros((2, 2, 1, 5), np.float32)
    raw[..., 4] = 5
    yolo_postprocess([raw], np.ones((1, 1, 2), np.float32), [8.0], 0.5)
    words, lengths = np.array([[97, 98]], np.uint8), np.array([2], np.int32)
    found, _ = trie_within(np.array([97], np.uint8), *build_trie(words, lengths), 2)
    ctc_candidate_scores(np.zeros((4, 3)), np.zeros(0, np.int64), words, lengths, found,
                         np.zeros(0, np.int64), np.ones(256, np.int64), 0)
    return time.perf_counter() - start
