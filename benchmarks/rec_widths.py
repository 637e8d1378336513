"""Recognizer bodies of several widths, measured before one is trained: parameters, multiply-
adds per crop, TFLite latency of a batch of 16 crops (float32 and dynamic-range quantized, the
runtime's engine, 2 threads) and the training step's samples/s on random inputs (batch 32,
TensorFlow without XLA, forward, CTC loss, backward, Adam). The runtime budget for the
recognizer is 20 ms a batch of 16 (see the recognizer issue); the step rate says how many
samples a wider body sees in the same wall-clock time.

    python benchmarks/rec_widths.py [--threads 2] [--steps 60]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, benchmarks/

from benchmarks.training_steps import recognizer_step, samples_per_s  # noqa: E402

# (name, body widths, sequence-head width); "1x" is the shipped body.
CANDIDATES = (
    ("1x", (32, 64, 96, 96, 128), 128),
    ("1.5x-top", (32, 64, 128, 128, 192), 192),
    ("2x-top", (32, 64, 128, 192, 256), 256),
    ("2x", (64, 128, 192, 192, 256), 256),
)


def multiply_adds(model) -> int:
    """Multiply-adds of one crop through the convolution and dense layers."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv1D):
            out = layer.output.shape
            kernel = int(np.prod(layer.kernel.shape))
            positions = int(np.prod(out[1:-1]))
            total += kernel * positions
        elif isinstance(layer, keras.layers.Dense):
            steps = int(np.prod(layer.output.shape[1:-1]))
            total += int(np.prod(layer.kernel.shape)) * steps
    return total


def step_rate(model, steps: int) -> float:
    """Samples/s of the real training step on random crops (batch 32), after warm-up."""
    from engocr.train.losses import ctc_loss

    step, batch = recognizer_step(ctc_loss, model)
    for _ in range(5):  # trace and warm up
        step()
    return samples_per_s(step, batch, steps)


def main(argv: list[str] | None = None) -> int:
    from engocr.export.tflite import convert, measure_latency, write_model
    from engocr.models.crnn import CRNNConfig, build_crnn

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=60, help="timed training steps per body")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/rec_widths.json"))
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, widths, hidden in CANDIDATES:
            config = CRNNConfig(widths=widths, hidden=hidden)
            model = build_crnn(config)
            row = {"name": name, "widths": list(widths), "hidden": hidden,
                   "params": int(model.count_params()),
                   "mmac_per_crop": round(multiply_adds(model) / 1e6, 1)}
            for quant in ("float32", "dynamic"):
                path = write_model(convert(model, quant), Path(tmp) / f"{name}-{quant}.tflite")
                row[f"ms_batch16_{quant}"] = round(measure_latency(
                    path, (16, config.height, config.width, 1), args.threads), 2)
            row["train_samples_per_s"] = round(step_rate(model, args.steps), 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from engocr.realtime.bench import cpu_name

    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "cpu": cpu_name(),
                                    "threads": args.threads, "rows": rows,
                                    "command": "python benchmarks/rec_widths.py " +
                                    " ".join(argv or sys.argv[1:])}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
