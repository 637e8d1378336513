"""Accuracy benchmark of the shipped (or given) TFLite models on the real data in
../shared/data: detection P/R/H-mean and end-to-end P/R/F (ICDAR 2015 protocol) on ic15
validation images 901-1000 (with the detector's precision-recall curve and the ceiling that
axis-aligned boxes put on it), and recognition word accuracy on IIIT5K / SVT test crops.

    python benchmarks/accuracy.py [--det-model M] [--rec-model M] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from engocr.train.data.importers import ic15_scenes
from engocr.train.data.paths import data_root
from engocr.train.min_conf import conf_grid, readings, reported_scores


def end_to_end(reader, scenes) -> tuple[dict, list[dict], list[dict]]:
    """Detection P/R/H of every box the Reader read text from, end-to-end P/R/F of what it
    reports (readings at least the recognizer card's `min_conf` sure), end-to-end F at each
    confidence threshold (the card's was chosen on training images), and what it reports by
    word height (found, read right): the runtime as it runs, every detector pass included."""
    found, truth = readings(reader, scenes)
    scores, by_height = reported_scores(found, truth, reader.min_conf)
    return scores, conf_grid(found, truth), by_height


def main(argv: list[str] | None = None) -> int:
    from engocr.charts import pr_curves
    from engocr.realtime.reader import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, Reader
    from engocr.train.crop_padding import found_words, misread_breakdown
    from engocr.train.evaluate import (
        DEFAULT_THRESHOLDS,
        axis_aligned_ceiling,
        best_threshold,
        curve_from,
        detections_by_threshold,
        evaluate_recognizer,
        tflite_detector,
    )
    from engocr.train.metrics import (
        TILT_DEGREES,
        band_label,
        detection_breakdown,
        recall_above,
    )

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--det-model", type=Path, default=None)
    p.add_argument("--rec-model", type=Path, default=None)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/accuracy.json"))
    p.add_argument("--plot", type=Path, default=Path("docs/images/detector-pr.png"))
    args = p.parse_args(argv)
    scenes = ic15_scenes("val", args.data)
    if not scenes:
        print(f"accuracy: real data not found at {data_root(args.data)}", file=sys.stderr)
        return 2
    reader = Reader(args.det_model, args.rec_model)
    e2e, by_conf, by_height = end_to_end(reader, scenes)
    card_threshold = reader.detector.score_threshold
    found = detections_by_threshold(tflite_detector(args.det_model or DEFAULT_DETECTOR), scenes,
                                    sorted({*DEFAULT_THRESHOLDS, card_threshold}))
    curve = curve_from(found)
    best = best_threshold(curve)
    breakdown = detection_breakdown(*found[card_threshold], card_threshold)
    ceiling = axis_aligned_ceiling(scenes)
    # Of the words found, how many are read, and how many of the misread ones the recognizer
    # reads from the word's own box: with the card's crop margins and the former fixed 0.12.
    words = found_words(found[card_threshold])
    card = reader.detector.card
    misread = {"card": {"pad_x": card.crop_pad_x, "pad_y": card.crop_pad_y, **misread_breakdown(
                   reader.recognizer, scenes, words, card.crop_pad_x, card.crop_pad_y)},
               "fixed": {"pad_x": 0.12, "pad_y": 0.12, **misread_breakdown(
                   reader.recognizer, scenes, words, 0.12, 0.12)}}
    pr_curves({"shipped detector": curve}, args.plot)
    rec = evaluate_recognizer(["iiit5k_test", "svt_test", "ic15_val"],
                              model=args.rec_model or DEFAULT_RECOGNIZER, data=args.data)
    report = {"date": datetime.date.today().isoformat(),
              "command": "python benchmarks/accuracy.py " + " ".join(argv or sys.argv[1:]),
              "ic15_val": {k: round(v, 4) for k, v in e2e.items()},
              "score_threshold": reader.detector.score_threshold,
              "min_conf": reader.min_conf,
              "lexicon_margin": reader.recognizer.card.lexicon_margin,
              "lexicon_prior": reader.recognizer.card.lexicon_prior,
              "e2e_by_min_conf": by_conf,
              "pr_curve": {str(t): {k: round(v, 4) for k, v in c.items()}
                           for t, c in curve.items()},
              "curve_best": {"threshold": best, **{k: round(v, 4)
                                                   for k, v in curve[best].items()}},
              "axis_aligned_ceiling": {k: round(v, 4) for k, v in ceiling.items()},
              "breakdown": breakdown,
              "reported_by_height": by_height,
              "recall_48px_and_taller": round(recall_above(breakdown, 48), 4),
              "misread": misread,
              "recognition": {k: {m: round(v, 4) for m, v in s.items()} for k, s in rec.items()},
              "detector": reader.detector.card.quantization,
              "recognizer": reader.recognizer.card.quantization}
    print(f"ic15 val detection: P {e2e['precision']:.3f} R {e2e['recall']:.3f} "
          f"H {e2e['hmean']:.3f}; end-to-end: P {e2e['e2e_precision']:.3f} "
          f"R {e2e['e2e_recall']:.3f} F {e2e['e2e_hmean']:.3f} (readings at least "
          f"{reader.min_conf} sure; keeping all: F {by_conf[0]['e2e_hmean']:.3f})")
    print(f"precision-recall curve: best H {curve[best]['hmean']:.3f} at threshold {best} "
          f"(card: {reader.detector.score_threshold}); axis-aligned ceiling H "
          f"{ceiling['hmean']:.3f}; plot {args.plot}")
    print("recall by word height: " + ", ".join(
        f"{b['min']}-{b['max']} px {b['recall']:.2f}" for b in breakdown["recall_by_height"]))
    print("reported by word height (found / read): " + ", ".join(
        f"{b['min']}-{b['max']} px {b['recall']:.2f} / {b['e2e_recall']:.2f}" for b in by_height))
    edges = breakdown["edges"]
    print(f"box edges (word heights inside the word, median): left {edges['median_left']:.2f} "
          f"right {edges['median_right']:.2f} top {edges['median_top']:.2f} bottom "
          f"{edges['median_bottom']:.2f}; found words cut > 0.25 at left or right: "
          f"{edges['cut_either']:.1%} (left {edges['cut_left']:.1%}, right "
          f"{edges['cut_right']:.1%})" + "; by length over height: " + ", ".join(
              f"{band_label(b)} {b['cut_either']:.0%} of {b['words']}"
              for b in edges.get("cut_by_aspect", []) if b["words"]))
    angles = breakdown["angles"]
    if angles["words"]:
        print(f"box tilt error (degrees, mean): {angles['mean_error']:.1f} over found words, "
              f"{angles['tilted_mean_error']:.1f} over the {angles['tilted_words']} tilted more "
              f"than {TILT_DEGREES} degrees")
    print("unmatched boxes: {partial:.0%} fragments or merges, {background:.0%} background"
          .format(**breakdown["boxes"]))
    for name, m in misread.items():
        print(f"found words read ({name} crop margins x {m['pad_x']}, y {m['pad_y']}): "
              f"{m['read']:.3f} of {m['found']}, {m['end_lost']:.3f} with letters lost at an "
              f"end; misread but read from the word's own box: "
              f"{m['misread_truth_box_reads']:.3f} of {m['misread']}")
    for name, s in rec.items():
        alone = (f"  (model alone: {s['model_word_acc']:.3f}, exact {s['model_exact_acc']:.3f})"
                 if "model_word_acc" in s else "")
        print(f"{name:12s} word accuracy {s['word_acc']:.3f}  exact {s['exact_acc']:.3f}  "
              f"CER {s['cer']:.3f}  (n={s['n']}){alone}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
