"""`engocr train|eval|data ...`: the training-side commands (need the `train` extra)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engocr.argtypes import ASPECT, COUNT, FRACTION, POSITIVE, SIZE
from engocr.errors import InputError
from engocr.train.bundle import FONT_MB, PHOTO_MB

DATA_HELP = ("real data folder (ic15_train, iiit5k_test, ...); default: $ENGOCR_DATA, else "
             "../shared/data beside the source checkout (on a plain install: the first "
             "shared/data in the working folder or above it)")
# Detector training styles: DetectorConfig fields (see engocr.train.det.yolo_loss).
DET_LOSSES = {
    "yolov3": {"xy_scale": 1.0, "box_loss": "l2", "iou_objectness": False},
    "yolov5": {"xy_scale": 2.0, "box_loss": "giou", "iou_objectness": True},
}


def _run_args(p: argparse.ArgumentParser, batch: int, eval_every: int) -> None:
    """The options every training run takes: its pace, its data and its rendering workers."""
    p.add_argument("--batch", type=POSITIVE, default=batch, help="training batch size")
    p.add_argument("--minutes", type=float, default=None, help="stop after this long")
    p.add_argument("--eval-every", type=POSITIVE, default=eval_every,
                   help="steps between evaluations")
    p.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    p.add_argument("--workers", type=POSITIVE, default=1, help="synthetic rendering processes")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the training-side sub-commands on the main `engocr` parser."""
    train = sub.add_parser("train", help="train a model (needs the train extra)")
    tsub = train.add_subparsers(dest="what", required=True)
    rec = tsub.add_parser("rec", help="train the recognizer (resumes from --run if it exists)")
    rec.add_argument("--run", type=Path, default=Path("runs/rec/mixer2-scratch"),
                     help="run folder: created, or resumed where it stopped")
    rec.add_argument("--head", choices=["conv", "bilstm", "bigru"], default="conv",
                     help="sequence head of a new run")
    rec.add_argument("--body", choices=["vgg", "mobile"], default="vgg",
                     help="convolutional body: plain 3x3 (vgg) or depthwise-separable")
    rec.add_argument("--width", type=POSITIVE, default=128, help="input width of a new run")
    rec.add_argument("--widths", type=POSITIVE, nargs=5, default=[32, 64, 96, 96, 128],
                     metavar="C", help="channels of the five body blocks of a new run")
    rec.add_argument("--hidden", type=POSITIVE, default=128,
                     help="width of the sequence head of a new run")
    rec.add_argument("--rectify", choices=["none", "tps"], default="none",
                     help="a new run straightens each crop first with a thin-plate-spline "
                          "transformer (tps)")
    rec.add_argument("--mixer-blocks", type=COUNT, default=0,
                     help="self-attention blocks after the sequence head of a new run")
    rec.add_argument("--mixer-dim", type=COUNT, default=0,
                     help="width of those blocks (0: the sequence head's)")
    rec.add_argument("--mixer-norm", choices=["layer", "batch"], default="layer",
                     help="normalisation in those blocks: batch norm folds away in int8 and "
                          "halves their cost there")
    rec.add_argument("--min-aspect", type=ASPECT, default=0.0,
                     help="a new run widens crops narrower than R x their height to that "
                          "(foreshortened signs; 0: crops as they are)")
    rec.add_argument("--synth-style", default=None, metavar="NAME",
                     help="mix of synthetic crop styles (default, round3, round4); kept in the run "
                          "folder (default: the run's own, else 'default')")
    rec.add_argument("--recipe", type=Path, default=None,
                     help="JSON list of training phases for a new run (default: the built-in "
                          "recipe; a resumed run keeps its own recipe.json)")
    _run_args(rec, batch=32, eval_every=500)
    rec.add_argument("--pool", type=int, default=8192,
                     help="synthetic crops held in memory and reused (0: straight from the "
                          "renderer)")
    rec.add_argument("--reuse", type=POSITIVE, default=4,
                     help="times a pooled crop is served (augmented anew each time)")
    rec.add_argument("--init-from", type=Path, default=None,
                     help="a new run starts from this run's best weights where layers match "
                          "(e.g. its convolutional body under another head) and skips the "
                          "synthetic pretraining")
    rec.add_argument("--init-weights", default="best", metavar="NAME",
                     help="with --init-from: its best, last, or averaged (`train average`) "
                          "weights")
    rec.add_argument("--crops", type=Path, default=None,
                     help="real crops prepared by `engocr train bundle` (crops.npz), instead "
                          "of reading them from the data")
    rec.set_defaults(func=_train_rec)

    avg = tsub.add_parser("average", help="average a recognizer run's weights from several "
                          "points of its training (e.g. the ends of its cycles) into "
                          "RUN/NAME.weights.h5, for `engocr export rec --weights NAME`")
    avg.add_argument("--run", type=Path, required=True, help="the recognizer run")
    avg.add_argument("--from", dest="sources", nargs="+", required=True, metavar="W",
                     help="best, last, or a .weights.h5 file of the same model")
    avg.add_argument("--name", required=True, help="name of the averaged weights")
    avg.set_defaults(func=_average)

    bundle = tsub.add_parser("bundle", help="pack what a GPU machine without TensorFlow, "
                             "network or data needs to train a recognizer or detector run "
                             "(scripts/gpu_train.sh)")
    bundle.add_argument("--run", type=Path, default=Path("runs/rec/mixer2-scratch"),
                        help="the run to be trained: a recognizer's gets the real crops at its "
                             "input size, a detector's the real photos at its frame side")
    bundle.add_argument("--out", type=Path, default=Path(".gpu"),
                        help="bundle folder (git-ignored .gpu by default)")
    bundle.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    bundle.add_argument("--font-mb", type=float, default=FONT_MB,
                        help="megabytes of font files (one face per family) to pack")
    bundle.add_argument("--photo-mb", type=float, default=PHOTO_MB,
                        help="megabytes of the real photos' tar for a detector run (the "
                             "validation photos first, a lettering run's word crops next, "
                             "then training photos in random order)")
    bundle.add_argument("--no-wheels", action="store_true",
                        help="skip downloading the Keras wheels (a machine that has Keras)")
    bundle.set_defaults(func=_bundle)

    det = tsub.add_parser("det", help="train the detector (resumes from --run if it exists)")
    det.add_argument("--run", type=Path, default=Path("runs/det/v1a050-pre"),
                     help="run folder: created, or resumed where it stopped")
    det.add_argument("--size", type=SIZE, default="512x384",
                     help="full-frame model input WxH (multiples of 32)")
    det.add_argument("--train-size", type=SIZE, default="320x256", help="training window WxH")
    det.add_argument("--max-side", type=int, default=0,
                     help="train and evaluate for frames scaled to this longest side, as the "
                          "runtime feeds them (default: the --size width)")
    det.add_argument("--backbone", choices=["mobilenet_v2", "mobilenet_v1"],
                     default="mobilenet_v2", help="backbone network")
    det.add_argument("--alpha", type=float, default=0.35, help="backbone width multiplier")
    det.add_argument("--pretrained", action="store_true",
                     help="start the backbone from the shared ImageNet weights for this backbone "
                          "and alpha (../shared/weights/imagenet, or $ENGOCR_WEIGHTS/imagenet): "
                          "heads trained on the frozen backbone first, then everything")
    det.add_argument("--loss", choices=sorted(DET_LOSSES), default="yolov3",
                     help="yolov3: box centre in its cell, L2 box term; yolov5: centre range "
                          "-0.5..1.5 with two neighbour cells assigned, GIoU box term, IoU "
                          "objectness targets (a new run only: a resumed run keeps its own)")
    det.add_argument("--large-obj-weight", type=float, default=0.0, metavar="X",
                     help="weigh the objectness of words 96 input px and taller 1 + X times "
                          "(from 48 px up; a new run only)")
    det.add_argument("--end-loss", type=float, default=0.0, metavar="X",
                     help="add X x a smooth L1 on each word's two box ends, in word heights, "
                          "to the box term (a new run only)")
    det.add_argument("--synth-tilt", type=float, default=1.0, metavar="X",
                     help="spread of the synthetic text's rotation, x the default (about 4 "
                          "degrees; 3 puts 90%% of words within 15 degrees, ic15's within 21; "
                          "a new run only)")
    det.add_argument("--rotate", type=float, default=0.0, metavar="DEG",
                     help="turn half the real training windows by up to DEG degrees either "
                          "way, so that an oriented head sees tilted words (a new run only)")
    det.add_argument("--closeups", type=FRACTION, default=0.0, metavar="SHARE",
                     help="zoom this share of the real training windows in on one of their "
                          "words, 48 px to most of the window high, as a camera close to a "
                          "sign sees it (a new run only)")
    det.add_argument("--lettering", type=FRACTION, default=0.0, metavar="SHARE",
                     help="make this share of the synthetic scenes close-ups of real word "
                          "crops (IIIT5K and SVT training crops: sign and shop-front "
                          "lettering) pasted large (a new run only)")
    det.add_argument("--oriented", action="store_true",
                     help="predict each word's angle too: oriented boxes, tilted crops read "
                          "level (a new run only; --init-from a level run keeps its boxes)")
    det.add_argument("--end-head", action="store_true",
                     help="add the end head (box ends read by the cells near them; a new run "
                          "only): with --init-from, it trains alone on the frozen detector")
    _run_args(det, batch=16, eval_every=300)
    det.add_argument("--init-from", type=Path, default=None,
                     help="a new run starts from this detector run's best weights and anchors "
                          "and skips the pretraining (e.g. to train for another --max-side)")
    det.add_argument("--recluster-anchors", action="store_true",
                     help="with --init-from: k-means anchors on this run's training windows "
                          "instead of the source run's (the copied output layers are shifted so "
                          "that their boxes start unchanged)")
    det.add_argument("--recipe", type=Path, default=None,
                     help="JSON list of phases for a new run (default: the built-in recipe; a "
                          "resumed run keeps its own recipe.json)")
    det.set_defaults(func=_train_det)

    data = sub.add_parser("data", help="look at the training data; write the word list")
    dsub = data.add_subparsers(dest="what", required=True)
    words = dsub.add_parser("words", help="write the shipped word list (for the lexicon) from "
                            "the system's English word list")
    words.add_argument("--out", type=Path, default=None,
                       help="default: the package's assets/words.txt.gz")
    words.set_defaults(func=_words)
    prev = dsub.add_parser("preview", help="write contact sheets of synthetic samples")
    prev.add_argument("--out", type=Path, default=None,
                      help="folder the contact sheets are written to (default: the checkout's "
                           "docs/images; required on a plain install)")
    prev.add_argument("--seed", type=int, default=0, help="seed of the samples drawn")
    prev.add_argument("--style", default="default", metavar="NAME",
                      help="synthetic crop style of the crop sheet (default, round3, round4)")
    prev.set_defaults(func=_preview)

    ev = sub.add_parser("eval", help="evaluate a model on the real data")
    esub = ev.add_subparsers(dest="what", required=True)
    erec = esub.add_parser("rec", help="word accuracy and CER of the recognizer")
    erec.add_argument("--run", type=Path, help="a training run (Keras weights)")
    erec.add_argument("--weights", default="best", metavar="NAME",
                      help="with --run: its best, last, or averaged (`train average`) weights")
    erec.add_argument("--model", type=Path, help="a .tflite recognizer (default: shipped)")
    erec.add_argument("--sets", nargs="+", default=["iiit5k_test", "svt_test", "ic15_val"],
                      help="crop sets to score")
    erec.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    erec.add_argument("--limit", type=POSITIVE, default=None, help="first N crops of each set")
    erec.set_defaults(func=_eval_rec)
    edet = esub.add_parser("det", help="P/R/H of the detector on ic15 validation (ICDAR 2015)")
    edet.add_argument("--run", type=Path, help="a training run (Keras weights)")
    edet.add_argument("--weights", choices=["best", "last"], default="best",
                      help="with --run: its best or last weights")
    edet.add_argument("--model", type=Path,
                      help="a .tflite detector (default: the shipped one, unless --run is given)")
    edet.add_argument("--settings-from", type=Path, default=None, metavar="MODEL",
                      help="with --run: decode boxes and cut crops with this exported "
                           "detector's settings (its .tflite or card; e.g. the shipped "
                           "engocr/assets/detector.tflite) instead of the defaults: NMS, merge, "
                           "large-word threshold, box ends, crop margins")
    edet.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    edet.add_argument("--rec-model", type=Path, default=None,
                      help="recognizer that reads the found words (default: the shipped one)")
    edet.add_argument("--limit", type=POSITIVE, default=None, help="first N validation images")
    edet.add_argument("--plot", type=Path, default=None,
                      help="write the precision-recall curve(s) to this PNG")
    edet.set_defaults(func=_eval_det)


