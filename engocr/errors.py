"""Errors that the command line turns into one clear line on stderr and a non-zero exit."""

from __future__ import annotations


class EngocrError(Exception):
    """Base of every error a user can cause and fix; the CLI prints its message only."""

    exit_code = 2


class InputError(EngocrError):
    """An input (image, video, camera, stream) is missing or unreadable."""


class ModelError(EngocrError):
    """A model file is missing, is not TFLite, or does not match its card."""

    exit_code = 3


class OutputError(EngocrError):
    """An output cannot be written (no permission, no such folder, disk full)."""

    exit_code = 4


def caused_by_interrupt(exc: BaseException | None) -> bool:
    """Whether a Ctrl-C is among `exc`'s causes. numba re-raises a KeyboardInterrupt that
    lands while a jitted function is being called as a SystemError chained to it, which would
    otherwise end a run with a traceback instead of keeping its outputs."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
