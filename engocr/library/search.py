"""Queries over the library: FTS5 syntax (words, prefix `lab*`, "phrases", AND/OR/NOT), plus
OCR-error tolerance: each plain word of the query also matches the indexed terms one edit
away ("L0T" for "LOT", "warehous" for "warehouse"); those hits rank below the exact ones.
A query of several AND-ed parts finds the moments they are on screen together (`moments`),
whether in one box or in several."""

from __future__ import annotations

from dataclasses import dataclass, field

from engocr.errors import InputError
from engocr.library.moments import MAX_CLAUSES, find_moments, fts_execute
from engocr.library.query import (  # noqa: F401  (kept importable from here)
    OPERATORS,
    PLAIN,
    TOKEN,
    clauses,
    fuzzy_query,
    one_edit_candidates,
    widen,
    within_one_edit,
)
from engocr.library.store import Store


@dataclass
class Hit:
    """One box (`parts` empty), or a moment: several boxes of one file on screen together,
    its `parts` in reading order; then `text` joins theirs, `box` bounds them, `conf` is the
    least sure, `first_s`..`last_s` is when all are on screen and `time_s` an instant in it."""

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
    parts: list[Hit] = field(default_factory=list)

    @property
    def stamp(self) -> str:
        return timestamp(self.time_s)

    def to_dict(self) -> dict:
        record = {"file": self.file, "time": self.stamp, "time_s": round(self.time_s, 3),
                  "first_s": round(self.first_s, 3), "last_s": round(self.last_s, 3),
                  "text": self.text, "box": [round(v, 1) for v in self.box],
                  "conf": round(self.conf, 4), "fuzzy": self.fuzzy}
        if self.parts:
            record["parts"] = [p.to_dict() for p in self.parts]
        return record


def timestamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def reading_order(hits: list[Hit]) -> list[Hit]:
    """Top to bottom by line, left to right within a line: a box joins the line above when
    they overlap vertically by a third of the lower box's height (words of a tilted or
    moving sign still read as one line)."""
    lines: list[list[Hit]] = []
    for hit in sorted(hits, key=lambda h: (h.box[1] + h.box[3]) / 2):
        top, bottom = hit.box[1], hit.box[3]
        if lines and min(bottom, max(h.box[3] for h in lines[-1])) - \
                max(top, min(h.box[1] for h in lines[-1])) >= (bottom - top) / 3:
            lines[-1].append(hit)
        else:
            lines.append([hit])
    return [h for line in lines for h in sorted(line, key=lambda h: h.box[0])]


def moment(parts: list[Hit]) -> Hit:
    """The hit of several boxes on screen together (see Hit)."""
    parts = reading_order(parts)
    first = max(p.first_s for p in parts)
    last = min(p.last_s for p in parts)
    best = max(parts, key=lambda p: p.conf)
    return Hit(best.id, best.file, min(max(best.time_s, first), last), first, last,
               " ".join(p.text for p in parts),
               (min(p.box[0] for p in parts), min(p.box[1] for p in parts),
                max(p.box[2] for p in parts), max(p.box[3] for p in parts)),
               min(p.conf for p in parts), best.fuzzy, best.thumb, parts)


def neighbours(store: Store, term: str) -> list[str]:
    """The indexed terms one edit from `term`: those sharing its first two letters from a
    range of the index, the others (an edit in the first two) looked up one by one."""
    head = term[:2]
    near = {v for v in store.terms_with_prefix(head) if within_one_edit(term, v)}
    near.update(store.terms_in(c for c in one_edit_candidates(term) if c[:2] != head))
    near.discard(term)
    return sorted(near)


def _match(store: Store, query: str, limit: int) -> list[tuple[int, ...]]:
    """Boxes whose text matches the whole query, best first, as groups of one id."""
    return fts_execute(
        store.db, "SELECT w.id FROM words_fts JOIN words w ON w.id = words_fts.rowid "
        "JOIN files f ON f.id = w.file_id WHERE words_fts MATCH ? "
        "ORDER BY bm25(words_fts), f.path, w.time_s LIMIT ?", (query, limit), query)


def _groups(store: Store, parts: list[str], limit: int, query: str) -> list[tuple[int, ...]]:
    if len(parts) == 1:
        return _match(store, parts[0], limit)
    return find_moments(store.db, parts, limit, query)


def _hits(store: Store, groups: list[tuple[tuple[int, ...], bool]],
          with_thumbs: bool) -> list[Hit]:
    ids = sorted({i for group, _ in groups for i in group})
    thumb = "w.thumb" if with_thumbs else "NULL"
    rows = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows.update((r[0], r) for r in store.db.execute(
            f"SELECT w.id, f.path, w.time_s, w.first_s, w.last_s, w.text, w.x1, w.y1, w.x2, "
            f"w.y2, w.conf, {thumb} FROM words w JOIN files f ON f.id = w.file_id "
            f"WHERE w.id IN ({', '.join('?' * len(chunk))})", chunk))
    out = []
    for group, fuzzy in groups:
        hits = [Hit(r[0], r[1], r[2], r[3], r[4], r[5], (r[6], r[7], r[8], r[9]), r[10], fuzzy,
                    r[11]) for r in (rows[i] for i in group)]
        out.append(hits[0] if len(hits) == 1 else moment(hits))
    return out


def search(store: Store, query: str, limit: int = 20, fuzzy: bool = True,
           with_thumbs: bool = False) -> list[Hit]:
    """Exact hits first, then the one-edit hits not already found. A query of several
    AND-ed parts (`clauses`) gives the moments they are on screen together: the boxes that
    hold them all first, then groups of boxes of one file at overlapping times."""
    if not query.strip():
        raise InputError("empty search query")
    parts = clauses(query)
    if len(parts) > MAX_CLAUSES:
        parts = [query]
    groups = [(g, False) for g in _groups(store, parts, limit, query)]
    if fuzzy and len(groups) < limit:
        wide = [widen(p, lambda term: neighbours(store, term)) or p for p in parts]
        if wide != parts:
            seen = {frozenset(g) for g, _ in groups}
            more = _groups(store, wide, limit + len(seen), query)
            groups += [(g, True) for g in more if frozenset(g) not in seen][:limit - len(groups)]
    return _hits(store, groups, with_thumbs)
