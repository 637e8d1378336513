"""What a GPU machine needs to train a recognizer run when it has JAX but no TensorFlow, no
network and no `../shared/data` (`engocr train bundle`; `scripts/gpu_train.sh` uses it there):
the wheels Keras needs beyond the machine's own packages, a family-balanced subset of the
fonts, the word list, and the real crops already made model inputs. The device copies the
working tree and the bundle together within 64 MiB, so the bundle reports both sizes."""

from __future__ import annotations

import importlib.metadata
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
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64")


def make_bundle(out: Path, run_dir: Path, data: Path | None = None, font_mb: float = 12.0,
                wheels: bool = True, seed: int = 0) -> dict[str, int]:
    """Write the bundle for training `run_dir` into `out`; the bytes of each part."""
    from engocr.models.crnn import CRNNConfig
    from engocr.train.loop import read_config
    from engocr.train.rec import real_crop_sets
    from engocr.train.rec_data import save_prepared

    if not (Path(run_dir) / "config.json").exists():
        raise InputError(f"{run_dir} is not a recognizer run (no config.json)")
    config = read_config(run_dir, CRNNConfig)
    out.mkdir(parents=True, exist_ok=True)
    sizes = {"fonts": _pack_fonts(out / "fonts.tar.gz", font_mb, seed),
             "words": _copy_words(out / "words.txt")}
    sets = real_crop_sets(config.height, config.width, data)
    if not sets:
        raise InputError("no real crops found: point --data at ../shared/data")
    sizes["crops"] = save_prepared(out / "crops.npz", sets).stat().st_size
    if wheels:
        sizes["wheels"] = _download_wheels(out / "wheels")
    return sizes


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
