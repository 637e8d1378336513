"""Dictionary correction of the recognizer's readings.

A reading that is not an English word ("avallable", "1ondon") is compared with the words of a
word list within two edits. Each candidate is scored by the recognizer's own evidence: its CTC
log likelihood under the crop's output probabilities, letters counted without case. The best
candidate replaces the reading when it is at most `margin` nats less likely than the reading
itself; a name the model read confidently stays as read. The margin belongs to the model (its
outputs' sharpness), so it is chosen on validation crops at export and kept on its card.
"""

from __future__ import annotations

import gzip
import string
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engocr.errors import InputError
from engocr.realtime.kernels import (
    build_trie,
    ctc_candidate_scores,
    ctc_log_likelihood,
    trie_within,
)

DEFAULT_WORDS = Path(__file__).resolve().parent.parent / "assets" / "words.txt.gz"
_STRIP = string.punctuation + " "


def read_word_list(path: str | Path) -> list[str]:
    """Words of a text file (one or more per line, `.gz` allowed). A missing or unreadable file
    is the user's to fix: InputError."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8", errors="ignore").split()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read word list ({exc.strerror or exc})") from None


class Lexicon:
    """Words the corrections may produce, held as a padded code matrix for the numba kernels.

    Only words of ASCII letters are kept, lowercased; case is put back from the reading."""

    def __init__(self, words: Iterable[str], charset: str, blank: int = 0, margin: float = 4.0,
                 max_edits: int = 2, min_length: int = 2) -> None:
        vocab = sorted({w.lower() for w in words if w.isascii() and w.isalpha()})
        if not vocab:
            raise InputError("the word list holds no words of ASCII letters")
        self.words = vocab
        self.known = set(vocab)
        self.margin, self.max_edits, self.min_length = margin, max_edits, min_length
        self.blank = blank
        width = max(map(len, vocab))
        self.codes = np.zeros((len(vocab), width), np.uint8)
        self.lengths = np.array([len(w) for w in vocab], np.int32)
        for i, word in enumerate(vocab):
            self.codes[i, :len(word)] = np.frombuffer(word.encode("ascii"), np.uint8)
        self.trie = build_trie(self.codes, self.lengths)
        # the class of each ASCII code: the charset lists classes 1..N (0 where it lacks one)
        self.classes_of = np.zeros(256, np.int64)
        for i, ch in enumerate(charset):
            self.classes_of[ord(ch)] = i + 1
        self._lower = np.array([self.classes_of[ord(c)] for c in string.ascii_lowercase])
        self._upper = np.array([self.classes_of[ord(c)] for c in string.ascii_uppercase])
        if not (self._lower.all() and self._upper.all()):
            raise InputError("the lexicon needs a charset with both cases of every letter")

    @classmethod
    def load(cls, charset: str, blank: int, margin: float, paths: Iterable[str | Path] = ()
             ) -> Lexicon:
        """The shipped English word list plus the words of `paths` (the user's own terms)."""
        words = read_word_list(DEFAULT_WORDS)
        for path in paths:
            words += read_word_list(path)
        return cls(words, charset, blank, margin)

    def caseless_log_probs(self, logits: np.ndarray) -> np.ndarray:
        """(time, classes) logits -> log probabilities where each lowercase letter's class
        holds the probability of either case (the upper-case classes become impossible)."""
        z = logits.astype(np.float64)
        probs = np.exp(z - z.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        probs[:, self._lower] += probs[:, self._upper]
        probs[:, self._upper] = 0.0
        with np.errstate(divide="ignore"):
            return np.log(probs)

    def _classes(self, text: str) -> np.ndarray:
        return self.classes_of[np.frombuffer(text.lower().encode("ascii"), np.uint8)]

    def correct_one(self, text: str, logits: np.ndarray) -> str:
        """The reading, or the word that replaces it (see the module's docstring)."""
        core = text.strip(_STRIP)
        letters = sum(c.isalpha() for c in core)
        if (len(core) < self.min_length or not core.isalnum() or letters < len(core) - 1
                or not letters or core.lower() in self.known):
            return text  # a word already, a number or a code: left as read
        start = text.find(core)
        prefix, suffix = text[:start], text[start + len(core):]
        candidates, _ = trie_within(np.frombuffer(core.lower().encode("ascii"), np.uint8),
                                    *self.trie, self.max_edits)
        if not len(candidates):
            return text
        log_probs = self.caseless_log_probs(logits)
        scores = ctc_candidate_scores(log_probs, self._classes(prefix), self.codes, self.lengths,
                                      candidates, self._classes(suffix), self.classes_of,
                                      self.blank)
        best = int(np.argmax(scores))
        as_read = ctc_log_likelihood(log_probs, self._classes(text), self.blank)
        if scores[best] < as_read - self.margin:
            return text
        return prefix + _with_case_of(core, self.words[candidates[best]]) + suffix

    def correct(self, texts: list[str], logits: np.ndarray) -> list[str]:
        """Every reading of a batch, (batch, time, classes) logits beside it."""
        return [self.correct_one(t, row) for t, row in zip(texts, logits, strict=True)]


def _with_case_of(reading: str, word: str) -> str:
    """`word` in the reading's case: all capitals, a capital first, or lowercase."""
    letters = [c for c in reading if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return word.upper()
    if reading[:1].isupper():
        return word.capitalize()
    return word
