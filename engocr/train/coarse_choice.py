"""Whether the detector runs a coarse pass beside the fine one, at which longest side, and
from what height its boxes count (realtime/multiscale.py), then from what height and lower
score a large box counts (kernels.yolo_postprocess): chosen by ICDAR 2015 H-mean on the
validation images with the exported model as the runtime runs it (score threshold, NMS, merge
of both passes), the fine pass alone included, so a coarse pass ships only where it pays. The
coarse pass is chosen by the mean H of the 1280x720 validation photos and of 640x480 close-up
windows of them (`engocr.train.closeups`): the webcam's frames run it at other sizes."""

from __future__ import annotations

import time

import numpy as np

from engocr.train.metrics import detection_breakdown, detection_sweep, recall_above

# At most 426 (640 / 1.5): a coarse side runs only on frames whose fine pass sees them 1.5x as
# large (TextDetector.uses_coarse), so a larger one would leave a 640x480 webcam frame, the
# close-up case the coarse pass is for, without one (a 512 pass chosen on ic15's 1280x720
# photos cost the close-up benchmark 0.08 F).
COARSE_SIDES = (0, 320, 384)
COARSE_MIN_HEIGHTS = (16.0, 24.0, 32.0)
CLOSEUP_WINDOWS = 200  # close-up windows the coarse pass is also scored on
CLOSEUP_SEED = 7  # not the close-up benchmark's windows (seed 0)
LARGE_MIN_HEIGHTS = (32.0, 48.0, 64.0, 96.0)
LARGE_THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


def pass_scores(detector, images: list, truth: list) -> dict:
    """H-mean, recall of words 48 px and taller and ms a frame of a `TextDetector` as it is
    set, every box it reports counted (its thresholds are its own)."""
    preds, scores = [], []
    t0 = time.perf_counter()
    for image in images:
        _, found, quads = detector(image)
        preds.append([q.tolist() for q in quads])
        scores.append(list(found))
    ms = (time.perf_counter() - t0) * 1000 / max(len(images), 1)
    prh = detection_sweep(preds, scores, truth, [0.0])[0.0]
    breakdown = detection_breakdown(preds, scores, truth, 0.0)
    return {**{k: round(v, 4) for k, v in prh.items()},
            "recall_48px_and_taller": round(recall_above(breakdown, 48), 4),
            "ms_per_image": round(ms, 1)}


def _images_and_truth(scenes) -> tuple[list, list]:
    images = [scene.load() for scene in scenes]
    truth = [[(w.quad, w.text, w.ignore) for w in s.words] for s in scenes]
    for scene in scenes:
        scene.release()
    return images, truth


def closeup_set(scenes, n: int = CLOSEUP_WINDOWS, seed: int = CLOSEUP_SEED
                ) -> tuple[list, list]:
    """Images and truth of `n` close-up windows of `scenes`."""
    from engocr.train.closeups import closeup_windows

    pairs = list(closeup_windows(scenes, n, np.random.default_rng(seed)))
    return [p[0] for p in pairs], [p[1] for p in pairs]


def coarse_grid(detector, scenes, sides=COARSE_SIDES, heights=COARSE_MIN_HEIGHTS,
                closeups: tuple[list, list] | None = None) -> list[dict]:
    """`pass_scores` for each coarse side and minimum height (side 0: the fine pass alone) of
    a `TextDetector`, and with `closeups` (images, truth) their H as `closeup_hmean`. Leaves
    the detector's own settings as they were."""
    images, truth = _images_and_truth(scenes)
    saved = detector.coarse_side, detector.card.coarse_min_height
    rows = []
    try:
        for side in sides:
            for height in (heights if side else (0.0,)):
                detector.coarse_side, detector.card.coarse_min_height = side, height
                row = {"coarse_side": side, "coarse_min_height": height,
                       **pass_scores(detector, images, truth)}
                if closeups:
                    row["closeup_hmean"] = pass_scores(detector, *closeups)["hmean"]
                rows.append(row)
    finally:
        detector.coarse_side, detector.card.coarse_min_height = saved
    return rows


def large_grid(detector, scenes, heights=LARGE_MIN_HEIGHTS, thresholds=LARGE_THRESHOLDS
               ) -> list[dict]:
    """`pass_scores` for each minimum height (model-input pixels) and lower score threshold of
    large boxes (height 0: the card's one threshold), with the detector's coarse pass as it
    is set. Leaves the card as it was."""
    images, truth = _images_and_truth(scenes)
    card = detector.card
    saved = card.large_min_height, card.large_score_threshold
    rows = []
    try:
        for height in (0.0, *heights):
            for threshold in (thresholds if height else (0.0,)):
                card.large_min_height, card.large_score_threshold = height, threshold
                rows.append({"large_min_height": height, "large_score_threshold": threshold,
                             **pass_scores(detector, images, truth)})
    finally:
        card.large_min_height, card.large_score_threshold = saved
    return rows


LARGE_MIN_GAIN = 0.005  # H-mean a second threshold must add: less is the validation's noise


def best_large(rows: list[dict], min_gain: float = LARGE_MIN_GAIN) -> dict:
    """The row of the highest H-mean if it beats one threshold (height 0) by `min_gain`, else
    one threshold."""
    single = next(r for r in rows if not r["large_min_height"])
    best = max(rows, key=lambda r: (r["hmean"], -r["large_min_height"]))
    return best if best["hmean"] >= single["hmean"] + min_gain else single


# A larger coarse pass costs frame rate (320 -> 384 took about 10% of the 640x480 rate): it
# is taken over a cheaper one only for at least this much more mean H-mean, half a point (a
# few words of ic15 validation, about its noise).
COARSE_GAIN = 0.005


def best_coarse(rows: list[dict]) -> dict:
    """The cheapest row within `COARSE_GAIN` of the highest H-mean (the mean of the photos'
    and the close-ups' where both were scored), no coarse pass cheapest; among rows of that
    side, the highest."""
    def mean(row: dict) -> float:
        return round((row["hmean"] + row.get("closeup_hmean", row["hmean"])) / 2, 4)

    top = max(mean(r) for r in rows)
    near = [r for r in rows if mean(r) >= top - COARSE_GAIN]
    side = min(r["coarse_side"] for r in near)
    return max((r for r in near if r["coarse_side"] == side), key=mean)


def choose_passes(model_path, scenes, threads: int = 2) -> tuple[dict, dict]:
    """(card settings, their grids by metrics name) for the exported detector at `model_path`
    with its card: the coarse pass first (free-size models only; with one score threshold, as
    the export has it then, whatever the card's large-box one), then the large-box threshold
    with that coarse pass."""
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.reader import load_model

    engine, card = load_model(model_path, threads)
    card.large_min_height = card.large_score_threshold = 0.0
    detector = TextDetector(engine, card)
    settings = {"coarse_side": 0, "coarse_min_height": 0.0}
    grids = {}
    if detector.free_size:
        rows = coarse_grid(detector, scenes, closeups=closeup_set(scenes))
        best = best_coarse(rows)
        settings = {"coarse_side": best["coarse_side"],
                    "coarse_min_height": best["coarse_min_height"]}
        detector.coarse_side = best["coarse_side"]
        card.coarse_min_height = best["coarse_min_height"]
        grids["coarse_pass_on_validation"] = rows
    rows = large_grid(detector, scenes)
    large = best_large(rows)
    settings |= {"large_min_height": large["large_min_height"],
                 "large_score_threshold": large["large_score_threshold"]}
    grids["large_threshold_on_validation"] = rows
    return settings, grids
