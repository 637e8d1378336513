"""`engocr eval rec|det` on small fixtures with known answers, and the threshold sweep that the
detector's evaluation and export share."""

import json

import cv2
import numpy as np
import pytest

from engocr.charset import edit_distance
from engocr.cli import main
from engocr.errors import InputError
from engocr.geometry import box_to_quad
from engocr.train.metrics import detection_breakdown, detection_scores, detection_sweep

WORDS = ["EXIT", "Open", "Cafe", "SALE", "Tea", "Bus", "Park", "Stop"]


def _render(word: str) -> np.ndarray:
    image = np.full((48, 40 + 30 * len(word), 3), 255, np.uint8)
    cv2.putText(image, word, (10, 36), cv2.FONT_HERSHEY_DUPLEX, 1.2, (0, 0, 0), 2, cv2.LINE_AA)
    return image


def test_sweep_equals_scoring_each_threshold_alone():
    rng = np.random.default_rng(5)
    preds, scores, gts = [], [], []
    for _ in range(6):
        xy = rng.uniform(0, 300, (8, 2))
        gt_boxes = np.concatenate([xy, xy + rng.uniform(20, 80, (8, 2))], 1)
        gts.append([(box_to_quad(b), "w", bool(i == 0)) for i, b in enumerate(gt_boxes)])
        jitter = gt_boxes[:6] + rng.normal(0, 6, (6, 4))
        boxes = np.concatenate([jitter, jitter[:2] + 3, rng.uniform(0, 300, (3, 4))])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 5)
        preds.append([box_to_quad(b) for b in boxes])
        scores.append(list(rng.uniform(0, 1, len(boxes))))
    thresholds = (0.1, 0.3, 0.5, 0.7, 0.9)
    sweep = detection_sweep(preds, scores, gts, thresholds)
    for t in thresholds:
        alone = detection_scores([[(q, None) for q, s in zip(p, sc, strict=True) if s >= t]
                                  for p, sc in zip(preds, scores, strict=True)], gts)
        for key in ("precision", "recall", "hmean"):
            assert sweep[t][key] == pytest.approx(alone[key])


def test_eval_rec_fixture_gives_expected_numbers(tmp_path, capsys):
    """Labels are the shipped model's own readings, some altered in a known way, so that word
    accuracy, exact accuracy and CER are known before the command runs."""
    from engocr.realtime.reader import DEFAULT_RECOGNIZER
    from engocr.train.evaluate import tflite_recognizer

    folder = tmp_path / "iiit5k_test" / "crops"
    folder.mkdir(parents=True)
    crops = [_render(w) for w in WORDS]
    recognizer = tflite_recognizer(DEFAULT_RECOGNIZER, threads=1)
    readings = recognizer(crops)[0]
    assert all(any(c.isalpha() for c in r) for r in readings), readings
    labels = {}
    for i, (crop, read) in enumerate(zip(crops, readings, strict=True)):
        cv2.imwrite(str(folder / f"{i}.png"), crop)
        # 0-3 as read; 4-5 case swapped (a protocol hit, an exact miss); 6-7 a wrong word.
        labels[f"{i}.png"] = read if i < 4 else read.swapcase() if i < 6 else read + "Q7"
    (folder.parent / "labels.json").write_text(json.dumps(labels))
    truths = [labels[f"{i}.png"] for i in range(len(WORDS))]
    cer = sum(edit_distance(r, t) for r, t in zip(readings, truths, strict=True)) / \
        sum(map(len, truths))

    assert main(["eval", "rec", "--data", str(tmp_path), "--sets", "iiit5k_test"]) == 0
    fields = capsys.readouterr().out.split()
    got = dict(zip(fields[1::2], fields[2::2], strict=False))
    assert float(got["word_acc"]) == pytest.approx(6 / 8, abs=1e-4)
    assert float(got["exact_acc"]) == pytest.approx(4 / 8, abs=1e-4)
    assert float(got["cer"]) == pytest.approx(cer, abs=1e-4)
    assert int(got["n"]) == 8


