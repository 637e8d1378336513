"""Tracking on a synthetic moving-text clip: one track id per word, one read per change, one
transcript entry per distinct word with the right times."""

import cv2
import numpy as np
import pytest

from engocr.realtime.detector import boxes_to_quads
from engocr.realtime.reader import crop_boxes
from engocr.realtime.results import FrameResult, Word
from engocr.realtime.sinks import TrackTranscriptSink
from engocr.realtime.sources import Frame
from engocr.realtime.tracking import Tracker, TrackerConfig, TrackingReader, vote

WORDS = {"EXIT": (40, 60), "OPEN": (200, 150)}


def clip(n=20, change_at=12):
    """Two words drifting right; at `change_at` the second sign changes to SALE."""
    frames, truth = [], []
    for i in range(n):
        img = np.full((240, 320, 3), 90, np.uint8)
        boxes = []
        for word, (x, y) in WORDS.items():
            text = "SALE" if word == "OPEN" and i >= change_at else word
            x = x + 2 * i
            cv2.rectangle(img, (x - 6, y - 30), (x + 90, y + 8), (230, 230, 230), -1)
            cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_DUPLEX, 1.0, (0, 0, 0), 2)
            boxes.append(((x - 4, y - 26, x + 86, y + 6), text))
        frames.append(Frame(i, i / 10, img))
        truth.append(boxes)
    return frames, truth


class FakeReader:
    """Stands in for the TFLite models: detection from the clip's truth, recognition by
    matching crops against the clip's known words, counting every recognizer call."""

    oriented = False

    def __init__(self, truth):
        self.truth, self.calls, self.current = truth, 0, 0

    def detect(self, image, timings=None):
        boxes = np.array([b for b, _ in self.truth[self.current]], np.float32)
        return boxes, np.ones(len(boxes), np.float32), boxes_to_quads(boxes)

    def read_boxes(self, image, boxes, timings=None, quads=None):
        crops = crop_boxes(image, boxes)
        self.calls += len(crops)
        texts = []
        for crop in crops:
            best = min(("EXIT", "OPEN", "SALE"), key=lambda w: _distance(crop, w))
            texts.append(best)
        return texts, np.full(len(crops), 0.95, np.float32)

    def accepts(self, text, conf):
        return bool(text.strip())


def _distance(crop, word):
    ref = np.full((32, 90, 3), 230, np.uint8)
    cv2.putText(ref, word, (4, 26), cv2.FONT_HERSHEY_DUPLEX, 1.0, (0, 0, 0), 2)
    a = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (90, 32)).astype(float)
    return np.abs(a - cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY)).mean()


def test_one_track_per_word_and_reads_only_on_change(tmp_path):
    frames, truth = clip()
    fake = FakeReader(truth)
    reader = TrackingReader(fake, TrackerConfig(reread_every=100))
    sink = TrackTranscriptSink(tmp_path / "t.srt", "srt", linger_s=0.5, frame_s=0.1)
    ids = {}
    for frame in frames:
        fake.current = frame.index
        result = reader(frame)
        sink.write(result)
        for word in result.words:
            ids.setdefault(word.text, set()).add(word.track_id)
    sink.close()
    assert ids["EXIT"] == {1} and len(ids["OPEN"] | ids["SALE"]) == 1  # one id per sign
    # Two first reads, plus one when the sign's content changed (not one per frame).
    assert fake.calls <= 4, fake.calls
    srt = (tmp_path / "t.srt").read_text()
    assert srt.count("EXIT") == 1 and srt.count("OPEN") == 1 and srt.count("SALE") == 1
    assert "00:00:00,000 --> 00:00:02,000\nEXIT" in srt
    assert "00:00:00,000 --> 00:00:01,200\nOPEN" in srt
    assert "00:00:01,200 --> 00:00:02,000\nSALE" in srt


def test_vote_outvotes_a_misread_letter():
    assert vote([("EXIT", 0.9), ("EXlT", 0.6), ("EXIT", 0.8)])[0] == "EXIT"
    assert vote([("EXIT", 0.9), ("EXI", 0.95)])[0] == "EXI"
    assert vote([])[0] == ""


def test_tracks_end_after_missing_frames():
    tracker = Tracker(TrackerConfig(max_missed=2))
    frame = np.zeros((100, 100, 3), np.uint8)
    tracker.update(0, 0.0, frame, np.array([[10, 10, 50, 30]], np.float32), np.ones(1))
    for i in range(1, 4):
        tracker.update(i, i / 10, frame, np.zeros((0, 4), np.float32), np.zeros(0))
    assert [t.id for t in tracker.pop_ended()] == [1] and tracker.tracks == []


