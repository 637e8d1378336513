"""Scores used by training and evaluation alike (no TensorFlow)."""

from __future__ import annotations

from engocr.charset import edit_distance, protocol_text


def recognition_scores(predictions: list[str], truths: list[str]) -> dict:
    """word_acc: lowercase alphanumeric protocol; exact_acc: case and punctuation kept;
    cer: character error rate (exact strings)."""
    n = max(len(truths), 1)
    word = sum(protocol_text(p) == protocol_text(t)
               for p, t in zip(predictions, truths, strict=True))
    exact = sum(p == t for p, t in zip(predictions, truths, strict=True))
    chars = sum(len(t) for t in truths) or 1
    errors = sum(edit_distance(p, t) for p, t in zip(predictions, truths, strict=True))
    return {"word_acc": word / n, "exact_acc": exact / n, "cer": errors / chars}


def polygon_iou(a, b) -> float:
    """IoU of two convex quads (4x2)."""
    import cv2
    import numpy as np

    a = np.asarray(a, np.float32).reshape(4, 2)
    b = np.asarray(b, np.float32).reshape(4, 2)
    inter, _ = cv2.intersectConvexConvex(a, b)
    union = cv2.contourArea(a) + cv2.contourArea(b) - inter
    return float(inter / union) if union > 0 else 0.0


def _inside_fraction(pred, region) -> float:
    import cv2
    import numpy as np

    pred = np.asarray(pred, np.float32).reshape(4, 2)
    inter, _ = cv2.intersectConvexConvex(pred, np.asarray(region, np.float32).reshape(4, 2))
    area = cv2.contourArea(pred)
    return float(inter / area) if area > 0 else 0.0


class ImageMatcher:
    """ICDAR 2015 matching for one image, with the expensive part (polygon overlaps) done once
    so that a whole sweep of score thresholds costs one pass: predictions more than half
    inside an unreadable region are dropped; the rest match readable words one-to-one, best
    IoU first."""

    def __init__(self, pred_quads: list, gt_quads: list, gt_ignore: list[bool],
                 iou_threshold: float = 0.5) -> None:
        self.readable = [i for i, ig in enumerate(gt_ignore) if not ig]
        dontcare = [gt_quads[i] for i, ig in enumerate(gt_ignore) if ig]
        self.counted = [p for p in range(len(pred_quads))
                        if not any(_inside_fraction(pred_quads[p], r) > 0.5 for r in dontcare)]
        pairs = ((polygon_iou(pred_quads[p], gt_quads[g]), p, g)
                 for p in self.counted for g in self.readable)
        self.pairs = sorted((t for t in pairs if t[0] > iou_threshold), reverse=True)

    def match(self, keep=None) -> tuple[list[tuple[int, int]], int, int]:
        """(matched (pred, gt) pairs, counted predictions, readable words), using only the
        predictions in `keep` (all when None)."""
        used_p, used_g, matches = set(), set(), []
        for _, p, g in self.pairs:
            if p in used_p or g in used_g or (keep is not None and p not in keep):
                continue
            used_p.add(p)
            used_g.add(g)
            matches.append((p, g))
        counted = len(self.counted) if keep is None else sum(p in keep for p in self.counted)
        return matches, counted, len(self.readable)


def match_words(pred_quads: list, gt_quads: list, gt_ignore: list[bool],
                iou_threshold: float = 0.5) -> tuple[list[tuple[int, int]], int, int]:
    """ICDAR 2015 matching for one image (see `ImageMatcher`).
    Returns (matched (pred, gt) pairs, number of counted predictions, number of readable gts)."""
    return ImageMatcher(pred_quads, gt_quads, gt_ignore, iou_threshold).match()


def _prf(hits: int, n_pred: int, n_gt: int) -> dict:
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_gt if n_gt else 0.0
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean}


def e2e_text(text: str) -> str:
    """A text as the end-to-end protocol compares it: case-insensitive, outer punctuation
    stripped."""
    import string

    return text.strip(string.punctuation + " ").lower()


