"""What both trainers share: phases with learning-rate schedules, resumable state, checkpoints
every few minutes, a metrics log, and a clean stop on SIGTERM/Ctrl-C."""

from __future__ import annotations

import csv
import json
import math
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engocr.errors import InputError
from engocr.train.checkpoints import has_checkpoint, load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    import keras


@dataclass
class Phase:
    """One stage of a training recipe."""

    name: str
    steps: int
    lr: float
    real_fraction: float = 0.0
    freeze_lower: bool = False
    patience: int = 0  # evaluations without improvement that end the phase early (0 = never)
    # > 0: a running mean of the weights, taken every this many steps, is what the phase's
    # evaluations score and what its best weights are (stochastic weight averaging).
    average_every: int = 0
    # Augmentation of the real crops (recognizer): "light", or "strong" (rec_data.augment_real).
    real_augment: str = "light"
    # Detector: train the end head alone on the finished detector (DetectorConfig.end_head).
    end_head_only: bool = False
    # Detector: train as the int8 export computes (engocr.train.quant_aware): fine-tuning a
    # finished detector so that its int8 model keeps the float model's accuracy.
    quantize_aware: bool = False

    def __post_init__(self) -> None:
        if self.real_augment not in ("light", "strong"):
            raise ValueError(f"phase {self.name}: real_augment must be light or strong, not "
                             f"{self.real_augment!r}")


@dataclass
class RunState:
    """Everything besides weights that a resumed run needs to continue where it stopped."""

    step: int = 0
    phase: int = 0
    phase_start: int = 0
    best: float = -1.0
    stale_evals: int = 0
    synth_index: int = 0
    real_index: int = 0  # the detector's real training windows (det_data.real_window_stream)
    averaged: int = 0  # weight snapshots in the current phase's running mean
    seconds: float = 0.0
    history: list = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> RunState:
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def read_config(run_dir: Path, cls):
    """A run's `config.json` as the dataclass `cls` (JSON lists back to its tuples)."""
    data = json.loads((run_dir / "config.json").read_text())
    return cls(**{k: _tuples(v) for k, v in data.items()})


def read_recipe(path: Path) -> list[Phase]:
    """A recipe file: a JSON list of phases (the layout of a run's `recipe.json`)."""
    try:
        phases = [Phase(**p) for p in json.loads(Path(path).read_text())]
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a recipe (a JSON list of phases): {exc}") from None
    if not phases:
        raise InputError(f"{path}: the recipe has no phases")
    return phases


def start_run(run_dir: Path, config, recipe: list[Phase], fill=None):
    """The config and recipe a run trains with: the saved ones when the run exists (a resumed
    run keeps the architecture it started with, and its `recipe.json` may be edited between
    sessions to lengthen or shorten a phase); else `fill(config)` (e.g. anchors) and `recipe`,
    both saved."""
    run_dir.mkdir(parents=True, exist_ok=True)
    recipe_path = run_dir / "recipe.json"
    if (run_dir / "config.json").exists():
        if recipe_path.exists():
            recipe = [Phase(**p) for p in json.loads(recipe_path.read_text())]
        return read_config(run_dir, type(config)), recipe
    config = fill(config) if fill else config
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1))
    recipe_path.write_text(json.dumps([asdict(p) for p in recipe], indent=1))
    return config, recipe


