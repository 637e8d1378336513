"""Typed results and the one output schema used everywhere:
a word is {"quad": [[x, y] x 4, clockwise from top-left, original-frame pixels], "text", "conf"};
a frame is {"frame": i, "time_s": t, "words": [...]}."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from engocr.geometry import box_to_quad
from engocr.realtime.lines import line_texts


@dataclass
class Word:
    """One read word: its box in frame pixels (x1, y1, x2, y2), text and confidences;
    `corners`, the word's own quad where an oriented detector found it tilted (clockwise
    from its top-left as read), else the box's corners stand for it."""

    box: tuple[float, float, float, float]
    text: str
    conf: float
    det_conf: float = 1.0
    track_id: int | None = None
    corners: tuple | None = None

    @property
    def quad(self) -> list[list[float]]:
        if self.corners is not None:
            return [[float(x), float(y)] for x, y in self.corners]
        return box_to_quad(self.box)

    def to_dict(self) -> dict:
        out = {"quad": [[round(x, 1), round(y, 1)] for x, y in self.quad], "text": self.text,
               "conf": round(float(self.conf), 4)}
        if self.track_id is not None:
            out["track"] = self.track_id
        return out


@dataclass
class FrameResult:
    """Everything read in one frame, with per-stage timings in milliseconds."""

    words: list[Word]
    frame: int = 0
    time_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The lines of text in reading order (top to bottom, each left to right), the
        fragments of a word merged into it."""
        return " ".join(text for text, _ in line_texts(self.words))

    def to_dict(self) -> dict:
        return {"frame": self.frame, "time_s": round(self.time_s, 3),
                "words": [w.to_dict() for w in self.words]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
