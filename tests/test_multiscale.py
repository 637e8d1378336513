"""Text at every distance: the coarse detector pass and its merge, close-up training scenes,
whole-word training targets, and the edge and per-height scores the benchmarks report."""

import numpy as np
import pytest

from engocr.realtime.detector import TextDetector
from engocr.realtime.multiscale import merge_passes
from engocr.realtime.reader import DEFAULT_DETECTOR, load_model
from engocr.train.data.records import SceneSample, WordBox
from engocr.train.det_data import scene_to_input
from engocr.train.metrics import (
    angle_error,
    angle_summary,
    band_label,
    edge_errors,
    edge_summary,
    recall_by_height,
    word_aspect,
)


def _boxes(*rows):
    return np.array(rows, np.float32).reshape(-1, 4)


def test_merge_keeps_small_fine_words_and_lets_coarse_boxes_take_large_ones():
    fine = (_boxes([10, 10, 60, 22],       # a small word
                   [300, 50, 560, 350],    # the first part of a large word
                   [100, 400, 140, 412],   # a small word, and beside it...
                   [150, 400, 400, 500]),  # ... a large one
            np.array([0.9, 0.8, 0.5, 0.6], np.float32))
    coarse = (_boxes([12, 11, 61, 23],        # the small word again: left to the fine pass
                     [300, 50, 900, 350],    # the whole large word: replaces its part
                     [1000, 50, 1200, 150],  # a large word only the coarse pass found
                     [100, 395, 400, 505],   # both words as one: the small one keeps both
                     [500, 500, 520, 508]),  # too low for the coarse pass: left to the fine
              np.array([0.8, 0.7, 0.75, 0.85, 0.95], np.float32))
    boxes, scores = merge_passes(fine, coarse, min_coarse_height=16)
    assert boxes.tolist() == [[10, 10, 60, 22], [1000, 50, 1200, 150], [300, 50, 900, 350],
                              [150, 400, 400, 500], [100, 400, 140, 412]]
    assert scores.tolist() == pytest.approx([0.9, 0.75, 0.7, 0.6, 0.5])


def test_merge_with_an_empty_pass():
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    coarse = (_boxes([0, 0, 300, 100]), np.array([0.6], np.float32))
    assert merge_passes(empty, coarse, 16)[0].tolist() == [[0, 0, 300, 100]]
    assert len(merge_passes(coarse, empty, 16)[0]) == 1


def test_merge_compares_tilted_words_by_their_quads():
    """Two tilted words side by side: their bounds overlap, the words do not, so the coarse
    pass's word is added beside the fine one; the same large word from both passes is the
    coarse pass's."""
    from engocr.realtime.oriented import obb_to_quads

    def pass_of(*obbs):
        quads = obb_to_quads(np.array(obbs, np.float32))
        boxes = np.concatenate([quads.min(1), quads.max(1)], 1)
        return boxes, np.full(len(quads), 0.8, np.float32), quads

    fine = pass_of([100, 100, 300, 30, -0.6])
    beside = pass_of([100, 160, 300, 30, -0.6])  # the next line of a tilted sign
    assert merge_passes(fine, beside, 16)[0].shape == (2, 4)
    same = pass_of([102, 101, 290, 32, -0.58])
    assert merge_passes(fine, same, 16)[2].tolist() == same[2].tolist()


def _frame_with_large_word():
    import cv2

    frame = np.full((720, 1280, 3), 235, np.uint8)
    cv2.putText(frame, "OPEN", (200, 520), cv2.FONT_HERSHEY_DUPLEX, 12, (20, 20, 20), 30)
    return frame


def test_coarse_pass_runs_only_where_it_sees_the_frame_smaller():
    engine, card = load_model(DEFAULT_DETECTOR, 1)
    one = TextDetector(engine, card, coarse_side=0)
    assert not one.uses_coarse((720, 1280, 3))
    engine, card = load_model(DEFAULT_DETECTOR, 1)
    two = TextDetector(engine, card, coarse_side=384)
    assert two.uses_coarse((720, 1280, 3)) and two.uses_coarse((480, 640, 3))
    assert not two.uses_coarse((300, 400, 3))  # the fine pass sees it at 400 already
    frame = _frame_with_large_word()
    t_one, t_two = {}, {}
    fine = one(frame, t_one)
    both = two(frame, t_two)
    assert len(both[0]) >= len(fine[0])
    assert set(t_two) == set(t_one)  # the coarse pass is timed in the same stages
    assert (both[0][:, 2:] <= [1280, 720]).all() and (both[0] >= 0).all()


