"""The video library: `engocr index` and `engocr search` (engocr/library/)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np
import pytest

from engocr.cli import main
from engocr.errors import InputError, OutputError
from engocr.library.cli import run_index
from engocr.library.indexer import reader_threads
from engocr.library.query import clauses, one_edit_candidates
from engocr.library.search import (
    fuzzy_query,
    neighbours,
    search,
    timestamp,
    within_one_edit,
)
from engocr.library.store import SCHEMA_VERSION, Store

FRAMES = 24


def write_video(path: Path, words: list[str], frames: int = FRAMES) -> None:
    with imageio.get_writer(str(path), fps=12, codec="libx264", macro_block_size=16,
                            ffmpeg_log_level="quiet") as writer:
        for i in range(frames):
            img = np.full((240, 320, 3), 235, np.uint8)
            for k, word in enumerate(words):
                cv2.putText(img, word, (20 + i, 80 + 90 * k), cv2.FONT_HERSHEY_DUPLEX, 1.6,
                            (20, 20, 20), 3, cv2.LINE_AA)
            writer.append_data(img[..., ::-1])


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    write_video(folder / "a.mp4", ["OPEN", "EXIT"])
    (folder / "sub").mkdir()
    write_video(folder / "sub" / "b.mp4", ["SALE"])
    (folder / "corrupt.mp4").write_bytes(b"this is not a video" * 100)
    data = (folder / "a.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (folder / "notes.txt").write_text("not media")
    img = np.full((240, 320, 3), 235, np.uint8)
    cv2.putText(img, "PUSH", (30, 120), cv2.FONT_HERSHEY_DUPLEX, 2, (20, 20, 20), 3)
    cv2.imwrite(str(folder / "sub" / "sign.png"), img)
    return folder


def content(db: Path) -> list[tuple]:
    """The library's content, without ids and times of indexing."""
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT f.path, f.size, f.mtime_ns, f.status, f.error, f.frames, w.track, w.text, "
        "w.first_s, w.last_s, w.frame, w.time_s, w.x1, w.y1, w.x2, w.y2, w.conf, w.thumb "
        "FROM files f LEFT JOIN words w ON w.file_id = f.id ORDER BY f.path, w.track"
    ).fetchall()
    con.close()
    return rows


