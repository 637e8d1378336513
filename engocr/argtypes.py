"""Command-line argument types and the parser every engocr command uses: values are checked
when parsed (a threshold of 1.5 or a stride of 0 is refused, not run), and a parse error is
one line like every other error."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' layout and shows each option's default where it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or \
                not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit 2), like every other error."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

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


SIZE = checked(_parse_size, lambda wh: min(wh) > 0, "WIDTHxHEIGHT such as 640x480")
POSITIVE = checked(int, lambda v: v >= 1, "a whole number >= 1")
FRACTION = checked(float, lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1")
SIDE = checked(int, lambda v: v >= 32, "a number of pixels >= 32")
