"""The HTTP server: the standard library's ThreadingHTTPServer, one thread a request, which
is all a page on one's own machine needs (no framework to install or keep up).

Routes (GET and HEAD; nothing else is served):
  /                      the page              /static/app.js, style.css, icon.svg
  /api/search?q=&page=&file=   hits as JSON    /api/library   counts as JSON
  /thumb/ID.jpg          a word's thumbnail    /frame/ID.jpg  its frame, box drawn
  /video/ID              an indexed video, with byte ranges
URLs name database ids, never paths; a path the patterns do not match is 404. With the server
on a loopback address, requests for another host name are refused (DNS rebinding)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import sqlite3
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from engocr.errors import InputError
from engocr.web import db, media
from engocr.web.ranges import Unsatisfiable, parse_range
from engocr.web.results import MAX_ALSO, search_page

STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8"),
          "/static/icon.svg": ("icon.svg", "image/svg+xml")}
WORD_IMAGE = re.compile(r"^/(thumb|frame)/([0-9]{1,18})\.jpg$")
VIDEO = re.compile(r"^/video/([0-9]{1,18})$")
MAX_QUERY = 1000
CHUNK = 256 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; media-src 'self'; connect-src 'self'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class HTTPProblem(Exception):
    """An answer other than 200: its status and one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The name in a Host header, without its port ("[::1]:8765" -> "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _int_param(params: dict, name: str) -> int | None:
    values = params.get(name)
    if not values or values[-1] == "":
        return None
    try:
        return int(values[-1])
    except ValueError:
        raise HTTPProblem(400, f"{name} must be a whole number, got {values[-1]!r}") from None


def _ids_param(params: dict, name: str) -> list[int]:
    """A comma-separated list of ids (at most MAX_ALSO)."""
    text = (params.get(name) or [""])[-1]
    ids = [part for part in text.split(",") if part]
    if len(ids) > MAX_ALSO or not all(part.isdigit() and len(part) <= 18 for part in ids):
        raise HTTPProblem(400, f"{name} must be at most {MAX_ALSO} ids separated by commas")
    return [int(part) for part in ids]


class Handler(BaseHTTPRequestHandler):
    """One request: route it, answer it, and never let an error become a traceback."""

    server: LibraryServer
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is closed after this

    def version_string(self) -> str:  # the Server header: no Python version on show
        return "engocr"

    def do_GET(self) -> None:  # the names http.server calls
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args) -> None:  # quiet unless --verbose
        if self.server.verbose:
            super().log_message(format, *args)

    def _answer(self, body: bool) -> None:
        self.send_body, self.started = body, False
        try:
            self._check_host()
            self._route(urlsplit(self.path))
        except HTTPProblem as exc:
            self._send_problem(exc.status, str(exc))
        except (BrokenPipeError, ConnectionResetError):  # the browser stopped reading
            self.close_connection = True
        except Exception as exc:  # one line on the console, a plain 500 to the page
            print(f"engocr: serve: {self.command} {self.path[:200]!r}: "
                  f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                  file=sys.stderr)
            if self.started:  # midway through an answer: all that is left is to hang up
                self.close_connection = True
            else:
                self._send_problem(500, "internal error (see the server's console)")

    def _check_host(self) -> None:
        allowed = self.server.allowed_hosts
        header = self.headers.get("Host")
        if allowed is not None and header is not None and _host_name(header) not in allowed:
            raise HTTPProblem(403, "this server answers only to the host names of its "
                                   "loopback address")

    def _route(self, url) -> None:
        path = url.path
        if path in STATIC:
            self._send(200, self.server.static[path], STATIC[path][1], cache="no-cache")
        elif path == "/api/search":
            self._search(parse_qs(url.query, keep_blank_values=True))
        elif path == "/api/library":
            with self._library() as store:
                self._send_json(200, db.library_summary(store))
        elif match := WORD_IMAGE.match(path):
            self._word_image(match.group(1), int(match.group(2)),
                             _ids_param(parse_qs(url.query), "also"))
        elif match := VIDEO.match(path):
            self._video(int(match.group(1)))
        else:
            raise HTTPProblem(404, "not found")

    def _library(self) -> db.ReadOnlyStore:
        """This request's own read-only connection (use it in a `with`)."""
        try:
            return db.ReadOnlyStore(self.server.db_path)
        except InputError as exc:
            raise HTTPProblem(503, str(exc)) from None

    def _search(self, params: dict) -> None:
        query = (params.get("q") or [""])[-1]
        if not query.strip():
            raise HTTPProblem(400, "empty search query")
        if len(query) > MAX_QUERY:
            raise HTTPProblem(400, f"search query longer than {MAX_QUERY} characters")
        page, file_id = _int_param(params, "page") or 1, _int_param(params, "file")
        with self._library() as store:
            try:
                result = search_page(store, query, page, file_id)
            except InputError as exc:
                raise HTTPProblem(400, str(exc)) from None
            except sqlite3.OperationalError as exc:
                raise HTTPProblem(503, f"the library cannot be read now ({exc}); try again") \
                    from None
        self._send_json(200, result)

    def _word_image(self, what: str, word_id: int, also: list[int]) -> None:
        """A word's thumbnail, or its frame with its box and those of the words `also`
        on screen with it (a moment of several boxes; only words of the same file)."""
        with self._library() as store:
            word = db.get_word(store, word_id)
            data = db.get_thumb(store, word_id) if word and what == "thumb" else None
            others = [o for o in (db.get_word(store, i) for i in also)
                      if word and o and o.file.id == word.file.id]
        if word is None:
            raise HTTPProblem(404, "no such word in the library")
        if what == "frame":
            try:
                data = media.snapshot(word, others)
            except media.NotServed as exc:
                raise HTTPProblem(404, str(exc)) from None
        if not data:
            raise HTTPProblem(404, "no thumbnail for this word")
        self._send(200, data, "image/jpeg", cache="private, max-age=60")

    def _video(self, file_id: int) -> None:
        with self._library() as store:
            row = db.get_file(store, file_id)
        if row is None or media.kind(row.path) != "video":
            raise HTTPProblem(404, "no such video in the library")
        try:
            fd, size = media.open_indexed(row)
        except media.NotServed as exc:
            raise HTTPProblem(404, str(exc)) from None
        with os.fdopen(fd, "rb") as f:
            try:
                span = parse_range(self.headers.get("Range"), size)
            except Unsatisfiable:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self._headers_and_end(0, "text/plain; charset=utf-8")
                return
            first, last = span if span else (0, size - 1)
            self.send_response(206 if span else 200)
            if span:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.send_header("Accept-Ranges", "bytes")
            self._headers_and_end(last - first + 1, media.content_type(row.path),
                                  cache="no-cache")
            if self.send_body:
                f.seek(first)
                left = last - first + 1
                while left > 0:
                    chunk = f.read(min(CHUNK, left))
                    if not chunk:  # shorter than when checked: end the connection
                        self.close_connection = True
                        return
                    self.wfile.write(chunk)
                    left -= len(chunk)

    def _headers_and_end(self, length: int, ctype: str, cache: str = "no-store") -> None:
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", cache)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.started = True

    def _send(self, status: int, data: bytes, ctype: str, cache: str = "no-store") -> None:
        self.send_response(status)
        self._headers_and_end(len(data), ctype, cache)
        if self.send_body:
            self.wfile.write(data)

    def _send_json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send_problem(self, status: int, message: str) -> None:
        if urlsplit(self.path).path.startswith("/api/"):
            self._send_json(status, {"error": message, "status": status})
        else:
            self._send(status, f"{status} {HTTPStatus(status).phrase}: {message}\n".encode(),
                       "text/plain; charset=utf-8")


class LibraryServer(ThreadingHTTPServer):
    """Serves the library at `db_path` on (host, port); port 0 picks a free one."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, db_path: Path, host: str = "127.0.0.1", port: int = 8765,
                 verbose: bool = False) -> None:
        self.db_path, self.verbose = Path(db_path), verbose
        folder = resources.files("engocr.web").joinpath("static")
        self.static = {route: folder.joinpath(name).read_bytes()
                       for route, (name, _) in STATIC.items()}
        self.allowed_hosts = LOOPBACK_NAMES | {host.lower().strip("[]")} \
            if is_loopback(host) else None
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host.strip("[]"), port), Handler)
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: "
                             f"{exc.strerror or exc}") from None

    def handle_error(self, request, client_address) -> None:
        """A connection error is a browser gone away: nothing to say. Anything else that
        escaped the handler: one line, not socketserver's traceback."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            print(f"engocr: serve: {type(exc).__name__}: {exc}", file=sys.stderr)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"
