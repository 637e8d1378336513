"""The library opened read-only: the server must never write to a database that an
`engocr index` run may be writing at the same time (WAL mode lets both go on)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from engocr.errors import InputError
from engocr.library.store import SCHEMA_VERSION, Store


class ReadOnlyStore(Store):
    """A `Store` whose connection is opened with SQLite's `mode=ro`: any write fails, and
    nothing (schema, journal mode) is set up on open. Usable wherever search() takes a
    Store. One per request: sqlite3 connections are not shared across threads."""

    def __init__(self, path: str | Path) -> None:  # replaces Store.__init__: no set-up
        self.path = Path(path)
        uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
        try:
            self.db = sqlite3.connect(uri, uri=True, timeout=5, check_same_thread=False)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: cannot open the library database: {exc}") from None
        if version != SCHEMA_VERSION or not {"files", "words", "words_fts"} <= tables:
            self.db.close()
            what = f"schema version {version}" if version else "no engocr library tables"
            raise InputError(f"{self.path}: not an engocr library this version can read "
                             f"({what}; this engocr knows version {SCHEMA_VERSION})")

    def __enter__(self) -> ReadOnlyStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_library(path: str | Path) -> ReadOnlyStore:
    """The library at `path`, read-only, or one clear InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such library (make one with `engocr index`)")
    if not path.is_file():
        raise InputError(f"{path}: is not a file (the library is the --db file of "
                         "`engocr index`)")
    return ReadOnlyStore(path)


@dataclass(frozen=True)
class FileRow:
    """An indexed file, as recorded when it was read."""

    id: int
    path: str
    size: int
    mtime_ns: int
    frames: int


@dataclass(frozen=True)
class WordRow:
    """Where one word was read best: its file, frame, time and box."""

    id: int
    file: FileRow
    text: str
    frame: int
    time_s: float
    box: tuple[float, float, float, float]


def files_by_path(store: Store, paths: list[str]) -> dict[str, FileRow]:
    """The records of these files (those read without error), by path."""
    out: dict[str, FileRow] = {}
    unique = sorted(set(paths))
    for i in range(0, len(unique), 500):  # under SQLite's limit of bound parameters
        chunk = unique[i:i + 500]
        out.update((r[1], FileRow(*r)) for r in store.db.execute(
            "SELECT id, path, size, mtime_ns, frames FROM files WHERE status = 'ok' AND path "
            f"IN ({', '.join('?' * len(chunk))})", chunk))
    return out


def get_file(store: Store, file_id: int) -> FileRow | None:
    """An indexed file read without error, or None: failed files are never served."""
    row = store.db.execute("SELECT id, path, size, mtime_ns, frames FROM files "
                           "WHERE id = ? AND status = 'ok'", (file_id,)).fetchone()
    return FileRow(*row) if row else None


def get_word(store: Store, word_id: int) -> WordRow | None:
    row = store.db.execute(
        "SELECT w.id, w.text, w.frame, w.time_s, w.x1, w.y1, w.x2, w.y2, f.id, f.path, f.size, "
        "f.mtime_ns, f.frames FROM words w JOIN files f ON f.id = w.file_id "
        "WHERE w.id = ? AND f.status = 'ok'", (word_id,)).fetchone()
    if row is None:
        return None
    return WordRow(row[0], FileRow(*row[8:]), row[1], row[2], row[3], tuple(row[4:8]))


def get_thumb(store: Store, word_id: int) -> bytes | None:
    row = store.db.execute("SELECT thumb FROM words WHERE id = ?", (word_id,)).fetchone()
    return bytes(row[0]) if row and row[0] else None


def last_times(store: Store, ids: list[int]) -> dict[int, float]:
    """The last time any word is on screen in each file: a duration when the video's own
    cannot be read."""
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    return dict(store.db.execute(f"SELECT file_id, max(last_s) FROM words WHERE file_id IN "
                                 f"({marks}) GROUP BY file_id", ids))


def library_summary(store: Store) -> dict:
    """Counts for the page's header: files, failed files, words."""
    ok, failed = store.db.execute(
        "SELECT coalesce(sum(status = 'ok'), 0), coalesce(sum(status != 'ok'), 0) "
        "FROM files").fetchone()
    words = store.db.execute("SELECT count(*) FROM words").fetchone()[0]
    return {"files": ok, "failed": failed, "words": words}
