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


DEMO_SIZE = (640, 480)


def fit_within(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to fit within `size` (w, h) with its aspect kept: a 16:9 video is timed
    as 16:9 frames, never squeezed into 4:3."""
    h, w = image.shape[:2]
    scale = min(size[0] / w, size[1] / h)
    if scale == 1:
        return image
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, target, interpolation=cv2.INTER_AREA if scale < 1 else
                      cv2.INTER_LINEAR)


def load_frames(spec: str, size: tuple[int, int] | None, count: int) -> list[np.ndarray]:
    """`count` frames from a source (cycled if the source is shorter): the demo drawn at
    `size` (default 640x480); a file's frames at their own size, or with `size` scaled to fit
    within it, aspect kept."""
    from engocr.realtime.sources import open_source

    frames = []
    with open_source(spec, frames=count, size=size or DEMO_SIZE) as source:
        for frame in source:
            frames.append(fit_within(frame.image, size) if size else frame.image)
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


# The training runs the shipped models were exported from (`bench --backend keras` default):
# in the source repository, wherever the command runs from; an installed package has none.
# The detector's is the last run its card's architecture names (a test keeps them together).
REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DET_RUN = REPO_ROOT / "runs" / "det" / "v1a050-lettering3-qat"
SHIPPED_REC_RUN = REPO_ROOT / "runs" / "rec" / "mixer2-scratch"
# The shipped recognizer is the mean of that run's cycle ends (`engocr train average`).
SHIPPED_REC_WEIGHTS = "cycles"


def training_run(run: Path | None, what: str, option: str) -> tuple[Path, str]:
    """The training run to time and its weights' name (None: the shipped model's; a given run:
    its best), or a one-line InputError that says what is missing and how to get it."""
    shipped = run is None
    if shipped:
        run, weights = ((SHIPPED_DET_RUN, "best") if what == "detector"
                        else (SHIPPED_REC_RUN, SHIPPED_REC_WEIGHTS))
    else:
        run, weights = Path(run), "best"
    missing = next((n for n in ("config.json", f"{weights}.weights.h5")
                    if not (run / n).is_file()), None)
    if missing is None:
        return run, weights
    from engocr.errors import InputError

    if shipped:
        raise InputError(f"the shipped {what}'s training run is not here ({run}): training "
                         "runs are in the engocr source repository's runs/ folder, not in an "
                         f"installed package; run from a clone of it, or give {option} RUN")
    raise InputError(f"{run}: not a {what} training run (no {missing}); give {option} a "
                     f"folder written by `engocr train {what[:3]}`")


@dataclass
class BenchSettings:
    """What `run_bench` measures: frames of `source` at `size`, the first `warmup` left out;
    the shipped (or given) TFLite models, or with backend "keras" the float training runs."""

    source: str = "demo"
    size: tuple[int, int] | None = DEMO_SIZE  # None: the demo at 640x480, files as they are
    frames: int = 150
    warmup: int = 10
    threads: int | None = None
    det_model: Path | None = None
    rec_model: Path | None = None
    score: float | None = None
    det_size: int | None = None
    coarse_side: int | None = None  # None: the detector card's (0: no coarse pass)
    min_conf: float | None = None  # None: the recognizer card's
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
        det_run, _ = training_run(args.det_run, "detector", "--det-run")
        rec_run, rec_weights = training_run(args.rec_run, "recognizer", "--rec-run")
        from engocr.train.runs import keras_reader

        reader = keras_reader(det_run, rec_run, args.score, rec_weights)
    else:
        reader = Reader(args.det_model, args.rec_model, threads=threads,
                        score_threshold=args.score, det_size=args.det_size,
                        coarse_side=args.coarse_side, min_conf=args.min_conf,
                        lexicon=args.lexicon, words=args.words)
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
    sizes = sorted({f"{f.shape[1]}x{f.shape[0]}" for f in frames})
    return {
        "source": args.source, "size": sizes[0] if len(sizes) == 1 else "mixed",
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
