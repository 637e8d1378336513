"""Evaluation of Keras runs and exported TFLite models on the real data (`engocr eval ...`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engocr.charset import CHARSET
from engocr.errors import InputError
from engocr.geometry import box_to_quad
from engocr.realtime.detector import YoloPredictor
from engocr.realtime.kernels import ctc_greedy_decode
from engocr.train import rec_data
from engocr.train.data.importers import ic15_scenes
from engocr.train.metrics import detection_sweep, recognition_scores


def tflite_recognizer(path: Path, threads: int | None = None):
    """A TFLite recognizer as the Reader builds it: with the word list where its card has a
    lexicon margin."""
    from engocr.realtime.reader import load_model
    from engocr.realtime.recognizer import TextRecognizer, card_lexicon

    engine, card = load_model(path, threads)
    return TextRecognizer(engine, card, max_batch=64, lexicon=card_lexicon(card))


def read_logits(recognizer, logits: np.ndarray, lexicon: bool = True) -> list[str]:
    """Texts of a TFLite recognizer's outputs, corrected by its word list if it has one and
    `lexicon` is on."""
    texts = ctc_greedy_decode(logits, recognizer.card.charset, recognizer.card.blank_index)[0]
    if lexicon and recognizer.lexicon is not None:
        texts = recognizer.lexicon.correct(texts, logits)
    return texts


def read_crops_tflite(recognizer, crops: list[np.ndarray], lexicon: bool = True) -> list[str]:
    """Texts of word crops through a TFLite recognizer (see read_logits)."""
    return read_logits(recognizer, recognizer.logits(crops), lexicon)


def evaluate_recognizer(sets: list[str], run: Path | None = None, model: Path | None = None,
                        data: Path | None = None, limit: int | None = None,
                        weights: str = "best") -> dict:
    """Word accuracy (protocol), exact accuracy and CER per crop set. A TFLite recognizer with
    a word list also reports what the model reads without it (`model_word_acc`, ...). A run
    is read with its `weights` (best, last, or a name of `engocr train average`)."""
    if run is not None:
        from engocr.train.rec import predict_logits
        from engocr.train.runs import load_recognizer_model

        keras_model, config = load_recognizer_model(run, weights)
        height, width, aspect = config.height, config.width, config.min_aspect

        def predict(samples):  # the readings, and the model's alone where they differ
            images = rec_data.to_arrays(samples, height, width, aspect)[0]
            return ctc_greedy_decode(predict_logits(keras_model, images), CHARSET)[0], None
    else:
        from engocr.realtime.reader import DEFAULT_RECOGNIZER

        recognizer = tflite_recognizer(model or DEFAULT_RECOGNIZER)

        def predict(samples):
            logits = recognizer.logits([s.load() for s in samples])
            alone = read_logits(recognizer, logits, lexicon=False) if recognizer.lexicon else None
            return read_logits(recognizer, logits), alone
    results = {}
    for name in sets:
        try:
            samples = rec_data.load_crops(name, data)
        except (FileNotFoundError, InputError):  # a set that is not there is left out
            continue
        samples = samples[:limit] if limit else samples
        texts = [s.text for s in samples]
        readings, alone = predict(samples)
        scores = recognition_scores(readings, texts)
        if alone is not None:
            scores.update({f"model_{k}": v for k, v in recognition_scores(alone, texts).items()})
        scores["n"] = len(texts)
        results[name] = scores
    return results


DEFAULT_THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.05, 0.96, 0.05))


def ic15_val_scenes(data: Path | None = None, limit: int | None = None):
    """The validation images (901-1000); FileNotFoundError where the data is absent."""
    scenes = ic15_scenes("val", data, required=True)
    return scenes[:limit] if limit else scenes


def tflite_detector(path: Path, threads: int | None = None, threshold: float = 0.05):
    """An exported detector as the runtime runs it (its own letterbox, numba decode and NMS)."""
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.reader import load_model

    engine, card = load_model(path, threads)
    return TextDetector(engine, card, score_threshold=threshold)


def raw_outputs(detector: YoloPredictor, scenes) -> list[tuple]:
    """(raw head outputs, letterbox placement, frame) per scene: the model's share of
    detection, run once so that decoding can vary (thresholds, NMS and merge settings, box
    ends)."""
    cached = []
    for scene in scenes:
        image = scene.load()
        x, placement = detector.preprocess(image)
        cached.append((detector.infer(x), placement, image))
        scene.release()
    return cached


def decode_cached(detector: YoloPredictor, cached: list[tuple], scenes,
                  threshold: float) -> tuple[list, list, list]:
    """(predicted quads, their scores, ground truth) per scene from `raw_outputs`, decoded
    with the detector's current settings at `threshold`."""
    boxes, scores = [], []
    for raws, placement, image in cached:
        found = detector.postprocess(raws, placement, image.shape, threshold)
        _, found_scores, found_quads = detector.finish_ends(image, found)
        boxes.append([q.tolist() for q in found_quads])
        scores.append(list(found_scores))
    gts = [[(w.quad, w.text, w.ignore) for w in s.words] for s in scenes]
    return boxes, scores, gts


