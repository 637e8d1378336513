"""The commands end-to-end on test-built models: outputs written, and every bad input gives
one clear line on stderr and a non-zero exit, never a traceback."""

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from engocr.cli import main
from tests.test_runtime import write_video


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
    (["video", "{video}", "-o", "/proc/o.mp4"], 4, "cannot write"),
    (["video", "{video}", "--jsonl", "/proc/o.jsonl"], 4, "cannot write"),
    (["image", "{image}", "--annotate", "/proc"], 4, "cannot write"),
    (["cam", "--device", "97", "--no-window"], 2, "camera 97: cannot open"),
    (["video", "http://127.0.0.1:9/x.mjpg", "--jsonl", "x.jsonl"], 2, "127.0.0.1:9"),
])
def test_bad_inputs_one_line(models, tmp_path, capsys, monkeypatch, argv, code, pattern):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"\x01" * 4096)
    video = write_video(tmp_path / "v.mp4", frames=3)
    cv2.imwrite(str(tmp_path / "i.png"), np.zeros((40, 40, 3), np.uint8))
    argv = [a.format(empty="empty.mp4", junk="junk.mp4", video=video, image="i.png")
            for a in argv]
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


def _truncated_video(tmp_path):
    """The first half of a 40-frame mp4 whose index (at the front) still announces 40."""
    import imageio.v2 as iio

    full = tmp_path / "full.mp4"
    rng = np.random.default_rng(0)
    with iio.get_writer(str(full), fps=10, codec="libx264", macro_block_size=2,
                        ffmpeg_log_level="error", ffmpeg_params=["-movflags", "+faststart"]) as w:
        for _ in range(40):
            w.append_data((rng.random((96, 128, 3)) * 255).astype(np.uint8))
    data = full.read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[:len(data) // 2])
    return half


def test_truncated_video_keeps_what_it_read_and_fails(models, tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    code = main(["video", str(_truncated_video(tmp_path)), "--jsonl", str(out), *models])
    err = capsys.readouterr().err
    assert code == 2 and "ended early" in err and "of the 40 frames" in err
    lines = out.read_text().splitlines()
    assert 0 < len(lines) < 40 and all(json.loads(x)["frame"] >= 0 for x in lines)


@pytest.mark.parametrize("argv", [
    ["video", "v.mp4", "--jsonl", "x", "--score", "1.5"],
    ["video", "v.mp4", "--jsonl", "x", "--stride", "0"],
    ["video", "v.mp4", "--jsonl", "x", "--stride", "-1"],
    ["video", "v.mp4", "--jsonl", "x", "--det-every", "0"],
    ["demo", "--frames", "0"],
    ["bench", "--size", "0x480"],
    ["image", "a.png", "--det-size", "abc"],
])
def test_out_of_range_options_are_refused_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and ": error: argument" in err[0] and "expected" in err[0], err


def test_outputs_create_missing_folders(models, tmp_path):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.zeros((40, 40, 3), np.uint8))
    assert main(["image", str(img), "--annotate", str(tmp_path / "new" / "dir"), *models]) == 0
    assert (tmp_path / "new" / "dir" / "a.engocr.png").exists()
    src = write_video(tmp_path / "in.mp4", frames=3)
    assert main(["video", str(src), "--jsonl", str(tmp_path / "x" / "a.jsonl"), *models]) == 0
    assert (tmp_path / "x" / "a.jsonl").exists()


def test_stride_counts_in_transcript_times(models, tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=12)
    assert main(["video", str(src), "--stride", "5", "--jsonl", str(tmp_path / "a.jsonl"),
                 *models]) == 0
    records = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 5, 10]
    assert [r["time_s"] for r in records] == [0.0, 0.5, 1.0]


def test_every_option_has_help_and_shows_its_default():
    from engocr.cli import build_parser

    def walk(parser):
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                yield parser.prog, action
            for child in getattr(action, "choices", None) or {}:
                if isinstance(action.choices, dict):
                    yield from walk(action.choices[child])

    missing = [f"{prog} {a.option_strings[0]}" for prog, a in walk(build_parser())
               if not a.help]
    assert not missing, missing
    video = build_parser()._subparsers._group_actions[0].choices["video"].format_help()
    assert "(default: 1)" in " ".join(video.split())


