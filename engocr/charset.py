"""The recognizer's alphabet: printable ASCII (space included), case-sensitive, plus CTC blank.

Class 0 is the CTC blank so that a model whose output collapses to "all blank"
reads as the empty string, which is easy to spot in logs.
"""

from __future__ import annotations

import string

CHARSET: str = " " + string.digits + string.ascii_letters + string.punctuation
BLANK: int = 0
NUM_CLASSES: int = len(CHARSET) + 1
_INDEX = {c: i + 1 for i, c in enumerate(CHARSET)}

# Common non-ASCII characters in real labels, mapped to their nearest ASCII form.
_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "€": "E",
                       "£": "L", "é": "e", "è": "e", "É": "E", "á": "a", "ü": "u", "ö": "o",
                       "ä": "a", "ñ": "n", "ç": "c", "°": "o", "×": "x", "\u00a0": " "})


def normalize_text(text: str) -> str:
    """Fold a label into the charset; characters with no ASCII form are dropped."""
    return "".join(c for c in text.translate(_FOLD) if c in _INDEX)


def encode(text: str) -> list[int]:
    """Label string to class indices (1-based; 0 is the blank). Unknown characters raise."""
    return [_INDEX[c] for c in text]


def protocol_text(text: str) -> str:
    """The benchmark protocol's form: lowercase letters and digits only."""
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance in characters."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
