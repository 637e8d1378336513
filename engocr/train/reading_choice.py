"""The recognizer card's reading settings, which each export chooses on validation crops (ic15
images 901-1000, the set that also picks the quantization; never on a test set):

- `lexicon_margin`, how far (in nats of CTC log likelihood) a dictionary word may score below
  a non-word reading and still replace it, and `lexicon_prior`, the nats a word gains per unit
  of its Zipf frequency. Both depend on how sharp the model's outputs are.
- `min_aspect` and `narrow_crops`: whether crops narrower than `min_aspect` x their height are
  widened to it, alone ("widen") or beside the crop as it is ("both", the surer reading kept).
  A sign seen from the side comes foreshortened and reads better widened; a short word
  ("IN", "$5") comes narrow too, and widening stretches it. Validation photos hold mostly the
  first kind, so a setting must also keep reading synthetic short words
  (`short_synthetic_words`) within `SHORT_WORD_SLACK` of the model as trained.
"""

from __future__ import annotations

import numpy as np

from engocr.realtime.kernels import ctc_greedy_decode
from engocr.realtime.lexicon import Lexicon
from engocr.train.metrics import recognition_scores

# margin 0: no correction (the card's "off"), which takes no prior.
MARGIN_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
PRIOR_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
# min_aspect 0: crops as they are. Widening to 2.0 read 1.4-2.2 points more ic15 validation
# crops with two recognizers trained without it (session 26 of the training log).
ASPECT_GRID = (0.0, 1.5, 2.0, 2.5)
NARROW_MODES = ("widen", "both")
SHORT_WORD_SLACK = 0.005  # 3 of 600 short words
SHORT_WORDS, SHORT_WORD_SEED, SHORT_WORD_LETTERS = 600, 515_151, 4


def lexicon_grid(logits: np.ndarray, truths: list[str], charset: str, blank: int = 0,
                 margins=MARGIN_GRID, priors=PRIOR_GRID) -> list[dict]:
    """Word accuracy, exact accuracy and CER of the readings of (n, time, classes) `logits`
    corrected at each margin and prior."""
    greedy = ctc_greedy_decode(logits, charset, blank)[0]
    lexicon = Lexicon.load(charset, blank, margin=0.0)
    rows = []
    for margin in margins:
        for prior in priors if margin > 0 else (0.0,):
            lexicon.margin, lexicon.prior = margin, prior
            texts = lexicon.correct(greedy, logits) if margin > 0 else greedy
            scores = recognition_scores(texts, truths)
            rows.append({"margin": margin, "prior": prior,
                         **{k: round(v, 4) for k, v in scores.items()}})
    return rows


def short_synthetic_words(n: int = SHORT_WORDS, seed: int = SHORT_WORD_SEED) -> list:
    """`n` synthetic crops ("default" style) of words of at most `SHORT_WORD_LETTERS`
    characters: narrow because they are short, not because they are foreshortened."""
    from engocr.train.data.synth import SynthCrops

    crops, generator, index = [], SynthCrops.styled("default", seed=seed), 0
    while len(crops) < n:
        sample = generator[index]
        index += 1
        if len(sample.text.strip()) <= SHORT_WORD_LETTERS:
            crops.append(sample)
    return crops


def narrow_settings(trained_aspect: float) -> list[tuple[float, str]]:
    """(min_aspect, narrow_crops) pairs to score: crops as they are, and each aspect of the
    grid (and the one the model was trained with) in both modes."""
    aspects = sorted({*ASPECT_GRID, trained_aspect} - {0.0})
    return [(0.0, "widen")] + [(a, mode) for a in aspects for mode in NARROW_MODES]


def best_reading(rows: list[dict], trained_aspect: float = 0.0) -> dict:
    """The row of the best validation word accuracy among those that read short synthetic
    words (`short_word_acc`, where given) within SHORT_WORD_SLACK of the model as trained
    (`trained_aspect`, widened); among equals the trained aspect, then "widen" (one read per
    crop), then the smallest prior, then the smallest margin: the settings that change
    fewer readings."""
    as_trained = [r for r in rows if r.get("min_aspect", 0.0) == trained_aspect
                  and r.get("narrow_crops", "widen") == "widen"]
    floor = max((r.get("short_word_acc", 0.0) for r in as_trained), default=0.0)
    kept = [r for r in rows if r.get("short_word_acc", 1.0) >= floor - SHORT_WORD_SLACK]
    return max(kept or rows, key=lambda r: (
        r["word_acc"], r.get("min_aspect", 0.0) == trained_aspect,
        r.get("narrow_crops", "widen") == "widen", -r["prior"], -r["margin"]))


def choose_reading(recognizer, samples: list, short: list, trained_aspect: float
                   ) -> tuple[dict, list[dict], list[dict]]:
    """(card settings, one row per narrow-crop setting with its best word-list row, the word
    list grid at the chosen setting) for a TFLite `recognizer` (evaluate.tflite_recognizer;
    its card is left as chosen) on validation `samples` and `short` words."""
    from engocr.train.evaluate import read_crops_tflite

    card = recognizer.card
    crops, texts = [s.load() for s in samples], [s.text for s in samples]
    short_crops, short_texts = [s.load() for s in short], [s.text for s in short]
    rows, grids = [], {}
    for aspect, mode in narrow_settings(trained_aspect):
        card.min_aspect, card.narrow_crops = aspect, mode
        short_acc = recognition_scores(read_crops_tflite(recognizer, short_crops, False),
                                       short_texts)["word_acc"] if short else 1.0
        grid = lexicon_grid(recognizer.logits(crops), texts, card.charset, card.blank_index)
        grids[aspect, mode] = grid
        rows += [{"min_aspect": aspect, "narrow_crops": mode, **row,
                  "short_word_acc": round(short_acc, 4)} for row in grid]
    best = best_reading(rows, trained_aspect)
    card.min_aspect, card.narrow_crops = best["min_aspect"], best["narrow_crops"]
    per_setting = [best_reading([r for r in rows if (r["min_aspect"], r["narrow_crops"])
                                 == setting], trained_aspect) for setting in grids]
    settings = {"min_aspect": best["min_aspect"], "narrow_crops": best["narrow_crops"],
                "lexicon_margin": best["margin"], "lexicon_prior": best["prior"]}
    return settings, per_setting, grids[best["min_aspect"], best["narrow_crops"]]