def test_each_pass_keeps_its_own_interpreter_at_its_own_size(monkeypatch):
    """One interpreter fed both sizes re-allocated its tensors twice a frame (the coarse pass
    cost three times the fine pass): after the first frame no pass resizes anything."""
    from engocr.realtime.engine import TFLiteEngine

    engine, card = load_model(DEFAULT_DETECTOR, 1)
    detector = TextDetector(engine, card, coarse_side=384)
    frame = _frame_with_large_word()
    first = detector(frame)
    resizes = []
    original = TFLiteEngine.resize_input
    monkeypatch.setattr(TFLiteEngine, "resize_input",
                        lambda self, shape: resizes.append(shape) or original(self, shape))
    again = [detector(frame) for _ in range(3)]
    assert resizes == []
    assert all(np.array_equal(a[0], first[0]) for a in again)
    assert detector.engine.input_shape != detector._coarse_engine.input_shape


def test_whole_words_only_are_training_positives():
    image = np.full((400, 600, 3), 200, np.uint8)
    words = [WordBox(np.array([[10, 10], [590, 10], [590, 60], [10, 60]], np.float32), "LONG"),
             WordBox(np.array([[20, 200], [80, 200], [80, 230], [20, 230]], np.float32), "a")]
    scene = SceneSample(words=words, image=image, name="t")
    rng = np.random.default_rng(0)
    for _ in range(40):
        _, boxes, dontcare = scene_to_input(scene, (300, 300), rng, 600)
        heights = boxes[:, 3] - boxes[:, 1]
        widths = boxes[:, 2] - boxes[:, 0]
        # A positive is a whole word: the long word only when all of it is in the window.
        for w, h in zip(widths, heights, strict=True):
            assert w / h < 7 or w / h == pytest.approx(580 / 50, rel=0.08)


def test_real_closeup_windows_zoom_in_on_one_whole_word():
    from engocr.train.det_data import CLOSEUP_HEIGHT, CLOSEUP_UPSCALE

    image = np.full((720, 1280, 3), 200, np.uint8)
    words = [WordBox(np.array([[100, 100], [300, 100], [300, 140], [100, 140]], np.float32),
                     "SIGN"),
             WordBox(np.array([[600, 500], [640, 500], [640, 510], [600, 510]], np.float32),
                     "tiny")]
    scene = SceneSample(words=words, image=image, name="t")
    rng = np.random.default_rng(0)
    heights = []
    for _ in range(30):
        _, boxes, _ = scene_to_input(scene, (512, 384), rng, 1152, closeup=1.0)
        heights.append((boxes[:, 3] - boxes[:, 1]).max())
    # The 40-px word, enlarged at most CLOSEUP_UPSCALE times, whole in every window; the 10-px
    # one is too small to enlarge that far and is never the focus.
    assert min(heights) >= CLOSEUP_HEIGHT[0] - 1
    assert max(heights) <= 40 * CLOSEUP_UPSCALE + 1
    assert np.median(heights) > 55
    plain = [scene_to_input(scene, (512, 384), rng, 1152)[1] for _ in range(30)]
    assert np.median([(b[:, 3] - b[:, 1]).max(initial=0) for b in plain]) < 45


def test_closeup_scenes_have_large_words():
    from engocr.train.data.backgrounds import PhotoBank
    from engocr.train.data.fonts import find_fonts
    from engocr.train.data.synth import SynthScenes

    if not find_fonts():
        pytest.skip("no fonts: run scripts/setup_train.sh")
    gen = SynthScenes(seed=1, bank=PhotoBank(root="/nonexistent"), closeup_p=1.0)
    heights = [np.ptp(w.quad[:, 1]) for i in range(12) for w in gen[i].words]
    assert heights and np.median(heights) > 0.08 * 480
    assert all("closeup" in gen[i].name for i in range(3))


def test_edge_errors_in_word_heights():
    word = [[0, 0], [100, 0], [100, 20], [0, 20]]
    cut = [[10, 0], [95, 0], [95, 20], [10, 20]]  # half a height cut off the left
    left, right, top, bottom = edge_errors(cut, word)
    assert (left, right, top, bottom) == pytest.approx((0.5, 0.25, 0, 0))
    summary = edge_summary([edge_errors(cut, word), edge_errors(word, word)])
    assert summary["cut_left"] == 0.5 and summary["cut_right"] == 0 and summary["words"] == 2
    assert "cut_by_aspect" not in summary
    by_aspect = edge_summary([edge_errors(cut, word), edge_errors(word, word)],
                             [word_aspect(word), 2.5])["cut_by_aspect"]
    assert [b["min"] for b in by_aspect] == [0.0, 2.0, 3.0, 4.0, 6.0]
    assert by_aspect[-2]["max"] == 6.0 and by_aspect[-1]["max"] is None
    assert word_aspect(word) == pytest.approx(5.0)
    assert (by_aspect[3]["words"], by_aspect[3]["cut_either"]) == (1, 1.0)  # 100 x 20: 5
    assert (by_aspect[1]["words"], by_aspect[1]["cut_either"]) == (1, 0.0)
    assert [band_label(b) for b in by_aspect[-2:]] == ["4-6", "6 and more"]


