"""Outputs written as frames arrive (nothing is lost when a stream ends or breaks): annotated
video, JSON Lines, SRT and WebVTT subtitles, plain-text transcript."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engocr.charset import edit_distance, protocol_text
from engocr.errors import OutputError
from engocr.realtime.lines import line_texts
from engocr.realtime.results import FrameResult

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two spellings name one file: relative paths, `./`, symlinks and hard links."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: list[Path], inputs: list[Path]) -> None:
    """Refuse, before anything is written, an output that is an input or another output:
    writing it would destroy the input (or one output would overwrite the other)."""
    for i, out in enumerate(outputs):
        for source in inputs:
            if os.path.exists(source) and same_file(out, source):
                raise OutputError(f"{out}: this output is the input {source}; refusing to "
                                  "overwrite it")
        for other in outputs[:i]:
            if same_file(out, other):
                raise OutputError(f"{out}: given as two outputs ({other})")


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class PartFile:
    """An output written under a temporary name beside its target and moved into place
    (`os.replace`) when the run ends, so a run that fails to start leaves an existing file as
    it was, and a file being read by someone is never half old, half new."""

    def __init__(self, path: str | Path, suffix: str = "") -> None:
        self.path = Path(path)
        _check_writable(self.path)
        self.direct = self.path.exists() and not self.path.is_file()
        if self.direct:  # a device or a pipe (/dev/null): written as it is
            self.part = self.path
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=f".part{suffix}",
                                        dir=self.path.parent)
            os.close(fd)
            os.chmod(name, _default_mode())
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        self.part = Path(name)

    def commit(self) -> None:
        if self.direct:
            return
        try:
            os.replace(self.part, self.path)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def discard(self) -> None:
        if not self.direct:
            self.part.unlink(missing_ok=True)


def prepare_folder(folder: str | Path) -> Path:
    """An output folder, created if missing and checked by writing a file into it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write into this folder "
                          f"({exc.strerror or exc})") from None
    return folder


def _check_writable(path: Path) -> None:
    """Raise OutputError unless `path` can be written; creates its folder, touches no file."""
    if path.is_dir():
        raise OutputError(f"{path}: cannot write (is a folder)")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{path}: cannot write (Permission denied)")
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


