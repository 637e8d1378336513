"""The detector's end head (issue 25: words cut at an end): targets that the runtime's reading
turns back into the word's ends, a loss that is low only for them, a model with the fourth
output that the runtime orders and checks, and a run that trains the head alone on a
finished detector without moving it."""

import numpy as np
import pytest

from engocr.realtime.end_head import (
    END_CHANNELS,
    FAR,
    encode_end_targets,
    refine_ends,
    targets_to_raw,
)
from tests.conftest import TINY_DET

WORD = np.array([[200, 100, 180, 24, 0.0]], np.float32)  # cx cy w h angle, input pixels


def _moved(word: np.ndarray, start: float, end: float) -> np.ndarray:
    """`word` with its start moved `start` px and its end `end` px along its text."""
    cx, cy, w, h, a = word[0]
    lo, hi = -w / 2 + start, w / 2 + end
    c, s = np.cos(a), np.sin(a)
    return np.array([[cx + (lo + hi) / 2 * c, cy + (lo + hi) / 2 * s, hi - lo, h, a]],
                    np.float32)


def test_targets_mark_the_centre_line_with_the_distances_to_both_ends():
    grid = encode_end_targets(WORD, np.zeros((0, 4)), (512, 256))
    assert grid.shape == (32, 64, 5)
    line = grid[..., 0] > 0
    rows, cols = np.nonzero(line)
    assert set(rows) == {11, 12, 13}  # cell centres at y = 92, 100, 108: within 0.4 x 24
    assert cols.min() == 14 and cols.max() == 35  # centres 116 ... 284 inside 110 ... 290
    cols = np.flatnonzero(line[12])
    start, end = grid[12, cols, 1], grid[12, cols, 2]
    np.testing.assert_allclose(start[:3], [(116 - 110) / 24, (124 - 110) / 24, (132 - 110) / 24])
    assert np.all(np.diff(start) >= 0) and np.all(np.diff(start[:4]) > 0)
    assert np.all(np.diff(end) <= 0) and np.all(np.diff(end[-4:]) < 0)
    assert start.max() <= FAR and end.max() <= FAR  # far cells say only "far"
    # past its ends and above it: counted as "no line"; just past an end the distances are
    # taught too (the end lies behind the cell); a taller word's rows beyond 0.4 of its
    # height from its centre line (its top and bottom edges): not counted
    assert grid[12, 37, 3] == 1 and grid[12, 37, 0] == 0 and grid[10, 20, 3] == 1
    assert grid[12, 37, 4] == 1 and grid[12, 37, 1] == FAR
    np.testing.assert_allclose(grid[12, 37, 2], (290 - 300) / 24)
    assert grid[12, 40, 4] == 0 and grid[10, 20, 4] == 0  # 1.3 heights past it, above it
    tall = encode_end_targets(np.array([[200, 100, 180, 50, 0.0]]), np.zeros((0, 4)),
                              (512, 256))
    assert tall[10, 20, 0] == 1 and tall[9, 20, 3] == 0 and tall[8, 20, 3] == 1


def test_dont_care_boxes_and_the_smaller_of_two_words_win_their_cells():
    dontcare = np.array([[0, 0, 64, 64]], np.float32)
    small = np.array([[200, 100, 40, 12, 0.0]], np.float32)
    grid = encode_end_targets(np.concatenate([WORD, small]), dontcare, (512, 256))
    assert (grid[:8, :8, 3] == 0).all() and (grid[:8, :8, 0] == 0).all()
    np.testing.assert_allclose(grid[12, 23, 1], (188 - 180) / 12)  # the small word's start


@pytest.mark.parametrize("angle", [0.0, 0.35, -0.6])
def test_the_runtime_reads_the_ends_back_from_perfect_outputs(angle):
    word = WORD.copy()
    word[0, 4] = angle
    raw = targets_to_raw(encode_end_targets(word, np.zeros((0, 4)), (512, 256)))
    for start, end in ((10, -12), (-8, 9), (0, 0)):
        refined = refine_ends(_moved(word, start, end), raw, reach=0.8)
        np.testing.assert_allclose(refined, word, atol=0.1 * 24)  # a tenth of a height


def test_ends_stay_where_the_head_sees_no_word_and_move_at_most_the_reach():
    empty = targets_to_raw(encode_end_targets(np.zeros((0, 5)), np.zeros((0, 4)), (512, 256)))
    box = _moved(WORD, 10, -12)
    np.testing.assert_array_equal(refine_ends(box, empty, reach=0.8), box)
    raw = targets_to_raw(encode_end_targets(WORD, np.zeros((0, 4)), (512, 256)))
    short = _moved(WORD, 20, 0)  # start 20 px inside: 0.83 heights, a reach of 0.5 is 12 px
    refined = refine_ends(short, raw, reach=0.5)
    np.testing.assert_allclose(refined[0, 2], WORD[0, 2] - 20 + 12, atol=0.3)
    np.testing.assert_array_equal(refine_ends(short, raw, reach=0.0), short)


