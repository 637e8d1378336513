"""HTTP byte ranges (RFC 9110, section 14): browsers seek in a video by asking for the bytes
they need, so a video served without ranges cannot be seeked in most of them."""

from __future__ import annotations

import re

SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class Unsatisfiable(Exception):
    """The range lies wholly past the end of the file: answered 416."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single range, or None to send the whole file:
    no header, a malformed one or several ranges (a server may ignore Range; one range is
    all a video element asks for). Raises Unsatisfiable for a range past the end."""
    if not header:
        return None
    match = SINGLE.match(header)
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if size == 0:
        raise Unsatisfiable
    if first == "":  # the last N bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable
    return start, end
