"""Box ends moved to where a word's ink ends (engocr.realtime.box_ends), their choice on
training images (engocr.train.ends_choice) and their place in the detector."""

from __future__ import annotations

import cv2
import numpy as np

from engocr.realtime.box_ends import ink_profile, snap_ends
from engocr.realtime.detector import TextDetector
from engocr.realtime.oriented import quads_to_obbs
from engocr.realtime.reader import DEFAULT_DETECTOR, load_model
from engocr.train.ends_choice import _settings, best_ends
from tests.conftest import needs_data

FONT, SCALE, THICK = cv2.FONT_HERSHEY_SIMPLEX, 2.0, 4


def _scene(words: list[tuple[str, int]], width: int = 900, height: int = 200):
    """A light frame with dark words written at (text, x) on one baseline, and each word's
    ink extent (x0, x1) and the line's (y0, y1)."""
    frame = np.full((height, width, 3), 225, np.uint8)
    extents = []
    for text, x in words:
        cv2.putText(frame, text, (x, 120), FONT, SCALE, (30, 30, 30), THICK, cv2.LINE_AA)
    ink = (frame[..., 0] < 128)
    cols = np.flatnonzero(ink.any(0))
    rows = np.flatnonzero(ink.any(1))
    for text, x in words:
        (w, _), _ = cv2.getTextSize(text, FONT, SCALE, THICK)
        mine = cols[(cols >= x - 5) & (cols <= x + w + 5)]
        extents.append((int(mine.min()), int(mine.max()) + 1))
    return frame, extents, (int(rows.min()), int(rows.max()) + 1)


def _quad(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    return np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32)


def test_an_end_cut_inside_a_letter_moves_out_to_the_word_end():
    frame, [(x0, x1)], (y0, y1) = _scene([("Regulating", 60)])
    h = y1 - y0
    cut = _quad(x0 + 0.3 * h, x1 - 0.35 * h, y0, y1)  # both ends inside letters
    snapped = snap_ends(frame, cut, 0.8, 0.25, 0.45)[0]
    assert abs(snapped[0, 0] - x0) < 0.15 * h
    assert abs(snapped[1, 0] - x1) < 0.15 * h
    # the word's height and line are kept
    assert np.allclose(snapped[:, 1], cut[0, :, 1], atol=0.5)


def test_whole_boxes_and_ends_in_a_gap_stay_where_they_are():
    frame, [(x0, x1)], (y0, y1) = _scene([("Regulating", 60)])
    h = y1 - y0
    whole = _quad(x0 - 0.1 * h, x1 + 0.1 * h, y0, y1)
    assert np.allclose(snap_ends(frame, whole, 0.8, 0.25, 0.45), whole, atol=0.5)
    assert np.array_equal(snap_ends(frame, whole, 0.0, 0.25, 0.45), whole)  # off
    empty = np.zeros((0, 4, 2), np.float32)
    assert snap_ends(frame, empty, 0.8, 0.25, 0.45).shape == (0, 4, 2)


def test_an_end_stops_at_the_gap_before_the_next_word():
    frame, [(a0, a1), (b0, b1)], (y0, y1) = _scene([("JOINT", 60), ("STOCK", 330)])
    h = y1 - y0
    assert b0 - a1 > 0.3 * h  # a word gap, not a letter gap
    cut = _quad(a0, a1 - 0.3 * h, y0, y1)
    snapped = snap_ends(frame, cut, 0.8, 0.25, 0.45)[0]
    assert abs(snapped[1, 0] - a1) < 0.15 * h
    assert snapped[1, 0] < b0


def test_a_tilted_word_is_lengthened_along_its_own_text():
    frame, [(x0, x1)], (y0, y1) = _scene([("Regulating", 60)], width=900, height=500)
    h = y1 - y0
    turn = cv2.getRotationMatrix2D((450, 250), 20, 1.0)
    turned = cv2.warpAffine(frame, turn, (900, 500), borderValue=(225, 225, 225))
    whole = _quad(x0, x1, y0, y1)[0] @ turn[:, :2].T + turn[:, 2]
    cut = _quad(x0 + 0.3 * h, x1 - 0.35 * h, y0, y1)[0] @ turn[:, :2].T + turn[:, 2]
    snapped = snap_ends(turned, cut[None].astype(np.float32), 0.8, 0.25, 0.45)[0]
    got, want = quads_to_obbs(snapped[None])[0], quads_to_obbs(whole[None])[0]
    assert abs(got[2] - want[2]) < 0.3 * h  # as long as the word
    assert np.hypot(*(got[:2] - want[:2])) < 0.2 * h
    assert abs(got[4] - want[4]) < 1e-3  # same angle


def test_a_word_running_off_the_frame_ends_at_its_edge():
    frame, [(x0, _)], (y0, y1) = _scene([("Regulating", 700)])
    h = y1 - y0
    cut = _quad(x0, 900 - 0.5 * h, y0, y1)
    snapped = snap_ends(frame, cut, 0.8, 0.25, 0.45)[0]
    assert 900 - 0.5 * h < snapped[1, 0] <= 900 + 0.3 * h


def test_ink_profile_is_high_through_letters_and_low_in_the_margin():
    frame, [(x0, x1)], (y0, y1) = _scene([("HELLO", 60)])
    (cx, cy, w, hh, a), = quads_to_obbs(_quad(x0, x1, y0, y1)).astype(np.float64)
    profile = ink_profile(np.ascontiguousarray(frame), cx, cy, w, hh, a, 0.5)
    margin = int(round(0.5 * 16))  # half a height either side at 16 columns a height
    inner = profile[margin + 2:-margin - 2]
    assert np.median(inner) > 20 and profile[:margin - 2].max() < 1.0
    assert abs(len(profile) - (w / hh + 1.0) * 16) <= 1  # 16 columns a word height


