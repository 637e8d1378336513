"""Where the found words cut at an end are cut (issue 25's "cut at an end"), on ic15 validation
with the shipped (or given) models at the detector card's settings.

`benchmarks/accuracy.py` counts a found word as cut when a box end lies more than 0.25 word
heights inside the annotated word. An annotation may run past the word's ink, so a box that
ends at the ink can count as cut with no letter lost (`benchmarks/truth_margins.py`). This
splits the cut words: an end more than 0.25 heights inside the word's ink (the annotated
word's first and last ink columns, as the box-end rule reads ink at the card's `end_ink`), or
only inside the annotation's blank margin; and says how many of each the recognizer reads,
and how many found words it reads with letters lost at an end only.

    python benchmarks/cut_words.py [--det-model M] [--rec-model M] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/

from benchmarks.truth_margins import end_margins  # noqa: E402
from engocr.train.data.importers import ic15_scenes  # noqa: E402
from engocr.train.data.paths import data_root  # noqa: E402


def classify(edges: tuple[float, ...], margins: tuple[float, float], cut_edge: float) -> str:
    """'whole', 'ink' (an end more than `cut_edge` heights inside the word's ink) or 'margin'
    (cut only inside the annotation's blank margin) for one found word."""
    cut = [edges[k] > cut_edge for k in (0, 1)]
    if not any(cut):
        return "whole"
    return "ink" if any(c and edges[k] - margins[k] > cut_edge for k, c in enumerate(cut)) \
        else "margin"


def main(argv: list[str] | None = None) -> int:
    from engocr.realtime.reader import DEFAULT_DETECTOR, Reader
    from engocr.train.crop_padding import lost_an_end
    from engocr.train.evaluate import detections_by_threshold, tflite_detector
    from engocr.train.metrics import CUT_EDGE, ImageMatcher, e2e_text, edge_errors

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--det-model", type=Path, default=None)
    p.add_argument("--rec-model", type=Path, default=None)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/cut_words.json"))
    args = p.parse_args(argv)
    scenes = ic15_scenes("val", args.data)
    if not scenes:
        print(f"cut_words: real data not found at {data_root(args.data)}", file=sys.stderr)
        return 2
    reader = Reader(args.det_model, args.rec_model)
    card = reader.detector.card
    threshold = reader.detector.score_threshold
    found = detections_by_threshold(tflite_detector(args.det_model or DEFAULT_DETECTOR), scenes,
                                    [threshold])[threshold]
    words = []
    for i, (quads, _, truth) in enumerate(zip(*found, strict=True)):
        pairs = ImageMatcher(quads, [g[0] for g in truth], [g[2] for g in truth]).match()[0]
        if not pairs:
            continue
        image = np.ascontiguousarray(scenes[i].load())
        boxes = np.array([np.asarray(quads[p], np.float32).reshape(4, 2) for p, _ in pairs])
        texts, _ = reader.read_boxes(image, np.concatenate([boxes.min(1), boxes.max(1)], 1),
                                     None, boxes)
        for (_, g), text, quad in zip(pairs, texts, boxes, strict=True):
            word = np.asarray(truth[g][0], np.float32).reshape(4, 2)
            margins = end_margins(image, word, card.end_ink, min_height=0.0) or (0.0, 0.0)
            kind = classify(edge_errors(quad, word), margins, CUT_EDGE)
            words.append({"kind": kind, "text": truth[g][1], "read": text,
                          "right": e2e_text(text) == e2e_text(truth[g][1]),
                          "lost_an_end": lost_an_end(text, truth[g][1])})
        scenes[i].release()
    n = max(len(words), 1)
    kinds = {}
    for kind in ("whole", "ink", "margin"):
        group = [w for w in words if w["kind"] == kind]
        kinds[kind] = {"share": len(group) / n, "words": len(group),
                       "read": float(np.mean([w["right"] for w in group])) if group else 0.0,
                       "lost_an_end": sum(w["lost_an_end"] for w in group)}
    report = {"date": datetime.date.today().isoformat(),
              "command": "python benchmarks/cut_words.py " + " ".join(argv or sys.argv[1:]),
              "found": len(words), "cut_edge": CUT_EDGE, "end_ink": card.end_ink,
              "kinds": kinds, "lost_an_end": [(w["text"], w["read"]) for w in words
                                              if w["lost_an_end"]]}
    for kind, row in kinds.items():
        print(f"{kind:6s} {row['share']:.1%} of {len(words)} found words, read "
              f"{row['read']:.0%}, {row['lost_an_end']} read with letters lost at an end")
    print("letters lost at an end: " + ", ".join(f"{t} -> {r}"
                                                 for t, r in report["lost_an_end"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
