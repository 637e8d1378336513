"""Drawing results on frames: boxes, text on filled labels (readable at any size), and a corner
panel with FPS and per-stage milliseconds."""

from __future__ import annotations

import cv2
import numpy as np

from engocr.realtime.results import FrameResult

FONT = cv2.FONT_HERSHEY_SIMPLEX
BOX = (0, 220, 0)
LABEL_BG = (0, 150, 0)


def _label(frame: np.ndarray, text: str, x: int, y: int, scale: float, fg, bg) -> None:
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    h, w = frame.shape[:2]
    x = int(np.clip(x, 0, max(0, w - tw - 4)))
    y = int(np.clip(y, th + base + 4, h))
    cv2.rectangle(frame, (x, y - th - base - 4), (x + tw + 4, y), bg, -1)
    cv2.putText(frame, text, (x + 2, y - base - 2), FONT, scale, fg, 1, cv2.LINE_AA)


def draw_result(frame: np.ndarray, result: FrameResult, fps: float | None = None,
                show_stats: bool = True) -> np.ndarray:
    """A copy of `frame` with every word's box and text, and the stats panel."""
    out = frame.copy()
    scale = max(0.4, min(1.2, frame.shape[0] / 900))
    thickness = max(1, frame.shape[0] // 400)
    for word in result.words:
        x1, y1, x2, y2 = (int(round(v)) for v in word.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), BOX, thickness)
        _label(out, word.text, x1, y1 - 2, scale, (255, 255, 255), LABEL_BG)
    if show_stats:
        lines = [f"FPS {fps:5.1f}" if fps else "engocr"]
        lines += [f"{k:9s}{v:6.1f} ms" for k, v in result.timings.items()]
        step = int(20 * scale / 0.5)
        width = max(cv2.getTextSize(line, FONT, scale * 0.9, 1)[0][0] for line in lines) + 8
        x, y = _panel_corner(frame.shape, (width, step * len(lines) + 6),
                             [w.box for w in result.words])
        for i, line in enumerate(lines):
            _label(out, line, x + 4, y + (i + 1) * step, scale * 0.9, (255, 255, 255),
                   (40, 40, 40))
    return out


def _panel_corner(shape: tuple[int, ...], size: tuple[int, int], boxes: list) -> tuple[int, int]:
    """Top-left of the stats panel: the frame corner whose panel covers the least word area
    (top-left when no word is in the way), so the panel never hides the text it reports."""
    h, w = shape[:2]
    pw, ph = size
    corners = [(0, 0), (w - pw, 0), (0, h - ph), (w - pw, h - ph)]

    def covered(corner):
        x, y = corner
        return sum(max(0.0, min(x + pw, b[2]) - max(x, b[0])) *
                   max(0.0, min(y + ph, b[3]) - max(y, b[1])) for b in boxes)

    return min(corners, key=covered)
