"""`engocr train|eval|data ...`: the training-side commands (need the `train` extra)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the training-side sub-commands on the main `engocr` parser."""
    train = sub.add_parser("train", help="train a model (needs the train extra)")
    tsub = train.add_subparsers(dest="what", required=True)
    rec = tsub.add_parser("rec", help="train the recognizer (resumes from --run if it exists)")
    rec.add_argument("--run", type=Path, default=Path("runs/rec/conv-32x128"))
    rec.add_argument("--head", choices=["conv", "bilstm", "bigru"], default="conv")
    rec.add_argument("--width", type=int, default=128)
    rec.add_argument("--batch", type=int, default=32)
    rec.add_argument("--minutes", type=float, default=None, help="stop after this long")
    rec.add_argument("--eval-every", type=int, default=500)
    rec.add_argument("--data", type=Path, default=None, help="real data folder")
    rec.add_argument("--workers", type=int, default=1, help="synthetic rendering processes")
    rec.set_defaults(func=_train_rec)

    det = tsub.add_parser("det", help="train the detector (resumes from --run if it exists)")
    det.add_argument("--run", type=Path, default=Path("runs/det/mnv2-416x320"))
    det.add_argument("--size", default="416x320", help="model input WxH (multiples of 32)")
    det.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width multiplier")
    det.add_argument("--batch", type=int, default=16)
    det.add_argument("--minutes", type=float, default=None, help="stop after this long")
    det.add_argument("--eval-every", type=int, default=300)
    det.add_argument("--data", type=Path, default=None, help="real data folder")
    det.add_argument("--workers", type=int, default=1, help="synthetic rendering processes")
    det.set_defaults(func=_train_det)

    ev = sub.add_parser("eval", help="evaluate a model on the real data")
    esub = ev.add_subparsers(dest="what", required=True)
    erec = esub.add_parser("rec", help="word accuracy and CER of the recognizer")
    erec.add_argument("--run", type=Path, help="a training run (Keras weights)")
    erec.add_argument("--model", type=Path, help="a .tflite recognizer (default: shipped)")
    erec.add_argument("--sets", nargs="+", default=["iiit5k_test", "svt_test", "ic15_val"])
    erec.add_argument("--data", type=Path, default=None)
    erec.add_argument("--limit", type=int, default=None, help="first N crops of each set")
    erec.set_defaults(func=_eval_rec)


def _train_rec(args: argparse.Namespace) -> int:
    from engocr.models.crnn import CRNNConfig
    from engocr.train.rec import DEFAULT_RECIPE, RecTrainer

    config = CRNNConfig(width=args.width, head=args.head, unroll=args.head != "conv")
    trainer = RecTrainer(args.run, config, DEFAULT_RECIPE, batch=args.batch, data=args.data,
                         eval_every=args.eval_every, workers=args.workers)
    state = trainer.train(minutes=args.minutes)
    print(json.dumps({"step": state.step, "phase": state.phase, "best": state.best}))
    return 0


def _train_det(args: argparse.Namespace) -> int:
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det import DEFAULT_RECIPE, DetTrainer

    width, height = (int(v) for v in args.size.lower().split("x"))
    config = DetectorConfig(width=width, height=height, alpha=args.alpha)
    trainer = DetTrainer(args.run, config, DEFAULT_RECIPE, batch=args.batch, data=args.data,
                         eval_every=args.eval_every, workers=args.workers)
    state = trainer.train(minutes=args.minutes)
    print(json.dumps({"step": state.step, "phase": state.phase, "best": state.best}))
    return 0


def _eval_rec(args: argparse.Namespace) -> int:
    from engocr.train.evaluate import evaluate_recognizer

    results = evaluate_recognizer(args.sets, run=args.run, model=args.model, data=args.data,
                                  limit=args.limit)
    for name, scores in results.items():
        print(f"{name:12s} word_acc {scores['word_acc']:.4f}  exact_acc {scores['exact_acc']:.4f}"
              f"  cer {scores['cer']:.4f}  n {scores['n']}")
    return 0
