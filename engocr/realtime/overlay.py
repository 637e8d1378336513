"""Drawing results on frames: boxes, text on filled labels (readable at any size) that never
cover another word, and a corner panel with FPS and per-stage milliseconds (the live window's;
a saved video has it only when asked for: it would hide the picture)."""

from __future__ import annotations

import cv2
import numpy as np

from engocr.realtime.results import FrameResult

FONT = cv2.FONT_HERSHEY_SIMPLEX
BOX = (0, 220, 0)
LABEL_BG = (0, 150, 0)


def _label(frame: np.ndarray, text: str, x: int, y: int, scale: float, fg, bg) -> None:
    """`text` on a filled box whose bottom-left corner is (x, y), kept inside the frame."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    h, w = frame.shape[:2]
    x = int(np.clip(x, 0, max(0, w - tw - 4)))
    y = int(np.clip(y, th + base + 4, h))
    cv2.rectangle(frame, (x, y - th - base - 4), (x + tw + 4, y), bg, -1)
    cv2.putText(frame, text, (x + 2, y - base - 2), FONT, scale, fg, 1, cv2.LINE_AA)


def _covers(rect: tuple[float, float, float, float], boxes: list, skip: int) -> bool:
    x1, y1, x2, y2 = rect
    return any(i != skip and min(x2, b[2]) > max(x1, b[0]) and min(y2, b[3]) > max(y1, b[1])
               for i, b in enumerate(boxes))


def label_baseline(boxes: list, i: int, label_h: int, label_w: int) -> int:
    """Where the label of word `i` sits (its bottom edge): just above the box, unless that
    would cover another word (the line above); then just below it, or failing that inside
    the box's top."""
    x1, y1, _, y2 = boxes[i]
    for bottom in (y1 - 2, y2 + label_h + 2):
        if not _covers((x1, bottom - label_h, x1 + label_w, bottom), boxes, i):
            return int(round(bottom))
    return int(round(y1 + label_h))


def draw_words(out: np.ndarray, result: FrameResult) -> np.ndarray:
    """Every word's box and text drawn into `out` (in place)."""
    scale = max(0.4, min(1.2, out.shape[0] / 900))
    thickness = max(1, out.shape[0] // 400)
    boxes = [w.box for w in result.words]
    for i, word in enumerate(result.words):
        x1, y1, x2, y2 = (int(round(v)) for v in word.box)
        if word.corners is not None:  # a tilted word: its own outline
            points = np.round(np.asarray(word.corners, np.float32)).astype(np.int32)
            cv2.polylines(out, [points], True, BOX, thickness)
        else:
            cv2.rectangle(out, (x1, y1), (x2, y2), BOX, thickness)
        (tw, th), base = cv2.getTextSize(word.text, FONT, scale, 1)
        y = label_baseline(boxes, i, th + base + 4, tw + 4)
        _label(out, word.text, x1, y, scale, (255, 255, 255), LABEL_BG)
    return out


def draw_stats(out: np.ndarray, result: FrameResult, fps: float | None = None) -> np.ndarray:
    """The FPS and per-stage milliseconds panel drawn into `out` (in place), in the corner
    where it hides the fewest words."""
    scale = max(0.4, min(1.2, out.shape[0] / 900))
    lines = [f"FPS {fps:5.1f}" if fps else "engocr"]
    lines += [f"{k:9s}{v:6.1f} ms" for k, v in result.timings.items()]
    step = int(20 * scale / 0.5)
    width = max(cv2.getTextSize(line, FONT, scale * 0.9, 1)[0][0] for line in lines) + 8
    x, y = _panel_corner(out.shape, (width, step * len(lines) + 6),
                         [w.box for w in result.words])
    for i, line in enumerate(lines):
        _label(out, line, x + 4, y + (i + 1) * step, scale * 0.9, (255, 255, 255),
               (40, 40, 40))
    return out


def draw_result(frame: np.ndarray, result: FrameResult, fps: float | None = None,
                show_stats: bool = True) -> np.ndarray:
    """A copy of `frame` with every word's box and text, and (`show_stats`) the stats panel."""
    out = draw_words(frame.copy(), result)
    return draw_stats(out, result, fps) if show_stats else out


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
