"""The training steps the step benchmarks time (`train_step.py`, `train_backends.py`,
`rec_widths.py`): the trainers' own step (`engocr.train.compiled.make_train_step`) on fixed
inputs, on whichever Keras backend is loaded, and its rate."""

from __future__ import annotations

import time

import numpy as np


def detector_step(loss_fn):
    """The shipped detector's shape (MobileNetV1 0.5, 384x288 windows, batch 8) trained with
    `loss_fn` on fixed synthetic-scene targets, as (step(), batch)."""
    import keras

    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
    from engocr.train.compiled import make_train_step
    from tests.conftest import synthetic_detector_batch

    config = DetectorConfig(backbone="mobilenet_v1", alpha=0.5, width=512, height=384,
                            train_width=384, train_height=288)
    x, targets, gt = synthetic_detector_batch(config, n=8, size=(384, 288))
    targets = tuple(targets)
    step = make_train_step(build_detector(config, training=True), keras.optimizers.Adam(1e-4),
                           lambda outputs, t, g: loss_fn(outputs, list(t), g, config))
    return lambda: step(x, targets, gt), 8


def recognizer_step(loss_fn, model, batch: int = 32):
    """`model` trained with `loss_fn` on random crops labelled word0, word1, ..., as
    (step(), batch)."""
    import keras

    from engocr.train.compiled import make_train_step
    from engocr.train.rec_data import labels_to_dense

    height, width = model.input_shape[1:3]
    x = np.random.default_rng(0).uniform(0, 255, (batch, height, width, 1)).astype(np.float32)
    labels, lengths = labels_to_dense([f"word{i}" for i in range(batch)], model.output_shape[1])
    step = make_train_step(model, keras.optimizers.Adam(1e-4), loss_fn)
    return lambda: step(x, labels, lengths), batch


def samples_per_s(step, batch: int, steps: int) -> float:
    """Samples/s over `steps` calls of `step`, waiting for the last (JAX dispatches
    asynchronously)."""
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    float(loss)
    return batch * steps / (time.perf_counter() - t0)
