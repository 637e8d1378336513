"""`engocr bench`: FPS end to end and milliseconds per stage (median, p95) on a fixed set of
frames, plus peak memory and threads used."""

from __future__ import annotations

import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engocr.realtime.engine import default_threads
from engocr.realtime.overlay import draw_result
from engocr.realtime.timing import StageTimes

STAGES = ["capture", "det_pre", "detect", "nms", "crop", "rec_pre", "recognize", "ctc",
          "lexicon", "overlay"]


def load_frames(spec: str, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """`count` frames from a source, resized to `size` (cycled if the source is shorter)."""
    from engocr.realtime.sources import open_source

    frames = []
    with open_source(spec, frames=count, size=size) as source:
        for frame in source:
            frames.append(cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA))
            if len(frames) >= count:
                break
    if not frames:
        from engocr.errors import InputError

        raise InputError(f"{spec}: no frames to benchmark")
    return [frames[i % len(frames)] for i in range(count)]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The training runs the shipped models were exported from (`bench --backend keras` default).
SHIPPED_DET_RUN = Path("runs/det/v1a050-pre")
SHIPPED_REC_RUN = Path("runs/rec/conv2x-32x128")


@dataclass
class BenchSettings:
    """What `run_bench` measures: frames of `source` at `size`, the first `warmup` left out;
    the shipped (or given) TFLite models, or with backend "keras" the float training runs."""

    source: str = "demo"
    size: tuple[int, int] = (640, 480)
    frames: int = 150
    warmup: int = 10
    threads: int | None = None
    det_model: Path | None = None
    rec_model: Path | None = None
    score: float | None = None
    det_size: int | None = None
    backend: str = "tflite"
    det_run: Path | None = None  # None: SHIPPED_DET_RUN
    rec_run: Path | None = None  # None: SHIPPED_REC_RUN
    lexicon: bool = True  # correct non-word readings (when the recognizer's card says how)
    words: tuple[Path, ...] = ()  # more words for the word list


def compute_device(backend: str) -> str:
    """CPU, or the device the Keras backend computes on (see `keras_engine.keras_device`)."""
    if backend != "keras":
        return "cpu"
    from engocr.train.keras_engine import keras_device

    return keras_device()


def run_bench(args: BenchSettings) -> dict:
    from engocr.realtime.reader import Reader

    threads = args.threads or default_threads()
    t0 = time.perf_counter()
    if args.backend == "keras":
        from engocr.train.runs import keras_reader

        reader = keras_reader(args.det_run or SHIPPED_DET_RUN, args.rec_run or SHIPPED_REC_RUN,
                              args.score)
    else:
        reader = Reader(args.det_model, args.rec_model, threads=threads,
                        score_threshold=args.score, det_size=args.det_size, lexicon=args.lexicon,
                        words=args.words)
    startup = time.perf_counter() - t0
    frames = load_frames(args.source, args.size, args.frames + args.warmup)
    times = StageTimes()
    words = []
    start = None
    for i, image in enumerate(frames):
        if i == args.warmup:
            start = time.perf_counter()
        c0 = time.perf_counter()
        frame = image.copy()  # stands in for capture: frames are already in memory
        capture = (time.perf_counter() - c0) * 1000
        result = reader.read(frame, i)
        o0 = time.perf_counter()
        draw_result(frame, result, 0.0)
        result.timings.update(capture=capture, overlay=(time.perf_counter() - o0) * 1000)
        times.add(result.timings)
        times.end_frame()
        words.append(len(result.words))
    elapsed = time.perf_counter() - start
    summary = times.summary(skip=args.warmup)
    total = [sum(f.values()) for f in times.frames[args.warmup:]]
    return {
        "source": args.source, "size": f"{args.size[0]}x{args.size[1]}",
        "frames": args.frames, "threads": threads, "cpu": cpu_name(),
        "fps": args.frames / elapsed,
        "frame_ms": {"median": float(np.median(total)), "p95": float(np.percentile(total, 95))},
        "stages": {k: summary[k] for k in STAGES if k in summary},
        "words_per_frame": float(np.mean(words[args.warmup:])),
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "startup_s": startup, "numba_warmup_s": reader.warmup_s,
        "backend": args.backend, "device": compute_device(args.backend),
        "detector": reader.detector.card.quantization,
        "recognizer": reader.recognizer.card.quantization,
    }


def format_table(f: dict) -> str:
    lines = [f"engocr bench: {f['source']} at {f['size']}, {f['frames']} frames, "
             f"{f['threads']} threads, {f['cpu']}, backend {f['backend']} on {f['device']}",
             f"  end to end: {f['fps']:.1f} FPS (frame median {f['frame_ms']['median']:.1f} ms,"
             f" p95 {f['frame_ms']['p95']:.1f} ms), {f['words_per_frame']:.1f} words/frame",
             f"  {'stage':10s} {'median ms':>10s} {'p95 ms':>8s}"]
    for name, s in f["stages"].items():
        lines.append(f"  {name:10s} {s['median']:10.2f} {s['p95']:8.2f}")
    lines.append(f"  peak memory {f['peak_memory_mb']:.0f} MB; start-up {f['startup_s']:.2f} s "
                 f"(numba {f['numba_warmup_s']:.2f} s); models: detector {f['detector']}, "
                 f"recognizer {f['recognizer']}")
    return "\n".join(lines)