def detections_by_threshold(detector: YoloPredictor, scenes, thresholds
                            ) -> dict[float, tuple]:
    """`decode_cached`'s output at each score threshold. The model runs once per scene; decode,
    NMS and merge run per threshold, as the runtime would at that threshold (the weighted
    merge averages only candidates above it, so filtering one low-threshold run by score
    would not give the same boxes)."""
    cached = raw_outputs(detector, scenes)
    return {t: decode_cached(detector, cached, scenes, t) for t in thresholds}


def detection_curve(detector, scenes, thresholds=DEFAULT_THRESHOLDS) -> dict[float, dict]:
    """P/R/H at each score threshold (see `detections_by_threshold`)."""
    return curve_from(detections_by_threshold(detector, scenes, thresholds))


def curve_from(found: dict[float, tuple]) -> dict[float, dict]:
    """P/R/H per threshold from `detections_by_threshold`'s output."""
    return {t: detection_sweep(*f, [t])[t] for t, f in found.items()}


# The post-processing grid: NMS overlap threshold x weighted-merge overlap (0: plain NMS).
NMS_IOUS = (0.3, 0.45, 0.6)
MERGE_IOUS = (0.0, 0.5, 0.65)
BOX_EXTENDS = (0.0, 0.05, 0.1, 0.15)  # x box height at each end (ModelCard.box_extend)


def postprocess_grid(detector: YoloPredictor, splits: dict[str, list], threshold: float,
                     ) -> list[dict]:
    """P/R/H per split for every NMS IoU x merge IoU x box extension of the grid at
    `threshold`, decoded with the runtime's kernels; the model runs once per image. Sets the
    detector card's settings back to what they were."""
    cached = {name: raw_outputs(detector, scenes) for name, scenes in splits.items()}
    card = detector.card
    saved = card.iou_threshold, card.box_merge_iou, card.box_extend
    rows = []
    try:
        for nms_iou in NMS_IOUS:
            for merge_iou in MERGE_IOUS:
                for extend in BOX_EXTENDS:
                    card.iou_threshold, card.box_merge_iou = nms_iou, merge_iou
                    card.box_extend = extend
                    row = {"nms_iou": nms_iou, "merge_iou": merge_iou, "box_extend": extend}
                    for name, scenes in splits.items():
                        found = decode_cached(detector, cached[name], scenes, threshold)
                        row[name] = {k: round(v, 4) for k, v in
                                     curve_from({threshold: found})[threshold].items()}
                    rows.append(row)
    finally:
        card.iou_threshold, card.box_merge_iou, card.box_extend = saved
    return rows


def best_threshold(curve: dict[float, dict]) -> float:
    """The threshold of the highest H-mean (the lower one on a tie: more recall)."""
    return max(sorted(curve), key=lambda t: curve[t]["hmean"])


def axis_aligned_ceiling(scenes) -> dict:
    """P/R/H that a perfect axis-aligned detector would score: each readable word's bounding
    box, scored against its own quad. Tilted and perspective words whose box overlaps the quad
    by IoU <= 0.5 are lost to the box shape, not to training."""
    preds, gts = [], []
    for scene in scenes:
        boxes = []
        for word in scene.words:
            if not word.ignore:
                quad = np.asarray(word.quad, np.float32)
                boxes.append(box_to_quad(np.concatenate([quad.min(0), quad.max(0)])))
        preds.append(boxes)
        gts.append([(w.quad, w.text, w.ignore) for w in scene.words])
    return detection_sweep(preds, [[1.0] * len(b) for b in preds], gts, (0.5,))[0.5]
