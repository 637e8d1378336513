"""Detector post-processing measured as a design choice: the NMS overlap threshold, plain NMS
against weighted merging (each kept box averaged with the candidates that overlap it), and
how far each box is lengthened along its text.
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


def main(argv: list[str] | None = None) -> int:
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.reader import DEFAULT_DETECTOR, load_model
    from engocr.train.data.importers import ic15_scenes
    from engocr.train.evaluate import ic15_val_scenes, postprocess_grid

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=DEFAULT_DETECTOR)
    p.add_argument("--train", type=int, default=200, help="first N ic15 training images")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/det_postprocess.json"))
    args = p.parse_args(argv)
    detector = TextDetector(*load_model(args.model, 2))
    threshold = detector.score_threshold
    scenes = {"train": ic15_scenes("train", args.data)[:args.train],
              "val": ic15_val_scenes(args.data)}
    rows = postprocess_grid(detector, scenes, threshold)
    for row in rows:
        print(json.dumps(row))
    best = max(rows, key=lambda r: r["train"]["hmean"])
    print(f"best on training images: NMS IoU {best['nms_iou']}, merge IoU {best['merge_iou']}, "
          f"box extension {best['box_extend']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.date.today().isoformat(), "model": args.model.name,
        "threshold": threshold, "train_images": len(scenes["train"]), "rows": rows,
        "card": {"nms_iou": detector.card.iou_threshold,
                 "merge_iou": detector.card.box_merge_iou,
                 "box_extend": detector.card.box_extend},
        "command": "python benchmarks/det_postprocess.py " + " ".join(argv or sys.argv[1:])},
        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
