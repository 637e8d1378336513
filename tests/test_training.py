"""Training behaviour on tiny models: the CRNN overfits a batch to exact strings (and its
TFLite exports read them back), runs resume at the step they stopped, the YOLO loss is finite
and falls, and target encoding round-trips through the runtime's decoder."""

import json
from dataclasses import asdict

import numpy as np
import pytest

from engocr.models.crnn import CRNNConfig
from engocr.train.loop import Phase
from tests.conftest import TINY_DET, TINY_REC, synthetic_detector_batch, write_photo_set

pytestmark = pytest.mark.slow
WORDS = ["EXIT", "open", "Cafe", "42", "SALE", "tea", "Bus", "9:30"]


@pytest.fixture(scope="module")
def word_crops():
    from engocr.train.data.render import HERSHEY, render_block

    rng = np.random.default_rng(0)
    crops = []
    for i, word in enumerate(WORDS):
        block = render_block(rng, [[word]], f"hershey:{HERSHEY[i % 4]}", 28)
        ink = block.ink
        crops.append((255 - ink * 255).astype(np.uint8))
    return crops


def test_crnn_overfits_then_exports_and_reads(word_crops, tmp_path):
    import tensorflow as tf

    from engocr.export.cards import recognizer_card
    from engocr.export.tflite import convert, representative_from, write_model
    from engocr.preprocess import crop_to_input
    from engocr.realtime.kernels import ctc_greedy_decode
    from engocr.realtime.reader import Reader
    from engocr.train.rec import RecTrainer, predict_logits
    from engocr.train.rec_data import labels_to_dense

    config = CRNNConfig(**TINY_REC)
    trainer = RecTrainer(tmp_path / "run", config, [Phase("p", 1, 3e-3)], batch=len(WORDS))
    step = trainer.make_step()
    trainer.optimizer.learning_rate.assign(3e-3)
    images = np.stack([crop_to_input(c, config.height, config.width) for c in word_crops])
    labels, lengths = labels_to_dense(WORDS, config.time_steps)
    x = tf.constant(images[..., None], tf.float32)
    first = float(step(x, tf.constant(labels), tf.constant(lengths)))
    read = []
    for i in range(600):
        loss = float(step(x, tf.constant(labels), tf.constant(lengths)))
        assert np.isfinite(loss)
        if i % 50 == 49:
            read = ctc_greedy_decode(predict_logits(trainer.model, images))[0]
            if read == WORDS:
                break
    assert read == WORDS, f"loss {first:.1f} -> {loss:.3f}, read {read}"

    # Exported models read the same strings through the runtime (tiny detector for Reader).
    det = tmp_path / "det.tflite"
    from engocr.export.cards import detector_card
    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector

    det_config = DetectorConfig(**TINY_DET)
    write_model(convert(build_detector(det_config)), det)
    detector_card(det_config, "float32").save(det.with_suffix(".json"))
    for quant in ("float32", "int8"):
        path = write_model(convert(trainer.model, quant, representative_from(images)),
                           tmp_path / f"rec-{quant}.tflite")
        recognizer_card(config, quant).save(path.with_suffix(".json"))
        texts = Reader(det, path, threads=1).recognize(word_crops)
        matches = sum(a == b for a, b in zip(texts, WORDS, strict=True))
        assert matches >= (8 if quant == "float32" else 6), (quant, texts)


