"""`engocr serve --db FILE [--host 127.0.0.1] [--port 8765]`: the library in a browser."""

from __future__ import annotations

import sys
from pathlib import Path

from engocr.argtypes import checked

PORT = checked(int, lambda v: 0 <= v <= 65535, "a port number from 0 to 65535")


def cmd_serve(args) -> int:
    """Check the library opens read-only, then serve it until Ctrl-C."""
    from engocr.web.db import library_summary, open_library
    from engocr.web.server import LibraryServer, is_loopback

    with open_library(args.db) as store:
        counts = library_summary(store)
    server = LibraryServer(args.db, args.host, args.port, verbose=args.verbose)
    try:
        if not is_loopback(args.host):
            print(f"engocr: warning: serving on {args.host}, not this machine's loopback "
                  f"address: anyone who can reach it on port {server.server_address[1]} can "
                  "search the library and watch its videos", file=sys.stderr, flush=True)
        print(f"engocr: serving {args.db} ({counts['files']} files, {counts['words']} text tracks) "
              f"at {server.url} (Ctrl-C stops)", flush=True)
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("serve", help="browse a library made by `engocr index` in a web page")
    p.add_argument("--db", type=Path, required=True, help="library database (SQLite), "
                   "opened read-only")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but a loopback address lets other "
                        "machines in, and says so")
    p.add_argument("--port", type=PORT, default=8765, help="port (0: any free one)")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    p.set_defaults(func=cmd_serve)
