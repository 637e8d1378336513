"""Importers from the real formats users already have into `SceneSample` / `CropSample`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from engocr.errors import InputError
from engocr.train.data.paths import data_root
from engocr.train.data.records import CropSample, SceneSample, WordBox

IGNORE_TEXTS = {"###", "."}


def order_quad(points: np.ndarray) -> np.ndarray:
    """Any polygon to a 4-point quad, clockwise from the top-left corner."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    if len(points) != 4:
        points = cv2.boxPoints(cv2.minAreaRect(points)).astype(np.float32)
    centre = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    points = points[np.argsort(angles)]  # clockwise in image coordinates (y down)
    start = int(np.argmin(points[:, 0] + points[:, 1]))
    return np.roll(points, -start, axis=0)


def _read_text(path: Path) -> str:
    # utf-8-sig strips the byte-order mark that ICDAR files start with.
    return path.read_text(encoding="utf-8-sig", errors="replace")


def load_textocr(json_path: str | Path, image_root: str | Path | None = None) -> list[SceneSample]:
    """TextOCR JSON (`imgs`, `anns`); `.` marks illegible words, which become ignore regions."""
    json_path = Path(json_path)
    root = Path(image_root) if image_root else json_path.parent
    data = json.loads(_read_text(json_path))
    by_image: dict[str, list[WordBox]] = {key: [] for key in data["imgs"]}
    for ann in data["anns"].values():
        points = ann.get("points") or []
        if len(points) < 8:
            x, y, w, h = ann["bbox"]
            points = [x, y, x + w, y, x + w, y + h, x, y + h]
        text = ann.get("utf8_string", "")
        by_image.setdefault(ann["image_id"], []).append(
            WordBox(order_quad(points), text, ignore=text in IGNORE_TEXTS)
        )
    samples = []
    for key, info in data["imgs"].items():
        samples.append(SceneSample(words=by_image.get(key, []), path=root / info["file_name"],
                                   name=Path(info["file_name"]).name,
                                   meta={"width": info.get("width"), "height": info.get("height")}))
    return samples


def parse_icdar15_gt(text: str) -> list[WordBox]:
    """Lines of `x1,y1,x2,y2,x3,y3,x4,y4,transcription`; the text may itself hold commas."""
    words = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        parts = line.split(",", 8)
        if len(parts) < 9:
            raise InputError(f"ICDAR 2015 line has fewer than 9 fields: {line!r}")
        quad = np.array([float(v) for v in parts[:8]], dtype=np.float32).reshape(4, 2)
        label = parts[8]
        words.append(WordBox(order_quad(quad), label, ignore=label in IGNORE_TEXTS))
    return words


_IC13 = re.compile(r'^\s*(-?\d+)[,\s]+(-?\d+)[,\s]+(-?\d+)[,\s]+(-?\d+)[,\s]+"(.*)"\s*$')


def parse_icdar13_gt(text: str) -> list[WordBox]:
    """Lines of `x1 y1 x2 y2 "text"` (training set) or with commas (test set)."""
    words = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _IC13.match(line)
        if not match:
            raise InputError(f"ICDAR 2013 line not understood: {line!r}")
        x1, y1, x2, y2 = (float(v) for v in match.groups()[:4])
        label = match.group(5)
        quad = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
        words.append(WordBox(quad, label, ignore=label in IGNORE_TEXTS))
    return words


def _icdar_folder(image_dir: Path, gt_dir: Path, parse) -> list[SceneSample]:
    samples = []
    for image_path in sorted(image_dir.iterdir(), key=_natural_key):
        if image_path.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
            continue
        gt_path = gt_dir / f"gt_{image_path.stem}.txt"
        words = parse(_read_text(gt_path)) if gt_path.exists() else []
        samples.append(SceneSample(words=words, path=image_path, name=image_path.name))
    return samples


