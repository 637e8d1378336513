"""`Reader`: the three-line Python API. Detector + crops + recognizer on a frame or an image
path; `recognize()` reads word crops on their own."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engocr.errors import InputError, ModelError
from engocr.imageio_utils import read_image, to_bgr8
from engocr.realtime.card import ModelCard, card_path
from engocr.realtime.detector import TextDetector
from engocr.realtime.engine import TFLiteEngine
from engocr.realtime.recognizer import TextRecognizer
from engocr.realtime.results import FrameResult, Word

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_DETECTOR = ASSETS / "detector.tflite"
DEFAULT_RECOGNIZER = ASSETS / "recognizer.tflite"


def load_model(path: str | Path, threads: int | None) -> tuple[TFLiteEngine, ModelCard]:
    """Engine and card of a model file (the card is the `.json` beside it)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: model file not found")
    card = ModelCard.load(card_path(path))
    return TFLiteEngine(path, threads), card


def crop_boxes(frame: np.ndarray, boxes: np.ndarray, pad: float = 0.12) -> list[np.ndarray]:
    """Axis-aligned word crops with a margin of `pad` x box height on every side."""
    h, w = frame.shape[:2]
    crops = []
    for x1, y1, x2, y2 in boxes:
        m = pad * (y2 - y1)
        a, b = int(max(0, x1 - m)), int(max(0, y1 - m))
        c, d = int(min(w, x2 + m + 1)), int(min(h, y2 + m + 1))
        crops.append(frame[b:max(d, b + 1), a:max(c, a + 1)])
    return crops


class Reader:
    """Reads English text in BGR frames.

    >>> from engocr import Reader
    >>> Reader().read("sign.jpg").text
    """

    def __init__(self, det_model: str | Path | None = None, rec_model: str | Path | None = None,
                 threads: int | None = None, score_threshold: float | None = None,
                 min_conf: float = 0.0, max_batch: int = 16, det_size: int | None = None
                 ) -> None:
        det_engine, det_card = load_model(det_model or DEFAULT_DETECTOR, threads)
        rec_engine, rec_card = load_model(rec_model or DEFAULT_RECOGNIZER, threads)
        self._attach(TextDetector(det_engine, det_card, score_threshold, det_size),
                     TextRecognizer(rec_engine, rec_card, max_batch=max_batch), min_conf)

    @classmethod
    def from_parts(cls, detector: TextDetector, recognizer: TextRecognizer,
                   min_conf: float = 0.0) -> Reader:
        """A Reader over predictors built elsewhere (another backend, say)."""
        reader = cls.__new__(cls)
        reader._attach(detector, recognizer, min_conf)
        return reader

    def _attach(self, detector: TextDetector, recognizer: TextRecognizer,
                min_conf: float) -> None:
        """Hold the predictors and compile the numba kernels now, not on the first frame."""
        from engocr.realtime.kernels import warm_up

        self.detector, self.recognizer, self.min_conf = detector, recognizer, min_conf
        self.warmup_s = warm_up()

    def detect(self, frame: np.ndarray, timings: dict | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Word boxes and detection scores of one frame."""
        return self.detector(frame, timings)

    def recognize(self, crops: list[np.ndarray]) -> list[str]:
        """Texts of word crops (BGR or grayscale arrays)."""
        texts, _ = self.recognizer([to_bgr8(c, "crop") for c in crops])
        return texts

    def read(self, image: np.ndarray | str | Path, frame: int = 0, time_s: float = 0.0
             ) -> FrameResult:
        """Detect and read every word of one frame (a BGR array, or an image path)."""
        if isinstance(image, (str, Path)):
            image = read_image(image)
        elif not isinstance(image, np.ndarray):
            raise InputError(f"expected an image array or a path, got {type(image).__name__}")
        else:
            image = to_bgr8(image)
        timings: dict[str, float] = {}
        boxes, det_scores = self.detector(image, timings)
        t0 = time.perf_counter()
        crops = crop_boxes(image, boxes)
        timings["crop"] = (time.perf_counter() - t0) * 1000
        texts, confs = self.recognizer(crops, timings) if crops else ([], np.zeros(0))
        words = [Word(tuple(float(v) for v in b), t, float(c), float(s))
                 for b, t, c, s in zip(boxes, texts, confs, det_scores)
                 if t.strip() and c >= self.min_conf]
        return FrameResult(words=words, frame=frame, time_s=time_s, timings=timings)
