"""Converting trained Keras models to TFLite (float32, dynamic-range, full int8).

Path: `tf.lite.TFLiteConverter.from_keras_model` on the Keras 3 model. It converts the
MobileNet detector and the convolutional CRNN cleanly and keeps the batch dimension
resizable; `from_concrete_functions` gave weightless models with Keras 3, and
`model.export(format="litert")` added Flex ops the runtime cannot run (notes/stack.md).
Recurrent heads are exported from an unrolled copy at a fixed width (same weights), and the
BiLSTM also as TFLite's fused LSTM op through a tf_keras twin at a fixed batch
(`engocr.export.fused_rnn`); the export times both and ships the faster.
Inputs and outputs stay float32 in every variant: the (de)quantise ops at the edges cost
little and keep one calling convention for the runtime.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

QUANTIZATIONS = ("float32", "dynamic", "int8")


def convert(model, quantization: str = "float32",
            representative: Callable[[], Iterable[list[np.ndarray]]] | None = None,
            free_size: bool = False) -> bytes:
    """A Keras model to TFLite flatbuffer bytes. `free_size`: the model's height and width are
    free (the detector sized per frame); `from_keras_model` fails on such a Keras 3 model
    (its tracing needs a Keras 2 call context), so it goes through a SavedModel export."""
    import tempfile

    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}")
    if free_size:
        with tempfile.TemporaryDirectory() as folder:
            model.export(folder, format="tf_saved_model", verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(folder)
            return _finish(converter, quantization, representative)
    return _finish(tf.lite.TFLiteConverter.from_keras_model(model), quantization,
                   representative)


def _finish(converter, quantization: str, representative) -> bytes:
    import tensorflow as tf

    if quantization in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "int8":
        if representative is None:
            raise ValueError("int8 needs representative data")
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def representative_from(images: np.ndarray, limit: int = 300):
    """A representative-dataset callable over (n, h, w[, c]) uint8 samples."""
    def gen():
        for image in images[:limit]:
            x = image.astype(np.float32)
            yield [x[None, ..., None] if x.ndim == 2 else x[None]]
    return gen


def measure_latency(path: Path, batch_shape: tuple[int, ...], threads: int = 2,
                    runs: int = 30) -> float:
    """Median milliseconds of one invoke at `batch_shape` through the runtime engine."""
    from engocr.realtime.engine import TFLiteEngine

    engine = TFLiteEngine(path, threads)
    x = np.random.default_rng(0).uniform(0, 255, batch_shape).astype(np.float32)
    for _ in range(3):
        engine.run(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        engine.run(x)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def write_model(data: bytes, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
