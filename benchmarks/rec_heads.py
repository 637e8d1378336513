"""Recognizer bodies and sequence heads measured as a design choice: the VGG-lite body against
a depthwise-separable (MobileNet-style) one, and on the VGG-lite body a dilated 1-D convolution
head, a BiLSTM or a BiGRU (exported unrolled from Keras 3, and the
BiLSTM also as the fused TFLite LSTM op through tf_keras, converted at each fixed batch),
float TFLite latency at batch 1 / 8 / 16 and model size.

    python benchmarks/rec_heads.py [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from engocr.export.fused_rnn import convert_fused
    from engocr.export.tflite import convert, measure_latency, write_model
    from engocr.models.crnn import CRNNConfig, build_crnn

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/rec_heads.json"))
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for body, head, hidden in (("vgg", "conv", 128), ("mobile", "conv", 128),
                                   ("vgg", "bilstm", 128), ("vgg", "bigru", 128),
                                   ("vgg", "bilstm", 64)):
            config = CRNNConfig(head=head, body=body, hidden=hidden, unroll=head != "conv")
            model = build_crnn(config)
            path = write_model(convert(model), Path(tmp) / f"{body}{head}{hidden}.tflite")
            row = {"body": body, "head": head, "hidden": hidden,
                   "params": int(model.count_params()),
                   "size_mb": round(path.stat().st_size / 2**20, 2)}
            for batch in (1, 8, 16):
                row[f"ms_batch{batch}"] = round(measure_latency(
                    path, (batch, config.height, config.width, 1), args.threads), 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
        config = CRNNConfig(head="bilstm", hidden=128)
        model = build_crnn(config)
        row = {"body": "vgg", "head": "bilstm-fused", "hidden": 128,
               "params": int(model.count_params())}
        for batch in (1, 8, 16):
            path = write_model(convert_fused(model, config, batch), Path(tmp) / f"f{batch}.tflite")
            row["size_mb"] = round(path.stat().st_size / 2**20, 2)
            row[f"ms_batch{batch}"] = round(measure_latency(
                path, (batch, config.height, config.width, 1), args.threads), 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from engocr.realtime.bench import cpu_name

    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "cpu": cpu_name(),
                                    "threads": args.threads, "rows": rows,
                                    "command": "python benchmarks/rec_heads.py " +
                                    " ".join(argv or sys.argv[1:])}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
