"""What both trainers share: phases with learning-rate schedules, resumable state, checkpoints
every few minutes, a metrics log, and a clean stop on SIGTERM/Ctrl-C."""

from __future__ import annotations

import csv
import json
import math
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Phase:
    """One stage of a training recipe."""

    name: str
    steps: int
    lr: float
    real_fraction: float = 0.0
    freeze_lower: bool = False
    patience: int = 0  # evaluations without improvement that end the phase early (0 = never)


@dataclass
class RunState:
    """Everything besides weights that a resumed run needs to continue where it stopped."""

    step: int = 0
    phase: int = 0
    phase_start: int = 0
    best: float = -1.0
    stale_evals: int = 0
    synth_index: int = 0
    seconds: float = 0.0
    history: list = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> RunState:
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)


def phase_lr(phase: Phase, step_in_phase: int, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to a tenth of the phase's learning rate."""
    if step_in_phase < warmup:
        return phase.lr * (step_in_phase + 1) / warmup
    t = min(1.0, (step_in_phase - warmup) / max(1, phase.steps - warmup))
    return phase.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


class MetricsLog:
    """Append-only CSV: survives a killed session, and the next one appends to it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: dict) -> None:
        new = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


class StopFlag:
    """Set by SIGTERM/SIGINT so the loop can checkpoint and exit instead of dying mid-write."""

    def __init__(self) -> None:
        self.stop = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, *_args) -> None:
        self.stop = True


class Timer:
    """Wall-clock budget and checkpoint cadence."""

    def __init__(self, minutes: float | None, checkpoint_minutes: float) -> None:
        self.start = time.time()
        self.deadline = self.start + minutes * 60 if minutes else None
        self.every = checkpoint_minutes * 60
        self.last = self.start

    def expired(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def checkpoint_due(self) -> bool:
        if time.time() - self.last >= self.every:
            self.last = time.time()
            return True
        return False
