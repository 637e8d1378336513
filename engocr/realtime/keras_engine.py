"""A Keras stand-in for `TFLiteEngine`, so that `engocr bench --backend keras` times the float
training models through TensorFlow (and so on a GPU where one exists). Needs the `train` extra."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class KerasEngine:
    """Same surface as TFLiteEngine: input_shape, output_shapes, outputs, run()."""

    def __init__(self, model, path: Path) -> None:
        import tensorflow as tf

        self.model, self.path = model, path
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._tf = tf
        self.outputs = list(range(len(model.outputs)))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (1, *self.model.input_shape[1:])

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        return [(1, *o.shape[1:]) for o in self.model.outputs]

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        out = self._fn(self._tf.constant(x, self._tf.float32))
        return [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def keras_reader(det_run: Path, rec_run: Path, score_threshold: float | None = None):
    """A Reader whose models are the float Keras models of two training runs."""
    from engocr.export.cards import detector_card, recognizer_card
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.reader import Reader
    from engocr.realtime.recognizer import TextRecognizer
    from engocr.train import det, rec

    det_model, det_config = det.load_model(det_run)
    rec_model, rec_config = rec.load_model(rec_run)
    detector = TextDetector(KerasEngine(det_model, det_run),
                            detector_card(det_config, "float32 (Keras)"), score_threshold)
    recognizer = TextRecognizer(KerasEngine(rec_model, rec_run),
                                recognizer_card(rec_config, "float32 (Keras)"))
    return Reader.from_parts(detector, recognizer)
