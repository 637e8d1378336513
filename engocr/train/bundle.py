"""What a GPU machine needs to train a run when it has JAX but no TensorFlow, no network and
no `../shared/data` (`engocr train bundle`; `scripts/gpu_train.sh` uses it there): the wheels
Keras needs beyond the machine's own packages, a family-balanced subset of the fonts and the
word list (synthetic text), and the real data: for a recognizer run the real crops already
made model inputs, for a detector run the real photos scaled to the run's frame side (where
training scales them anyway) within a size budget. The device copies the working tree and the
bundle together within 64 MiB, so the bundle reports both sizes."""

from __future__ import annotations

import importlib.metadata
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

from engocr.errors import InputError

# The GPU image lacks these (it has jax, h5py, ml-dtypes, rich, absl-py, numpy, numba, opencv,
# pillow, imageio and tqdm); the versions installed here, so checkpoints read alike.
WHEELS = ("keras", "namex", "optree")
GPU_PYTHON = "3.12"
DEVICE_BYTES = 64 * 2 ** 20  # what a device call carries: working tree and bundle
# Real photos for a detector run: WebP at this quality is half the bytes of JPEG at equal
# sharpness (measured on the training photos: ~30 KiB a photo at 1152 px); the ic15 validation
# photos go first (the run's evaluation), then training photos in random order until the budget.
PHOTO_QUALITY = 60
PHOTO_MB = 20.0
FONT_MB = 12.0  # font files packed: one face per family, families in random order
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64")


def make_bundle(out: Path, run_dir: Path, data: Path | None = None, font_mb: float = FONT_MB,
                wheels: bool = True, seed: int = 0, photo_mb: float = PHOTO_MB
                ) -> dict[str, int]:
    """Write the bundle for training `run_dir` (a recognizer or detector run) into `out`; the
    bytes of each part."""
    config_file = Path(run_dir) / "config.json"
    if not config_file.exists():
        raise InputError(f"{run_dir} is not a training run (no config.json)")
    detector = is_detector_run(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = {"fonts": _pack_fonts(out / "fonts.tar.gz", font_mb, seed),
             "words": _copy_words(out / "words.txt")}
    if detector:
        from engocr.models.yolo_mobilenet import DetectorConfig
        from engocr.train.loop import read_config

        config = read_config(run_dir, DetectorConfig)
        sizes["photos"] = pack_photos(out / "photos.tar", data, config.frame_side, photo_mb,
                                      seed, lettering=config.synth_lettering > 0)
    else:
        sizes["crops"] = _save_crops(out / "crops.npz", run_dir, data)
    if wheels:
        sizes["wheels"] = _download_wheels(out / "wheels")
    return sizes


def is_detector_run(run_dir: Path) -> bool:
    """A detector run's config has strides; a recognizer's does not."""
    return "strides" in json.loads((Path(run_dir) / "config.json").read_text())


def _save_crops(path: Path, run_dir: Path, data: Path | None) -> int:
    from engocr.models.crnn import CRNNConfig
    from engocr.train.loop import read_config
    from engocr.train.rec import real_crop_sets
    from engocr.train.rec_data import save_prepared

    config = read_config(run_dir, CRNNConfig)
    sets = real_crop_sets(config.height, config.width, data, config.min_aspect)
    if not sets:
        raise InputError("no real crops found: point --data at ../shared/data")
    return save_prepared(path, sets).stat().st_size


def pack_photos(path: Path, data: Path | None, side: int, photo_mb: float, seed: int = 0,
                lettering: bool = False) -> int:
    """The detector's real photos as a data folder in the shared layout (`ic15_train/` and
    `ic03_train/`: `gt.json` and `images/`) inside an uncompressed tar: each photo scaled down
    to `side` (its words' quads with it) and WebP-encoded, the ic15 validation photos first,
    then training photos in random order while the images come to at most `photo_mb`. With
    `lettering`, the word crops that `lettering.CROP_SETS` names go in after the validation
    photos (about 2 MB: `crops/` and `labels.json`, as in the shared folder)."""
    from engocr.train.data.importers import data_root, detector_training_sets, ic15_scenes

    train = [(folder, scene) for folder, scenes in detector_training_sets(data).items()
             for scene in scenes]
    if not train:
        raise InputError(f"no detector training photos in {data_root(data)}: point --data at "
                         "../shared/data")
    entries: dict[str, list] = {}
    budget, packed_training, misses = photo_mb * 1e6, 0, 0
    with tarfile.open(path, "w") as tar:
        for scene in ic15_scenes("val", data):
            budget -= _add_photo(tar, entries, "ic15_train", scene, side)
        if lettering:
            budget -= _pack_lettering(tar, data)
        for i in np.random.default_rng(seed).permutation(len(train)):
            folder, scene = train[int(i)]
            added = _add_photo(tar, entries, folder, scene, side, budget)
            budget -= added
            packed_training += added > 0
            misses = 0 if added else misses + 1
            if misses >= 20:  # the budget is full: the rest would only be encoded and dropped
                break
        for folder, listed in entries.items():
            _add_bytes(tar, f"{folder}/gt.json", json.dumps(listed).encode())
    if packed_training == 0:
        path.unlink()
        raise InputError(f"no training photo fits in --photo-mb {photo_mb:g}")
    return path.stat().st_size


def _add_photo(tar: tarfile.TarFile, entries: dict[str, list], folder: str, scene,
               side: int, room: float = float("inf")) -> int:
    """Add `scene`'s photo scaled down to `side` and WebP-encoded, and its entry for the
    folder's `gt.json`, if it fits in `room` bytes; its bytes (0: not added)."""
    import cv2

    image = scene.load()
    scene.release()
    f = min(1.0, side / max(image.shape[:2]))
    if f < 1.0:
        image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    encoded = _webp(image)
    if encoded.nbytes > room:
        return 0
    name = f"{Path(scene.name).stem}.webp"
    _add_bytes(tar, f"{folder}/images/{name}", encoded.tobytes())
    entries.setdefault(folder, []).append({
        "image": name, "width": image.shape[1], "height": image.shape[0],
        "words": [{"quad": (w.quad * f).round(1).tolist(), "text": w.text,
                   "ignore": w.ignore} for w in scene.words]})
    return encoded.nbytes


def _pack_lettering(tar: tarfile.TarFile, data: Path | None) -> int:
    """The lettering crops (`lettering.CROP_SETS`) WebP-encoded, each set as `crops/` and
    `labels.json` (a set that is absent is left out, as the trainer leaves it out); their
    bytes."""
    import cv2

    from engocr.train.data.importers import data_root, load_crop_folder
    from engocr.train.data.lettering import CROP_SETS

    total = 0
    for name in CROP_SETS:
        folder = data_root(data) / name
        if not (folder / "labels.json").exists():
            continue
        labels = {}
        for sample in load_crop_folder(folder):
            image = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            file = f"{Path(sample.name).stem}.webp"
            encoded = _webp(image)
            _add_bytes(tar, f"{name}/crops/{file}", encoded.tobytes())
            labels[file] = sample.text
            total += encoded.nbytes
        _add_bytes(tar, f"{name}/labels.json", json.dumps(labels).encode())
    return total


def _webp(image: np.ndarray) -> np.ndarray:
    """`image` as WebP bytes at PHOTO_QUALITY."""
    import cv2

    return cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, PHOTO_QUALITY])[1]


