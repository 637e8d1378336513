"""Per-stage timing (milliseconds) for the benchmark: each frame's stage -> ms dict, as the
predictors fill `FrameResult.timings`, summarised as median and p95."""

from __future__ import annotations

from collections import defaultdict

import numpy as np


class StageTimes:
    """Collects one dict of stage -> ms per frame, and summarises median and p95."""

    def __init__(self) -> None:
        self.frames: list[dict[str, float]] = []
        self.current: dict[str, float] = defaultdict(float)

    def add(self, timings: dict[str, float]) -> None:
        for k, v in timings.items():
            self.current[k] += v

    def end_frame(self) -> dict[str, float]:
        done = dict(self.current)
        self.frames.append(done)
        self.current = defaultdict(float)
        return done

    def summary(self, skip: int = 0) -> dict[str, dict[str, float]]:
        frames = self.frames[skip:]
        names = list(dict.fromkeys(k for f in frames for k in f))
        out = {}
        for name in names:
            values = np.array([f.get(name, 0.0) for f in frames])
            out[name] = {"median": float(np.median(values)),
                         "p95": float(np.percentile(values, 95)), "mean": float(values.mean())}
        return out
