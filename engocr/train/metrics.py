"""Scores used by training and evaluation alike (no TensorFlow)."""

from __future__ import annotations

from engocr.charset import edit_distance, protocol_text


def recognition_scores(predictions: list[str], truths: list[str]) -> dict:
    """word_acc: lowercase alphanumeric protocol; exact_acc: case and punctuation kept;
    cer: character error rate (exact strings)."""
    n = max(len(truths), 1)
    word = sum(protocol_text(p) == protocol_text(t) for p, t in zip(predictions, truths))
    exact = sum(p == t for p, t in zip(predictions, truths))
    chars = sum(len(t) for t in truths) or 1
    errors = sum(edit_distance(p, t) for p, t in zip(predictions, truths))
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


def match_words(pred_quads: list, gt_quads: list, gt_ignore: list[bool],
                iou_threshold: float = 0.5) -> tuple[list[tuple[int, int]], int, int]:
    """ICDAR 2015 matching for one image: predictions more than half inside an unreadable
    region are dropped; the rest match readable words one-to-one, best IoU first.
    Returns (matched (pred, gt) pairs, number of counted predictions, number of readable gts)."""
    readable = [i for i, ig in enumerate(gt_ignore) if not ig]
    dontcare = [gt_quads[i] for i, ig in enumerate(gt_ignore) if ig]
    counted = [p for p in range(len(pred_quads))
               if not any(_inside_fraction(pred_quads[p], r) > 0.5 for r in dontcare)]
    pairs = sorted(((polygon_iou(pred_quads[p], gt_quads[g]), p, g)
                    for p in counted for g in readable), reverse=True)
    used_p, used_g, matches = set(), set(), []
    for iou, p, g in pairs:
        if iou <= iou_threshold:
            break
        if p in used_p or g in used_g:
            continue
        used_p.add(p)
        used_g.add(g)
        matches.append((p, g))
    return matches, len(counted), len(readable)


def _prf(hits: int, n_pred: int, n_gt: int) -> dict:
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_gt if n_gt else 0.0
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean}


def _e2e_text(text: str) -> str:
    import string

    return text.strip(string.punctuation + " ").lower()


def detection_scores(predictions: list[list], ground_truth: list[list]) -> dict:
    """Detection precision, recall and H-mean over images, plus end-to-end ones where the
    predictions carry text. `predictions[i]` is a list of (quad, text-or-None);
    `ground_truth[i]` a list of (quad, text, ignore)."""
    hits = e2e_hits = n_pred = n_gt = 0
    for preds, gts in zip(predictions, ground_truth):
        matches, counted, readable = match_words([p[0] for p in preds], [g[0] for g in gts],
                                                 [g[2] for g in gts])
        hits += len(matches)
        e2e_hits += sum(preds[p][1] is not None and _e2e_text(preds[p][1]) ==
                        _e2e_text(gts[g][1]) for p, g in matches)
        n_pred += counted
        n_gt += readable
    scores = _prf(hits, n_pred, n_gt)
    scores.update({f"e2e_{k}": v for k, v in _prf(e2e_hits, n_pred, n_gt).items()})
    return scores
