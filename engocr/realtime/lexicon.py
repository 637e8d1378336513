"""Dictionary correction of the recognizer's readings.

A reading that is not an English word ("avallable", "1ondon") is compared with the words of a
word list within two edits. Each candidate is scored by the recognizer's own evidence, its CTC
log likelihood under the crop's output probabilities (letters counted without case), plus
`prior` nats per unit of the word's Zipf frequency (log10 of its uses per billion words), so
that a common word beats a rare one the crop supports about as well. The best candidate
replaces the reading when it scores at most `margin` nats below the reading itself; a name the
model read confidently stays as read. With a prior, a reading that is a rare word ("sal") may
also give way to a common word one edit away ("sale") that outscores it. Margin and prior
belong to the model (its outputs' sharpness), so they are chosen on validation crops at export
and kept on its card.
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
# The Zipf frequency of a listed word that comes without one (the user's own terms): a fairly
# common word's, about one use in 100,000.
LISTED_WORD_ZIPF = 4.0
_STRIP = string.punctuation + " "


def read_word_list(path: str | Path) -> dict[str, float]:
    """Words of a text file (`.gz` allowed) with their Zipf frequencies: a line is words, or
    one word and its frequency written with a decimal point, 0.0-8.0 (the shipped list's
    "sale 4.99"; "gate 5" is two words); a word without one gets LISTED_WORD_ZIPF. A missing
    or unreadable file is the user's to fix: InputError."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read word list ({exc.strerror or exc})") from None
    words: dict[str, float] = {}
    for line in raw.decode("utf-8", errors="ignore").splitlines():
        tokens = line.split()
        if len(tokens) == 2 and _is_zipf(tokens[1]):
            _keep_commonest(words, tokens[0], float(tokens[1]))
        else:
            for token in tokens:
                _keep_commonest(words, token, LISTED_WORD_ZIPF)
    return words


def _keep_commonest(words: dict[str, float], word: str, zipf: float) -> None:
    """Adds `word` at frequency `zipf`; a word listed twice keeps its higher frequency."""
    words[word] = max(zipf, words.get(word, 0.0))


def _is_zipf(token: str) -> bool:
    try:
        return "." in token and 0.0 <= float(token) <= 8.0
    except ValueError:
        return False


class Lexicon:
    """Words the corrections may produce, held as a padded code matrix for the numba kernels.

    Only words of ASCII letters are kept, lowercased; case is put back from the reading.
    `words` maps each word to its Zipf frequency (a plain list: LISTED_WORD_ZIPF each)."""

    def __init__(self, words: dict[str, float] | Iterable[str], charset: str, blank: int = 0,
                 margin: float = 4.0, prior: float = 0.0, max_edits: int = 2,
                 min_length: int = 2) -> None:
        if not isinstance(words, dict):
            words = dict.fromkeys(words, LISTED_WORD_ZIPF)
        zipf: dict[str, float] = {}
        for word, frequency in words.items():
            if word.isascii() and word.isalpha():
                _keep_commonest(zipf, word.lower(), frequency)
        if not zipf:
            raise InputError("the word list holds no words of ASCII letters")
        vocab = sorted(zipf)
        self.words = vocab
        self.known = {w: i for i, w in enumerate(vocab)}  # each word's row
        self.zipf = np.array([zipf[w] for w in vocab])
        self._neighbour_cache: dict[str, np.ndarray] = {}
        self.margin, self.prior = margin, prior
        self.max_edits, self.min_length = max_edits, min_length
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
    def load(cls, charset: str, blank: int, margin: float, paths: Iterable[str | Path] = (),
             prior: float = 0.0) -> Lexicon:
        """The shipped English word list plus the words of `paths` (the user's own terms)."""
        words = read_word_list(DEFAULT_WORDS)
        for path in paths:
            for word, frequency in read_word_list(path).items():
                _keep_commonest(words, word, frequency)
        return cls(words, charset, blank, margin, prior)

    def caseless_log_probs(self, probs: np.ndarray) -> np.ndarray:
        """(time, classes) probabilities (`_probabilities`) -> log probabilities where each
        lowercase letter's class holds the probability of either case (the upper-case classes
        become impossible)."""
        probs = probs.copy()
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
                or not letters):
            return text  # a number or a code: left as read
        word = core.lower()
        known = word in self.known
        if known and self.prior <= 0:
            return text  # a word already
        probs = _probabilities(logits)
        if known:  # weighed only against its neighbours one edit away (itself among them)
            candidates = self._neighbours(word)
            if self._word_is_safe(word, candidates, probs):
                return text
        else:
            candidates, _ = trie_within(np.frombuffer(word.encode("ascii"), np.uint8),
                                        *self.trie, self.max_edits)
            if not len(candidates):
                return text
        start = text.find(core)
        prefix, suffix = text[:start], text[start + len(core):]
        log_probs = self.caseless_log_probs(probs)
        scores = ctc_candidate_scores(log_probs, self._classes(prefix), self.codes, self.lengths,
                                      candidates, self._classes(suffix), self.classes_of,
                                      self.blank) + self.prior * self.zipf[candidates]
        best = int(np.argmax(scores))
        if known:
            if self.words[candidates[best]] == word:
                return text
        elif scores[best] < ctc_log_likelihood(log_probs, self._classes(text),
                                               self.blank) - self.margin:
            return text
        return prefix + _with_case_of(core, self.words[candidates[best]]) + suffix

    def _neighbours(self, word: str) -> np.ndarray:
        """Indices of the listed words within one edit of a listed `word` (itself among them),
        remembered: a video reads the same words frame after frame."""
        found = self._neighbour_cache.get(word)
        if found is None:
            found = trie_within(np.frombuffer(word.encode("ascii"), np.uint8), *self.trie, 1)[0]
            self._neighbour_cache[word] = found
        return found

    def _word_is_safe(self, word: str, neighbours: np.ndarray, probs: np.ndarray) -> bool:
        """Whether no neighbour can outscore a reading that is a listed word, so that scoring
        them can be skipped (most readings of a clear frame). The readings' probabilities sum
        to at most 1 and the reading's is at least its greedy path's, p; a neighbour's
        likelihood is therefore at most 1 - p, and its prior gain at most that of the
        commonest neighbour over this word."""
        log_p = float(np.log(probs.max(-1)).sum())
        if log_p >= 0:
            return True
        gain = self.prior * (self.zipf[neighbours].max() - self.zipf[self.known[word]])
        return log_p > np.log1p(-np.exp(log_p)) + gain

    def correct(self, texts: list[str], logits: np.ndarray) -> list[str]:
        """Every reading of a batch, (batch, time, classes) logits beside it."""
        return [self.correct_one(t, row) for t, row in zip(texts, logits, strict=True)]


def _probabilities(logits: np.ndarray) -> np.ndarray:
    """(time, classes) logits -> softmax probabilities, in float64."""
    z = logits.astype(np.float64)
    probs = np.exp(z - z.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True)


def _with_case_of(reading: str, word: str) -> str:
    """`word` in the reading's case: all capitals, a capital first, or lowercase."""
    letters = [c for c in reading if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return word.upper()
    if reading[:1].isupper():
        return word.capitalize()
    return word
