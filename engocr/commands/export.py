"""`engocr export rec|det|coarse|ends`: a training run to TFLite, chosen on validation and shipped
with its card (needs the train extra; TensorFlow loads only when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engocr.commands.training import DATA_HELP, use_data
from engocr.errors import InputError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("export", help="export a trained run to TFLite and ship it")
    ex.add_argument("what", choices=["rec", "det", "coarse", "ends", "reading"],
                    help="coarse: choose the detector's coarse pass and large-box threshold "
                         "again for --out (default: the shipped detector) on validation, and "
                         "write them into its card; ends: its box ends and crop margins, on "
                         "training images; reading: the recognizer's crop aspect and word-list "
                         "settings for --out (default: the shipped recognizer) on validation, "
                         "then its min_conf on training images")
    ex.add_argument("--run", type=Path, default=None, help="training run folder (rec, det)")
    ex.add_argument("--weights", default="best", metavar="NAME",
                    help="the run's best (by validation) or last weights, or ones named by "
                         "`engocr train average` (RUN/NAME.weights.h5)")
    ex.add_argument("--out", type=Path, default=None,
                    help="where the chosen model goes (default: the package's assets)")
    ex.add_argument("--work", type=Path, default=Path("runs/export"),
                    help="folder for every variant")
    ex.add_argument("--quant", nargs="+", default=["float32", "dynamic", "int8"],
                    help="variants to convert and measure")
    ex.add_argument("--budget", type=float, default=1.0,
                    help="accuracy points a quantised variant may lose against Keras")
    ex.add_argument("--prefer", choices=["float32", "dynamic", "int8"], default=None,
                    help="ship this variant when it is within the budget (default: the "
                         "fastest within it)")
    ex.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    ex.add_argument("--rec-model", type=Path, default=None,
                    help="det: the recognizer whose readings choose the crop margins "
                         "(default: the shipped one)")
    ex.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    use_data(args.data)
    try:
        _export_what(args)
    except FileNotFoundError as exc:  # every export reads the real data
        raise InputError(f"{exc.filename or exc}: not found (the real data: --data DIR or "
                         "the ENGOCR_DATA environment variable)") from None
    return 0


def _export_what(args: argparse.Namespace) -> None:
    from engocr.export.pipeline import export_detector, export_recognizer
    from engocr.realtime.reader import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER

    if args.what == "coarse":
        from engocr.export.pipeline import rechoose_passes

        rechoose_passes(args.out or DEFAULT_DETECTOR, args.data)
        return
    if args.what == "ends":
        from engocr.export.pipeline import rechoose_ends

        rechoose_ends(args.out or DEFAULT_DETECTOR, args.data, rec_model=args.rec_model)
        return
    if args.what == "reading":
        from engocr.export.pipeline import rechoose_reading

        rechoose_reading(args.out or DEFAULT_RECOGNIZER, args.data)
        return
    if args.run is None:
        raise InputError(f"export {args.what} needs --run (the training run folder)")
    from engocr.train.runs import existing_weights

    existing_weights(args.run, args.weights)
    if args.what == "rec":
        out = args.out or DEFAULT_RECOGNIZER
        export_recognizer(args.run, out, args.work, tuple(args.quant), args.budget, args.data,
                          weights=args.weights, prefer=args.prefer)
    else:
        out = args.out or DEFAULT_DETECTOR
        export_detector(args.run, out, args.work, tuple(args.quant), args.budget, args.data,
                        weights=args.weights, prefer=args.prefer, rec_model=args.rec_model)