def test_rec_training_resumes_at_the_step_it_stopped(tmp_path):
    from engocr.train.loop import RunState
    from engocr.train.rec import RecTrainer

    config = CRNNConfig(**TINY_REC)
    first, second = Phase("a", 4, 1e-3), Phase("b", 3, 5e-4, freeze_lower=True)
    run = tmp_path / "run"
    a = RecTrainer(run, config, [first], batch=4, data=tmp_path / "none", eval_every=1000)
    state = a.train()
    assert (state.step, state.phase) == (4, 1)
    saved = a.model.get_weights()
    # A resumed run follows its saved recipe.json (edited here, as between sessions), not
    # the recipe it is constructed with.
    recipe = json.loads((run / "recipe.json").read_text())
    (run / "recipe.json").write_text(json.dumps(recipe + [asdict(second)]))
    b = RecTrainer(run, config, [first], batch=4, data=tmp_path / "none", eval_every=1000)
    assert b.state.step == 4 and b.state.synth_index == 16 and len(b.recipe) == 2
    for got, want in zip(b.model.get_weights(), saved, strict=True):
        np.testing.assert_array_equal(got, want)
    state = b.train()
    assert (state.step, state.phase) == (7, 2)
    assert RunState.load(run / "state.json").step == 7
    assert (run / "ckpt" / "model.weights.h5").exists()


def _record_weights(trainer, snapshots: list, stop_after: int = 0) -> None:
    """Make `trainer` append its weights to `snapshots` after every step, and, with
    `stop_after`, stop it as a SIGTERM would (checkpoint, exit) after that many steps."""
    import signal

    make_step = trainer.make_step

    def recording_make_step():
        step = make_step()

        def run_step(*batch):
            loss = step(*batch)
            snapshots.append(trainer.model.get_weights())
            if len(snapshots) == stop_after:
                signal.raise_signal(signal.SIGTERM)
            return loss
        return run_step

    trainer.make_step = recording_make_step


def test_averaging_phase_scores_and_keeps_the_mean_of_its_snapshots(tmp_path):
    """A phase with `average_every`: its evaluation scores the running mean of the weights
    taken every N steps, the best weights are that mean, and training goes on from its own
    weights."""
    from engocr.train.rec import RecTrainer

    config = CRNNConfig(**TINY_REC)
    run = tmp_path / "run"
    trainer = RecTrainer(run, config, [Phase("avg", 4, 1e-3, average_every=2)], batch=4,
                         data=tmp_path / "none", eval_every=4)
    snapshots = []
    _record_weights(trainer, snapshots)
    trainer.train()
    assert trainer.state.step == 4 and trainer.state.averaged == 0  # reset: the phase ended
    assert "averaged" in (run / "metrics.csv").read_text()
    trainer.model.load_weights(run / "best.weights.h5")  # the one evaluation: best
    for got, a, b in zip(trainer.model.get_weights(), snapshots[1], snapshots[3], strict=True):
        np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-5, atol=1e-6)
    trainer.model.load_weights(run / "ckpt" / "model.weights.h5")
    for got, want in zip(trainer.model.get_weights(), snapshots[3], strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_phase_that_ends_between_evaluations_scores_its_last_weights(tmp_path):
    """A phase whose length is no multiple of `eval_every` is evaluated at its end too: an
    averaging phase's full mean was once dropped unscored at the end of a run."""
    import csv

    from engocr.train.rec import RecTrainer

    run = tmp_path / "run"
    recipe = [Phase("a", 5, 1e-3), Phase("avg", 3, 1e-4, average_every=1)]
    trainer = RecTrainer(run, CRNNConfig(**TINY_REC), recipe, batch=4,
                         data=tmp_path / "none", eval_every=4)
    trainer.train()
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["step"]), r["phase"]) for r in rows] == [(4, "a"), (5, "a"), (8, "avg")]
    assert rows[-1]["averaged"] == "3"


def test_averaging_resumes_with_its_running_mean(tmp_path):
    from engocr.train.rec import RecTrainer

    config = CRNNConfig(**TINY_REC)
    run, none = tmp_path / "run", tmp_path / "none"
    recipe = [Phase("avg", 50, 1e-3, average_every=1)]
    a = RecTrainer(run, config, recipe, batch=4, data=none, eval_every=1000)
    snapshots = []
    _record_weights(a, snapshots, stop_after=3)
    a.train()  # stopped after its third step, mid-phase
    assert a.state.step == 3 and a.state.averaged == 3
    b = RecTrainer(run, config, recipe, batch=4, data=none, eval_every=1000)
    b._load_average()
    assert b.state.averaged == 3
    for got, *seen in zip(b.average, *snapshots, strict=True):
        np.testing.assert_allclose(got, np.mean(seen, axis=0), rtol=1e-4, atol=1e-6)


