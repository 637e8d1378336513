"""The recognizer card's `lexicon_margin`: how much less likely (in nats of CTC log likelihood)
a dictionary word may be than a non-word reading and still replace it. It depends on how sharp
the model's outputs are, so each export chooses it by word accuracy on the validation crops
(ic15 images 901-1000), the set that also picks the quantization; never on a test set."""

from __future__ import annotations

import numpy as np

from engocr.realtime.kernels import ctc_greedy_decode
from engocr.realtime.lexicon import Lexicon
from engocr.train.metrics import recognition_scores

# 0: no correction (the card's "off").
MARGIN_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)


def margin_grid(logits: np.ndarray, truths: list[str], charset: str, blank: int = 0,
                grid=MARGIN_GRID) -> list[dict]:
    """Word accuracy, exact accuracy and CER of the readings of (n, time, classes) `logits`
    corrected at each margin."""
    greedy = ctc_greedy_decode(logits, charset, blank)[0]
    lexicon = Lexicon.load(charset, blank, margin=0.0)
    rows = []
    for margin in grid:
        lexicon.margin = margin
        texts = lexicon.correct(greedy, logits) if margin > 0 else greedy
        scores = recognition_scores(texts, truths)
        rows.append({"margin": margin, **{k: round(v, 4) for k, v in scores.items()}})
    return rows


def best_margin(rows: list[dict]) -> float:
    """The margin of the best word accuracy (the smallest among equals: change fewer
    readings)."""
    return max(rows, key=lambda r: (r["word_acc"], -r["margin"]))["margin"]