def test_the_detector_moves_its_ends_as_its_card_says():
    frame, _, _ = _scene([("Regulating", 60), ("STOCK", 520)], width=960, height=480)
    engine, card = load_model(DEFAULT_DETECTOR, 1)
    card.end_reach = 0.0
    plain = TextDetector(engine, card, coarse_side=0)
    boxes, scores, quads = plain(frame)
    assert len(boxes)
    card.end_reach, card.end_gap, card.end_ink = 0.8, 0.25, 0.45
    timings: dict = {}
    moved = plain(frame, timings)
    assert np.array_equal(moved[1], scores)  # same words, same order
    assert np.allclose(moved[2], snap_ends(frame, quads, 0.8, 0.25, 0.45), atol=1e-3)
    assert np.allclose(moved[0], np.concatenate([moved[2].min(1), moved[2].max(1)], 1))
    assert "nms" in timings
    longer = quads_to_obbs(moved[2])[:, 2] >= quads_to_obbs(quads)[:, 2] - 1e-3
    assert longer.all()  # ends only ever move outwards


def test_ends_grid_settings_and_choice():
    settings = _settings((0.0, 0.5), (0.15, 0.25), (0.3,))
    assert settings[0][0] == 0.0 and len(settings) == 3
    rows = [{"end_reach": 0.0, "e2e_hmean": 0.60}, {"end_reach": 0.5, "e2e_hmean": 0.60},
            {"end_reach": 0.8, "e2e_hmean": 0.59}]
    assert best_ends(rows)["end_reach"] == 0.0  # a tie keeps boxes as decoded
    rows[1]["e2e_hmean"] = 0.61
    assert best_ends(rows)["end_reach"] == 0.5



def test_ends_grid_reads_every_setting_and_leaves_the_card_as_it_was():
    from engocr.realtime.reader import Reader
    from engocr.train.data.backgrounds import PhotoBank
    from engocr.train.data.synth import SynthScenes
    from engocr.train.ends_choice import detect_scenes, ends_grid

    reader = Reader(threads=1)
    card = reader.detector.card
    before = card.end_reach, card.end_gap, card.end_ink, card.crop_pad_x
    gen = SynthScenes(seed=3, size=(640, 480), bank=PhotoBank(root="/nonexistent"))
    scenes = [gen[i] for i in range(2)]
    rows = ends_grid(reader, detect_scenes(reader, scenes), reaches=(0.0, 0.5), gaps=(0.25,),
                     inks=(0.45,), pad_xs=(0.0, 0.1))
    assert [(r["end_reach"], r["crop_pad_x"]) for r in rows] == [
        (0.0, 0.0), (0.0, 0.1), (0.5, 0.0), (0.5, 0.1)]
    assert all({"hmean", "e2e_hmean", "cut_either"} <= set(r) for r in rows)
    assert rows[0]["hmean"] == rows[1]["hmean"]  # the margin changes the reading only
    assert (card.end_reach, card.end_gap, card.end_ink, card.crop_pad_x) == before


@needs_data("ic15_train")
def test_export_ends_writes_its_choice_into_the_card(tmp_path):
    import shutil

    from engocr.export.pipeline import rechoose_ends
    from engocr.realtime.card import ModelCard
    from engocr.train.ends_choice import PAD_XS, REACHES

    model = tmp_path / "detector.tflite"
    shutil.copyfile(DEFAULT_DETECTOR, model)
    card = ModelCard.load(DEFAULT_DETECTOR.with_suffix(".json"))
    card.end_reach, card.metrics = 0.0, {}
    card.save(model.with_suffix(".json"))
    chosen = rechoose_ends(model, threads=1, images=2)
    saved = ModelCard.load(model.with_suffix(".json"))
    assert saved.end_reach == chosen["end_reach"] and saved.end_reach in REACHES
    assert saved.crop_pad_x == chosen["crop_pad_x"] and saved.crop_pad_x in PAD_XS
    assert len(saved.metrics["box_ends_on_train_images"]) == (1 + 3 * 2 * 3) * len(PAD_XS)
    assert {r["pad_x"] for r in saved.metrics["crop_padding_on_train_images"]} == \
        {saved.crop_pad_x}


def test_a_cut_word_is_told_apart_from_an_annotation_margin():
    """`benchmarks/cut_words.py`: a box that ends at the ink of a word annotated with a wide
    blank margin is cut only in the margin; one that ends inside the ink is cut in the ink."""
    from benchmarks.cut_words import classify
    from benchmarks.truth_margins import end_margins
    from engocr.train.metrics import CUT_EDGE, edge_errors

    frame, [(x0, x1)], (y0, y1) = _scene([("HELLO", 200)])
    h = y1 - y0
    annotated = _quad(x0 - 0.5 * h, x1 + 0.5 * h, y0, y1)[0]
    margins = end_margins(frame, annotated, 0.45)
    assert 0.4 < margins[0] < 0.6 and 0.4 < margins[1] < 0.6
    at_ink, into_ink = _quad(x0, x1, y0, y1)[0], _quad(x0 + 0.6 * h, x1, y0, y1)[0]
    assert classify(edge_errors(at_ink, annotated), margins, CUT_EDGE) == "margin"
    assert classify(edge_errors(into_ink, annotated), margins, CUT_EDGE) == "ink"
    assert classify(edge_errors(annotated, annotated), margins, CUT_EDGE) == "whole"
