"""Recognizer round 3 (issue 29), side by side at equal training time: each candidate is a run
started from the shipped recognizer's weights (`--init-from`; the new stages start at the
identity), trained on the round-3 synthetic mix (or another, `--synth-style`) for the same
training hours, then scored on IIIT5K, SVT and ic15 validation crops (the Keras model alone,
greedy: the word list is the export's, and it is the same for every candidate). Candidates
are compared on ic15 validation; the IIIT5K and SVT test sets are reported beside it, not
chosen on.

Resumable across sessions: a run that has its hours already is only scored; one short of them
trains for the rest (`engocr train rec` resumes a run folder), so the command is simply run
again until every candidate has its hours.

    python benchmarks/rec_round3_train.py --hours 1.0
    python benchmarks/rec_round3_train.py --hours 1.0 --candidates data-only tps+mixer2
    python benchmarks/rec_round3_train.py --hours 0.3 --recipe runs/recipes/rec-round3-short.json \
        --runs runs/rec/short --out benchmarks/results/rec_round3_short.json
    python benchmarks/rec_round3_train.py --hours 0.6 --synth-style default \
        --recipe runs/recipes/rec-round3-plain.json --runs runs/rec/plain \
        --out benchmarks/results/rec_round3_plain.json --candidates mixer2-bn-d128
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import subprocess
import sys
from pathlib import Path

SHIPPED_RUN = Path("runs/rec/conv2x-32x128")
RECIPE = Path("runs/recipes/rec-round3.json")
# Flags of `engocr train rec` per candidate, beyond the shipped architecture's.
CANDIDATES = {"data-only": [], "tps": ["--rectify", "tps"], "mixer2": ["--mixer-blocks", "2"],
              "tps+mixer2": ["--rectify", "tps", "--mixer-blocks", "2"],
              # within the latency budget as exported (benchmarks/rec_round3.py)
              "mixer1-bn": ["--mixer-blocks", "1", "--mixer-norm", "batch"],
              "mixer2-bn-d128": ["--mixer-blocks", "2", "--mixer-norm", "batch",
                                 "--mixer-dim", "128"]}
SETS = ("iiit5k_test", "svt_test", "ic15_val")


def trained_hours(run: Path) -> float:
    """Training hours a run has logged (its metrics' last row), 0 for a new run."""
    metrics = run / "metrics.csv"
    if not metrics.exists():
        return 0.0
    rows = list(csv.DictReader(metrics.open()))
    return float(rows[-1]["train_hours"]) if rows else 0.0


def shipped_flags(run: Path) -> list[str]:
    """`engocr train rec` flags that rebuild the shipped run's architecture."""
    config = json.loads((run / "config.json").read_text())
    return ["--width", str(config["width"]), "--head", config["head"], "--body", config["body"],
            "--widths", *map(str, config["widths"]), "--hidden", str(config["hidden"])]


def train(name: str, hours: float, extra: list[str], args) -> Path:
    """Train candidate `name` up to `hours` training hours (resuming its run folder)."""
    run = args.runs / f"r3-{name}"
    left = hours - trained_hours(run)
    if left > 0.01:
        command = ["engocr", "train", "rec", "--run", str(run), "--init-from", str(SHIPPED_RUN),
                   *shipped_flags(SHIPPED_RUN), *extra, "--synth-style", args.synth_style,
                   "--recipe", str(args.recipe), "--eval-every", str(args.eval_every),
                   "--minutes", f"{left * 60:.1f}"]
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="training hours per candidate")
    parser.add_argument("--candidates", nargs="+", choices=sorted(CANDIDATES),
                        default=list(CANDIDATES))
    parser.add_argument("--runs", type=Path, default=Path("runs/rec"))
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--synth-style", default="round3",
                        help="the synthetic crop mix (engocr.train.data.synth.CROP_STYLES): "
                             "round3, or default (the shipped model's own)")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/rec_round3_train.json"))
    args = parser.parse_args(argv)
    from engocr.train.evaluate import evaluate_recognizer

    # Candidates not run this time keep their earlier rows.
    kept = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    rows = [row for row in kept if row["candidate"] not in args.candidates]
    for name in args.candidates:
        run = train(name, args.hours, CANDIDATES[name], args)
        scores = evaluate_recognizer(list(SETS), run=run)
        rows.append({"candidate": name, "run": str(run), "train_hours": trained_hours(run),
                     **{f"{s}_word_acc": round(scores[s]["word_acc"], 4)
                        for s in SETS if s in scores}})
        print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows.sort(key=lambda row: list(CANDIDATES).index(row["candidate"]))
    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                    "hours": args.hours, "recipe": str(args.recipe),
                                    "rows": rows,
                                    "command": "python benchmarks/rec_round3_train.py "
                                               + " ".join(sys.argv[1:])}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