def detection_scores(predictions: list[list], ground_truth: list[list]) -> dict:
    """Detection precision, recall and H-mean over images, plus end-to-end ones where the
    predictions carry text. `predictions[i]` is a list of (quad, text-or-None);
    `ground_truth[i]` a list of (quad, text, ignore)."""
    hits = e2e_hits = n_pred = n_gt = 0
    for preds, gts in zip(predictions, ground_truth, strict=True):
        matches, counted, readable = match_words([p[0] for p in preds], [g[0] for g in gts],
                                                 [g[2] for g in gts])
        hits += len(matches)
        e2e_hits += sum(preds[p][1] is not None and e2e_text(preds[p][1]) ==
                        e2e_text(gts[g][1]) for p, g in matches)
        n_pred += counted
        n_gt += readable
    scores = _prf(hits, n_pred, n_gt)
    scores.update({f"e2e_{k}": v for k, v in _prf(e2e_hits, n_pred, n_gt).items()})
    return scores


def detection_sweep(predictions: list[list], scores: list, ground_truth: list[list],
                    thresholds) -> dict[float, dict]:
    """Detection precision, recall and H-mean at every score threshold, from one set of
    predictions found at the lowest threshold: `predictions[i]` is a list of quads,
    `scores[i]` their scores, `ground_truth[i]` a list of (quad, text, ignore)."""
    matchers = [ImageMatcher(preds, [g[0] for g in gts], [g[2] for g in gts])
                for preds, gts in zip(predictions, ground_truth, strict=True)]
    out = {}
    for t in thresholds:
        hits = n_pred = n_gt = 0
        for matcher, image_scores in zip(matchers, scores, strict=True):
            keep = {i for i, s in enumerate(image_scores) if s >= t}
            matches, counted, readable = matcher.match(keep)
            hits, n_pred, n_gt = hits + len(matches), n_pred + counted, n_gt + readable
        out[float(t)] = _prf(hits, n_pred, n_gt)
    return out


HEIGHT_BINS = (0, 12, 20, 32, 48, 96, 10_000)  # word height in frame pixels
TILT_DEGREES = 15  # a word whose top edge slopes more than this counts as tilted


def height_bin(quad, bins=HEIGHT_BINS) -> int:
    """The bin of `bins` that a word's bounding-box height falls in."""
    import numpy as np

    k = int(np.searchsorted(bins, np.ptp(np.asarray(quad, np.float32).reshape(4, 2)[:, 1]),
                            side="right")) - 1
    return min(max(k, 0), len(bins) - 2)


def recall_by_height(predictions: list[list], ground_truth: list[list], bins=HEIGHT_BINS
                     ) -> list[dict]:
    """Per word-height bin: readable words, the share found (IoU > 0.5) and the share read
    right end to end. `predictions[i]`: (quad, text) of what a system reports; `ground_truth`
    as in `detection_scores`."""
    n = len(bins) - 1
    words, found, read = [0] * n, [0] * n, [0] * n
    for preds, gts in zip(predictions, ground_truth, strict=True):
        matcher = ImageMatcher([p[0] for p in preds], [g[0] for g in gts], [g[2] for g in gts])
        matches, _, _ = matcher.match()
        by_gt = {g: p for p, g in matches}
        for g in matcher.readable:
            k = height_bin(gts[g][0], bins)
            words[k] += 1
            if g in by_gt:
                found[k] += 1
                read[k] += e2e_text(preds[by_gt[g]][1]) == e2e_text(gts[g][1])
    return [{"min": bins[k], "max": bins[k + 1], "words": words[k],
             "recall": found[k] / words[k] if words[k] else 0.0,
             "e2e_recall": read[k] / words[k] if words[k] else 0.0} for k in range(n)]


