"""engocr: fast English scene-text OCR for live camera frames and video on a CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from engocr.realtime.reader import Reader

__all__ = ["Reader", "__version__"]


def __getattr__(name: str):
    # Lazy so that `import engocr` stays cheap (no LiteRT, no numba) for the training side.
    if name == "Reader":
        from engocr.realtime.reader import Reader

        return Reader
    raise AttributeError(name)
