"""A pool of rendered training samples held in memory and reused a bounded number of times.

Rendering a synthetic crop costs more than a training step spends on it (one rendering process
makes about 170 crops/s; the CRNN trains at about 476 samples/s on 2 cores), so a trainer fed
straight from the renderer waits on it. The pool decouples the two: a feeder thread moves
freshly rendered samples into free slots, the trainer draws random samples from the pool, and
each sample is served at most `max_uses` times before its slot is handed back to the renderer.
The renderer's own worker processes are replaced when one dies (`workers.rendered_stream`), so
a killed renderer only slows the pool down.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np


class SamplePool:
    """`capacity` slots filled from `stream` by a background thread; `draw(n, rng)` returns n
    distinct samples that have been served fewer than `max_uses` times (waiting for the
    renderer when too few are left)."""

    def __init__(self, stream: Iterator[Any], capacity: int, max_uses: int,
                 wait_s: float = 600.0) -> None:
        if capacity < 1 or max_uses < 1:
            raise ValueError("capacity and max_uses must be at least 1")
        self.capacity, self.max_uses, self.wait_s = capacity, max_uses, wait_s
        self.items: list[Any] = [None] * capacity
        self.uses = np.full(capacity, max_uses, np.int64)  # an empty slot counts as used up
        self.rendered = 0  # samples taken from the stream so far
        self.served = 0
        self._stream = stream
        self._closed = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._feed, name="sample-pool", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        try:
            for item in self._stream:
                with self._cond:
                    while not self._closed and not (self.uses >= self.max_uses).any():
                        self._cond.wait(0.5)
                    if self._closed:
                        return
                    slot = int(np.flatnonzero(self.uses >= self.max_uses)[0])
                    self.items[slot], self.uses[slot] = item, 0
                    self.rendered += 1
                    self._cond.notify_all()
        except BaseException as exc:  # the trainer sees it on its next draw
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()  # stops the rendering workers

    def available(self) -> int:
        with self._cond:
            return int((self.uses < self.max_uses).sum())

    def draw(self, n: int, rng: np.random.Generator) -> list[Any]:
        """n distinct samples, each now served once more (never beyond `max_uses`)."""
        if n > self.capacity:
            raise ValueError(f"cannot draw {n} samples from a pool of {self.capacity}")
        with self._cond:
            ready = lambda: self._error is not None or self._closed or \
                int((self.uses < self.max_uses).sum()) >= n  # noqa: E731
            if not self._cond.wait_for(ready, timeout=self.wait_s):
                raise TimeoutError(f"the renderer gave no samples for {self.wait_s:.0f} s")
            free = np.flatnonzero(self.uses < self.max_uses)
            if len(free) < n and self._error is not None:
                raise RuntimeError(f"the sample renderer failed: {self._error}") from self._error
            if len(free) < n:
                raise RuntimeError("the sample pool is closed")
            picked = rng.choice(free, n, replace=False)
            self.uses[picked] += 1
            self.served += n
            if (self.uses[picked] >= self.max_uses).any():
                self._cond.notify_all()  # slots for the renderer
            return [self.items[int(i)] for i in picked]

    def close(self, timeout: float = 30.0) -> None:
        """Stop the feeder (it closes the stream, and so the rendering workers)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
