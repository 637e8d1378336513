"""Redraw the README's charts from the figures the benchmarks already wrote (nothing is
measured again): speed against accuracy (benchmarks/results/peers.json), the detector's
precision-recall curve (accuracy.json) and H-mean against training hours (det_backbones.json
and the runs' metrics.csv). Needs matplotlib: pip install -e ".[charts]".

    python scripts/readme_charts.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IMAGES = ROOT / "docs" / "images"


def speed_accuracy() -> Path:
    from engocr.charts import speed_accuracy

    rows = json.loads((RESULTS / "peers.json").read_text())["rows"]
    return speed_accuracy(rows, IMAGES / "speed-accuracy.png")


def detector_pr() -> Path:
    from engocr.charts import pr_curves

    curve = json.loads((RESULTS / "accuracy.json").read_text())["pr_curve"]
    return pr_curves({"shipped detector": {float(t): s for t, s in curve.items()}},
                     IMAGES / "detector-pr.png")


def det_backbones() -> Path:
    """As benchmarks/det_backbones.py draws it, from the runs that benchmark compared."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.det_backbones import curve
    from engocr.charts import Chart

    hours = json.loads((RESULTS / "det_backbones.json").read_text())
    curves = {r["run"]: curve(ROOT / "runs" / "det" / r["run"]) for r in hours["runs"]}
    x_max = max([hours["hours"] * 1.5] + [p[-1]["hours"] for p in curves.values()
                                         if p[0]["hours"] <= hours["hours"]])
    chart = Chart("training hours", "ic15 val H-mean", x_max, 0.6)
    for row, (name, points) in enumerate(curves.items()):
        shown = [q for q in points if q["hours"] <= x_max]
        if len(shown) >= 2:
            chart.line([q["hours"] for q in shown], [q["hmean"] for q in shown], name,
                       legend_row=row)
    return chart.save(IMAGES / "det-backbones.png")


def main() -> int:
    for draw in (speed_accuracy, detector_pr, det_backbones):
        print(f"wrote {draw().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
