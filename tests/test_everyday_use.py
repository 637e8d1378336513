"""What a user meets every day (issue #26, items 9-15), as typed, in real processes: progress
on a terminal, image results streamed as they come, saved videos without the stats panel, a
word on the first run's compile, clear help, and one-line errors and warnings for options
that cannot do what they say."""

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.test_nothing_lost import engocr
from tests.test_runtime import write_video

REPO = Path(__file__).resolve().parents[1]


def on_a_terminal(args, cwd, env=None) -> tuple[int, str, str]:
    """Run `engocr` with its stderr on a pseudo-terminal (as in a shell); (code, out, err)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    proc = subprocess.Popen(["engocr", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=slave,
                            env=env)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    return proc.returncode, out.decode(), b"".join(chunks).decode(errors="replace")


def _image(path: Path, shade: int = 255, size=(80, 60)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), shade, np.uint8))
    return path


# ------------------------------------------------------------------ 9: bench --backend keras

def test_bench_keras_names_a_missing_run_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for argv, what in ((["--det-run", "/nonexistent"], "not a detector training run"),
                       (["--rec-run", "empty"], "not a recognizer training run")):
        run = engocr(["bench", "--backend", "keras", "--frames", "1", *argv], tmp_path)
        err = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(err) == 1 and what in err[0], run.stderr


def test_bench_keras_times_the_run_the_shipped_detector_came_from():
    """The default training run is the one the shipped detector's card names last."""
    from engocr.realtime.bench import SHIPPED_DET_RUN
    from engocr.realtime.card import ModelCard, card_path
    from engocr.realtime.reader import DEFAULT_DETECTOR

    lineage = ModelCard.load(card_path(DEFAULT_DETECTOR)).architecture.split(" -> ")
    assert lineage[-1] == SHIPPED_DET_RUN.name
    assert (SHIPPED_DET_RUN / "best.weights.h5").is_file()


