"""The synthetic scene-text generator: deterministic from (seed, index), streaming, no disk.

`SynthCrops` makes recognizer samples (a word crop + its label); `SynthScenes` makes detector
samples (a frame with several signs and labels + every word's quad).
"""

from __future__ import annotations

import numpy as np

from engocr.errors import InputError
from engocr.train.data.backgrounds import PhotoBank, photo_bank, procedural
from engocr.train.data.degrade import resample, webcam_degrade
from engocr.train.data.records import CropSample, SceneSample, WordBox
from engocr.train.data.render import (
    arc,
    bend,
    composite,
    contrasting_colour,
    dot_matrix,
    faint_colour,
    pick_font,
    random_warp,
    relief_light,
    render_block,
    steep_warp,
    warped_size,
)
from engocr.train.data.words import random_line, random_text


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def _background(rng: np.random.Generator, bank: PhotoBank, h: int, w: int,
                photo_p: float) -> np.ndarray:
    if len(bank) and rng.random() < photo_p:
        return bank.patch(rng, h, w)
    return procedural(rng, h, w)


# Named mixes of the optional crop styles, for a recipe or run to ask for by name. "default"
# is the generator as it was before them: same samples for the same seed.
CROP_STYLES: dict[str, dict[str, float]] = {
    "default": {},
    # issue 29: more words on circles, steeply foreshortened, on LED boards and faint
    "round3": {"arc_p": 0.12, "steep_p": 0.15, "led_p": 0.04, "faint_p": 0.06},
    # round3 with embossed and engraved words (plaques, moulded bottles, stamped metal)
    "round4": {"arc_p": 0.12, "steep_p": 0.15, "led_p": 0.04, "faint_p": 0.06, "emboss_p": 0.05},
}


def check_crop_style(style: str) -> None:
    """A one-line error naming the known styles where `style` is not one of `CROP_STYLES`
    (for a command to refuse it before it writes anything)."""
    if style not in CROP_STYLES:
        raise InputError(f"unknown synthetic crop style {style!r}: choose one of "
                         f"{', '.join(sorted(CROP_STYLES))}")


