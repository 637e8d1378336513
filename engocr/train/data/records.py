"""The one internal form every data source is converted into."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class WordBox:
    """One word: a quad (4x2, clockwise from top-left, image pixels), its text and ignore flag."""

    quad: np.ndarray
    text: str
    ignore: bool = False

    def __post_init__(self) -> None:
        self.quad = np.asarray(self.quad, dtype=np.float32).reshape(4, 2)

    def aabb(self) -> tuple[float, float, float, float]:
        """Axis-aligned box (x1, y1, x2, y2) around the quad."""
        x1, y1 = self.quad.min(axis=0)
        x2, y2 = self.quad.max(axis=0)
        return float(x1), float(y1), float(x2), float(y2)


@dataclass
class SceneSample:
    """A full image with its words; `image` is loaded lazily from `path` when not given."""

    words: list[WordBox]
    path: Path | None = None
    image: np.ndarray | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def load(self) -> np.ndarray:
        """The BGR image, read from disk on first use."""
        if self.image is None:
            from engocr.imageio_utils import read_image

            self.image = read_image(self.path)
        return self.image

    def release(self) -> None:
        """Free the image if it can be read again (a rendered scene keeps its pixels)."""
        if self.path is not None:
            self.image = None


@dataclass
class CropSample:
    """A word crop with its label (recognizer training and evaluation)."""

    text: str
    path: Path | None = None
    image: np.ndarray | None = None
    name: str = ""

    def load(self) -> np.ndarray:
        if self.image is None:
            from engocr.imageio_utils import read_image

            self.image = read_image(self.path)
        return self.image
