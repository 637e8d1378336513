"""The commands end-to-end on test-built models: outputs written, and every bad input gives
one clear line on stderr and a non-zero exit, never a traceback."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from engocr.cli import main
from tests.test_runtime import write_video


@pytest.fixture()
def models(tiny_models):
    return ["--det-model", str(tiny_models["det"]), "--rec-model", str(tiny_models["rec"]),
            "--threads", "1"]


def _one_error_line(capsys, code, expected_code, pattern):
    err = capsys.readouterr().err.strip().splitlines()
    assert code == expected_code
    assert len(err) == 1 and err[0].startswith("engocr: error:") and pattern in err[0], err


def test_image_json(models, tmp_path, capsys):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((120, 160, 3), 255, np.uint8))
    assert main(["image", str(img), "--json", *models]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["image"] == "a.png" and isinstance(out[0]["words"], list)


def test_image_bad_files_reported_and_others_still_read(models, tmp_path, capsys):
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    cv2.imwrite(str(good), np.zeros((40, 40, 3), np.uint8))
    bad.write_bytes(b"")
    code = main(["image", str(bad), str(good), *models])
    captured = capsys.readouterr()
    assert code == 2 and "good.png:" in captured.out
    assert "bad.jpg: file is empty" in captured.err
    # The same inside a folder: the bad file is reported, the good one still read.
    code = main(["image", str(tmp_path), *models])
    captured = capsys.readouterr()
    assert code == 2 and "good.png:" in captured.out and "bad.jpg" in captured.err


def test_video_all_outputs(models, tmp_path, capsys):
    src = write_video(tmp_path / "in.mp4", frames=8)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["video", str(src), "-o", str(out / "a.mp4"), "--jsonl", str(out / "a.jsonl"),
                 "--srt", str(out / "a.srt"), "--vtt", str(out / "a.vtt"),
                 "--txt", str(out / "a.txt"), *models])
    assert code == 0
    assert len((out / "a.jsonl").read_text().splitlines()) == 8
    assert (out / "a.vtt").read_text().startswith("WEBVTT")
    assert cv2.VideoCapture(str(out / "a.mp4")).read()[0]


def test_demo_writes_video_and_reports(models, tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert main(["demo", "--frames", "6", "--size", "320x240", "-o", str(out), *models]) == 0
    text = capsys.readouterr().out
    assert "drew:" in text and "FPS" in text and out.stat().st_size > 0


def test_bench_prints_stages(models, capsys):
    assert main(["bench", "--frames", "5", "--warmup", "1", "--size", "320x240", "--json",
                 *models]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["fps"] > 0 and {"detect", "recognize", "ctc", "nms"} <= set(figures["stages"])


@pytest.mark.parametrize("argv,code,pattern", [
    (["video", "missing.mp4", "--jsonl", "x.jsonl"], 2, "no such file"),
    (["video", "{empty}", "--jsonl", "x.jsonl"], 2, "empty"),
    (["video", "{junk}", "--jsonl", "x.jsonl"], 2, "not a readable video"),
    (["video", "{video}"], 2, "no output asked for"),
    (["video", "{video}", "-o", "/nonexistent/dir/o.mp4"], 4, "does not exist"),
    (["video", "{video}", "--jsonl", "/nonexistent/o.jsonl"], 4, "does not exist"),
    (["cam", "--device", "97", "--no-window"], 2, "camera 97: cannot open"),
    (["video", "http://127.0.0.1:9/x.mjpg", "--jsonl", "x.jsonl"], 2, "127.0.0.1:9"),
])
def test_bad_inputs_one_line(models, tmp_path, capsys, monkeypatch, argv, code, pattern):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"\x01" * 4096)
    video = write_video(tmp_path / "v.mp4", frames=3)
    argv = [a.format(empty="empty.mp4", junk="junk.mp4", video=video) for a in argv]
    _one_error_line(capsys, main([*argv, *models]), code, pattern)


def test_bad_models_one_line(tiny_models, tmp_path, capsys):
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"PK\x03\x04 zip, not tflite")
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.zeros((20, 20, 3), np.uint8))
    code = main(["image", str(img), "--det-model", str(fake), "--rec-model",
                 str(tiny_models["rec"])])
    _one_error_line(capsys, code, 3, "card missing")
    fake.with_suffix(".json").write_text(tiny_models["det"].with_suffix(".json").read_text())
    code = main(["image", str(img), "--det-model", str(fake), "--rec-model",
                 str(tiny_models["rec"])])
    _one_error_line(capsys, code, 3, "not a TFLite model")
    code = main(["image", str(img), "--det-model", str(tmp_path / "none.tflite")])
    _one_error_line(capsys, code, 3, "not found")


def test_no_window_without_display(models, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _one_error_line(capsys, main(["cam", "--device", "0", *models]), 2, "no display")


def test_runtime_never_imports_tensorflow(tiny_models, tmp_path):
    code = ("import sys; from engocr.cli import build_parser; build_parser(); "
            "from engocr import Reader; "
            f"Reader({str(tiny_models['det'])!r}, {str(tiny_models['rec'])!r}); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "engocr", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("engocr ")


def test_video_without_tracking_follows_frames(models, tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=5)
    code = main(["video", str(src), "--no-track", "--jsonl", str(tmp_path / "a.jsonl"),
                 "--srt", str(tmp_path / "a.srt"), *models])
    assert code == 0
    records = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(5))
    assert all("track" not in w for r in records for w in r["words"])


def test_shipped_models_load_from_the_package():
    from engocr.realtime.reader import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, Reader

    assert DEFAULT_DETECTOR.exists() and DEFAULT_RECOGNIZER.exists()
    reader = Reader(threads=1)
    assert reader.detector.card.training_data and reader.recognizer.card.charset
    assert isinstance(reader.read(np.zeros((480, 640, 3), np.uint8)).words, list)