def _words(args: argparse.Namespace) -> int:
    from engocr.realtime.lexicon import DEFAULT_WORDS
    from engocr.train.data.words import write_lexicon

    out = args.out or DEFAULT_WORDS
    try:
        count = write_lexicon(out)
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from None
    print(f"wrote {count} words to {out}")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from engocr.train.data.paths import REPO_ROOT, in_checkout
    from engocr.train.data.preview import write_sheets

    out = args.out
    if out is None:
        if not in_checkout():
            raise InputError("data preview: give --out DIR (this is not a source checkout, so "
                             "there is no docs/images to write into)")
        out = REPO_ROOT / "docs" / "images"
    from engocr.train.data.synth import check_crop_style

    check_crop_style(args.style)
    for path in write_sheets(out, args.seed, args.style):
        print(f"wrote {path}")
    return 0


def _average(args: argparse.Namespace) -> int:
    from engocr.train.averaging import average_run_weights

    if not (args.run / "config.json").is_file():
        raise InputError(f"{args.run} is not a training run (no config.json)")
    out = average_run_weights(args.run, args.sources, args.name)
    print(f"averaged {len(args.sources)} weights -> {out}")
    return 0


def use_data(folder: Path | None) -> None:
    """Point every data reader (the synthetic generator's photo backgrounds and the rendering
    workers included) at the real-data folder given on the command line."""
    import os

    from engocr.train.data.paths import DATA_ENV

    if folder is not None:
        os.environ[DATA_ENV] = str(folder)  # until the command ends (engocr.cli.main)


