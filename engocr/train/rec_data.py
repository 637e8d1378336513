"""Recognizer training and evaluation data: real crops (IIIT5K, SVT, ic15 word quads), the
synthetic crop stream, and batching into model inputs + CTC labels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engocr.charset import encode, normalize_text
from engocr.errors import InputError
from engocr.geometry import rectify_quad
from engocr.preprocess import crop_to_input
from engocr.train.data.importers import ic15_scenes, load_crop_folder, load_scene_json
from engocr.train.data.paths import data_root
from engocr.train.data.records import CropSample
from engocr.train.workers import rendered_stream

CROP_SETS = {"iiit5k_train", "iiit5k_test", "svt_train", "svt_test"}


def scene_crops(scenes: list) -> list[CropSample]:
    """Readable word quads of full photos, rectified to upright crops."""
    samples = []
    for scene in scenes:
        image = None
        for k, word in enumerate(scene.words):
            text = normalize_text(word.text)
            if word.ignore or not text.strip():
                continue
            image = scene.load() if image is None else image
            samples.append(CropSample(text=text, image=rectify_quad(image, word.quad, pad=0.1),
                                      name=f"{scene.name}#{k}"))
        scene.release()
    return samples


def load_crops(name: str, root: str | Path | None = None) -> list[CropSample]:
    """A named crop set: `iiit5k_train|test`, `svt_train|test`, `ic15_train|val` (words of the
    ic15 images of that split) or `ic03_train` (words of the ICDAR 2003 photos)."""
    root = data_root(root)
    if name in CROP_SETS:
        samples = load_crop_folder(root / name)
        for s in samples:
            s.text = normalize_text(s.text)
        return [s for s in samples if s.text.strip()]
    if name in ("ic15_train", "ic15_val"):
        return scene_crops(ic15_scenes(name.split("_")[1], root, required=True))
    if name == "ic03_train":
        return scene_crops(load_scene_json(root / "ic03_train"))
    raise ValueError(f"unknown crop set {name!r}")


def to_arrays(samples: list[CropSample], height: int, width: int, min_aspect: float = 0.0
              ) -> tuple[np.ndarray, list[str]]:
    """Crops to an (n, height, width) uint8 array of model inputs, plus their labels."""
    images = np.stack([crop_to_input(s.load(), height, width, min_aspect) for s in samples])
    return images, [s.text for s in samples]


def save_prepared(path: Path, sets: dict[str, tuple[np.ndarray, list[str]]]) -> Path:
    """Crop sets already made model inputs ({name: (images, texts)}), in one compressed file:
    what a machine without the data trains on (`engocr train bundle`)."""
    arrays = {}
    for name, (images, texts) in sets.items():
        arrays[f"{name}.images"], arrays[f"{name}.texts"] = images, np.array(texts, dtype=str)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return Path(path)


def load_prepared(path: Path, height: int, width: int) -> dict[str, tuple[np.ndarray, list]]:
    """The sets `save_prepared` wrote, checked to be of the model's input size."""
    try:
        with np.load(path) as saved:
            sets = {key.rsplit(".", 1)[0]: (saved[key], saved[key[:-6] + "texts"].tolist())
                    for key in saved.files if key.endswith(".images")}
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a prepared crop file ({exc})") from None
    for name, (images, _) in sets.items():
        if images.shape[1:] != (height, width):
            raise InputError(f"{path}: {name} crops are {images.shape[1:]}, the model reads "
                             f"{(height, width)}")
    return sets


