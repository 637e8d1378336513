"""Keras models behind the runtime's engine interface, so that the runtime's own predictors
(`TextDetector`, `TextRecognizer`: same letterbox, decoding, NMS and merge) run a training
run's float model: for evaluation during training, the export's calibration, and
`engocr bench --backend keras`. Needs the `train` extra."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def keras_device() -> str:
    """Where the Keras backend computes: "gpu (...)" or "cpu", with the backend's name."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        name = str(gpus[0]) if gpus else ""
    elif backend == "torch":
        import torch

        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    else:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        name = gpus[0].name if gpus else ""
    return f"gpu ({name}, {backend})" if name else f"cpu ({backend})"


class KerasEngine:
    """Same surface as `TFLiteEngine`: path, input_shape, output_shapes, outputs, free_size,
    resize_input() and run(). A model built with free height and width (the detector's export
    build) is `free_size`; its shapes are those of the last `resize_input` (or of each input)."""

    def __init__(self, model, path: str | Path = "keras model") -> None:
        from engocr.train.compiled import make_forward

        self.model, self.path = model, Path(path)
        self.outputs = list(range(len(model.outputs)))
        shape = tuple(model.input_shape)
        self.free_size = len(shape) == 4 and shape[1] is None and shape[2] is None
        self._input_shape = (1, *shape[1:])
        self._call = make_forward(model)  # compiled: eager calls are several x slower

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input_shape

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        shapes = self.model.compute_output_shape(self._input_shape)
        if not isinstance(shapes, list):
            shapes = [shapes]
        return [tuple(s) for s in shapes]

    def resize_input(self, shape: tuple[int, ...]) -> None:
        """Free-size models only: the (1, h, w, c) the shapes are reported for."""
        if self.free_size:
            self._input_shape = tuple(shape)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        out = self._call(np.asarray(x, np.float32))
        return [np.asarray(o) for o in (out if isinstance(out, list | tuple) else [out])]
