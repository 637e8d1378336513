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
from engocr.train.metrics import detection_scores, recognition_scores


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


def ic15_val_scenes(data: Path | None = None):
    folder = data_root(data) / "ic15_train"
    return ic15_split(load_scene_json(folder), "val")


def evaluate_detector_tflite(path: Path, scenes, thresholds=(0.2, 0.3, 0.4, 0.5),
                             threads: int | None = None) -> dict:
    """Detection P/R/H per score threshold of a TFLite detector on scenes."""
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.reader import load_model

    engine, card = load_model(path, threads)
    detector = TextDetector(engine, card, score_threshold=min(thresholds))
    found = []
    for scene in scenes:
        found.append(detector(scene.load()))
        scene.image = None
    gts = [[(w.quad, w.text, w.ignore) for w in s.words] for s in scenes]
    out = {}
    for t in thresholds:
        preds = [[(box_to_quad(b), None) for b, s in zip(boxes, scores) if s >= t]
                 for boxes, scores in found]
        out[t] = {k: v for k, v in detection_scores(preds, gts).items()
                  if not k.startswith("e2e")}
    return out