class SynthCrops:
    """Recognizer samples: one word (sometimes two) cut from a rendered, degraded surface;
    some curved (`curved_p`) and some seen obliquely (`oblique_p`), which is where the held-out
    perspective and curved sets showed the recognizer failing.

    Optional styles, off (0) by default so that a seed renders the samples it always did (no
    random draw is made for a style at 0): `arc_p` words along a circle, `steep_p` a steep
    perspective (a sign turned away), `led_p` LED / dot-matrix text, `faint_p` low-contrast
    text, `emboss_p` embossed or engraved letters (shown by their edges' light and shade).
    `CROP_STYLES` names mixes of them (`SynthCrops.styled`)."""

    def __init__(self, seed: int = 0, photo_p: float = 0.4, bank: PhotoBank | None = None,
                 curved_p: float = 0.15, oblique_p: float = 0.25, arc_p: float = 0.0,
                 steep_p: float = 0.0, led_p: float = 0.0, faint_p: float = 0.0,
                 emboss_p: float = 0.0):
        self.seed = seed
        self.photo_p = photo_p
        self.curved_p, self.oblique_p = curved_p, oblique_p
        self.arc_p, self.steep_p, self.led_p, self.faint_p = arc_p, steep_p, led_p, faint_p
        self.emboss_p = emboss_p
        self.bank = bank if bank is not None else photo_bank()

    @classmethod
    def styled(cls, style: str = "default", seed: int = 0, **kwargs) -> SynthCrops:
        """The generator with a named mix of `CROP_STYLES`."""
        if style not in CROP_STYLES:
            raise ValueError(f"unknown synthetic crop style {style!r}: {sorted(CROP_STYLES)}")
        return cls(seed=seed, **{**CROP_STYLES[style], **kwargs})

    def _chance(self, rng: np.random.Generator, p: float) -> bool:
        """True with probability p, drawing nothing at p = 0 (keeps old seeds' samples)."""
        return p > 0 and rng.random() < p

    def __getitem__(self, index: int) -> CropSample:
        rng = _rng(self.seed, index)
        text = random_text(rng, max_words=2)
        size = int(rng.integers(22, 56))
        block = render_block(rng, [text.split(" ")], pick_font(rng), size)
        led = self._chance(rng, self.led_p)
        relief = None
        if led:
            block = dot_matrix(block, rng, size)
        if self._chance(rng, self.arc_p):
            block = arc(block, rng, span=rng.uniform(np.deg2rad(50), np.deg2rad(200)))
        elif rng.random() < self.curved_p:
            block = bend(block, rng, amplitude=size * rng.uniform(0.2, 1.0))
        ch, cw = block.ink.shape
        if self._chance(rng, self.steep_p):
            matrix = steep_warp(rng, cw, ch)
        elif rng.random() < self.oblique_p:  # a sign seen from the side, a tilted camera
            matrix = random_warp(rng, cw, ch, max_angle=15.0, perspective=0.25)
        else:
            matrix = random_warp(rng, cw, ch, max_angle=5.0, perspective=0.06)
        ww, wh = warped_size(matrix, cw, ch)
        scene = _background(rng, self.bank, wh, ww, self.photo_p)
        plate = None
        if rng.random() < 0.3:
            plate = rng.integers(0, 256, size=3).astype(np.float32)
        reference = plate if plate is not None else scene.reshape(-1, 3).mean(0)
        colour = contrasting_colour(rng, reference)
        if led:  # lit dots on a dark board: red, amber, green, white or blue
            plate = rng.uniform(0, 45, size=3).astype(np.float32)
            led_colours = ((40, 40, 255), (0, 170, 255), (60, 255, 60), (240, 240, 240),
                           (255, 160, 40))
            colour = np.asarray(led_colours[int(rng.integers(5))], np.float32)
        elif self._chance(rng, self.faint_p):
            colour = faint_colour(rng, reference)
        elif self._chance(rng, self.emboss_p):  # the surface's own colour, edges lit and shaded
            relief = relief_light(rng, size)
            if plate is None and rng.random() < 0.85:  # mostly on a plain surface, not a photo
                plate = np.asarray(reference, np.float32)
            if plate is not None:  # mid-tones: light and shade both show, neither clips
                plate = np.clip(plate, 50, 205)
            colour = faint_colour(rng, reference, contrast=(0.0, 12.0))
        shadow = tuple(int(v) for v in rng.integers(1, 4, 2)) if rng.random() < 0.1 else None
        if relief is not None:
            shadow = None  # relief has its own shading
        quads = composite(scene, block, matrix, (0, 0), colour, plate, shadow, relief)
        x1, y1 = quads.reshape(-1, 2).min(0)
        x2, y2 = quads.reshape(-1, 2).max(0)
        text_h = max(y2 - y1, 4.0)
        # Detector boxes are never perfect: pad unevenly, sometimes cut a sliver of ink.
        pads = rng.uniform([-0.05, -0.08, -0.05, -0.08], [0.35, 0.3, 0.35, 0.3]) * text_h
        left = int(np.clip(x1 - pads[0], 0, ww - 2))
        top = int(np.clip(y1 - pads[1], 0, wh - 2))
        right = int(np.clip(x2 + pads[2], left + 2, ww))
        bottom = int(np.clip(y2 + pads[3], top + 2, wh))
        crop = scene[top:bottom, left:right]
        crop = webcam_degrade(crop, rng, scale=text_h / 32.0)
        if rng.random() < 0.4:  # small, far-away words: 10-24 px high
            crop = resample(crop, rng, low=0.25)
        return CropSample(text=text, image=np.ascontiguousarray(crop), name=f"synth-{index}")


