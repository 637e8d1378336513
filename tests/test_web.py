"""`engocr serve` (engocr/web/): a real server on a free port, real HTTP requests, and the page
in Debian's headless Chromium driven by Selenium."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from urllib.parse import quote

import cv2
import imageio.v2 as imageio
import numpy as np
import pytest

from engocr.cli import main
from engocr.library.cli import run_index
from engocr.library.store import Store
from engocr.web.db import ReadOnlyStore
from engocr.web.ranges import Unsatisfiable, parse_range
from engocr.web.server import LibraryServer

FPS = 12


def write_video(path: Path, words: list[tuple[str, int, int]], frames: int) -> None:
    """A video of dark words on a light ground; each word is on screen from its first frame
    to its last, drifting right."""
    with imageio.get_writer(str(path), fps=FPS, codec="libx264", macro_block_size=16,
                            ffmpeg_log_level="quiet") as writer:
        for i in range(frames):
            img = np.full((240, 320, 3), 235, np.uint8)
            for k, (word, first, last) in enumerate(words):
                if first <= i <= last:
                    cv2.putText(img, word, (20 + i // 2, 80 + 90 * k), cv2.FONT_HERSHEY_DUPLEX,
                                1.6, (20, 20, 20), 3, cv2.LINE_AA)
            writer.append_data(img[..., ::-1])


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict:
    """Two short videos, a sign photo and a corrupt file, indexed."""
    folder = tmp_path_factory.mktemp("footage")
    write_video(folder / "lobby.mp4", [("OPEN", 0, 44), ("EXIT", 36, 59)], frames=60)
    write_video(folder / "street.mp4", [("SALE", 0, 35)], frames=36)
    img = np.full((240, 320, 3), 235, np.uint8)
    cv2.putText(img, "PUSH", (30, 120), cv2.FONT_HERSHEY_DUPLEX, 2, (20, 20, 20), 3)
    cv2.imwrite(str(folder / "sign.png"), img)
    (folder / "corrupt.mp4").write_bytes(b"not a video" * 100)
    db = folder / "lib.db"
    summary = run_index([folder], db, workers=1, progress=False)
    assert (summary.read, summary.failed) == (3, 1)
    con = sqlite3.connect(db)
    ids = {Path(p).name: i for p, i in con.execute("SELECT path, id FROM files")}
    texts = {t.upper() for (t,) in con.execute("SELECT text FROM words")}
    con.close()
    assert {"OPEN", "EXIT", "SALE", "PUSH"} <= texts, texts
    return {"folder": folder, "db": db, "ids": ids}


@pytest.fixture(scope="module")
def server(library):
    """The server on a free port of 127.0.0.1, in a thread of this process."""
    srv = LibraryServer(library["db"], "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, path: str, method: str = "GET", headers: dict | None = None):
    """(status, headers, body) of one request, the path sent exactly as given."""
    con = http.client.HTTPConnection(*srv.server_address[:2], timeout=30)
    try:
        con.request(method, path, headers=headers or {})
        response = con.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        con.close()


def api(srv, query: str, **params):
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    status, _, body = request(srv, f"/api/search?q={quote(query)}{extra}")
    return status, json.loads(body)


def test_search_api(server, library):
    status, result = api(server, "exit")
    assert status == 200
    assert result["total"] == 1 and result["pages"] == 1
    hit = result["hits"][0]
    assert hit["text"].upper() == "EXIT" and hit["name"] == "lobby.mp4" and not hit["fuzzy"]
    assert hit["file_id"] == library["ids"]["lobby.mp4"]
    assert 36 / FPS <= hit["time_s"] <= 59 / FPS
    assert hit["start_s"] == pytest.approx(hit["time_s"] - 1, abs=1e-3)
    assert hit["video"] == f"/video/{hit['file_id']}"
    [entry] = result["files"]
    assert entry["count"] == 1 and entry["kind"] == "video"
    assert entry["duration_s"] == pytest.approx(60 / FPS, abs=0.2)
    assert [m["id"] for m in entry["marks"]] == [hit["id"]]

    status, result = api(server, "ex1t")  # one OCR error away: found, marked fuzzy
    assert status == 200 and [h["fuzzy"] for h in result["hits"]] == [True]
    status, result = api(server, "open exit")  # on screen together: one card, both boxes
    assert status == 200 and result["hits"], result
    moment = result["hits"][0]
    assert moment["text"].upper() == "OPEN EXIT" and "?also=" in moment["frame"]
    status, result = api(server, "push OR sale")
    assert {h["name"] for h in result["hits"]} == {"sign.png", "street.mp4"}
    assert {f["kind"] for f in result["files"]} == {"image", "video"}
    assert [h["video"] for h in result["hits"] if h["name"] == "sign.png"] == [None]
    status, _, body = request(server, "/api/library")
    counts = json.loads(body)
    assert status == 200 and (counts["files"], counts["failed"]) == (3, 1)


def test_bad_queries_are_400_with_a_message(server):
    for query in ['"open', "open AND", "(exit", "NEAR(", "x' OR 1=1; DROP TABLE words; --"]:
        status, body = api(server, query)
        assert status in (200, 400), (query, status)
        if status == 400:
            assert body["error"].startswith("bad search query") and "\n" not in body["error"]
    status, body = api(server, '"open')
    assert status == 400 and "bad search query" in body["error"]
    assert api(server, "   ")[0] == 400
    assert api(server, "x" * 2000)[0] == 400
    status, body = api(server, "exit", page="two")
    assert status == 400 and "page" in body["error"]
    assert request(server, "/api/search")[0] == 400
    assert api(server, "exit")[1]["total"] == 1  # the words table is still there


def test_paging_and_file_filter(tmp_path):
    store = Store(tmp_path / "many.db")
    for name, count in (("a.mp4", 40), ("b.mp4", 10)):
        rows = [{"track": i, "text": f"gate {i}", "first_s": i, "last_s": i + 1, "frame": i,
                 "time_s": i + 0.5, "x1": 1, "y1": 2, "x2": 3, "y2": 4, "conf": 0.9,
                 "thumb": b""} for i in range(count)]
        store.put_file(tmp_path / name, 1, 1, rows, frames=count)
    b_id = store.db.execute("SELECT id FROM files WHERE path LIKE '%b.mp4'").fetchone()[0]
    store.close()
    srv = LibraryServer(tmp_path / "many.db", "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        pages = [api(srv, "gate", page=p)[1] for p in (1, 2, 3)]
        assert [r["pages"] for r in pages] == [3, 3, 3] and pages[0]["total"] == 50
        assert [len(r["hits"]) for r in pages] == [24, 24, 2]
        ids = [h["id"] for r in pages for h in r["hits"]]
        assert len(set(ids)) == 50
        assert api(srv, "gate", page=99)[1]["page"] == 3  # clamped
        assert api(srv, "gate", page=-1)[1]["page"] == 1
        files = {f["name"]: f["count"] for f in pages[0]["files"]}
        assert files == {"a.mp4": 40, "b.mp4": 10}
        only_b = api(srv, "gate", file=b_id)[1]
        assert only_b["file"] == b_id and only_b["shown"] == 10 and only_b["pages"] == 1
        assert {h["name"] for h in only_b["hits"]} == {"b.mp4"}
        # the files are not on disk: a hit's video and frame are refused, not served
        hit = only_b["hits"][0]
        assert request(srv, hit["video"])[0] == 404
        assert request(srv, hit["frame"])[0] == 404
        assert request(srv, hit["thumb"])[0] == 404  # an empty thumbnail
    finally:
        srv.shutdown()
        srv.server_close()


def test_ranges_parse():
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=-500", 100) == (0, 99)
    assert parse_range("bytes=50-5000", 100) == (50, 99)
    assert parse_range("bytes=9-0", 100) is None  # invalid: ignored
    assert parse_range("bytes=0-1,5-6", 100) is None  # several: the whole file
    assert parse_range("items=0-1", 100) is None
    for header in ("bytes=100-", "bytes=-0", "bytes=200-300"):
        with pytest.raises(Unsatisfiable):
            parse_range(header, 100)


def test_video_range_requests(server, library):
    data = (library["folder"] / "lobby.mp4").read_bytes()
    path = f"/video/{library['ids']['lobby.mp4']}"
    status, headers, body = request(server, path)
    assert status == 200 and body == data and headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "video/mp4"
    status, headers, body = request(server, path, headers={"Range": "bytes=100-1099"})
    assert status == 206 and body == data[100:1100]
    assert headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert headers["Content-Length"] == "1000"
    status, headers, body = request(server, path, headers={"Range": "bytes=-64"})
    assert status == 206 and body == data[-64:]
    status, headers, body = request(server, path, headers={"Range": f"bytes={len(data) - 5}-"})
    assert status == 206 and body == data[-5:]
    status, headers, body = request(server, path, headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    status, headers, body = request(server, path, "HEAD", {"Range": "bytes=0-9"})
    assert status == 206 and body == b"" and headers["Content-Length"] == "10"


def test_thumbnail_and_frame_with_its_box(server):
    hit = api(server, "exit")[1]["hits"][0]
    status, headers, body = request(server, hit["thumb"])
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape[0] == 32
    status, headers, body = request(server, hit["frame"])
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    frame = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape[:2] == (240, 320)
    x1, y1, x2, y2 = (int(round(v)) for v in hit["box"])
    orange = frame[..., 2].astype(int) - frame[..., 0] > 120  # red well above blue: the box
    assert orange[max(0, y1 - 8):y2 + 9, max(0, x1 - 8):x2 + 9].sum() > 50
    assert not orange[y2 + 30:].any() or y2 + 30 >= 240
    # a moment of several boxes: every box drawn; words of other files ignored; bad ids 400
    open_hit, sale = api(server, "open")[1]["hits"][0], api(server, "sale")[1]["hits"][0]
    status, _, body = request(server, f"{hit['frame']}?also={open_hit['id']},{sale['id']}")
    assert status == 200
    both = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    orange = both[..., 2].astype(int) - both[..., 0] > 120
    ox1, oy1, ox2, oy2 = (int(round(v)) for v in open_hit["box"])
    assert orange[max(0, oy1 - 8):oy2 + 9, max(0, ox1 - 8):ox2 + 9].sum() > 50
    for bad in ("x", "1,,2;3", ",".join(["1"] * 17), "1" * 30):
        assert request(server, f"{hit['frame']}?also={bad}")[0] == 400
    sign = api(server, "push")[1]["hits"][0]
    status, _, body = request(server, sign["frame"])
    assert status == 200 and cv2.imdecode(np.frombuffer(body, np.uint8), 1).shape[:2] == \
        (240, 320)


TRAVERSALS = [
    "/video/../../../../etc/passwd", "/video/%2e%2e/%2e%2e/etc/passwd", "/video/..%2f..%2fetc",
    "/static/../db.py", "/static/..%2fdb.py", "/static/%2e%2e/server.py", "/static/app.js/..",
    "/static/index.html", "//etc/passwd", "/etc/passwd", "/video/1/../../lib.db",
    "/video/-1", "/video/1.mp4", "/video/99999", "/thumb/99999.jpg", "/frame/x.jpg",
    "/lib.db", "/footage/lobby.mp4", "/video/%00", "/video/1%00", "/%2e%2e/%2e%2e/etc/passwd",
]


def test_no_path_outside_the_library_is_served(server, library):
    secret = b"root:x:0:0"
    for path in TRAVERSALS + [f"/video/{library['ids']['corrupt.mp4']}",
                              f"/video/{library['ids']['sign.png']}"]:
        status, _, body = request(server, path)
        assert status in (400, 403, 404), (path, status)
        assert secret not in body and b"SQLite" not in body
    assert request(server, "/", "POST")[0] == 501
    status, _, body = request(server, "/api/search?q=exit", headers={"Host": "evil.example"})
    assert status == 403  # another host name for 127.0.0.1: a DNS rebinding page
    for host in ("localhost:8765", "127.0.0.1", f"127.0.0.1:{server.server_address[1]}"):
        assert request(server, "/", headers={"Host": host})[0] == 200
    status, headers, body = request(server, "/")
    assert b"<title>engocr library</title>" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_a_file_swapped_or_changed_since_indexing_is_not_served(tmp_path, library):
    folder = tmp_path / "v"
    folder.mkdir()
    shutil.copy(library["folder"] / "street.mp4", folder / "one.mp4")
    shutil.copy(library["folder"] / "street.mp4", folder / "two.mp4")
    db = tmp_path / "swap.db"
    run_index([folder], db, workers=1, progress=False)
    srv = LibraryServer(db, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        con = sqlite3.connect(db)
        ids = {Path(p).name: i for p, i in con.execute("SELECT path, id FROM files")}
        con.close()
        assert request(srv, f"/video/{ids['one.mp4']}")[0] == 200
        outside = tmp_path / "outside.txt"
        outside.write_bytes(b"secret" * 10)
        (folder / "one.mp4").unlink()
        os.symlink(outside, folder / "one.mp4")  # a symlink put in the file's place
        status, _, body = request(srv, f"/video/{ids['one.mp4']}")
        assert status == 404 and b"secret" not in body
        with open(folder / "two.mp4", "ab") as f:  # changed since it was indexed
            f.write(b"more")
        status, _, body = request(srv, f"/video/{ids['two.mp4']}")
        assert status == 404 and b"changed since it was indexed" in body
    finally:
        srv.shutdown()
        srv.server_close()


def test_read_only_while_an_index_run_writes(server, library):
    db = library["db"]
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    writer = sqlite3.connect(db, timeout=1)
    try:
        writer.execute("BEGIN IMMEDIATE")  # what `engocr index` holds while committing a file
        writer.execute("UPDATE files SET indexed_at = indexed_at WHERE 0")
        status, result = api(server, "exit")
        assert status == 200 and result["total"] == 1
    finally:
        writer.rollback()
        writer.close()
    with ReadOnlyStore(db) as store, pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.db.execute("DELETE FROM words")
    for _ in range(3):
        api(server, "open OR exit OR sale")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_bad_library_or_port_is_one_line(tmp_path, capsys):
    not_db = tmp_path / "notes.db"
    not_db.write_text("not a database" * 100)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.commit()
    for db, words in ((tmp_path / "missing.db", "no such library"), (not_db, "cannot open"),
                      (tmp_path, "is not a file"), (other, "not an engocr library")):
        assert main(["serve", "--db", str(db), "--port", "0"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("engocr: error:") and words in err and "\n" not in err, err
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--db", str(not_db), "--port", "70000"])
    assert exc.value.code == 2 and "port" in capsys.readouterr().err


def test_port_in_use_is_one_line(server, library, capsys):
    port = server.server_address[1]
    assert main(["serve", "--db", str(library["db"]), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"engocr: error: cannot listen on 127.0.0.1:{port}") and \
        "\n" not in err


def start_cli(db: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`engocr serve` in its own process, and the URL it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "engocr", "serve", "--db", str(db),
                             "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        raise AssertionError(f"engocr serve did not start: {line}{proc.stderr.read()}")
    return proc, line.split(" at ")[1].split()[0]


def test_another_host_warns(library):
    proc, url = start_cli(library["db"], "--host", "0.0.0.0")
    try:
        warning = proc.stderr.readline()
        assert warning.startswith("engocr: warning: serving on 0.0.0.0") and \
            "anyone who can reach it" in warning
        assert url.startswith("http://0.0.0.0:")
        proc.send_signal(signal.SIGINT)  # Ctrl-C: stops, says so, exit 130
        assert proc.wait(timeout=30) == 130
        assert proc.stderr.read().strip() == "engocr: interrupted"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    """One headless Debian Chromium for the module, driven through Debian's chromedriver."""
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("needs Debian's chromium and chromium-driver (bash scripts/setup_train.sh)")
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason='needs selenium: pip install -e ".[dev]"')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def test_the_page_in_a_real_browser(browser, library, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    proc, url = start_cli(library["db"])
    wait = WebDriverWait(browser, 30)
    try:
        browser.get(url)
        box = wait.until(lambda d: d.find_element(By.ID, "q"))
        wait.until(lambda d: "3 files" in d.find_element(By.ID, "library").text)
        box.send_keys("exit")  # results as typed: no Enter
        card = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#cards .card"))
        assert "EXIT" in card.text.upper() and "lobby.mp4" in card.text
        assert "1 hit in 1 file" in browser.find_element(By.ID, "status").text
        marks = browser.find_elements(By.CSS_SELECTOR, "#files .timeline .mark")
        assert len(marks) == 1
        with urllib.request.urlopen(f"{url}api/search?q=exit", timeout=30) as response:
            hit = json.load(response)["hits"][0]
        card.click()
        player = browser.find_element(By.ID, "player")

        def seeked(_):
            return browser.execute_script(
                "const v = arguments[0]; return v.readyState >= 2 && !v.seeking && "
                "v.currentTime >= arguments[1] - 0.05", player, hit["start_s"])
        wait.until(seeked)  # the video element seeked to a second before the word
        current, length = browser.execute_script(
            "return [arguments[0].currentTime, arguments[0].duration]", player)
        assert hit["start_s"] > 1 and hit["start_s"] - 0.05 <= current <= length
        frame = browser.find_element(By.ID, "frame")
        wait.until(lambda d: d.execute_script("return arguments[0].complete && "
                                              "arguments[0].naturalWidth", frame) == 320)
        assert browser.find_element(By.CSS_SELECTOR, ".card[aria-current=true]")
        problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not problems, problems  # no script error, no policy (CSP) refusal, no 404

        # the keyboard alone: "/" to the box, a query with markup in it shown as text
        browser.find_element(By.TAG_NAME, "body").send_keys("/")
        active = browser.switch_to.active_element
        assert active.get_attribute("id") == "q"
        active.send_keys(Keys.CONTROL, "a")
        active.send_keys('<img src=x onerror="document.title=1">"')
        error = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#status.error"))
        assert "bad search query" in error.text and browser.title == "engocr library"
        active.send_keys(Keys.CONTROL, "a")
        active.send_keys("sale")
        wait.until(lambda d: "street.mp4" in d.find_element(By.ID, "cards").text)
        active.send_keys(Keys.ARROW_DOWN)
        assert "SALE" in browser.switch_to.active_element.text.upper()
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        wait.until(lambda d: d.execute_script(
            "return arguments[0].dataset.file", player) == str(library["ids"]["street.mp4"]))
        assert "page=" not in browser.current_url and "q=sale" in browser.current_url

        browser.set_window_size(390, 844)  # a phone: one column, nothing wider than the window
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth")
        browser.set_window_size(1280, 900)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