class TextOutput:
    """A text output checked when made but opened (and an existing file emptied) only at its
    first line, once a frame has come through; then flushed line by line, so the file can be
    read while the run goes on and a broken run keeps what it wrote."""

    def __init__(self, path: Path, header: str = "") -> None:
        self.path, self.header, self.handle = Path(path), header, None
        _check_writable(self.path)

    def _start(self) -> None:
        try:
            self.handle = open(self.path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
            self.handle.write(self.header)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def write(self, text: str) -> None:
        if self.handle is None:
            self._start()
        self.handle.write(text)

    def close(self) -> None:
        if self.handle is None:
            self._start()
        self.handle.close()

    def abort(self) -> None:
        """Nothing written yet: the file stays as it was (written: it keeps its lines)."""
        if self.handle is not None:
            self.handle.close()


class Sink:
    """Receives every frame's result (and the annotated frame, for video)."""

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """End the output and put it in place (also after Ctrl-C: a partial run keeps it)."""

    def abort(self) -> None:
        """Drop the output: the run produced nothing, so an existing file stays as it was."""
        self.close()


class JsonlSink(Sink):
    """One JSON object per frame, flushed line by line."""

    def __init__(self, path: Path) -> None:
        self.path, self.handle = path, TextOutput(path)

    def write(self, result: FrameResult, annotated=None) -> None:
        self.handle.write(result.to_json() + "\n")

    def close(self) -> None:
        self.handle.close()

    def abort(self) -> None:
        self.handle.abort()


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


class CueWriter:
    """Writes timed cues as SRT, WebVTT or a plain-text transcript (`[start - end] text`), each
    line flushed as it is written."""

    def __init__(self, path: Path, fmt: str) -> None:
        if fmt not in ("srt", "vtt", "txt"):
            raise ValueError(fmt)
        self.fmt, self.count = fmt, 0
        self.handle = TextOutput(path, header="WEBVTT\n\n" if fmt == "vtt" else "")

    def write(self, start: float, end: float, text: str) -> None:
        self.count += 1
        if self.fmt == "txt":
            self.handle.write(f"[{_stamp(start, '.')} - {_stamp(end, '.')}] {text}\n")
            return
        sep = "," if self.fmt == "srt" else "."
        number = f"{self.count}\n" if self.fmt == "srt" else ""
        self.handle.write(f"{number}{_stamp(start, sep)} --> {_stamp(end, sep)}\n{text}\n\n")

    def close(self) -> None:
        self.handle.close()

    def abort(self) -> None:
        self.handle.abort()


class SubtitleSink(Sink):
    """SRT or WebVTT without tracking: one cue per stretch of frames showing the same text;
    each cue is written when the text changes, the last one on close. `frame_s`: the time one
    processed frame covers (the source's frame time x the stride)."""

    def __init__(self, path: Path, fmt: str, frame_s: float = 1 / 30) -> None:
        self.path, self.frame_s = path, frame_s
        self.cues = CueWriter(path, fmt)
        self.cue: tuple[str, float] | None = None
        self.last_time = 0.0

    def _flush(self, end: float) -> None:
        if self.cue is None:
            return
        text, start = self.cue
        self.cues.write(start, max(end, start + 0.04), text)
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
        self.cues.close()

    def abort(self) -> None:
        self.cues.abort()


class TextSink(Sink):
    """Plain transcript: a timestamped line each time the text on screen changes."""

    def __init__(self, path: Path) -> None:
        self.handle = TextOutput(path)
        self.previous = ""

    def write(self, result: FrameResult, annotated=None) -> None:
        text = result.text
        if text and text != self.previous:
            self.handle.write(f"[{_stamp(result.time_s, '.')}] {text}\n")
        self.previous = text

    def close(self) -> None:
        self.handle.close()

    def abort(self) -> None:
        self.handle.abort()


@dataclass
class TranscriptEntry:
    """One distinct line of text on screen: when it was first and last seen, in how many
    processed frames, its place in reading order in the frame it first appeared in (to order
    lines that appear together), and every spelling read for it (the most frequent one is
    written)."""

    first_s: float
    last_s: float
    order: int = 0
    frames: int = 0
    spellings: Counter = field(default_factory=Counter)

    @property
    def text(self) -> str:
        return self.spellings.most_common(1)[0][0]  # ties: the first spelling seen


def _line_key(words) -> str:
    """A line's identity across spellings: its words in the benchmark protocol's form."""
    return " ".join(protocol_text(w.text) or w.text for w in words)


def _is_part_of(part: str, whole: str) -> bool:
    """Whether the words of `part` are a run of consecutive words of `whole` (a line that
    lost a word for a while, or had not yet gained one)."""
    a, b = part.split(), whole.split()
    return len(a) < len(b) and any(b[i:i + len(a)] == a for i in range(len(b) - len(a) + 1))


class TrackTranscriptSink(Sink):
    """SRT, WebVTT or plain text with one cue per line of text while it is on screen: the words
    of each frame are grouped into lines in reading order (top to bottom, each left to right,
    `engocr.realtime.lines`), the fragments of a word merged into it, and each distinct line
    is listed once, from its first to its last time on screen (with tracking, the reading of
    a word is stable across frames).

    An entry ends once its line has been off screen for `linger_s`; near-duplicates ("EXIT" /
    "EXlT") that overlap in time are merged into one, which is written in its most frequent
    spelling, and so is a line that is a run of the words of a longer one on screen with it
    (a word missed for a while). Entries shorter than `min_cue_s` (one-frame flashes of a
    misreading) are not written. Cues are written in order of their start time (lines that
    appear together top to bottom), as soon as no line still on screen started earlier, so
    the file is valid at every moment of a long run; a line that stays on screen longer than
    `max_cue_s` is written as consecutive cues, so that it holds back the others (and the
    memory they take) for no longer than that. `frame_s`: the time one processed frame covers
    (the source's frame time x the stride)."""

    def __init__(self, path, fmt: str, linger_s: float = 2.0, frame_s: float = 1 / 30,
                 min_cue_s: float = 0.3, max_cue_s: float = 10.0) -> None:
        self.linger_s, self.frame_s, self.min_cue_s = linger_s, frame_s, min_cue_s
        self.max_cue_s = max_cue_s
        self.cues = CueWriter(path, fmt)
        self.pending: dict[str, TranscriptEntry] = {}
        self.finished: list[TranscriptEntry] = []

    def write(self, result: FrameResult, annotated=None) -> None:
        now = result.time_s
        seen = set()
        for order, (text, words) in enumerate(line_texts(result.words)):
            key = _line_key(words)
            entry = self.pending.setdefault(key, TranscriptEntry(now, now, order))
            entry.spellings[text] += 1
            if key not in seen:
                entry.last_s, entry.frames = now, entry.frames + 1
                seen.add(key)
        for key in [k for k, e in self.pending.items() if now - e.last_s > self.linger_s]:
            self._finish(key)
        for entry in self.pending.values():
            if entry.last_s == now and now - entry.first_s >= self.max_cue_s:
                # Still on screen: a cue up to this frame, and the line goes on from here.
                self.finished.append(TranscriptEntry(entry.first_s, now - self.frame_s,
                                                     entry.order, entry.frames,
                                                     Counter(entry.spellings)))
                entry.first_s, entry.frames = now, 1
        self._write_ready()

    def _finish(self, key: str) -> None:
        entry = self.pending.pop(key)
        for other_key, other in self.pending.items():
            close = edit_distance(key, other_key) <= max(1, len(key) // 5)
            overlap = entry.first_s <= other.last_s + self.linger_s and \
                other.first_s <= entry.last_s + self.linger_s
            if overlap and (close or _is_part_of(key, other_key)):
                # Fold the variant (or the line missing a word) into the other.
                other.first_s = min(other.first_s, entry.first_s)
                other.last_s = max(other.last_s, entry.last_s)
                other.frames += entry.frames
                if close:
                    other.spellings.update(entry.spellings)
                return
        if entry.last_s - entry.first_s + self.frame_s >= self.min_cue_s - 1e-9:
            self.finished.append(entry)

    def _write_ready(self, final: bool = False) -> None:
        """Write the finished entries that no line still on screen started before."""
        horizon = float("inf") if final else \
            min((e.first_s for e in self.pending.values()), default=float("inf"))
        self.finished.sort(key=lambda e: (e.first_s, e.order, e.text))
        while self.finished and self.finished[0].first_s <= horizon:
            entry = self.finished.pop(0)
            self.cues.write(entry.first_s, entry.last_s + self.frame_s, entry.text)

    def close(self) -> None:
        # Shortest-lived first, so that a variant folds into the line it misspells.
        for key in sorted(self.pending, key=lambda k: (self.pending[k].frames, k)):
            if key in self.pending:
                self._finish(key)
        self._write_ready(final=True)
        self.cues.close()

    def abort(self) -> None:
        self.cues.abort()


class VideoSink(Sink):
    """Annotated H.264 MP4 through imageio-ffmpeg (OpenCV's mp4v as the fallback), written
    into a part file that is moved into place when the run ends. MP4 and MOV are fragmented,
    so even a part file whose encoder was killed plays up to its last fragment."""

    def __init__(self, path: Path, fps: float) -> None:
        path = Path(path)
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise OutputError(f"{path}: cannot open a video writer for this file type (use "
                              f"{', '.join(VIDEO_SUFFIXES)})")
        self.path, self.fps = path, fps
        self.file = PartFile(path, suffix=path.suffix)
        self.writer = None
        self.cv_writer = None

    def _open(self, frame: np.ndarray) -> None:
        target = str(self.file.part)
        fragmented = self.path.suffix.lower() in (".mp4", ".m4v", ".mov")
        # A fragment (playable on its own) starts at each keyframe, one every 2 s, and is
        # written out at once.
        params = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                  "-g", str(max(1, round(2 * self.fps))), "-flush_packets", "1"] \
            if fragmented else None
        try:
            import imageio.v2 as iio

            self.writer = iio.get_writer(target, format="FFMPEG", fps=self.fps,
                                         codec="libx264", macro_block_size=2, quality=7,
                                         ffmpeg_log_level="error", ffmpeg_params=params)
        except Exception:  # no ffmpeg binary: fall back to OpenCV's own encoder
            h, w = frame.shape[:2]
            self.cv_writer = cv2.VideoWriter(target, cv2.VideoWriter_fourcc(*"mp4v"),
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

    def _finish(self) -> bool:
        """Close the encoder; whether it had written anything."""
        wrote = self.writer is not None or self.cv_writer is not None
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.close()
            except (OSError, BrokenPipeError, RuntimeError) as exc:
                raise OutputError(f"{self.path}: could not finish the video ({exc})") from None
        if self.cv_writer is not None:
            self.cv_writer.release()
            self.cv_writer = None
        return wrote

    def close(self) -> None:
        try:
            wrote = self._finish()
        finally:
            if not self.file.part.exists() or self.file.part.stat().st_size == 0:
                wrote = False
        if wrote:  # the part file (even a partial one) replaces the target
            self.file.commit()
        else:  # no frame: an existing file stays as it was
            self.file.discard()

    def abort(self) -> None:
        try:
            self._finish()
        finally:
            self.file.discard()