def _add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def working_tree_bytes(root: Path = Path(".")) -> int | None:
    """Bytes of what the device copies besides the bundle: git's tracked files and untracked
    ones it does not ignore; None outside a git checkout."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"],
                                cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = [root / p.decode() for p in listed.split(b"\0") if p]
    return sum(p.stat().st_size for p in paths if p.is_file())


def _pack_fonts(path: Path, font_mb: float, seed: int) -> int:
    """One face per family (chosen at random, so weights and italics vary across families),
    families in random order until `font_mb` of font files."""
    from engocr.train.data.fonts import font_families

    rng = np.random.default_rng(seed)
    families = font_families()
    total = 0
    with tarfile.open(path, "w:gz") as tar:
        for k in rng.permutation(len(families)):
            face = families[k][rng.integers(len(families[k]))]
            size = face.stat().st_size
            if total + size > font_mb * 1e6:
                continue
            tar.add(face, arcname=f"{k:03d}-{face.name}")
            total += size
    return path.stat().st_size


def _copy_words(path: Path) -> int:
    from engocr.train.data.words import vocabulary

    path.write_text("\n".join(vocabulary()) + "\n")
    return path.stat().st_size


def _download_wheels(folder: Path) -> int:
    """The WHEELS at the versions installed here, for the GPU machine's Python (pip reaches
    PyPI from this machine, not from that one)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "--python-version", GPU_PYTHON, "--implementation", "cp", *platforms, "-d",
         str(folder), *pins], capture_output=True, text=True)
    if result.returncode != 0:
        raise InputError(f"pip could not download {' '.join(pins)}: "
                         f"{result.stderr.strip().splitlines()[-1:]}")
    return sum(p.stat().st_size for p in folder.glob("*.whl"))
