"""The `engocr` and `engocr-cam` commands. Every user-fixable problem ends in one line on stderr
and a non-zero exit code, never a traceback."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path

from engocr import __version__
from engocr.argtypes import (
    COARSE_SIDE,
    FRACTION,
    POSITIVE,
    SIDE,
    SIZE,
    THREADS,
    Parser,
    checked,
)
from engocr.errors import EngocrError, InputError, OutputError, caused_by_interrupt
from engocr.train.data.paths import DATA_ENV

# An output device that is full (or over quota, or a file over its size limit).
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

# What the training extra brings: a command that needs one of these says so in one line.
TRAINING_MODULES = {"tensorflow", "keras", "tf_keras", "PIL", "matplotlib"}
# What `bench --backend keras` needs: Keras and the backend KERAS_BACKEND names.
KERAS_MODULES = {"keras", "tensorflow", "jax", "jaxlib", "torch"}

EPILOG = """examples:
  engocr demo                              read the built-in demo scene, write demo.mp4
  engocr-cam --device 0                    live window over the first webcam (q quits)
  engocr video in.mp4 -o out.mp4 --srt out.srt --jsonl out.jsonl
  engocr image photo.jpg --json            words and boxes as JSON
  engocr bench --frames 200                FPS and milliseconds per stage on this machine
