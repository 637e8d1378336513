"""Shared fixtures: small models that the tests build and convert themselves, so that the
runtime is tested on real TFLite files without waiting for trained ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATA = Path(os.environ.get("ENGOCR_DATA", Path(__file__).resolve().parents[1].parent /
                           "shared" / "data"))


def needs_data(*names: str):
    """Skip (with the reason) when the real data folder or one of its sets is absent."""
    missing = [n for n in names if not (DATA / n).exists()]
    return pytest.mark.skipif(bool(missing) or not DATA.exists(),
                              reason=f"real data not found at {DATA} ({', '.join(missing)})")


TINY_REC = dict(height=32, width=64, widths=(8, 16, 16, 16, 24), hidden=24, head="conv")
TINY_DET = dict(width=128, height=96, train_width=128, train_height=96, alpha=0.35,
                head_filters=16)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """A random-weight detector and recognizer, converted to float TFLite with cards."""
    import keras

    from engocr.export.cards import detector_card, recognizer_card
    from engocr.export.tflite import convert, write_model
    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("models")
    rec_config = CRNNConfig(**TINY_REC)
    rec = write_model(convert(build_crnn(rec_config)), folder / "rec.tflite")
    recognizer_card(rec_config, "float32").save(rec.with_suffix(".json"))
    det_config = DetectorConfig(**TINY_DET)
    det_model = build_detector(det_config)
    # A positive objectness bias makes the random detector fire everywhere, so the pipeline
    # always has crops to recognise.
    for layer in det_model.layers:
        if layer.name.startswith("out_s"):
            kernel, bias = layer.get_weights()
            bias[4::5] = 3.0
            layer.set_weights([kernel * 0.0, bias])
    det = write_model(convert(det_model), folder / "det.tflite")
    detector_card(det_config, "float32", score_threshold=0.5).save(det.with_suffix(".json"))
    return {"det": det, "rec": rec, "rec_config": rec_config, "det_config": det_config}


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
