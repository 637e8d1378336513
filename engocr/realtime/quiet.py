"""Keeping native libraries' own log lines off stderr, where engocr promises one clear line
per problem and nothing on a clean run."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


@contextmanager
def quiet_native_stderr():
    """Silence what native code prints on stderr inside the block (LiteRT announces "INFO:
    Created TensorFlow Lite XNNPACK delegate for CPU." on every model it loads). Python
    exceptions still carry their messages; a clean engocr run prints nothing on stderr."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured): nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