def _train_rec(args: argparse.Namespace) -> int:
    use_data(args.data)
    from engocr.models.crnn import CRNNConfig
    from engocr.train.loop import read_recipe
    from engocr.train.rec import DEFAULT_RECIPE, INIT_RECIPE, RecTrainer

    config = CRNNConfig(width=args.width, head=args.head, body=args.body,
                        widths=tuple(args.widths), hidden=args.hidden,
                        unroll=args.head != "conv", rectify=args.rectify,
                        mixer_blocks=args.mixer_blocks, mixer_dim=args.mixer_dim,
                        mixer_norm=args.mixer_norm, min_aspect=args.min_aspect)
    recipe = INIT_RECIPE if args.init_from else DEFAULT_RECIPE
    if args.recipe is not None:
        recipe = read_recipe(args.recipe)
    trainer = RecTrainer(args.run, config, recipe, batch=args.batch, data=args.data,
                         eval_every=args.eval_every, workers=args.workers,
                         init_from=args.init_from, pool=args.pool, reuse=args.reuse,
                         crops=args.crops, synth_style=args.synth_style,
                         init_weights=args.init_weights)
    state = trainer.train(minutes=args.minutes)
    print(json.dumps({"step": state.step, "phase": state.phase, "best": state.best}))
    return 0


