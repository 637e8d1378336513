"""Command-line argument types and the parser every engocr command uses: values are checked
when parsed (a threshold of 1.5 or a stride of 0 is refused, not run), and a parse error is
one line like every other error."""

from __future__ import annotations

import argparse
from pathlib import Path


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' layout, shows each option's default where it has one (not an empty
    list), and names a value by its kind (PATH, N, WxH) where no metavar is given."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        empty = action.default in (None, False, argparse.SUPPRESS) or \
            (isinstance(action.default, (list, tuple)) and not action.default)
        if "default" in text or empty or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"

    def _get_default_metavar_for_optional(self, action: argparse.Action) -> str:
        return _METAVARS.get(action.type, action.dest.upper())  # type: ignore[arg-type]


class _SubParsers(argparse._SubParsersAction):
    """Sub-commands whose own --help starts with the line they have in the command list."""

    def add_parser(self, name: str, **kwargs):
        if kwargs.get("help") and not kwargs.get("description"):
            kwargs["description"] = kwargs["help"][0].upper() + kwargs["help"][1:] + "."
        return super().add_parser(name, **kwargs)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit 2), like every other error."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubParsers)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def checked(convert, check, what: str):
    """An argparse type: `convert` the text, then require `check(value)`."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not check(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what
    return parse


def _parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


# Frame sizes up to 8K UHD either way round: larger ones only fail deeper down (OpenCV).
MAX_SIZE = (7680, 4320)
MAX_THREADS = 256  # far above any CPU's cores: more only fails in the interpreter


def _size_ok(wh: tuple[int, int]) -> bool:
    return min(wh) > 0 and max(wh) <= MAX_SIZE[0] and min(wh) <= MAX_SIZE[1]


SIZE = checked(_parse_size, _size_ok,
               f"WIDTHxHEIGHT such as 640x480, at most {MAX_SIZE[0]}x{MAX_SIZE[1]}")
POSITIVE = checked(int, lambda v: v >= 1, "a whole number >= 1")
COUNT = checked(int, lambda v: v >= 0, "a whole number >= 0")
THREADS = checked(int, lambda v: 1 <= v <= MAX_THREADS, f"a whole number from 1 to {MAX_THREADS}")
FRACTION = checked(float, lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1")
ASPECT = checked(float, lambda v: 0.0 <= v <= 8.0, "a width-to-height ratio from 0 to 8")
SIDE = checked(int, lambda v: v >= 32, "a number of pixels >= 32")
COARSE_SIDE = checked(int, lambda v: v == 0 or 64 <= v <= 4096,
                      "0 (off) or a number of pixels from 64 to 4096")

# What a value is called in --help when its option gives no metavar.
_METAVARS = {Path: "PATH", SIZE: "WxH", POSITIVE: "N", COUNT: "N", THREADS: "N", FRACTION: "0-1",
             ASPECT: "R", SIDE: "PIXELS", COARSE_SIDE: "PIXELS", int: "N", float: "X"}
