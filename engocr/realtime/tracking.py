"""Video as video: word tracks across frames, reuse of readings, stable voted text
(`TrackingReader`: a Reader that reads only the tracks that need it).

A track follows one word box (greedy IoU matching against a constant-velocity prediction). It
is re-read only when it is new, when its appearance or size changed, when its reading is
unsure, or every `reread_every` frames; otherwise it keeps its text. The text shown is a
confidence-weighted, character-aligned vote over its recent readings.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engocr.realtime.results import FrameResult, Word

if TYPE_CHECKING:
    from engocr.realtime.reader import Reader
    from engocr.realtime.sources import Frame

THUMB = (48, 16)  # appearance signature size (w, h)
ENDED_KEPT = 256  # ended tracks held for `Tracker.pop_ended`


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (n, 4) with every box in `b` (m, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-6)


def thumbnail(frame: np.ndarray, box) -> np.ndarray:
    """A small, contrast-normalised grayscale picture of a box, to tell whether it changed."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    h, w = frame.shape[:2]
    crop = frame[max(0, y1):min(h, max(y2, y1 + 1)), max(0, x1):min(w, max(x2, x1 + 1))]
    if crop.size == 0:
        return np.zeros(THUMB[::-1], np.float32)
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return cv2.resize(gray, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def similarity(new: np.ndarray, old: np.ndarray) -> float:
    """Best normalised correlation of the old picture's centre within the new one, so that a
    shift of a pixel or two (tracking jitter) does not count as a change; 1 = same."""
    score = cv2.matchTemplate(new, old[1:-1, 2:-2], cv2.TM_CCOEFF_NORMED).max()
    return float(np.nan_to_num(score, nan=1.0))


def vote(readings: list[tuple[str, float]]) -> tuple[str, float]:
    """Confidence-weighted vote: the most supported length wins, then each character position
    is voted among readings of that length (so one misread letter is outvoted)."""
    if not readings:
        return "", 0.0
    by_length: dict[int, float] = defaultdict(float)
    for text, conf in readings:
        by_length[len(text)] += conf + 1e-3
    length = max(by_length, key=lambda n: (by_length[n], n))
    same = [(t, c) for t, c in readings if len(t) == length]
    chars = []
    for i in range(length):
        weights: Counter = Counter()
        for text, conf in same:
            weights[text[i]] += conf + 1e-3
        chars.append(weights.most_common(1)[0][0])
    total = sum(c for _, c in same)
    return "".join(chars), total / len(same)


@dataclass(eq=False)  # identity semantics: tracks are compared as objects
class Track:
    id: int
    box: np.ndarray
    first_s: float
    last_s: float
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    readings: list[tuple[str, float]] = field(default_factory=list)
    text: str = ""
    conf: float = 0.0
    read_frame: int = -1
    read_box: np.ndarray | None = None
    read_thumb: np.ndarray | None = None
    changed: bool = False  # content changed since the last reading: start a new vote
    missed: int = 0
    det_score: float = 0.0
    # The word's corners from its last detection (4, 2), moved with the box while it coasts;
    # where an oriented detector found it tilted, the recognizer's crop is cut along them.
    quad: np.ndarray | None = None

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity

    def move_to(self, box: np.ndarray) -> None:
        """The box (and the quad, by the shift of the box's centre) moved to `box`."""
        if self.quad is not None:
            shift = (box[:2] + box[2:] - self.box[:2] - self.box[2:]) / 2
            self.quad = self.quad + shift
        self.box = box


@dataclass
class TrackerConfig:
    iou_threshold: float = 0.3
    max_missed: int = 8  # frames a track survives without a detection
    reread_every: int = 30  # frames between routine re-reads
    min_conf: float = 0.75  # below this the track is re-read every `low_conf_every` frames...
    low_conf_every: int = 3  # ...until its vote holds `history` readings
    min_similarity: float = 0.85  # appearance correlation below this counts as a change
    size_change: float = 0.25  # relative box size change that triggers a re-read
    history: int = 7  # readings kept for the vote


class Tracker:
    """Associates detections with tracks and decides which ones need the recognizer."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        # Ended tracks wait here for `pop_ended`; a caller that never collects them (the frame
        # loop does not) must not make a camera left running all day grow: the oldest go.
        self.ended: deque[Track] = deque(maxlen=ENDED_KEPT)
        self.next_id = 1

    def update(self, frame_index: int, time_s: float, frame: np.ndarray, boxes: np.ndarray,
               scores: np.ndarray, quads: np.ndarray | None = None
               ) -> tuple[list[Track], list[Track]]:
        """Match this frame's boxes (and their quads); returns (tracks visible now, those that
        need reading)."""
        cfg = self.config
        predicted = np.array([t.predicted() for t in self.tracks], np.float32).reshape(-1, 4)
        ious = iou_matrix(predicted, boxes)
        pairs = sorted(((ious[i, j], i, j) for i in range(len(self.tracks))
                        for j in range(len(boxes)) if ious[i, j] >= cfg.iou_threshold),
                       reverse=True)
        used_t, used_d = set(), set()
        visible = []
        for _, i, j in pairs:
            if i in used_t or j in used_d:
                continue
            used_t.add(i)
            used_d.add(j)
            track = self.tracks[i]
            new_box = boxes[j].astype(np.float32)
            track.velocity = 0.5 * track.velocity + 0.5 * (new_box - track.box)
            track.box, track.last_s, track.last_frame = new_box, time_s, frame_index
            track.missed, track.det_score = 0, float(scores[j])
            track.quad = None if quads is None else quads[j].astype(np.float32)
            visible.append(track)
        for j in range(len(boxes)):
            if j not in used_d:
                track = Track(self.next_id, boxes[j].astype(np.float32), time_s, time_s,
                              frame_index, det_score=float(scores[j]),
                              quad=None if quads is None else quads[j].astype(np.float32))
                self.next_id += 1
                self.tracks.append(track)
                visible.append(track)
        survivors = []
        seen = {id(t) for t in visible}
        for track in self.tracks:
            if id(track) in seen:
                survivors.append(track)
                continue
            track.missed += 1
            track.move_to(track.predicted())
            track.velocity *= 0.5
            (survivors if track.missed <= cfg.max_missed else self.ended).append(track)
        self.tracks = survivors
        return visible, [t for t in visible if self._needs_read(t, frame, frame_index)]

    def _needs_read(self, track: Track, frame: np.ndarray, frame_index: int) -> bool:
        cfg = self.config
        if track.read_frame < 0:
            return True
        since = frame_index - track.read_frame
        # An unsure reading is retried (other frames, other blur) until the vote is full;
        # every frame would spend the recognizer on the text it reads worst.
        if track.conf < cfg.min_conf and len(track.readings) < cfg.history and \
                since >= cfg.low_conf_every:
            return True
        if since >= cfg.reread_every:
            return True
        size = np.prod(track.box[2:] - track.box[:2])
        old = np.prod(track.read_box[2:] - track.read_box[:2])
        if abs(size - old) > cfg.size_change * max(old, 1.0):
            return True  # zoomed: read again at the new size, keep the vote
        if similarity(thumbnail(frame, track.box), track.read_thumb) < cfg.min_similarity:
            track.changed = True  # new content: a new vote
            return True
        return False

    def add_reading(self, track: Track, frame: np.ndarray, frame_index: int, text: str,
                    conf: float) -> None:
        """Record a fresh reading and re-vote the track's text (readings from before a change
        of content no longer vote)."""
        if track.changed:
            track.readings, track.changed = [], False
        track.readings = (track.readings + [(text, conf)])[-self.config.history:]
        track.text, track.conf = vote(track.readings)
        track.read_frame, track.read_box = frame_index, track.box.copy()
        track.read_thumb = thumbnail(frame, track.box)

    def coast(self, frame_index: int, time_s: float) -> list[Track]:
        """A frame without detection (`--det-every`): tracks move by their velocity."""
        for track in self.tracks:
            track.move_to(track.predicted())
            track.last_s, track.last_frame = time_s, frame_index
        return [t for t in self.tracks if t.missed == 0]

    def pop_ended(self) -> list[Track]:
        ended = list(self.ended)
        self.ended.clear()
        return ended

    def close(self) -> list[Track]:
        """End every track (end of stream)."""
        ended = list(self.ended) + self.tracks
        self.ended.clear()
        self.tracks = []
        return ended


class TrackingReader:
    """Reader + Tracker: the recognizer runs only for tracks that need a (re-)read, and each
    word carries its track id and voted text. With `det_every` > 1 the detector runs every
    N-th frame and tracks coast on their velocity in between."""

    def __init__(self, reader: Reader, config: TrackerConfig | None = None,
                 det_every: int = 1) -> None:
        self.reader, self.tracker = reader, Tracker(config)
        self.det_every = max(1, det_every)
        self.rec_calls = 0

    def __call__(self, frame: Frame) -> FrameResult:
        image, timings = frame.image, {}
        if frame.index % self.det_every == 0 or not self.tracker.tracks:
            boxes, scores, quads = self.reader.detect(image, timings)
            visible, to_read = self.tracker.update(frame.index, frame.time_s, image, boxes,
                                                   scores, quads if self.reader.oriented else None)
        else:
            visible, to_read = self.tracker.coast(frame.index, frame.time_s), []
        if to_read:
            quads = None if to_read[0].quad is None else np.array([t.quad for t in to_read])
            texts, confs = self.reader.read_boxes(image, np.array([t.box for t in to_read]),
                                                  timings, quads)
            for track, text, conf in zip(to_read, texts, confs, strict=True):
                self.tracker.add_reading(track, image, frame.index, text, float(conf))
        self.rec_calls += len(to_read)
        h, w = image.shape[:2]
        words = [Word(tuple(float(v) for v in np.clip(t.box, 0, [w, h, w, h])), t.text, t.conf,
                      t.det_score, track_id=t.id,
                      corners=None if t.quad is None else
                      tuple((float(x), float(y)) for x, y in np.clip(t.quad, 0, [w, h])))
                 for t in visible if self.reader.accepts(t.text, t.conf)]
        return FrameResult(words=words, frame=frame.index, time_s=frame.time_s, timings=timings)
