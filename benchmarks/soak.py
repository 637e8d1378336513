"""Memory over a long run: the tracked video pipeline with every output (annotated video, JSON
Lines, SRT, transcript) over many frames of the built-in demo scene, as `engocr video` or a
camera left running all day would run it. Prints and records the resident memory every
`--every` frames; a flat curve is the target.

    python benchmarks/soak.py [--frames 50000] [--every 5000] [--size 640x480]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

from engocr.argtypes import SIZE


def rss_mb() -> float:
    """Resident memory of this process now (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    from engocr.realtime.loop import run
    from engocr.realtime.reader import Reader
    from engocr.realtime.sinks import JsonlSink, TrackTranscriptSink, VideoSink
    from engocr.realtime.sources import DemoSource
    from engocr.realtime.tracking import TrackingReader

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=50_000)
    p.add_argument("--every", type=int, default=5_000)
    p.add_argument("--size", type=SIZE, default="640x480")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/soak.json"))
    args = p.parse_args(argv)
    reader = TrackingReader(Reader())
    samples = []

    def process(frame):
        result = reader(frame)
        if frame.index % args.every == 0 or frame.index == args.frames - 1:
            samples.append({"frame": frame.index, "rss_mb": round(rss_mb(), 1)})
            print(json.dumps(samples[-1]), flush=True)
        return result

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        source = DemoSource(frames=args.frames, size=args.size)
        sinks = [VideoSink(out / "soak.mp4", source.fps), JsonlSink(out / "soak.jsonl"),
                 TrackTranscriptSink(out / "soak.srt", "srt"),
                 TrackTranscriptSink(out / "soak.txt", "txt")]
        stats = run(source, process, sinks)
    quarter = max(1, len(samples) // 4)
    first, last = samples[:quarter], samples[-quarter:]
    report = {"date": datetime.date.today().isoformat(),
              "command": "python benchmarks/soak.py " + " ".join(argv or sys.argv[1:]),
              "frames": stats.frames, "fps": round(stats.fps, 1), "samples": samples,
              "rss_first_quarter_mb": max(s["rss_mb"] for s in first),
              "rss_last_quarter_mb": max(s["rss_mb"] for s in last)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"{stats.frames} frames at {stats.fps:.1f} FPS; RSS {report['rss_first_quarter_mb']} "
          f"MB (first quarter) -> {report['rss_last_quarter_mb']} MB (last quarter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
