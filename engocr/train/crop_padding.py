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
              crops: list[tuple[float, float, bool]]) -> np.ndarray:
    """(len(crops), len(words)) booleans: read correctly from each kind of crop, (pad_x, pad_y,
    truth): those margins around the detector's box, or with `truth` around the word's own
    bounding box. Each scene is loaded once for all of them."""
    correct = np.zeros((len(crops), len(words)), bool)
    by_scene: dict[int, list[int]] = {}
    for k, word in enumerate(words):
        by_scene.setdefault(word.scene, []).append(k)
    for s, ks in by_scene.items():
        image = scenes[s].load()
        for m, (pad_x, pad_y, truth) in enumerate(crops):
            boxes = np.array([words[k].truth_box if truth else words[k].box for k in ks])
            cut_along = not truth and all(words[k].quad is not None for k in ks)
            quads = np.array([words[k].quad for k in ks]) if cut_along else None
            texts, _ = recognizer(crop_words(image, boxes, quads, pad_x, pad_y))
            for k, text in zip(ks, texts, strict=True):
                correct[m, k] = e2e_text(text) == e2e_text(words[k].text)
        scenes[s].release()
    return correct


def padding_grid(recognizer, scenes, words: list[FoundWord], pad_x=PAD_X_GRID,
                 pad_y=PAD_Y_GRID) -> list[dict]:
    """Share of the found words read correctly for every margin pair of the grid."""
    margins = [(x, y) for x in pad_x for y in pad_y]
    correct = _readings(recognizer, scenes, words, [(x, y, False) for x, y in margins])
    n = max(len(words), 1)
    return [{"pad_x": x, "pad_y": y, "read": round(float(c.sum()) / n, 4)}
            for (x, y), c in zip(margins, correct, strict=True)]


def best_padding(rows: list[dict]) -> tuple[float, float]:
    """The margin pair that reads the most words (the smaller margins on a tie)."""
    best = max(rows, key=lambda r: (r["read"], -r["pad_x"], -r["pad_y"]))
    return best["pad_x"], best["pad_y"]


def misread_breakdown(recognizer, scenes, words: list[FoundWord], pad_x: float,
                      pad_y: float) -> dict:
    """Of the words a detector found, the share read correctly; of those misread, the share
    the recognizer reads correctly from the word's own bounding box (same margins): that part
    of the misreading is the box's fault, the rest the recognizer's."""
    from_box, from_truth = _readings(recognizer, scenes, words,
                                     [(pad_x, pad_y, False), (pad_x, pad_y, True)])
    misread = ~from_box
    return {"found": len(words), "read": float(from_box.mean()) if len(words) else 0.0,
            "misread": int(misread.sum()),
            "misread_truth_box_reads": float(from_truth[misread].mean()) if misread.any()
            else 0.0}
