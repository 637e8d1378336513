"""Queries over the library: FTS5 syntax (words, prefix `lab*`, "phrases", AND/OR/NOT), plus
OCR-error tolerance: each plain word of the query also matches the indexed terms one edit
away ("L0T" for "LOT", "warehous" for "warehouse"); those hits rank below the exact ones."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from engocr.errors import InputError
from engocr.library.store import Store

OPERATORS = {"AND", "OR", "NOT", "NEAR"}
TOKEN = re.compile(r'"[^"]*"|\(|\)|[^\s()"]+')
PLAIN = re.compile(r"^[^\W_]+$")


@dataclass
class Hit:
    id: int
    file: str
    time_s: float
    first_s: float
    last_s: float
    text: str
    box: tuple[float, float, float, float]
    conf: float
    fuzzy: bool
    thumb: bytes | None = None

    @property
    def stamp(self) -> str:
        return timestamp(self.time_s)

    def to_dict(self) -> dict:
        return {"file": self.file, "time": self.stamp, "time_s": round(self.time_s, 3),
                "first_s": round(self.first_s, 3), "last_s": round(self.last_s, 3),
                "text": self.text, "box": [round(v, 1) for v in self.box],
                "conf": round(self.conf, 4), "fuzzy": self.fuzzy}


def timestamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def within_one_edit(a: str, b: str) -> bool:
    """Whether b is a, or one substitution, insertion or deletion away from it."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    return a[i + 1:] == b[i + 1:] if la == lb else a[i:] == b[i + 1:]


def fuzzy_query(query: str, vocabulary: list[str]) -> str | None:
    """The query with each plain word widened to (word OR its one-edit neighbours), or None
    when no word has a neighbour."""
    out, widened = [], False
    for token in TOKEN.findall(query):
        if token in OPERATORS or not PLAIN.match(token) or (out and out[-1] == "NOT"):
            out.append(token)
            continue
        term = token.lower()
        near = [v for v in vocabulary if v != term and within_one_edit(term, v)] \
            if len(term) >= 2 else []
        if near:
            widened = True
            out.append("(" + " OR ".join(f'"{t}"' for t in [term, *near]) + ")")
        else:
            out.append(token)
    if not widened:
        return None
    joined = []  # FTS5 needs an explicit AND after a bracketed group
    for token in out:
        if joined and joined[-1] not in OPERATORS and joined[-1] != "(" and \
                token not in OPERATORS and token != ")":
            joined.append("AND")
        joined.append(token)
    return " ".join(joined)


def _match(store: Store, query: str, limit: int, with_thumbs: bool) -> list[tuple]:
    thumb = "w.thumb" if with_thumbs else "NULL"
    try:
        return store.db.execute(
            f"SELECT w.id, f.path, w.time_s, w.first_s, w.last_s, w.text, w.x1, w.y1, w.x2, "
            f"w.y2, w.conf, {thumb} FROM words_fts JOIN words w ON w.id = words_fts.rowid "
            "JOIN files f ON f.id = w.file_id WHERE words_fts MATCH ? "
            "ORDER BY bm25(words_fts), f.path, w.time_s LIMIT ?", (query, limit)).fetchall()
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if "locked" not in message and "no such table" not in message:  # the query's fault
            raise InputError(f"bad search query {query!r}: {message}") from None
        raise


def search(store: Store, query: str, limit: int = 20, fuzzy: bool = True,
           with_thumbs: bool = False) -> list[Hit]:
    """Exact hits (by bm25) first, then the one-edit hits not already found."""
    if not query.strip():
        raise InputError("empty search query")
    rows = [(r, False) for r in _match(store, query, limit, with_thumbs)]
    if fuzzy and len(rows) < limit:
        wide = fuzzy_query(query, store.vocabulary())
        if wide:
            seen = {r[0] for r, _ in rows}
            rows += [(r, True) for r in _match(store, wide, limit + len(seen), with_thumbs)
                     if r[0] not in seen][:limit - len(rows)]
    return [Hit(r[0], r[1], r[2], r[3], r[4], r[5], (r[6], r[7], r[8], r[9]), r[10], fz,
                r[11]) for r, fz in rows]