@pytest.mark.slow
def test_bench_keras_finds_the_shipped_runs_from_any_folder(tmp_path):
    """Outside the repository (no runs/ there) the default runs are the repository's."""
    run = engocr(["bench", "--backend", "keras", "--frames", "1", "--warmup", "0", "--size",
                  "160x120", "--json"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["detector"] == "float32 (Keras)"


@pytest.mark.parametrize("missing", [("keras",), ("tensorflow", "tf_keras")])
def test_bench_keras_without_keras_says_the_jax_extra_is_enough(missing, tmp_path):
    """A plain install (no Keras), or Keras without TensorFlow on its default backend."""
    code = ("import sys\n"
            "class Missing:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {missing!r}:\n"
            "            raise ModuleNotFoundError(name, name=name)\n"
            "sys.meta_path.insert(0, Missing())\n"
            "from engocr.cli import main\n"
            "sys.exit(main(['bench', '--backend', 'keras', '--frames', '1']))")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1, run.stderr
    assert f"({missing[0]} is not installed)" in err[0]
    assert 'pip install "engocr[jax]" and set KERAS_BACKEND=jax' in err[0]


# ------------------------------------------------------------------ 11: progress and streaming

def test_video_shows_a_progress_bar_on_a_terminal_only(models, tmp_path):
    write_video(tmp_path / "in.mp4", frames=8)
    code, _, err = on_a_terminal(["video", "in.mp4", "--jsonl", "o.jsonl", *models], tmp_path)
    # percentage, done/total, elapsed<left, rate
    assert code == 0 and "%|" in err and "/8 [00:00<" in err and "frame/s]" in err, err
    piped = engocr(["video", "in.mp4", "--jsonl", "o.jsonl", *models], tmp_path)
    assert piped.stderr.strip().splitlines() == [piped.stderr.strip()]  # the summary only
    assert "frame/s" not in piped.stderr


def test_image_shows_a_progress_bar_on_a_terminal(models, tmp_path):
    for i in range(3):
        _image(tmp_path / "photos" / f"p{i}.png", 60 * i)
    code, out, err = on_a_terminal(["image", "photos", *models], tmp_path)
    assert code == 0 and "%|" in err and "/3 [00:00<" in err and "image/s]" in err, err
    assert len(out.splitlines()) == 3


def test_image_jsonl_streams_each_image_as_it_is_read(models, tmp_path):
    for i in range(400):
        _image(tmp_path / "many" / f"{i:04d}.png", i % 256)
    proc = subprocess.Popen(["engocr", "image", "many", "--jsonl", "-", *models], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    first = proc.stdout.readline()  # before the run ends: streamed, not held to the end
    os.killpg(proc.pid, signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    records = [json.loads(line) for line in [first, *rest.splitlines()]]
    assert records[0]["image"] == "0000.png" and isinstance(records[0]["words"], list)
    if proc.returncode != 0:  # interrupted: said so, and every line written is whole
        assert proc.returncode == 130 and "interrupted" in err, err


def test_image_jsonl_file_is_checked_and_written(models, tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.png", 0)
    run = engocr(["image", "a.png", "b.png", "--jsonl", "out/r.jsonl", *models], tmp_path)
    assert run.returncode == 0, run.stderr
    lines = (tmp_path / "out" / "r.jsonl").read_text().splitlines()
    assert [json.loads(x)["image"] for x in lines] == ["a.png", "b.png"]
    assert run.stdout.splitlines()[0].startswith("a.png: ")  # the text is still printed
    before = (tmp_path / "a.png").read_bytes()
    run = engocr(["image", "a.png", "--jsonl", "./a.png", *models], tmp_path)
    assert run.returncode == 4 and "is the input" in run.stderr
    assert (tmp_path / "a.png").read_bytes() == before
    run = engocr(["image", "a.png", "--jsonl", "-", "--json", *models], tmp_path)
    assert run.returncode == 2 and "both print to stdout" in run.stderr


# ------------------------------------------------------------------ 13: the saved video

def _first_frame(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame.astype(np.int16)


def test_saved_video_has_no_stats_panel_unless_asked(models, tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=4, size=(320, 240))
    common = ["--score", "1", *models]  # nothing detected: only a panel could change a pixel
    assert engocr(["video", "in.mp4", "-o", "plain.mp4", *common], tmp_path).returncode == 0
    assert engocr(["video", "in.mp4", "-o", "stats.mp4", "--stats", *common],
                  tmp_path).returncode == 0
    source = _first_frame(src)
    plain = np.abs(_first_frame(tmp_path / "plain.mp4") - source)
    stats = np.abs(_first_frame(tmp_path / "stats.mp4") - source)
    assert plain.mean() < 3 and stats[:60, :100].mean() > 20


def test_labels_do_not_cover_the_line_above():
    from engocr.realtime.overlay import label_baseline

    above, below = (10, 10, 100, 40), (10, 44, 100, 74)  # two lines, 4 px apart
    assert label_baseline([above, below], 0, 20, 60) == 8  # room above the first line
    y = label_baseline([above, below], 1, 20, 60)
    assert y - 20 >= 74  # the second line's label goes under it, off the first line


# ------------------------------------------------------------------ 14: first run

def test_first_run_says_it_compiles_kernels_once(models, tmp_path):
    _image(tmp_path / "a.png")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # a fresh install's empty cache
    first = on_a_terminal(["image", "a.png", *models], tmp_path, env)
    again = on_a_terminal(["image", "a.png", *models], tmp_path, env)
    assert first[0] == 0 and "compiling kernels, first run only" in first[2], first
    assert again[0] == 0 and "compiling" not in again[2], again


# ------------------------------------------------------------------ 15: help and small things

def _parsers():
    from engocr.cli import build_parser

    def walk(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action.choices, dict):
                for child in action.choices.values():
                    yield from walk(child)

    return list(walk(build_parser()))


def test_help_has_descriptions_and_no_empty_defaults():
    parsers = _parsers()
    assert len(parsers) > 15
    assert not [p.prog for p in parsers if not p.description]
    text = "\n".join(p.format_help() for p in parsers)
    assert "(default: [])" not in text and "(default: ())" not in text
    video = next(p for p in parsers if p.prog == "engocr video").format_help()
    assert "--det-model FILE" in video and "--stride N" in video and "DET_MODEL" not in video


def test_det_size_that_changes_nothing_is_a_warning(models, tmp_path):
    _image(tmp_path / "a.png", size=(160, 120))
    run = engocr(["image", "a.png", "--det-size", "4000", "--threads", "1"], tmp_path)
    assert run.returncode == 0  # the shipped detector: free size, frames never enlarged
    assert run.stderr.strip() == ("engocr: warning: --det-size 4000 is above the frame's "
                                  "longest side (160): frames are never enlarged, so the "
                                  "detector sees them at 160")
    assert engocr(["image", "a.png", "--det-size", "128"], tmp_path).stderr == ""
    run = engocr(["video", str(write_video(tmp_path / "v.mp4", frames=2)), "--jsonl", "v.jsonl",
                  "--det-size", "320", *models], tmp_path)  # the test's fixed-size detector
    assert run.returncode == 0 and run.stderr.splitlines()[0] == (
        "engocr: warning: --det-size 320 is ignored: this detector has a fixed input size "
        "128x96")


def test_image_of_a_video_says_so_and_names_its_frames(models, tmp_path):
    write_video(tmp_path / "clip.mp4", frames=3)
    run = engocr(["image", "clip.mp4", "--json", *models], tmp_path)
    assert run.returncode == 0
    assert run.stderr.count("\n") == 1 and "clip.mp4 is a video" in run.stderr
    assert [(r["image"], r["frame"]) for r in json.loads(run.stdout)] == \
        [("clip.mp4", 0), ("clip.mp4", 1), ("clip.mp4", 2)]
    before = (tmp_path / "clip.mp4").read_bytes()
    assert engocr(["image", "clip.mp4", "--jsonl", "clip.mp4", *models], tmp_path).returncode == 4
    assert (tmp_path / "clip.mp4").read_bytes() == before


def test_bench_times_a_video_at_its_own_aspect(models, tmp_path):
    write_video(tmp_path / "wide.mp4", frames=3, size=(320, 180))
    bench = ["bench", "--source", "wide.mp4", "--frames", "2", "--warmup", "0", "--json"]
    own = engocr([*bench, *models], tmp_path)
    assert own.returncode == 0, own.stderr
    assert json.loads(own.stdout)["size"] == "320x180"
    fitted = engocr([*bench, "--size", "160x160", *models], tmp_path)
    assert json.loads(fitted.stdout)["size"] == "160x90"


def test_the_demo_video_is_not_committed_by_accident():
    run = subprocess.run(["git", "check-ignore", "-q", "demo.mp4"], cwd=REPO)
    assert run.returncode == 0


# ------------------------------------------------------------------ 12: charts

def test_charts_have_a_log_fps_axis_labelled_points_and_the_goal(tmp_path):
    pytest.importorskip("matplotlib")
    from engocr.charts import Chart, pr_curves, speed_accuracy

    rows = [{"system": "engocr", "fps": 50.9, "e2e_f": 0.34},
            {"system": "RapidOCR", "fps": 3.1, "e2e_f": 0.46}]
    path = speed_accuracy(rows, tmp_path / "speed.png")
    image = cv2.imread(str(path))
    assert image is not None and image.shape[:2] == (644, 980)
    green = (image[..., 1].astype(int) - image[..., 2]) > 8  # the shaded goal region
    assert green[:, image.shape[1] // 2:].mean() > 5 * max(green[:, :image.shape[1] // 3].mean(),
                                                           1e-3)
    chart = Chart("FPS", "F", 1000, 1.0, log_x=True, x_min=0.1)
    assert chart.axes.get_xscale() == "log"
    ticks = [t.get_text() for t in chart.axes.get_xticklabels()]
    assert any("10^{2}" in t or "100" in t for t in ticks), ticks
    chart.save(tmp_path / "c.png")
    curve = {0.3: {"precision": 0.4, "recall": 0.7, "hmean": 0.51},
             0.5: {"precision": 0.7, "recall": 0.5, "hmean": 0.58}}
    assert cv2.imread(str(pr_curves({"d": curve}, tmp_path / "pr.png"))) is not None


@pytest.fixture()
def plain_install(tmp_path, monkeypatch):
    """The package as pip puts it in site-packages: no checkout around it."""
    from engocr.train.data import paths

    site = tmp_path / "venv" / "lib" / "python3.12" / "site-packages"
    (site / "engocr").mkdir(parents=True)
    monkeypatch.setattr(paths, "REPO_ROOT", site)
    monkeypatch.delenv(paths.DATA_ENV, raising=False)
    monkeypatch.delenv("ENGOCR_WEIGHTS", raising=False)
    return site


def test_data_preview_outside_a_checkout_asks_for_out(plain_install, tmp_path, monkeypatch,
                                                      capsys):
    from engocr.cli import main

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["data", "preview"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("engocr: error: data preview: give --out DIR") and "\n" not in err
    assert not any(work.iterdir())  # no ./docs/images made in whatever folder it ran in


def test_data_preview_draws_a_named_crop_style_and_refuses_an_unknown_one(tmp_path, capsys):
    from engocr.cli import main
    from engocr.train.data.fonts import find_fonts

    if not find_fonts():
        pytest.skip("no fonts: run scripts/setup_train.sh")
    assert main(["data", "preview", "--out", str(tmp_path), "--style", "round4"]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["synth-crops-round4.jpg", "synth-scenes.jpg"]
    assert cv2.imread(str(tmp_path / "synth-crops-round4.jpg")).shape[0] > 100
    capsys.readouterr()
    assert main(["data", "preview", "--out", str(tmp_path / "x"), "--style", "gothic"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown synthetic crop style 'gothic'" in err and "round4" in err and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_data_preview_in_the_checkout_defaults_to_its_docs_images():
    from engocr.train.data.paths import REPO_ROOT, in_checkout

    assert in_checkout() and (REPO_ROOT / "docs" / "images").is_dir()


def test_real_data_is_found_above_the_working_folder_on_a_plain_install(plain_install,
                                                                        tmp_path, monkeypatch):
    from engocr.models.imagenet import imagenet_weights_dir
    from engocr.train.data.paths import data_root

    (tmp_path / "shared" / "data" / "ic15_val").mkdir(parents=True)
    (tmp_path / "shared" / "weights" / "imagenet").mkdir(parents=True)
    work = tmp_path / "project" / "notebooks"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert data_root() == tmp_path / "shared" / "data"
    assert imagenet_weights_dir() == tmp_path / "shared" / "weights" / "imagenet"
    assert "venv" not in str(data_root())  # never beside site-packages


def test_eval_rec_on_a_plain_install_without_data_says_where_it_looked(plain_install, tmp_path,
                                                                       monkeypatch, capsys):
    from engocr.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["eval", "rec", "--sets", "iiit5k_test"]) == 2
    err = capsys.readouterr().err.strip()
    assert "real data not found" in err and str(tmp_path / "shared" / "data") in err
    assert "venv" not in err and "\n" not in err