def load_icdar15(image_dir: str | Path, gt_dir: str | Path) -> list[SceneSample]:
    """An ICDAR 2015 folder pair: `img_N.jpg` with `gt_img_N.txt`."""
    return _icdar_folder(Path(image_dir), Path(gt_dir), parse_icdar15_gt)


def load_icdar13(image_dir: str | Path, gt_dir: str | Path) -> list[SceneSample]:
    """An ICDAR 2013 folder pair: `img_N.jpg` with `gt_img_N.txt` (axis-aligned boxes)."""
    return _icdar_folder(Path(image_dir), Path(gt_dir), parse_icdar13_gt)


def load_scene_json(folder: str | Path) -> list[SceneSample]:
    """The shared layout: `images/` plus `gt.json` (list of image, width, height, words)."""
    folder = Path(folder)
    entries = json.loads(_read_text(folder / "gt.json"))
    return [
        SceneSample(
            words=[WordBox(w["quad"], w["text"], bool(w.get("ignore", False))) for w in e["words"]],
            path=folder / "images" / e["image"], name=e["image"],
            meta={"width": e.get("width"), "height": e.get("height")},
        )
        for e in entries
    ]


def load_crop_folder(folder: str | Path) -> list[CropSample]:
    """Word crops with labels: `crops/` + `labels.json` ({file: text}), or a `labels.txt`/`.tsv`
    of `file<TAB or space>text` lines next to the crops."""
    folder = Path(folder)
    crop_dir = folder / "crops" if (folder / "crops").is_dir() else folder
    if (folder / "labels.json").exists():
        labels = json.loads(_read_text(folder / "labels.json"))
    else:
        label_file = next((folder / n for n in ("labels.txt", "labels.tsv", "gt.txt")
                           if (folder / n).exists()), None)
        if label_file is None:
            raise InputError(f"{folder}: no labels.json, labels.txt or labels.tsv")
        labels = {}
        for line in _read_text(label_file).splitlines():
            if not line.strip():
                continue
            sep = "\t" if "\t" in line else " "
            name, _, text = line.partition(sep)
            labels[name.strip()] = text.strip().strip('"')
    return [CropSample(text=text, path=crop_dir / name, name=name)
            for name, text in sorted(labels.items(), key=lambda kv: _natural_key(Path(kv[0])))]


def _natural_key(path: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", Path(path).name))


def image_number(name: str) -> int:
    """`img_123.jpg` -> 123; used by the agreed ic15 split."""
    match = re.search(r"(\d+)", name)
    return int(match.group(1)) if match else -1


def ic15_split(samples: Iterable[SceneSample], part: str) -> list[SceneSample]:
    """The agreed split: images 1-900 train, 901-1000 validation."""
    if part not in {"train", "val"}:
        raise ValueError(part)
    return [s for s in samples if (image_number(s.name) <= 900) == (part == "train")]



def ic15_scenes(part: str, data: str | Path | None = None, required: bool = False
                ) -> list[SceneSample]:
    """ic15 training (1-900) or validation (901-1000) images from the real-data folder; empty
    where the folder is absent (callers skip what needs it), or FileNotFoundError if
    `required`."""
    folder = data_root(data) / "ic15_train"
    if (folder / "gt.json").exists():
        return ic15_split(load_scene_json(folder), part)
    if required:
        raise FileNotFoundError(folder / "gt.json")
    return []


def detector_training_sets(data: str | Path | None = None) -> dict[str, list[SceneSample]]:
    """The real photos the detector may train on, by the folder they come from: ic15_train
    (images 1-900) and all of ic03_train (empty where absent)."""
    ic03 = data_root(data) / "ic03_train"
    return {"ic15_train": ic15_scenes("train", data),
            "ic03_train": load_scene_json(ic03) if (ic03 / "gt.json").exists() else []}


def detector_training_scenes(data: str | Path | None = None) -> list[SceneSample]:
    """Every real photo the detector may train on: ic15 1-900, then all of ic03_train."""
    return [scene for scenes in detector_training_sets(data).values() for scene in scenes]
