"""The indexed files themselves: only a file the library read is ever opened (the URL names
its id, never a path), and only while it is still the file that was read: a regular file,
not a symlink, with the size and modification time recorded when it was indexed. The checks
are made on the open descriptor, and the decoders read through that descriptor, so a path
swapped for something else between check and read is not served."""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from engocr.library.scan import is_video
from engocr.web.db import FileRow, WordRow

CONTENT_TYPES = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".webm": "video/webm", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".wmv": "video/x-ms-wmv",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".bmp": "image/bmp",
    ".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp",
}
SNAPSHOT_WIDTH = 1280  # frames wider than this are scaled down for the page
BOX_COLOR = (0, 170, 255)  # BGR: orange, seen on light and dark footage


class NotServed(Exception):
    """The file or frame cannot be served (gone, changed since indexed, not decodable):
    answered 404 with this one-line reason."""


def content_type(path: str) -> str:
    return CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def kind(path: str) -> str:
    return "video" if is_video(Path(path)) else "image"


def open_indexed(row: FileRow) -> tuple[int, int]:
    """An open descriptor of the indexed file and its size, or NotServed."""
    try:
        fd = os.open(row.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        raise NotServed("the file is gone or unreadable since it was indexed") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (info.st_size, info.st_mtime_ns) != \
            (row.size, row.mtime_ns):
        os.close(fd)
        raise NotServed("the file has changed since it was indexed (run `engocr index` "
                        "again)")
    return fd, info.st_size


def _fd_path(fd: int, path: str) -> str:
    """A name that decoders open as this descriptor (Linux), else the path itself."""
    proc = f"/proc/self/fd/{fd}"
    return proc if os.path.exists(proc) else path


@lru_cache(maxsize=1024)
def _duration(path: str, size: int, mtime_ns: int) -> float | None:
    row = FileRow(0, path, size, mtime_ns, 0)
    try:
        fd, _ = open_indexed(row)
    except NotServed:
        return None
    try:
        cap = cv2.VideoCapture(_fd_path(fd, path))
        frames, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
        cap.release()
    finally:
        os.close(fd)
    return frames / fps if frames > 0 and fps and 1 <= fps <= 240 else None


def duration(row: FileRow) -> float | None:
    """The video's length in seconds from its container (cached), or None."""
    return _duration(row.path, row.size, row.mtime_ns) if kind(row.path) == "video" else None


def _read_frame(fd: int, word: WordRow) -> np.ndarray | None:
    if kind(word.file.path) == "image":
        with os.fdopen(os.dup(fd), "rb") as f:
            data = np.frombuffer(f.read(), np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    cap = cv2.VideoCapture(_fd_path(fd, word.file.path))
    try:
        if word.frame:
            cap.set(cv2.CAP_PROP_POS_FRAMES, word.frame)
        ok, image = cap.read()
        return image if ok else None
    finally:
        cap.release()


def snapshot(word: WordRow, also: list[WordRow] | tuple = ()) -> bytes:
    """A JPEG of the frame where the word was read best, with its box drawn, and those of
    the words `also` on screen with it."""
    fd, _ = open_indexed(word.file)
    try:
        image = _read_frame(fd, word)
    except cv2.error:
        image = None
    finally:
        os.close(fd)
    if image is None:
        raise NotServed("the frame cannot be decoded")
    h, w = image.shape[:2]
    pad = max(2, round(min(h, w) / 120))
    for box in [word.box, *(o.box for o in also)]:
        if None in box:
            continue
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(image, (x1 - pad, y1 - pad), (x2 + pad, y2 + pad), (0, 0, 0), pad + 2)
        cv2.rectangle(image, (x1 - pad, y1 - pad), (x2 + pad, y2 + pad), BOX_COLOR, pad)
    if w > SNAPSHOT_WIDTH:
        image = cv2.resize(image, (SNAPSHOT_WIDTH, round(h * SNAPSHOT_WIDTH / w)),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise NotServed("the frame cannot be encoded")
    return data.tobytes()
