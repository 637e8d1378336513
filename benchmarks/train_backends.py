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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def recognizer_step():
    import keras

    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.train.compiled import make_train_step
    from engocr.train.loop import read_config
    from engocr.train.losses import ctc_loss
    from engocr.train.rec_data import labels_to_dense

    config = read_config(ROOT / "runs/rec/conv2x-32x128", CRNNConfig)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (32, config.height, config.width, 1)).astype(np.float32)
    labels, lengths = labels_to_dense([f"word{i}" for i in range(32)], config.time_steps)
    model = build_crnn(config)
    step = make_train_step(model, keras.optimizers.Adam(1e-4), ctc_loss)
    return lambda: step(x, labels, lengths), 32


def detector_step():
    import keras

    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
    from engocr.train.compiled import make_train_step
    from engocr.train.losses import yolo_loss
    from tests.conftest import synthetic_detector_batch

    config = DetectorConfig(backbone="mobilenet_v1", alpha=0.5, width=512, height=384,
                            train_width=384, train_height=288)
    x, targets, gt = synthetic_detector_batch(config, n=8, size=(384, 288))
    x, targets, gt = np.asarray(x), tuple(np.asarray(t) for t in targets), np.asarray(gt)
    step = make_train_step(build_detector(config, training=True), keras.optimizers.Adam(1e-4),
                           lambda outputs, t, g: yolo_loss(outputs, list(t), g, config))
    return lambda: step(x, targets, gt), 8


def measure(steps: int) -> list[dict]:
    """In this process's backend: samples/s of each model's step after warm-up."""
    import keras

    from engocr.train.keras_engine import keras_device

    rows = []
    for name, build in (("recognizer", recognizer_step), ("detector", detector_step)):
        step, batch = build()
        t0 = time.perf_counter()
        float(step())  # compile
        compile_s = time.perf_counter() - t0
        for _ in range(2):
            float(step())
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step()
        float(loss)
        rate = batch * steps / (time.perf_counter() - t0)
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
            capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": backend,
                                                 "PYTHONPATH": str(ROOT)})
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