def test_clean_run_prints_nothing_on_stderr(tiny_models, tmp_path):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.zeros((60, 80, 3), np.uint8))
    run = subprocess.run([sys.executable, "-m", "engocr", "image", str(img), "--det-model",
                          str(tiny_models["det"]), "--rec-model", str(tiny_models["rec"])],
                         capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr == "", run.stderr


def test_training_commands_without_the_extra_say_what_to_install(tmp_path):
    """On a runtime install (no TensorFlow) the training side fails in one line naming the
    extra, not with a ModuleNotFoundError traceback."""
    for argv in (["train", "det", "--run", str(tmp_path / "r")],
                 ["export", "det", "--run", str(tmp_path / "r")],
                 ["bench", "--backend", "keras", "--frames", "1"]):
        code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; "
                f"from engocr.cli import main; sys.exit(main({argv!r}))")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        err = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(err) == 1, run.stderr
        assert 'pip install "engocr[train]"' in err[0]


def test_kernel_cache_lives_outside_the_package(tmp_path):
    """numba's cache files go to the user cache folder: left inside site-packages they outlive
    an uninstall and shadow a later editable install."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", "from engocr.realtime.kernels import warm_up; "
                    "warm_up()"], check=True, env=env)
    assert list((tmp_path / "engocr" / "numba").rglob("*.nbi"))


def test_eval_without_data_says_where_it_looked(tmp_path, capsys):
    for what in ("det", "rec"):
        code = main(["eval", what, "--data", str(tmp_path / "nowhere")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and str(tmp_path / "nowhere") in err[0]
        assert "--data" in err[0] and "ENGOCR_DATA" in err[0]


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="xvfb-run not installed "
                    "(scripts/setup_train.sh installs it)")
def test_live_window_opens_at_the_frame_size_and_quietly(tmp_path):
    """On a (virtual) display the window opens at the frame's own size, without Qt's
    warnings on stderr."""
    script = tmp_path / "window.py"
    script.write_text(
        "import subprocess, numpy as np\n"
        "from engocr.realtime.loop import Window\n"
        "w = Window()\n"
        "for _ in range(5):\n"
        "    w.show(np.full((480, 640, 3), 90, np.uint8))\n"
        "tree = subprocess.run(['xwininfo', '-root', '-tree'], capture_output=True,\n"
        "                      text=True).stdout\n"
        "print([line for line in tree.splitlines() if '\"engocr\"' in line])\n"
        "w.close()\n")
    run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable,
                          str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "640x480" in run.stdout and run.stderr == "", (run.stdout, run.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["det", "rec"])
def test_train_commands_start_and_stop_on_time(what, tmp_path, capsys):
    """The training commands as typed (each trainer's own options reach it): a new run starts
    on synthetic data and stops at its time limit (here at once) with a checkpoint."""
    run = tmp_path / "run"
    extra = ["--size", "128x96", "--train-size", "128x96"] if what == "det" else \
        ["--pool", "64", "--reuse", "2"]
    code = main(["train", what, "--run", str(run), "--data", str(tmp_path / "none"),
                 "--batch", "2", "--minutes", "0.001", *extra])
    assert code == 0 and (run / "state.json").exists() and (run / "ckpt").is_dir()
    assert "step" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_word_list_options_fail_in_one_line(models, tmp_path, capsys):
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((60, 80, 3), 255, np.uint8))
    terms = tmp_path / "terms.txt"
    terms.write_text("engocr\n")
    # the shipped recognizer corrects from its word list: a list that is not there is an error
    _one_error_line(capsys, main(["image", str(image), "--words", str(tmp_path / "none.txt")]),
                    2, "none.txt: cannot read word list")
    # a model whose card chose no margin cannot use more words: said, not ignored
    _one_error_line(capsys, main(["image", str(image), "--words", str(terms), *models]), 2,
                    "no lexicon margin")
    assert main(["image", str(image), "--words", str(terms), "--json"]) == 0
    assert main(["image", str(image), "--no-lexicon", "--json"]) == 0
