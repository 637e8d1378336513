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


def write_crop_set(folder: Path, words: list[str]) -> Path:
    """A crop set in the shared layout (`crops/` + `labels.json`): each word drawn in black on
    a light crop."""
    import json

    import cv2

    crops = folder / "crops"
    crops.mkdir(parents=True)
    labels = {}
    for i, word in enumerate(words):
        image = np.full((32, 100, 3), 230, np.uint8)
        cv2.putText(image, word, (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
        cv2.imwrite(str(crops / f"{i}.png"), image)
        labels[f"{i}.png"] = word
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder


def write_photo_set(folder: Path, names: list[str], size: tuple[int, int],
                    greys: list[int] | None = None) -> Path:
    """Photos in the shared layout (`images/` + `gt.json`) of `size` (w, h), each a plain
    `greys[k]` (default 200) with the word OPEN drawn in black where its quad in gt.json says."""
    import json

    import cv2

    (folder / "images").mkdir(parents=True)
    entries = []
    for k, name in enumerate(names):
        image = np.full((size[1], size[0], 3), 200 if greys is None else greys[k], np.uint8)
        cv2.putText(image, "OPEN", (40, 120), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (0, 0, 0), 5)
        cv2.imwrite(str(folder / "images" / name), image)
        entries.append({"image": name, "width": size[0], "height": size[1],
                        "words": [{"quad": [[38, 70], [230, 70], [230, 128], [38, 128]],
                                   "text": "OPEN", "ignore": False}]})
    (folder / "gt.json").write_text(json.dumps(entries))
    return folder


def synthetic_detector_batch(config, n: int = 2, size=(128, 96)):
    """Input windows, per-scale targets and true boxes (zero-padded to 100) of `n` synthetic
    scenes, as the detector trainer feeds its step (numpy, any Keras backend)."""
    from engocr.train.data.backgrounds import PhotoBank
    from engocr.train.data.synth import SynthScenes
    from engocr.train.det_data import scene_to_input
    from engocr.train.det_targets import encode_targets

    gen = SynthScenes(seed=1, size=(2 * size[0], 2 * size[1]), bank=PhotoBank(root="/nonexistent"))
    samples = [scene_to_input(gen[i], size, None) for i in range(n)]
    anchors = np.array(config.anchors, np.float32)
    grids = [encode_targets(s[1], anchors, config.strides, size, xy_scale=config.xy_scale)
             for s in samples]
    targets = [np.stack([g[k] for g in grids]) for k in range(len(anchors))]
    gt = np.zeros((n, 100, 4), np.float32)
    for b, s in enumerate(samples):
        gt[b, :len(s[1])] = s[1][:100]
    return np.stack([s[0] for s in samples]).astype(np.float32), targets, gt


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


@pytest.fixture()
def models(tiny_models) -> list[str]:
    """The command-line flags that point a command at the tiny models, on one thread."""
    return ["--det-model", str(tiny_models["det"]), "--rec-model", str(tiny_models["rec"]),
            "--threads", "1"]


def assert_ink_inside_quads(block) -> None:
    """Every word of a rendered block has ink in its box, and no ink lies outside its boxes
    (a margin of 2 px)."""
    inside = np.zeros(block.ink.shape, bool)
    for quad in block.quads:
        x1, y1 = np.floor(quad.min(0)).astype(int)
        x2, y2 = np.ceil(quad.max(0)).astype(int)
        assert block.ink[y1:y2, x1:x2].max() > 0.5
        inside[max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2] = True
    assert block.ink[~inside].max(initial=0) < 0.2  # no ink left outside the boxes
