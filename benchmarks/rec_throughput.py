"""Sustained recognizer training throughput: a real `engocr train rec` run (rendering workers,
real crops, evaluations included) for a few minutes in a scratch folder, fed straight from the
renderer and from the reusable sample pool; samples/s over the whole run, evaluations and
start-up included, and the model's own step rate from `metrics.csv`.

    python benchmarks/rec_throughput.py [--minutes 4] [--pool 8192] [--reuse 4]

Run it on a quiet machine: anything else on the cores is measured too.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(folder: Path, minutes: float, pool: int, reuse: int, workers: int,
            eval_every: int) -> dict:
    run = folder / f"pool{pool}"
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "engocr", "train", "rec", "--run", str(run),
                    "--minutes", str(minutes), "--pool", str(pool), "--reuse", str(reuse),
                    "--workers", str(workers), "--eval-every", str(eval_every)],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t0
    state = json.loads((run / "state.json").read_text())
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    batch = 32
    return {"pool": pool, "reuse": reuse, "workers": workers, "steps": state["step"],
            "wall_s": round(wall, 1),
            "samples_per_s_wall": round(state["step"] * batch / wall, 1),
            "samples_per_s_steps": [float(r["samples_per_s"]) for r in rows]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=4.0)
    p.add_argument("--pool", type=int, default=8192)
    p.add_argument("--reuse", type=int, default=4)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/rec_throughput.json"))
    args = p.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for pool in (0, args.pool):
            result = one_run(Path(folder), args.minutes, pool, args.reuse, args.workers,
                             args.eval_every)
            print(json.dumps(result), flush=True)
            results.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                    "command": "python benchmarks/rec_throughput.py " +
                                    " ".join(argv or sys.argv[1:]), "results": results},
                                   indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
