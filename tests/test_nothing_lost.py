"""Nothing lost, ever (issue #26): the commands as typed, in real processes, with real files
and real signals. No output overwrites an input, a run that fails to start leaves existing
files as they were, an interrupted run keeps what it wrote and says so, and a closed pipe or
a full disk is not a traceback."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.test_runtime import write_video


def engocr(args, cwd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["engocr", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, **kwargs)


def _one_line(run, code, pattern=""):
    err = run.stderr.strip().splitlines()
    assert run.returncode == code, run.stderr
    assert len(err) == 1 and pattern in err[0], err


def _image(path: Path, shade: int = 255) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((60, 80, 3), shade, np.uint8))
    return path


def _parts(folder: Path) -> list[Path]:
    return list(folder.rglob("*.part*"))


def test_an_output_that_is_an_input_is_refused(models, tmp_path):
    video = write_video(tmp_path / "same.mp4", frames=3)
    (tmp_path / "link.mp4").symlink_to("same.mp4")
    os.link(video, tmp_path / "hard.mp4")
    before = video.read_bytes()
    for outputs in (["-o", "same.mp4"], ["-o", "o.mp4", "--jsonl", "./same.mp4"],
                    ["-o", "link.mp4"], ["--srt", "hard.mp4"],
                    ["--jsonl", str(tmp_path / "sub" / ".." / "same.mp4")]):
        run = engocr(["video", "same.mp4", *outputs, *models], tmp_path)
        _one_line(run, 4, "is the input")
        assert video.read_bytes() == before and not (tmp_path / "o.mp4").exists()
    # two outputs that are one file
    _one_line(engocr(["video", "same.mp4", "--jsonl", "a.txt", "--txt", "./a.txt", *models],
                     tmp_path), 4, "two outputs")
    assert not _parts(tmp_path)


def test_annotations_never_overwrite_the_photo(models, tmp_path):
    photo = _image(tmp_path / "photos" / "p.png", 200)
    before = photo.read_bytes()
    assert engocr(["image", "photos/p.png", "--annotate", "photos", *models],
                  tmp_path).returncode == 0
    assert photo.read_bytes() == before and (tmp_path / "photos" / "p.engocr.png").exists()
    # an input that already has the annotation's name is not overwritten either
    other = (tmp_path / "photos" / "p.engocr.png").read_bytes()
    run = engocr(["image", "photos/p.png", "photos/p.engocr.png", "--annotate", "photos",
                  *models], tmp_path)
    _one_line(run, 4, "is the input")
    assert (tmp_path / "photos" / "p.engocr.png").read_bytes() == other


def test_a_failed_start_keeps_existing_outputs(models, tmp_path):
    write_video(tmp_path / "in.mp4", frames=3)
    (tmp_path / "keep.jsonl").write_text("old\n")
    run = engocr(["video", "in.mp4", "--jsonl", "keep.jsonl", "-o", "bad.txt", *models],
                 tmp_path)
    _one_line(run, 4, "cannot open a video writer")
    assert (tmp_path / "keep.jsonl").read_text() == "old\n"
    assert not (tmp_path / "bad.txt").exists() and not _parts(tmp_path)
    # one unwritable output: the others are not touched either
    (tmp_path / "keep.srt").write_text("old\n")
    run = engocr(["video", "in.mp4", "--srt", "keep.srt", "--txt", "/proc/x.txt", *models],
                 tmp_path)
    _one_line(run, 4, "cannot write")
    assert (tmp_path / "keep.srt").read_text() == "old\n" and not _parts(tmp_path)


def test_same_named_images_keep_their_folders(models, tmp_path):
    _image(tmp_path / "a" / "x.png", 10)
    _image(tmp_path / "b" / "x.png", 250)
    run = engocr(["image", "a/x.png", "b/x.png", "--annotate", "out", "--json", *models],
                 tmp_path)
    assert run.returncode == 0, run.stderr
    assert [r["image"] for r in json.loads(run.stdout)] == ["a/x.png", "b/x.png"]
    a, b = tmp_path / "out" / "a" / "x.engocr.png", tmp_path / "out" / "b" / "x.engocr.png"
    assert a.exists() and b.exists() and a.read_bytes() != b.read_bytes()


@pytest.mark.parametrize("argv", [
    ["image", "s.png", "--threads", "100000"],
    ["demo", "--size", "100000x100000"],
    ["bench", "--size", "100000x100000"],
])
def test_out_of_range_threads_and_sizes_are_one_line(argv, tmp_path):
    _image(tmp_path / "s.png")
    _one_line(engocr(argv, tmp_path), 2, "expected")


def test_a_closed_pipe_is_quiet_and_a_full_disk_one_line(models, tmp_path):
    for i in range(3):
        _image(tmp_path / f"s{i}.png")
    argv = ["engocr", "image", "s0.png", "s1.png", "s2.png", "--json", *models]
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -c 0`: nobody reads
    run = subprocess.run(argv, cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE,
                         text=True, timeout=300)
    os.close(write_end)
    assert run.stderr == "" and run.returncode == 141, run.stderr
    with open("/dev/full", "w") as full:
        run = subprocess.run(argv, cwd=tmp_path, stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=300)
    _one_line(run, 4, "No space left on device")


def _start(argv, cwd, watch: Path) -> subprocess.Popen:
    """Start `engocr` in its own process group (as a terminal's Ctrl-C reaches it) and return
    once frames are coming through: `watch` (or its part file) holds a line."""
    proc = subprocess.Popen(["engocr", *argv], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.stat().st_size > 0 for p in watch.parent.glob(f"*{watch.name}*")):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no frame came through: {proc.communicate()}")


def _frames(path: Path) -> int:
    import imageio.v2 as iio

    with iio.get_reader(str(path)) as reader:
        return sum(1 for _ in reader)


@pytest.mark.parametrize("command", ["video", "demo"])
def test_ctrl_c_keeps_partial_outputs_and_says_so(command, models, tmp_path):
    source = ["video", str(write_video(tmp_path / "long.mp4", frames=3000))] \
        if command == "video" else ["demo", "--frames", "100000", "--size", "160x120"]
    proc = _start([*source, "-o", "o.mp4", "--jsonl", "o.jsonl", "--srt", "o.srt", *models],
                  tmp_path, tmp_path / "o.jsonl")
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err, err
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert lines and all(json.loads(x)["frame"] >= 0 for x in lines)
    assert _frames(tmp_path / "o.mp4") > 0 and (tmp_path / "o.srt").exists()
    assert not _parts(tmp_path)


def _descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children += [int(c) for c in text]
    return children + [d for c in children for d in _descendants(c)]


def test_a_killed_run_leaves_a_playable_mp4(models, tmp_path):
    """Even when the encoder dies with the run (no chance to write an index at the end), the
    video written so far plays: fragmented MP4."""
    src = write_video(tmp_path / "long.mp4", frames=3000)
    proc = _start(["video", str(src), "-o", "o.mp4", "--jsonl", "o.jsonl", *models],
                  tmp_path, tmp_path / "o.jsonl")
    time.sleep(4.0)  # past the first 2-second fragment
    for pid in [proc.pid, *_descendants(proc.pid)]:
        os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    videos = [p for p in tmp_path.glob("*o.mp4*") if p.stat().st_size > 0]
    assert len(videos) == 1 and _frames(videos[0]) > 0
