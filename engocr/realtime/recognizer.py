"""Word recognizer predictor: crops -> grayscale fixed-size batch -> TFLite CRNN -> numba CTC
greedy decode -> dictionary correction (optional) -> texts with confidences."""

from __future__ import annotations

import time

import numpy as np

from engocr.errors import InputError, ModelError
from engocr.preprocess import crop_to_input
from engocr.realtime.card import ModelCard, check_card
from engocr.realtime.engine import TFLiteEngine
from engocr.realtime.kernels import ctc_greedy_decode
from engocr.realtime.lexicon import Lexicon


class TextRecognizer:
    """Reads word crops in batches of at most `max_batch` (the batch dimension is resized to the
    number of crops, which measured faster than padding to a fixed size). With a `lexicon`,
    readings that are not words are corrected from the same outputs; the confidence stays the
    greedy reading's."""

    def __init__(self, engine: TFLiteEngine, card: ModelCard, max_batch: int = 16,
                 lexicon: Lexicon | None = None) -> None:
        check_recognizer(engine, card)
        self.engine, self.card = engine, card
        self.max_batch = max_batch
        self.lexicon = lexicon

    def __call__(self, crops: list[np.ndarray], timings: dict | None = None
                 ) -> tuple[list[str], np.ndarray]:
        texts: list[str] = []
        confs: list[np.ndarray] = []
        spent = dict.fromkeys(("rec_pre", "recognize", "ctc", "lexicon"), 0.0)
        for start in range(0, len(crops), self.max_batch):
            logits, chunk_texts, chunk_conf = self._read(crops[start:start + self.max_batch],
                                                         spent)
            t0 = time.perf_counter()
            if self.lexicon is not None:
                chunk_texts = self.lexicon.correct(chunk_texts, logits)
            spent["lexicon"] += time.perf_counter() - t0
            texts.extend(chunk_texts)
            confs.append(chunk_conf)
        if timings is not None:
            for stage, seconds in spent.items():
                if stage != "lexicon" or self.lexicon is not None:
                    timings[stage] = timings.get(stage, 0) + seconds * 1000
        return texts, (np.concatenate(confs) if confs else np.zeros(0, np.float32))

    def logits(self, crops: list[np.ndarray]) -> np.ndarray:
        """(n, time, classes) outputs for `crops`, narrow ones read as the card says: what
        the word list corrects from (evaluation and the export's choices read them)."""
        if not crops:
            return np.zeros((0, self.card.time_steps, len(self.card.charset) + 1), np.float32)
        return np.concatenate([self._read(crops[i:i + self.max_batch], {})[0]
                               for i in range(0, len(crops), self.max_batch)])

    def _read(self, chunk: list[np.ndarray], spent: dict) -> tuple[np.ndarray, list, np.ndarray]:
        """Logits, greedy texts and confidences of one batch. With the card's `narrow_crops`
        "both", a crop narrower than `min_aspect` x its height is read as it is and widened to
        that (one batch), and the surer reading kept: widening restores a foreshortened word
        (a sign seen from the side) but stretches a word that is short."""
        card = self.card
        h, w, aspect = card.input_height, card.input_width, card.min_aspect
        both = aspect > 0 and card.narrow_crops == "both"
        t0 = time.perf_counter()
        narrow = [i for i, c in enumerate(chunk) if c.shape[1] < aspect * c.shape[0]] if both \
            else []
        inputs = [crop_to_input(c, h, w, 0.0 if both else aspect) for c in chunk]
        inputs += [crop_to_input(chunk[i], h, w, aspect) for i in narrow]
        x = np.stack(inputs)[..., None].astype(np.float32)
        t1 = time.perf_counter()
        logits = self.engine.run(x)[0]
        t2 = time.perf_counter()
        texts, conf = ctc_greedy_decode(logits, card.charset, card.blank_index)
        n = len(chunk)
        for k, i in enumerate(narrow, start=n):
            if conf[k] > conf[i]:
                logits[i], texts[i], conf[i] = logits[k], texts[k], conf[k]
        spent["rec_pre"] = spent.get("rec_pre", 0.0) + t1 - t0
        spent["recognize"] = spent.get("recognize", 0.0) + t2 - t1
        spent["ctc"] = spent.get("ctc", 0.0) + time.perf_counter() - t2
        return logits[:n], texts[:n], conf[:n]


def check_recognizer(engine: TFLiteEngine, card: ModelCard) -> None:
    """The card must describe this model: input size, time steps and class count."""
    check_card(engine, card, "recognizer")
    name = engine.path
    out = engine.output_shapes[0]
    if len(out) != 3 or out[1] != card.time_steps or out[2] != len(card.charset) + 1:
        raise ModelError(f"{name}: output {out[1:]} does not match the card's "
                         f"{card.time_steps} steps x {len(card.charset) + 1} classes")
    if not card.charset.isascii():
        raise ModelError(f"{name}: the card's charset must be ASCII")


def card_lexicon(card: ModelCard, enabled: bool = True, words: tuple = ()) -> Lexicon | None:
    """The word list a recognizer reads with: the shipped one plus `words` (files of the user's
    own terms), at the card's margin and prior; None where it is turned off or the card has no
    margin (then `words` cannot be used, and saying so beats ignoring them)."""
    if card.lexicon_margin <= 0 and words:
        raise InputError("--words: this recognizer's card has no lexicon margin (export it "
                         "again with this version of engocr to choose one)")
    if not enabled or card.lexicon_margin <= 0:
        return None
    return Lexicon.load(card.charset, card.blank_index, card.lexicon_margin, words,
                        card.lexicon_prior)
