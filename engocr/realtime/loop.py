"""The frame loop: source -> reader -> overlay -> sinks (and window), with per-stage timing.
Sinks are closed on every exit path (end of stream, broken stream, Ctrl-C, `q` in the window),
and dropped when not one frame came through."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engocr.errors import OutputError, caused_by_interrupt
from engocr.realtime.overlay import draw_result, draw_stats
from engocr.realtime.progress import progress_bar
from engocr.realtime.quiet import quiet_native_stderr
from engocr.realtime.results import FrameResult
from engocr.realtime.sinks import Sink
from engocr.realtime.sources import Source


@dataclass
class RunStats:
    frames: int = 0
    seconds: float = 0.0
    results: list[FrameResult] = field(default_factory=list)
    interrupted: bool = False

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def display_available() -> bool:
    """Whether a window can open: OpenCV's GUI build aborts the process without a display."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Window:
    """A live `cv2.imshow` window: `q`/Esc quits, `s` saves a snapshot. It opens at the frame's
    own size (fitted within `max_size`), without the Qt toolbar, so the labels and the stats
    panel are drawn at the size they are read; Qt's start-up warnings stay off stderr."""

    def __init__(self, title: str = "engocr", snapshot_dir: Path = Path("."),
                 max_size: tuple[int, int] = (1600, 900)) -> None:
        from engocr.errors import InputError

        if not display_available():
            raise InputError("no display to open a window on: use --no-window (and -o to save)")
        self.title, self.snapshot_dir, self.snaps = title, snapshot_dir, 0
        self.max_size, self.sized = max_size, False
        flags = cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL
        try:
            with quiet_native_stderr():
                cv2.namedWindow(title, flags)
        except cv2.error:
            raise InputError("this OpenCV build has no GUI: install opencv-python, or use "
                             "--no-window") from None

    def show(self, frame: np.ndarray) -> bool:
        """Show a frame; False when the user asked to quit."""
        if not self.sized:  # the first frame sets the window's size
            h, w = frame.shape[:2]
            fit = min(1.0, self.max_size[0] / w, self.max_size[1] / h)
            with quiet_native_stderr():
                cv2.resizeWindow(self.title, int(w * fit), int(h * fit))
                cv2.imshow(self.title, frame)
            self.sized = True
        else:
            cv2.imshow(self.title, frame)
        key = cv2.waitKey(1) & 0xFF
        if key == ord("s"):
            self.snaps += 1
            path = self.snapshot_dir / f"engocr-snapshot-{self.snaps:03d}.png"
            cv2.imwrite(str(path), frame)
            print(f"saved {path}", file=sys.stderr)
        if key in (ord("q"), 27):
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return False

    def close(self) -> None:
        cv2.destroyWindow(self.title)


def frames_to_come(source: Source) -> int | None:
    """How many frames a file source will yield (its container's count over the stride);
    None for a live source or an unknown count."""
    count = getattr(source, "frame_count", 0) or getattr(source, "frames", 0)
    return -(-count // getattr(source, "stride", 1)) if count else None


@contextmanager
def deferred_interrupt():
    """Hold a Ctrl-C that comes while outputs are written until they are: raised inside the
    encoder's pipe it would stop the encoder mid-file and leave a video without frames."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None
                      else previous)
        if caught:
            raise KeyboardInterrupt


def _write(sinks: list[Sink], result: FrameResult, annotated: np.ndarray | None) -> None:
    with deferred_interrupt():
        for sink in sinks:
            try:
                sink.write(result, annotated)
            except OSError as exc:
                raise OutputError(f"writing output failed: {exc.strerror or exc}") from None


def _close(sinks: list[Sink], keep: bool) -> list[OutputError]:
    """Close (or, when nothing came through, drop) every sink; the errors they gave."""
    errors = []
    with deferred_interrupt():
        for sink in sinks:
            try:
                sink.close() if keep else sink.abort()
            except OutputError as exc:
                errors.append(exc)
            except OSError as exc:  # a full disk can also fail the final flush
                errors.append(OutputError(f"closing output failed: {exc.strerror or exc}"))
    return errors


def run(source: Source, process, sinks: list[Sink], window: Window | None = None,
        annotate: bool = True, keep_results: bool = False, progress: bool = False,
        max_frames: int | None = None, stats_panel: bool = False) -> RunStats:
    """Run `process(frame) -> FrameResult` over every frame of `source` into `sinks`. The live
    window always shows the FPS and per-stage panel; the annotated frames the sinks get (the
    saved video) have it only with `stats_panel`. `progress`: a bar on a terminal's stderr."""
    stats = RunStats()
    ema_fps = 0.0
    start = time.perf_counter()
    total = frames_to_come(source)
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    bar = progress_bar(total, "frame", progress)
    iterator = iter(source)
    try:
        while max_frames is None or stats.frames < max_frames:
            t0 = time.perf_counter()
            frame = next(iterator, None)
            if frame is None:
                break
            capture_ms = (time.perf_counter() - t0) * 1000
            result = process(frame)
            result.timings = {"capture": capture_ms, **result.timings}
            t1 = time.perf_counter()
            annotated = draw_result(frame.image, result, ema_fps, stats_panel) \
                if annotate else None
            shown = annotated if stats_panel or window is None or annotated is None else \
                draw_stats(annotated.copy(), result, ema_fps)
            t2 = time.perf_counter()
            result.timings["overlay"] = (t2 - t1) * 1000
            _write(sinks, result, annotated)
            result.timings["write"] = (time.perf_counter() - t2) * 1000
            if keep_results:
                stats.results.append(result)
            stats.frames += 1
            dt = time.perf_counter() - t0
            ema_fps = 1 / dt if ema_fps == 0 else 0.9 * ema_fps + 0.1 / max(dt, 1e-6)
            bar.update(1)
            if window is not None and shown is not None and not window.show(shown):
                break
    except (KeyboardInterrupt, SystemError) as exc:  # numba wraps a Ctrl-C in a SystemError
        if not caused_by_interrupt(exc):
            raise
        stats.interrupted = True
    finally:
        stats.seconds = time.perf_counter() - start
        bar.close()
        # No frame came through: drop the outputs, existing files stay as they were.
        try:
            errors = _close(sinks, keep=stats.frames > 0)
        finally:
            source.close()
            if window is not None:
                window.close()
        if errors:
            raise errors[0]
    return stats
