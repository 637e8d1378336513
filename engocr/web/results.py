"""One search as the page shows it: the hits of `engocr search` (same query language, same
OCR-error tolerance, same order), counted and placed on a timeline per file, and cut into
pages of cards. The page gets JSON and builds its cards itself, as text, never as HTML."""

from __future__ import annotations

import math
from pathlib import Path

from engocr.library.search import search
from engocr.library.store import Store
from engocr.web import media
from engocr.web.db import FileRow, files_by_path, last_times

PER_PAGE = 24
MAX_HITS = 2000  # a search looks this far; the page says when there were more
SEEK_BEFORE_S = 1.0  # a card plays its video from this long before the word
MAX_ALSO = 16  # boxes of a moment drawn besides its best one (the server's limit)


def _file_entry(row: FileRow, count: int, marks: list[dict], fallback: float | None) -> dict:
    length = media.duration(row)
    latest = max((m["t"] for m in marks), default=0.0)
    if length is None:
        length = max(fallback or 0.0, latest)
    return {"id": row.id, "name": Path(row.path).name, "path": row.path,
            "kind": media.kind(row.path), "count": count,
            "duration_s": round(max(length, latest), 3), "marks": marks}


def _card(hit, row: FileRow) -> dict:
    """A hit as the page shows it. A moment (several boxes on screen together) shows its
    best box's thumbnail, and its frame has every box drawn."""
    card = hit.to_dict()
    del card["file"]
    card.pop("parts", None)
    others = [p.id for p in getattr(hit, "parts", []) if p.id != hit.id][:MAX_ALSO]
    also = f"?also={','.join(map(str, others))}" if others else ""
    card.update(id=hit.id, file_id=row.id, name=Path(row.path).name, path=row.path,
                kind=media.kind(row.path), start_s=round(max(0.0, hit.time_s - SEEK_BEFORE_S), 3),
                thumb=f"/thumb/{hit.id}.jpg", frame=f"/frame/{hit.id}.jpg{also}",
                video=f"/video/{row.id}" if media.kind(row.path) == "video" else None)
    return card


def search_page(store: Store, query: str, page: int = 1, file_id: int | None = None,
                per_page: int = PER_PAGE) -> dict:
    """Page `page` (from 1; clamped) of the hits of `query`, only those in `file_id` when
    given, with every file's count and timeline. Raises InputError for a bad query."""
    hits = search(store, query, limit=MAX_HITS + 1)
    capped = len(hits) > MAX_HITS
    rows = files_by_path(store, [h.file for h in hits[:MAX_HITS]])
    hits = [h for h in hits[:MAX_HITS] if h.file in rows]
    grouped: dict[int, list] = {}
    for hit in hits:
        grouped.setdefault(rows[hit.file].id, []).append(hit)
    by_id = {row.id: row for row in rows.values()}
    ends = last_times(store, list(grouped))
    files = [_file_entry(by_id[fid], len(group),
                         [{"id": h.id, "t": round(h.time_s, 3), "text": h.text}
                          for h in sorted(group, key=lambda h: h.time_s)], ends.get(fid))
             for fid, group in grouped.items()]
    files.sort(key=lambda f: (-f["count"], f["path"]))
    chosen = grouped.get(file_id, hits)  # no file, or an unknown one: all
    pages = max(1, math.ceil(len(chosen) / per_page))
    page = min(max(1, page), pages)
    cards = [_card(h, rows[h.file]) for h in chosen[(page - 1) * per_page:page * per_page]]
    return {"query": query, "total": len(hits), "capped": capped, "shown": len(chosen),
            "page": page, "pages": pages, "per_page": per_page,
            "file": file_id if file_id in grouped else None, "files": files, "hits": cards}
