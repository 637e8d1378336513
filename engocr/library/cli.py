"""`engocr index PATH... --db FILE` and `engocr search QUERY --db FILE`."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engocr.argtypes import POSITIVE
from engocr.errors import InputError, OutputError


@dataclass
class IndexSummary:
    read: int = 0
    skipped: int = 0
    failed: int = 0
    frames: int = 0


def _reader_kwargs(args) -> dict:
    return {"det_model": args.det_model, "rec_model": args.rec_model, "threads": args.threads,
            "score_threshold": args.score, "min_conf": args.min_conf, "det_size": args.det_size,
            "coarse_side": args.coarse_side, "lexicon": not args.no_lexicon,
            "words": tuple(args.words)}


def _dask_results(todo: list[Path], reader_kwargs: dict | None, address: str | None,
                  workers: int):
    """Each file as a task on a Dask distributed cluster (`address`, or a local one of
    `workers` processes); results as they finish."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError('--engine dask needs Dask: pip install "engocr[cluster]"') from None
    from engocr.library import indexer

    cluster = None
    try:
        if address:
            client = Client(address)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                   dashboard_address=None)
            client = Client(cluster)
    except OSError as exc:
        raise InputError(f"cannot reach the Dask cluster {address}: {exc}") from None
    try:
        futures = [client.submit(indexer.index_file_with, str(p), reader_kwargs, pure=False)
                   for p in todo]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_index(paths, db: Path, workers: int = 1, force: bool = False,
              reader_kwargs: dict | None = None, progress: bool = True,
              log=None, engine: str = "local", address: str | None = None) -> IndexSummary:
    """Index every video and image under `paths` into the library at `db`. One process reads
    with `workers` 1; more use spawned worker processes; `engine` "dask" runs each file as a
    task on a Dask cluster. The parent alone writes. Unless `reader_kwargs` sets `threads`,
    the readers on this machine share its cores (`indexer.reader_threads`) and a task on a
    remote cluster reads with one inference thread."""
    from tqdm import tqdm

    from engocr.library import indexer
    from engocr.library.scan import find_media
    from engocr.library.store import Store

    files = find_media(paths)
    store = Store(db)
    summary = IndexSummary()
    todo = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:  # gone since the scan: index_file records why
            todo.append(path)
            continue
        if not force and store.is_done(path, stat.st_size, stat.st_mtime_ns):
            summary.skipped += 1
        else:
            todo.append(path)
    reader_kwargs = dict(reader_kwargs or {})
    if reader_kwargs.get("threads") is None and not (engine == "dask" and address):
        local = workers if engine == "dask" else min(workers, max(1, len(todo)))
        reader_kwargs["threads"] = indexer.reader_threads(local)
    bar = tqdm(total=len(todo), unit="file", disable=not progress, file=sys.stderr)
    started = time.monotonic()

    def commit(result) -> None:
        store.put_file(Path(result.path), result.size, result.mtime_ns, result.rows,
                       result.frames, result.error)
        summary.frames += result.frames
        if result.error:
            summary.failed += 1
            if log:
                log(result.error)
        else:
            summary.read += 1
        bar.set_postfix_str(f"{summary.frames / max(time.monotonic() - started, 1e-9):.1f} "
                            "frames/s", refresh=False)
        bar.update(1)

    try:
        if todo and engine == "dask":
            for result in _dask_results(todo, reader_kwargs, address, workers):
                commit(result)
        elif todo and workers <= 1:
            indexer.init_worker(reader_kwargs)
            for path in todo:
                commit(indexer.index_file(path))
        elif todo:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            pool = ProcessPoolExecutor(min(workers, len(todo)),
                                       mp_context=multiprocessing.get_context("spawn"),
                                       initializer=indexer.init_worker,
                                       initargs=(reader_kwargs,))
            try:
                futures = [pool.submit(indexer.index_file, str(p)) for p in todo]
                for future in as_completed(futures):
                    commit(future.result())
            finally:  # on an error or Ctrl-C, read no more files
                pool.shutdown(cancel_futures=True)
    finally:
        bar.close()
        store.close()
    return summary


def cmd_index(args) -> int:
    summary = run_index(args.paths, args.db, args.workers, args.force, _reader_kwargs(args),
                        progress=sys.stderr.isatty(), engine=args.engine,
                        address=args.address,
                        log=lambda m: print(f"engocr: failed: {m}", file=sys.stderr))
    print(f"{summary.read} read, {summary.skipped} skipped, {summary.failed} failed "
          f"({summary.frames} frames) into {args.db}")
    return 2 if summary.failed else 0


def cmd_search(args) -> int:
    from engocr.library.search import search
    from engocr.library.store import Store

    if not args.db.exists():
        raise InputError(f"{args.db}: no such library (make one with `engocr index`)")
    if args.thumbs is not None:
        try:
            args.thumbs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{args.thumbs}: {exc.strerror or exc}") from None
    store = Store(args.db)
    try:
        hits = search(store, args.query, args.limit, with_thumbs=args.thumbs is not None)
    finally:
        store.close()
    for i, hit in enumerate(hits, 1):
        record = hit.to_dict()
        if args.thumbs is not None and hit.thumb:
            target = args.thumbs / f"{i:03d}-{Path(hit.file).stem}-{hit.stamp.replace(':', '')}.jpg"
            try:
                target.write_bytes(hit.thumb)
            except OSError as exc:
                raise OutputError(f"{target}: {exc.strerror or exc}") from None
            record["thumb"] = str(target)
        if args.json:
            print(json.dumps(record))
        else:
            x1, y1, x2, y2 = record["box"]
            mark = " ~" if hit.fuzzy else ""
            text = " + ".join(p.text for p in hit.parts) if hit.parts else hit.text
            print(f"{hit.file}  {hit.stamp}  {text}  [{x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}]"
                  f"{mark}")
    if not hits and not args.json:
        print("no hits", file=sys.stderr)
    return 0


def add_parsers(sub, model_args) -> None:
    p = sub.add_parser("index", help="read videos and images into a searchable library")
    p.add_argument("paths", nargs="+", help="files or folders (searched recursively)")
    p.add_argument("--db", type=Path, required=True, help="library database (SQLite)")
    p.add_argument("--workers", type=POSITIVE, default=os.cpu_count() or 1,
                   help="reading processes (default: the CPU count)")
    p.add_argument("--force", action="store_true", help="re-read files already indexed")
    p.add_argument("--engine", choices=["local", "dask"], default="local",
                   help="local: worker processes here; dask: tasks on a Dask cluster "
                        '(pip install "engocr[cluster]")')
    p.add_argument("--address", default=None,
                   help="Dask scheduler address (default: a local cluster of --workers)")
    model_args(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search a library made by `engocr index`")
    p.add_argument("query", help='FTS5 query: words, prefix lab*, "phrases", AND/OR/NOT')
    p.add_argument("--db", type=Path, required=True, help="library database (SQLite)")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--limit", type=POSITIVE, default=20, help="most hits shown (default 20)")
    p.add_argument("--thumbs", type=Path, default=None, help="folder to write thumbnails to")
    p.set_defaults(func=cmd_search)
