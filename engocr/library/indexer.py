"""Read one file (video or image) with a Reader and tracking; return its library rows.

`index_file` is the per-file function the `engocr index` engines run: in the parent, in a
worker process (each with its own Reader, built once by `init_worker`), or as a task on a
cluster (a Reader for each of the worker's threads: a LiteRT interpreter is not safe to share
between threads). It never raises for a bad file: the result carries the one-line error
instead. Readers that share a machine are given a share of its cores each
(`reader_threads`), so N workers do not run N times the cores in threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engocr.errors import EngocrError
from engocr.library.scan import is_video

THUMB_HEIGHT = 32
_LOCAL = threading.local()  # this thread's Reader (`thread_reader`)


@dataclass
class FileResult:
    path: str
    size: int
    mtime_ns: int
    rows: list[dict] = field(default_factory=list)
    frames: int = 0
    error: str | None = None


def reader_threads(readers: int, cores: int | None = None) -> int:
    """Inference threads for each of `readers` Readers that share `cores` (default: the
    cores this process may use): together they use each core once."""
    from engocr.realtime.engine import default_threads

    return max(1, (cores or default_threads()) // max(1, readers))


def thread_reader():
    """This thread's Reader (None before `init_worker`)."""
    return getattr(_LOCAL, "reader", None)


def init_worker(reader_kwargs: dict | None = None) -> None:
    """Build this thread's Reader (a worker's initializer). OpenCV runs one thread: the
    engines read files in parallel, each reader's inference threads are `threads`."""
    from engocr.realtime.reader import Reader

    cv2.setNumThreads(1)
    _LOCAL.reader = Reader(**(reader_kwargs or {}))


def index_file_with(path: str, reader_kwargs: dict | None = None) -> FileResult:
    """`index_file` for a cluster task: builds this worker thread's Reader on first use,
    with one inference thread unless `reader_kwargs` says `threads` (a Dask worker runs as
    many tasks at once as it has threads, one core each)."""
    if thread_reader() is None:
        kwargs = dict(reader_kwargs or {})
        if kwargs.get("threads") is None:
            kwargs["threads"] = 1
        init_worker(kwargs)
    return index_file(path)


def word_thumbnail(image: np.ndarray, box) -> bytes:
    """A small JPEG of the word's box (THUMB_HEIGHT pixels high)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1 = min(max(0, x1), w - 1), min(max(0, y1), h - 1)
    crop = image[y1:max(min(h, y2), y1 + 1), x1:max(min(w, x2), x1 + 1)]
    scale = THUMB_HEIGHT / crop.shape[0]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), THUMB_HEIGHT),
                      interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else b""


def _frames(path: Path):
    from engocr.imageio_utils import read_image
    from engocr.realtime.sources import Frame, VideoFileSource

    if is_video(path):
        source = VideoFileSource(path)
        try:
            yield from source
            problem = source.ended_early()
            if problem:
                raise EngocrError(problem)
        finally:
            source.close()
    else:
        yield Frame(0, 0.0, read_image(path), path.name)


def read_file(path: Path, reader) -> tuple[list[dict], int]:
    """The rows of one file (one per text track) and the frames read. Raises EngocrError."""
    from engocr.realtime.tracking import TrackingReader

    tracking = TrackingReader(reader)
    tracks: dict[int, dict] = {}
    frames = 0
    for frame in _frames(path):
        frames += 1
        for word in tracking(frame).words:
            key = word.track_id if word.track_id is not None else -len(tracks) - 1
            row = tracks.get(key)
            if row is None:
                row = tracks[key] = {"track": key, "first_s": frame.time_s, "conf": -1.0}
            row["last_s"] = frame.time_s
            if word.conf > row["conf"]:
                x1, y1, x2, y2 = word.box
                row.update(text=word.text, conf=float(word.conf), frame=frame.index,
                           time_s=frame.time_s, x1=x1, y1=y1, x2=x2, y2=y2,
                           thumb=word_thumbnail(frame.image, word.box))
    rows = [r for r in tracks.values() if r["text"].strip()]
    rows.sort(key=lambda r: (r["first_s"], r["track"]))
    return rows, frames


def index_file(path: str | Path, reader=None) -> FileResult:
    """Read one file; never raises for a bad file (the error is in the result)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        return FileResult(str(path), 0, 0, error=f"{path}: {exc.strerror or exc}")
    result = FileResult(str(path), stat.st_size, stat.st_mtime_ns)
    try:
        result.rows, result.frames = read_file(path, reader or thread_reader())
    except EngocrError as exc:
        result.error = str(exc)
    except (OSError, cv2.error, ValueError) as exc:
        result.error = f"{path}: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
    return result