def test_rec_run_starts_from_another_runs_body(tmp_path):
    """`--init-from`: a BiLSTM run begins with a conv-head run's body, once (not on resume)."""
    from engocr.train.rec import RecTrainer

    conv = RecTrainer(tmp_path / "conv", CRNNConfig(**TINY_REC), [Phase("a", 2, 1e-3)], batch=4,
                      data=tmp_path / "none", eval_every=1)
    conv.train()
    bilstm_config = CRNNConfig(**{**TINY_REC, "head": "bilstm"})
    run = tmp_path / "bilstm"
    b = RecTrainer(run, bilstm_config, [Phase("a", 2, 1e-3)], batch=4, data=tmp_path / "none",
                   eval_every=1000, init_from=tmp_path / "conv")
    copied = json.loads((run / "init.json").read_text())["layers"]
    assert "block1_conv" in copied and "collapse" in copied and "seq_rnn" not in copied
    conv.model.load_weights(tmp_path / "conv" / "best.weights.h5")
    for name in copied:
        for got, want in zip(b.model.get_layer(name).get_weights(),
                             conv.model.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)
    b.train()
    trained = b.model.get_layer("block4_conv").get_weights()[0]
    resumed = RecTrainer(run, bilstm_config, [Phase("a", 2, 1e-3)], batch=4,
                         data=tmp_path / "none", eval_every=1000, init_from=tmp_path / "conv")
    np.testing.assert_array_equal(resumed.model.get_layer("block4_conv").get_weights()[0],
                                  trained)


