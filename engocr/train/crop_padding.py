"""How much margin the recognizer's crop needs around a detector box, chosen by what the
recognizer then reads (not by IoU): a detector whose boxes clip the first and last letters
("Regulating" -> "egulatin") is matched by the ICDAR protocol yet misread.

The words measured are the detector's boxes that match a readable word (IoU > 0.5) at the
card's threshold; each margin pair is scored by how many of them the recognizer reads as the
end-to-end protocol compares texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engocr.realtime.reader import crop_words
from engocr.train.metrics import ImageMatcher, e2e_text

# Margins in box heights: left/right, top/bottom.
PAD_X_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
PAD_Y_GRID = (0.0, 0.1, 0.2, 0.3)


@dataclass
class FoundWord:
    """A readable word that a detector box matched: the box, the word's own bounding box (the
    ground truth) and its text."""

    scene: int
    box: np.ndarray  # x1, y1, x2, y2 of the detector's box
    truth_box: np.ndarray  # bounds of the word's quad
    text: str
    quad: np.ndarray | None = None  # the detector's quad (4, 2): cut along it where tilted


def found_words(found: tuple[list, list, list]) -> list[FoundWord]:
    """The matched words of one threshold of `detections_by_threshold` (quads, scores, ground
    truth per scene)."""
    words = []
    for i, (quads, _, gts) in enumerate(zip(*found, strict=True)):
        matcher = ImageMatcher(quads, [g[0] for g in gts], [g[2] for g in gts])
        for p, g in matcher.match()[0]:
            pred = np.asarray(quads[p], np.float32).reshape(-1, 2)
            true = np.asarray(gts[g][0], np.float32).reshape(-1, 2)
            words.append(FoundWord(i, np.concatenate([pred.min(0), pred.max(0)]),
                                   np.concatenate([true.min(0), true.max(0)]), gts[g][1],
                                   pred))
    return words


def _readings(recognizer, scenes, words: list[FoundWord],
              crops: list[tuple[float, float, bool]]) -> list[list[str]]:
    """What the recognizer reads from each kind of crop of every word (`len(crops)` lists of
    `len(words)` texts), (pad_x, pad_y, truth): those margins around the detector's box, or
    with `truth` around the word's own bounding box. Each scene is loaded once for all of
    them."""
    texts = [[""] * len(words) for _ in crops]
    by_scene: dict[int, list[int]] = {}
    for k, word in enumerate(words):
        by_scene.setdefault(word.scene, []).append(k)
    for s, ks in by_scene.items():
        image = scenes[s].load()
        for m, (pad_x, pad_y, truth) in enumerate(crops):
            boxes = np.array([words[k].truth_box if truth else words[k].box for k in ks])
            cut_along = not truth and all(words[k].quad is not None for k in ks)
            quads = np.array([words[k].quad for k in ks]) if cut_along else None
            read, _ = recognizer(crop_words(image, boxes, quads, pad_x, pad_y))
            for k, text in zip(ks, read, strict=True):
                texts[m][k] = text
        scenes[s].release()
    return texts


def _correct(texts: list[str], words: list[FoundWord]) -> np.ndarray:
    """Which of `texts` read their word as the end-to-end protocol compares texts."""
    return np.array([e2e_text(t) == e2e_text(w.text) for t, w in zip(texts, words, strict=True)],
                    bool)


def lost_an_end(read: str, truth: str) -> bool:
    """True where a reading is its word with letters missing at the start or end only
    ("JOINT" read "OINT", "Storage" read "Storag"): the mark of a box that cut its word."""
    r, t = e2e_text(read), e2e_text(truth)
    return bool(r) and len(r) < len(t) and r in t


def padding_grid(recognizer, scenes, words: list[FoundWord], pad_x=PAD_X_GRID,
                 pad_y=PAD_Y_GRID) -> list[dict]:
    """Share of the found words read correctly for every margin pair of the grid."""
    margins = [(x, y) for x in pad_x for y in pad_y]
    texts = _readings(recognizer, scenes, words, [(x, y, False) for x, y in margins])
    n = max(len(words), 1)
    return [{"pad_x": x, "pad_y": y, "read": round(float(_correct(t, words).sum()) / n, 4)}
            for (x, y), t in zip(margins, texts, strict=True)]


def best_padding(rows: list[dict]) -> tuple[float, float]:
    """The margin pair that reads the most words (the smaller margins on a tie)."""
    best = max(rows, key=lambda r: (r["read"], -r["pad_x"], -r["pad_y"]))
    return best["pad_x"], best["pad_y"]


def misread_breakdown(recognizer, scenes, words: list[FoundWord], pad_x: float,
                      pad_y: float) -> dict:
    """Of the words a detector found, the share read correctly, and the share read with
    letters missing at an end only (`lost_an_end`: what a box that cuts its word costs); of
    those misread, the share the recognizer reads correctly from the word's own bounding box
    (same margins): that part of the misreading is the box's fault, the rest the
    recognizer's."""
    from_box, from_truth = _readings(recognizer, scenes, words,
                                     [(pad_x, pad_y, False), (pad_x, pad_y, True)])
    read, read_truth = _correct(from_box, words), _correct(from_truth, words)
    misread = ~read
    n = max(len(words), 1)
    return {"found": len(words), "read": float(read.sum()) / n,
            "end_lost": sum(lost_an_end(t, w.text) for t, w in zip(from_box, words,
                                                                  strict=True)) / n,
            "misread": int(misread.sum()),
            "misread_truth_box_reads": float(read_truth[misread].mean()) if misread.any()
            else 0.0}