def _bundle(args: argparse.Namespace) -> int:
    use_data(args.data)
    from engocr.train.bundle import DEVICE_BYTES, make_bundle, working_tree_bytes

    sizes = make_bundle(args.out, args.run, args.data, args.font_mb, not args.no_wheels,
                        photo_mb=args.photo_mb)
    tree = working_tree_bytes()
    report = {"bundle": str(args.out), "mib": {k: round(v / 2 ** 20, 1) for k, v in sizes.items()}}
    carried = None if tree is None else tree + sum(sizes.values())
    if carried is not None:
        report.update(working_tree_mib=round(tree / 2 ** 20, 1),
                      carried_mib=round(carried / 2 ** 20, 1),
                      fits_device=carried <= DEVICE_BYTES)
    print(json.dumps(report))
    if carried is not None and carried > DEVICE_BYTES:
        print(f"warning: working tree and bundle are {carried / 2 ** 20:.1f} MiB, over the "
              f"device's {DEVICE_BYTES // 2 ** 20} MiB: lower --font-mb or slim the tree",
              file=sys.stderr)
    return 0


def _train_det(args: argparse.Namespace) -> int:
    use_data(args.data)
    from engocr.models.imagenet import default_weights_file
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det import (
        DEFAULT_RECIPE,
        END_HEAD_RECIPE,
        INIT_RECIPE,
        PRETRAINED_RECIPE,
        DetTrainer,
    )

    (width, height), (tw, th) = args.size, args.train_size
    pretrained = ""
    if args.pretrained:
        weights = default_weights_file(args.backbone, args.alpha)
        if weights is None:
            raise InputError(f"no ImageNet weights for {args.backbone} alpha {args.alpha}")
        pretrained = weights.name
    config = DetectorConfig(width=width, height=height, max_side=args.max_side, train_width=tw,
                            train_height=th, backbone=args.backbone, alpha=args.alpha,
                            pretrained=pretrained, large_obj_weight=args.large_obj_weight,
                            end_loss_weight=args.end_loss,
                            oriented=args.oriented, synth_tilt=args.synth_tilt,
                            real_rotate=args.rotate, real_closeup=args.closeups,
                            synth_lettering=args.lettering,
                            end_head=args.end_head,
                            **DET_LOSSES[args.loss])
    recipe = INIT_RECIPE if args.init_from else PRETRAINED_RECIPE if pretrained else \
        DEFAULT_RECIPE
    if args.end_head and args.init_from:  # the finished detector as it is, plus the head
        from dataclasses import replace

        from engocr.train.loop import read_config

        config = replace(read_config(args.init_from, DetectorConfig), end_head=True)
        recipe = END_HEAD_RECIPE
    if config.end_head and not config.oriented and not (args.run / "config.json").exists():
        raise InputError("--end-head needs an oriented detector (--oriented, or --init-from an "
                         "oriented run): the runtime reads the head's ends for oriented boxes "
                         "only")
    if args.recipe is not None:
        from engocr.train.loop import read_recipe

        recipe = read_recipe(args.recipe)
    trainer = DetTrainer(args.run, config, recipe, batch=args.batch, data=args.data,
                         eval_every=args.eval_every, workers=args.workers,
                         init_from=args.init_from, recluster=args.recluster_anchors)
    state = trainer.train(minutes=args.minutes)
    print(json.dumps({"step": state.step, "phase": state.phase, "best": state.best}))
    return 0


