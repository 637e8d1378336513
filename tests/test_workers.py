"""The rendering stream survives a worker killed mid-run: training never hangs on its data."""

import os
import signal

import pytest

from engocr.train.workers import rendered_stream


def _square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def test_stream_goes_on_in_order_after_a_worker_is_killed():
    stream = rendered_stream(_square, lambda i: i, start=5, workers=1, chunk=16, timeout=20)
    first = [next(stream) for _ in range(3)]
    assert [v for _, v in first] == [25, 36, 49]
    os.kill(first[0][0], signal.SIGKILL)
    rest = [next(stream) for _ in range(20)]
    assert [v for _, v in rest] == [i * i for i in range(8, 28)]
    assert rest[-1][0] != first[0][0]  # served by a new worker
    stream.close()


def _die(x: int) -> int:
    os._exit(1)  # a worker that dies on every task, as a broken font or library would make it


def test_a_renderer_that_always_dies_is_reported_not_restarted_forever():
    stream = rendered_stream(_die, lambda i: i, start=0, workers=1, chunk=4, timeout=20)
    with pytest.raises(RuntimeError, match="died 6 times in a row"):
        next(stream)
