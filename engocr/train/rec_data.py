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


def to_arrays(samples: list[CropSample], height: int, width: int) -> tuple[np.ndarray, list[str]]:
    """Crops to an (n, height, width) uint8 array of model inputs, plus their labels."""
    images = np.stack([crop_to_input(s.load(), height, width) for s in samples])
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


def _render(args: tuple[int, int, int, int]) -> tuple[np.ndarray, str]:
    from engocr.train.data.synth import SynthCrops

    seed, index, height, width = args
    gen = _WORKER_GEN.get(seed)
    if gen is None:
        gen = _WORKER_GEN[seed] = SynthCrops(seed=seed)
    sample = gen[index]
    return crop_to_input(sample.image, height, width), sample.text


_WORKER_GEN: dict = {}


def synth_stream(seed: int, start: int, height: int, width: int, time_steps: int,
                 workers: int = 1) -> Iterator[tuple[np.ndarray, str]]:
    """Endless synthetic crops from index `start` on, rendered in worker processes so that
    rendering overlaps training; infeasible labels are skipped."""
    crops = rendered_stream(_render, lambda i: (seed, i, height, width), start, workers,
                            chunk=512)
    try:
        for image, text in crops:
            if ctc_feasible(text, time_steps):
                yield image, text
    finally:
        crops.close()  # stops the workers now, not when garbage-collected


def augment_real(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light augmentation of an already-prepared real crop: geometry (half the time: a small
    scale, shift, shear and rotation, as a detector's box around the word would vary), then
    contrast, blur, noise, inversion."""
    import cv2

    out = image.astype(np.float32)
    if rng.random() < 0.5:
        h, w = out.shape
        angle, scale = rng.uniform(-3, 3), rng.uniform(0.88, 1.04)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        matrix[0, 1] += rng.uniform(-0.15, 0.15)  # shear: slanted strokes
        matrix[:, 2] += (rng.uniform(-3, 3), rng.uniform(-1.5, 1.5))
        out = cv2.warpAffine(out, matrix, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
    out = (out - out.mean()) * rng.uniform(0.6, 1.3) + out.mean() + rng.uniform(-30, 30)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.3:
        out += rng.normal(0, rng.uniform(2, 10), out.shape)
    if rng.random() < 0.1:
        out = 255 - out
    return np.clip(out, 0, 255).astype(np.uint8)