def _turned(quad, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.asarray(quad, np.float32) @ np.array([[np.cos(a), np.sin(a)],
                                                    [-np.sin(a), np.cos(a)]], np.float32)


def test_edge_errors_follow_a_tilted_word():
    """A tilted word's ends are measured along its text: the same cut turned 30 degrees gives
    the same errors, where its bounding box would not."""
    word = [[0, 0], [100, 0], [100, 20], [0, 20]]
    cut = [[10, 0], [95, 0], [95, 20], [10, 20]]
    turned = edge_errors(_turned(cut, 30), _turned(word, 30))
    assert turned == pytest.approx((0.5, 0.25, 0, 0), abs=1e-3)


def test_angle_error_of_level_and_turned_boxes():
    word = [[0, 0], [100, 0], [100, 20], [0, 20]]
    tilt, error = angle_error(word, _turned(word, 25))
    assert abs(tilt) == pytest.approx(25, abs=0.1) and error == pytest.approx(25, abs=0.1)
    assert angle_error(_turned(word, 25), _turned(word, 25))[1] == pytest.approx(0, abs=0.1)
    summary = angle_summary([angle_error(word, _turned(word, 25)), angle_error(word, word)])
    assert summary["tilted_words"] == 1 and summary["tilted_mean_error"] == pytest.approx(
        25, abs=0.1) and summary["mean_error"] == pytest.approx(12.5, abs=0.1)


def test_recall_by_height_counts_found_and_read():
    small = [[0, 0], [40, 0], [40, 15], [0, 15]]
    large = [[0, 100], [400, 100], [400, 200], [0, 200]]
    truth = [[(small, "cat", False), (large, "Sign", False)]]
    bins = recall_by_height([[(small, "cat"), (large, "sing")]], truth)
    by_min = {b["min"]: b for b in bins if b["words"]}
    assert by_min[12]["recall"] == 1 and by_min[12]["e2e_recall"] == 1
    assert by_min[96]["recall"] == 1 and by_min[96]["e2e_recall"] == 0


def test_a_second_threshold_for_large_boxes_ships_only_where_it_pays():
    from engocr.train.coarse_choice import best_large

    single = {"large_min_height": 0.0, "large_score_threshold": 0.0, "hmean": 0.589}
    noise = {"large_min_height": 64.0, "large_score_threshold": 0.4, "hmean": 0.590}
    gain = {"large_min_height": 48.0, "large_score_threshold": 0.3, "hmean": 0.60}
    assert best_large([single, noise]) is single
    assert best_large([single, noise, gain]) is gain


def test_coarse_pass_is_chosen_by_the_photos_and_the_close_ups():
    """A coarse side that only the 1280x720 photos like loses to one the close-ups need too;
    without close-up scores the photos decide, and a gain under half a point goes to the
    cheaper pass (a larger pass costs frame rate)."""
    from engocr.train.coarse_choice import best_coarse

    alone = {"coarse_side": 0, "hmean": 0.650, "closeup_hmean": 0.560}
    large = {"coarse_side": 512, "hmean": 0.664, "closeup_hmean": 0.560}
    small = {"coarse_side": 320, "hmean": 0.652, "closeup_hmean": 0.660}
    assert best_coarse([alone, large, small]) is small
    photos_only = [{k: v for k, v in r.items() if k != "closeup_hmean"} for r in
                   (alone, large, small)]
    assert best_coarse(photos_only) is photos_only[1]
    tie = [{"coarse_side": 0, "hmean": 0.65}, {"coarse_side": 320, "hmean": 0.65}]
    assert best_coarse(tie) is tie[0]
    close = [{"coarse_side": 384, "coarse_min_height": 24.0, "hmean": 0.703},
             {"coarse_side": 320, "coarse_min_height": 24.0, "hmean": 0.699},
             {"coarse_side": 320, "coarse_min_height": 32.0, "hmean": 0.700}]
    assert best_coarse(close) is close[2]
