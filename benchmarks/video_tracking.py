"""Tracking on versus off, on a video made from real images: each ic15 validation image is
panned, zoomed and shaken into 640x480 frames, its ground truth carried along. Reports
per-frame end-to-end F (ICDAR 2015 protocol), flicker (how often a word's shown text changes
between consecutive frames), recognizer calls per frame and FPS.

    python benchmarks/video_tracking.py [--images 10] [--frames-per-image 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from engocr.realtime.sources import Frame
from engocr.realtime.tracking import iou_matrix
from engocr.train.data.importers import ic15_scenes
from engocr.train.data.paths import data_root
from engocr.train.metrics import detection_scores

SIZE = (640, 480)


def camera_path(scene, n: int, rng: np.random.Generator):
    """Frames of a hand-held camera over one image: slow pan and zoom plus shake."""
    image = scene.load()
    H, W = image.shape[:2]
    z0, z1 = rng.uniform(1.0, 1.6, 2)
    cx0, cx1 = rng.uniform(0.35, 0.65, 2) * W
    cy0, cy1 = rng.uniform(0.4, 0.6, 2) * H
    for i in range(n):
        t = i / max(1, n - 1)
        zoom = z0 + (z1 - z0) * t
        scale = zoom * SIZE[0] / W
        cx = cx0 + (cx1 - cx0) * t + rng.normal(0, 3)
        cy = cy0 + (cy1 - cy0) * t + rng.normal(0, 3)
        matrix = np.array([[scale, 0, SIZE[0] / 2 - scale * cx],
                           [0, scale, SIZE[1] / 2 - scale * cy]], np.float32)
        frame = cv2.warpAffine(image, matrix, SIZE, flags=cv2.INTER_AREA,
                               borderMode=cv2.BORDER_REFLECT)
        truth = []
        for word in scene.words:
            quad = word.quad @ matrix[:, :2].T + matrix[:, 2]
            if (quad.mean(0) >= 0).all() and (quad.mean(0) < SIZE).all():
                truth.append((quad, word.text, word.ignore))
        yield frame, truth


class CountingRecognizer:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, crops, timings=None):
        self.calls += len(crops)
        return self.inner(crops, timings)


def flicker(results) -> float:
    """Changes of shown text per word-frame, matching words across consecutive frames."""
    changes = pairs = 0
    for prev, cur in zip(results, results[1:], strict=False):
        a = np.array([w.box for w in prev.words], np.float32).reshape(-1, 4)
        b = np.array([w.box for w in cur.words], np.float32).reshape(-1, 4)
        ious = iou_matrix(a, b)
        for i in range(len(a)):
            j = int(np.argmax(ious[i])) if len(b) else -1
            if j >= 0 and ious[i, j] > 0.5:
                pairs += 1
                changes += prev.words[i].text != cur.words[j].text
    return changes / pairs if pairs else 0.0


def run(reader, frames, tracked: bool, det_every: int = 1) -> dict:
    from engocr.realtime.tracking import TrackingReader

    counter = CountingRecognizer(reader.recognizer)
    reader.recognizer, original = counter, reader.recognizer
    process = TrackingReader(reader, det_every=det_every) if tracked else \
        (lambda f: reader.read(f.image, f.index, f.time_s))
    results = []
    start = time.perf_counter()
    for i, (image, _) in enumerate(frames):
        results.append(process(Frame(i, i / 30, image)))
    elapsed = time.perf_counter() - start
    reader.recognizer = original
    preds = [[(w.quad, w.text) for w in r.words] for r in results]
    scores = detection_scores(preds, [truth for _, truth in frames])
    return {"tracking": tracked, "det_every": det_every, "fps": len(frames) / elapsed,
            "e2e_f": scores["e2e_hmean"], "det_h": scores["hmean"],
            "flicker": flicker(results), "rec_calls_per_frame": counter.calls / len(frames)}


def main(argv: list[str] | None = None) -> int:
    from engocr.realtime.reader import Reader

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=10)
    p.add_argument("--frames-per-image", type=int, default=30)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--det-model", type=Path, default=None, help="another detector (with its card)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/video_tracking.json"))
    args = p.parse_args(argv)
    scenes = ic15_scenes("val", args.data)[:args.images]
    if not scenes:
        print(f"video_tracking: real data not found at {data_root(args.data)}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    frames = [f for s in scenes for f in camera_path(s, args.frames_per_image, rng)]
    reader = Reader(args.det_model, threads=args.threads)
    rows = [run(reader, frames, False), run(reader, frames, True),
            run(reader, frames, True, det_every=3)]
    print(f"{'tracking':10s} {'FPS':>6s} {'e2e F':>6s} {'det H':>6s} {'flicker':>8s} "
          f"{'rec/frame':>9s}")
    for r in rows:
        name = "off" if not r["tracking"] else f"on/det{r['det_every']}"
        print(f"{name:10s} {r['fps']:6.1f} {r['e2e_f']:6.3f} {r['det_h']:6.3f} "
              f"{r['flicker']:8.3f} {r['rec_calls_per_frame']:9.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                    "frames": len(frames), "rows": rows,
                                    "command": "python benchmarks/video_tracking.py " +
                                    " ".join(argv or sys.argv[1:])}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
