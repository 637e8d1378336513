"""Training runs' float Keras models, loaded in one place, and the runtime's predictors over
them: a detector over a Keras model is `TextDetector(KerasEngine(model), card)`, so training
evaluation, the export's calibration and `bench --backend keras` decode, NMS and merge exactly
as the shipped runtime does. Imports models and the runtime only, never the trainers."""

from __future__ import annotations

import json
from pathlib import Path

from engocr.errors import InputError
from engocr.export.cards import detector_card, recognizer_card
from engocr.models.crnn import CRNNConfig, build_crnn
from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
from engocr.train.checkpoints import WEIGHTS, checkpoint_dir
from engocr.train.keras_engine import KerasEngine
from engocr.train.loop import read_config

KERAS_QUANTIZATION = "float32 (Keras)"


def weights_path(run_dir: Path, weights: str = "best") -> Path:
    """A run's `best` weights (by validation), or its `last` (those of its checkpoint)."""
    if weights == "last":
        return checkpoint_dir(run_dir) / WEIGHTS
    return Path(run_dir) / f"{weights}.weights.h5"


def existing_weights(run_dir: Path, weights: str = "best") -> Path:
    """`weights_path`, or a one-line error where the run has no such weights."""
    path = weights_path(run_dir, weights)
    if not path.is_file():
        raise InputError(f"{run_dir} has no {weights} weights ({path})")
    return path


def load_detector_model(run_dir: Path, weights: str = "best", free_size: bool = False):
    """A run's detector with its float weights (`best` or `last`); `free_size`: built with free
    height and width (the export's build, which the runtime sizes per frame)."""
    config = read_config(run_dir, DetectorConfig)
    model = build_detector(config, any_size=free_size)
    model.load_weights(weights_path(run_dir, weights))
    return model, config


def load_recognizer_model(run_dir: Path, weights: str = "best"):
    """A run's recognizer with its float weights (`best` or `last`)."""
    config = read_config(run_dir, CRNNConfig)
    model = build_crnn(config)
    model.load_weights(weights_path(run_dir, weights))
    return model, config


def detector_over(model, config: DetectorConfig, max_side: int = 0,
                  score_threshold: float = 0.05, path: str | Path = "keras detector"):
    """The runtime detector over a Keras detector: at the config's size, or with `max_side`
    (a free-size build) at each frame's own aspect, as the runtime feeds the export."""
    from engocr.realtime.detector import TextDetector

    card = detector_card(config, KERAS_QUANTIZATION, max_side=max_side)
    return TextDetector(KerasEngine(model, path), card, score_threshold)


def keras_detector(run: Path, weights: str = "best", threshold: float = 0.05,
                   max_side: int = 0):
    """The runtime detector over a training run's Keras weights (see `detector_over`)."""
    model, config = load_detector_model(run, weights, free_size=bool(max_side))
    return detector_over(model, config, max_side, threshold, run)


def keras_reader(det_run: Path, rec_run: Path, score_threshold: float | None = None,
                 rec_weights: str = "best"):
    """A Reader whose models are the float Keras models of two training runs (the
    recognizer's `rec_weights`: best, last, or averaged ones)."""
    from engocr.realtime.reader import Reader
    from engocr.realtime.recognizer import TextRecognizer

    # A run trained for a longest side is fed as the runtime feeds its export: free-size.
    free_size = bool(read_config(det_run, DetectorConfig).max_side)
    det_model, det_config = load_detector_model(det_run, free_size=free_size)
    detector = detector_over(det_model, det_config, det_config.max_side, score_threshold, det_run)
    rec_model, rec_config = load_recognizer_model(rec_run, rec_weights)
    recognizer = TextRecognizer(KerasEngine(rec_model, rec_run),
                                recognizer_card(rec_config, KERAS_QUANTIZATION))
    return Reader.from_parts(detector, recognizer)


def imagenet_lineage(run: Path) -> tuple[str, list[str]]:
    """The ImageNet weights file that started a detector run's line ("" if none) and the runs
    of that line, first to `run`: each run started `--init-from` another names it in its
    `init.json`; the first with `pretrained` in its config is where the backbone came from."""
    runs, current = [], Path(run)
    while current is not None and len(runs) < 50:
        runs.append(current.name)
        config_path = current / "config.json"
        if config_path.exists():
            pretrained = json.loads(config_path.read_text()).get("pretrained", "")
            if pretrained:
                return pretrained, runs[::-1]
        init = current / "init.json"
        source = json.loads(init.read_text()).get("from", "") if init.exists() else ""
        current = Path(source) if source and not source.startswith("ImageNet") else None
    return "", runs[::-1]
