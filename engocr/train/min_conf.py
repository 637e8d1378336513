"""The confidence below which a reading is not reported, chosen by end-to-end F on training
images: a word read wrongly counts against precision and reads nothing useful to a user, so a
reading the recognizer is unsure of may be better left out. Chosen with the detector shipped at
the time (the export of the recognizer), never on validation."""

from __future__ import annotations

from engocr.train.metrics import detection_scores

CONF_GRID = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def readings(reader, scenes) -> tuple[list, list]:
    """Every reading of `reader` (its `min_conf` set to 0 for the call) as (quad, text, conf)
    per scene, and the ground truth per scene."""
    def frames():
        for scene in scenes:
            yield scene.load(), [(w.quad, w.text, w.ignore) for w in scene.words]
            scene.release()

    return frame_readings(reader, frames())


def frame_readings(reader, frames) -> tuple[list, list]:
    """`readings` of (frame, ground truth) pairs: frames made on the fly, as the close-ups."""
    saved, reader.min_conf = reader.min_conf, 0.0
    try:
        found, truth = [], []
        for frame, words in frames:
            found.append([(w.quad, w.text, w.conf) for w in reader.read(frame).words])
            truth.append(words)
    finally:
        reader.min_conf = saved
    return found, truth


def reported_scores(found: list, truth: list, min_conf: float) -> tuple[dict, list[dict]]:
    """From `readings`' output: detection P/R/H of every box read, end-to-end P/R/F of the
    readings at least `min_conf` sure (what the Reader reports), and what those find and read
    by word height. The benchmarks' one way of scoring the runtime end to end."""
    from engocr.train.metrics import recall_by_height

    scores = detection_scores([[(q, t) for q, t, _ in scene] for scene in found], truth)
    (reported,) = conf_grid(found, truth, grid=(min_conf,))
    scores.update({k: v for k, v in reported.items() if k.startswith("e2e_")})
    kept = [[(q, t) for q, t, c in scene if c >= min_conf] for scene in found]
    return scores, recall_by_height(kept, truth)


def conf_grid(found: list, truth: list, grid=CONF_GRID) -> list[dict]:
    """End-to-end P/R/F when readings below each confidence are dropped."""
    rows = []
    for t in grid:
        kept = [[(q, text) for q, text, conf in scene if conf >= t] for scene in found]
        scores = detection_scores(kept, truth)
        rows.append({"min_conf": t, **{k: round(scores[k], 4) for k in
                                       ("e2e_precision", "e2e_recall", "e2e_hmean")}})
    return rows


def best_min_conf(rows: list[dict]) -> float:
    """The threshold of the best end-to-end F (the lowest among equals: keep more words)."""
    return max(rows, key=lambda r: (r["e2e_hmean"], -r["min_conf"]))["min_conf"]
