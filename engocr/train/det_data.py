"""Detector training samples: synthetic scenes and real training photos, letterboxed to the
model input, with word boxes in input pixels (ignore regions kept apart), both made in worker
processes so that a fast accelerator is not left waiting on one Python process's image work."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from engocr.preprocess import letterbox
from engocr.train.data.records import SceneSample
from engocr.train.workers import rendered_stream

# Random zoom of a training scene about the runtime's scale (log-uniform). Down to 0.3 puts the
# frame on a canvas, as the runtime's coarse pass sees a close-up: a word half a 1024-px frame
# high is ~150 px there; up to 2.0 for the smallest words.
ZOOM = (0.3, 2.0)
# A word cut by the training window is a positive only when nearly whole: a clipped box taught
# the detector that a word may end mid-word, which cut first and last letters off at run time.
WHOLE = 0.92
# Share of real training windows turned by a random angle when a run asks for it
# (`DetectorConfig.real_rotate`): ic15's words are tilted, its large ones most (68% of those
# 96 px and taller by more than 15 degrees), but most of its training words are near level,
# too few tilted ones to teach an oriented head its angle.
ROTATED_SHARE = 0.5
# A close-up window (`DetectorConfig.real_closeup`) zooms one word to a height drawn
# log-uniformly from CLOSEUP_HEIGHT (input px, share of the window's height), enlarging the
# photo at most CLOSEUP_UPSCALE times, so that the word stays sharp rather than an upscaled blur.
CLOSEUP_HEIGHT = (48.0, 0.8)
CLOSEUP_UPSCALE = 2.5


def scene_to_input(sample: SceneSample, size: tuple[int, int], rng: np.random.Generator | None,
                   frame_side: int | None = None, zoom: tuple[float, float] = ZOOM,
                   oriented: bool = False, rotate: float = 0.0, closeup: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A training or evaluation input of `size` (w, h) from a scene.

    Without `rng`: the whole scene letterboxed, as the runtime does. With `rng`: the scene is
    scaled as the runtime would scale it to a longest side of `frame_side` (down only; times a
    random factor, so words of every size appear), then a random `size` window is cut from it. That
    trains a fully convolutional detector on small windows at the pixel scale it will see at
    full size; `rotate` > 0 turns `ROTATED_SHARE` of the scaled scenes by up to that many
    degrees either way first (the words' quads turn with them); `closeup` > 0 zooms that share
    of the windows in on one word instead (`closeup_zoom`). Returns image, boxes (n, 4)
    and don't-care boxes (m, 4) in input pixels; with `oriented` the boxes are the words'
    oriented boxes (n, 5: cx cy w h angle, `engocr.realtime.oriented`), unclipped (a positive
    lies almost whole in the window)."""
    image = sample.load()
    H, W = image.shape[:2]
    quads = np.array([w.quad for w in sample.words], np.float32).reshape(-1, 4, 2)
    ignore = np.array([w.ignore for w in sample.words], bool)
    if rng is None:
        out, scale, dx, dy = letterbox(image, *size)
        quads = quads * scale + [dx, dy]
    else:
        base = min(1.0, (frame_side or max(size)) / max(W, H))
        scale = base * float(np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1]))))
        focus = None
        if closeup > 0 and rng.random() < closeup:
            focus, scale = closeup_zoom(quads[~ignore], size, rng) or (None, scale)
        scaled = cv2.resize(image, (max(1, int(W * scale)), max(1, int(H * scale))),
                            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        quads = quads * scale
        if rotate > 0 and rng.random() < ROTATED_SHARE:
            scaled, quads = rotate_scene(scaled, quads, float(rng.uniform(-rotate, rotate)))
        sh, sw = scaled.shape[:2]
        out = np.full((size[1], size[0], 3), 114, np.uint8)
        x0, y0 = _window_origin(quads[~ignore], (sw, sh), size, rng, focus)
        window = scaled[y0:y0 + size[1], x0:x0 + size[0]]
        out[:window.shape[0], :window.shape[1]] = window
        quads = quads - [x0, y0]
    boxes = np.concatenate([quads.min(1), quads.max(1)], 1) if len(quads) else \
        np.zeros((0, 4), np.float32)
    h, w = out.shape[:2]
    clipped = np.clip(boxes, [0, 0, 0, 0], [w, h, w, h])
    area = np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-3), 1)
    kept = np.prod(np.maximum(clipped[:, 2:] - clipped[:, :2], 0), 1) / area
    small = (clipped[:, 3] - clipped[:, 1]) < 3  # below what any stride can resolve
    visible = kept > 0.1
    positive = visible & ~ignore & (kept > WHOLE) & ~small
    dontcare = visible & ~positive
    if rng is not None:
        out = _colour_jitter(out, rng)
    if oriented:
        from engocr.realtime.oriented import quads_to_obbs

        return out, quads_to_obbs(quads[positive]).reshape(-1, 5), clipped[dontcare]
    return out, clipped[positive], clipped[dontcare]


