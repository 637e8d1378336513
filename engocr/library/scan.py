"""Find the videos and images under paths (recursively, by extension). Whether a file really
opens is found out when it is read: a file that does not is recorded with its error."""

from __future__ import annotations

from pathlib import Path

from engocr.errors import InputError
from engocr.realtime.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES

MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def find_media(paths: list[str | Path]) -> list[Path]:
    """Every video or image file named or under the folders named, sorted, each once."""
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.update(p.resolve() for p in path.rglob("*")
                         if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
        elif path.is_file():
            found.add(path.resolve())
        else:
            raise InputError(f"{path}: no such file or folder")
    return sorted(found)
