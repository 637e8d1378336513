"""Frame sources: camera index, video file, image, folder, glob, stream URL, built-in demo.

Live sources (camera, stream) read in a capture thread that keeps only the newest frame, so
that the overlay never lags behind the camera; files yield every frame (or every `stride`-th).
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engocr.errors import InputError
from engocr.imageio_utils import read_image


def quiet_opencv() -> None:
    """OpenCV prints its own warnings for a missing camera or a corrupt file; the user gets
    engocr's one clear line instead (set ENGOCR_DEBUG=1 to see theirs). FFmpeg's are silenced
    in `engocr/__init__.py`, before OpenCV is imported."""
    if os.environ.get("ENGOCR_DEBUG"):
        return
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


quiet_opencv()
STREAM_TIMEOUT_MS = 5000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


@dataclass
class Frame:
    index: int
    time_s: float
    image: np.ndarray
    name: str = ""


class Source:
    """Iterable of `Frame`s; `live` sources drop stale frames; `close()` releases devices."""

    live = False
    fps: float = 30.0
    name = "source"
    on_error = None  # image lists: called with an unreadable image's InputError, to go on

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageSource(Source):
    """One or more image files, each read as one frame."""

    def __init__(self, paths: list[Path]) -> None:
        if not paths:
            raise InputError("no images to read")
        self.paths = paths
        self.name = str(paths[0]) if len(paths) == 1 else f"{len(paths)} images"

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            try:
                image = read_image(path)
            except InputError as exc:
                if self.on_error is None:
                    raise
                self.on_error(exc)
                continue
            yield Frame(i, 0.0, image, path.name)


class VideoFileSource(Source):
    """Every frame of a video file (or every `stride`-th), with its timestamp."""

    def __init__(self, path: Path, stride: int = 1) -> None:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: file is empty (0 bytes)")
        self.path, self.stride, self.name = path, max(1, stride), str(path)
        self.cap = cv2.VideoCapture(str(path))
        ok, first = self.cap.read() if self.cap.isOpened() else (False, None)
        if not ok or first is None:
            self.cap.release()
            raise InputError(f"{path}: not a readable video (corrupt, truncated or unsupported)")
        self.first = first
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1 <= fps <= 240 else 30.0
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frames_read = 0

    def __iter__(self) -> Iterator[Frame]:
        index, image = 0, self.first
        while image is not None:
            self.frames_read = index + 1
            if index % self.stride == 0:
                yield Frame(index, index / self.fps, image)
            ok, image = self.cap.read()
            if not ok:
                break
            index += 1

    def ended_early(self) -> str | None:
        """After reading to the end: why the video is shorter than its container announced
        (truncated or corrupt), or None. A container's count may be off by a frame or two."""
        missing = self.frame_count - self.frames_read
        if self.frame_count <= 0 or missing <= max(2, 0.01 * self.frame_count):
            return None
        return (f"{self.name}: the video ended early, {self.frames_read} of the "
                f"{self.frame_count} frames its container announced (truncated or corrupt); "
                "the outputs hold what was read")

    def close(self) -> None:
        self.cap.release()


class LiveSource(Source):
    """Camera or network stream read by a background thread that keeps only the newest frame.

    A stream that stops delivering ends the iteration (after `timeout_s`), or reconnects when
    `reconnect` is set.
    """

    live = True

    def __init__(self, target: int | str, timeout_s: float = 5.0, reconnect: bool = False,
                 size: tuple[int, int] | None = None) -> None:
        self.target, self.timeout_s, self.reconnect, self.size = target, timeout_s, reconnect, size
        self.name = f"camera {target}" if isinstance(target, int) else str(target)
        self.cap = self._open()
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._stopped = threading.Event()
        self._failed = False
        self._start = time.monotonic()
        self.thread = threading.Thread(target=self._reader, daemon=True, name="engocr-capture")
        self.thread.start()

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.target, str):  # a stream: do not hang on a host that never answers
            cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
        else:
            cap = cv2.VideoCapture(self.target)
        if self.size and isinstance(self.target, int):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if not cap.isOpened():
            cap.release()
            what = f"camera {self.target}" if isinstance(self.target, int) else \
                f"stream {self.target}"
            raise InputError(f"{what}: cannot open (missing, busy or not answering)")
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise InputError(f"{self.name}: opened but delivered no frame")
        self._first = frame
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1 <= fps <= 240 else 30.0
        return cap

    def _reader(self) -> None:
        with self._lock:
            self._frame, self._seq = self._first, 1
        while not self._stopped.is_set():
            ok, frame = self.cap.read()
            if not ok or frame is None:
                if self.reconnect and not self._stopped.is_set():
                    self.cap.release()
                    time.sleep(1.0)
                    try:
                        self.cap = self._open()
                        continue
                    except InputError:
                        continue
                self._failed = True
                return
            with self._lock:
                self._frame, self._seq = frame, self._seq + 1

    def __iter__(self) -> Iterator[Frame]:
        last_seq, index, waited = 0, 0, time.monotonic()
        while not self._stopped.is_set():
            with self._lock:
                frame, seq = self._frame, self._seq
            if seq != last_seq and frame is not None:
                last_seq, waited = seq, time.monotonic()
                yield Frame(index, time.monotonic() - self._start, frame)
                index += 1
                continue
            stalled = time.monotonic() - waited > self.timeout_s
            if self._failed or (stalled and not self.reconnect):  # reconnecting: keep waiting
                return
            time.sleep(0.002)

    def close(self) -> None:
        self._stopped.set()
        self.thread.join(timeout=2.0)
        self.cap.release()


class DemoSource(Source):
    """The built-in synthetic scene, so the pipeline can be seen without camera or files."""

    def __init__(self, frames: int = 90, size: tuple[int, int] = (640, 480), seed: int = 0):
        from engocr.realtime.demo import DemoScene

        self.scene = DemoScene(size=size, seed=seed)
        self.frames, self.name, self.fps = frames, "demo", 30.0

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.frames):
            yield Frame(i, i / self.fps, self.scene.render(i))


def open_source(spec: str, stride: int = 1, reconnect: bool = False,
                size: tuple[int, int] | None = None, frames: int = 90) -> Source:
    """Interpret a source string: `demo`, a camera index, a URL, a video, an image, a folder of
    images or a glob pattern."""
    if spec == "demo":
        return DemoSource(frames=frames, size=size or (640, 480))
    if spec.isdigit():
        return LiveSource(int(spec), reconnect=reconnect, size=size)
    if "://" in spec:
        return LiveSource(spec, reconnect=reconnect)
    path = Path(spec)
    if any(ch in spec for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(spec)
                       if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise InputError(f"{spec}: no images match this pattern")
        return ImageSource(paths)
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise InputError(f"{path}: folder holds no images")
        return ImageSource(paths)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path])
    return VideoFileSource(path, stride=stride)
