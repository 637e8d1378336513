"""Detector training samples: synthetic scenes and real ic15 training images, letterboxed to
the model input, with word boxes in input pixels (ignore regions kept apart)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator

import cv2
import numpy as np

from engocr.preprocess import letterbox
from engocr.train.data.records import SceneSample


def scene_to_input(sample: SceneSample, size: tuple[int, int], rng: np.random.Generator | None,
                   zoom: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Letterbox a scene to `size` (w, h), with an optional random zoomed crop first so that the
    detector sees words of every size. Returns image, boxes (n, 4), ignore boxes (m, 4)."""
    image = sample.load()
    H, W = image.shape[:2]
    quads = np.array([w.quad for w in sample.words], np.float32).reshape(-1, 4, 2)
    ignore = np.array([w.ignore for w in sample.words], bool)
    if rng is not None and zoom and rng.random() < 0.6:
        f = rng.uniform(0.35, 1.0)
        cw, ch = int(W * f), int(H * f)
        x0, y0 = int(rng.integers(0, W - cw + 1)), int(rng.integers(0, H - ch + 1))
        image = image[y0:y0 + ch, x0:x0 + cw]
        quads = quads - [x0, y0]
    out, scale, dx, dy = letterbox(image, *size)
    quads = quads * scale + [dx, dy]
    boxes = np.concatenate([quads.min(1), quads.max(1)], 1) if len(quads) else \
        np.zeros((0, 4), np.float32)
    h, w = out.shape[:2]
    clipped = np.clip(boxes, [0, 0, 0, 0], [w, h, w, h])
    area = np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-3), 1)
    kept = np.prod(np.maximum(clipped[:, 2:] - clipped[:, :2], 0), 1) / area
    small = (clipped[:, 3] - clipped[:, 1]) < 3  # below what any stride can resolve
    visible = kept > 0.1
    positive = visible & ~ignore & (kept > 0.6) & ~small
    dontcare = visible & ~positive
    if rng is not None:
        out = _colour_jitter(out, rng)
    return out, clipped[positive], clipped[dontcare]


def _colour_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
        hsv[..., 1] *= rng.uniform(0.6, 1.4)
        hsv[..., 2] *= rng.uniform(0.6, 1.3)
        image = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    if rng.random() < 0.2:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2))
    return image


_GEN: dict = {}


def _render(args: tuple[int, int, int, int]):
    from engocr.train.data.synth import SynthScenes

    seed, index, width, height = args
    gen = _GEN.get(seed)
    if gen is None:
        gen = _GEN[seed] = SynthScenes(seed=seed, size=(int(width * 1.5), int(height * 1.5)))
    rng = np.random.default_rng([seed, index, 7])
    return scene_to_input(gen[index], (width, height), rng)


def synth_scene_stream(seed: int, start: int, size: tuple[int, int],
                       workers: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Endless synthetic detector samples rendered in worker processes."""
    pool = mp.get_context("fork").Pool(workers)
    index = start
    try:
        while True:
            chunk = [(seed, i, size[0], size[1]) for i in range(index, index + 128)]
            yield from pool.imap(_render, chunk, chunksize=8)
            index += 128
    finally:
        pool.terminate()