def recall_above(breakdown: dict, height: float) -> float:
    """Recall of the words at least `height` frame pixels tall, from `detection_breakdown`."""
    bins = [b for b in breakdown["recall_by_height"] if b["min"] >= height]
    words = sum(b["words"] for b in bins)
    return sum(b["recall"] * b["words"] for b in bins) / words if words else 0.0


def detection_breakdown(predictions: list[list], scores: list, ground_truth: list[list],
                        threshold: float, bins=HEIGHT_BINS) -> dict:
    """Where a detector fails at one threshold: recall per word height (bounding-box height of
    each readable quad, frame pixels), with each height's share of tilted words (top edge over
    TILT_DEGREES) and of words an axis-aligned box can match at all (its own bounding box at
    IoU > 0.5); and what the unmatched boxes are (`partial`: overlaps a readable word by IoU
    0.1-0.5, a fragment or a merge; `background`: overlaps none); and how the found words'
    boxes sit on them (`edge_errors`, `angle_error`). Arguments as in `detection_sweep`."""
    import numpy as np

    from engocr.geometry import box_to_quad

    found, total = np.zeros(len(bins) - 1, int), np.zeros(len(bins) - 1, int)
    tilted, boxable = np.zeros(len(bins) - 1, int), np.zeros(len(bins) - 1, int)
    hits = partial = background = 0
    edges, aspects, angles = [], [], []
    for preds, image_scores, gts in zip(predictions, scores, ground_truth, strict=True):
        matcher = ImageMatcher(preds, [g[0] for g in gts], [g[2] for g in gts])
        keep = {i for i, s in enumerate(image_scores) if s >= threshold}
        matches, _, _ = matcher.match(keep)
        matched = {g for _, g in matches}
        edges += [edge_errors(preds[p], gts[g][0]) for p, g in matches]
        aspects += [word_aspect(gts[g][0]) for _, g in matches]
        angles += [angle_error(preds[p], gts[g][0]) for p, g in matches]
        for g in matcher.readable:
            quad = np.asarray(gts[g][0], np.float32).reshape(4, 2)
            k = height_bin(quad, bins)
            total[k] += 1
            found[k] += g in matched
            dx, dy = quad[1] - quad[0]
            tilted[k] += abs(np.degrees(np.arctan2(dy, dx))) > TILT_DEGREES
            bounds = box_to_quad([*quad.min(0), *quad.max(0)])
            boxable[k] += polygon_iou(bounds, gts[g][0]) > 0.5
        used = {p for p, _ in matches}
        hits += len(used)
        for p in sorted(set(matcher.counted) & keep - used):
            best = max((polygon_iou(preds[p], gts[g][0]) for g in matcher.readable), default=0.0)
            partial += best > 0.1
            background += best <= 0.1
    n = max(hits + partial + background, 1)
    return {
        "recall_by_height": [{"min": bins[k], "max": bins[k + 1], "words": int(total[k]),
                              "recall": float(found[k] / total[k]) if total[k] else 0.0,
                              "tilted": float(tilted[k] / total[k]) if total[k] else 0.0,
                              "boxable": float(boxable[k] / total[k]) if total[k] else 0.0}
                             for k in range(len(total))],
        "boxes": {"hit": hits / n, "partial": partial / n, "background": background / n},
        "edges": edge_summary(edges, aspects),
        "angles": angle_summary(angles),
    }


# A box edge this far inside its word (in word heights, about half a letter) cuts a letter off.
CUT_EDGE = 0.25


