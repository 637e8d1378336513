"""Text close up, as a webcam near a sign sees it: 640x480 windows of ic15 validation photos
zoomed so that one readable word fills 10-40% of the frame height (the other words come
along, those the window cuts become don't-care), scored with the Reader's default settings
(ICDAR 2015 protocol; detection counts every box the Reader read text from, as
`benchmarks/accuracy.py` does, end to end what it reports); and a synthetic held-up sign (a
few words on a card that moves, tilts and comes closer over a webcam-like background), scored
by the share of frames in which each word is read exactly.

ICDAR 2003 photos are not used: the detector trains on them (`ic03_train`).

    python benchmarks/closeups.py [--windows 200] [--sign-frames 120]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from engocr.train.closeups import SIZE, closeup_windows
from engocr.train.data.importers import ic15_scenes
from engocr.train.data.paths import data_root
from engocr.train.metrics import e2e_text
from engocr.train.min_conf import frame_readings, reported_scores

SIGN_WORDS = ("EXIT", "OPEN", "Coffee")


def sign_frames(n: int, rng: np.random.Generator):
    """A card with three words held up to a webcam: it drifts, tilts and comes from about a
    tenth to a third of the frame height (the card from 0.3 to 0.92 of it), over a
    cluttered background."""
    W, H = SIZE
    card_w, card_h = 600, 420
    card = np.full((card_h, card_w, 3), 245, np.uint8)
    cv2.rectangle(card, (8, 8), (card_w - 9, card_h - 9), (40, 40, 160), 6)
    for i, word in enumerate(SIGN_WORDS):  # each word about 0.6 of the card wide
        (tw, _), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_DUPLEX, 1.0, 2)
        scale = 0.6 * card_w / tw
        (tw, th), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_DUPLEX, scale, int(2.2 * scale))
        cv2.putText(card, word, ((card_w - tw) // 2, 40 + (i + 1) * (card_h - 40) // 3 - 20),
                    cv2.FONT_HERSHEY_DUPLEX, scale, (30, 30, 30), int(2.2 * scale), cv2.LINE_AA)
    background = cv2.GaussianBlur(rng.integers(60, 200, (H // 8, W // 8, 3), np.uint8),
                                  (0, 0), 2)
    background = cv2.resize(background, SIZE, interpolation=cv2.INTER_CUBIC)
    corners = np.float32([[0, 0], [card_w, 0], [card_w, card_h], [0, card_h]])
    for i in range(n):
        t = i / max(1, n - 1)
        height = H * (0.3 + 0.62 * t)  # the card's height in the frame
        s = height / card_h
        angle = np.radians(8 * np.sin(2 * np.pi * t * 1.5))
        cx = W / 2 + 60 * np.sin(2 * np.pi * t) + rng.normal(0, 2)
        cy = H / 2 + 20 * np.cos(2 * np.pi * t) + rng.normal(0, 2)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        dst = (corners - [card_w / 2, card_h / 2]) * s @ rot.T + [cx, cy]
        dst[1:3, 1] += 6 * np.sin(2 * np.pi * t)  # a slight perspective swing
        matrix = cv2.getPerspectiveTransform(corners, dst.astype(np.float32))
        frame = background.copy()
        warped = cv2.warpPerspective(card, matrix, SIZE)
        mask = cv2.warpPerspective(np.full((card_h, card_w), 255, np.uint8), matrix, SIZE)
        frame[mask > 0] = warped[mask > 0]
        frame = cv2.GaussianBlur(frame, (0, 0), 0.8)
        yield frame


def main(argv: list[str] | None = None) -> int:
    from engocr.realtime.reader import Reader

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--windows", type=int, default=200)
    p.add_argument("--sign-frames", type=int, default=120)
    p.add_argument("--det-model", type=Path, default=None)
    p.add_argument("--rec-model", type=Path, default=None)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/closeups.json"))
    args = p.parse_args(argv)
    reader = Reader(args.det_model, args.rec_model, threads=args.threads)
    report = {"date": datetime.date.today().isoformat(),
              "command": "python benchmarks/closeups.py " + " ".join(argv or sys.argv[1:])}
    scenes = ic15_scenes("val", args.data)
    if scenes:
        found, truth = frame_readings(
            reader, closeup_windows(scenes, args.windows, np.random.default_rng(0)))
        scores, by_height = reported_scores(found, truth, reader.min_conf)
        report["closeups"] = {"windows": len(found),
                              **{k: round(v, 4) for k, v in scores.items()},
                              "by_height": by_height}
        print(f"close-ups ({len(found)} windows of ic15 val): detection H "
              f"{scores['hmean']:.3f}, end-to-end P {scores['e2e_precision']:.3f} R "
              f"{scores['e2e_recall']:.3f} F {scores['e2e_hmean']:.3f}")
    else:
        print(f"close-ups skipped: real data not found at {data_root(args.data)}")
    read = {w: 0 for w in SIGN_WORDS}
    n = 0
    for frame in sign_frames(args.sign_frames, np.random.default_rng(1)):
        texts = {e2e_text(w.text) for w in reader.read(frame).words}
        for word in SIGN_WORDS:
            read[word] += e2e_text(word) in texts
        n += 1
    report["sign"] = {"frames": n, "read_share": {w: round(c / n, 4) for w, c in read.items()}}
    print("held-up sign, share of frames each word is read exactly: " +
          ", ".join(f"{w} {c / n:.2f}" for w, c in read.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
