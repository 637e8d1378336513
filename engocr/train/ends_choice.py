"""How far the detector's box ends may move to where its end head reads them (the card's
`end_head_reach`, `engocr.realtime.end_head`), then to where a word's ink ends (the card's
`end_reach`, `end_gap` and `end_ink`; `engocr.realtime.box_ends`), with the crop margin left
and right of the boxes, chosen together by end-to-end F on training images with the
recognizer that reads the boxes: the point of longer boxes is letters read, a box pushed into
clutter or a neighbour costs readings, and a box that holds its word whole needs less margin
(on the shipped models: moved ends read best with none, boxes as decoded with 0.1 heights).
Never chosen on validation.

The detector runs once per image and head reach (`detect_scenes`); each ink setting then moves
the ends, crops and reads."""

from __future__ import annotations

from engocr.train.metrics import detection_breakdown, detection_scores

REACHES = (0.0, 0.3, 0.5, 0.8)  # word heights an end may move (0: off)
GAPS = (0.15, 0.25)  # word heights of blank columns that end a word
INKS = (0.3, 0.45, 0.6)  # a column's brightness spread under this x the word's is blank
PAD_XS = (0.0, 0.1, 0.2)  # crop margins (x box height) each setting is read with
# A detector with an end head (card `end_head`): how far its reading may move an end, tried
# under every setting above (0: the head is not used).
HEAD_REACHES = (0.0, 0.5, 0.8, 1.2)


def _settings(reaches, gaps, inks) -> list[tuple[float, float, float]]:
    """(reach, gap, ink) of the grid; reach 0 once (the others do nothing then)."""
    return [(0.0, gaps[0], inks[0])] * (0.0 in reaches) + [
        (r, g, i) for r in reaches if r > 0 for g in gaps for i in inks]


def detect_scenes(reader, scenes) -> tuple[list, list]:
    """(frame, the reader's detections with the box ends off) and the ground truth per scene:
    the detector's share, run once for every setting that moves the ends afterwards."""
    card = reader.detector.card
    saved, card.end_reach = card.end_reach, 0.0
    detected, truth = [], []
    try:
        for scene in scenes:
            image = scene.load()
            detected.append((image, reader.detector(image)))
            truth.append([(w.quad, w.text, w.ignore) for w in scene.words])
            scene.release()
    finally:
        card.end_reach = saved
    return detected, truth


def moved_ends(reader, detected: list) -> list[tuple]:
    """(frame, boxes, scores, quads) per scene of `detect_scenes`' detections, their ends
    moved as the reader's detector card now says."""
    return [(image, *reader.detector.finish_ends(image, found)) for image, found in detected]


def ends_grid(reader, detected: tuple[list, list], reaches=REACHES, gaps=GAPS, inks=INKS,
              pad_xs=PAD_XS) -> list[dict]:
    """Detection H, end-to-end P/R/F (readings at least the reader's `min_conf` sure) and the
    share of found words cut at an end, for each setting of the grid, each read with the
    crop margins `pad_xs` left and right (longer boxes need less margin, so a setting is judged
    with the margin that suits it), on `detect_scenes`' output, the reader's detector and
    recognizer as they are set otherwise. Leaves the card as it was."""
    card = reader.detector.card
    saved = card.end_reach, card.end_gap, card.end_ink, card.crop_pad_x
    rows = []
    try:
        for reach, gap, ink in _settings(reaches, gaps, inks):
            card.end_reach, card.end_gap, card.end_ink = reach, gap, ink
            moved = moved_ends(reader, detected[0])
            for pad_x in pad_xs:
                card.crop_pad_x = pad_x
                rows.append({"end_reach": reach, "end_gap": gap, "end_ink": ink,
                             "crop_pad_x": pad_x, **_score(reader, moved, detected[1])})
    finally:
        card.end_reach, card.end_gap, card.end_ink, card.crop_pad_x = saved
    return rows


def _score(reader, moved: list, truth: list) -> dict:
    quads, scores, read = [], [], []
    for image, boxes, found_scores, found_quads in moved:
        texts, confs = reader.read_boxes(image, boxes, None, found_quads)
        quads.append([q.tolist() for q in found_quads])
        scores.append(list(found_scores))
        read.append([(q, t) for q, t, c in zip(quads[-1], texts, confs, strict=True)
                     if reader.accepts(t, c)])
    detected = detection_scores([[(q, "") for q in image_quads] for image_quads in quads], truth)
    e2e = detection_scores(read, truth)
    edges = detection_breakdown(quads, scores, truth, 0.0)["edges"]
    return {"hmean": round(detected["hmean"], 4),
            **{k: round(e2e[k], 4) for k in ("e2e_precision", "e2e_recall", "e2e_hmean")},
            "cut_either": round(edges["cut_either"], 4)}


def best_ends(rows: list[dict]) -> dict:
    """The row of the best end-to-end F; among equals the shortest reaches (off first)."""
    return max(rows, key=lambda r: (r["e2e_hmean"], -r.get("end_head_reach", 0.0),
                                    -r["end_reach"]))


SETTINGS = ("end_head_reach", "end_reach", "end_gap", "end_ink", "crop_pad_x")


def choose_ends(reader, scenes, head_reaches=HEAD_REACHES, **grid
                ) -> tuple[dict, list[dict], tuple[list, list]]:
    """(card settings: the end head's reach, the box ends and the left/right crop margin; the
    grid; `detect_scenes`' output with the chosen head reach) for the reader's detector on
    `scenes` (training images). A detector without an end head keeps its card's head reach;
    one with it is run once per head reach, each under the whole grid (`grid`: `ends_grid`'s
    settings)."""
    card = reader.detector.card
    saved = card.end_head_reach
    reaches = head_reaches if card.end_head else (saved,)
    rows, kept, best = [], None, None
    try:
        for head_reach in reaches:
            card.end_head_reach = head_reach
            detected = detect_scenes(reader, scenes)
            rows += [{"end_head_reach": head_reach, **row}
                     for row in ends_grid(reader, detected, **grid)]
            top = best_ends(rows)
            if top is not best:
                best, kept = top, detected
    finally:
        card.end_head_reach = saved
    return {k: best[k] for k in SETTINGS}, rows, kept
