"""Rendering worker processes for the synthetic streams, made safe to stop and to lose."""

from __future__ import annotations

import multiprocessing as mp
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, TimeoutError
from concurrent.futures.process import BrokenProcessPool
from typing import Any

WORKER_TIMEOUT_S = 120.0
# Restarts in a row without one sample in between: past this the renderer itself is broken (a
# worker that dies on every task), and the stream says so instead of restarting forever.
MAX_RESTARTS = 5


def worker_init() -> None:
    """Rendering workers die on SIGTERM (the default) and leave Ctrl-C to their parent; without
    this they inherit the trainer's StopFlag handler and `Pool.terminate()` waits forever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def rendered_stream(render: Callable[[Any], Any], task: Callable[[int], Any], start: int,
                    workers: int = 1, chunk: int = 128, timeout: float = WORKER_TIMEOUT_S
                    ) -> Iterator[Any]:
    """Endless `render(task(i))` for i = start, start + 1, ... in order, computed in worker
    processes so that rendering overlaps training.

    A worker that dies mid-task (killed from outside, out of memory) would leave a
    `multiprocessing.Pool` waiting forever (and its `terminate()` deadlocked on the queue lock
    the worker held); the executor reports it instead, and the stream replaces the workers and
    goes on from the sample it was waiting for. A worker silent for `timeout` seconds is
    treated the same way, so a training run never hangs on its data; `MAX_RESTARTS` losses in
    a row without a sample raise instead.

    Workers are spawned, not forked: the stream is started from a thread of a process that may
    hold TensorFlow or LiteRT state, and a forked child inherits it half-locked (CI saw every
    forked worker segfault in a LiteRT interpreter's `__del__`). `render` and the tasks must
    therefore be picklable: module-level functions and plain values."""
    index, executor, restarts = start, None, 0
    try:
        while True:
            if executor is None:
                executor = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                               initializer=worker_init)
            futures = [executor.submit(render, task(i)) for i in range(index, index + chunk)]
            try:
                for future in futures:
                    item = future.result(timeout)
                    index += 1
                    restarts = 0
                    yield item
            except (BrokenProcessPool, TimeoutError) as exc:
                _stop(executor, kill=True)
                executor = None
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise RuntimeError(f"the rendering workers died {restarts} times in a row "
                                       f"without a sample (last: {type(exc).__name__})") from exc
                print(f"rendering worker lost ({type(exc).__name__}); restarting the workers",
                      file=sys.stderr, flush=True)
    finally:
        if executor is not None:
            _stop(executor)


def _stop(executor: ProcessPoolExecutor, kill: bool = False) -> None:
    """Cancel what is queued and let the workers finish the sample in hand (a fraction of a
    second). Killing a healthy worker could cut it off halfway through writing a sample to
    the result pipe, and the executor's reader would then wait forever for the rest (a
    trainer hung at exit that way). `kill`: for a worker that is already lost or stuck."""
    if kill:
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
    executor.shutdown(wait=not kill, cancel_futures=True)