def labels_to_dense(texts: list[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels to a padded (n, max_len) int32 array and lengths; too-long labels are cut (and
    reported by the caller's label check)."""
    dense = np.zeros((len(texts), max_len), np.int32)
    lengths = np.zeros(len(texts), np.int32)
    for i, text in enumerate(texts):
        ids = encode(text)[:max_len]
        dense[i, :len(ids)] = ids
        lengths[i] = len(ids)
    return dense, lengths


def ctc_feasible(text: str, time_steps: int) -> bool:
    """CTC needs one step per character plus a blank between each pair of repeats."""
    repeats = sum(1 for a, b in zip(text, text[1:], strict=False) if a == b)
    return 0 < len(text) + repeats <= time_steps


def _render(args: tuple) -> tuple[np.ndarray, str]:
    from engocr.train.data.synth import SynthCrops

    seed, index, height, width, style, min_aspect = args
    gen = _WORKER_GEN.get((seed, style))
    if gen is None:
        gen = _WORKER_GEN[(seed, style)] = SynthCrops.styled(style, seed=seed)
    sample = gen[index]
    return crop_to_input(sample.image, height, width, min_aspect), sample.text


_WORKER_GEN: dict = {}


def synth_stream(seed: int, start: int, height: int, width: int, time_steps: int,
                 workers: int = 1, style: str = "default", min_aspect: float = 0.0
                 ) -> Iterator[tuple[np.ndarray, str]]:
    """Endless synthetic crops from index `start` on, rendered in worker processes so that
    rendering overlaps training; infeasible labels are skipped. `style`: a mix of
    `synth.CROP_STYLES` ("default" renders what it always did); `min_aspect`: the model's
    (`preprocess.fit_crop_to_width`)."""
    crops = rendered_stream(_render, lambda i: (seed, i, height, width, style, min_aspect),
                            start, workers, chunk=512)
    try:
        for image, text in crops:
            if ctc_feasible(text, time_steps):
                yield image, text
    finally:
        crops.close()  # stops the workers now, not when garbage-collected


def augment_real(image: np.ndarray, rng: np.random.Generator, strong: bool = False
                 ) -> np.ndarray:
    """Augmentation of an already-prepared crop: geometry (half the time: a small scale, shift,
    shear and rotation, as a detector's box around the word would vary), then contrast, blur,
    noise, inversion. `strong` (real crops in phases that ask for it: the model had learned
    the real training crops by heart, 99.5% of IIIT5K train against 76% of its test) adds a
    perspective tilt, a bent baseline, low resolution, motion blur and JPEG artefacts, each
    some of the time, where webcam and held-out words differ from the training photos."""
    import cv2

    out = image.astype(np.float32)
    h, w = out.shape
    if rng.random() < (0.7 if strong else 0.5):
        angle, scale = rng.uniform(-3, 3), rng.uniform(0.88, 1.04)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        matrix[0, 1] += rng.uniform(-0.15, 0.15)  # shear: slanted strokes
        matrix[:, 2] += (rng.uniform(-3, 3), rng.uniform(-1.5, 1.5))
        out = cv2.warpAffine(out, matrix, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
    if strong:
        out = _strong_geometry(out, rng)
    out = (out - out.mean()) * rng.uniform(0.6, 1.3) + out.mean() + rng.uniform(-30, 30)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    if strong:
        out = _strong_degradation(out, rng)
    if rng.random() < 0.3:
        out += rng.normal(0, rng.uniform(2, 10), out.shape)
    if rng.random() < 0.1:
        out = 255 - out
    return np.clip(out, 0, 255).astype(np.uint8)


def _strong_geometry(out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A perspective tilt (corners moved up to 6% of the width, 12% of the height) and a bent
    baseline (rows shifted along half a sine, up to 3 pixels), each a quarter of the time."""
    import cv2

    h, w = out.shape
    if rng.random() < 0.25:
        corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        moved = (corners + rng.uniform(-1, 1, (4, 2)) * [0.06 * w, 0.12 * h]).astype(np.float32)
        out = cv2.warpPerspective(out, cv2.getPerspectiveTransform(corners, moved), (w, h),
                                  flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.25:
        x = np.arange(w, dtype=np.float32)
        bend = rng.uniform(-3, 3) * np.sin(np.pi * x / w + rng.uniform(-0.5, 0.5))
        map_x = np.tile(x, (h, 1))
        map_y = np.arange(h, dtype=np.float32)[:, None] + bend[None, :].astype(np.float32)
        out = cv2.remap(out, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def _strong_degradation(out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low resolution (down to 40-70% and back), horizontal motion blur and JPEG artefacts,
    each a fifth of the time."""
    import cv2

    h, w = out.shape
    if rng.random() < 0.2:
        f = rng.uniform(0.4, 0.7)
        small = cv2.resize(out, (max(1, int(w * f)), max(1, int(h * f))),
                           interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.2:
        k = int(rng.integers(3, 7))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1.0 / k
        out = cv2.filter2D(out, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    if rng.random() < 0.2:
        ok, jpeg = cv2.imencode(".jpg", np.clip(out, 0, 255).astype(np.uint8),
                                [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 60))])
        out = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE).astype(np.float32) if ok else out
    return out
