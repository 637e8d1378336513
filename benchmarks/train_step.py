"""Training step time with the backend-neutral losses (`engocr.train.losses`, keras.ops)
against the TensorFlow losses they replaced (`tests/reference_losses.py`), on TensorFlow
without XLA: the detector (MobileNetV1 0.5, 384x288 windows, batch 8, the shipped run's
shape) and the recognizer (shipped body, batch 32). The two versions alternate in rounds so
that a busy machine slows both alike.

    python benchmarks/train_step.py [--rounds 3] [--steps 20]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, benchmarks/

from benchmarks.training_steps import detector_step, recognizer_step, samples_per_s  # noqa: E402


def shipped_1x_recognizer_step(loss_fn):
    from engocr.models.crnn import CRNNConfig, build_crnn

    return recognizer_step(loss_fn, build_crnn(CRNNConfig()))


def main(argv: list[str] | None = None) -> int:
    from engocr.train import losses
    from tests import reference_losses

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="timed steps per round and version")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/train_step.json"))
    args = p.parse_args(argv)
    rows = []
    for name, build, new, old in (
            ("detector", detector_step, losses.yolo_loss, reference_losses.yolo_loss),
            ("recognizer", shipped_1x_recognizer_step, losses.ctc_loss,
             reference_losses.ctc_loss)):
        versions = {"keras.ops": build(new), "tensorflow": build(old)}
        for step, _ in versions.values():
            for _ in range(3):  # trace and warm up
                step()
        rates = {v: [] for v in versions}
        for _ in range(args.rounds):
            for v, (step, batch) in versions.items():
                rates[v].append(samples_per_s(step, batch, args.steps))
        row = {"model": name, **{f"{v}_samples_per_s": round(float(np.median(r)), 1)
                                 for v, r in rates.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "rows": rows,
                                    "command": "python benchmarks/train_step.py " +
                                    " ".join(argv or sys.argv[1:])}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