def _no_data(data: Path | None, wanted: str) -> str:
    from engocr.train.data.paths import data_root

    return (f"real data not found: looked for {wanted} in {data_root(data)}; point to the "
            "folder with --data DIR or the ENGOCR_DATA environment variable")


def _eval_rec(args: argparse.Namespace) -> int:
    from engocr.train.evaluate import evaluate_recognizer

    if args.run is not None:
        from engocr.train.runs import existing_weights

        existing_weights(args.run, args.weights)
    results = evaluate_recognizer(args.sets, run=args.run, model=args.model, data=args.data,
                                  limit=args.limit, weights=args.weights)
    if not results:
        raise InputError(_no_data(args.data, " or ".join(args.sets)))
    for name, scores in results.items():
        alone = (f"  model_word_acc {scores['model_word_acc']:.4f}  model_exact_acc "
                 f"{scores['model_exact_acc']:.4f}" if "model_word_acc" in scores else "")
        print(f"{name:12s} word_acc {scores['word_acc']:.4f}  exact_acc {scores['exact_acc']:.4f}"
              f"  cer {scores['cer']:.4f}  n {scores['n']}{alone}")
    return 0


def _eval_det(args: argparse.Namespace) -> int:
    from engocr.realtime.reader import DEFAULT_RECOGNIZER
    from engocr.train.crop_padding import found_words, misread_breakdown
    from engocr.train.evaluate import (
        DEFAULT_THRESHOLDS,
        axis_aligned_ceiling,
        best_threshold,
        curve_from,
        detections_by_threshold,
        ic15_val_scenes,
        tflite_detector,
        tflite_recognizer,
    )
    from engocr.train.metrics import detection_breakdown
    from engocr.train.runs import keras_detector

    if args.settings_from is not None and args.run is None:
        raise InputError("--settings-from applies to a Keras run: give --run")
    recognizer = tflite_recognizer(args.rec_model or DEFAULT_RECOGNIZER)
    try:
        scenes = ic15_val_scenes(args.data, args.limit)
    except FileNotFoundError:
        raise InputError(_no_data(args.data, "ic15_train")) from None
    detectors = {}
    if args.run is not None:
        from engocr.models.yolo_mobilenet import DetectorConfig
        from engocr.train.loop import read_config

        # At the longest side the run trains and evaluates for, as the runtime feeds it.
        side = read_config(args.run, DetectorConfig).max_side
        detect = keras_detector(args.run, args.weights, max_side=side)
        name = f"keras {args.run.name}"
        if args.settings_from is not None:
            adopt_decode_settings(detect.card, args.settings_from)
            name += f" (settings of {args.settings_from.name})"
        detectors[name] = detect
    if args.model is not None or args.run is None:
        from engocr.realtime.reader import DEFAULT_DETECTOR

        model = args.model or DEFAULT_DETECTOR
        detectors[f"tflite {model.name}"] = tflite_detector(model)
    curves = {}
    for name, detect in detectors.items():
        found = detections_by_threshold(detect, scenes, DEFAULT_THRESHOLDS)
        curves[name] = curve = curve_from(found)
        print(f"{name}: ic15 val ({len(scenes)} images)")
        print("  threshold  precision  recall  hmean")
        for t in sorted(curve):
            print(f"  {t:9.2f}  {curve[t]['precision']:9.4f}  {curve[t]['recall']:6.4f}"
                  f"  {curve[t]['hmean']:.4f}")
        best = best_threshold(curve)
        print(f"  best: threshold {best:.2f}  H {curve[best]['hmean']:.4f}")
        _print_breakdown(detection_breakdown(*found[best], best))
        card = detect.card
        words = found_words(found[best])
        misread = misread_breakdown(recognizer, scenes, words, card.crop_pad_x, card.crop_pad_y)
        print(f"  found words read correctly (crop margins x {card.crop_pad_x}, y "
              f"{card.crop_pad_y}): {misread['read']:.2f} of {misread['found']}, "
              f"{misread['end_lost']:.2f} read with letters lost at an end; of the "
              f"{misread['misread']} misread, the recognizer reads "
              f"{misread['misread_truth_box_reads']:.2f} from the word's own box")
    ceiling = axis_aligned_ceiling(scenes)
    print(f"axis-aligned ceiling (every readable word's bounding box): "
          f"P {ceiling['precision']:.4f}  R {ceiling['recall']:.4f}  H {ceiling['hmean']:.4f}")
    if args.plot is not None:
        from engocr.charts import pr_curves

        print(f"wrote {pr_curves(curves, args.plot)}")
    return 0


