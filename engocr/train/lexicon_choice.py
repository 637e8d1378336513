"""The recognizer card's reading settings: `lexicon_margin`, how far (in nats of CTC log
likelihood) a dictionary word may score below a non-word reading and still replace it,
`lexicon_prior`, the nats a word gains per unit of its Zipf frequency, and `min_aspect`, the
width (x height) narrow crops are widened to. The first two depend on how sharp the model's
outputs are and the third on what its training crops looked like, so each export chooses them
together by word accuracy on the validation crops (ic15 images 901-1000), the set that also
picks the quantization; never on a test set."""

from __future__ import annotations

import numpy as np

from engocr.realtime.kernels import ctc_greedy_decode
from engocr.realtime.lexicon import Lexicon
from engocr.train.metrics import recognition_scores

# margin 0: no correction (the card's "off"), which takes no prior.
# min_aspect 0: crops as they are. 2.0 read 1.4-2.2 points more ic15 validation crops with two
# recognizers trained without it (session 26 of the training log).
ASPECT_GRID = (0.0, 1.5, 2.0, 2.5)
MARGIN_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
PRIOR_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


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


def best_reading(rows: list[dict], trained_aspect: float = 0.0) -> dict:
    """The row (`min_aspect`, `margin`, `prior` and scores) of the best word accuracy; among
    equals the aspect the model was trained with, then the smallest prior, then the smallest
    margin: the settings that change fewer readings."""
    return max(rows, key=lambda r: (r["word_acc"], r["min_aspect"] == trained_aspect,
                                    -r["prior"], -r["margin"]))
