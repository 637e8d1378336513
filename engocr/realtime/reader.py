"""`Reader`: the three-line Python API. Detector + crops + recognizer on a frame or an image
path; `recognize()` reads word crops on their own."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engocr.errors import InputError, ModelError
from engocr.geometry import rectify_quad
from engocr.imageio_utils import read_image, to_bgr8
from engocr.realtime.card import ModelCard, card_path
from engocr.realtime.detector import TextDetector
from engocr.realtime.engine import TFLiteEngine
from engocr.realtime.recognizer import TextRecognizer, card_lexicon
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


def crop_boxes(frame: np.ndarray, boxes: np.ndarray, pad_x: float = 0.12, pad_y: float = 0.12
               ) -> list[np.ndarray]:
    """Axis-aligned word crops with margins of `pad_x` x box height left and right and
    `pad_y` x box height above and below (the detector card's `crop_pad_x` / `crop_pad_y`,
    chosen by what the recognizer reads: a detector's boxes tend to clip a word's ends)."""
    h, w = frame.shape[:2]
    crops = []
    for x1, y1, x2, y2 in boxes:
        mx, my = pad_x * (y2 - y1), pad_y * (y2 - y1)
        a, b = int(max(0, x1 - mx)), int(max(0, y1 - my))
        c, d = int(min(w, x2 + mx + 1)), int(min(h, y2 + my + 1))
        crops.append(frame[b:max(d, b + 1), a:max(c, a + 1)])
    return crops


# A quad whose top edge turns less than this (radians, about 3 degrees) is cut as its box: the
# level crop the recognizer was trained on, and no warp.
LEVEL_ANGLE = 0.05


def crop_words(frame: np.ndarray, boxes: np.ndarray, quads: np.ndarray | None,
               pad_x: float = 0.12, pad_y: float = 0.12) -> list[np.ndarray]:
    """Word crops, upright: a level word cut as its box (`crop_boxes`), a tilted one's quad
    (an oriented detector's) warped level with the same margins in its own height."""
    if quads is None:
        return crop_boxes(frame, boxes, pad_x, pad_y)
    crops = []
    for box, quad in zip(boxes, quads, strict=True):
        top = quad[1] - quad[0]
        if abs(np.arctan2(top[1], top[0])) < LEVEL_ANGLE:
            crops.extend(crop_boxes(frame, box[None], pad_x, pad_y))
        else:
            crops.append(rectify_quad(frame, padded_quad(quad, pad_x, pad_y), pad=0.0))
    return crops


def padded_quad(quad: np.ndarray, pad_x: float, pad_y: float) -> np.ndarray:
    """A quad (TL, TR, BR, BL) grown by `pad_x` x its height along its top edge at each end
    and `pad_y` x its height across it at each side."""
    quad = np.asarray(quad, np.float32)
    along = quad[1] - quad[0]
    across = quad[3] - quad[0]
    height = float(np.linalg.norm(across))
    u = along / max(float(np.linalg.norm(along)), 1e-6)
    v = across / max(height, 1e-6)
    dx, dy = pad_x * height * u, pad_y * height * v
    return np.array([quad[0] - dx - dy, quad[1] + dx - dy, quad[2] + dx + dy,
                     quad[3] - dx + dy], np.float32)


class Reader:
    """Reads English text in BGR frames.

    >>> from engocr import Reader
    >>> Reader().read("sign.jpg").text
    """

    def __init__(self, det_model: str | Path | None = None, rec_model: str | Path | None = None,
                 threads: int | None = None, score_threshold: float | None = None,
                 min_conf: float | None = None, max_batch: int = 16, det_size: int | None = None,
                 lexicon: bool = True, words: tuple[str | Path, ...] = (),
                 coarse_side: int | None = None) -> None:
        """`lexicon`: correct non-word readings from the shipped English word list (when the
        recognizer's card chose a margin); `words`: files of more words for it (one a line);
        `det_size`, `coarse_side`: the detector's fine and coarse passes' longest sides
        (default: its card's; `coarse_side` 0 turns the coarse pass off)."""
        det_engine, det_card = load_model(det_model or DEFAULT_DETECTOR, threads)
        rec_engine, rec_card = load_model(rec_model or DEFAULT_RECOGNIZER, threads)
        self._attach(TextDetector(det_engine, det_card, score_threshold, det_size, coarse_side),
                     TextRecognizer(rec_engine, rec_card, max_batch=max_batch,
                                    lexicon=card_lexicon(rec_card, lexicon, tuple(words))),
                     min_conf)

    @classmethod
    def from_parts(cls, detector: TextDetector, recognizer: TextRecognizer,
                   min_conf: float | None = None) -> Reader:
        """A Reader over predictors built elsewhere (another backend, say)."""
        reader = cls.__new__(cls)
        reader._attach(detector, recognizer, min_conf)
        return reader

    def _attach(self, detector: TextDetector, recognizer: TextRecognizer,
                min_conf: float | None) -> None:
        """Hold the predictors and compile the numba kernels now, not on the first frame.
        `min_conf` None: the recognizer card's."""
        from engocr.realtime.kernels import warm_up

        self.detector, self.recognizer = detector, recognizer
        self.min_conf = recognizer.card.min_conf if min_conf is None else min_conf
        self.warmup_s = warm_up()
        if self.oriented:
            from engocr.realtime import oriented

            self.warmup_s += oriented.warm_up()
        if detector.card.end_reach > 0:
            from engocr.realtime import box_ends

            self.warmup_s += box_ends.warm_up()
        if detector.card.end_head and detector.card.end_head_reach > 0:
            from engocr.realtime import end_head

            self.warmup_s += end_head.warm_up()

    @property
    def oriented(self) -> bool:
        """Whether the detector gives each word's own (tilted) quad, not only its box."""
        return bool(self.detector.card.oriented)

    def detect(self, frame: np.ndarray, timings: dict | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Word boxes, detection scores and quads of one frame."""
        return self.detector(frame, timings)

    def crop(self, image: np.ndarray, boxes: np.ndarray, quads: np.ndarray | None = None
             ) -> list[np.ndarray]:
        """Upright word crops of detector boxes (and quads, where tilted), with the margins the
        detector's card gives."""
        card = self.detector.card
        return crop_words(image, boxes, quads, card.crop_pad_x, card.crop_pad_y)

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
        boxes, det_scores, quads = self.detector(image, timings)
        texts, confs = self.read_boxes(image, boxes, timings, quads)
        corners = [tuple(map(tuple, q.tolist())) for q in quads] if self.oriented \
            else [None] * len(boxes)
        words = [Word(tuple(float(v) for v in b), t, float(c), float(s), corners=q)
                 for b, t, c, s, q in zip(boxes, texts, confs, det_scores, corners, strict=True)
                 if self.accepts(t, c)]
        return FrameResult(words=words, frame=frame, time_s=time_s, timings=timings)

    def read_boxes(self, image: np.ndarray, boxes: np.ndarray, timings: dict | None = None,
                   quads: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """Texts and confidences of the words in `boxes` (x1, y1, x2, y2) of a frame (`quads`:
        their corners, where tilted): cropped with the detector card's margins, recognized
        in batches."""
        if len(boxes) == 0:
            return [], np.zeros(0, np.float32)
        t0 = time.perf_counter()
        crops = self.crop(image, boxes, quads)
        if timings is not None:
            timings["crop"] = timings.get("crop", 0.0) + (time.perf_counter() - t0) * 1000
        return self.recognizer(crops, timings)

    def accepts(self, text: str, conf: float) -> bool:
        """Whether a reading is reported: some text, at least `min_conf` sure."""
        return bool(text.strip()) and conf >= self.min_conf

