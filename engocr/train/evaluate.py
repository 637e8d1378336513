"""Evaluation of Keras runs and exported TFLite models on the real data (`engocr eval ...`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engocr.charset import CHARSET
from engocr.geometry import box_to_quad
from engocr.realtime.kernels import ctc_greedy_decode
from engocr.train import rec_data
from engocr.train.data.importers import ic15_split, load_scene_json
from engocr.train.data.paths import data_root
from engocr.train.metrics import detection_sweep, recognition_scores


def tflite_recognizer(path: Path, threads: int | None = None):
    from engocr.realtime.reader import load_model
    from engocr.realtime.recognizer import TextRecognizer

    engine, card = load_model(path, threads)
    return TextRecognizer(engine, card, max_batch=64)


def read_crops_tflite(recognizer, images: np.ndarray) -> list[str]:
    """Texts of prepared (n, h, w) uint8 crops through a TFLite recognizer."""
    texts: list[str] = []
    for i in range(0, len(images), 64):
        chunk = images[i:i + 64]
        logits = recognizer.engine.run(chunk[..., None].astype(np.float32))[0]
        texts.extend(ctc_greedy_decode(logits, recognizer.card.charset)[0])
    return texts


def evaluate_recognizer(sets: list[str], run: Path | None = None, model: Path | None = None,
                        data: Path | None = None, limit: int | None = None) -> dict:
    """Word accuracy (protocol), exact accuracy and CER per crop set."""
    if run is not None:
        from engocr.train.rec import load_model as load_keras
        from engocr.train.rec import predict_logits

        keras_model, config = load_keras(run)
        height, width = config.height, config.width

        def predict(images):
            return ctc_greedy_decode(predict_logits(keras_model, images), CHARSET)[0]
    else:
        from engocr.realtime.reader import DEFAULT_RECOGNIZER

        recognizer = tflite_recognizer(model or DEFAULT_RECOGNIZER)
        height, width = recognizer.card.input_height, recognizer.card.input_width

        def predict(images):
            return read_crops_tflite(recognizer, images)
    results = {}
    for name in sets:
        try:
            samples = rec_data.load_crops(name, data)
        except FileNotFoundError:
            continue
        samples = samples[:limit] if limit else samples
        images, texts = rec_data.to_arrays(samples, height, width)
        scores = recognition_scores(predict(images), texts)
        scores["n"] = len(texts)
        results[name] = scores
    return results


DEFAULT_THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.05, 0.96, 0.05))


def ic15_val_scenes(data: Path | None = None, limit: int | None = None):
    folder = data_root(data) / "ic15_train"
    scenes = ic15_split(load_scene_json(folder), "val")
    return scenes[:limit] if limit else scenes


def keras_detector(run: Path, weights: str = "best", threshold: float = 0.05,
                   max_side: int = 0):
    """`detect(image) -> (boxes, scores)` through a training run's Keras weights: at the run's
    export size, or with `max_side` at each image's own aspect (as a free-size export runs)."""
    from engocr.train.det import load_model

    model, config = load_model(run, weights, free_size=bool(max_side))
    return keras_detect_fn(model, config, threshold, max_side)


def keras_detect_fn(model, config, threshold: float = 0.05, max_side: int = 0):
    """`detect(image) -> (boxes, scores)` through a Keras detector already in memory (a
    free-size build when `max_side` is given), traced once for all images."""
    import tensorflow as tf

    from engocr.train.det import detect_keras

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda image: detect_keras(model, config, [image], threshold, fn, max_side)[0]


def tflite_detector(path: Path, threads: int | None = None, threshold: float = 0.05):
    """`detect(image) -> (boxes, scores)` through an exported detector, as the runtime runs
    it (its own letterbox, numba decode and NMS)."""
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.reader import load_model

    engine, card = load_model(path, threads)
    return TextDetector(engine, card, score_threshold=threshold)


def run_detector(detect, scenes) -> tuple[list, list, list]:
    """(predicted quads, their scores, ground truth) per scene, for the sweeps below."""
    boxes, scores = [], []
    for scene in scenes:
        found_boxes, found_scores = detect(scene.load())
        boxes.append([box_to_quad(b) for b in found_boxes])
        scores.append(list(found_scores))
        scene.release()
    gts = [[(w.quad, w.text, w.ignore) for w in s.words] for s in scenes]
    return boxes, scores, gts


def detection_curve(detect, scenes, thresholds=DEFAULT_THRESHOLDS) -> dict[float, dict]:
    """P/R/H at each score threshold: the detector runs once per scene at the lowest one."""
    return detection_sweep(*run_detector(detect, scenes), thresholds)


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
