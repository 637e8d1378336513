"""Where the real data lives: `--data`, `$ENGOCR_DATA`, else a `shared/data` folder beside the
checkout or above the working folder (a plain install has no checkout to sit beside)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_ENV = "ENGOCR_DATA"


def in_checkout() -> bool:
    """True when the package runs from a source checkout (an editable install), not from
    site-packages."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "engocr").is_dir()


def shared_dir(name: str) -> Path:
    """`shared/<name>` beside the checkout, else the first `shared/<name>` found in the working
    folder or one of its parents; the checkout's (or the working folder's) when none exists, so
    that an error can say where it looked."""
    if in_checkout():
        return REPO_ROOT.parent / "shared" / name
    cwd = Path.cwd()
    for folder in (cwd, *cwd.parents):
        if (folder / "shared" / name).is_dir():
            return folder / "shared" / name
    return cwd / "shared" / name


def data_root(explicit: str | Path | None = None) -> Path:
    """The real-data folder (it may not exist: callers skip what needs it)."""
    if explicit:
        return Path(explicit)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return shared_dir("data")
