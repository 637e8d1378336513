"""Oriented detector (issue 25: tilted large words): targets that the runtime's oriented decode
turns back into the same boxes, a loss that sees the angle, a run started from a level one
with the same boxes, an export whose card says so, and tilted words cut level for the
recognizer and reported with their own quads."""

import cv2
import numpy as np
import pytest

from engocr.realtime.oriented import obb_to_quads, oriented_postprocess, quads_to_obbs
from engocr.realtime.reader import crop_boxes, crop_words, padded_quad
from engocr.train.det_targets import encode_targets, obbs_to_level_boxes, targets_to_raw
from tests.conftest import TINY_DET


def _spaced_obbs(rng, n=12):
    """Oriented boxes far enough apart that no two share a cell and anchor."""
    centres = np.stack([np.arange(n) % 4 * 120 + 60, np.arange(n) // 4 * 110 + 60], 1)
    return np.concatenate([centres, rng.uniform(20, 90, (n, 1)), rng.uniform(8, 24, (n, 1)),
                           rng.uniform(-1.2, 1.2, (n, 1))], 1).astype(np.float32)


def test_oriented_targets_round_trip_through_the_runtime_decoder():
    from engocr.models.yolo_mobilenet import DetectorConfig

    config = DetectorConfig(oriented=True)
    obbs = _spaced_obbs(np.random.default_rng(4))
    anchors = np.array(config.anchors, np.float32)
    grids = encode_targets(obbs_to_level_boxes(obbs), anchors, config.strides,
                           (config.width, config.height), angles=obbs[:, 4])
    assert all(g.shape[-1] == 8 for g in grids)
    raws = targets_to_raw(grids)
    assert all(r.shape[-1] == config.channels == 7 for r in raws)
    decoded, scores = oriented_postprocess(raws, anchors, list(config.strides), 0.5,
                                           iou_threshold=0.9)
    assert len(decoded) == len(obbs)
    order = np.lexsort(np.round(decoded[:, :2]).T[::-1])
    want = np.lexsort(np.round(obbs[:, :2]).T[::-1])
    np.testing.assert_allclose(decoded[order], obbs[want], atol=2e-2)


def test_training_windows_give_the_words_oriented_boxes():
    from engocr.train.data.records import SceneSample, WordBox
    from engocr.train.det_data import scene_to_input

    quad = obb_to_quads(np.array([[320, 240, 200, 40, 0.35]], np.float32))[0]
    image = np.full((480, 640, 3), 200, np.uint8)
    scene = SceneSample([WordBox(quad, "TILT")], image=image)
    _, level, _ = scene_to_input(scene, (640, 480), None)
    _, oriented, _ = scene_to_input(scene, (640, 480), None, oriented=True)
    assert level.shape == (1, 4) and oriented.shape == (1, 5)
    np.testing.assert_allclose(oriented[0], [320, 240, 200, 40, 0.35], atol=1e-2)


def test_turned_training_windows_turn_the_words_with_the_pixels():
    """A turned scene's quads still cover the word's ink, and the angles spread as asked."""
    from engocr.train.data.records import SceneSample, WordBox
    from engocr.train.det_data import rotate_scene, scene_to_input

    image = np.full((300, 400, 3), 30, np.uint8)
    image[130:170, 100:300] = 255
    quad = np.array([[100, 130], [300, 130], [300, 170], [100, 170]], np.float32)
    turned, quads = rotate_scene(image, quad[None], 20.0)
    assert turned.shape[0] > 300 and turned.shape[1] > 400  # the whole scene kept
    obb = quads_to_obbs(quads)[0]
    # cv2 turns counter-clockwise on screen: the word's top edge now rises to the right.
    assert np.degrees(obb[4]) == pytest.approx(-20.0, abs=0.5)
    assert obb[2] == pytest.approx(200, abs=1) and obb[3] == pytest.approx(40, abs=1)
    inside = np.zeros(turned.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(quads[0]).astype(np.int32)], 1)
    eroded = cv2.erode(inside, np.ones((5, 5), np.uint8))
    outside = cv2.dilate(inside, np.ones((5, 5), np.uint8)) == 0
    assert turned[eroded > 0].min() > 200 and turned[outside].max() <= 114

    scene = SceneSample([WordBox(quad, "WORD")], image=image)
    rng = np.random.default_rng(0)
    angles = [scene_to_input(scene, (400, 300), rng, 400, zoom=(1.0, 1.0), oriented=True,
                             rotate=30.0)[1][:, 4] for _ in range(40)]
    degrees = np.abs(np.degrees(np.concatenate(angles)))
    assert (degrees < 0.5).mean() > 0.25 and (degrees > 5).mean() > 0.25 and degrees.max() < 30.5


def _outputs_for(config, raws):
    """Raw grids (gh, gw, A, C) as the model's batched outputs (1, gh, gw, A * C)."""
    return [r.reshape(1, *r.shape[:2], -1) for r in raws]


def test_the_loss_sees_the_angle():
    from keras import ops

    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.losses import yolo_loss

    config = DetectorConfig(**TINY_DET, oriented=True)
    obbs = np.array([[40, 40, 60, 16, 0.4], [90, 60, 40, 12, -0.3]], np.float32)
    size = (config.train_width, config.train_height)
    level = obbs_to_level_boxes(obbs)
    grids = encode_targets(level, np.array(config.anchors, np.float32), config.strides, size,
                           angles=obbs[:, 4])
    targets = [ops.convert_to_tensor(g[None]) for g in grids]
    gt = np.zeros((1, 10, 4), np.float32)
    gt[0, :2] = level

    def loss_at(turn: float) -> float:
        raws = targets_to_raw(grids)
        for raw, grid in zip(raws, grids, strict=True):
            a = 0.5 * np.arctan2(grid[..., 6], grid[..., 7]) + turn
            raw[..., 5], raw[..., 6] = np.sin(2 * a), np.cos(2 * a)
        outputs = [ops.convert_to_tensor(o) for o in _outputs_for(config, raws)]
        return float(yolo_loss(outputs, targets, ops.convert_to_tensor(gt), config))

    right, off15, off45 = loss_at(0.0), loss_at(np.pi / 12), loss_at(np.pi / 4)
    assert np.isfinite(right) and right < off15 < off45
    # 4 sin^2(45 degrees) = 2 per positive, times its box weight (1 to 2: small boxes weigh
    # more), averaged over the positives
    assert 2.0 <= off45 - right <= 4.0


def test_an_oriented_run_from_a_level_one_starts_with_its_boxes():
    import keras

    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
    from engocr.train.det import widen_outputs
    from engocr.train.loop import copy_matching_weights

    keras.utils.set_random_seed(2)
    level = build_detector(DetectorConfig(**TINY_DET), training=True)
    config = DetectorConfig(**TINY_DET, oriented=True)
    oriented = build_detector(config, training=True)
    copy_matching_weights(oriented, level)
    assert widen_outputs(oriented, level, config.strides, 3) == ["out_s8", "out_s16", "out_s32"]
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 128, 3)).astype(np.float32)
    for a, b in zip(level.predict_on_batch(x), oriented.predict_on_batch(x), strict=True):
        a, b = a.reshape(*a.shape[:3], 3, 5), b.reshape(*b.shape[:3], 3, 7)
        np.testing.assert_allclose(b[..., :5], a, atol=1e-5)
        np.testing.assert_allclose(b[..., 5:], np.broadcast_to([0.0, 1.0], b[..., 5:].shape),
                                   atol=1e-6)


