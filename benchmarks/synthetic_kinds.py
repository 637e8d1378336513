"""Recognizers on synthetic words of one kind at a time: plain, bent, oblique, on a circle,
steeply foreshortened, LED, faint, embossed, and short (at most four characters). Each kind
is rendered by the project's generator (`SynthCrops`) with only that style on, from a fixed
seed that no training run uses, and read through the runtime's TFLite path (the card's
narrow-crop reading, with and without its word list).

The shipped recognizers trained on these styles (the mixer on all of them, its predecessor on
bent and oblique words), so this says how each handles a kind, not how it does on held-out
photographs of it (the real sets are in `benchmarks/accuracy.py`).

    python benchmarks/synthetic_kinds.py [--rec-model A.tflite B.tflite ...] [--words 300]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

# Every style off but the kind's own (the generator's defaults bend 15% and tilt 25%).
PLAIN = {"curved_p": 0.0, "oblique_p": 0.0}
KINDS = {
    "plain": PLAIN,
    "bent": {**PLAIN, "curved_p": 1.0},
    "oblique": {**PLAIN, "oblique_p": 1.0},
    "circle": {**PLAIN, "arc_p": 1.0},
    "steep": {**PLAIN, "steep_p": 1.0},
    "led": {**PLAIN, "led_p": 1.0},
    "faint": {**PLAIN, "faint_p": 1.0},
    "embossed": {**PLAIN, "emboss_p": 1.0},
}
SEED = 987_654


def kind_words(kind: str, n: int) -> list:
    """`n` synthetic crops of one kind (`short`: words of at most four characters)."""
    from engocr.train.data.synth import SynthCrops
    from engocr.train.reading_choice import short_synthetic_words

    if kind == "short":
        return short_synthetic_words(n, SEED)
    generator = SynthCrops(seed=SEED, **KINDS[kind])
    return [generator[i] for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    from engocr.realtime.reader import DEFAULT_RECOGNIZER
    from engocr.train.evaluate import read_logits, tflite_recognizer
    from engocr.train.metrics import recognition_scores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rec-model", type=Path, nargs="+", default=[DEFAULT_RECOGNIZER])
    p.add_argument("--words", type=int, default=300, help="words of each kind")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/synthetic_kinds.json"))
    args = p.parse_args(argv)
    recognizers = {str(m): tflite_recognizer(m, args.threads) for m in args.rec_model}
    rows = []
    for kind in (*KINDS, "short"):
        samples = kind_words(kind, args.words)
        crops, texts = [s.load() for s in samples], [s.text for s in samples]
        row = {"kind": kind, "words": len(texts)}
        for name, recognizer in recognizers.items():
            logits = recognizer.logits(crops)
            row[name] = {"word_acc": round(recognition_scores(
                             read_logits(recognizer, logits), texts)["word_acc"], 4),
                         "model_word_acc": round(recognition_scores(
                             read_logits(recognizer, logits, lexicon=False), texts)["word_acc"],
                             4)}
        rows.append(row)
        print(f"{kind:9s} " + "  ".join(f"{row[n]['word_acc']:.3f} ({row[n]['model_word_acc']:.3f})"
                                        for n in recognizers), flush=True)
    result = {"date": datetime.date.today().isoformat(),
              "command": "python benchmarks/synthetic_kinds.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "seed": SEED, "models": list(recognizers), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