def test_transcript_merges_near_duplicates(tmp_path):
    sink = TrackTranscriptSink(tmp_path / "t.txt", "txt", linger_s=1.0, frame_s=0.1)
    for i, text in enumerate(["EXlT", "EXIT", "EXIT", "EXIT", "EXIT"]):
        sink.write(FrameResult([Word((0, 0, 10, 10), text, 0.9, track_id=1)], i, i / 10))
    sink.close()
    assert (tmp_path / "t.txt").read_text().splitlines() == \
        ["[00:00:00.000 - 00:00:00.500] EXIT"]


@pytest.mark.parametrize("det_every", [1, 3])
def test_detect_every_n_frames_keeps_tracks(det_every):
    frames, truth = clip(n=9, change_at=100)
    fake = FakeReader(truth)
    reader = TrackingReader(fake, TrackerConfig(reread_every=100), det_every=det_every)
    for frame in frames:
        fake.current = frame.index
        result = reader(frame)
        assert sorted(w.text for w in result.words) == ["EXIT", "OPEN"]


def test_unsure_reading_is_retried_every_few_frames_until_the_vote_is_full():
    frames, truth = clip(n=17, change_at=100)  # both signs stay whole in the frame
    fake = FakeReader(truth)
    unsure = fake.read_boxes

    def low_confidence(image, boxes, timings=None, quads=None):
        texts, _ = unsure(image, boxes, timings)
        return texts, np.full(len(texts), 0.5, np.float32)

    fake.read_boxes = low_confidence
    config = TrackerConfig(reread_every=100, low_conf_every=3, history=4)
    reader = TrackingReader(fake, config)
    for frame in frames:
        fake.current = frame.index
        reader(frame)
    # Per word: the first read and 3 retries (frames 0, 3, 6, 9), then no more: 8 in all,
    # not one a frame (34).
    assert fake.calls == 8, fake.calls


def _word(text: str, i: int) -> FrameResult:
    return FrameResult([Word((0, 0, 10, 10), text, 0.9, track_id=1)], i, i / 10)


def test_transcript_writes_the_most_frequent_spelling(tmp_path):
    """A spelling seen first but less often ("iGN") loses to the frequent one ("IGN")."""
    sink = TrackTranscriptSink(tmp_path / "t.txt", "txt", linger_s=1.0, frame_s=0.1)
    for i, text in enumerate(["iGN"] * 3 + ["IGN"] * 8):
        sink.write(_word(text, i))
    sink.close()
    assert (tmp_path / "t.txt").read_text().splitlines() == \
        ["[00:00:00.000 - 00:00:01.100] IGN"]


def test_transcript_cues_are_in_time_order_without_flashes(tmp_path):
    """A one-frame misreading is no cue, and a long-lived text that started first is written
    before a short one that ended earlier."""
    sink = TrackTranscriptSink(tmp_path / "t.srt", "srt", linger_s=0.5, frame_s=0.1)
    for i in range(40):
        words = [Word((0, 0, 10, 10), "PARKING", 0.9, track_id=1)]
        if 5 <= i < 10:
            words.append(Word((0, 20, 10, 30), "OPEN", 0.9, track_id=2))
        if i == 12:
            words.append(Word((0, 40, 10, 50), "QXZW", 0.9, track_id=3))
        sink.write(FrameResult(words, i, i / 10))
    sink.close()
    srt = (tmp_path / "t.srt").read_text()
    assert "QXZW" not in srt
    assert srt.index("PARKING") < srt.index("OPEN")
    assert "1\n00:00:00,000 --> 00:00:04,000\nPARKING" in srt
    assert "2\n00:00:00,500 --> 00:00:01,000\nOPEN" in srt


def test_transcript_times_count_the_stride(tmp_path):
    """At stride 25 of a 25 fps video one processed frame covers a second, not 1/25 s."""
    sink = TrackTranscriptSink(tmp_path / "t.srt", "srt", frame_s=25 / 25)
    sink.write(FrameResult([Word((0, 0, 10, 10), "EXIT", 0.9)], 700, 28.0))
    sink.close()
    assert "00:00:28,000 --> 00:00:29,000\nEXIT" in (tmp_path / "t.srt").read_text()


def test_a_text_on_screen_all_along_does_not_hold_back_the_transcript(tmp_path):
    """A sign that never leaves is written as consecutive cues, so the texts that came and went
    beside it reach the file during the run, not at its end."""
    path = tmp_path / "t.txt"
    sink = TrackTranscriptSink(path, "txt", linger_s=0.5, frame_s=0.1, max_cue_s=2.0)
    for i in range(60):
        words = [Word((0, 0, 10, 10), "EXIT", 0.9, track_id=1)]
        if 5 <= i < 10:
            words.append(Word((0, 20, 10, 30), "OPEN", 0.9, track_id=2))
        sink.write(FrameResult(words, i, i / 10))
    written = path.read_text().splitlines()  # before close: the run is still going
    assert "[00:00:00.500 - 00:00:01.000] OPEN" in written
    assert written[0] == "[00:00:00.000 - 00:00:02.000] EXIT"
    sink.close()
    lines = path.read_text().splitlines()
    assert [line.split("] ")[1] for line in lines].count("EXIT") == 3 and len(lines) == 4


