"""Quantization-aware fine-tuning (issue 25: the int8 export lost the float detector's gains):
the aware twin computes as the int8 export does, its weights sit on the export's grid, it
learns, and it turns back into the float model it came from."""

import numpy as np

from tests.conftest import TINY_DET

OUTPUTS = ("out_s8", "out_s16", "out_s32")
TINY_DET_V1 = {**TINY_DET, "backbone": "mobilenet_v1", "alpha": 0.25}  # the shipped body's kind


def _detector_with_statistics(seed: int = 2):
    """A tiny detector whose batch norms hold trained-looking statistics (the fold matters)."""
    import keras

    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector

    keras.utils.set_random_seed(seed)
    model = build_detector(DetectorConfig(**TINY_DET_V1))
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2.0, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.2, mean.shape), rng.uniform(0.2, 3.0, var.shape)])
    return model


def _outputs(model, x):
    return sorted((np.asarray(o) for o in model(x, training=False)), key=lambda o: -o.shape[1])


def test_the_aware_detector_computes_as_its_int8_export(tmp_path):
    from engocr.export.tflite import convert, representative_from, write_model
    from engocr.realtime.engine import TFLiteEngine
    from engocr.train.quant_aware import set_quantization_aware

    model = _detector_with_statistics()
    rng = np.random.default_rng(1)
    # Calibrated on the very frames it is compared on: the export's ranges are then the
    # batch's own that the aware twin rounds to, and both round onto the same grid.
    calibration = rng.uniform(0, 255, (2, 96, 128, 3)).astype(np.uint8)
    x = calibration.astype(np.float32)
    engine = TFLiteEngine(write_model(convert(model, "int8", representative_from(calibration)),
                                      tmp_path / "det.tflite"), threads=1)
    int8 = sorted(engine.run(x), key=lambda o: -o.shape[1])
    float_error = np.mean([np.abs(f - q).mean() for f, q in zip(_outputs(model, x), int8,
                                                                 strict=True)])
    assert set_quantization_aware(model, OUTPUTS) > 0
    aware_error = np.mean([np.abs(a - q).mean() for a, q in zip(_outputs(model, x), int8,
                                                                strict=True)])
    assert aware_error < 0.6 * float_error, (aware_error, float_error)


def test_aware_weights_sit_on_the_int8_grid_learn_and_turn_back():
    import keras
    import tensorflow as tf
    from keras import ops

    from engocr.train.quant_aware import fake_quant_weights, set_quantization_aware

    model = _detector_with_statistics(3)
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 128, 3)).astype(np.float32)
    before = _outputs(model, x)
    weights = model.get_weights()

    kernel = keras.Variable(np.random.default_rng(1).normal(0, 1, (3, 3, 4, 5)), dtype="float32")
    gain = np.random.default_rng(2).uniform(0.5, 2.0, 5).astype(np.float32)
    folded = np.asarray(fake_quant_weights(kernel, gain, (0, 1, 2))) * gain
    steps = np.abs(folded).max(axis=(0, 1, 2)) / 127
    np.testing.assert_allclose(folded / steps, np.round(folded / steps), atol=1e-3)
    with tf.GradientTape() as tape:
        loss = ops.sum(fake_quant_weights(kernel, gain, (0, 1, 2)))
    np.testing.assert_allclose(tape.gradient(loss, kernel), 1.0, atol=1e-5)  # straight through

    changed = set_quantization_aware(model, OUTPUTS)
    assert changed and set_quantization_aware(model, OUTPUTS) == 0  # already aware
    norms = [layer for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)  # the fold stays the export's
    aware = _outputs(model, x)
    assert all(not np.allclose(a, b) for a, b in zip(aware, before, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))

    assert set_quantization_aware(model, OUTPUTS, enabled=False) == changed
    for a, b in zip(_outputs(model, x), before, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_quantization_aware_phase_trains_with_its_batch_norms_still(tmp_path):
    """A recipe phase `quantize_aware` fine-tunes the convolutions; the batch norms' statistics
    (folded into the int8 weights at export) do not move; the weights it saves load into the
    float model that the export converts."""
    import keras

    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det import DetTrainer
    from engocr.train.loop import Phase

    trainer = DetTrainer(tmp_path / "run", DetectorConfig(**TINY_DET),
                         [Phase("q", 2, 1e-3, quantize_aware=True)], batch=2,
                         data=tmp_path / "none", eval_every=2)
    norm = next(layer for layer in trainer.model._flatten_layers()
                if isinstance(layer, keras.layers.BatchNormalization))
    conv = trainer.model.get_layer("out_s8")
    statistics, kernel = norm.get_weights(), conv.get_weights()[0]
    assert trainer.train().step == 2
    assert all(np.array_equal(a, b) for a, b in zip(norm.get_weights(), statistics, strict=True))
    assert not np.array_equal(conv.get_weights()[0], kernel)
    assert "synth_val_hmean" in (tmp_path / "run" / "metrics.csv").read_text()
    from engocr.train.runs import load_detector_model

    load_detector_model(tmp_path / "run", "best")  # raises where a layer's weights are missing
    last, _ = load_detector_model(tmp_path / "run", "last")
    assert all(np.array_equal(a, b) for a, b in zip(last.get_layer("out_s8").get_weights(),
                                                    conv.get_weights(), strict=True))
