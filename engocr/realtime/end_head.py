"""Box ends read from the detector's end head (issue 25: words cut at an end).

A YOLO cell near a long word's middle predicts the whole word's length, and its box ends
scatter about the word's by about 0.15 word heights each, most on long words. The end head
(`DetectorConfig.end_head`, output `ends_s8`) predicts per stride-8 cell: whether the cell
lies on a word's centre line (a logit), and how far that word's first and last letters are
from it, along the text, in word heights (clipped at `FAR`). A cell near an end sees it and
says where it is to a fraction of a cell.

Each decoded box is then refined end by end: along its centre line, around each end (from
`reach` heights outside it to `reach + NEAR` heights inside), every point on a word's centre
line that says the end is within `NEAR` heights gives an estimate of the end; their weighted
mean (points nearer the end and surer ones weigh more) is the new end, at most `reach`
heights from the old one. Where no point qualifies the end stays. Runs in the model input's
pixels, before the boxes go back to frame pixels."""

from __future__ import annotations

import math

import numba
import numpy as np

from engocr.realtime.kernels import kernel_cache_dir

if not numba.config.CACHE_DIR:  # read before the kernels below are decorated, as in kernels.py
    numba.config.CACHE_DIR = str(kernel_cache_dir())
from numba import njit  # noqa: E402

END_OUTPUT = "ends_s8"
END_STRIDE = 8
END_CHANNELS = 3  # centre-line logit, distance to the first letter's start, to the last's end
FAR = 1.5  # distances are clipped here (heights): a cell farther in says only "far"
NEAR = 1.2  # only cells that put the end within this many heights are read
BEYOND = 1.0  # distances are also taught this many heights past each end (targets)
# A point's estimate weighs exp(-SHARP x its distance from the end, in heights): the cells
# nearest an end see it best.
SHARP = 3.0
# Cells within this x the word's height of its centre line (at least half a cell) are on it:
# most of the word's own rows, which a stride-8 map learns far more easily than a thin line.
BAND = 0.4


@njit(cache=True, nogil=True)
def _bilinear(ends: np.ndarray, x: float, y: float, stride: float, channel: int) -> float:
    """Channel `channel` of the end map at input pixel (x, y) (cell centres at (j + 0.5) x
    stride), NaN outside the grid."""
    gh, gw = ends.shape[0], ends.shape[1]
    fx, fy = x / stride - 0.5, y / stride - 0.5
    if fx < -0.5 or fy < -0.5 or fx > gw - 0.5 or fy > gh - 0.5:
        return math.nan
    fx, fy = min(max(fx, 0.0), gw - 1.0), min(max(fy, 0.0), gh - 1.0)
    j0, i0 = int(fx), int(fy)
    j1, i1 = min(j0 + 1, gw - 1), min(i0 + 1, gh - 1)
    ax, ay = fx - j0, fy - i0
    top = ends[i0, j0, channel] * (1.0 - ax) + ends[i0, j1, channel] * ax
    bottom = ends[i1, j0, channel] * (1.0 - ax) + ends[i1, j1, channel] * ax
    return top * (1.0 - ay) + bottom * ay


@njit(cache=True, nogil=True)
def _weighted_end(ends: np.ndarray, cx: float, cy: float, c: float, s: float, h: float,
                  outer: float, inside: float, sign: float, near: float, stride: float,
                  centre: float, sharp: float) -> tuple[float, float]:
    """(the weighted mean end, the total weight) from the centre-line points between
    `inside` and `outer` that put the end within `near` heights; each weighs its sureness x
    exp(-`sharp` x its distance from `centre`, in heights)."""
    n = int(abs(outer - inside) / (stride / 2.0)) + 2
    channel = 1 if sign < 0 else 2
    total, weight = 0.0, 0.0
    for k in range(n):
        t = inside + (outer - inside) * k / (n - 1)
        x, y = cx + t * c, cy + t * s
        logit = _bilinear(ends, x, y, stride, 0)
        if math.isnan(logit) or logit <= 0.0:
            continue
        d = _bilinear(ends, x, y, stride, channel)
        if d > near:
            continue
        w = math.exp(-sharp * abs(t - centre) / h) / (1.0 + math.exp(-logit))
        total += w * (t + sign * d * h)
        weight += w
    return (total / weight if weight > 0.0 else centre), weight


@njit(cache=True, nogil=True)
def _estimate_end(ends: np.ndarray, cx: float, cy: float, c: float, s: float, h: float,
                  end: float, sign: float, reach: float, near: float, stride: float,
                  inner: float) -> float:
    """The end at `end` (along the box's axis from its centre; `sign` -1 the start, +1 the
    end) as the head reads it; `end` itself where no cell says where it is. Two rounds: the
    plain mean of every qualifying point, then a mean that favours the points nearest that
    first estimate (weighing by the points' own predicted distances would favour the ones
    that underestimate it)."""
    outer = end + sign * reach * h
    inside = end - sign * min((reach + near) * h, inner)
    first, weight = _weighted_end(ends, cx, cy, c, s, h, outer, inside, sign, near, stride,
                                  end, 0.0)
    if weight <= 0.0:
        return end
    found, _ = _weighted_end(ends, cx, cy, c, s, h, outer, inside, sign, near, stride, first,
                             SHARP)
    return min(max(found, end - reach * h), end + reach * h)


