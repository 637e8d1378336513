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
