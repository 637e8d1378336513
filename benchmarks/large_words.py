"""Why large words are missed (issue 25): for each readable ic15 validation word of a height
band (its own height, across its text), the best IoU of any box the shipped detector gives,
at the card's threshold and at a low one. A missed word with no box at all is a scoring
failure (the word was not told from background), one with a box at IoU 0.1-0.5 a box
failure (a fragment: shorter along the text; a merge: longer).

    python benchmarks/large_words.py [--det-model M] [--low 0.05]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

BANDS = ((48.0, 96.0), (96.0, 1e9))


def best_matches(detector, scenes, min_height: float) -> list[dict]:
    """Per readable word at least `min_height` high: its height and, of the boxes the
    detector gives, the best IoU and that box's length and height over the word's."""
    from engocr.realtime.oriented import obb_iou_matrix, quads_to_obbs

    rows = []
    for scene in scenes:
        words = [w for w in scene.words if not w.ignore]
        if not words:
            continue
        _, _, quads = detector(scene.load())
        scene.release()
        truth = quads_to_obbs(np.stack([w.quad for w in words]))
        found = quads_to_obbs(quads) if len(quads) else np.zeros((0, 5), np.float32)
        iou = obb_iou_matrix(found, truth) if len(found) else np.zeros((0, len(truth)))
        for j in np.flatnonzero(truth[:, 3] >= min_height):
            i = int(np.argmax(iou[:, j])) if len(found) else -1
            rows.append({"height": float(truth[j, 3]),
                         "iou": float(iou[i, j]) if i >= 0 else 0.0,
                         "length_ratio": float(found[i, 2] / truth[j, 2]) if i >= 0 else 0.0,
                         "height_ratio": float(found[i, 3] / truth[j, 3]) if i >= 0 else 0.0})
    return rows


def summary(rows: list[dict], low: float, high: float) -> dict:
    """Found share and, of the missed words, what the detector gave them."""
    band = [r for r in rows if low <= r["height"] < high]
    missed = [r for r in band if r["iou"] <= 0.5]
    boxed = [r for r in missed if r["iou"] >= 0.1]

    def share(items, of):
        return round(len(items) / len(of), 3) if of else 0.0

    return {"min": low, "max": high if high < 1e9 else None, "words": len(band),
            "found": share([r for r in band if r["iou"] > 0.5], band),
            "missed_no_box": share([r for r in missed if r["iou"] < 0.1], missed),
            "missed_with_box": share(boxed, missed),
            "boxed_fragments": share([r for r in boxed if r["length_ratio"] < 0.7], boxed),
            "boxed_merges": share([r for r in boxed if r["length_ratio"] > 1.4], boxed),
            "boxed_height_ratio_median": round(float(np.median(
                [r["height_ratio"] for r in boxed])), 3) if boxed else 0.0}


def main(argv: list[str] | None = None) -> int:
    from engocr.realtime.card import ModelCard, card_path
    from engocr.realtime.reader import DEFAULT_DETECTOR
    from engocr.train.evaluate import ic15_val_scenes, tflite_detector

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--det-model", type=Path, default=DEFAULT_DETECTOR)
    p.add_argument("--low", type=float, default=0.05, help="the low score threshold")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/large_words.json"))
    args = p.parse_args(argv)
    scenes = ic15_val_scenes(args.data)
    card = ModelCard.load(card_path(args.det_model))
    results = {}
    for threshold in (card.score_threshold, args.low):
        detector = tflite_detector(args.det_model, args.threads, threshold=threshold)
        rows = best_matches(detector, scenes, BANDS[0][0])
        results[str(threshold)] = [summary(rows, lo, hi) for lo, hi in BANDS]
        for band in results[str(threshold)]:
            print(f"threshold {threshold}: {json.dumps(band)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.date.today().isoformat(), "model": args.det_model.name,
        "card_threshold": card.score_threshold, "low_threshold": args.low,
        "by_threshold": results,
        "command": "python benchmarks/large_words.py " + " ".join(argv or sys.argv[1:])},
        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