def test_the_loss_is_low_only_for_the_targets():
    from engocr.train.losses import end_head_loss

    grid = encode_end_targets(WORD, np.zeros((0, 4)), (512, 256))[None]
    perfect = targets_to_raw(grid[0])[None]
    wrong = perfect.copy()
    wrong[..., 1:] += 0.7
    assert float(end_head_loss(perfect, grid)) < 0.01
    assert float(end_head_loss(wrong, grid)) > 0.5
    assert float(end_head_loss(np.zeros_like(perfect), grid)) > 0.5


def _tiny_end_head_detector(tmp_path, reach: float):
    """A tiny oriented detector with an end head whose every cell fires (each box, and every
    cell on a centre line 0.2 heights from both ends), as TFLite with its card."""
    from engocr.export.cards import detector_card
    from engocr.export.tflite import convert, write_model
    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector

    config = DetectorConfig(**TINY_DET, oriented=True, end_head=True)
    model = build_detector(config)
    for layer in model.layers:
        if layer.name.startswith("out_s"):
            kernel, bias = layer.get_weights()
            bias[4::7], bias[5::7], bias[6::7] = 3.0, 0.0, 1.0
            layer.set_weights([kernel * 0.0, bias])
        if layer.name == "ends_s8":
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 0.0, np.array([4.0, 0.2, 0.2], np.float32)])
    path = tmp_path / "det.tflite"
    if not path.exists():
        write_model(convert(model), path)
    card = detector_card(config, "float32", score_threshold=0.5, end_head_reach=reach)
    card.save(path.with_suffix(".json"))
    return path, config


def test_an_exported_end_head_is_ordered_checked_and_read(tmp_path):
    from engocr.errors import ModelError
    from engocr.realtime.card import ModelCard
    from engocr.train.evaluate import tflite_detector

    path, _ = _tiny_end_head_detector(tmp_path, reach=0.0)
    frame = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    off = tflite_detector(path, threads=1, threshold=0.5)
    raws = off.infer(off.preprocess(frame)[0])
    assert [r.shape for r in raws] == [(12, 16, 3, 7), (6, 8, 3, 7), (3, 4, 3, 7),
                                       (12, 16, END_CHANNELS)]
    _tiny_end_head_detector(tmp_path, reach=0.8)
    on = tflite_detector(path, threads=1, threshold=0.5)
    (_, scores_off, quads_off), (_, scores_on, quads_on) = off(frame), on(frame)
    np.testing.assert_array_equal(scores_off, scores_on)  # the same boxes, other ends
    assert len(quads_on) and not np.allclose(quads_off, quads_on)
    card = ModelCard.load(path.with_suffix(".json"))
    card.end_head = False
    card.save(path.with_suffix(".json"))
    with pytest.raises(ModelError, match="do not match"):
        tflite_detector(path, threads=1)


def test_an_end_head_run_trains_the_head_alone_on_a_finished_detector(tmp_path):
    """`--end-head --init-from RUN`: the head's targets and loss join the batch, only its
    layers train (the detector's weights, batch norms included, stay as the source's), and
    the evaluation scores the share of words cut at an end."""
    import json
    from dataclasses import replace

    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
    from engocr.train.det import END_HEAD_RECIPE, DetTrainer

    config = DetectorConfig(**TINY_DET, oriented=True)
    source = tmp_path / "src"  # a finished run: its config and best weights
    source.mkdir()
    (source / "config.json").write_text(json.dumps(config.to_dict()))
    build_detector(config, training=True).save_weights(source / "best.weights.h5")
    recipe = [replace(END_HEAD_RECIPE[0], steps=2)]
    run = DetTrainer(tmp_path / "run", replace(config, end_head=True), recipe, batch=2,
                     data=tmp_path / "none", eval_every=2, init_from=source)
    before = {layer.name: [w.copy() for w in layer.get_weights()]
              for layer in run.model.layers}
    assert run.train().step == 2
    for layer in run.model.layers:
        moved = any(not np.array_equal(a, b)
                    for a, b in zip(before[layer.name], layer.get_weights(), strict=True))
        assert moved == (layer.name.startswith("ends") and bool(layer.get_weights())), \
            layer.name
    assert "synth_val_cut" in (tmp_path / "run" / "metrics.csv").read_text()


def test_a_level_detector_is_refused_an_end_head(tmp_path, capsys):
    from engocr.cli import main

    code = main(["train", "det", "--end-head", "--run", str(tmp_path / "run"), "--data",
                 str(tmp_path / "none"), "--minutes", "0"])
    assert code != 0
    assert "--oriented" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
