"""Regenerates the README's benchmark sections from the JSON that the benchmark scripts
write (benchmarks/results/*.json); with --run it runs them first. One command:

    python benchmarks/report.py --run
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

RESULTS = Path("benchmarks/results")
README = Path("README.md")


def _measured(data: dict) -> str:
    """How a section's figures were made: the date and the command."""
    return f"Measured {data['date']} with `{data['command'].strip()}`"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _cpu(data: dict) -> str:
    """The CPU a result was measured on, as the benchmark recorded it (not this machine's)."""
    return data.get("cpu", "an unrecorded CPU")


def speed_section(data: dict) -> str:
    r0 = data["results"][0]
    lines = [_measured(data) + f" on {r0['cpu']}, "
             f"{r0['threads']} threads, no GPU; the built-in demo scene, detection and "
             "recognition on every frame, tracking off.", "",
             "| frame size | FPS | frame ms (median / p95) | detect | NMS | recognize | CTC | "
             "words/frame | peak MB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in data["results"]:
        s = r["stages"]

        def ms(name, s=s):
            return f"{s[name]['median']:.1f}" if name in s else "-"

        lines.append(f"| {r['size']} | {r['fps']:.1f} | {r['frame_ms']['median']:.1f} / "
                     f"{r['frame_ms']['p95']:.1f} | {ms('detect')} | {ms('nms')} | "
                     f"{ms('recognize')} | {ms('ctc')} | {r['words_per_frame']:.1f} | "
                     f"{r['peak_memory_mb']:.0f} |")
    return "\n".join(lines)


def accuracy_section(data: dict) -> str:
    ic = data["ic15_val"]
    rec = data["recognition"]
    lines = [_measured(data) + f": shipped detector "
             f"({data['detector']}) and recognizer ({data['recognizer']}).", "",
             "| benchmark | figure | target |", "|---|---|---|",
             f"| ic15 val detection P / R / H-mean | {ic['precision']:.3f} / {ic['recall']:.3f}"
             f" / **{ic['hmean']:.3f}** | H >= 0.55 |",
             f"| ic15 val end-to-end P / R / F | {ic['e2e_precision']:.3f} / "
             f"{ic['e2e_recall']:.3f} / **{ic['e2e_hmean']:.3f}** | F >= 0.30 |"]
    if data.get("e2e_by_min_conf"):
        every = data["e2e_by_min_conf"][0]
        lines.append(f"| ic15 val end-to-end F reporting every reading (the card drops those "
                     f"under {data['min_conf']:g} confidence) | {every['e2e_hmean']:.3f} | |")
    if "axis_aligned_ceiling" in data:
        ceiling = data["axis_aligned_ceiling"]["hmean"]
        lines.append(f"| ic15 val H-mean of perfect axis-aligned boxes (the box shape's "
                     f"ceiling) | {ceiling:.3f} | |")
    targets = {"iiit5k_test": "85%", "svt_test": "78%", "ic15_val": "65%"}
    for name, s in rec.items():
        alone = (f"; the model alone {100 * s['model_word_acc']:.1f}% "
                 f"({100 * s['model_exact_acc']:.1f}%, {s['model_cer']:.3f})"
                 if "model_word_acc" in s else "")
        lines.append(f"| {name} word accuracy (exact, CER) | **{100 * s['word_acc']:.1f}%** "
                     f"({100 * s['exact_acc']:.1f}%, {s['cer']:.3f}){alone} | "
                     f">= {targets.get(name, '')} |")
    if any("model_word_acc" in s for s in rec.values()):
        lines += ["", f"Word accuracy is what engocr reports: readings are corrected from "
                  f"the shipped word list where the model's own outputs allow it, common words "
                  f"favoured over rare ones (margin {data.get('lexicon_margin', '?')} nats, "
                  f"prior {data.get('lexicon_prior', 0.0)} nats per Zipf unit, chosen on ic15 "
                  f"validation crops; `--no-lexicon` turns it off). \"the model alone\" is "
                  f"the greedy reading without it."]
    if "curve_best" in data:
        best = data["curve_best"]
        lines += ["", f"The detector's score threshold ({data['score_threshold']}) is chosen on "
                  f"validation by `engocr export det` and kept in its card; over the whole "
                  f"curve its best H-mean is {best['hmean']:.3f} (threshold "
                  f"{best['threshold']}).", "",
                  "![detector precision-recall on ic15 val](docs/images/detector-pr.png)"]
    if "breakdown" in data:
        bins = data["breakdown"]["recall_by_height"]
        boxes = data["breakdown"]["boxes"]
        lines += ["", "Where the detector fails, at its card threshold (word height in "
                  "1280x720 frame pixels):", "",
                  "| word height | " + " | ".join(
                      f"{b['min']}-{b['max']} px" if b["max"] < 10_000 else f">= {b['min']} px"
                      for b in bins) + " |",
                  "|---" * (len(bins) + 1) + "|",
                  "| words | " + " | ".join(str(b["words"]) for b in bins) + " |",
                  "| recall | " + " | ".join(f"{b['recall']:.2f}" for b in bins) + " |"]
        if "tilted" in bins[0]:
            lines += ["| tilted > 15 degrees | " + " | ".join(
                          f"{b['tilted']:.2f}" for b in bins) + " |",
                      "| matchable by an axis-aligned box | " + " | ".join(
                          f"{b['boxable']:.2f}" for b in bins) + " |"]
        lines += ["",
                  f"Of its boxes {boxes['hit']:.0%} match a word, {boxes['partial']:.0%} "
                  f"overlap one by IoU 0.1-0.5 (a fragment of a word or several words in one "
                  f"box) and {boxes['background']:.0%} are on background."]
        if "recall_48px_and_taller" in data:
            lines[-1] += (f" Recall of words 48 px and taller: "
                          f"{data['recall_48px_and_taller']:.2f} (target >= 0.6).")
        edges = data["breakdown"].get("edges", {})
        if edges.get("words"):
            lines[-1] += (f" Box edges of the found words, median, in word heights inside the "
                          f"word (along and across its text): left {edges['median_left']:.2f}, "
                          f"right {edges['median_right']:.2f}, top {edges['median_top']:.2f}, "
                          f"bottom {edges['median_bottom']:.2f}; "
                          f"{edges['cut_either']:.1%} of them cut more than a quarter of a "
                          f"height off an end (target <= 5%).")
            if edges.get("cut_by_aspect"):
                from engocr.train.metrics import band_label

                lines[-1] += " By the word's length over its height: " + ", ".join(
                    f"{band_label(b)} {b['cut_either']:.0%} of {b['words']}"
                    for b in edges["cut_by_aspect"] if b["words"]) + "."
        angles = data["breakdown"].get("angles", {})
        if angles.get("words"):
            lines[-1] += (f" Their boxes' tilt is off by {angles['mean_error']:.1f} degrees on "
                          f"average, {angles['tilted_mean_error']:.1f} on the "
                          f"{angles['tilted_words']} words tilted more than 15 degrees.")
    if "misread" in data:
        card, fixed = data["misread"]["card"], data["misread"]["fixed"]
        lines += ["", f"Of the {card['found']} words it finds, the recognizer reads "
                  f"{card['read']:.0%} with the card's crop margins (x {card['pad_x']}, y "
                  f"{card['pad_y']} box heights, chosen on training images) against "
                  f"{fixed['read']:.0%} with the former fixed 0.12"
                  + (f", and reads {card['end_lost']:.1%} with letters missing at an end only "
                     "(\"JOINT\" read \"OINT\")" if "end_lost" in card else "")
                  + ". Of those it misreads, it "
                  f"reads {card['misread_truth_box_reads']:.0%} correctly from the word's own "
                  f"box ({fixed['misread_truth_box_reads']:.0%} with fixed margins): the share "
                  "of misreadings that is the box's fault."]
    return "\n".join(lines)


def peers_section(data: dict) -> str:
    lines = [_measured(data) + f" on {_cpu(data)}, "
             f"{data['threads']} threads for every system, {data['images']} ic15 validation "
             "frames (1280x720).", "",
             "| system | boxes | det H | e2e F | IIIT5K | SVT | ms/frame | FPS | "
             "engocr speed-up |", "|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        when = r.get("measured", data["date"])
        system = r["system"] + (f" (measured {when}, not installed since)"
                                if when != data["date"] else "")
        lines.append(f"| {system} | {r['boxes']} | {r['det_h']:.3f} | {r['e2e_f']:.3f} | "
                     f"{100 * r['word_acc_iiit5k_test']:.1f}% | "
                     f"{100 * r['word_acc_svt_test']:.1f}% | {r['ms_per_frame']:.1f} | "
                     f"{r['fps']:.2f} | {r['engocr_speedup']:.1f}x |")
    lines += ["", "![speed against accuracy](docs/images/speed-accuracy.png)"]
    return "\n".join(lines)


def tracking_section(data: dict) -> str:
    lines = [_measured(data) + f" ({data['frames']} "
             "frames panned, zoomed and shaken over ic15 validation images).", "",
             "| tracking | FPS | e2e F | flicker | recognizer calls/frame |",
             "|---|---|---|---|---|"]
    for r in data["rows"]:
        name = "off" if not r["tracking"] else f"on, detector every {r['det_every']}"
        lines.append(f"| {name} | {r['fps']:.1f} | {r['e2e_f']:.3f} | {r['flicker']:.3f} | "
                     f"{r['rec_calls_per_frame']:.2f} |")
    return "\n".join(lines)


def rec_heads_section(data: dict) -> str:
    names = {"conv": "dilated 1-D conv", "bilstm": "BiLSTM {h} (unrolled)",
             "bigru": "BiGRU {h} (unrolled)", "bilstm-fused": "BiLSTM {h} (fused LSTM op)"}
    bodies = {"vgg": "VGG-lite", "mobile": "depthwise-separable"}
    lines = [_measured(data) + f" on {_cpu(data)} (float "
             f"TFLite, {data['threads']} threads; untrained weights: latency and size only).", "",
             "| body | head | parameters | size | ms batch 1 / 8 / 16 |", "|---|---|---|---|---|"]
    for r in data["rows"]:
        shipped = " (shipped)" if (r.get("body", "vgg"), r["head"]) == ("vgg", "conv") else ""
        head = names[r["head"]].format(h=r["hidden"])
        lines.append(f"| {bodies[r.get('body', 'vgg')]} | {head}{shipped} | "
                     f"{r['params'] // 1000} k | "
                     f"{r['size_mb']:.1f} MB | {r['ms_batch1']:.2f} / {r['ms_batch8']:.1f} / "
                     f"{r['ms_batch16']:.1f} |")
    return "\n".join(lines)


def rec_widths_section(data: dict) -> str:
    lines = [_measured(data) + f" on {_cpu(data)} (TFLite at {data['threads']} threads for a "
             "batch of 16 crops; training samples/s of the real step on random inputs, batch "
             "32, TensorFlow without XLA; untrained weights).", "",
             "| body | block widths, head | parameters | M multiply-adds a crop | "
             "ms float32 / dynamic | training samples/s |", "|---|---|---|---|---|---|"]
    for r in data["rows"]:
        lines.append(f"| {r['name']} | {', '.join(map(str, r['widths']))}; {r['hidden']} | "
                     f"{r['params'] // 1000} k | {r['mmac_per_crop']:.0f} | "
                     f"{r['ms_batch16_float32']:.1f} / {r['ms_batch16_dynamic']:.1f} | "
                     f"{r['train_samples_per_s']:.0f} |")
    return "\n".join(lines)


def det_postprocess_section(data: dict) -> str:
    lines = [_measured(data) + f": the shipped detector "
             f"at its card threshold ({data['threshold']}), H-mean on the first "
             f"{data['train_images']} ic15 training images (where the setting is chosen) and on "
             "validation.", "",
             "| NMS IoU | merge | H-mean train | H-mean val |", "|---|---|---|---|"]
    best = max(data["rows"], key=lambda r: r["train"]["hmean"])
    card = data.get("card", {})
    extend = card.get("box_extend", 0.0)
    for r in data["rows"]:
        if r.get("box_extend", 0.0) != extend:
            continue
        merge = f"weighted, IoU > {r['merge_iou']}" if r["merge_iou"] else "off (plain NMS)"
        mark = "**" if r is best else ""
        shipped = " (card)" if all(card.get(k) == r[k] for k in ("nms_iou", "merge_iou")) \
            else ""
        lines.append(f"| {r['nms_iou']}{shipped} | {merge} | {mark}{r['train']['hmean']:.3f}"
                     f"{mark} | {r['val']['hmean']:.3f} |")
    lengthened = [r for r in data["rows"] if "box_extend" in r and
                  all(card.get(k) == r[k] for k in ("nms_iou", "merge_iou"))]
    if lengthened:
        lines += ["", f"Box ends lengthened along the text (x box height, each end), at the "
                  f"card's NMS and merge (rows above: {extend}):", "",
                  "| extension | H-mean train | H-mean val |", "|---|---|---|"]
        lines += [f"| {r['box_extend']}{' (card)' if r['box_extend'] == extend else ''} | "
                  f"{r['train']['hmean']:.3f} | {r['val']['hmean']:.3f} |" for r in lengthened]
    return "\n".join(lines)


def soak_section(data: dict) -> str:
    points = ", ".join(f"{s['frame']:,}: {s['rss_mb']:.0f}" for s in data["samples"])
    return "\n".join([
        _measured(data) + f": {data['frames']:,} frames of the demo scene through tracking and "
        f"every output at {data['fps']} FPS.", "",
        f"Resident memory (MB) by frame: {points}. Highest in the first quarter "
        f"{data['rss_first_quarter_mb']:.0f} MB, in the last "
        f"{data['rss_last_quarter_mb']:.0f} MB."])


def backbones_section(data: dict) -> str:
    lines = [_measured(data) + f": ic15 validation H-mean of each detector run within "
             f"{data['hours']:g} hours of its own training clock (best evaluation so far), from "
             "its `metrics.csv`.", "",
             f"| run | backbone | H within {data['hours']:g} h | samples/s | best H (hours) |",
             "|---|---|---|---|---|"]
    for r in data["runs"]:
        at = "-" if r["hmean_at_equal_time"] is None else f"{r['hmean_at_equal_time']:.3f}"
        lines.append(f"| {r['run']} | {r['backbone']} | {at} | {r['samples_per_s']} | "
                     f"{r['best_hmean_overall']:.3f} ({r['hours_overall']:.2f} h) |")
    lines += ["", "![H-mean against training hours](docs/images/det-backbones.png)"]
    return "\n".join(lines)


def train_backends_section(data: dict) -> str:
    lines = [_measured(data) + ": the trainers' own step on random inputs, after warm-up "
             "(the recognizer: shipped body, batch 32 crops; the detector: MobileNetV1 0.5, "
             "384x288 windows, batch 8).", "",
             "| model | backend (device) | samples/s | first step (compile), s |",
             "|---|---|---|---|"]
    for r in data["rows"]:
        lines.append(f"| {r['model']} | {r['device']} | {r['samples_per_s']:.1f} | "
                     f"{r['first_step_s']:.1f} |")
    return "\n".join(lines)


def library_section(data: dict) -> str:
    m = data["machine"]
    lines = [_measured(data) + f" on {m['cpu']}, {m['cores']} cores."]
    if "index" in data:
        v = data["videos"]
        lines += ["", f"Indexing {v['count']} videos of {v['seconds_each']:g} s ({v['size']}, "
                  f"{v['fps']} fps, the demo scene), wall time from the call, Reader start-up "
                  "included:", "",
                  "| engine | workers | frames/s | hours of video per hour | wall s |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['engine']} | {r['workers']} | {r['fps']:.1f} | "
                  f"{r['video_hours_per_hour']:.1f} | {r['wall_s']:.1f} |" for r in data["index"]]
    if "engines" in data:
        lines += ["", "Engines on this machine, 2 worker processes, no-op tasks:", "",
                  "| engine | cluster start s | ms a task (batch) | round trip ms | "
                  "installed MB |", "|---|---|---|---|---|"]
        lines += [f"| {r['engine']} {r['version']} | {r['startup_s']:.2f} | "
                  f"{r['batch_ms_per_task']:.2f} | {r['round_trip_ms_median']:.2f} | "
                  f"{r['installed_mb']} |" for r in data["engines"] if "skipped" not in r]
    if "search" in data:
        s = data["search"]
        lines += ["", f"Search over {s['rows']:,} generated rows (one word each, by frequency "
                  "in English), 20 hits a query:", "",
                  "| query | median ms | p95 ms | example |", "|---|---|---|---|"]
        lines += [f"| {kind} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | `{r['example']}` |"
                  for kind, r in s["kinds"].items()]
    return "\n".join(lines)


def closeups_section(data: dict) -> str:
    lines = [_measured(data) + "."]
    if "closeups" in data:
        c = data["closeups"]
        bins = c["by_height"]
        lines += ["", f"{c['windows']} close-ups (640x480 windows of ic15 validation photos, "
                  "a word 10-40% of the frame high), default settings:", "",
                  "| figure | value | target |", "|---|---|---|",
                  f"| detection P / R / H | {c['precision']:.3f} / {c['recall']:.3f} / "
                  f"{c['hmean']:.3f} | |",
                  f"| end-to-end P / R / F | {c['e2e_precision']:.3f} / {c['e2e_recall']:.3f} "
                  f"/ **{c['e2e_hmean']:.3f}** | F >= 0.55 |", "",
                  "| word height | " + " | ".join(
                      f"{b['min']}-{b['max']} px" if b["max"] < 10_000 else f">= {b['min']} px"
                      for b in bins) + " |",
                  "|---" * (len(bins) + 1) + "|",
                  "| words | " + " | ".join(str(b["words"]) for b in bins) + " |",
                  "| recall | " + " | ".join(f"{b['recall']:.2f}" for b in bins) + " |",
                  "| read end to end | " + " | ".join(f"{b['e2e_recall']:.2f}" for b in bins)
                  + " |"]
    if "sign" in data:
        sign = data["sign"]
        lines += ["", f"Synthetic sign held up to a camera ({sign['frames']} frames; it moves, "
                  "tilts and comes closer), share of frames each word is read exactly "
                  "(target >= 90%): " + ", ".join(f"{w} {100 * v:.0f}%"
                                                  for w, v in sign["read_share"].items()) + "."]
    return "\n".join(lines)


def cut_words_section(data: dict) -> str:
    kinds = data["kinds"]
    ink, margin = kinds["ink"], kinds["margin"]
    lost = data["lost_an_end"]
    return "\n".join([
        _measured(data) + f" (ic15 validation, the {data['found']} words the shipped detector "
        "finds): where the words cut more than a quarter of a height at an end are cut.", "",
        f"- {ink['share']:.1%} have an end that far inside the word's own ink (its first and last "
        f"ink columns at the card's ink level {data['end_ink']}); the recognizer reads "
        f"{ink['read']:.0%} of them.",
        f"- {margin['share']:.1%} are cut only inside the annotation's blank margin past the ink; "
        f"it reads {margin['read']:.0%} of them, against {kinds['whole']['read']:.0%} of the "
        "words not cut.",
        f"- {len(lost)} found words ({len(lost) / max(data['found'], 1):.1%}) are read with "
        "letters missing at an end only: " + ", ".join(f"{t} -> {r}" for t, r in lost[:8])
        + (f" and {len(lost) - 8} more" if len(lost) > 8 else "") + "."])


# README section -> (benchmark script and results name, renderer of its results).
SECTIONS = {"speed": ("speed", speed_section), "accuracy": ("accuracy", accuracy_section),
            "peers": ("peers", peers_section), "tracking": ("video_tracking", tracking_section),
            "rec_heads": ("rec_heads", rec_heads_section),
            "rec_widths": ("rec_widths", rec_widths_section),
            "det_postprocess": ("det_postprocess", det_postprocess_section),
            "soak": ("soak", soak_section), "det_backbones": ("det_backbones", backbones_section),
            "train_backends": ("train_backends", train_backends_section),
            "library": ("library", library_section),
            "closeups": ("closeups", closeups_section),
            "cut_words": ("cut_words", cut_words_section)}


def section(results: str, fn) -> str:
    """A section from `benchmarks/results/<results>.json`, or how to measure it."""
    data = _load(results)
    return fn(data) if data else f"_not measured yet: `python benchmarks/{results}.py`_"


def render(readme: str) -> str:
    for name, (results, fn) in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        text = section(results, fn)
        readme = pattern.sub(lambda m, text=text: m.group(1) + text + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", action="store_true", help="run every benchmark first")
    args = p.parse_args(argv)
    if args.run:
        from benchmarks import (
            accuracy,
            closeups,
            cut_words,
            det_postprocess,
            peers,
            rec_heads,
            speed,
            video_tracking,
        )

        speed.main([])
        rec_heads.main([])
        det_postprocess.main([])
        accuracy.main([])
        cut_words.main([])
        closeups.main([])
        video_tracking.main([])
        peers.main([])
    README.write_text(render(README.read_text()))
    print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
