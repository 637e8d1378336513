"""Outputs written as frames arrive (nothing is lost when a stream ends or breaks): annotated
video, JSON Lines, SRT and WebVTT subtitles, plain-text transcript."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from engocr.errors import OutputError
from engocr.realtime.results import FrameResult


def _open_text(path: Path):
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise OutputError(f"{path}: folder {path.parent} does not exist")
    try:
        return open(path, "w", encoding="utf-8", buffering=1)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None


class Sink:
    """Receives every frame's result (and the annotated frame, for video)."""

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class JsonlSink(Sink):
    """One JSON object per frame, flushed line by line."""

    def __init__(self, path: Path) -> None:
        self.path, self.handle = path, _open_text(path)

    def write(self, result: FrameResult, annotated=None) -> None:
        self.handle.write(result.to_json() + "\n")

    def close(self) -> None:
        self.handle.close()


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


class SubtitleSink(Sink):
    """SRT or WebVTT: one cue per stretch of frames showing the same text; each cue is written
    when the text changes, the last one on close."""

    def __init__(self, path: Path, fmt: str, frame_s: float = 1 / 30) -> None:
        self.path, self.fmt, self.frame_s = path, fmt, frame_s
        self.handle = _open_text(path)
        if fmt == "vtt":
            self.handle.write("WEBVTT\n\n")
        self.cue: tuple[str, float] | None = None
        self.last_time = 0.0
        self.count = 0

    def _flush(self, end: float) -> None:
        if self.cue is None:
            return
        text, start = self.cue
        self.count += 1
        sep = "," if self.fmt == "srt" else "."
        number = f"{self.count}\n" if self.fmt == "srt" else ""
        self.handle.write(f"{number}{_stamp(start, sep)} --> {_stamp(max(end, start + 0.04), sep)}"
                          f"\n{text}\n\n")
        self.cue = None

    def write(self, result: FrameResult, annotated=None) -> None:
        text = result.text
        current = self.cue[0] if self.cue else ""
        if text != current:
            self._flush(result.time_s)
            if text:
                self.cue = (text, result.time_s)
        self.last_time = result.time_s

    def close(self) -> None:
        self._flush(self.last_time + self.frame_s)
        self.handle.close()


class TextSink(Sink):
    """Plain transcript: a timestamped line each time the text on screen changes."""

    def __init__(self, path: Path) -> None:
        self.handle = _open_text(path)
        self.previous = ""

    def write(self, result: FrameResult, annotated=None) -> None:
        text = result.text
        if text and text != self.previous:
            self.handle.write(f"[{_stamp(result.time_s, '.')}] {text}\n")
        self.previous = text

    def close(self) -> None:
        self.handle.close()


class VideoSink(Sink):
    """Annotated H.264 MP4 through imageio-ffmpeg (OpenCV's mp4v as the fallback)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        if not self.path.parent.exists():
            raise OutputError(f"{path}: folder {self.path.parent} does not exist")
        if not os.access(self.path.parent, os.W_OK):
            raise OutputError(f"{path}: folder {self.path.parent} is not writable")
        self.writer = None
        self.cv_writer = None

    def _open(self, frame: np.ndarray) -> None:
        try:
            import imageio.v2 as iio

            self.writer = iio.get_writer(str(self.path), format="FFMPEG", fps=self.fps,
                                         codec="libx264", macro_block_size=2, quality=7,
                                         ffmpeg_log_level="error")
        except Exception:  # no ffmpeg binary: fall back to OpenCV's own encoder
            h, w = frame.shape[:2]
            self.cv_writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                             self.fps, (w, h))
            if not self.cv_writer.isOpened():
                raise OutputError(f"{self.path}: cannot open a video writer") from None

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None:
        if annotated is None:
            return
        if self.writer is None and self.cv_writer is None:
            self._open(annotated)
        try:
            if self.writer is not None:
                self.writer.append_data(cv2.cvtColor(annotated, cv2.COLOR_BGR2RGB))
            else:
                self.cv_writer.write(annotated)
        except (OSError, BrokenPipeError, RuntimeError) as exc:
            raise OutputError(f"{self.path}: write failed ({exc})") from None

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except (OSError, BrokenPipeError, RuntimeError) as exc:
                raise OutputError(f"{self.path}: could not finish the video ({exc})") from None
        if self.cv_writer is not None:
            self.cv_writer.release()