class SynthScenes:
    """Detector samples: frames with signs and labels, each word's quad exact. A share of them
    (`closeup_p`) are close-ups: one to three short lines filling much of the frame, as a sign,
    label or whiteboard held up to a webcam shows (the detector used to miss most of those).
    Another share (`lettering_p`, off by default: no random draw is made for it at 0, so a seed
    renders the scenes it always did) are close-ups of real photographed word crops
    (`lettering.paste_lettering`)."""

    def __init__(self, seed: int = 0, size: tuple[int, int] = (640, 480),
                 photo_p: float = 0.5, bank: PhotoBank | None = None, closeup_p: float = 0.3,
                 tilt: float = 1.0, lettering_p: float = 0.0):
        self.seed = seed
        self.size = size
        # Spread of the text's rotation, x the default (about 4 degrees standard deviation in
        # scenes, 5 in close-ups): 90% of the synthetic words lie within 9 degrees, ic15's
        # within 21. The same random draws, scaled: 1 renders what it always did.
        self.tilt = tilt
        self.photo_p = photo_p
        self.closeup_p = closeup_p
        self.lettering_p = lettering_p
        self.bank = bank if bank is not None else photo_bank()

    def _photo_scene(self, rng: np.random.Generator) -> tuple[np.ndarray, list[WordBox]]:
        """A random crop of a real training photo, its own words carried along."""
        import cv2

        w, h = self.size
        source = self.bank.scenes[int(rng.integers(len(self.bank)))]
        H, W = source.image.shape[:2]
        crop_w = min(W, int(W * rng.uniform(0.5, 1.0)))
        crop_h = min(H, int(crop_w * h / w))
        x0, y0 = int(rng.integers(0, W - crop_w + 1)), int(rng.integers(0, H - crop_h + 1))
        f = w / crop_w
        image = cv2.resize(source.image[y0:y0 + crop_h, x0:x0 + crop_w], (w, h),
                           interpolation=cv2.INTER_AREA)
        words = []
        for word in source.words:
            quad = (word.quad - [x0, y0]) * f
            inside = np.clip(quad, [0, 0], [w, h])
            area = _poly_area(quad)
            if area <= 0:
                continue
            kept = _poly_area(inside) / area
            if kept < 0.3:
                continue
            words.append(WordBox(inside, word.text, word.ignore or kept < 0.8))
        return image, words

    def __getitem__(self, index: int) -> SceneSample:
        rng = _rng(self.seed, index)
        w, h = self.size
        if self.lettering_p > 0 and rng.random() < self.lettering_p:
            made = self._lettering(rng, index)
            if made is not None:
                return made
        if rng.random() < self.closeup_p:
            return self._closeup(rng, index)
        if len(self.bank) and rng.random() < self.photo_p:
            scene, words = self._photo_scene(rng)
        else:
            scene, words = _background(rng, self.bank, h, w, 0.3), []
        occupied = np.zeros((h, w), np.uint8)
        for word in words:
            x1, y1 = np.floor(word.quad.min(0)).astype(int)
            x2, y2 = np.ceil(word.quad.max(0)).astype(int)
            occupied[max(0, y1):y2, max(0, x1):x2] = 1
        for _ in range(int(rng.integers(1, 8))):
            n_lines = int(rng.choice([1, 1, 1, 2, 2, 3]))
            lines = [random_line(rng, int(rng.integers(1, 4))) for _ in range(n_lines)]
            # Log-uniform text size: many small words, some large ones (8 px high and up).
            size = int(np.exp(rng.uniform(np.log(11), np.log(80))))
            block = render_block(rng, lines, pick_font(rng), size)
            ch, cw = block.ink.shape
            if cw > w * 0.95:
                continue
            matrix = random_warp(rng, cw, ch, max_angle=10.0 * self.tilt, perspective=0.15)
            ww, wh = warped_size(matrix, cw, ch)
            if ww >= w or wh >= h:
                continue
            for _attempt in range(8):
                x, y = int(rng.integers(0, w - ww)), int(rng.integers(0, h - wh))
                if not occupied[y:y + wh, x:x + ww].any():
                    break
            else:
                continue
            region = scene[y:y + wh, x:x + ww].reshape(-1, 3).mean(0)
            plate = rng.integers(0, 256, size=3).astype(np.float32) if rng.random() < 0.5 \
                else None
            colour = contrasting_colour(rng, plate if plate is not None else region)
            shadow = tuple(int(v) for v in rng.integers(1, 3, 2)) if rng.random() < 0.1 else None
            quads = composite(scene, block, matrix, (x, y), colour, plate, shadow)
            occupied[y:y + wh, x:x + ww] = 1
            words.extend(WordBox(q, t) for q, t in zip(quads, block.texts, strict=True))
        scene = webcam_degrade(scene, rng, scale=1.0, strength=0.8)
        return SceneSample(words=words, image=scene, name=f"synth-scene-{index}")

    def _closeup(self, rng: np.random.Generator, index: int) -> SceneSample:
        w, h = self.size
        scene = _background(rng, self.bank, h, w, 0.5)
        words: list[WordBox] = []
        made = _closeup_block(rng, w, h, self.tilt)
        if made is not None:
            block, matrix, ww, wh = made
            x, y = int(rng.integers(0, w - ww + 1)), int(rng.integers(0, h - wh + 1))
            region = scene[y:y + wh, x:x + ww].reshape(-1, 3).mean(0)
            plate = rng.integers(0, 256, size=3).astype(np.float32) if rng.random() < 0.6 \
                else None
            colour = contrasting_colour(rng, plate if plate is not None else region)
            shadow = tuple(int(v) for v in rng.integers(2, 6, 2)) if rng.random() < 0.15 \
                else None
            quads = composite(scene, block, matrix, (x, y), colour, plate, shadow)
            words = [WordBox(q, t) for q, t in zip(quads, block.texts, strict=True)]
        scene = webcam_degrade(scene, rng, scale=1.0, strength=0.8)
        return SceneSample(words=words, image=scene, name=f"synth-closeup-{index}")

    def _lettering(self, rng: np.random.Generator, index: int) -> SceneSample | None:
        """A close-up of real word crops; None where no crops are found."""
        from engocr.train.data.lettering import lettering_bank, paste_lettering

        crops = lettering_bank().crops
        if not crops:
            return None
        w, h = self.size
        unread = np.zeros((0, 4, 2), np.float32)  # the background photo's own words
        if len(self.bank) and rng.random() < 0.5:
            scene, unread = self.bank.patch_with_words(rng, h, w)
        else:
            scene = procedural(rng, h, w)
        pasted = paste_lettering(scene, crops, rng, self.tilt)
        scene = webcam_degrade(scene, rng, scale=1.0, strength=0.8)
        # The photo's words are don't-care: enlarged and partly covered, they are neither a
        # word to find nor background.
        words = [WordBox(q, "", ignore=True) for q in unread]
        return SceneSample(words=words + [WordBox(q, t) for q, t in pasted], image=scene,
                           name=f"synth-lettering-{index}")


def _closeup_block(rng: np.random.Generator, w: int, h: int, tilt: float = 1.0):
    """A block of one to three short lines whose text is 12-45% of the frame high, shrunk
    until it fits the frame; `tilt` scales its rotation's spread."""
    n_lines = int(rng.choice([1, 1, 2, 2, 3]))
    lines = [random_line(rng, int(rng.choice([1, 1, 2]))) for _ in range(n_lines)]
    font = pick_font(rng)
    size = int(h * np.exp(rng.uniform(np.log(0.12), np.log(0.45))) / n_lines ** 0.5)
    for _ in range(6):
        block = render_block(rng, lines, font, size)
        ch, cw = block.ink.shape
        matrix = random_warp(rng, cw, ch, max_angle=12.0 * tilt, perspective=0.2)
        ww, wh = warped_size(matrix, cw, ch)
        if ww < w and wh < h:
            return block, matrix, ww, wh
        size = int(size * 0.75)
    return None


def _poly_area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