def edge_errors(pred, gt) -> tuple[float, float, float, float]:
    """How far each edge of a predicted box lies inside the word (left, right, top, bottom),
    in word heights: positive cuts into the word, negative leaves a margin. Measured in the
    word's own frame (its minimum-area rectangle: along and across its text), so that a tilted
    word's ends are its first and last letters, not the corners of its bounding box."""
    import numpy as np

    from engocr.realtime.oriented import quads_to_obbs

    p = np.asarray(pred, np.float32).reshape(-1, 2)
    cx, cy, w, h, angle = quads_to_obbs(np.asarray(gt, np.float32).reshape(1, 4, 2))[0]
    d = p - [cx, cy]
    c, s = np.cos(angle), np.sin(angle)
    along, across = d[:, 0] * c + d[:, 1] * s, d[:, 1] * c - d[:, 0] * s
    h = max(float(h), 1.0)
    return (float(along.min() + w / 2) / h, float(w / 2 - along.max()) / h,
            float(across.min() + h / 2) / h, float(h / 2 - across.max()) / h)


def angle_error(pred, gt) -> tuple[float, float]:
    """(the word's tilt, the predicted box's tilt error), degrees: each quad's minimum-area
    rectangle's angle, the error wrapped to [0, 90] (a box's angle is known up to 180)."""
    import numpy as np

    from engocr.realtime.oriented import quads_to_obbs

    angles = np.degrees(quads_to_obbs(np.stack([np.asarray(q, np.float32).reshape(4, 2)
                                                for q in (pred, gt)]))[:, 4])
    return float(angles[1]), float(abs((angles[0] - angles[1] + 90) % 180 - 90))


def angle_summary(angles: list[tuple[float, float]]) -> dict:
    """Mean tilt error of found words, all and those tilted more than `TILT_DEGREES`."""
    import numpy as np

    if not angles:
        return {"words": 0}
    a = np.asarray(angles, np.float32)
    tilted = np.abs(a[:, 0]) > TILT_DEGREES
    return {"words": len(a), "mean_error": float(a[:, 1].mean()),
            "tilted_words": int(tilted.sum()),
            "tilted_mean_error": float(a[tilted, 1].mean()) if tilted.any() else 0.0}


# Word length over height: a long word's box ends are predicted from cells far from them.
ASPECT_BINS = (0.0, 2.0, 3.0, 4.0, 6.0, float("inf"))


def band_label(band: dict) -> str:
    """'2-3', or '6 and more' for the open last band (`max` None), of a `cut_by_aspect` band."""
    if band["max"] is None:
        return f"{band['min']:g} and more"
    return f"{band['min']:g}-{band['max']:g}"


def word_aspect(quad) -> float:
    """A word's length over its height, in its own frame (its minimum-area rectangle)."""
    import numpy as np

    from engocr.realtime.oriented import quads_to_obbs

    _, _, w, h, _ = quads_to_obbs(np.asarray(quad, np.float32).reshape(1, 4, 2))[0]
    return float(w / max(h, 1.0))


def edge_summary(edges: list[tuple[float, float, float, float]],
                 aspects: list[float] | None = None) -> dict:
    """Median edge error per side, and the share of found words whose left or right edge
    (either) cuts more than `CUT_EDGE` word heights into the word; with the words' `aspects`
    (`word_aspect`), that share per band of ASPECT_BINS too."""
    import numpy as np

    if not edges:
        return {"words": 0}
    e = np.asarray(edges, np.float32)
    out = {"words": len(e)}
    for k, side in enumerate(("left", "right", "top", "bottom")):
        out[f"median_{side}"] = float(np.median(e[:, k]))
    out["cut_left"] = float((e[:, 0] > CUT_EDGE).mean())
    out["cut_right"] = float((e[:, 1] > CUT_EDGE).mean())
    cut = (e[:, 0] > CUT_EDGE) | (e[:, 1] > CUT_EDGE)
    out["cut_either"] = float(cut.mean())
    if aspects is not None:
        a = np.asarray(aspects, np.float32)
        out["cut_by_aspect"] = [
            {"min": lo, "max": hi if hi < float("inf") else None, "words": int(k.sum()),
             "cut_either": float(cut[k].mean()) if k.any() else 0.0}
            for lo, hi in zip(ASPECT_BINS, ASPECT_BINS[1:], strict=False)
            for k in [(a >= lo) & (a < hi)]]
    return out
