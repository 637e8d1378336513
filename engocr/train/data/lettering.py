"""Real lettering for the detector's close-ups: word crops photographed in the wild (IIIT5K and
SVT training crops: shop fronts, signs, posters, bold and decorative type) pasted large onto a
background, one to three to a frame, as a sign held up to a webcam shows them.

Why: the large words the shipped detector misses are bold sign lettering that it scores below
large background (issue 25). Rendered fonts and the few large words of the training photos did
not teach it that; these crops are two thousand more real examples of exactly that lettering."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from engocr.realtime.box_ends import STRIP_ROWS, ink_columns
from engocr.train.data.importers import load_crop_folder
from engocr.train.data.paths import data_root
from engocr.train.data.render import random_warp, transform_points, warped_size

# The crop sets used (training parts only; their test parts are the recognizer's benchmarks).
CROP_SETS = ("iiit5k_train", "svt_train")
# Crops lower than this are too blurred once enlarged to a close-up's size.
MIN_CROP_HEIGHT = 20
# A pasted word is enlarged at most this much, and made this share of the frame high.
MAX_UPSCALE = 3.0
HEIGHT_SHARE = (0.07, 0.4)
# Share of the pasted signs that hold two words side by side.
TWO_WORDS = 0.4
# A crop whose outermost column (of 16 a height) holds ink at the box-end rule's level is
# dropped: its word runs on past the crop (a word cut from a longer line, or a neighbour's
# letter), so its box would teach the detector to end a box inside lettering.
SIDE_INK = 0.6
# ... and a spread of at least this many grey levels (a crop mostly blank has a low median:
# its compression noise is not ink).
SIDE_MIN_SPREAD = 8.0


@dataclass
class Lettering:
    """A real word crop held in memory, with its label."""

    image: np.ndarray
    text: str


class LetteringBank:
    """The crops of `CROP_SETS` found under the data folder (none where it is absent)."""

    def __init__(self, root: str | None = None) -> None:
        self.crops: list[Lettering] = []
        for name in CROP_SETS:
            folder = data_root(root) / name
            if not (folder / "labels.json").exists():
                continue
            for sample in load_crop_folder(folder):
                image = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
                if (image is not None and image.shape[0] >= MIN_CROP_HEIGHT
                        and sample.text.strip() and not ink_at_sides(image)):
                    self.crops.append(Lettering(image, sample.text))

    def __len__(self) -> int:
        return len(self.crops)


def ink_at_sides(image: np.ndarray) -> bool:
    """Whether the first or last column of `image` holds ink by the box-end rule
    (`box_ends.ink_columns` at `SIDE_INK`, and `SIDE_MIN_SPREAD`), read at `STRIP_ROWS`
    columns a crop height."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    columns = max(4, round(gray.shape[1] * STRIP_ROWS / gray.shape[0]))
    profile = cv2.resize(gray, (columns, STRIP_ROWS), interpolation=cv2.INTER_AREA).std(0)
    ink = ink_columns(profile, 0, columns, SIDE_INK) & (profile >= SIDE_MIN_SPREAD)
    return bool(ink[0] or ink[-1])


@functools.lru_cache(maxsize=2)
def lettering_bank(root: str | None = None) -> LetteringBank:
    """A process-wide bank, so that each worker reads the crops once."""
    return LetteringBank(root)


def paste_lettering(scene: np.ndarray, crops: list[Lettering], rng: np.random.Generator,
                    tilt: float = 1.0) -> list[tuple[np.ndarray, str]]:
    """Paste one to three signs of `crops` onto `scene` (in place) at close-up sizes, turned
    (`tilt` scales the spread, as `SynthScenes.tilt`) and foreshortened; returns each pasted
    word's quad (scene pixels, clockwise from top-left) and text. A sign is one crop, or two
    side by side (`TWO_WORDS`), on a plate of the first crop's border colour that runs past
    the words: the patch's edge is never a word's, and two words on one plate are two boxes,
    as on a real sign (a first run with bare crops half the time boxed signs whole)."""
    h, w = scene.shape[:2]
    occupied = np.zeros((h, w), bool)
    words: list[tuple[np.ndarray, str]] = []
    for _ in range(int(rng.choice([1, 1, 2, 3]))):
        target = h * float(np.exp(rng.uniform(*np.log(HEIGHT_SHARE))))
        plate, quads, texts = _sign(crops, rng, target, 0.85 * w)
        matrix = random_warp(rng, plate.shape[1], plate.shape[0], 12.0 * tilt, 0.2)
        ww, wh = warped_size(matrix, plate.shape[1], plate.shape[0])
        if ww >= w or wh >= h:
            continue
        for _attempt in range(8):
            x, y = int(rng.integers(0, w - ww + 1)), int(rng.integers(0, h - wh + 1))
            if not occupied[y:y + wh, x:x + ww].any():
                break
        else:
            continue
        local = np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], np.float64) @ matrix
        warped = cv2.warpPerspective(plate, local, (w, h), flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(np.ones(plate.shape[:2], np.float32), local, (w, h),
                                   flags=cv2.INTER_LINEAR)[..., None]
        scene[:] = np.clip(scene * (1 - mask) + warped * mask, 0, 255).astype(np.uint8)
        occupied[y:y + wh, x:x + ww] = True
        words += zip(transform_points(np.stack(quads), local), texts, strict=True)
    return words


def _sign(crops: list[Lettering], rng: np.random.Generator, height: float, max_width: float
          ) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """A plate holding one or two crops made about `height` px high (enlarged at most
    MAX_UPSCALE times), at most `max_width` wide; its image, the words' quads on it, their
    texts."""
    picked = [crops[int(rng.integers(len(crops)))]
              for _ in range(2 if rng.random() < TWO_WORDS else 1)]
    images = []
    for c in picked:
        f = min(height / c.image.shape[0], MAX_UPSCALE)
        images.append(cv2.resize(c.image, (max(1, round(c.image.shape[1] * f)),
                                           max(1, round(c.image.shape[0] * f))),
                                 interpolation=cv2.INTER_LINEAR if f > 1 else cv2.INTER_AREA))
    word_h = max(i.shape[0] for i in images)
    space = int(rng.uniform(0.3, 0.8) * word_h)
    side, top = int(rng.uniform(0.1, 0.6) * word_h), int(rng.uniform(0.05, 0.3) * word_h)
    width = 2 * side + sum(i.shape[1] for i in images) + space * (len(images) - 1)
    if width > max_width:  # shrink the whole sign to fit
        k = max_width / width
        images = [cv2.resize(i, (max(1, int(i.shape[1] * k)), max(1, int(i.shape[0] * k))),
                             interpolation=cv2.INTER_AREA) for i in images]
        word_h, space, side, top = (max(1, int(v * k)) for v in (word_h, space, side, top))
        width = 2 * side + sum(i.shape[1] for i in images) + space * (len(images) - 1)
    first = images[0]
    border = np.concatenate([first[0], first[-1], first[:, 0], first[:, -1]])
    plate = np.empty((word_h + 2 * top, width, 3), np.uint8)
    plate[:] = np.median(border, 0).astype(np.uint8)
    quads, x = [], side
    for image in images:
        ih, iw = image.shape[:2]
        y = top + (word_h - ih) // 2
        plate[y:y + ih, x:x + iw] = image
        quads.append(np.array([[x, y], [x + iw, y], [x + iw, y + ih], [x, y + ih]], np.float32))
        x += iw + space
    return plate, quads, [c.text for c in picked]
