"""Detector post-processing measured as a design choice: the NMS overlap threshold, and plain
NMS against weighted merging (each kept box averaged with the candidates that overlap it).
Scored on ic15 training images (where the shipped settings are chosen) and on validation,
at the detector card's score threshold, through the runtime's own kernels. The model runs
once per image; only the post-processing varies.

    python benchmarks/det_postprocess.py [--model engocr/assets/detector.tflite] [--train 200]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

NMS_IOUS = (0.3, 0.45, 0.6)
MERGE_IOUS = (0.0, 0.5, 0.65)


def main(argv: list[str] | None = None) -> int:
    from engocr.export.pipeline import ic15_split_train
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.reader import DEFAULT_DETECTOR, load_model
    from engocr.train.evaluate import curve_from, decode_cached, ic15_val_scenes, raw_outputs

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=DEFAULT_DETECTOR)
    p.add_argument("--train", type=int, default=200, help="first N ic15 training images")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/det_postprocess.json"))
    args = p.parse_args(argv)
    engine, card = load_model(args.model, 2)
    detector = TextDetector(engine, card)
    threshold = detector.score_threshold
    scenes = {"train": ic15_split_train(args.data)[:args.train],
              "val": ic15_val_scenes(args.data)}
    cached = {name: raw_outputs(detector, s) for name, s in scenes.items()}
    rows = []
    for nms_iou in NMS_IOUS:
        for merge_iou in MERGE_IOUS:
            card.iou_threshold, card.box_merge_iou = nms_iou, merge_iou
            row = {"nms_iou": nms_iou, "merge_iou": merge_iou}
            for name in scenes:
                found = decode_cached(detector, cached[name], scenes[name], threshold)
                row[name] = {k: round(v, 4) for k, v in curve_from({threshold: found})[
                    threshold].items()}
            rows.append(row)
            print(json.dumps(row), flush=True)
    best = max(rows, key=lambda r: r["train"]["hmean"])
    print(f"best on training images: NMS IoU {best['nms_iou']}, merge IoU {best['merge_iou']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.date.today().isoformat(), "model": args.model.name,
        "threshold": threshold, "train_images": len(scenes["train"]), "rows": rows,
        "command": "python benchmarks/det_postprocess.py " + " ".join(argv or sys.argv[1:])},
        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
