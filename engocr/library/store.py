"""The library's SQLite database (stdlib sqlite3, WAL mode, FTS5).

Schema version 1 (`PRAGMA user_version = 1`):

- `files(id, path UNIQUE, size, mtime_ns, status, error, frames, words, indexed_at)`: one row
  per file seen; `status` is 'ok' or 'failed' (then `error` holds the one-line reason). A file
  is done when its path, size and mtime_ns match.
- `words(id, file_id, track, text, first_s, last_s, frame, time_s, x1, y1, x2, y2, conf,
  thumb)`: one row per distinct text track of a file: its first and last time on screen, the
  frame (and its time) where it was read most confidently, its box there in frame pixels,
  that confidence and a small JPEG of the word (`thumb`, BLOB).
- `words_fts`: FTS5 index over `words.text` (external content, kept by triggers), tokenizer
  unicode61 (case-folded words).
- `words_vocab`: fts5vocab of `words_fts` (every indexed term), for one-edit fuzzy search.

Each file's rows are replaced in one transaction, so an interrupted run loses at most the
file that was being read.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from engocr.errors import OutputError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, status TEXT NOT NULL, error TEXT, frames INTEGER NOT NULL,
    words INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS words (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    track INTEGER NOT NULL, text TEXT NOT NULL, first_s REAL NOT NULL, last_s REAL NOT NULL,
    frame INTEGER NOT NULL, time_s REAL NOT NULL, x1 REAL, y1 REAL, x2 REAL, y2 REAL,
    conf REAL NOT NULL, thumb BLOB);
CREATE INDEX IF NOT EXISTS words_file ON words(file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS words_fts USING fts5(
    text, content='words', content_rowid='id', tokenize='unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS words_vocab USING fts5vocab(words_fts, 'row');
CREATE TRIGGER IF NOT EXISTS words_ai AFTER INSERT ON words BEGIN
    INSERT INTO words_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER IF NOT EXISTS words_ad AFTER DELETE ON words BEGIN
    INSERT INTO words_fts(words_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
"""

WORD_COLUMNS = ("track", "text", "first_s", "last_s", "frame", "time_s", "x1", "y1", "x2",
                "y2", "conf", "thumb")


class Store:
    """The database at `path` (created with the schema when new)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise OutputError(f"{self.path}: library schema version {version}, this engocr "
                                  f"knows {SCHEMA_VERSION}")
            with self.db:
                self.db.executescript(SCHEMA)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise OutputError(f"{self.path}: cannot open the library database: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def is_done(self, path: Path, size: int, mtime_ns: int) -> bool:
        row = self.db.execute("SELECT size, mtime_ns FROM files WHERE path = ?",
                              (str(path),)).fetchone()
        return row is not None and tuple(row) == (size, mtime_ns)

    def put_file(self, path: Path, size: int, mtime_ns: int, rows: list[dict],
                 frames: int = 0, error: str | None = None) -> None:
        """Replace the file's record and rows, in one transaction. A full disk or an
        unwritable database is an OutputError (what was committed before stays)."""
        try:
            self._put_file(path, size, mtime_ns, rows, frames, error)
        except sqlite3.DatabaseError as exc:
            raise OutputError(f"{self.path}: cannot write the library: {exc}") from None

    def _put_file(self, path: Path, size: int, mtime_ns: int, rows: list[dict], frames: int,
                  error: str | None) -> None:
        with self.db:
            self.db.execute("DELETE FROM words WHERE file_id IN "
                            "(SELECT id FROM files WHERE path = ?)", (str(path),))
            self.db.execute("DELETE FROM files WHERE path = ?", (str(path),))
            cur = self.db.execute(
                "INSERT INTO files(path, size, mtime_ns, status, error, frames, words, "
                "indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (str(path), size, mtime_ns, "failed" if error else "ok", error, frames,
                 len(rows), time.time()))
            file_id = cur.lastrowid
            self.db.executemany(
                f"INSERT INTO words(file_id, {', '.join(WORD_COLUMNS)}) VALUES "
                f"(?, {', '.join('?' * len(WORD_COLUMNS))})",
                [(file_id, *(row.get(c) for c in WORD_COLUMNS)) for row in rows])

    def vocabulary(self) -> list[str]:
        """Every indexed term (a scan of the whole FTS5 index: slow on a big library)."""
        return [r[0] for r in self.db.execute("SELECT term FROM words_vocab")]

    def terms_with_prefix(self, prefix: str) -> list[str]:
        """The indexed terms that start with `prefix` (a range of the index, not a scan)."""
        if not prefix or ord(prefix[-1]) >= 0x10FFFF:
            return [t for t in self.vocabulary() if t.startswith(prefix)]
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return [r[0] for r in self.db.execute(
            "SELECT term FROM words_vocab WHERE term >= ? AND term < ?", (prefix, end))]

    def terms_in(self, candidates: Iterable[str]) -> list[str]:
        """Those of `candidates` that are indexed terms (one index seek each)."""
        candidates = list(candidates)
        found: list[str] = []
        for start in range(0, len(candidates), 500):  # under any build's variable limit
            chunk = candidates[start:start + 500]
            found += [r[0] for r in self.db.execute(
                f"SELECT term FROM words_vocab WHERE term IN ({', '.join('?' * len(chunk))})",
                chunk)]
        return found