@njit(cache=True, nogil=True)
def refine_ends_kernel(obbs: np.ndarray, ends: np.ndarray, stride: float, reach: float,
                       near: float) -> np.ndarray:
    """Oriented boxes (n, 5: cx cy w h angle, model-input pixels) with both ends where the
    end map (gh, gw, END_CHANNELS) puts them (module docstring); a copy."""
    out = obbs.copy()
    for n in range(len(obbs)):
        cx, cy, w, h, angle = obbs[n, 0], obbs[n, 1], obbs[n, 2], obbs[n, 3], obbs[n, 4]
        if h < 2.0 or w < 2.0:
            continue
        c, s = math.cos(angle), math.sin(angle)
        lo = _estimate_end(ends, cx, cy, c, s, h, -w / 2.0, -1.0, reach, near, stride, w)
        hi = _estimate_end(ends, cx, cy, c, s, h, w / 2.0, 1.0, reach, near, stride, w)
        if hi - lo < 0.5 * h:  # the two ends crossed: keep the box
            continue
        out[n, 0] = cx + (lo + hi) / 2.0 * c
        out[n, 1] = cy + (lo + hi) / 2.0 * s
        out[n, 2] = hi - lo
    return out


def refine_ends(obbs: np.ndarray, ends: np.ndarray, reach: float,
                stride: float = END_STRIDE, near: float = NEAR) -> np.ndarray:
    """Boxes (n, 5, model-input pixels) with their ends where the end head reads them;
    `reach` 0 or no boxes: as they are."""
    if reach <= 0 or len(obbs) == 0:
        return obbs
    refined = refine_ends_kernel(np.asarray(obbs, np.float64),
                                 np.ascontiguousarray(ends, np.float32), float(stride),
                                 float(reach), float(near))
    return refined.astype(np.float32)


def encode_end_targets(obbs: np.ndarray, dontcare: np.ndarray, size: tuple[int, int],
                       stride: int = END_STRIDE) -> np.ndarray:
    """Training targets of the end head for one window of `size` (w, h): (gh, gw, 5) of
    [on a centre line, distance to the start, to the end (heights, clipped to -BEYOND..FAR),
    weight of the centre-line term, weight of the distance terms]. Words are oriented boxes
    (n, 5: cx cy w h angle, input pixels); `dontcare` level boxes (m, 4: x1 y1 x2 y2). A cell
    is on a word's centre line within BAND of its height (at least half a cell, so that every
    word crosses a row of cell centres); cells elsewhere inside a word, or inside a don't-care
    box, do not count (weight 0); where words overlap the smaller one wins. The distances are
    also taught on the centre line up to BEYOND heights past each end (negative there): the
    runtime reads the cells around an end, and a cell just past a word must not say the word
    goes on."""
    width, height = size
    gh, gw = height // stride, width // stride
    grid = np.zeros((gh, gw, 5), np.float32)
    grid[..., 3] = 1.0
    xs = (np.arange(gw, dtype=np.float32) + 0.5) * stride
    ys = (np.arange(gh, dtype=np.float32) + 0.5) * stride
    px, py = np.meshgrid(xs, ys)
    for x1, y1, x2, y2 in np.asarray(dontcare, np.float32).reshape(-1, 4):
        grid[(px >= x1) & (px <= x2) & (py >= y1) & (py <= y2), 3] = 0.0
    obbs = np.asarray(obbs, np.float32).reshape(-1, 5)
    frames = []
    for cx, cy, w, h, angle in obbs:
        c, s = np.cos(angle), np.sin(angle)
        along = (px - cx) * c + (py - cy) * s
        across = (py - cy) * c - (px - cx) * s
        frames.append((along, across))
        grid[(np.abs(along) <= w / 2) & (np.abs(across) <= h / 2), 3] = 0.0
    order = np.argsort(-(obbs[:, 2] * obbs[:, 3]))
    for beyond in (BEYOND, 0.0):  # past the ends first: the words themselves overwrite them
        for n in order:
            cx, cy, w, h, _ = obbs[n]
            along, across = frames[n]
            hh = max(float(h), 1.0)
            cells = (np.abs(along) <= w / 2 + beyond * hh) & \
                (np.abs(across) <= max(BAND * h, stride / 2))
            if not beyond:
                i, j = int(cy // stride), int(cx // stride)
                if 0 <= i < gh and 0 <= j < gw:
                    cells[i, j] = True
            ones = np.ones(cells.sum(), np.float32)
            grid[cells, 1] = np.clip((along[cells] + w / 2) / hh, -BEYOND, FAR)
            grid[cells, 2] = np.clip((w / 2 - along[cells]) / hh, -BEYOND, FAR)
            grid[cells, 4] = ones
            if not beyond:
                grid[cells, 0] = ones
                grid[cells, 3] = ones
    return grid


def targets_to_raw(grid: np.ndarray) -> np.ndarray:
    """Targets as the raw output a perfect head would give (for round-trip tests)."""
    raw = np.empty(grid.shape[:2] + (END_CHANNELS,), np.float32)
    raw[..., 0] = np.where(grid[..., 0] > 0, 8.0, -8.0)
    raw[..., 1:] = grid[..., 1:3]
    return raw


def warm_up() -> float:
    """Compile the kernel (or load it from numba's cache); returns the seconds it took."""
    import time

    start = time.perf_counter()
    ends = np.full((8, 16, END_CHANNELS), 0.5, np.float32)  # every cell on a line, ends near
    refine_ends(np.array([[60, 32, 60, 16, 0]], np.float32), ends, 0.8)
    return time.perf_counter() - start
