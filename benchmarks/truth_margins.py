"""How far the ground truth's word ends lie past the word's ink (issue 25's "cut at an end").

`benchmarks/accuracy.py` counts a found word as cut when a box end lies more than 0.25 word
heights inside the annotated word. The image rule that moves box ends (`box_ends.py`) stops
where the ink ends, so a box that ends exactly at the ink is "cut" wherever the annotation runs
further. This measures, for every readable ic15 validation word, the blank columns between
each annotated end and the first column with ink (a column's brightness spread at least
`ink` x the word's median, as the rule reads it), in word heights.

    python benchmarks/truth_margins.py [--data DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

from engocr.realtime.box_ends import STRIP_ROWS, ink_columns, ink_profile
from engocr.realtime.oriented import quads_to_obbs
from engocr.train.data.importers import ic15_scenes
from engocr.train.data.paths import data_root
from engocr.train.metrics import CUT_EDGE

INKS = (0.2, 0.4, 0.6)
MIN_HEIGHT = 8.0  # px: lower words have too few columns a letter to measure


def end_margins(image: np.ndarray, quad: np.ndarray, ink: float,
                min_height: float = MIN_HEIGHT) -> tuple[float, float] | None:
    """Blank word heights between the quad's (start, end) and its first and last ink column;
    None for a word lower than `min_height` px, too short to measure or with no ink."""
    cx, cy, w, h, angle = quads_to_obbs(quad[None])[0]
    if h < min_height:
        return None
    profile = ink_profile(image, cx, cy, w, h, angle, 0.0)
    n = len(profile)
    if n < 8:
        return None
    columns = np.flatnonzero(ink_columns(profile, 0, n, ink))
    if not len(columns):
        return None
    return columns[0] / STRIP_ROWS, (n - 1 - columns[-1]) / STRIP_ROWS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/truth_margins.json"))
    args = p.parse_args(argv)
    scenes = ic15_scenes("val", args.data)
    if not scenes:
        print(f"error: no ic15 validation photos in {data_root(args.data)}", file=sys.stderr)
        return 2
    margins: dict[float, list] = {ink: [] for ink in INKS}
    for scene in scenes:
        image = np.ascontiguousarray(scene.load())
        for word in scene.words:
            if word.ignore:
                continue
            for ink in INKS:
                got = end_margins(image, word.quad, ink)
                if got is not None:
                    margins[ink].append(got)
        scene.release()
    report = {"date": datetime.date.today().isoformat(),
              "command": "python benchmarks/truth_margins.py " + " ".join(argv or sys.argv[1:]),
              "words": len(margins[INKS[0]]), "cut_edge": CUT_EDGE, "by_ink": {}}
    for ink, rows in margins.items():
        m = np.asarray(rows)
        over = m > CUT_EDGE
        row = {"median_start": float(np.median(m[:, 0])), "median_end": float(np.median(m[:, 1])),
               "over_cut_edge_start": float(over[:, 0].mean()),
               "over_cut_edge_end": float(over[:, 1].mean()),
               "over_cut_edge_either": float(over.any(1).mean())}
        report["by_ink"][str(ink)] = row
        print(f"ink {ink}: annotated ends past the ink, median start {row['median_start']:.3f} "
              f"end {row['median_end']:.3f} heights; more than {CUT_EDGE} at either end: "
              f"{row['over_cut_edge_either']:.1%} of {len(m)} words")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
