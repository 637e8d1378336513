"""Training step speed on each Keras backend, through the trainers' own step
(`engocr.train.compiled.make_train_step`): the shipped recognizer body (batch 32 crops) and
the shipped detector (MobileNetV1 0.5, 384x288 windows, batch 8). Each backend runs in its
own process (a backend is fixed when Keras is imported); TensorFlow is the CPU default, JAX
is what the GPU machines have.

    python benchmarks/train_backends.py [--steps 20] [--backends tensorflow jax]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/, benchmarks/

from benchmarks.training_steps import detector_step, recognizer_step, samples_per_s  # noqa: E402


def shipped_recognizer_step():
    from engocr.realtime.bench import SHIPPED_REC_RUN
    from engocr.train.losses import ctc_loss
    from engocr.train.runs import load_recognizer_model

    return recognizer_step(ctc_loss, load_recognizer_model(ROOT / SHIPPED_REC_RUN)[0])


def shipped_detector_step():
    from engocr.train.losses import yolo_loss

    return detector_step(yolo_loss)


def measure(steps: int) -> list[dict]:
    """In this process's backend: samples/s of each model's step after warm-up."""
    import keras

    from engocr.train.keras_engine import keras_device

    rows = []
    for name, build in (("recognizer", shipped_recognizer_step),
                        ("detector", shipped_detector_step)):
        step, batch = build()
        t0 = time.perf_counter()
        float(step())  # compile
        compile_s = time.perf_counter() - t0
        for _ in range(2):
            float(step())
        rate = samples_per_s(step, batch, steps)
        rows.append({"model": name, "backend": keras.backend.backend(),
                     "device": keras_device(), "samples_per_s": round(rate, 1),
                     "first_step_s": round(compile_s, 1)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=20, help="timed steps per model")
    p.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/train_backends.json"))
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.steps)))
        return 0
    rows = []
    for backend in args.backends:
        result = subprocess.run(
            [sys.executable, __file__, "--worker", "--steps", str(args.steps)], cwd=ROOT,
            capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": backend})
        if result.returncode != 0:
            print(f"{backend}: {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        for row in json.loads(result.stdout.strip().splitlines()[-1]):
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "rows": rows,
                                    "command": "python benchmarks/train_backends.py " +
                                    " ".join(argv or sys.argv[1:])}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
