"""Find the installed fonts that can render the whole charset (scripts/setup_train.sh installs
them from Debian's font packages)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
from PIL import ImageFont

from engocr.charset import CHARSET

FONT_DIRS = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"]
FONTS_ENV = "ENGOCR_FONTS"  # a folder to use instead (a GPU machine's bundle carries one)
FONT_SUFFIXES = {".ttf", ".otf"}
_PROBE = "AaBbGgQqRr0123456789?&@"  # letters and digits every usable font must draw distinctly
# Fonts that map Latin code points to pictures pass the glyph check, so they are named here.
_NOT_TEXT = ("symbol", "dingbat", "d050000l", "emoji", "math", "icon", "awesome", "musical")


def _distinct_glyphs(path: Path) -> bool:
    """True when the font draws real, distinct glyphs for the probe characters (symbol and
    dingbat fonts, and fonts that show .notdef boxes for Latin, fail)."""
    try:
        font = ImageFont.truetype(str(path), 32)
    except OSError:
        return False
    masks = set()
    for ch in _PROBE:
        mask = font.getmask(ch)
        if mask.getbbox() is None:
            return False
        masks.add(bytes(np.asarray(mask)))
    if len(masks) < len(_PROBE) - 1:
        return False
    return all(font.getmask(ch).getbbox() is not None for ch in CHARSET if not ch.isspace())


def _cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "engocr" / "fonts.json"


def font_dirs() -> list[Path]:
    """Where fonts are looked for: `$ENGOCR_FONTS` if set, else the system's folders."""
    return [Path(os.environ[FONTS_ENV])] if os.environ.get(FONTS_ENV) else FONT_DIRS


@functools.lru_cache(maxsize=1)
def find_fonts() -> tuple[Path, ...]:
    """Usable font files, sorted for determinism; the check is cached per font set."""
    candidates = sorted(p for d in font_dirs() if d.is_dir() for p in d.rglob("*")
                        if p.suffix.lower() in FONT_SUFFIXES)
    key = [str(p) for p in candidates]
    cache = _cache_path()
    try:
        cached = json.loads(cache.read_text())
        if cached["candidates"] == key:
            return tuple(Path(p) for p in cached["usable"])
    except (OSError, ValueError, KeyError):
        pass
    usable = [p for p in candidates
              if not any(bad in p.name.lower() for bad in _NOT_TEXT) and _distinct_glyphs(p)]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"candidates": key, "usable": [str(p) for p in usable]}))
    except OSError:
        pass
    return tuple(usable)


def require_fonts(minimum: int = 1) -> tuple[Path, ...]:
    """Usable fonts, or a clear error naming the set-up script that installs them."""
    fonts = find_fonts()
    if len(fonts) < minimum:
        raise RuntimeError(f"found {len(fonts)} usable fonts, need {minimum}: "
                           "run scripts/setup_train.sh to install the font packages")
    return fonts


@functools.lru_cache(maxsize=1)
def font_families() -> tuple[tuple[Path, ...], ...]:
    """Usable fonts grouped by family, so that sampling a family first keeps a family with 40
    weights from drowning out one with a single face."""
    groups: dict[str, list[Path]] = {}
    for path in find_fonts():
        family = ImageFont.truetype(str(path), 12).getname()[0] or path.stem
        groups.setdefault(family, []).append(path)
    return tuple(tuple(v) for _, v in sorted(groups.items()))


@functools.lru_cache(maxsize=4096)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A cached FreeType font at a pixel size."""
    return ImageFont.truetype(path, size)