def rotate_scene(image: np.ndarray, quads: np.ndarray, degrees: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """`image` turned `degrees` (counter-clockwise on screen) about its centre onto a canvas
    that holds all of it (the corners filled with the letterbox grey), and `quads` (n, 4, 2)
    turned with it, their corner order kept (a turned word still reads TL -> TR)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c))
    m[:, 2] += [(nw - w) / 2, (nh - h) / 2]
    turned = cv2.warpAffine(image, m, (nw, nh), flags=cv2.INTER_LINEAR,
                            borderValue=(114, 114, 114))
    return turned, (quads @ m[:, :2].T + m[:, 2]).astype(np.float32)


def closeup_zoom(quads: np.ndarray, size: tuple[int, int], rng: np.random.Generator
                 ) -> tuple[int, float] | None:
    """A word of `quads` (n, 4, 2: readable words, photo pixels) and the photo's scale that
    makes it CLOSEUP_HEIGHT high in a `size` window and still whole in it; None where no word
    can be (all too small to enlarge that far, or too long)."""
    from engocr.realtime.oriented import quads_to_obbs

    if not len(quads):
        return None
    heights = quads_to_obbs(quads)[:, 3]
    extents = quads.max(1) - quads.min(1)
    fit = 0.95 * np.min(np.asarray(size, np.float32) / np.maximum(extents, 1.0), 1)
    low = CLOSEUP_HEIGHT[0] / np.maximum(heights, 1.0)
    high = np.minimum(np.minimum(CLOSEUP_HEIGHT[1] * size[1] / np.maximum(heights, 1.0), fit),
                      CLOSEUP_UPSCALE)
    able = np.flatnonzero(high >= low)
    if not len(able):
        return None
    k = int(rng.choice(able))
    return k, float(np.exp(rng.uniform(np.log(low[k]), np.log(high[k]))))


def _window_origin(quads: np.ndarray, scaled: tuple[int, int], size: tuple[int, int],
                   rng: np.random.Generator, focus: int | None = None) -> tuple[int, int]:
    """Top-left corner of a training window in the scaled scene. Half the time it is placed to
    hold one whole readable word (a random one that fits, or `focus` for a close-up), so that
    large words, which a random window mostly cuts (and a cut word is no positive), are still
    learnt; else anywhere. Placed windows are 70% of all: large words are the runtime's weak
    side."""
    sw, sh = scaled
    hi_x, hi_y = max(0, sw - size[0]), max(0, sh - size[1])
    if len(quads) and (focus is not None or rng.random() < 0.7):
        lo, top = quads.min(1), quads.max(1)
        fits = np.flatnonzero(((top - lo) <= [size[0], size[1]]).all(1))
        if focus is not None and focus in fits:
            fits = np.array([focus])
        if len(fits):
            k = int(rng.choice(fits))
            x_range = (max(0, int(np.ceil(top[k, 0])) - size[0]), min(hi_x, int(lo[k, 0])))
            y_range = (max(0, int(np.ceil(top[k, 1])) - size[1]), min(hi_y, int(lo[k, 1])))
            if x_range[0] <= x_range[1] and y_range[0] <= y_range[1]:
                return (int(rng.integers(x_range[0], x_range[1] + 1)),
                        int(rng.integers(y_range[0], y_range[1] + 1)))
    return int(rng.integers(0, hi_x + 1)), int(rng.integers(0, hi_y + 1))


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


# Synthetic scenes are rendered at a webcam frame size and scaled like real frames.
SYNTH_FRAME = (640, 480)


def _render(args: tuple):
    from engocr.train.data.synth import SynthScenes

    seed, index, width, height, frame_side, oriented, tilt, lettering = args
    gen = _GEN.get((seed, tilt, lettering))
    if gen is None:
        gen = _GEN[(seed, tilt, lettering)] = SynthScenes(seed=seed, size=SYNTH_FRAME, tilt=tilt,
                                                          lettering_p=lettering)
    rng = np.random.default_rng([seed, index, 7])
    return scene_to_input(gen[index], (width, height), rng, frame_side, oriented=oriented)


def synth_scene_stream(seed: int, start: int, size: tuple[int, int], frame_side: int,
                       workers: int = 1, oriented: bool = False, tilt: float = 1.0,
                       lettering: float = 0.0
                       ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Endless synthetic detector samples rendered in worker processes (`scene_to_input`;
    `tilt` and `lettering`: `SynthScenes.tilt` and `.lettering_p`)."""
    return rendered_stream(_render, lambda i: (seed, i, size[0], size[1], frame_side, oriented,
                                               tilt, lettering), start, workers)


_REAL: dict = {}


def _real_window(args: tuple):
    """One real training window, made in a worker process (`real_window_stream`)."""
    data, index, seed, size, frame_side, oriented, rotate, closeup = args
    scenes = _REAL.get(data)
    if scenes is None:
        from engocr.train.data.importers import detector_training_scenes

        scenes = _REAL[data] = detector_training_scenes(data)
    scene = scenes[index]
    try:
        return scene_to_input(scene, size, np.random.default_rng(seed), frame_side,
                              oriented=oriented, rotate=rotate, closeup=closeup)
    finally:
        scene.release()


def real_window_stream(data: str | None, weights: np.ndarray, seed: int, start: int,
                       size: tuple[int, int], frame_side: int, workers: int = 1,
                       oriented: bool = False, rotate: float = 0.0, closeup: float = 0.0
                       ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Endless real training windows (`scene_to_input`) of `detector_training_scenes(data)`,
    made in worker processes: window i is of a photo drawn by `weights` with a generator of
    its own (seed, i), so a run resumed at window i goes on with the same sequence."""
    p = np.asarray(weights, np.float64) / np.sum(weights)
    data = None if data is None else str(data)

    def task(i: int) -> tuple:
        index = int(np.random.default_rng([seed, 1, i]).choice(len(p), p=p))
        return data, index, [seed, 2, i], size, frame_side, oriented, rotate, closeup

    return rendered_stream(_real_window, task, start, workers)
