"""engocr: fast English scene-text OCR for live camera frames and video on a CPU."""

from __future__ import annotations

import os
import sqlite3  # noqa: F401  (see below)
from typing import TYPE_CHECKING

# The video library needs SQLite's FTS5. TensorFlow (loaded by Keras) carries its own SQLite
# without FTS5, and a `sqlite3` imported after it binds to that one ("no such module: fts5");
# importing the standard one first keeps Python's own in a process that also trains.

# FFmpeg inside OpenCV prints its own warnings for a corrupt or truncated video; engocr says
# what went wrong in one line instead (ENGOCR_DEBUG=1 shows theirs). OpenCV reads this when it
# is imported, so it is set here, before any engocr module imports cv2.
if not os.environ.get("ENGOCR_DEBUG"):
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

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
