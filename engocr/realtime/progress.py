"""Progress bars (tqdm) on stderr for the long commands: percentage, rate and time left where
the total is known. Only on a terminal: piped or logged, stderr keeps its one-line messages."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int | None, unit: str, enabled: bool = True) -> tqdm:
    """A bar over `total` items (None or 0: unknown, counted with their rate), drawn only when
    `enabled` and stderr is a terminal; it clears itself when closed."""
    on_terminal = enabled and sys.stderr.isatty()
    return tqdm(total=total or None, unit=unit, file=sys.stderr, disable=not on_terminal,
                dynamic_ncols=True, leave=False, smoothing=0.1)
