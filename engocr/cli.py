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
from engocr.errors import EngocrError, InputError, OutputError
from engocr.train.data.paths import DATA_ENV

# An output device that is full (or over quota, or a file over its size limit).
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

# What the training extra brings: a command that needs one of these says so in one line.
TRAINING_MODULES = {"tensorflow", "keras", "tf_keras", "PIL", "tqdm"}

EPILOG = """examples:
  engocr demo                              read the built-in demo scene, write demo.mp4
  engocr-cam --device 0                    live window over the first webcam (q quits)
  engocr video in.mp4 -o out.mp4 --srt out.srt --jsonl out.jsonl
  engocr image photo.jpg --json            words and boxes as JSON
  engocr bench --frames 200                FPS and milliseconds per stage on this machine
"""


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models")
    g.add_argument("--det-model", type=Path, help="detector .tflite (default: the shipped one)")
    g.add_argument("--rec-model", type=Path, help="recognizer .tflite (default: shipped)")
    g.add_argument("--threads", type=THREADS, default=None,
                   help="inference threads (default: all)")
    g.add_argument("--score", type=FRACTION, default=None,
                   help="detection score threshold, 0-1 (default: the detector card's)")
    g.add_argument("--det-size", type=SIDE, default=None, metavar="PIXELS",
                   help="longest side the detector sees (default: the model card's); larger "
                        "finds smaller words, slower")
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
    g.add_argument("-o", "--output", type=Path, default=video_default,
                   help="annotated video (.mp4)")
    g.add_argument("--jsonl", type=Path, help="one JSON object per frame")
    g.add_argument("--srt", type=Path, help="SRT subtitles of the text on screen")
    g.add_argument("--vtt", type=Path, help="WebVTT subtitles")
    g.add_argument("--txt", type=Path, help="plain-text transcript")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="engocr", description="Read English text in camera frames, videos and images, "
        "fast, on a CPU.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"engocr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("image", help="read images (files, folders or globs)")
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--annotate", type=Path, help="folder to write annotated copies into")
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
    p.add_argument("--source", default="demo", help="demo, a video, an image or a folder")
    p.add_argument("--size", type=SIZE, default="640x480", help="frame size WxH")
    p.add_argument("--frames", type=POSITIVE, default=150, help="frames timed")
    p.add_argument("--warmup", type=checked(int, lambda v: v >= 0, "a whole number >= 0"),
                   default=10, help="frames left out of the figures")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--backend", choices=["tflite", "keras"], default="tflite",
                   help="keras: the float training models on the Keras backend (KERAS_BACKEND: "
                        "tensorflow, jax or torch; on its GPU if it sees one)")
    p.add_argument("--det-run", type=Path, default=None,
                   help="detector training run for --backend keras (default: the shipped "
                        "detector's run)")
    p.add_argument("--rec-run", type=Path, default=None,
                   help="recognizer training run for --backend keras (default: the shipped "
                        "recognizer's run)")
    _model_args(p)
    p.set_defaults(func=cmd_bench)

    from engocr.library.cli import add_parsers as add_library_parsers

    add_library_parsers(sub, _model_args)
    from engocr.train.cli import add_parsers  # imports nothing of TensorFlow until run

    add_parsers(sub)
    return parser


def _cam_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="0", help="camera index or stream URL (default 0)")
    p.add_argument("--size", type=SIZE, default=None, help="ask the camera for WxH")
    p.add_argument("--no-window", action="store_true", help="headless: no live window")
    p.add_argument("--reconnect", action="store_true", help="reopen the camera if it drops")
    p.add_argument("--max-frames", type=POSITIVE, default=None,
                   help="stop after this many frames (default: until the source ends or q)")
    _model_args(p)
    _track_args(p)
    _output_args(p)


def make_reader(args):
    from engocr.realtime.reader import Reader

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


def cmd_image(args) -> int:
    from engocr.realtime.overlay import draw_result
    from engocr.realtime.sinks import check_outputs, prepare_folder
    from engocr.realtime.sources import open_source

    out, failed = [], []

    def report(exc: InputError) -> None:
        failed.append(exc)
        print(f"engocr: error: {exc}", file=sys.stderr)

    sources = []
    for spec in args.inputs:
        try:
            sources.append((spec, open_source(spec)))
        except InputError as exc:
            report(exc)
    names = _image_names(sources)
    if args.annotate:
        targets = dict.fromkeys(_annotated_path(args.annotate, n) for n in names.values())
        check_outputs([args.annotate, *targets], list(names))
        prepare_folder(args.annotate)
    reader = make_reader(args)
    for spec, source in sources:
        try:
            source.on_error = report  # a bad image in a folder does not stop the others
            paths = getattr(source, "paths", None)
            for frame in source:
                result = reader.read(frame.image)
                name = names[paths[frame.index]] if paths else frame.name or spec
                out.append({"image": name, "words": [w.to_dict() for w in result.words]})
                if not args.json:
                    print(f"{name}: {result.text or '(no text found)'}")
                if args.annotate:
                    _write_annotated(_annotated_path(args.annotate, name),
                                     draw_result(frame.image, result, show_stats=False))
        except InputError as exc:
            report(exc)
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
    stats = run(source, process, sinks, window=window,
                annotate=bool(getattr(args, "output", None)) or window is not None,
                progress=True, max_frames=getattr(args, "max_frames", None))
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
    stats = run(source, _process(reader), sinks, window=window, keep_results=True)
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
        score=args.score, det_size=args.det_size, backend=args.backend, det_run=args.det_run,
        rec_run=args.rec_run, lexicon=not args.no_lexicon, words=tuple(args.words))
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
    except KeyboardInterrupt:
        print("engocr: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("engocr: error: out of memory (try a smaller frame size)", file=sys.stderr)
        return 5
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in TRAINING_MODULES:
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
    except KeyboardInterrupt:
        print("engocr-cam: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
