"""Words into lines of text, in reading order (top to bottom, each line left to right), by the
boxes' geometry alone; and fragments of one word (a detector that found "COLLEC" and
"LECTION", or those and "COLLECTION" too) merged back into the whole word. Transcripts and
`FrameResult.text` read what is on screen through these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, TypeVar


class Boxed(Protocol):
    box: tuple[float, float, float, float]
    text: str


W = TypeVar("W", bound=Boxed)

SAME_ROW = 0.5  # vertical overlap, as a share of the lower word, for two words to share a row
MAX_HEIGHT_RATIO = 2.0  # a word more than this much taller than a row's words is not in it
MAX_GAP = 1.5  # a horizontal gap wider than this many line heights starts a new line (word
# spaces are well under one height; two signs side by side are apart by more)
FRAGMENT_OVERLAP = 0.5  # share of the narrower box inside the other: one is part of the other


def _height(w: Boxed) -> float:
    return max(w.box[3] - w.box[1], 1e-6)


def _row_fits(word: Boxed, row: list[Boxed]) -> float:
    """How well a word sits in a row: its vertical overlap with the row's mean span as a share
    of the smaller height (0 when the heights are too far apart)."""
    top = sum(w.box[1] for w in row) / len(row)
    bottom = sum(w.box[3] for w in row) / len(row)
    h, rh = _height(word), max(bottom - top, 1e-6)
    if max(h, rh) / min(h, rh) > MAX_HEIGHT_RATIO:
        return 0.0
    return (min(word.box[3], bottom) - max(word.box[1], top)) / min(h, rh)


def text_lines(words: Sequence[W]) -> list[list[W]]:
    """Words grouped into lines in reading order: rows by vertical overlap, top to bottom; each
    row left to right, split where a gap is wider than `MAX_GAP` line heights (two columns,
    two signs side by side are two lines, left one first)."""
    rows: list[list[W]] = []
    for word in sorted(words, key=lambda w: (w.box[1] + w.box[3]) / 2):
        fits = [(_row_fits(word, row), i) for i, row in enumerate(rows)]
        best = max(fits, default=(0.0, -1))
        if best[0] >= SAME_ROW:
            rows[best[1]].append(word)
        else:
            rows.append([word])
    rows.sort(key=lambda row: sum(w.box[1] for w in row) / len(row))  # by their tops
    lines: list[list[W]] = []
    for row in rows:
        row.sort(key=lambda w: (w.box[0], -w.box[2]))  # one start: the wider (whole) word first
        height = sorted(_height(w) for w in row)[len(row) // 2]
        line = [row[0]]
        right = row[0].box[2]
        for word in row[1:]:
            if word.box[0] - right > MAX_GAP * height:
                lines.append(line)
                line = []
            line.append(word)
            right = max(right, word.box[2])
        lines.append(line)
    return lines


def _overlap_text(left: str, right: str) -> int:
    """Length of the longest end of `left` that starts `right` (case ignored), at least 2."""
    a, b = left.lower(), right.lower()
    for k in range(min(len(a), len(b)) - 1, 1, -1):
        if a.endswith(b[:k]):
            return k
    return 0


def _merged(a: W, b: W) -> W | None:
    """One word for two overlapping boxes on a line that read as parts of one word: the whole
    reading where one contains the other, the two joined where one's end starts the other
    ("COLLEC" + "LECTION" = "COLLECTION"); None when they are two words."""
    inside = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
    narrower = min(a.box[2] - a.box[0], b.box[2] - b.box[0])
    if inside <= 0 or narrower <= 0:
        return None
    ta, tb = a.text.lower(), b.text.lower()
    if inside >= FRAGMENT_OVERLAP * narrower and (ta in tb or tb in ta):
        text = a.text if len(a.text) >= len(b.text) else b.text
    elif (k := _overlap_text(a.text, b.text)) and a.box[0] <= b.box[0]:
        text = a.text + b.text[k:]
    else:
        return None
    box = (min(a.box[0], b.box[0]), min(a.box[1], b.box[1]),
           max(a.box[2], b.box[2]), max(a.box[3], b.box[3]))
    whole = a if len(a.text) >= len(b.text) else b
    return replace(whole, box=box, text=text)


def merge_fragments(line: Sequence[W]) -> list[W]:
    """A line (left to right) with the fragments of each word merged into the word."""
    out: list[W] = []
    for word in line:
        joined = _merged(out[-1], word) if out else None
        if joined is None:
            out.append(word)
        else:
            out[-1] = joined
    return out


def line_texts(words: Sequence[W]) -> list[tuple[str, list[W]]]:
    """Each line of text on screen in reading order, fragments merged: (text, its words)."""
    lines = [merge_fragments(line) for line in text_lines(words)]
    return [(" ".join(w.text for w in line), line) for line in lines]