def _tilted_word_frame(angle: float = 0.5):
    """A white bar (a word) turned by `angle` on black, and its quad."""
    quad = obb_to_quads(np.array([[160, 120, 160, 30, angle]], np.float32))[0]
    frame = np.zeros((240, 320, 3), np.uint8)
    cv2.fillPoly(frame, [np.round(quad).astype(np.int32)], (255, 255, 255))
    return frame, quad


def test_a_tilted_word_is_cut_level_and_a_level_one_as_its_box():
    frame, quad = _tilted_word_frame()
    box = np.concatenate([quad.min(0), quad.max(0)])[None]
    (tilted,) = crop_words(frame, box, quad[None], 0.0, 0.0)
    (bounds,) = crop_boxes(frame, box, 0.0, 0.0)
    assert tilted.shape[1] > 4 * tilted.shape[0]  # long and low: the word, level
    assert tilted.mean() > 200 > 140 > bounds.mean()  # all word; the bounds half background
    level = np.array([[40, 50, 120, 70]], np.float32)
    level_quad = np.array([[[40, 50], [120, 50], [120, 70], [40, 70]]], np.float32)
    np.testing.assert_array_equal(crop_words(frame, level, level_quad, 0.12, 0.12)[0],
                                  crop_boxes(frame, level, 0.12, 0.12)[0])
    grown = padded_quad(quad, 0.5, 0.25)
    obb = quads_to_obbs(grown[None])[0]
    assert obb[2] == pytest.approx(160 + 30, abs=0.5) and obb[3] == pytest.approx(45, abs=0.5)


def test_tracks_keep_their_quads_and_move_them_with_the_box():
    from engocr.realtime.tracking import Tracker

    tracker = Tracker()
    frame, quad = _tilted_word_frame()
    box = np.concatenate([quad.min(0), quad.max(0)])[None]
    visible, _ = tracker.update(0, 0.0, frame, box, np.ones(1), quad[None])
    np.testing.assert_allclose(visible[0].quad, quad)
    moved = box + [6, 4, 6, 4]
    tracker.update(1, 0.1, frame, moved, np.ones(1), (quad + [6, 4])[None])
    track = tracker.coast(2, 0.2)[0]
    shift = (track.box[:2] - moved[0, :2])
    np.testing.assert_allclose(track.quad, quad + [6, 4] + shift, atol=1e-4)