def test_index_skip_change_and_search(media, tmp_path, capsys):
    db = tmp_path / "lib.db"
    first = run_index([media], db, workers=1, progress=False)
    assert (first.read, first.skipped, first.failed) == (3, 0, 2)
    assert first.frames == 2 * FRAMES + 1
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    failed = dict(con.execute("SELECT path, error FROM files WHERE status = 'failed'"))
    assert {Path(p).name for p in failed} == {"corrupt.mp4", "truncated.mp4"}
    assert all(e and "\n" not in e for e in failed.values())
    texts = {t for (t,) in con.execute("SELECT upper(text) FROM words")}
    assert {"OPEN", "EXIT", "SALE", "PUSH"} <= texts, texts
    thumb = con.execute("SELECT thumb FROM words LIMIT 1").fetchone()[0]
    assert cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR) is not None
    con.close()

    again = run_index([media], db, workers=1, progress=False)
    assert (again.read, again.skipped, again.frames) == (0, 5, 0)

    write_video(media / "sub" / "b.mp4", ["OPEN"], frames=12)
    changed = run_index([media / "sub"], db, workers=1, progress=False)
    assert (changed.read, changed.skipped, changed.frames) == (1, 1, 12)
    store = Store(db)
    assert {Path(h.file).name for h in search(store, "open")} == {"a.mp4", "b.mp4"}
    assert not search(store, "sale", fuzzy=False)
    together = search(store, "exit open", fuzzy=False)  # two boxes on screen together
    assert [Path(h.file).name for h in together] == ["a.mp4"]
    assert [p.text.upper() for p in together[0].parts] == ["OPEN", "EXIT"]
    assert together[0].text.upper() == "OPEN EXIT"
    assert together[0].first_s <= together[0].time_s <= together[0].last_s
    store.close()

    assert main(["search", "open", "--db", str(db), "--json", "--thumbs",
                 str(tmp_path / "th")]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert hits and hits[0]["file"].endswith("a.mp4") and hits[0]["text"].upper() == "OPEN"
    assert hits[0]["time"].startswith("00:00:0") and len(hits[0]["box"]) == 4
    assert Path(hits[0]["thumb"]).exists()

    assert main(["search", '"open', "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("engocr: error: bad search query") and "\n" not in err


def test_index_cli_exit_code_and_workers(media, tmp_path, capsys):
    db = tmp_path / "lib.db"
    assert main(["index", str(media), "--db", str(db), "--workers", "2"]) == 2
    out = capsys.readouterr().out
    assert "3 read, 0 skipped, 2 failed" in out
    single = tmp_path / "single.db"
    run_index([media], single, workers=1, progress=False)
    assert content(db) == content(single)
    assert main(["index", str(media / "a.mp4"), "--db", str(db), "--force"]) == 0
    assert "1 read, 0 skipped, 0 failed" in capsys.readouterr().out


def test_killed_run_resumes_to_the_same_content(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    for i, word in enumerate(["OPEN", "EXIT", "SALE", "PUSH"]):
        write_video(folder / f"v{i}.mp4", [word], frames=48)
    reference = tmp_path / "ref.db"
    run_index([folder], reference, workers=1, progress=False)

    db = tmp_path / "lib.db"
    cmd = [sys.executable, "-m", "engocr", "index", str(folder), "--db", str(db),
           "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                con = sqlite3.connect(db, timeout=1)
                done = con.execute("SELECT count(*) FROM files").fetchone()[0]
                con.close()
            except sqlite3.DatabaseError:  # not made yet
                done = 0
            if done >= 1:
                break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done >= 1
    partial = Store(db)
    count = partial.db.execute("SELECT count(*) FROM files").fetchone()[0]
    partial.close()
    assert 1 <= count < 4  # killed partway
    summary = run_index([folder], db, workers=1, progress=False)
    assert summary.skipped == count and summary.read == 4 - count
    assert content(db) == content(reference)


def rows_store(tmp_path) -> Store:
    store = Store(tmp_path / "s.db")
    texts = {"a.mp4": ["LOT 4471", "L0T 4471", "warehous", "warehouse", "labels", "lab"],
             "b.mp4": ["WAREHOUSE", "exit", "laboratory"]}
    for name, words in texts.items():
        rows = [{"track": i, "text": t, "first_s": i, "last_s": i + 1, "frame": i * 10,
                 "time_s": i + 0.5, "x1": 1, "y1": 2, "x2": 3, "y2": 4, "conf": 0.9,
                 "thumb": b""} for i, t in enumerate(words)]
        store.put_file(Path("/v") / name, 1, 1, rows, frames=10)
    return store


def test_search_order(tmp_path):
    store = rows_store(tmp_path)
    hits = search(store, "LOT 4471")
    assert [(h.text, h.fuzzy) for h in hits] == [("LOT 4471", False), ("L0T 4471", True)]
    hits = search(store, "warehouse")
    assert [h.fuzzy for h in hits] == [False, False, True]
    assert {h.text for h in hits[:2]} == {"warehouse", "WAREHOUSE"}
    assert hits[2].text == "warehous"
    assert {h.text for h in search(store, "lab*")} == {"labels", "lab", "laboratory"}
    assert [h.text for h in search(store, '"LOT 4471"', fuzzy=False)] == ["LOT 4471"]
    assert {h.text for h in search(store, "warehouse NOT warehous")} == {"warehouse",
                                                                          "WAREHOUSE"}
    assert [h.text for h in search(store, "lot NOT l0t")] == ["LOT 4471"]
    assert {h.text for h in search(store, "exit OR labels")} == {"exit", "labels"}
    assert search(store, "lot", limit=1)[0].text == "LOT 4471"
    assert search(store, "warehouse")[0].stamp == timestamp(hits[0].time_s)
    vocabulary = store.vocabulary()  # the index's ranges and lookups find what a scan finds
    for term in ["warehouse", "lot", "l0t", "lab", "xit", "ab", "labe"]:
        assert neighbours(store, term) == sorted(
            v for v in vocabulary if v != term and within_one_edit(term, v)), term
    assert store.terms_with_prefix("lab") == ["lab", "labels", "laboratory"]
    store.close()


def test_full_database_is_one_line_and_keeps_what_was_committed(tmp_path):
    store = rows_store(tmp_path)
    before = content(store.path)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own "disk is full"
    row = {"track": 0, "text": "big", "first_s": 0, "last_s": 1, "frame": 0, "time_s": 0,
           "x1": 0, "y1": 0, "x2": 1, "y2": 1, "conf": 0.5, "thumb": os.urandom(300_000)}
    with pytest.raises(OutputError) as err:
        store.put_file(Path("/v/a.mp4"), 2, 2, [row], frames=1)  # would replace a.mp4
    assert "full" in str(err.value) and "\n" not in str(err.value)
    assert content(store.path) == before
    assert search(store, "exit")[0].text == "exit"
    store.close()


def moment_store(tmp_path) -> Store:
    """Boxes with times on screen and places in the frame, in two files."""
    store = Store(tmp_path / "m.db")
    boxes = {"m.mp4": [("COFFEE", 10, 20, (100, 10, 200, 40)), ("SHOP", 15, 30, (10, 50, 90, 80)),
                       ("SHOP", 40, 50, (10, 50, 90, 80)),
                       ("COFFEE SHOP", 60, 70, (10, 10, 200, 40)),
                       ("EXIT", 0, 100, (10, 100, 90, 130))],
             "n.mp4": [("COFFEE", 0, 5, (0, 0, 9, 9)), ("SHOP", 6, 9, (0, 0, 9, 9))]}
    for name, rows in boxes.items():
        store.put_file(Path("/v") / name, 1, 1, [
            {"track": i, "text": t, "first_s": a, "last_s": b, "frame": 0, "time_s": a + 1,
             "x1": x1, "y1": y1, "x2": x2, "y2": y2, "conf": 0.9 - i / 100, "thumb": b""}
            for i, (t, a, b, (x1, y1, x2, y2)) in enumerate(rows)], frames=10)
    return store


def test_words_on_screen_together(tmp_path):
    store = moment_store(tmp_path)
    hits = search(store, "coffee shop")
    assert [(h.text, h.fuzzy, len(h.parts)) for h in hits] == [
        ("COFFEE SHOP", False, 0), ("COFFEE SHOP", False, 2)]  # one box first, then two
    both = hits[1]
    assert Path(both.file).name == "m.mp4" and (both.first_s, both.last_s) == (15, 20)
    assert [p.text for p in both.parts] == ["COFFEE", "SHOP"]  # reading order: top first
    assert both.box == (10, 10, 200, 80) and both.time_s == 15 and both.conf == 0.89
    assert both.to_dict()["parts"][1]["text"] == "SHOP"
    three = search(store, "coffee shop exit", fuzzy=False)
    assert sorted(h.text for h in three) == ["COFFEE SHOP EXIT", "COFFEE SHOP EXIT"]
    assert sorted(len(h.parts) for h in three) == [2, 3]
    phrase = search(store, '"coffee shop" exit')
    assert [[p.text for p in h.parts] for h in phrase] == [["COFFEE SHOP", "EXIT"]]
    typo = search(store, "cofee AND shop")
    assert [(h.text, h.fuzzy) for h in typo] == [("COFFEE SHOP", True)] * 2
    assert search(store, "coffee shop", limit=1)[0].parts == []
    assert {h.text for h in search(store, "coffee OR shop")} == {"COFFEE", "SHOP",
                                                                 "COFFEE SHOP"}
    with pytest.raises(InputError):
        search(store, "coffee (shop")
    store.close()


def test_helpers():
    assert timestamp(3723.4567) == "01:02:03.457"
    assert within_one_edit("warehouse", "warehous") and within_one_edit("lot", "l0t")
    assert not within_one_edit("lot", "lab")
    assert fuzzy_query("lot AND x*", ["l0t"]) == '("lot" OR "l0t") AND x*'
    assert fuzzy_query("zzz", ["l0t"]) is None
    assert clauses("OPEN EXIT") == ["OPEN", "EXIT"]
    assert clauses('"coffee shop" AND (exit OR out*)') == ['"coffee shop"', "( exit OR out* )"]
    assert clauses("open OR exit") == ["open OR exit"]
    assert clauses("lot NOT l0t 4471") == ["lot NOT l0t 4471"]  # FTS5: lot NOT (l0t 4471)
    assert clauses('"open exit') == ['"open exit']
    assert {"l0t", "lo", "slot", "lots"} <= one_edit_candidates("lot")
    assert "lot" not in one_edit_candidates("lot")
    assert reader_threads(2, cores=2) == 1 and reader_threads(3, cores=8) == 2
    assert reader_threads(1, cores=4) == 4 and reader_threads(8, cores=2) == 1


def test_dask_engine_gives_the_same_content(media, tmp_path):
    pytest.importorskip("distributed", reason='needs Dask: pip install "engocr[cluster]"')
    from dask.distributed import LocalCluster

    files = [media / "a.mp4", media / "corrupt.mp4"]
    local = tmp_path / "local.db"
    run_index(files, local, workers=1, progress=False)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    try:
        db = tmp_path / "dask.db"
        summary = run_index(files, db, progress=False, engine="dask",
                            address=cluster.scheduler_address)
    finally:
        cluster.close()
    assert (summary.read, summary.failed) == (1, 1)
    assert content(db) == content(local)


def test_dask_worker_threads_each_read_with_their_own_reader(media, tmp_path):
    pytest.importorskip("distributed", reason='needs Dask: pip install "engocr[cluster]"')
    from dask.distributed import LocalCluster

    files = [media / "a.mp4", media / "sub" / "sign.png", media / "truncated.mp4"]
    local = tmp_path / "local.db"
    run_index(files, local, workers=1, progress=False)
    # One worker process running two tasks at once, in two threads.
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None)
    try:
        db = tmp_path / "dask.db"
        run_index(files, db, progress=False, engine="dask", address=cluster.scheduler_address)
    finally:
        cluster.close()
    assert content(db) == content(local)