def adopt_decode_settings(card, source: Path) -> None:
    """Gives a detector card the box decoding and crop settings of an exported detector's card
    (`source`: its .tflite or .json), so a Keras run is scored as its export would run."""
    from engocr.errors import ModelError
    from engocr.realtime.card import DECODE_SETTINGS, ModelCard

    try:
        other = ModelCard.load(source.with_suffix(".json"))
    except ModelError as exc:
        raise InputError(f"--settings-from: {exc}") from None
    if other.kind != "detector":
        raise InputError(f"--settings-from: {source} is a {other.kind}, not a detector")
    for name in DECODE_SETTINGS:
        setattr(card, name, getattr(other, name))
    if card.end_head and other.end_head:  # the head's reach, chosen with the box ends
        card.end_head_reach = other.end_head_reach


def _print_breakdown(breakdown: dict) -> None:
    print("  recall by word height (frame pixels):  " + "  ".join(
        f"{b['min']}-{b['max'] if b['max'] < 10_000 else ''}: {b['recall']:.2f} ({b['words']})"
        for b in breakdown["recall_by_height"]))
    print("  tilted > 15 deg / matchable by a box:  " + "  ".join(
        f"{b['min']}-{b['max'] if b['max'] < 10_000 else ''}: {b['tilted']:.2f} / "
        f"{b['boxable']:.2f}" for b in breakdown["recall_by_height"]))
    boxes = breakdown["boxes"]
    print(f"  boxes: {boxes['hit']:.0%} match a word, {boxes['partial']:.0%} partly overlap "
          f"one (fragment or merge), {boxes['background']:.0%} on background")
    edges = breakdown["edges"]
    if edges.get("words"):
        print(f"  found words cut more than a quarter of a height at an end: "
              f"{edges['cut_either']:.1%} (left {edges['cut_left']:.1%}, right "
              f"{edges['cut_right']:.1%})")
