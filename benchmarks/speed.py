"""Speed benchmark: `engocr bench` on fixed frames at 640x480 and 1280x720 (same frames, same
threads for every run), printed as a table and written as JSON.

    python benchmarks/speed.py [--source demo|VIDEO|FOLDER] [--threads 2] [--frames 150]
                               [--det-model M] [--out F]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from engocr.argtypes import SIZE
from engocr.realtime.bench import BenchSettings, format_table, run_bench


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--source", default="demo")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--sizes", nargs="+", type=SIZE, default=[(640, 480), (1280, 720)])
    p.add_argument("--det-model", type=Path, default=None,
                   help="another detector (a .tflite with its card), e.g. the shipped one with "
                        "a setting of its card changed")
    p.add_argument("--rec-model", type=Path, default=None,
                   help="another recognizer (a .tflite with its card), e.g. a candidate "
                        "exported with `engocr export rec --out`, timed before it ships")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/speed.json"))
    args = p.parse_args(argv)
    results = []
    for size in args.sizes:
        figures = run_bench(BenchSettings(source=args.source, size=size, frames=args.frames,
                                          threads=args.threads, det_model=args.det_model,
                                          rec_model=args.rec_model))
        print(format_table(figures), flush=True)
        results.append(figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                    "command": "python benchmarks/speed.py " +
                                    " ".join(argv or sys.argv[1:]),
                                    "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