def test_breakdown_sorts_words_by_height_and_boxes_by_kind():
    small = [0, 0, 40, 10]      # 10 px tall: found
    tall = [100, 100, 200, 160]  # 60 px tall: missed, a fragment of it predicted
    gts = [[(box_to_quad(small), "a", False), (box_to_quad(tall), "b", False),
            (box_to_quad([300, 0, 340, 30]), "###", True)]]
    preds = [[box_to_quad([1, 0, 40, 10]), box_to_quad([100, 100, 140, 160]),
              box_to_quad([400, 400, 450, 420]), box_to_quad([302, 2, 338, 28]),
              box_to_quad([0, 200, 50, 230])]]
    scores = [[0.9, 0.8, 0.7, 0.9, 0.1]]  # the last is under the threshold: not counted
    out = detection_breakdown(preds, scores, gts, 0.5, bins=(0, 20, 10_000))
    assert [(b["words"], b["recall"]) for b in out["recall_by_height"]] == [(1, 1.0), (1, 0.0)]
    assert [(b["tilted"], b["boxable"]) for b in out["recall_by_height"]] == [(0, 1), (0, 1)]
    # Counted boxes: one hit, one fragment, one on background (the don't-care one is dropped).
    assert out["boxes"] == pytest.approx({"hit": 1 / 3, "partial": 1 / 3, "background": 1 / 3})


def test_breakdown_counts_tilted_words_that_no_axis_aligned_box_can_match():
    level = [[0, 0], [100, 0], [100, 30], [0, 30]]
    tilted = [[150, 150], [250, 50], [262, 62], [162, 162]]  # 45 degrees, thin: box IoU ~0.2
    gts = [[(level, "a", False), (tilted, "b", False)]]
    out = detection_breakdown([[]], [[]], gts, 0.5, bins=(0, 50, 10_000))
    assert [(b["words"], b["tilted"], b["boxable"]) for b in out["recall_by_height"]] == \
        [(1, 0.0, 1.0), (1, 1.0, 0.0)]