@pytest.fixture(scope="module")
def oriented_model(tmp_path_factory, tiny_models):
    """A random tiny oriented detector firing everywhere with every box turned by 0.3 rad,
    exported to float TFLite with its card."""
    import keras

    from engocr.export.cards import detector_card
    from engocr.export.tflite import convert, write_model
    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector

    keras.utils.set_random_seed(0)
    config = DetectorConfig(**TINY_DET, oriented=True)
    model = build_detector(config)
    for layer in model.layers:
        if layer.name.startswith("out_s"):
            kernel, bias = layer.get_weights()
            bias[4::7], bias[5::7], bias[6::7] = 3.0, np.sin(0.6), np.cos(0.6)
            layer.set_weights([kernel * 0.0, bias])
    path = write_model(convert(model), tmp_path_factory.mktemp("oriented") / "det.tflite")
    card = detector_card(config, "float32", score_threshold=0.5)
    card.save(path.with_suffix(".json"))
    return path


def test_an_exported_oriented_detector_reports_tilted_quads(oriented_model, tiny_models):
    from engocr.realtime.card import ModelCard
    from engocr.realtime.reader import Reader

    assert ModelCard.load(oriented_model.with_suffix(".json")).oriented
    reader = Reader(det_model=oriented_model, rec_model=tiny_models["rec"], min_conf=0.0)
    frame = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    boxes, scores, quads = reader.detect(frame)
    assert len(boxes) and quads.shape == (len(boxes), 4, 2)
    top = quads[:, 1] - quads[:, 0]
    inside = (quads > 0.5).all((1, 2)) & (quads[..., 0] < 127.5).all(1) & \
        (quads[..., 1] < 95.5).all(1)  # quads clipped at the frame's edge lose their angle
    assert inside.any()
    np.testing.assert_allclose(np.arctan2(top[inside, 1], top[inside, 0]), 0.3, atol=1e-3)
    result = reader.read(frame)
    assert all(w.corners is not None for w in result.words)
    for word in result.words:
        (x0, y0), (x1, y1) = word.to_dict()["quad"][:2]
        assert y1 != y0 or x1 == x0 or min(word.box) == 0  # tilted, not a box's corners


def test_an_oriented_run_trains_from_a_level_run_and_evaluates(tmp_path):
    """`--oriented --init-from LEVEL_RUN`: the synthetic stream, targets and loss carry angles,
    the output layers are widened from the source's (recorded), and evaluation decodes
    oriented boxes; the run resumes as an oriented run."""
    import json

    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det import DetTrainer
    from engocr.train.loop import Phase

    none = tmp_path / "none"
    DetTrainer(tmp_path / "src", DetectorConfig(**TINY_DET), [Phase("a", 1, 1e-3)], batch=2,
               data=none, eval_every=1).train()
    run = tmp_path / "run"
    config = DetectorConfig(**TINY_DET, oriented=True)
    new = DetTrainer(run, config, [Phase("a", 2, 1e-3)], batch=2, data=none, eval_every=1,
                     init_from=tmp_path / "src")
    assert json.loads((run / "init.json").read_text())["widened"] == \
        ["out_s8", "out_s16", "out_s32"]
    assert new.train().step == 2
    assert "synth_val_hmean" in (run / "metrics.csv").read_text()
    resumed = DetTrainer(run, DetectorConfig(**TINY_DET), [Phase("a", 2, 1e-3)], batch=2,
                         data=none, eval_every=1)
    assert resumed.config.oriented and resumed.model.outputs[0].shape[-1] == 21


def test_synthetic_scenes_tilt_their_text_wider_when_asked():
    from engocr.train.data.synth import SynthScenes

    def angles(gen):
        found = []
        for i in range(12):
            quads = np.array([w.quad for w in gen[i].words if not w.ignore], np.float32)
            found.extend(np.abs(np.degrees(quads_to_obbs(quads.reshape(-1, 4, 2))[:, 4])))
        return np.array(found)

    default, same = SynthScenes(seed=3, photo_p=0.0), SynthScenes(seed=3, photo_p=0.0, tilt=1.0)
    np.testing.assert_array_equal(default[0].image, same[0].image)  # 1: what it always did
    level, tilted = angles(default), angles(SynthScenes(seed=3, photo_p=0.0, tilt=3.0))
    assert np.percentile(tilted, 90) > 1.8 * np.percentile(level, 90)


def test_the_first_run_notice_knows_an_oriented_detector_compiles_its_own_kernels(
        oriented_model, tiny_models):
    from engocr import cli
    from engocr.realtime import box_ends, end_head, kernels, oriented

    assert cli._is_oriented(oriented_model) and not cli._is_oriented(tiny_models["det"])
    assert not cli._is_oriented("/nonexistent/det.tflite")  # loading it says what is wrong
    kernels.warm_up()
    oriented.warm_up()
    box_ends.warm_up()  # the shipped oriented detector's card moves box ends
    end_head.warm_up()  # and one with an end head reads them
    assert kernels.kernels_cached(oriented=True)
