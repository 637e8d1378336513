"""The ImageNet weight import: a Keras MobileNet rebuilt from a quantized TFLite classifier
classifies the shared test images as the TFLite file does, and the detector started from it
keeps those features through batch-norm unfolding and a resume."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engocr.models.imagenet import build_classifier, imagenet_weights_dir

WEIGHTS = imagenet_weights_dir()
needs_weights = pytest.mark.skipif(not WEIGHTS.exists(),
                                   reason=f"ImageNet weights not found at {WEIGHTS}")
IMAGES = ("cat.bmp", "parrot.jpg", "grace_hopper.bmp", "bird.bmp", "sunflower.bmp")


def _tflite_probabilities(path, rgb: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], rgb[None].astype(inp["dtype"]))
    interpreter.invoke()
    scale, zero = out["quantization"]
    return (interpreter.get_tensor(out["index"])[0].astype(np.float32) - zero) * scale


@needs_weights
@pytest.mark.parametrize("backbone,alpha,size,name", [
    ("mobilenet_v2", 1.0, 224, "tf2_mobilenet_v2_1.0_224_ptq.tflite"),
    ("mobilenet_v1", 0.5, 160, "mobilenet_v1_0.5_160_quant.tflite"),
])
def test_imported_classifier_matches_tflite(backbone, alpha, size, name):
    path = WEIGHTS / name
    model = build_classifier(backbone, alpha, size, path)
    labels = (WEIGHTS / "imagenet_labels.txt").read_text().splitlines()
    for image in IMAGES:
        rgb = cv2.cvtColor(cv2.imread(str(WEIGHTS / image)), cv2.COLOR_BGR2RGB)
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
        expected = _tflite_probabilities(path, rgb)
        logits = model.predict(rgb[None].astype(np.float32) / 127.5 - 1.0, verbose=0)[0]
        got = np.exp(logits - logits.max())
        got /= got.sum()
        assert labels[got.argmax()] == labels[expected.argmax()], image
        # The TFLite file runs in int8 with a uint8 softmax; the import runs in float.
        assert abs(got.max() - expected.max()) < 0.08, image
    cat = cv2.resize(cv2.cvtColor(cv2.imread(str(WEIGHTS / "cat.bmp")), cv2.COLOR_BGR2RGB),
                     (size, size), interpolation=cv2.INTER_AREA)
    top = model.predict(cat[None].astype(np.float32) / 127.5 - 1.0, verbose=0)[0].argmax()
    assert labels[top] == "Egyptian cat"


@needs_weights
def test_unfolded_batchnorm_keeps_the_function_and_bgr_input():
    """Unfolding on calibration images changes no inference output, and a backbone fed BGR
    with the flipped first kernel computes what the RGB one does."""
    from engocr.models.imagenet import build_backbone, load_tflite_backbone

    path = WEIGHTS / "mobilenet_v1_0.25_128_quant.tflite"
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (6, 96, 96, 3)).astype(np.float32)
    plain = build_backbone("mobilenet_v1", 0.25, (96, 96, 3))
    load_tflite_backbone(plain, path)
    unfolded = build_backbone("mobilenet_v1", 0.25, (96, 96, 3))
    load_tflite_backbone(unfolded, path, bgr=True, calibration=images[..., ::-1])
    a = plain.predict(images, verbose=0)
    b = unfolded.predict(images[..., ::-1], verbose=0)
    np.testing.assert_allclose(a, b, atol=1e-3 * max(1.0, float(np.abs(a).max())))
    # Training-mode batch norm on the calibration images now reproduces inference mode.
    c = unfolded(images[..., ::-1], training=True).numpy()
    assert np.abs(c - b).mean() < 0.05 * np.abs(b).mean()


@needs_weights
def test_det_run_from_imagenet_weights_records_them_and_resumes(tmp_path):
    """A new run reads the ImageNet backbone (its first kernel flipped for BGR input), records
    it in init.json and the card's architecture; a resumed run keeps its trained weights."""
    from engocr.export.cards import detector_card
    from engocr.models.imagenet import read_tflite_convs
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.det import DetTrainer
    from engocr.train.loop import Phase
    from tests.conftest import TINY_DET

    name = "mobilenet_v1_0.25_128_quant.tflite"
    config = DetectorConfig(**{**TINY_DET, "backbone": "mobilenet_v1", "alpha": 0.25,
                               "pretrained": name})
    recipe = [Phase("heads", 2, 1e-3, freeze_lower=True), Phase("all", 1, 1e-4)]
    run, none = tmp_path / "run", tmp_path / "none"
    first = DetTrainer(run, config, recipe, batch=2, data=none, eval_every=1000)
    assert name in (run / "init.json").read_text()
    imported = first.model.get_layer("backbone").get_layer("conv1").kernel.numpy()
    source = read_tflite_convs(WEIGHTS / name)[0].kernel[:, :, ::-1, :]
    scale = np.abs(source).sum((0, 1, 2)) / np.abs(imported).sum((0, 1, 2))
    np.testing.assert_allclose(imported * scale, source, rtol=1e-4, atol=1e-6)
    assert first.train(minutes=None).step == 3
    trained = first.model.get_weights()
    resumed = DetTrainer(run, config, recipe, batch=2, data=none, eval_every=1000)
    assert resumed.state.step == 3
    for got, want in zip(resumed.model.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(got, want)
    assert "ImageNet" in detector_card(resumed.config, "int8").architecture
