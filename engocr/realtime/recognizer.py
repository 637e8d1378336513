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
        h, w, aspect = self.card.input_height, self.card.input_width, self.card.min_aspect
        pre = infer = dec = lex = 0.0
        for start in range(0, len(crops), self.max_batch):
            t0 = time.perf_counter()
            chunk = crops[start:start + self.max_batch]
            x = np.stack([crop_to_input(c, h, w, aspect) for c in chunk])
            x = x[..., None].astype(np.float32)
            t1 = time.perf_counter()
            logits = self.engine.run(x)[0]
            t2 = time.perf_counter()
            chunk_texts, chunk_conf = ctc_greedy_decode(logits, self.card.charset,
                                                        self.card.blank_index)
            t3 = time.perf_counter()
            if self.lexicon is not None:
                chunk_texts = self.lexicon.correct(chunk_texts, logits)
            t4 = time.perf_counter()
            texts.extend(chunk_texts)
            confs.append(chunk_conf)
            pre, infer, dec, lex = pre + t1 - t0, infer + t2 - t1, dec + t3 - t2, lex + t4 - t3
        if timings is not None:
            timings["rec_pre"] = timings.get("rec_pre", 0) + pre * 1000
            timings["recognize"] = timings.get("recognize", 0) + infer * 1000
            timings["ctc"] = timings.get("ctc", 0) + dec * 1000
            if self.lexicon is not None:
                timings["lexicon"] = timings.get("lexicon", 0) + lex * 1000
        return texts, (np.concatenate(confs) if confs else np.zeros(0, np.float32))


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
