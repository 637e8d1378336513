"""Recognizer round 3 candidates (issue 29) at random weights, as exported: the shipped CRNN,
+ TPS rectification, + two self-attention mixing blocks, + both (and both with narrower
mixing blocks). Each is converted to TFLite float32 and full int8 by the project's exporter
(`engocr.export.tflite.convert`, int8 calibrated on synthetic crops), checked to hold builtin
ops only (no Flex / custom op, which LiteRT cannot run), compared with Keras on the same
crops, and timed at a batch of 16 crops.
Random weights say nothing about accuracy; the latency and the op set are what this measures.

    python benchmarks/rec_round3.py [--threads 2] [--runs 30]
    python benchmarks/rec_round3.py --smoke   # 3 repetitions, 16 calibration crops
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

SHIPPED_RUN = Path("runs/rec/conv2x-32x128")
CANDIDATES = {"baseline": {}, "tps": {"rectify": "tps"}, "mixer2": {"mixer_blocks": 2},
              "tps+mixer2": {"rectify": "tps", "mixer_blocks": 2},
              # the same at half the mixing width: attention and MLP cost a quarter
              "tps+mixer2-d128": {"rectify": "tps", "mixer_blocks": 2, "mixer_dim": 128},
              # batch norm in the blocks: folds into a multiply-add in int8, where layer
              # norm runs as mean, variance and rsqrt ops and costs half the blocks' time
              "mixer2-bn": {"mixer_blocks": 2, "mixer_norm": "batch"},
              "mixer1-bn": {"mixer_blocks": 1, "mixer_norm": "batch"},
              "mixer2-bn-d128": {"mixer_blocks": 2, "mixer_norm": "batch", "mixer_dim": 128},
              "tps+mixer1-bn": {"rectify": "tps", "mixer_blocks": 1, "mixer_norm": "batch"}}


def tflite_ops(flatbuffer: bytes) -> dict[str, list[str]]:
    """The operator codes a TFLite flatbuffer uses: builtin names and custom codes (Flex ops
    are custom codes named Flex...), read from the file, not from an interpreter that might
    refuse to load it."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    builtin, custom = set(), set()
    for code in model.operatorCodes:
        if code.customCode:
            custom.add(code.customCode.decode() if isinstance(code.customCode, bytes)
                       else str(code.customCode))
        else:
            builtin.add(names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?"))
    return {"builtin": sorted(builtin), "custom": sorted(custom)}


def base_config(run: Path):
    """The shipped run's config, or the same architecture where the run folder is absent."""
    from engocr.models.crnn import CRNNConfig
    from engocr.train.loop import read_config

    if (run / "config.json").exists():
        return read_config(run, CRNNConfig)
    return CRNNConfig(widths=(32, 64, 128, 192, 256), hidden=256)


def synthetic_crops(n: int, height: int, width: int) -> np.ndarray:
    """(n, h, w) uint8 crops for int8 calibration and the parity check."""
    from engocr.train import rec_data
    from engocr.train.data.synth import SynthCrops

    gen = SynthCrops.styled("round3", seed=777)
    return rec_data.to_arrays([gen[i] for i in range(n)], height, width)[0]


def measure(name: str, config, crops: np.ndarray, folder: Path, threads: int,
            runs: int) -> dict:
    import keras

    from engocr.export.tflite import convert, measure_latency, representative_from, write_model
    from engocr.models.crnn import build_crnn
    from engocr.realtime.engine import TFLiteEngine

    keras.utils.set_random_seed(0)
    model = build_crnn(config)
    x = crops[:16, ..., None].astype(np.float32)
    want = model.predict_on_batch(x)
    spread = float(want.max() - want.min())
    row = {"candidate": name, "params": int(model.count_params())}
    for quant in ("float32", "int8"):
        flatbuffer = convert(model, quant, representative_from(crops))
        ops = tflite_ops(flatbuffer)
        path = write_model(flatbuffer, folder / f"{name}-{quant}.tflite")
        got = TFLiteEngine(path, threads).run(x)[0]
        row[quant] = {
            "size_mb": round(path.stat().st_size / 2**20, 3),
            "builtin_only": not ops["custom"], "custom_ops": ops["custom"],
            "ops": ops["builtin"],
            "max_abs_diff_vs_keras": float(np.abs(got - want).max()),
            "logit_spread": spread,
            "ms_batch16": round(measure_latency(path, (16, config.height, config.width, 1),
                                                threads, runs), 2)}
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=30, help="timed invokes per model")
    p.add_argument("--calibration", type=int, default=150, help="synthetic int8 crops")
    p.add_argument("--run", type=Path, default=SHIPPED_RUN, help="config of the baseline")
    p.add_argument("--smoke", action="store_true",
                   help="3 timed invokes, 16 calibration crops; writes rec_round3-smoke.json")
    p.add_argument("--only", default="", help="comma-separated candidates (default: all)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(CANDIDATES)
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        p.error(f"unknown candidates {', '.join(unknown)} (one of {', '.join(CANDIDATES)})")
    if args.smoke:
        args.runs, args.calibration = 3, 16
    out = args.out or Path("benchmarks/results") / (
        "rec_round3-smoke.json" if args.smoke else "rec_round3.json")
    base = base_config(args.run)
    crops = synthetic_crops(max(args.calibration, 16), base.height, base.width)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            extra = CANDIDATES[name]
            rows.append(measure(name, replace(base, **extra), crops, Path(tmp), args.threads,
                                args.runs))
            print(json.dumps({k: v if k in ("candidate", "params") else
                              {q: v[q] for q in ("ms_batch16", "size_mb", "builtin_only")}
                              for k, v in rows[-1].items()}), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "date": datetime.date.today().isoformat(), "smoke": args.smoke,
        "threads": args.threads, "runs": args.runs, "batch": 16,
        "input": [base.height, base.width], "base_config": base.to_dict(), "rows": rows,
        "command": "python benchmarks/rec_round3.py " + " ".join(argv or sys.argv[1:])},
        indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
