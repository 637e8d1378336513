"""Moments of a multi-word query: a detector box usually holds one word, so "OPEN EXIT"
means the words on screen together, in one file at overlapping times, not in one box.
Each clause of the query is matched by FTS5, then the matches of one file whose times on
screen overlap are joined (numpy): intervals that overlap pairwise share an instant, so the
groups are built clause by clause, keeping the span all of a group's boxes share."""

from __future__ import annotations

import sqlite3

import numpy as np

from engocr.errors import InputError

MAX_CLAUSES = 8  # more is matched within one box (a join per clause)
CELLS = 1 << 20  # pairs of boxes compared at once


def fts_execute(db: sqlite3.Connection, sql: str, params: tuple, query: str) -> list[tuple]:
    """`db.execute(...).fetchall()`, a malformed query as one InputError line."""
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if "locked" not in message and "no such table" not in message:  # the query's fault
            raise InputError(f"bad search query {query!r}: {message}") from None
        raise


def _count(db: sqlite3.Connection, clause: str, query: str) -> int:
    return fts_execute(db, "SELECT count(*) FROM words_fts WHERE words_fts MATCH ?",
                       (clause,), query)[0][0]


def _clause_rows(db: sqlite3.Connection, clause: str, files: set[int] | None,
                 query: str) -> list[tuple]:
    """(id, file_id, first_s, last_s, bm25) of the boxes matching one clause, in `files`
    when given (bm25 is then scored only for those)."""
    sql = ("SELECT w.id, w.file_id, w.first_s, w.last_s, bm25(words_fts) FROM words_fts "
           "JOIN words w ON w.id = words_fts.rowid WHERE words_fts MATCH ?")
    if files is not None:
        sql += f" AND w.file_id IN ({', '.join(str(int(f)) for f in sorted(files))})"
    return fts_execute(db, sql, (clause,), query)


def _overlaps(per_clause: list[np.ndarray]) -> list[tuple[float, float, tuple[int, ...]]]:
    """Every choice of one box per clause (rows: id, first_s, last_s, bm25) whose times on
    screen share an instant, as (summed bm25, start of that instant, ids)."""
    ids = per_clause[0][:, :1]
    a, b, r = per_clause[0][:, 1], per_clause[0][:, 2], per_clause[0][:, 3]
    for rows in per_clause[1:]:
        step = max(1, CELLS // len(rows))  # groups at a time: bounded memory
        parts = []
        for s in range(0, len(a), step):
            lo = np.maximum(a[s:s + step, None], rows[None, :, 1])
            hi = np.minimum(b[s:s + step, None], rows[None, :, 2])
            gi, ri = np.nonzero(lo <= hi)
            parts.append((gi + s, ri, lo[gi, ri], hi[gi, ri]))
        gi, ri = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if not len(gi):
            return []
        ids = np.concatenate([ids[gi], rows[ri, :1]], axis=1)
        a, b = np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts])
        r = r[gi] + rows[ri, 3]
    return [(float(r[i]), float(a[i]), tuple(int(v) for v in ids[i])) for i in range(len(r))]


def find_moments(db: sqlite3.Connection, clauses: list[str], limit: int,
                 query: str) -> list[tuple[int, ...]]:
    """Up to `limit` groups of word row ids, best first, each a set of boxes of one file
    on screen at one instant that together match every clause: a box that matches all
    clauses alone is a group of one, ranked first (by summed bm25); a group holding such a
    box is not also given, nor the same boxes twice. Then by summed bm25, file and time.
    The rarest clause is matched first and the others only in its files. `query` names
    the error."""
    k = len(clauses)
    if not 2 <= k <= MAX_CLAUSES:
        raise ValueError(f"find_moments needs 2 to {MAX_CLAUSES} clauses, got {k}")
    counts = [_count(db, c, query) for c in clauses]
    if not min(counts):
        return []
    files: set[int] | None = None
    matched: list[list[tuple]] = [[] for _ in clauses]
    for i in sorted(range(k), key=counts.__getitem__):
        matched[i] = _clause_rows(db, clauses[i], files, query)
        files = {row[1] for row in matched[i]} & (files if files is not None else
                                                  {row[1] for row in matched[i]})
        if not files:
            return []
    scores = [{row[0]: row[4] for row in rows} for rows in matched]
    whole = set(scores[0]).intersection(*scores[1:])
    singles = sorted(whole, key=lambda i: (sum(s[i] for s in scores), i))
    by_file: dict[int, list[list[tuple]]] = {f: [[] for _ in clauses] for f in files}
    for c, rows in enumerate(matched):
        for row in rows:
            if row[1] in by_file and row[0] not in whole:
                by_file[row[1]][c].append((row[0], row[2], row[3], row[4]))
    groups: dict[frozenset, tuple] = {}
    for f in sorted(by_file):
        lists = by_file[f]
        if not all(lists):
            continue
        for r, start, ids in _overlaps([np.array(rows, np.float64) for rows in lists]):
            key = frozenset(ids)
            if key not in groups or (r, start) < groups[key][:2]:
                groups[key] = (r, start, f, tuple(dict.fromkeys(ids)))
    several = sorted(groups.values(), key=lambda g: (g[0], g[2], g[1]))
    return [(i,) for i in singles][:limit] + \
        [g[3] for g in several][:max(0, limit - len(singles))]