def test_rec_run_starts_from_another_runs_averaged_weights(tmp_path):
    """`--init-weights NAME`: a new run copies the source run's weights of that name (here the
    mean of its best and last, `engocr train average`) and says so in init.json."""
    from engocr.models.crnn import build_crnn
    from engocr.train.averaging import average_run_weights
    from engocr.train.rec import RecTrainer

    source = tmp_path / "source"
    RecTrainer(source, CRNNConfig(**TINY_REC), [Phase("a", 3, 1e-3)], batch=4,
               data=tmp_path / "none", eval_every=1).train()
    mean = average_run_weights(source, ["best", "last"], "mean")
    run = tmp_path / "run"
    config = CRNNConfig(**{**TINY_REC, "min_aspect": 2.0})
    b = RecTrainer(run, config, [Phase("a", 2, 1e-3)], batch=4, data=tmp_path / "none",
                   eval_every=1000, init_from=source, init_weights="mean")
    assert json.loads((run / "init.json").read_text())["weights"] == "mean"
    want = build_crnn(CRNNConfig(**TINY_REC))
    want.load_weights(mean)
    for got, expected in zip(b.model.get_weights(), want.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert json.loads((run / "config.json").read_text())["min_aspect"] == 2.0
    assert b.train().step == 2  # and trains from there, on crops widened to 2.0


def test_det_training_resumes_at_the_step_it_stopped(tmp_path):
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det import DetTrainer

    config = DetectorConfig(**TINY_DET)
    first, second = Phase("a", 3, 1e-3), Phase("b", 2, 5e-4, freeze_lower=True)
    run, none = tmp_path / "run", tmp_path / "none"
    a = DetTrainer(run, config, [first], batch=2, data=none, eval_every=1000)
    state = a.train()
    assert (state.step, state.phase) == (3, 1)
    saved = a.model.get_weights()
    # The run keeps its saved config (anchors) and recipe: the second phase is added by
    # editing recipe.json, as between sessions.
    recipe = json.loads((run / "recipe.json").read_text())
    (run / "recipe.json").write_text(json.dumps(recipe + [asdict(second)]))
    b = DetTrainer(run, config, [first], batch=2, data=none, eval_every=1000)
    # 6 samples trained on, and those the phase-end evaluation re-estimated batch norms with
    assert b.state.step == 3 and b.state.synth_index == state.synth_index >= 6
    assert len(b.recipe) == 2
    assert b.config.anchors == a.config.anchors
    for got, want in zip(b.model.get_weights(), saved, strict=True):
        np.testing.assert_array_equal(got, want)
    state = b.train()
    assert (state.step, state.phase) == (5, 2)
    assert (run / "ckpt" / "model.weights.h5").exists() and (run / "ckpt").is_dir()


def test_a_run_without_its_checkpoint_refuses_to_resume(tmp_path):
    """A run whose weights were removed (its records kept) says so in one line instead of
    training fresh weights from its old step."""
    import shutil

    from engocr.errors import InputError
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det import DetTrainer

    config, run, none = DetectorConfig(**TINY_DET), tmp_path / "run", tmp_path / "none"
    DetTrainer(run, config, [Phase("a", 2, 1e-3)], batch=2, data=none, eval_every=1000).train()
    shutil.rmtree(run / "ckpt")
    with pytest.raises(InputError, match="state is at step 2 but it has no checkpoint"):
        DetTrainer(run, config, [Phase("a", 2, 1e-3)], batch=2, data=none, eval_every=1000)


def test_det_run_starts_from_another_run_for_a_longer_side(tmp_path):
    """`--init-from` with `--max-side`: the new run keeps the source's anchors and weights,
    evaluates full frames at its longest side, and does not re-copy them on resume."""
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det import DetTrainer

    none = tmp_path / "none"
    source = DetTrainer(tmp_path / "src", DetectorConfig(**TINY_DET), [Phase("a", 2, 1e-3)],
                        batch=2, data=none, eval_every=1)
    source.train()
    config = DetectorConfig(**{**TINY_DET, "max_side": 320})
    run = tmp_path / "run"
    new = DetTrainer(run, config, [Phase("a", 1, 1e-3)], batch=2, data=none, eval_every=1,
                     init_from=tmp_path / "src")
    assert new.config.anchors == source.config.anchors and new.config.max_side == 320
    assert "backbone" in json.loads((run / "init.json").read_text())["layers"]
    source.model.load_weights(tmp_path / "src" / "best.weights.h5")
    for got, want in zip(new.model.get_weights(), source.model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert new.train().step == 1
    assert "synth_val_hmean" in (run / "metrics.csv").read_text()  # full frames, side 320
    trained = new.model.get_weights()
    resumed = DetTrainer(run, config, [Phase("a", 1, 1e-3)], batch=2, data=none,
                         eval_every=1, init_from=tmp_path / "src")
    for got, want in zip(resumed.model.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(got, want)


def test_det_run_from_another_with_new_anchors_starts_with_the_same_boxes(tmp_path,
                                                                          monkeypatch):
    """`--recluster-anchors`: new k-means anchors, and the copied output layers shifted so
    that the new run decodes the boxes the source run did."""
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.realtime.kernels import yolo_postprocess
    from engocr.train import det
    from engocr.train.det import DetTrainer

    none = tmp_path / "none"
    source = DetTrainer(tmp_path / "src", DetectorConfig(**TINY_DET), [Phase("a", 2, 1e-3)],
                        batch=2, data=none, eval_every=1)
    source.train()
    source.model.load_weights(tmp_path / "src" / "best.weights.h5")
    old = np.asarray(source.config.anchors, np.float32)
    # Windows of other data cluster elsewhere: here, wider and lower anchors.
    monkeypatch.setattr(det, "compute_anchors", lambda config, data: tuple(
        tuple((w * 1.5, h * 0.8) for w, h in scale) for scale in source.config.anchors))
    config = DetectorConfig(**TINY_DET)
    new = DetTrainer(tmp_path / "run", config, [Phase("a", 1, 1e-3)], batch=2, data=none,
                     eval_every=1, init_from=tmp_path / "src", recluster=True)
    anchors = np.asarray(new.config.anchors, np.float32)
    np.testing.assert_allclose(anchors, old * [1.5, 0.8])  # this run's, not the source's
    x = np.random.default_rng(0).uniform(0, 255, (1, config.train_height, config.train_width,
                                                  3)).astype(np.float32)

    def boxes(model, anchor_set):
        outs = [np.asarray(o) for o in model(x, training=False)]
        outs = [o[0].reshape(o.shape[1], o.shape[2], anchor_set.shape[1], 5) for o in outs]
        return yolo_postprocess(outs, anchor_set, config.strides, 0.01, merge_iou=0)[0]

    np.testing.assert_allclose(boxes(new.model, anchors), boxes(source.model, old),
                               rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("side, scale", [(1024, 0.8), (512, 0.4), (2048, 1.0)])
def test_det_windows_are_cut_at_the_runtime_scale_of_their_side(side, scale):
    """A 1280x720 scene trained for a longest side of 1024 is scaled by 0.8 (times the zoom,
    ZOOM), as the runtime scales its frames; never enlarged for a longer side."""
    from engocr.train.data.records import SceneSample, WordBox
    from engocr.train.det_data import ZOOM, scene_to_input

    quad = [[600, 340], [700, 340], [700, 380], [600, 380]]
    scene = SceneSample([WordBox(quad, "word")], image=np.zeros((720, 1280, 3), np.uint8))
    rng = np.random.default_rng(0)
    heights = []
    for _ in range(40):
        _, boxes, _ = scene_to_input(scene, (2048, 2048), rng, side)
        heights.append(boxes[0, 3] - boxes[0, 1])
    ratio = np.array(heights) / 40 / scale
    assert ratio.min() >= ZOOM[0] - 0.01 and ratio.max() <= ZOOM[1] + 0.01
    assert ratio.max() / ratio.min() > 0.5 * ZOOM[1] / ZOOM[0]


# IoU objectness targets are soft labels: their cross-entropy has a floor above zero, so the
# YOLOv5 loss cannot halve as fast as YOLOv3's (it fell to 0.52-0.68 of its start in 80 steps).
@pytest.mark.parametrize("losses, fall", [
    ({}, 0.5), ({"xy_scale": 2.0, "box_loss": "giou", "iou_objectness": True}, 0.8)],
    ids=["yolov3", "yolov5"])
def test_yolo_loss_finite_and_falls(losses, fall):
    import tensorflow as tf

    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
    from engocr.train.compiled import make_train_step
    from engocr.train.losses import yolo_loss

    tf.keras.utils.set_random_seed(0)
    config = DetectorConfig(**TINY_DET, **losses)
    model = build_detector(config, training=True)
    x, targets, gt = synthetic_detector_batch(config)
    step = make_train_step(model, tf.keras.optimizers.Adam(2e-3),
                           lambda outputs, t, g: yolo_loss(outputs, list(t), g, config))
    # 160 steps: the YOLOv5 form sits on a plateau near 80% of its start for about 80 steps,
    # and whether it has left it by step 80 depends on the CPU's rounding (oneDNN).
    losses = [float(step(x, tuple(targets), gt)) for _ in range(160)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < fall * np.mean(losses[:5]), losses[::10]


@pytest.mark.parametrize("xy_scale", [1.0, 2.0])
def test_targets_round_trip_through_runtime_decoder(xy_scale):
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.realtime.kernels import yolo_postprocess
    from engocr.train.det_targets import encode_targets, kmeans_anchors, targets_to_raw

    rng = np.random.default_rng(3)
    config = DetectorConfig()
    wh = np.stack([rng.uniform(10, 100, 12), rng.uniform(6, 30, 12)], 1)
    # Keep the boxes apart so that no two share a cell and anchor.
    xy = np.stack([np.arange(12) % 4 * 120 + 5, np.arange(12) // 4 * 110 + 5], 1)
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    anchors = np.array(config.anchors, np.float32)
    grids = encode_targets(boxes, anchors, config.strides, (config.width, config.height),
                           xy_scale=xy_scale)
    # YOLOv5 centres: the two nearest neighbour cells hold each box too (none is on an edge).
    positives = sum(int(g[..., 4].sum()) for g in grids)
    assert positives >= len(boxes) * (3 if xy_scale == 2 else 1)
    decoded, scores = yolo_postprocess(targets_to_raw(grids, xy_scale=xy_scale), anchors,
                                       list(config.strides), 0.5, iou_threshold=0.9,
                                       xy_scale=xy_scale)
    order = np.lexsort(np.round(decoded[:, :2]).T[::-1])
    want = np.lexsort(np.round(boxes[:, :2]).T[::-1])
    assert len(decoded) == len(boxes)
    np.testing.assert_allclose(decoded[order], boxes[want], atol=0.05)
    found = kmeans_anchors(np.abs(rng.normal(30, 10, (500, 2))) + 2, k=9)
    assert found.shape == (9, 2) and np.all(np.diff(found.prod(1)) >= 0)


def test_det_windows_often_hold_a_whole_large_word():
    """A word wider than most random windows' room is still whole in about half the windows
    (the placement that keeps one word whole), so large words are learnt as positives."""
    from engocr.train.data.records import SceneSample, WordBox
    from engocr.train.det_data import scene_to_input

    quad = [[500, 200], [980, 200], [980, 360], [500, 360]]
    scene = SceneSample([WordBox(quad, "WORD")], image=np.zeros((720, 1280, 3), np.uint8))
    rng = np.random.default_rng(1)
    whole = sum(len(scene_to_input(scene, (384, 288), rng, 1024)[1]) for _ in range(60))
    assert whole >= 20


def test_real_windows_come_from_workers_in_an_order_a_resumed_run_continues(tmp_path):
    from engocr.train.det_data import real_window_stream

    write_photo_set(tmp_path / "data" / "ic15_train", ["img_1.png", "img_2.png", "img_3.png"],
                    (640, 360), greys=[60, 120, 180])

    def windows(start: int, n: int, weights=(1.0, 1.0, 1.0)) -> list:
        stream = real_window_stream(tmp_path / "data", np.array(weights), 3, start, (128, 96),
                                    320)
        try:
            return [next(stream) for _ in range(n)]
        finally:
            stream.close()

    first = windows(0, 6)
    assert all(w[0].shape == (96, 128, 3) for w in first)
    for a, b in zip(windows(4, 2), first[4:], strict=True):  # resumed at window 4
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    # Drawn by weight: only the second photo (grey 120, jittered) when it weighs all.
    only = windows(0, 4, weights=(0.0, 1.0, 0.0))
    assert all(abs(float(np.median(w[0])) - 120) < 45 for w in only)


def test_train_rec_command_builds_the_body_and_follows_the_recipe_it_is_given(tmp_path,
                                                                               monkeypatch):
    from engocr.cli import main

    monkeypatch.setenv("ENGOCR_DATA", str(tmp_path / "none"))  # restored after the test
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps([{"name": "only", "steps": 2, "lr": 1e-3}]))
    run = tmp_path / "run"
    code = main(["train", "rec", "--run", str(run), "--width", "64", "--widths", "8", "8", "16",
                 "16", "24", "--hidden", "24", "--recipe", str(recipe), "--batch", "4",
                 "--pool", "64", "--data", str(tmp_path / "none"), "--eval-every", "1000"])
    assert code == 0
    config = json.loads((run / "config.json").read_text())
    assert config["widths"] == [8, 8, 16, 16, 24] and config["hidden"] == 24
    assert json.loads((run / "state.json").read_text())["step"] == 2
    assert [p["name"] for p in json.loads((run / "recipe.json").read_text())] == ["only"]


def test_train_rec_command_refuses_a_bad_recipe_in_one_line(tmp_path, capsys):
    from engocr.cli import main

    recipe = tmp_path / "recipe.json"
    recipe.write_text('[{"name": "a", "stepz": 3}]')
    code = main(["train", "rec", "--run", str(tmp_path / "run"), "--recipe", str(recipe)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "not a recipe" in err[0], err
    assert not (tmp_path / "run").exists()  # nothing created for a run that never started