def test_tracker_does_not_keep_every_ended_track():
    from engocr.realtime.tracking import ENDED_KEPT

    tracker = Tracker(TrackerConfig(max_missed=0))
    frame = np.zeros((100, 100, 3), np.uint8)
    none = np.zeros((0, 4), np.float32)
    for i in range(0, 2 * ENDED_KEPT + 10, 2):  # a new word every other frame, gone the next
        tracker.update(i, i / 10, frame, np.array([[10, 10, 50, 30]], np.float32), np.ones(1))
        tracker.update(i + 1, (i + 1) / 10, frame, none, np.zeros(0))
    assert len(tracker.ended) == ENDED_KEPT


def _frames_of(layouts: list[list[tuple[str, tuple]]], sink, track_ids: bool = True) -> None:
    """Each layout is one frame's words (text, box), given in scrambled order."""
    for i, layout in enumerate(layouts):
        words = [Word(box, text, 0.9, track_id=n + 1 if track_ids else None)
                 for n, (text, box) in enumerate(layout)]
        sink.write(FrameResult(words, i, i / 10))
    sink.close()


# "MEGA MAN" over "LEGACY COLLECTION 2", a date beside it, far to the right; words listed by
# letter, as a tracker's ids or a detector's scores may give them.
MEGAMAN = [("2", (330, 60, 350, 90)), ("28.APR.17", (600, 20, 700, 34)),
           ("COLLECTION", (150, 60, 320, 90)), ("LEGACY", (20, 60, 140, 90)),
           ("MAN", (130, 10, 230, 50)), ("MEGA", (20, 10, 120, 50))]


def test_transcript_is_one_cue_per_line_in_reading_order(tmp_path):
    sink = TrackTranscriptSink(tmp_path / "t.txt", "txt", linger_s=0.5, frame_s=0.1)
    _frames_of([MEGAMAN] * 10, sink)
    assert [line.split("] ")[1] for line in (tmp_path / "t.txt").read_text().splitlines()] \
        == ["MEGA MAN", "28.APR.17", "LEGACY COLLECTION 2"]


def test_transcript_merges_the_fragments_of_a_word(tmp_path):
    """A word found whole in some frames and in two overlapping pieces in others ("COLLEC" +
    "LECTION", sometimes beside the whole reading too) is one word of one cue."""
    whole = [w for w in MEGAMAN if w[0] != "28.APR.17"]
    pieces = [w for w in whole if w[0] != "COLLECTION"] + [("COLLEC", (150, 62, 250, 90)),
                                                         ("LECTION", (205, 60, 320, 88))]
    both = whole + pieces[-2:]
    sink = TrackTranscriptSink(tmp_path / "t.srt", "srt", linger_s=0.5, frame_s=0.1)
    _frames_of([whole, pieces, both, pieces, whole, whole, pieces, both] * 2, sink)
    srt = (tmp_path / "t.srt").read_text()
    assert srt == ("1\n00:00:00,000 --> 00:00:01,600\nMEGA MAN\n\n"
                   "2\n00:00:00,000 --> 00:00:01,600\nLEGACY COLLECTION 2\n\n")


def test_a_line_that_loses_a_word_for_a_while_stays_one_cue(tmp_path):
    line = [("Stable", (120, 10, 220, 40)), ("Text", (230, 10, 300, 40)),
            ("Some", (20, 10, 110, 40))]
    sink = TrackTranscriptSink(tmp_path / "t.txt", "txt", linger_s=0.5, frame_s=0.1)
    _frames_of([line] * 5 + [line[:2]] * 5 + [line] * 5, sink)
    assert (tmp_path / "t.txt").read_text().splitlines() == \
        ["[00:00:00.000 - 00:00:01.500] Some Stable Text"]


def test_lines_in_reading_order_by_geometry():
    from engocr.realtime.lines import text_lines

    words = [Word(box, text, 0.9) for text, box in [
        ("right", (400, 12, 480, 38)), ("column", (490, 10, 580, 40)),  # a second column
        ("left", (10, 10, 80, 40)), ("column", (90, 14, 180, 42)),
        ("below", (10, 60, 90, 90)), ("TITLE", (10, 100, 400, 190))]]  # too tall for a row
    assert [" ".join(w.text for w in line) for line in text_lines(words)] == \
        ["left column", "right column", "below", "TITLE"]
    assert FrameResult(words).text == "left column right column below TITLE"