def test_eval_det_fixture_curve_ceiling_and_plot(tiny_models, tmp_path, capsys):
    folder = tmp_path / "ic15_train"
    (folder / "images").mkdir(parents=True)
    entries = []
    for n in (900, 901, 902):  # 900 is a training image: not evaluated
        cv2.imwrite(str(folder / "images" / f"img_{n}.jpg"), np.full((240, 320, 3), 200,
                                                                     np.uint8))
        level = [[20, 20], [120, 20], [120, 50], [20, 50]]
        tilted = [[150, 150], [250, 50], [262, 62], [162, 162]]  # 45 degrees, thin
        entries.append({"image": f"img_{n}.jpg", "width": 320, "height": 240, "words": [
            {"quad": level, "text": "EXIT", "ignore": False},
            {"quad": tilted, "text": "SALE", "ignore": False},
            {"quad": [[10, 200], [60, 200], [60, 230], [10, 230]], "text": "###",
             "ignore": True}]})
    (folder / "gt.json").write_text(json.dumps(entries))
    plot = tmp_path / "pr.png"
    code = main(["eval", "det", "--data", str(tmp_path), "--model", str(tiny_models["det"]),
                 "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0 and "ic15 val (2 images)" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1] == "0"]
    assert len(rows) == 19 and all(0 <= float(v) <= 1 for row in rows for v in row[1:])
    # The level word's box is the word; the tilted word's box overlaps its quad by IoU < 0.5.
    assert "axis-aligned ceiling" in out and "P 0.5000  R 0.5000  H 0.5000" in out
    assert "recall by word height" in out and "on background" in out
    image = cv2.imread(str(plot))
    assert image is not None and image.ndim == 3 and min(image.shape[:2]) >= 300


def test_settings_from_gives_a_card_the_exports_decode_and_crop_settings(tmp_path):
    """`engocr eval det --run R --settings-from M` scores a Keras run as its export would run:
    the card takes every decode and crop setting of M's card, and nothing else."""
    from engocr.commands.training import adopt_decode_settings
    from engocr.realtime.card import DECODE_SETTINGS, ModelCard

    source = ModelCard(kind="detector", input_width=320, input_height=256, input_channels=3,
                       iou_threshold=0.6, box_merge_iou=0.5, large_min_height=90.0,
                       large_score_threshold=0.1, box_extend=0.05, end_reach=0.6, end_gap=0.2,
                       end_ink=0.3, crop_pad_x=0.0, crop_pad_y=0.2, score_threshold=0.4)
    source.save(tmp_path / "det.json")
    card = ModelCard(kind="detector", input_width=640, input_height=480, input_channels=3)
    adopt_decode_settings(card, tmp_path / "det.tflite")
    assert all(getattr(card, name) == getattr(source, name) for name in DECODE_SETTINGS)
    assert (card.input_width, card.score_threshold) == (640, 0.3)  # the run's own, kept
    # An end head's reach comes along only where both models have the head.
    card.end_head, card.end_head_reach = True, 0.5
    adopt_decode_settings(card, tmp_path / "det.tflite")
    assert card.end_head_reach == 0.5
    source.end_head, source.end_head_reach = True, 0.25
    source.save(tmp_path / "det.json")
    adopt_decode_settings(card, tmp_path / "det.tflite")
    assert card.end_head_reach == 0.25

    ModelCard(kind="recognizer", input_width=128, input_height=32,
              input_channels=1).save(tmp_path / "rec.json")
    with pytest.raises(InputError, match="rec.tflite is a recognizer, not a detector"):
        adopt_decode_settings(card, tmp_path / "rec.tflite")
    with pytest.raises(InputError, match="--settings-from: .*model card missing"):
        adopt_decode_settings(card, tmp_path / "none.tflite")


def test_settings_from_without_a_run_is_one_clear_error(tmp_path, capsys):
    code = main(["eval", "det", "--data", str(tmp_path), "--settings-from",
                 str(tmp_path / "det.tflite")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--settings-from applies to a Keras run" in err[0]


def test_postprocess_grid_scores_every_pair_and_restores_the_card(tiny_models):
    """The grid that the detector export chooses NMS / merge overlaps from: its row for the
    card's own pair is what the runtime's decode scores, and the card is left as it was."""
    from engocr.train.data.records import SceneSample, WordBox
    from engocr.train.evaluate import (
        BOX_EXTENDS,
        MERGE_IOUS,
        NMS_IOUS,
        detection_curve,
        postprocess_grid,
        tflite_detector,
    )

    detector = tflite_detector(tiny_models["det"], threshold=0.5)
    image = np.full((240, 320, 3), 200, np.uint8)
    scenes = [SceneSample([WordBox([[20, 20], [120, 20], [120, 50], [20, 50]], "EXIT")],
                          image=image.copy()) for _ in range(2)]
    card = detector.card
    own = (card.iou_threshold, card.box_merge_iou, card.box_extend)
    rows = postprocess_grid(detector, {"train": scenes}, 0.5)
    assert [(r["nms_iou"], r["merge_iou"], r["box_extend"]) for r in rows] == \
        [(n, m, e) for n in NMS_IOUS for m in MERGE_IOUS for e in BOX_EXTENDS]
    assert (card.iou_threshold, card.box_merge_iou, card.box_extend) == own
    row = next(r for r in rows if (r["nms_iou"], r["merge_iou"], r["box_extend"]) == own)
    want = detection_curve(detector, scenes, [0.5])[0.5]
    assert row["train"] == {k: round(v, 4) for k, v in want.items()}


def test_box_extend_lengthens_boxes_along_their_text(tiny_models):
    """The card's `box_extend` adds that many box heights to each end of every box (where the
    frame does not clip it), and nothing across the text."""
    from engocr.train.evaluate import tflite_detector

    detector = tflite_detector(tiny_models["det"], threshold=0.5)
    frame = np.full((240, 320, 3), 200, np.uint8)
    plain, _, _ = detector(frame)
    detector.card.box_extend = 0.25
    longer, _, _ = detector(frame)
    inside = (plain[:, 0] > 40) & (plain[:, 2] < 280) & (plain[:, 1] > 1) & (plain[:, 3] < 239)
    assert inside.any()
    h = plain[inside, 3] - plain[inside, 1]
    np.testing.assert_allclose(longer[inside, 2] - longer[inside, 0],
                               plain[inside, 2] - plain[inside, 0] + 0.5 * h, atol=0.05)
    np.testing.assert_allclose(longer[inside][:, [1, 3]], plain[inside][:, [1, 3]], atol=0.05)


def test_min_conf_is_chosen_by_end_to_end_f():
    """Dropping the unsure misreadings raises end-to-end F until correct readings go too."""
    from engocr.train.min_conf import best_min_conf, conf_grid

    def box(x):
        return [[x, 0], [x + 10, 0], [x + 10, 10], [x, 10]]

    truth = [[(box(0), "EXIT", False), (box(20), "open", False), (box(40), "cafe", False)]]
    found = [[(box(0), "EXIT", 0.95), (box(20), "opan", 0.45), (box(40), "cafe", 0.65),
              (box(60), "xx", 0.35)]]
    rows = conf_grid(found, truth, grid=(0.0, 0.4, 0.5, 0.7))
    f = {r["min_conf"]: r["e2e_hmean"] for r in rows}
    assert f[0.0] == pytest.approx(2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3), abs=1e-4)
    assert f[0.5] == pytest.approx(2 * 1.0 * (2 / 3) / (1.0 + 2 / 3), abs=1e-4)  # misreads gone
    assert f[0.7] < f[0.5]  # a correct reading lost
    assert best_min_conf(rows) == 0.5