"""


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models")
    g.add_argument("--det-model", type=Path, metavar="FILE",
                   help="detector .tflite (default: the shipped one)")
    g.add_argument("--rec-model", type=Path, metavar="FILE",
                   help="recognizer .tflite (default: the shipped one)")
    g.add_argument("--threads", type=THREADS, default=None,
                   help="inference threads (default: all)")
    g.add_argument("--score", type=FRACTION, default=None,
                   help="detection score threshold (default: the detector card's)")
    g.add_argument("--det-size", type=SIDE, default=None, metavar="PIXELS",
                   help="longest side the detector sees (default: the model card's); larger "
                        "finds smaller words, slower; frames are never enlarged, so a side "
                        "above the frame's own changes nothing")
    g.add_argument("--coarse-side", type=COARSE_SIDE, default=None, metavar="PIXELS",
                   help="longest side of the detector's second, coarse pass, which finds "
                        "words too large for the first (default: the model card's; 0: off)")
    g.add_argument("--min-conf", type=FRACTION, default=None,
                   help="drop readings whose confidence (0-1) is below this (default: the "
                        "recognizer card's; 0 keeps every reading)")
    lexicon = g.add_mutually_exclusive_group()
    lexicon.add_argument("--no-lexicon", action="store_true",
                         help="report readings as the model makes them, without correcting "
                              "non-words from the English word list")
    lexicon.add_argument("--words", type=Path, action="append", default=[], metavar="FILE",
                         help="more words for the word list, one a line (names, brands, "
                              "jargon); repeatable")


def _track_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("tracking (on by default for video and camera)")
    g.add_argument("--no-track", action="store_true",
                   help="read every word of every frame from scratch")
    g.add_argument("--det-every", type=POSITIVE, default=1,
                   help="run the detector every N-th frame, tracks coast in between")


def _output_args(p: argparse.ArgumentParser, video_default: str | None = None) -> None:
    g = p.add_argument_group("outputs (written as frames arrive)")
    g.add_argument("-o", "--output", type=Path, default=video_default, metavar="FILE",
                   help="annotated video (.mp4)")
    g.add_argument("--stats", action="store_true",
                   help="draw the FPS and per-stage panel into the -o video too (the live "
                        "window always shows it)")
    g.add_argument("--jsonl", type=Path, metavar="FILE", help="one JSON object per frame")
    g.add_argument("--srt", type=Path, metavar="FILE",
                   help="SRT subtitles: one cue per line of text while it is on screen")
    g.add_argument("--vtt", type=Path, metavar="FILE", help="WebVTT subtitles (as --srt)")
    g.add_argument("--txt", type=Path, metavar="FILE",
                   help="plain-text transcript (as --srt, one line per cue)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="engocr", description="Read English text in camera frames, videos and images, "
        "fast, on a CPU.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"engocr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("image", help="read images (files, folders or globs)")
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--json", action="store_true",
                   help="print one JSON list of every image's words, at the end")
    p.add_argument("--jsonl", type=Path, metavar="FILE",
                   help="one JSON object per image, written as each is read (- for stdout)")
    p.add_argument("--annotate", type=Path, metavar="FOLDER",
                   help="folder to write annotated copies into")
    _model_args(p)
    p.set_defaults(func=cmd_image)

    p = sub.add_parser("video", help="process a video file or stream into outputs")
    p.add_argument("input", help="video file, stream URL or camera index")
    p.add_argument("--stride", type=POSITIVE, default=1, help="process every N-th frame")
    p.add_argument("--reconnect", action="store_true", help="reopen a stream that drops")
    _model_args(p)
    _track_args(p)
    _output_args(p)
    p.set_defaults(func=cmd_video)

    p = sub.add_parser("cam", help="live window over a camera (same as engocr-cam)")
    _cam_args(p)
    p.set_defaults(func=cmd_cam)

    p = sub.add_parser("demo", help="run the whole pipeline on the built-in demo scene")
    p.add_argument("--frames", type=POSITIVE, default=90, help="length of the demo in frames")
    p.add_argument("--size", type=SIZE, default="640x480", help="frame size WxH")
    p.add_argument("--window", action="store_true", help="also show it live")
    _model_args(p)
    _output_args(p, video_default="demo.mp4")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="FPS end to end and milliseconds per stage")
    p.add_argument("--source", default="demo", metavar="SOURCE",
                   help="demo, a video, an image or a folder (default: demo)")
    p.add_argument("--size", type=SIZE, default=None,
                   help="frame size WxH (default: 640x480 for the demo; a file's frames keep "
                        "their size, or are scaled to fit within WxH, aspect kept)")
    p.add_argument("--frames", type=POSITIVE, default=150, help="frames timed")
    p.add_argument("--warmup", type=checked(int, lambda v: v >= 0, "a whole number >= 0"),
                   default=10, metavar="N", help="frames left out of the figures")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--backend", choices=["tflite", "keras"], default="tflite",
                   help="keras: the float training models on the Keras backend (KERAS_BACKEND: "
                        "tensorflow, jax or torch; on its GPU if it sees one)")
    p.add_argument("--det-run", type=Path, default=None, metavar="RUN",
                   help="detector training run for --backend keras (default: the shipped "
                        "detector's, in the source repository's runs/)")
    p.add_argument("--rec-run", type=Path, default=None, metavar="RUN",
                   help="recognizer training run for --backend keras (default: the shipped "
                        "recognizer's, in the source repository's runs/)")
    _model_args(p)
    p.set_defaults(func=cmd_bench)

    from engocr.library.cli import add_parsers as add_library_parsers

    add_library_parsers(sub, _model_args)
    from engocr.web.cli import add_parsers as add_web_parsers

    add_web_parsers(sub)
    # Neither imports anything of TensorFlow until a command runs.
    from engocr.commands import export, training

    training.add_parsers(sub)
    export.add_parsers(sub)
    return parser


def _cam_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="0", metavar="CAMERA",
                   help="camera index or stream URL (default: 0)")
    p.add_argument("--size", type=SIZE, default=None, help="ask the camera for WxH")
    p.add_argument("--no-window", action="store_true", help="headless: no live window")
    p.add_argument("--reconnect", action="store_true", help="reopen the camera if it drops")
    p.add_argument("--max-frames", type=POSITIVE, default=None,
                   help="stop after this many frames (default: until the source ends or q)")
    _model_args(p)
    _track_args(p)
    _output_args(p)


def compile_notice(det_model: str | Path | None = None) -> None:
    """Say so before numba compiles the kernels (the first run after an install or an
    upgrade), which takes 10-15 s that would otherwise look like a hang; once cached, never.
    An oriented detector (`det_model`, default the shipped one) has kernels of its own."""
    from engocr.realtime.kernels import kernels_cached

    if sys.stderr.isatty() and not kernels_cached(_is_oriented(det_model)):
        print("engocr: compiling kernels, first run only (10-15 s)", file=sys.stderr, flush=True)


def _is_oriented(det_model: str | Path | None) -> bool:
    """Whether a detector's card says it is oriented (False where it cannot be read: loading
    the model reports that)."""
    from engocr.realtime.card import card_path
    from engocr.realtime.reader import DEFAULT_DETECTOR

    try:
        card = json.loads(card_path(det_model or DEFAULT_DETECTOR).read_text())
        return bool(card.get("oriented", False))
    except (OSError, ValueError, AttributeError):
        return False


def det_size_warning(reader, det_size: int | None, shape: tuple[int, ...]) -> str | None:
    """Why `--det-size` changes nothing for a frame of this shape (frames are never enlarged,
    and a fixed-size detector has one input size), or None."""
    detector = reader.detector
    if det_size is None:
        return None
    if not detector.free_size:
        w, h = detector.size
        return f"--det-size {det_size} is ignored: this detector has a fixed input size {w}x{h}"
    side = max(shape[:2])
    if det_size > side:
        return (f"--det-size {det_size} is above the frame's longest side ({side}): frames are "
                f"never enlarged, so the detector sees them at {side}")
    return None


def _warn(text: str) -> None:
    """A warning line on stderr that does not break a progress bar."""
    from tqdm import tqdm

    tqdm.write(f"engocr: warning: {text}", file=sys.stderr)


def _checking_det_size(process, reader, det_size: int | None):
    """`process`, saying once when `--det-size` changes nothing for the frames it gets."""
    if det_size is None:
        return process
    said = False

    def checked_process(frame):
        nonlocal said
        if not said and (why := det_size_warning(reader, det_size, frame.image.shape)):
            _warn(why)
            said = True
        return process(frame)

    return checked_process


def make_reader(args):
    from engocr.realtime.reader import Reader

    compile_notice(args.det_model)
    return Reader(args.det_model, args.rec_model, threads=args.threads,
                  score_threshold=args.score, min_conf=args.min_conf, det_size=args.det_size,
                  coarse_side=args.coarse_side, lexicon=not args.no_lexicon,
                  words=tuple(args.words))


def _tracked(args) -> bool:
    return hasattr(args, "no_track") and not args.no_track


def _output_paths(args) -> list[Path]:
    """Every output file the command line names."""
    names = ("output", "jsonl", "srt", "vtt", "txt")
    return [Path(getattr(args, n)) for n in names if getattr(args, n, None)]


def make_sinks(args, fps: float) -> list:
    """Outputs asked for on the command line. With tracking, subtitles and transcripts list
    each distinct text once (first to last time on screen); without, they follow the frames."""
    from engocr.realtime.sinks import (
        JsonlSink,
        SubtitleSink,
        TextSink,
        TrackTranscriptSink,
        VideoSink,
        check_outputs,
    )

    check_outputs(_output_paths(args), [Path(args.input)] if getattr(args, "input", None)
                  else [])
    tracked = _tracked(args)
    frame_s = getattr(args, "stride", 1) / fps  # the time one processed frame covers
    sinks = []
    try:
        if getattr(args, "output", None):
            sinks.append(VideoSink(args.output, fps))
        if args.jsonl:
            sinks.append(JsonlSink(args.jsonl))
        for fmt in ("srt", "vtt", "txt"):
            path = getattr(args, fmt)
            if path and tracked:
                sinks.append(TrackTranscriptSink(path, fmt, frame_s=frame_s))
            elif path:
                sinks.append(TextSink(path) if fmt == "txt" else
                             SubtitleSink(path, fmt, frame_s))
    except EngocrError:
        for s in sinks:
            s.abort()
        raise
    return sinks


def _process(reader):
    return lambda frame: reader.read(frame.image, frame.index, frame.time_s)


def _image_names(sources: list) -> dict[Path, str]:
    """Each image's name, relative to the common parent of all images given, so that a/x.jpg
    and b/x.jpg stay apart in the JSON and in the annotated copies."""
    paths = [p for _, source in sources for p in getattr(source, "paths", [])]
    if not paths:
        return {}
    base = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    return {p: Path(os.path.relpath(os.path.abspath(p), base)).as_posix() for p in paths}


def _annotated_path(folder: Path, name: str) -> Path:
    """`x.jpg` is annotated into `x.engocr.jpg`: never the name of the image it shows."""
    rel = Path(name)
    return folder / rel.parent / f"{rel.stem}.engocr{rel.suffix or '.png'}"


def _write_annotated(target: Path, image) -> None:
    import cv2

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target.parent}: cannot write ({exc.strerror or exc})") from None
    if not cv2.imwrite(str(target), image):
        raise OutputError(f"{target}: could not write the annotated image")


def _image_frames(spec: str, source, names: dict[Path, str]):
    """(name, frame index or None, frame) for every image of a source; a video given as an
    image is read frame by frame, each frame named by its index (and the user told so)."""
    from engocr.realtime.sources import VideoFileSource

    paths = getattr(source, "paths", None)
    if isinstance(source, VideoFileSource):
        _warn(f"{spec} is a video: each of its frames is read as a separate image (`engocr "
              "video` reads it as a video, with tracking and subtitles)")
    for frame in source:
        if paths:
            yield names[paths[frame.index]], None, frame
        else:
            yield spec, frame.index if isinstance(source, VideoFileSource) else None, frame


def _frame_count(source) -> int:
    return len(getattr(source, "paths", None) or []) or getattr(source, "frame_count", 0)


def cmd_image(args) -> int:
    from tqdm import tqdm

    from engocr.realtime.overlay import draw_result
    from engocr.realtime.progress import progress_bar
    from engocr.realtime.sinks import TextOutput, check_outputs, prepare_folder
    from engocr.realtime.sources import open_source

    jsonl_stdout = args.jsonl is not None and str(args.jsonl) == "-"
    if jsonl_stdout and args.json:
        raise InputError("--json and --jsonl - both print to stdout: give one of them")
    out, failed = [], []

    def report(exc: InputError) -> None:
        failed.append(exc)
        tqdm.write(f"engocr: error: {exc}", file=sys.stderr)

    sources = []
    for spec in args.inputs:
        try:
            sources.append((spec, open_source(spec)))
        except InputError as exc:
            report(exc)
    names = _image_names(sources)
    targets = dict.fromkeys(_annotated_path(args.annotate, n) for n in names.values()) \
        if args.annotate else {}
    outputs = [args.jsonl] if args.jsonl is not None and not jsonl_stdout else []
    check_outputs([*outputs, *([args.annotate] if args.annotate else []), *targets],
                  [*names, *(Path(spec) for spec, _ in sources)])  # a video's path too
    jsonl = TextOutput(args.jsonl) if outputs else None
    if args.annotate:
        prepare_folder(args.annotate)
    reader = make_reader(args)
    warned = False
    bar = progress_bar(sum(_frame_count(s) for _, s in sources), "image")
    try:
        for spec, source in sources:
            try:
                source.on_error = report  # a bad image in a folder does not stop the others
                for name, index, frame in _image_frames(spec, source, names):
                    if not warned and (why := det_size_warning(reader, args.det_size,
                                                               frame.image.shape)):
                        _warn(why)
                        warned = True
                    result = reader.read(frame.image)
                    record = {"image": name, **({} if index is None else {"frame": index}),
                              "words": [w.to_dict() for w in result.words]}
                    label = name if index is None else f"{name} [frame {index}]"
                    if args.json:
                        out.append(record)
                    elif jsonl_stdout:
                        tqdm.write(json.dumps(record), file=sys.stdout)
                        sys.stdout.flush()
                    else:
                        tqdm.write(f"{label}: {result.text or '(no text found)'}",
                                   file=sys.stdout)
                    if jsonl is not None:
                        jsonl.write(json.dumps(record) + "\n")
                    if args.annotate:
                        stem = name if index is None else f"{name}.{index:06d}.png"
                        _write_annotated(_annotated_path(args.annotate, stem),
                                         draw_result(frame.image, result, show_stats=False))
                    bar.update(1)
            except InputError as exc:
                report(exc)
    finally:
        bar.close()
        if jsonl is not None:
            jsonl.close()
    if args.json:
        print(json.dumps(out, indent=1))
    return 2 if failed else 0


def _run_stream(args, source, window) -> int:
    from engocr.realtime.loop import run
    from engocr.realtime.tracking import TrackingReader

    reader = make_reader(args)
    process = TrackingReader(reader, det_every=args.det_every) if _tracked(args) \
        else _process(reader)
    sinks = make_sinks(args, source.fps)
    stats = run(source, _checking_det_size(process, reader, args.det_size), sinks,
                window=window, annotate=bool(getattr(args, "output", None)) or window is not None,
                progress=True, max_frames=getattr(args, "max_frames", None),
                stats_panel=args.stats)
    print(f"{stats.frames} frames in {stats.seconds:.1f} s ({stats.fps:.1f} FPS)"
          + (", interrupted" if stats.interrupted else ""), file=sys.stderr)
    if stats.frames == 0:
        raise InputError(f"{source.name}: no frames could be read")
    if stats.interrupted:
        return 130
    ended_early = getattr(source, "ended_early", None)
    stopped = getattr(args, "max_frames", None) is not None
    if ended_early is not None and not stopped and (reason := ended_early()):
        raise InputError(reason)
    return 0


def cmd_video(args) -> int:
    from engocr.realtime.sources import open_source

    if not any((args.output, args.jsonl, args.srt, args.vtt, args.txt)):
        raise InputError("no output asked for: give -o OUT.mp4 and/or --jsonl/--srt/--vtt/--txt")
    source = open_source(args.input, stride=args.stride, reconnect=args.reconnect)
    return _run_stream(args, source, None)


def cmd_cam(args) -> int:
    from engocr.realtime.loop import Window
    from engocr.realtime.sources import open_source

    window = None if args.no_window else Window()
    try:
        source = open_source(str(args.device), reconnect=args.reconnect, size=args.size)
    except EngocrError:
        if window:
            window.close()
        raise
    return _run_stream(args, source, window)


def cmd_demo(args) -> int:
    from engocr.realtime.loop import Window, run
    from engocr.realtime.sources import DemoSource

    reader = make_reader(args)
    source = DemoSource(frames=args.frames, size=args.size)
    sinks = make_sinks(args, source.fps)
    window = Window() if args.window else None
    stats = run(source, _checking_det_size(_process(reader), reader, args.det_size), sinks,
                window=window, keep_results=True, stats_panel=args.stats)
    if stats.interrupted:  # like every long command: said, and exit 130
        print(f"{stats.frames} frames in {stats.seconds:.1f} s, interrupted", file=sys.stderr)
        return 130
    seen: dict[str, int] = {}
    for result in stats.results:
        for word in result.words:
            seen[word.text] = seen.get(word.text, 0) + 1
    drawn = sorted({w for i in range(args.frames) for w in source.scene.truth(i)})
    read = [w for w in drawn if w in seen]
    print(f"drew:  {' '.join(drawn)}")
    print(f"read:  {' '.join(sorted(seen, key=lambda w: -seen[w])[:20])}")
    print(f"{len(read)}/{len(drawn)} drawn words read at least once; {stats.frames} frames at "
          f"{stats.fps:.1f} FPS (numba start-up {reader.warmup_s:.2f} s)")
    if args.output:
        print(f"wrote {args.output}")
    return 0


def cmd_bench(args) -> int:
    from engocr.realtime.bench import BenchSettings, format_table, run_bench

    settings = BenchSettings(
        source=args.source, size=args.size, frames=args.frames, warmup=args.warmup,
        threads=args.threads, det_model=args.det_model, rec_model=args.rec_model,
        score=args.score, det_size=args.det_size, coarse_side=args.coarse_side,
        min_conf=args.min_conf, backend=args.backend, det_run=args.det_run,
        rec_run=args.rec_run, lexicon=not args.no_lexicon, words=tuple(args.words))
    compile_notice()
    figures = run_bench(settings)
    print(json.dumps(figures, indent=1) if args.json else format_table(figures))
    return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's own flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    data_root = os.environ.get(DATA_ENV)  # `--data` sets it for the command's worker processes
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe fails here, not at exit
        return code
    except BrokenPipeError:  # `engocr ... | head`: the reader has all it wanted
        _silence_stdout()
        return 141
    except OSError as exc:
        if exc.errno not in FULL_ERRNOS:
            raise
        _silence_stdout()
        print(f"engocr: error: writing output failed: {exc.strerror}", file=sys.stderr)
        return OutputError.exit_code
    except EngocrError as exc:
        print(f"engocr: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, SystemError) as exc:  # numba wraps a Ctrl-C in a SystemError
        if not caused_by_interrupt(exc):
            raise
        print("engocr: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("engocr: error: out of memory (try a smaller frame size)", file=sys.stderr)
        return 5
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if args.command == "bench" and top in KERAS_MODULES:
            print(f"engocr: error: `engocr bench --backend keras` needs Keras and the backend "
                  f"KERAS_BACKEND names ({exc.name} is not installed): pip install "
                  "\"engocr[jax]\" and set KERAS_BACKEND=jax, or pip install \"engocr[train]\" "
                  "for TensorFlow", file=sys.stderr)
            return 2
        if top not in TRAINING_MODULES:
            raise
        print(f"engocr: error: `engocr {args.command}` needs the training extra ({exc.name} is "
              "not installed): pip install \"engocr[train]\"", file=sys.stderr)
        return 2
    finally:  # a caller of main() (a test, a script) keeps its own data folder
        if data_root is None:
            os.environ.pop(DATA_ENV, None)
        else:
            os.environ[DATA_ENV] = data_root


def cam_main(argv: list[str] | None = None) -> int:
    """`engocr-cam`: the live camera window."""
    parser = Parser(prog="engocr-cam", description="Read text live from a camera; q or Esc "
                    "quits, s saves a snapshot.")
    parser.add_argument("--version", action="version", version=f"engocr {__version__}")
    _cam_args(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_cam(args)
    except EngocrError as exc:
        print(f"engocr-cam: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, SystemError) as exc:  # numba wraps a Ctrl-C in a SystemError
        if not caused_by_interrupt(exc):
            raise
        print("engocr-cam: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
