"""Reading images robustly: every bad file becomes one clear `InputError`, never a traceback."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engocr.errors import InputError


def to_bgr8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Any decoded array (gray, BGRA, 16-bit, float) to 8-bit 3-channel BGR."""
    if image is None or image.size == 0:
        raise InputError(f"{name}: empty image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        scale = 255.0 if image.max() <= 1.0 else 1.0
        image = np.clip(image * scale, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 2 or image.ndim == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{name}: unsupported image shape {image.shape}")
    return np.ascontiguousarray(image)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit BGR, or raise `InputError` saying what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: not a readable image (corrupt or unsupported format)")
    return to_bgr8(image, str(path))
