"""Detector backbones compared at equal training time: the ic15 validation H-mean curve of each
run (from its `metrics.csv`, against the run's own training clock) and the best H each reached
within the same number of hours.

    python benchmarks/det_backbones.py runs/det/v2a100-pre runs/det/v1a050-pre \
        runs/det/mnv2-512x384 --hours 0.22
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
from pathlib import Path

from engocr.charts import COLOURS, Chart


def curve(run: Path) -> list[dict]:
    """The run's evaluations in order: step, hours, H, samples/s."""
    with open(run / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("ic15_val_hmean")]
    return [{"step": int(r["step"]), "hours": float(r["train_hours"]),
             "hmean": float(r["ic15_val_hmean"]), "samples_per_s": float(r["samples_per_s"]),
             "phase": r["phase"]} for r in rows]


def architecture(run: Path) -> str:
    config = json.loads((run / "config.json").read_text())
    backbone = config.get("backbone", "mobilenet_v2")
    start = "ImageNet" if config.get("pretrained") else "scratch"
    return f"{backbone} a{config['alpha']:g} ({start})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="detector run folders")
    p.add_argument("--hours", type=float, required=True,
                   help="the equal training time at which the runs are compared")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/det_backbones.json"))
    p.add_argument("--plot", type=Path, default=Path("docs/images/det-backbones.png"))
    args = p.parse_args(argv)
    rows, curves = [], {}
    for run in args.runs:
        points = curve(run)
        if not points:
            print(f"det_backbones: {run} has no ic15 evaluations", file=sys.stderr)
            return 2
        within = [q for q in points if q["hours"] <= args.hours + 1e-9]
        best = max(within, key=lambda q: q["hmean"]) if within else None
        curves[run.name] = points
        rows.append({"run": run.name, "backbone": architecture(run),
                     "hmean_at_equal_time": best["hmean"] if best else None,
                     "step_at_equal_time": best["step"] if best else None,
                     "samples_per_s": round(sum(q["samples_per_s"] for q in within or points)
                                            / len(within or points), 1),
                     "best_hmean_overall": max(q["hmean"] for q in points),
                     "hours_overall": points[-1]["hours"]})
    # Wide enough for the whole curve of every run compared within the time, not for a long
    # run that had not been evaluated by then.
    x_max = max([args.hours * 1.5] + [points[-1]["hours"] for points in curves.values()
                                      if points[0]["hours"] <= args.hours])
    chart = Chart("training hours", "ic15 val H-mean", x_max, 0.6)
    for row, (name, points) in enumerate(curves.items()):
        shown = [q for q in points if q["hours"] <= x_max]
        if len(shown) >= 2:
            chart.line([q["hours"] for q in shown], [q["hmean"] for q in shown], name,
                       COLOURS[row % len(COLOURS)], row)
    chart.save(args.plot)
    print(f"| run | backbone | H at {args.hours:g} h | samples/s | best H (hours) |")
    print("|---|---|---|---|---|")
    for r in rows:
        at = "-" if r["hmean_at_equal_time"] is None else f"{r['hmean_at_equal_time']:.3f}"
        print(f"| {r['run']} | {r['backbone']} | {at} | {r['samples_per_s']} | "
              f"{r['best_hmean_overall']:.3f} ({r['hours_overall']:.2f} h) |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                    "command": "python benchmarks/det_backbones.py " +
                                    " ".join(argv or sys.argv[1:]),
                                    "hours": args.hours, "runs": rows}, indent=1))
    print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
