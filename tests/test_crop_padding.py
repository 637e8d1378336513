"""Crop margins chosen by what the recognizer reads: a detector box that clips a word's ends
is misread without a margin and read with the one the calibration picks."""

from __future__ import annotations

import cv2
import numpy as np

from engocr.realtime.reader import DEFAULT_RECOGNIZER, crop_boxes
from engocr.train.crop_padding import (
    FoundWord,
    best_padding,
    found_words,
    lost_an_end,
    misread_breakdown,
    padding_grid,
)
from engocr.train.data.records import SceneSample, WordBox
from engocr.train.evaluate import tflite_recognizer

WORDS = ("Regulating", "VEGETARIAN", "parking", "station")


def _scene(text: str) -> tuple[SceneSample, np.ndarray]:
    """A word drawn on a light background; returns the scene and the word's tight box."""
    image = np.full((200, 640, 3), 235, np.uint8)
    font, scale, thick = cv2.FONT_HERSHEY_DUPLEX, 2.0, 3
    (w, h), base = cv2.getTextSize(text, font, scale, thick)
    x, y = 60, 100 + h // 2
    cv2.putText(image, text, (x, y), font, scale, (30, 30, 30), thick, cv2.LINE_AA)
    box = np.array([x, y - h, x + w, y + base], np.float32)
    quad = [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]]
    return SceneSample([WordBox(quad, text)], image=image), box


def test_crop_margins_follow_box_height():
    frame = np.zeros((100, 200, 3), np.uint8)
    (crop,) = crop_boxes(frame, np.array([[50, 40, 110, 60]], np.float32), 0.5, 0.1)
    assert crop.shape[:2] == (int(60 + 2 + 1) - int(40 - 2), int(110 + 10 + 1) - int(50 - 10))


def test_calibration_picks_a_margin_that_reads_clipped_words():
    recognizer = tflite_recognizer(DEFAULT_RECOGNIZER)
    scenes, words = [], []
    for i, text in enumerate(WORDS):
        scene, box = _scene(text)
        height = box[3] - box[1]
        clipped = box + [0.6 * height, 0, -0.6 * height, 0]  # a letter cut off each end
        scenes.append(scene)
        words.append(FoundWord(i, clipped, box, text))
    rows = padding_grid(recognizer, scenes, words, pad_x=(0.0, 0.8), pad_y=(0.1,))
    read = {r["pad_x"]: r["read"] for r in rows}
    assert read[0.8] > read[0.0]
    assert best_padding(rows) == (0.8, 0.1)
    tight = misread_breakdown(recognizer, scenes, words, 0.0, 0.1)
    assert tight["misread"] > 0 and tight["misread_truth_box_reads"] > 0
    assert tight["end_lost"] > 0


def test_a_reading_short_at_an_end_is_a_lost_end():
    assert lost_an_end("OINT", "JOINT") and lost_an_end("storag", "Storage")
    assert lost_an_end("rooks", "BROOKS!")  # compared as the end-to-end protocol compares
    assert not lost_an_end("JOINT", "joint")  # read whole
    assert not lost_an_end("JOLNT", "JOINT") and not lost_an_end("OIN", "JOLNT")
    assert not lost_an_end("", "JOINT")  # nothing read is not a cut box


def test_found_words_are_the_matched_boxes():
    quad = [[10, 10], [50, 10], [50, 30], [10, 30]]
    far = [[100, 100], [140, 100], [140, 120], [100, 120]]
    gts = [[(quad, "word", False), (far, "###", True)]]
    words = found_words(([[quad, [[200, 10], [240, 10], [240, 30], [200, 30]]]], [[0.9, 0.8]],
                         gts))
    assert len(words) == 1 and words[0].text == "word"
    np.testing.assert_allclose(words[0].box, [10, 10, 50, 30])
