"""Whether the detector runs a coarse pass beside the fine one, at which longest side, and
from what height its boxes count (realtime/multiscale.py): chosen by ICDAR 2015 H-mean on the
validation images with the exported model as the runtime runs it (score threshold, NMS, merge
of both passes), the fine pass alone included, so a coarse pass ships only where it pays."""

from __future__ import annotations

import time

from engocr.geometry import box_to_quad
from engocr.train.metrics import detection_breakdown, detection_sweep, recall_above

COARSE_SIDES = (0, 320, 384, 448)
COARSE_MIN_HEIGHTS = (16.0, 24.0, 32.0)


def coarse_grid(detector, scenes, sides=COARSE_SIDES, heights=COARSE_MIN_HEIGHTS) -> list[dict]:
    """H-mean, recall of words 48 px and taller, and ms a frame for each coarse side and
    minimum height (side 0: the fine pass alone) of a `TextDetector`, at its card threshold.
    Leaves the detector's own settings as they were."""
    images = [scene.load() for scene in scenes]
    truth = [[(w.quad, w.text, w.ignore) for w in s.words] for s in scenes]
    saved = detector.coarse_side, detector.card.coarse_min_height
    threshold = detector.score_threshold
    rows = []
    try:
        for side in sides:
            for height in (heights if side else (0.0,)):
                detector.coarse_side, detector.card.coarse_min_height = side, height
                preds, scores = [], []
                t0 = time.perf_counter()
                for image in images:
                    boxes, found = detector(image)
                    preds.append([box_to_quad(b) for b in boxes])
                    scores.append(list(found))
                ms = (time.perf_counter() - t0) * 1000 / max(len(images), 1)
                prh = detection_sweep(preds, scores, truth, [threshold])[threshold]
                breakdown = detection_breakdown(preds, scores, truth, threshold)
                rows.append({"coarse_side": side, "coarse_min_height": height,
                             **{k: round(v, 4) for k, v in prh.items()},
                             "recall_48px_and_taller": round(recall_above(breakdown, 48), 4),
                             "ms_per_image": round(ms, 1)})
    finally:
        detector.coarse_side, detector.card.coarse_min_height = saved
        for scene in scenes:
            scene.release()
    return rows


def best_coarse(rows: list[dict]) -> dict:
    """The row of the highest H-mean; on a tie the cheaper one (no coarse pass first)."""
    return max(rows, key=lambda r: (r["hmean"], -r["coarse_side"]))


def choose_coarse(model_path, scenes, threads: int = 2) -> tuple[dict, list[dict]]:
    """(card settings, grid) for the exported detector at `model_path` with its card."""
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.reader import load_model

    engine, card = load_model(model_path, threads)
    detector = TextDetector(engine, card)
    if not detector.free_size:
        return {"coarse_side": 0, "coarse_min_height": 0.0}, []
    rows = coarse_grid(detector, scenes)
    best = best_coarse(rows)
    return {"coarse_side": best["coarse_side"],
            "coarse_min_height": best["coarse_min_height"]}, rows
