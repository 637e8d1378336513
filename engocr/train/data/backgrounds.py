"""Backgrounds for rendered text: procedural surfaces, and real photographs (ic15 training
images, whose own words stay labelled when a whole scene is used)."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from engocr.train.data.importers import ic15_scenes
from engocr.train.data.records import SceneSample


def procedural(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random surface: flat paint, a gradient, smooth noise (wall, wood, metal), or stripes."""
    kind = rng.integers(0, 4)
    base = rng.integers(0, 256, size=3).astype(np.float32)
    if kind == 0:
        img = np.broadcast_to(base, (h, w, 3)).copy()
    elif kind == 1:
        other = rng.integers(0, 256, size=3).astype(np.float32)
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        ramp = t[None, :, None] if len(t) == w else t[:, None, None]
        img = base + (other - base) * np.broadcast_to(ramp, (h, w, 1))
    elif kind == 2:
        cells = max(2, int(rng.integers(2, 24)))
        small = rng.normal(0, rng.uniform(10, 60), size=(cells, cells, 1)).astype(np.float32)
        img = base + cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
        img += rng.normal(0, rng.uniform(1, 10), size=(h, w, 1)).astype(np.float32)
    else:
        period = rng.uniform(4, 40)
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        img = base + rng.uniform(5, 50) * wave[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


class PhotoBank:
    """Real photographs held in memory at reduced size, with their word labels scaled along.

    Only training images (ic15 1-900) are used, never the validation ones.
    """

    def __init__(self, root: str | Path | None = None, limit: int = 300,
                 max_side: int = 960, seed: int = 0) -> None:
        self.scenes: list[SceneSample] = []
        samples = ic15_scenes("train", root)
        order = np.random.default_rng(seed).permutation(len(samples))[:limit]
        for i in order:
            sample = samples[int(i)]
            image = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            f = min(1.0, max_side / max(image.shape[:2]))
            if f < 1.0:
                image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            for word in sample.words:
                word.quad = word.quad * f
            self.scenes.append(SceneSample(words=sample.words, image=image, name=sample.name))

    def __len__(self) -> int:
        return len(self.scenes)

    def patch(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """A random region of a random photo, resized to (h, w); labels are not kept."""
        return self.patch_with_words(rng, h, w)[0]

    def patch_with_words(self, rng: np.random.Generator, h: int, w: int
                         ) -> tuple[np.ndarray, np.ndarray]:
        """`patch`, and the quads (n, 4, 2, patch pixels) of the photo's words that reach into
        it, so that a caller can keep them out of its negatives."""
        scene = self.scenes[int(rng.integers(len(self.scenes)))]
        img = scene.image
        H, W = img.shape[:2]
        ph = int(rng.uniform(0.05, 0.5) * H)
        pw = int(min(W, max(8, ph * w / max(h, 1))))
        ph = max(8, min(H, ph))
        y, x = int(rng.integers(0, H - ph + 1)), int(rng.integers(0, W - pw + 1))
        grow = w > pw or h > ph
        patch = cv2.resize(img[y:y + ph, x:x + pw], (w, h),
                           interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)
        quads = np.array([word.quad for word in scene.words], np.float32).reshape(-1, 4, 2)
        quads = (quads - [x, y]) * [w / pw, h / ph]
        inside = (quads.max(1) > 0).all(1) & (quads.min(1) < [w, h]).all(1)
        return patch, quads[inside]


@functools.lru_cache(maxsize=2)
def photo_bank(root: str | None = None, limit: int = 300) -> PhotoBank:
    """A process-wide bank, so that workers load the photographs once."""
    return PhotoBank(root, limit=limit)
