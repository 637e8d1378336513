"""The tracked video reader and the transcripts built from tracks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engocr.charset import edit_distance, protocol_text
from engocr.realtime.reader import Reader, crop_boxes
from engocr.realtime.results import FrameResult, Word
from engocr.realtime.sinks import Sink, _open_text, _stamp
from engocr.realtime.sources import Frame
from engocr.realtime.tracking import Tracker, TrackerConfig


class TrackingReader:
    """Reader + Tracker: the recognizer runs only for tracks that need a (re-)read, and each
    word carries its track id and voted text. With `det_every` > 1 the detector runs every
    N-th frame and tracks coast on their velocity in between."""

    def __init__(self, reader: Reader, config: TrackerConfig | None = None,
                 det_every: int = 1) -> None:
        self.reader, self.tracker = reader, Tracker(config)
        self.det_every = max(1, det_every)
        self.rec_calls = 0

    def __call__(self, frame: Frame) -> FrameResult:
        image, timings = frame.image, {}
        if frame.index % self.det_every == 0 or not self.tracker.tracks:
            boxes, scores = self.reader.detect(image, timings)
            visible, to_read = self.tracker.update(frame.index, frame.time_s, image, boxes,
                                                   scores)
        else:
            visible, to_read = self.tracker.coast(frame.index, frame.time_s), []
        if to_read:
            crops = crop_boxes(image, np.array([t.box for t in to_read]))
            texts, confs = self.reader.recognizer(crops, timings)
            for track, text, conf in zip(to_read, texts, confs):
                self.tracker.add_reading(track, image, frame.index, text, float(conf))
        self.rec_calls += len(to_read)
        h, w = image.shape[:2]
        words = [Word(tuple(float(v) for v in np.clip(t.box, 0, [w, h, w, h])), t.text, t.conf,
                      t.det_score, track_id=t.id)
                 for t in visible if t.text.strip() and t.conf >= self.reader.min_conf]
        return FrameResult(words=words, frame=frame.index, time_s=frame.time_s, timings=timings)


@dataclass
class Entry:
    text: str
    first_s: float
    last_s: float
    frames: int = 1


class TrackTranscriptSink(Sink):
    """SRT, WebVTT or plain text listing each distinct piece of text once, with its first and
    last time on screen. An entry is written once its text has been off screen for
    `linger_s`; near-duplicates ("EXIT" / "EXlT") that overlap in time are merged first."""

    def __init__(self, path, fmt: str, linger_s: float = 2.0, frame_s: float = 1 / 30) -> None:
        self.fmt, self.linger_s, self.frame_s = fmt, linger_s, frame_s
        self.handle = _open_text(path)
        if fmt == "vtt":
            self.handle.write("WEBVTT\n\n")
        self.pending: dict[str, Entry] = {}
        self.count = 0

    def write(self, result: FrameResult, annotated=None) -> None:
        now = result.time_s
        for word in result.words:
            key = protocol_text(word.text) or word.text
            entry = self.pending.get(key)
            if entry is None:
                self.pending[key] = Entry(word.text, now, now)
            elif entry.last_s != now:
                entry.last_s, entry.frames = now, entry.frames + 1
        for key in [k for k, e in self.pending.items() if now - e.last_s > self.linger_s]:
            self._emit(key)

    def _emit(self, key: str) -> None:
        entry = self.pending.pop(key)
        for other_key, other in self.pending.items():
            close = edit_distance(key, other_key) <= max(1, len(key) // 5)
            overlap = entry.first_s <= other.last_s + self.linger_s and \
                other.first_s <= entry.last_s + self.linger_s
            if close and overlap:  # fold the variant into its near-duplicate
                other.first_s = min(other.first_s, entry.first_s)
                other.last_s = max(other.last_s, entry.last_s)
                if entry.frames > other.frames:
                    other.text = entry.text
                other.frames += entry.frames
                return
        self.count += 1
        end = entry.last_s + self.frame_s
        if self.fmt == "txt":
            self.handle.write(f"[{_stamp(entry.first_s, '.')} - {_stamp(end, '.')}] "
                              f"{entry.text}\n")
            return
        sep = "," if self.fmt == "srt" else "."
        number = f"{self.count}\n" if self.fmt == "srt" else ""
        self.handle.write(f"{number}{_stamp(entry.first_s, sep)} --> {_stamp(end, sep)}\n"
                          f"{entry.text}\n\n")

    def close(self) -> None:
        for key in sorted(self.pending, key=lambda k: (self.pending[k].frames, k)):
            if key in self.pending:
                self._emit(key)
        self.handle.close()
