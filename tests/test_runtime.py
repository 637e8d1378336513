"""Runtime pieces on real TFLite files built by the tests: engine, cards, reader, sources,
sinks and the frame loop."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engocr.errors import InputError, ModelError, OutputError
from engocr.realtime.card import ModelCard
from engocr.realtime.engine import TFLiteEngine
from engocr.realtime.loop import run
from engocr.realtime.reader import Reader
from engocr.realtime.results import FrameResult, Word
from engocr.realtime.sinks import JsonlSink, SubtitleSink, TextSink, VideoSink
from engocr.realtime.sources import LiveSource, open_source


@pytest.fixture(scope="module")
def reader(tiny_models):
    return Reader(tiny_models["det"], tiny_models["rec"], threads=1)


def write_video(path, frames=12, size=(160, 120)):
    import imageio.v2 as iio

    with iio.get_writer(str(path), fps=10, codec="libx264", macro_block_size=2,
                        ffmpeg_log_level="error") as writer:
        for i in range(frames):
            img = np.full((size[1], size[0], 3), (40 + 10 * i) % 256, np.uint8)
            cv2.putText(img, f"F{i}", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
            writer.append_data(img)
    return path


def test_engine_resizes_batch_and_keeps_outputs(tiny_models):
    engine = TFLiteEngine(tiny_models["rec"], threads=1)
    for batch in (1, 5, 16):
        out = engine.run(np.zeros((batch, 32, 64, 1), np.float32))[0]
        assert out.shape == (batch, 16, 96)


def test_engine_rejects_non_models(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="not a TFLite model"):
        TFLiteEngine(bad)
    with pytest.raises(ModelError, match="not found"):
        TFLiteEngine(tmp_path / "missing.tflite")


def test_card_mismatch_is_caught(tiny_models, tmp_path):
    import shutil

    model = tmp_path / "rec.tflite"
    shutil.copy(tiny_models["rec"], model)
    card = ModelCard.load(tiny_models["rec"].with_suffix(".json"))
    card.input_width = 128
    card.save(model.with_suffix(".json"))
    with pytest.raises(ModelError, match="card says"):
        Reader(tiny_models["det"], model)
    model.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="card missing"):
        Reader(tiny_models["det"], model)
    with pytest.raises(ModelError, match="expected a recognizer"):
        Reader(tiny_models["det"], tiny_models["det"])


def test_read_gives_schema_words(reader):
    frame = np.full((240, 320, 3), 255, np.uint8)
    cv2.putText(frame, "HELLO", (20, 120), cv2.FONT_HERSHEY_DUPLEX, 2, (0, 0, 0), 3)
    result = reader.read(frame, frame=3, time_s=0.1)
    assert isinstance(result, FrameResult) and result.frame == 3
    assert {"detect", "nms", "crop"} <= set(result.timings)
    d = result.to_dict()
    assert d["frame"] == 3 and d["time_s"] == 0.1
    assert d["words"], "the test detector fires everywhere: words must be found"
    for word in d["words"]:
        (x1, y1), (x2, y2), (x3, y3), (x4, y4) = word["quad"]
        assert x1 < x2 and y2 < y3 and x3 > x4 and y1 == y2 and x1 == x4  # clockwise from TL
        assert 0 <= x1 <= 320 and 0 <= y3 <= 240
        assert isinstance(word["text"], str) and 0 <= word["conf"] <= 1


def test_recognize_crops(reader):
    crops = [np.full((20, 60, 3), 200, np.uint8), np.zeros((10, 10), np.uint8)]
    texts = reader.recognize(crops)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_narrow_crops_are_widened_to_the_models_min_aspect():
    """A foreshortened word (a sign seen from the side) is widened to `min_aspect` x its
    height; wider crops, and every crop at min_aspect 0, keep their proportions."""
    from engocr.preprocess import crop_to_input

    narrow = np.full((40, 30, 3), 255, np.uint8)
    narrow[5:35, 3:27] = 0  # ink across the whole crop
    for aspect, ink in ((0.0, 24), (2.0, 64), (2.5, 80)):
        columns = (crop_to_input(narrow, 32, 128, aspect) < 128).any(axis=0)
        assert columns.sum() == pytest.approx(ink * 24 / 30, abs=2)
        assert not columns[ink:].any()  # the rest is padding in the crop's edge colour
    wide = np.random.default_rng(0).integers(0, 255, (40, 120, 3), np.uint8)
    np.testing.assert_array_equal(crop_to_input(wide, 32, 128, 2.0), crop_to_input(wide, 32, 128))
    assert crop_to_input(np.zeros((10, 4000), np.uint8), 32, 128, 2.0).shape == (32, 128)


def test_narrow_crops_read_both_ways_keep_the_surer_reading(reader):
    """Card `narrow_crops` "both": a narrow crop's reading is the surer of the crop as it is
    and widened; a wide crop is read once, as it is."""
    rng = np.random.default_rng(3)
    crops = [rng.integers(0, 255, (40, w, 3), np.uint8) for w in (20, 30, 50, 200)]
    card = reader.recognizer.card
    readings = []
    try:
        for aspect, mode in ((0.0, "widen"), (2.0, "widen"), (2.0, "both")):
            card.min_aspect, card.narrow_crops = aspect, mode
            readings.append(reader.recognizer(crops))
    finally:  # the reader is shared with the other tests
        card.min_aspect, card.narrow_crops = 0.0, "widen"
    (plain, plain_conf), (wide, wide_conf), (both, both_conf) = readings
    surer = range(3)  # the three narrower than 2x their height
    for i in surer:
        pick = (wide, wide_conf) if wide_conf[i] > plain_conf[i] else (plain, plain_conf)
        assert (both[i], both_conf[i]) == (pick[0][i], pick[1][i])
    assert (both[3], both_conf[3]) == (plain[3], plain_conf[3]) == (wide[3], wide_conf[3])
    assert any(wide_conf[i] != plain_conf[i] for i in surer)  # widening changed something


@pytest.mark.parametrize("make", [
    lambda: np.zeros((60, 80), np.uint8),  # grayscale
    lambda: np.zeros((60, 80, 4), np.uint8),  # RGBA
    lambda: np.zeros((60, 80, 3), np.uint16),  # 16-bit
    lambda: np.zeros((1, 1, 3), np.uint8),  # 1x1
])
def test_odd_images_are_read(reader, tmp_path, make):
    path = tmp_path / "odd.png"
    cv2.imwrite(str(path), make())
    assert isinstance(reader.read(path), FrameResult)


def test_huge_image_is_read(reader):
    assert isinstance(reader.read(np.zeros((8000, 8000, 3), np.uint8)), FrameResult)


def test_bad_image_files(reader, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        reader.read(empty)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(InputError, match="not a readable image"):
        reader.read(corrupt)
    with pytest.raises(InputError, match="no such file"):
        reader.read(tmp_path / "missing.png")


def test_sources_images_folder_glob(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((10, 10, 3), np.uint8))
    assert len(list(open_source(str(tmp_path / "0.png")))) == 1
    assert [f.name for f in open_source(str(tmp_path))] == ["0.png", "1.png", "2.png"]
    assert len(list(open_source(str(tmp_path / "*.png")))) == 3
    with pytest.raises(InputError, match="no images match"):
        open_source(str(tmp_path / "*.jpg"))


def test_video_source_every_frame_and_stride(tmp_path):
    path = write_video(tmp_path / "v.mp4")
    frames = list(open_source(str(path)))
    assert [f.index for f in frames] == list(range(12))
    assert frames[5].time_s == pytest.approx(0.5)
    assert [f.index for f in open_source(str(path), stride=4)] == [0, 4, 8]


def test_bad_video_sources(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_source(str(empty))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)
    with pytest.raises(InputError, match="not a readable video"):
        open_source(str(junk))
    with pytest.raises(InputError, match="cannot open"):
        open_source("97")  # no such camera
    with pytest.raises(InputError):
        open_source("http://127.0.0.1:9/stream.mjpg")  # nothing listens on port 9


def test_live_source_keeps_newest_frame_and_ends(tmp_path):
    path = write_video(tmp_path / "live.mp4", frames=30)
    source = LiveSource(str(path), timeout_s=1.0)
    got = []
    for frame in source:
        got.append(frame.index)
        import time

        time.sleep(0.05)  # a slow consumer: the capture thread drops stale frames
    source.close()
    assert 1 <= len(got) < 30


def _result(i, text):
    words = [Word((10, 10, 50, 20), t, 0.9) for t in text.split()] if text else []
    return FrameResult(words=words, frame=i, time_s=i / 10)


def test_sinks_write_schema(tmp_path):
    sinks = [JsonlSink(tmp_path / "o.jsonl"), SubtitleSink(tmp_path / "o.srt", "srt", 0.1),
             SubtitleSink(tmp_path / "o.vtt", "vtt", 0.1), TextSink(tmp_path / "o.txt")]
    texts = ["", "EXIT", "EXIT", "OPEN", "OPEN", ""]
    for i, t in enumerate(texts):
        for s in sinks:
            s.write(_result(i, t), None)
    for s in sinks:
        s.close()
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(6))
    assert lines[1]["words"][0] == {"quad": [[10, 10], [50, 10], [50, 20], [10, 20]],
                                    "text": "EXIT", "conf": 0.9}
    srt = (tmp_path / "o.srt").read_text()
    assert "1\n00:00:00,100 --> 00:00:00,300\nEXIT" in srt
    assert "2\n00:00:00,300 --> 00:00:00,500\nOPEN" in srt
    vtt = (tmp_path / "o.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "00:00:00.100 --> 00:00:00.300\nEXIT" in vtt
    assert (tmp_path / "o.txt").read_text().splitlines() == ["[00:00:00.100] EXIT",
                                                             "[00:00:00.300] OPEN"]


def test_unwritable_outputs(tmp_path):
    """Outputs fail before the first frame where they cannot be written; a missing folder is
    created instead."""
    with pytest.raises(OutputError, match="cannot write"):
        JsonlSink(Path("/proc/o.jsonl"))
    with pytest.raises(OutputError, match="cannot write"):
        VideoSink(Path("/proc/o.mp4"), 30)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        JsonlSink(blocker / "o.jsonl")
    JsonlSink(tmp_path / "new" / "o.jsonl").close()
    assert (tmp_path / "new" / "o.jsonl").exists()


def test_loop_writes_video_and_closes_on_interrupt(reader, tmp_path):
    path = write_video(tmp_path / "in.mp4", frames=10)
    jsonl = JsonlSink(tmp_path / "o.jsonl")
    video = VideoSink(tmp_path / "o.mp4", 10)
    calls = []

    def process(frame):
        calls.append(frame.index)
        if frame.index == 6:
            raise KeyboardInterrupt
        return reader.read(frame.image, frame.index, frame.time_s)

    stats = run(open_source(str(path)), process, [jsonl, video])
    assert stats.interrupted and stats.frames == 6
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 6
    written = list(open_source(str(tmp_path / "o.mp4")))
    assert len(written) == 6 and written[0].image.shape == (120, 160, 3)


def test_a_ctrl_c_that_numba_wraps_still_ends_the_loop_as_an_interrupt(reader, tmp_path):
    """numba re-raises a KeyboardInterrupt that lands inside a jitted call as a SystemError
    chained to it (seen in CI): the loop keeps what it wrote, as for a plain Ctrl-C; any other
    SystemError is not swallowed."""
    from engocr.errors import caused_by_interrupt

    path = write_video(tmp_path / "in.mp4", frames=6)
    jsonl = JsonlSink(tmp_path / "o.jsonl")

    def process(frame):
        if frame.index == 3:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as exc:
                raise SystemError("CPUDispatcher returned a result with an exception set") \
                    from exc
        return reader.read(frame.image, frame.index, frame.time_s)

    stats = run(open_source(str(path)), process, [jsonl])
    assert stats.interrupted and stats.frames == 3
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 3

    def broken(frame):
        raise SystemError("a real one")

    with pytest.raises(SystemError, match="a real one"):
        run(open_source(str(path)), broken, [JsonlSink(tmp_path / "p.jsonl")])
    assert not caused_by_interrupt(ValueError("x")) and not caused_by_interrupt(None)


def test_truncated_video_keeps_what_was_read(reader, tmp_path):
    # Motion-JPEG AVI streams frame by frame (an MP4's index sits at its end), so a cut file
    # still holds readable frames, like a recording that was interrupted.
    path = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(40):
        writer.write(np.random.default_rng(i).integers(0, 255, (240, 320, 3), np.uint8))
    writer.release()
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    try:
        source = open_source(str(cut))
    except InputError:
        pytest.skip("this FFmpeg build refuses the truncated file outright (also a clean end)")
    jsonl = JsonlSink(tmp_path / "o.jsonl")
    stats = run(source, lambda f: reader.read(f.image, f.index, f.time_s), [jsonl])
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert 0 < stats.frames < 40
    assert len(lines) == stats.frames and all(json.loads(x)["frame"] >= 0 for x in lines)


def test_silent_stream_times_out():
    """A server on this machine that accepts the connection and never answers."""
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    start = time.monotonic()
    try:
        with pytest.raises(InputError, match="cannot open|no frame"):
            open_source(f"http://127.0.0.1:{port}/stream.mjpg")
    finally:
        server.close()
    assert time.monotonic() - start < 30


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_is_one_clear_error(reader, tmp_path):
    path = write_video(tmp_path / "in.mp4", frames=3)
    with pytest.raises(OutputError, match="No space left"):
        run(open_source(str(path)), lambda f: reader.read(f.image, f.index, f.time_s),
            [JsonlSink(__import__("pathlib").Path("/dev/full"))])


def test_stats_panel_moves_off_the_words():
    from engocr.realtime.overlay import _panel_corner

    assert _panel_corner((480, 640), (150, 120), []) == (0, 0)
    word_top_left = [(10, 10, 200, 60)]
    assert _panel_corner((480, 640), (150, 120), word_top_left) == (490, 0)


def test_readings_under_the_cards_min_conf_are_dropped_unless_asked_for(tiny_models, tmp_path):
    import shutil

    frame = np.full((240, 320, 3), 255, np.uint8)
    cv2.putText(frame, "HELLO", (20, 120), cv2.FONT_HERSHEY_DUPLEX, 2, (0, 0, 0), 3)
    everything = Reader(tiny_models["det"], tiny_models["rec"], threads=1, min_conf=0.0)
    confs = sorted(w.conf for w in everything.read(frame).words)
    assert len(confs) >= 2 and confs[0] < confs[-1]
    cut = float(np.median(confs))
    rec = shutil.copy(tiny_models["rec"], tmp_path / "rec.tflite")
    card = ModelCard.load(Path(tiny_models["rec"]).with_suffix(".json"))
    card.min_conf = cut
    card.save(tmp_path / "rec.json")
    by_card = Reader(tiny_models["det"], rec, threads=1)
    assert by_card.min_conf == cut
    assert sorted(w.conf for w in by_card.read(frame).words) == [c for c in confs if c >= cut]
    assert len(Reader(tiny_models["det"], rec, threads=1, min_conf=0.0).read(frame).words) == \
        len(confs)
