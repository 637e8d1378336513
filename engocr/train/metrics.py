"""Scores used by training and evaluation alike (no TensorFlow)."""

from __future__ import annotations

from engocr.charset import protocol_text


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (characters)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def recognition_scores(predictions: list[str], truths: list[str]) -> dict:
    """word_acc: lowercase alphanumeric protocol; exact_acc: case and punctuation kept;
    cer: character error rate (exact strings)."""
    n = max(len(truths), 1)
    word = sum(protocol_text(p) == protocol_text(t) for p, t in zip(predictions, truths))
    exact = sum(p == t for p, t in zip(predictions, truths))
    chars = sum(len(t) for t in truths) or 1
    errors = sum(edit_distance(p, t) for p, t in zip(predictions, truths))
    return {"word_acc": word / n, "exact_acc": exact / n, "cer": errors / chars}