def phase_lr(phase: Phase, step_in_phase: int, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to a tenth of the phase's learning rate."""
    if step_in_phase < warmup:
        return phase.lr * (step_in_phase + 1) / warmup
    t = min(1.0, (step_in_phase - warmup) / max(1, phase.steps - warmup))
    return phase.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


class MetricsLog:
    """Append-only CSV: survives a killed session, and the next one appends to it. A row with
    new columns (a metric added between sessions) rewrites the file under the wider header,
    earlier rows left empty there, instead of appending fields under the wrong names."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: dict) -> None:
        header = list(row)
        if self.path.exists():
            with open(self.path, newline="") as handle:
                old = next(csv.reader(handle), [])
            if old:
                header = old + [k for k in row if k not in old]
                if header != old:
                    self._widen(header)
        new = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, restval="")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _widen(self, header: list[str]) -> None:
        with open(self.path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, restval="")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)


class StopFlag:
    """Set by SIGTERM/SIGINT so the loop can checkpoint and exit instead of dying mid-write;
    `restore()` puts the previous handlers back when training ends."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.stop = False
        self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def _handle(self, *_args) -> None:
        self.stop = True

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Timer:
    """Wall-clock budget and checkpoint cadence."""

    def __init__(self, minutes: float | None, checkpoint_minutes: float) -> None:
        self.start = time.time()
        self.deadline = self.start + minutes * 60 if minutes is not None else None
        self.every = checkpoint_minutes * 60
        self.last = self.start

    def expired(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def checkpoint_due(self) -> bool:
        if time.time() - self.last >= self.every:
            self.last = time.time()
            return True
        return False


def copy_matching_weights(model: keras.Model, source: keras.Model) -> list[str]:
    """Copy the weights of every layer of `source` whose name and weight shapes match a layer of
    `model` (e.g. the convolutional body under a different sequence head); the names copied."""
    copied = []
    for layer in model.layers:
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            continue
        theirs, ours = src.get_weights(), layer.get_weights()
        if theirs and len(theirs) == len(ours) and all(
                a.shape == b.shape for a, b in zip(theirs, ours, strict=True)):
            layer.set_weights(theirs)
            copied.append(layer.name)
    return copied


class PhasedTrainer:
    """The loop both trainers run: phases in order, learning rate per step, evaluation every
    `eval_every` steps (best weights kept), checkpoints every few minutes, clean stop.

    Subclasses set `model`, `optimizer`, `run_dir`, `recipe`, `eval_every`, `batch_size` and
    implement `prepare()`, `apply_phase()`, `next_batch()`, `make_step()`, `evaluate()` (and
    `load_source()` for `start_from`).
    """

    # Attributes holding the rendering streams `prepare()` starts; closed when training ends.
    stream_names: tuple[str, ...] = ("stream",)

    primary_metric = ""
    # The source run's weights `start_from` copies (`load_source` reads them).
    init_weights = "best"

    def _init_state(self) -> None:
        """Run state, metrics log, and the checkpoint where the run has one. The optimizer is
        built on every weight that trains in some phase (`self.optimized`), before any phase
        freezes layers."""
        self.state = RunState.load(self.run_dir / "state.json")
        self.average = None  # the running weight mean of an averaging phase
        self.log = MetricsLog(self.run_dir / "metrics.csv")
        self.optimized = list(self.model.trainable_variables)
        self.optimizer.build(self.optimized)
        if not load_checkpoint(self.run_dir, self.model, self.optimizer) and self.state.step:
            # A run whose weights left the tree (superseded runs keep only their records):
            # resuming would train fresh weights from step N as if they were the run's.
            raise InputError(f"{self.run_dir}: its state is at step {self.state.step} but it "
                             "has no checkpoint (ckpt/model.weights.h5), so it cannot resume; "
                             "restore the checkpoint from git history or start a new run "
                             "(--init-from another run)")

    def start_from(self, source_run: Path | None) -> None:
        """A new run (no step, no checkpoint) starts from another run's weights (`init_weights`)
        where layers match (`load_source` builds that run's model); recorded in the run folder's
        `init.json` so the run says where it came from. A resumed run keeps its own weights."""
        if source_run is None or self.state.step or has_checkpoint(self.run_dir):
            return
        copied = copy_matching_weights(self.model, self.load_source(source_run))
        if not copied:
            raise InputError(f"no layer of {source_run} matches this model's layers")
        (self.run_dir / "init.json").write_text(json.dumps(
            {"from": str(source_run), "weights": self.init_weights, "layers": copied},
            indent=1))

    def save(self) -> None:
        """Checkpoint (weights + optimizer: its weights are the run's `last`), the running
        weight mean of an averaging phase (removed after it: only a resumed phase reads it)
        and the run state."""
        save_checkpoint(self.run_dir, self.model, self.optimizer)
        average = self.run_dir / "average.weights.h5"
        if self.state.averaged:
            with self._scoring_average():
                self.model.save_weights(average)
        else:
            average.unlink(missing_ok=True)
        self.state.save(self.run_dir / "state.json")

    def _accumulate_average(self) -> None:
        """Fold the current weights into the phase's running mean (moving statistics too)."""
        weights, n = self.model.get_weights(), self.state.averaged
        if n == 0 or self.average is None:
            self.average = weights
        else:
            self.average = [a + (w - a) / (n + 1)
                            for a, w in zip(self.average, weights, strict=True)]
        self.state.averaged = n + 1

    def _load_average(self) -> None:
        """The running mean of a resumed phase, from the file `save` wrote."""
        self.average = None
        path = self.run_dir / "average.weights.h5"
        if self.state.averaged and path.exists():
            current = self.model.get_weights()
            self.model.load_weights(path)
            self.average = self.model.get_weights()
            self.model.set_weights(current)
        else:
            self.state.averaged = 0

    @contextmanager
    def _scoring_average(self):
        """The model holds the running mean inside the block (when there is one), its own
        training weights again after it."""
        if self.average is None:
            yield
            return
        current = self.model.get_weights()
        self.model.set_weights(self.average)
        try:
            yield
        finally:
            self.model.set_weights(current)

    def train(self, minutes: float | None = None, checkpoint_minutes: float = 4.0) -> RunState:
        """Run the recipe from where the run stands, for at most `minutes`."""
        stop, timer = StopFlag(), Timer(minutes, checkpoint_minutes)
        try:
            return self._train(stop, timer)
        finally:
            for name in self.stream_names:
                stream = getattr(self, name, None)
                if stream is not None:
                    stream.close()  # stops the rendering workers
            stop.restore()

    def _train(self, stop: StopFlag, timer: Timer) -> RunState:
        from tqdm import tqdm

        self.prepare()
        self._load_average()
        while self.state.phase < len(self.recipe) and not (stop.stop or timer.expired()):
            phase = self.recipe[self.state.phase]
            self.apply_phase(phase)
            step_fn = self.make_step()
            bar = tqdm(total=phase.steps, initial=self.state.step - self.state.phase_start,
                       desc=phase.name, mininterval=15, dynamic_ncols=True)
            losses, t0 = [], time.time()
            while self.state.step - self.state.phase_start < phase.steps:
                in_phase = self.state.step - self.state.phase_start
                self.optimizer.learning_rate.assign(phase_lr(phase, in_phase))
                loss = float(step_fn(*self.next_batch(phase)))
                if not np.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at step {self.state.step}; "
                                             "resume from the last checkpoint with a lower lr")
                losses.append(loss)
                self.state.step += 1
                if phase.average_every and (in_phase + 1) % phase.average_every == 0:
                    self._accumulate_average()
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", refresh=False)
                if self.state.step % self.eval_every == 0:
                    self._end_of_interval(phase, losses, time.time() - t0)
                    losses, t0 = [], time.time()
                    if phase.patience and self.state.stale_evals >= phase.patience:
                        break
                if timer.checkpoint_due():
                    self.save()
                if stop.stop or timer.expired():
                    break
            bar.close()
            if stop.stop or timer.expired():
                break
            if losses:  # the phase ended between evaluations: score its last weights (an
                # averaging phase's full mean), which would otherwise never be looked at
                self._end_of_interval(phase, losses, time.time() - t0)
            self.state.phase += 1
            self.state.phase_start = self.state.step
            self.state.stale_evals = 0
            self.state.averaged, self.average = 0, None
            self.save()
        self.save()
        return self.state

    def _end_of_interval(self, phase: Phase, losses: list[float], elapsed: float) -> None:
        self.state.seconds += elapsed
        with self._scoring_average():
            scores = self.evaluate()
            value = scores[self.primary_metric]
            improved = value > self.state.best
            if improved:
                self.model.save_weights(self.run_dir / "best.weights.h5")
        if improved:
            self.state.best = value
            self.state.stale_evals = 0
        else:
            self.state.stale_evals += 1
        row = {"step": self.state.step, "phase": phase.name,
               "loss": round(float(np.mean(losses)), 4),
               "lr": float(self.optimizer.learning_rate.numpy()),
               "samples_per_s": round(len(losses) * self.batch_size / max(elapsed, 1e-6), 1),
               "train_hours": round(self.state.seconds / 3600, 3),
               **{k: round(float(v), 4) for k, v in scores.items()}, "best": int(improved)}
        if phase.average_every:
            row["averaged"] = self.state.averaged
        self.log.append(row)
        print(json.dumps(row), flush=True)
        self.save()
