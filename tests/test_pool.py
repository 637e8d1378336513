"""The sample pool: never serves a sample beyond its reuse budget, keeps serving when a
rendering worker is killed, and a recognizer run trained from it resumes at its step."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import numpy as np
import pytest

from engocr.train.pool import SamplePool
from engocr.train.workers import rendered_stream


def _numbers(delay: float = 0.0):
    i = 0
    while True:
        if delay:
            time.sleep(delay)
        yield i
        i += 1


def test_pool_never_serves_beyond_the_reuse_budget():
    pool = SamplePool(_numbers(delay=0.0005), capacity=32, max_uses=3)
    rng = np.random.default_rng(0)
    served = Counter()
    try:
        for _ in range(300):  # draws outpace the slow renderer: the pool must wait, not reuse
            batch = pool.draw(8, rng)
            assert len(set(batch)) == 8
            served.update(batch)
    finally:
        pool.close()
    assert max(served.values()) <= 3
    assert pool.served == 2400 and pool.rendered >= 2400 / 3


def test_pool_reports_a_failed_renderer():
    def broken():
        yield 1
        raise OSError("font file vanished")

    pool = SamplePool(broken(), capacity=4, max_uses=1, wait_s=5)
    rng = np.random.default_rng(0)
    assert pool.draw(1, rng) == [1]
    with pytest.raises(RuntimeError, match="font file vanished"):
        pool.draw(1, rng)
    pool.close()


def _slow_square(i: int) -> int:
    time.sleep(0.002)
    return i * i


def test_pool_survives_a_killed_rendering_worker():
    stream = rendered_stream(_slow_square, lambda i: i, 0, workers=1, chunk=16, timeout=10)
    pool = SamplePool(stream, capacity=16, max_uses=2)
    rng = np.random.default_rng(0)
    try:
        pool.draw(4, rng)
        workers = _rendering_workers()
        assert workers, "the renderer runs in a worker process"
        os.kill(workers[0], signal.SIGKILL)
        seen = set()
        deadline = time.time() + 60
        while len(seen) < 100 and time.time() < deadline:
            seen.update(pool.draw(4, rng))
        assert len(seen) >= 100  # fresh samples kept coming after the kill
    finally:
        pool.close()


def _rendering_workers() -> list[int]:
    """Process ids of this process's spawned pool workers (Linux): its children started by
    multiprocessing, less the resource tracker that spawning starts beside them."""
    me = str(os.getpid())
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = handle.read().split(") ", 1)[1].split()[1]
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    command = handle.read()
            except (OSError, IndexError):
                continue
            if parent == me and b"spawn_main" in command and b"resource_tracker" not in command:
                pids.append(int(entry))
    return pids


def test_rec_run_fed_from_the_pool_resumes_at_its_step(tmp_path):
    from engocr.models.crnn import CRNNConfig
    from engocr.train.loop import Phase, RunState
    from engocr.train.rec import RecTrainer
    from tests.conftest import TINY_REC

    config = CRNNConfig(**TINY_REC)
    run, none = tmp_path / "run", tmp_path / "none"
    recipe = [Phase("a", 3, 1e-3), Phase("b", 2, 5e-4)]
    first = RecTrainer(run, config, recipe, batch=4, data=none, eval_every=1000, pool=16,
                       reuse=3)
    _stop_after(first, 3)
    assert first.train().step == 3
    rendered = first.state.synth_index
    assert 12 / 3 <= rendered <= 16 + 12  # a full pool, plus what was served since
    trained = first.model.get_weights()
    second = RecTrainer(run, config, recipe, batch=4, data=none, eval_every=1000, pool=16,
                        reuse=3)
    assert second.state.step == 3 and second.state.synth_index == rendered
    for got, want in zip(second.model.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(got, want)
    assert second.train().step == 5 and RunState.load(run / "state.json").step == 5


def _stop_after(trainer, steps: int) -> None:
    """Stop `trainer` as a SIGTERM would (checkpoint, exit) once it has taken `steps` steps."""
    make_step = trainer.make_step

    def stopping_make_step():
        step = make_step()

        def run_step(*batch):
            loss = step(*batch)
            if trainer.state.step + 1 >= steps:
                signal.raise_signal(signal.SIGTERM)
            return loss
        return run_step

    trainer.make_step = stopping_make_step
