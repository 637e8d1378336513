"""Box ends moved to where the word's ink ends (issue 25: words cut at an end).

A detector cell near a long word's middle predicts the word's length, and its box ends scatter
about the word's by about 0.15 word heights each (more on long words): a quarter of the words
found were cut by more than a quarter of a height at an end, so the recognizer lost their first
or last letter. The image says where a word ends: sampled in the box's own frame (along and
across its text), each column's spread of brightness across the word's height is high through
letters and low in the gap after the word. Each end whose column still holds ink is walked
outwards, up to `reach` word heights, to the first gap at least `gap` word heights wide;
where no such gap comes within reach (clutter, a touching neighbour) the end stays where the
detector put it. Ends already in a gap stay too: this only lengthens boxes that cut letters.

The settings are the detector card's `end_reach` (0: off), `end_gap` and `end_ink`, chosen by
end-to-end F on training images (`engocr.train.ends_choice`)."""

from __future__ import annotations

import time

import numba
import numpy as np

from engocr.realtime.kernels import kernel_cache_dir
from engocr.realtime.oriented import obb_to_quads, quads_to_obbs

if not numba.config.CACHE_DIR:  # read before the kernels below are decorated, as in kernels.py
    numba.config.CACHE_DIR = str(kernel_cache_dir())
from numba import njit  # noqa: E402

STRIP_ROWS = 16  # columns a word height, and rows down the strip
# The strip is this x the box's height, centred on it: a letter's stem that fills a tight box
# from top to bottom still has background above and below it, so its columns vary.
SPAN = 1.2
MIN_HEIGHT = 4.0  # words lower than this (pixels) are left as they are
MAX_COLUMNS = 4096  # a strip longer than this (a box 256 heights long) is left as it is


@njit(cache=True, nogil=True)
def _luma(image: np.ndarray, x: float, y: float) -> float:
    """Bilinear brightness (mean of the channels) at (x, y); 0 outside the image, so that a
    word running off the frame ends at its edge."""
    h, w, channels = image.shape
    if x < 0.0 or y < 0.0 or x > w - 1 or y > h - 1:
        return 0.0
    x0, y0 = int(x), int(y)
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    total = 0.0
    for c in range(channels):
        top = image[y0, x0, c] * (1.0 - fx) + image[y0, x1, c] * fx
        bottom = image[y1, x0, c] * (1.0 - fx) + image[y1, x1, c] * fx
        total += top * (1.0 - fy) + bottom * fy
    return total / channels


@njit(cache=True, nogil=True)
def ink_profile(image: np.ndarray, cx: float, cy: float, w: float, h: float, angle: float,
                reach: float) -> np.ndarray:
    """Standard deviation of brightness down each column of the box's strip (`SPAN` x its
    height), from `reach` heights before its start to `reach` heights past its end, at
    `STRIP_ROWS` columns a word height."""
    k = STRIP_ROWS / h
    half = w / 2.0 + reach * h
    cols = int(round(2.0 * half * k))
    c, s = np.cos(angle), np.sin(angle)
    profile = np.zeros(cols, np.float32)
    values = np.empty(STRIP_ROWS, np.float64)
    for u in range(cols):
        along = (u + 0.5) / k - half
        for r in range(STRIP_ROWS):
            across = ((r + 0.5) / STRIP_ROWS - 0.5) * SPAN * h
            values[r] = _luma(image, cx + along * c - across * s, cy + along * s + across * c)
        profile[u] = values.std()
    return profile


@njit(cache=True, nogil=True)
def ink_columns(profile: np.ndarray, start: int, end: int, ink: float) -> np.ndarray:
    """Which columns of `profile` hold ink: a spread at least `ink` x the median spread of the
    middle half of the box's columns [start, end); none where that median is nil (a blank
    box)."""
    quarter = (end - start) // 4
    level = np.median(profile[start + quarter:end - quarter])
    if level <= 1e-3:
        return np.zeros(len(profile), np.bool_)
    return profile >= ink * level


@njit(cache=True, nogil=True)
def _walk(ink: np.ndarray, start: int, step: int, gap: int) -> int:
    """From column `start` in direction `step`, the first column of a run of `gap` columns
    without ink (a shorter run that reaches the strip's end counts); -1 where there is none."""
    n = len(ink)
    j = start
    while 0 <= j < n:
        clear = True
        t = 0
        while t < gap and 0 <= j + step * t < n:
            if ink[j + step * t]:
                clear = False
                break
            t += 1
        if clear:
            return j
        j += step
    return -1


@njit(cache=True, nogil=True)
def snap_ends_kernel(image: np.ndarray, obbs: np.ndarray, reach: float, gap: float,
                     ink: float) -> np.ndarray:
    """Oriented boxes (n, 5: cx cy w h angle, frame pixels) with their ends moved out to where
    the ink ends (module docstring); a copy, the centre moving along the text."""
    out = obbs.copy()
    gap_cols = max(1, int(round(gap * STRIP_ROWS)))
    reach_cols = int(round(reach * STRIP_ROWS))
    for n in range(len(obbs)):
        cx, cy, w, h, angle = obbs[n, 0], obbs[n, 1], obbs[n, 2], obbs[n, 3], obbs[n, 4]
        if h < MIN_HEIGHT or (w / h + 2 * reach) * STRIP_ROWS > MAX_COLUMNS:
            continue
        profile = ink_profile(image, cx, cy, w, h, angle, reach)
        cols = len(profile)
        start, end = reach_cols, cols - reach_cols  # the box's ends in strip columns
        if end - start < 4:
            continue
        is_ink = ink_columns(profile, start, end, ink)
        new_start, new_end = start, end
        if is_ink[end - 1] and end < cols and is_ink[end]:
            j = _walk(is_ink, end, 1, gap_cols)
            new_end = end if j < 0 else j
        if is_ink[start] and start > 0 and is_ink[start - 1]:
            j = _walk(is_ink, start - 1, -1, gap_cols)
            new_start = start if j < 0 else j + 1
        if new_start == start and new_end == end:
            continue
        k = STRIP_ROWS / h
        lo, hi = -w / 2.0 - (start - new_start) / k, w / 2.0 + (new_end - end) / k
        out[n, 0] = cx + (lo + hi) / 2.0 * np.cos(angle)
        out[n, 1] = cy + (lo + hi) / 2.0 * np.sin(angle)
        out[n, 2] = hi - lo
    return out


def snap_ends(frame: np.ndarray, quads: np.ndarray, reach: float, gap: float, ink: float
              ) -> np.ndarray:
    """Word quads (n, 4, 2: TL TR BR BL as read, frame pixels) of a BGR or grayscale frame
    with their ends moved to where the ink ends; `reach` 0 or no quads: as they are."""
    if reach <= 0 or len(quads) == 0:
        return quads
    image = frame if frame.ndim == 3 else frame[..., None]
    obbs = quads_to_obbs(quads).astype(np.float64)
    return obb_to_quads(snap_ends_kernel(np.ascontiguousarray(image), obbs, float(reach),
                                         float(gap), float(ink)))


def warm_up() -> float:
    """Compile the kernel (or load it from numba's cache); returns the seconds it took."""
    start = time.perf_counter()
    frame = np.zeros((8, 32, 3), np.uint8)
    frame[2:6, 4:28] = 255
    snap_ends(frame, np.array([[[8, 2], [20, 2], [20, 6], [8, 6]]], np.float32), 0.5, 0.2, 0.5)
    return time.perf_counter() - start
