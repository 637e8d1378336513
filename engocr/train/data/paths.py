"""Where the real data lives: `$ENGOCR_DATA`, else `../shared/data` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_ENV = "ENGOCR_DATA"


def data_root(explicit: str | Path | None = None) -> Path:
    """The real-data folder (it may not exist: callers skip what needs it)."""
    if explicit:
        return Path(explicit)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return REPO_ROOT.parent / "shared" / "data"
