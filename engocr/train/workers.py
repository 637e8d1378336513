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
    treated the same way, so a training run never hangs on its data."""
    index, executor = start, None
    try:
        while True:
            if executor is None:
                executor = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"),
                                               initializer=worker_init)
            futures = [executor.submit(render, task(i)) for i in range(index, index + chunk)]
            try:
                for future in futures:
                    item = future.result(timeout)
                    index += 1
                    yield item
            except (BrokenProcessPool, TimeoutError) as exc:
                print(f"rendering worker lost ({type(exc).__name__}); restarting the workers",
                      file=sys.stderr, flush=True)
                _stop(executor)
                executor = None
    finally:
        if executor is not None:
            _stop(executor)


def _stop(executor: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the workers now (they hold nothing worth finishing)."""
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
