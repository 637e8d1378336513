"""The video library (`engocr index`, `engocr search`, issue #27): indexing throughput on a
folder of short videos it writes itself (the demo scene), with 1 and 2 local worker
processes and through the Dask engine on a real LocalCluster (frames/s and hours of video per
hour, wall time from the command's start, Reader start-up included); the engine's overhead
(Dask against local workers on the same files, plus Dask's and, when installed, Ray's cluster
start-up and per-task overhead on a no-op task, and their installed size); and search latency
on a store of generated rows (words of the shipped word list drawn by their frequency in
English, written through `Store.put_file`) for exact words, one-edit typos and two words on
screen together. Target: under 50 ms a query, median. The full run (a few minutes on 2 cores;
run it when the machine is quiet):

    python benchmarks/library.py --videos 8 --seconds 15 --rows 1000000

A smoke run: `python benchmarks/library.py --videos 2 --seconds 2 --rows 20000 --queries 5
--tasks 20 --out /tmp/library.json`.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import importlib.metadata
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engocr.library.cli import run_index
from engocr.library.store import Store
from engocr.realtime.bench import cpu_name
from engocr.realtime.engine import default_threads

WORDS = Path(__file__).resolve().parents[1] / "engocr" / "assets" / "words.txt.gz"


def write_videos(folder: Path, count: int, seconds: float, fps: int,
                 size: tuple[int, int]) -> float:
    """`count` mp4s of the demo scene (each its own seed); their total length in seconds."""
    import imageio.v2 as imageio

    from engocr.realtime.demo import DemoScene

    frames = max(1, round(seconds * fps))
    for k in range(count):
        scene = DemoScene(size, seed=k)
        with imageio.get_writer(str(folder / f"v{k:03d}.mp4"), fps=fps, codec="libx264",
                                macro_block_size=8, ffmpeg_log_level="quiet") as writer:
            for i in range(frames):
                writer.append_data(scene.render(i)[..., ::-1])
    return count * frames / fps


def time_index(folder: Path, video_s: float, workers: int, engine: str) -> dict:
    """One `engocr index --force` run into a new database, timed from the call."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = run_index([folder], Path(tmp) / "lib.db", workers=workers, force=True,
                            progress=False, engine=engine)
        wall = time.perf_counter() - start
    return {"engine": engine, "workers": workers, "files": summary.read,
            "failed": summary.failed, "frames": summary.frames, "wall_s": round(wall, 2),
            "fps": round(summary.frames / wall, 1),
            "video_hours_per_hour": round(video_s / wall, 1)}


def _noop(x: int) -> int:
    return x


def _task_overhead(submit_many, submit_one, tasks: int) -> dict:
    """Per-task cost of no-op tasks: `tasks` at once (throughput) and one at a time
    (round trip), both in ms."""
    submit_many(range(8))  # warm the workers
    start = time.perf_counter()
    submit_many(range(tasks))
    batch = (time.perf_counter() - start) / tasks
    trips = []
    for i in range(min(tasks, 50)):
        start = time.perf_counter()
        submit_one(i)
        trips.append(time.perf_counter() - start)
    return {"batch_ms_per_task": round(batch * 1000, 3),
            "round_trip_ms_median": round(statistics.median(trips) * 1000, 3)}


def installed_mb(*dists: str) -> float | None:
    """Size on disk of the distributions' own files (not their dependencies)."""
    total = 0
    for name in dists:
        try:
            files = importlib.metadata.files(name) or []
        except importlib.metadata.PackageNotFoundError:
            return None
        for f in files:
            path = Path(f.locate())
            total += path.stat().st_size if path.is_file() else 0
    return round(total / 2**20, 1)


def dask_engine(workers: int, tasks: int) -> dict:
    from dask.distributed import Client, LocalCluster

    start = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
    client = Client(cluster)
    client.wait_for_workers(workers)
    startup = time.perf_counter() - start
    try:
        over = _task_overhead(
            lambda xs: client.gather(client.map(_noop, list(xs), pure=False)),
            lambda x: client.submit(_noop, x, pure=False).result(), tasks)
    finally:
        start = time.perf_counter()
        client.close()
        cluster.close()
        stop = time.perf_counter() - start
    return {"engine": "dask", "version": importlib.metadata.version("distributed"),
            "workers": workers, "startup_s": round(startup, 2), "shutdown_s": round(stop, 2),
            **over, "installed_mb": installed_mb("dask", "distributed")}


def ray_engine(workers: int, tasks: int) -> dict:
    try:
        import ray
    except ImportError:
        return {"engine": "ray", "skipped": "not installed (pip install ray)"}
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    remote = ray.remote(num_cpus=1)(_noop)
    ray.get([remote.remote(i) for i in range(workers)])  # its workers are up
    startup = time.perf_counter() - start
    try:
        over = _task_overhead(lambda xs: ray.get([remote.remote(x) for x in xs]),
                              lambda x: ray.get(remote.remote(x)), tasks)
    finally:
        start = time.perf_counter()
        ray.shutdown()
        stop = time.perf_counter() - start
    return {"engine": "ray", "version": ray.__version__, "workers": workers,
            "startup_s": round(startup, 2), "shutdown_s": round(stop, 2), **over,
            "installed_mb": installed_mb("ray")}


def word_list() -> tuple[list[str], np.ndarray]:
    """The shipped words and their probabilities by frequency in English (Zipf)."""
    words, zipf = [], []
    with gzip.open(WORDS, "rt") as handle:
        for line in handle:
            word, z = line.split()
            words.append(word)
            zipf.append(float(z))
    weights = 10.0 ** np.array(zipf)
    return words, weights / weights.sum()


def build_store(path: Path, rows: int, per_file: int, video_s: float,
                rng: np.random.Generator) -> tuple[Store, float]:
    """A store of `rows` generated tracks (one word each, as the detector boxes words),
    `per_file` to a file; seconds it took."""
    words, p = word_list()
    store = Store(path)
    start = time.perf_counter()
    for k in range(0, rows, per_file):
        n = min(per_file, rows - k)
        texts = rng.choice(len(words), n, p=p)
        first = rng.uniform(0, video_s, n)
        last = first + rng.lognormal(1.0, 0.8, n)
        x1, y1 = rng.uniform(0, 1200, n), rng.uniform(0, 680, n)
        store.put_file(Path(f"/videos/v{k // per_file:06d}.mp4"), 1, 1, [
            {"track": i, "text": words[texts[i]], "first_s": float(first[i]),
             "last_s": float(last[i]), "frame": int(first[i] * 30), "time_s": float(first[i]),
             "x1": float(x1[i]), "y1": float(y1[i]), "x2": float(x1[i] + 80),
             "y2": float(y1[i] + 30), "conf": 0.9, "thumb": None} for i in range(n)],
            frames=int(video_s * 30))
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the database file
    return store, time.perf_counter() - start


def typo(word: str, rng: np.random.Generator) -> str:
    """The word with one letter changed to one it does not have there."""
    i = int(rng.integers(len(word)))
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c != word[i]]
    return word[:i] + letters[int(rng.integers(len(letters)))] + word[i + 1:]


def queries(store: Store, count: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """Exact words (of random rows, so common words come often), one-edit typos of them
    (that are not words of the store) and pairs of words of one file on screen together."""
    top = store.db.execute("SELECT max(id) FROM words").fetchone()[0]
    out: dict[str, list[str]] = {"exact": [], "typo": [], "together": []}
    while min(len(v) for v in out.values()) < count:
        rid = int(rng.integers(1, top + 1))
        row = store.db.execute("SELECT text, file_id, first_s, last_s FROM words WHERE id = ?",
                               (rid,)).fetchone()
        if row is None or len(row[0]) < 4:
            continue
        text, file_id, first, last = row
        if len(out["exact"]) < count:
            out["exact"].append(text)
        wrong = typo(text.lower(), rng)
        if len(out["typo"]) < count and not store.terms_in([wrong]):
            out["typo"].append(wrong)
        other = store.db.execute(
            "SELECT text FROM words WHERE file_id = ? AND id != ? AND first_s <= ? AND "
            "last_s >= ? AND length(text) >= 4 LIMIT 1", (file_id, rid, last, first)).fetchone()
        if len(out["together"]) < count and other and other[0].lower() != text.lower():
            out["together"].append(f"{text} {other[0]}")
    return out


def time_search(store: Store, kinds: dict[str, list[str]]) -> dict:
    from engocr.library.search import search

    search(store, "warmup")
    out = {}
    for kind, qs in kinds.items():
        times, hits = [], []
        for q in qs:
            start = time.perf_counter()
            found = search(store, q)
            times.append(time.perf_counter() - start)
            hits.append(len(found))
        out[kind] = {"queries": len(qs), "median_ms": round(statistics.median(times) * 1000, 2),
                     "p95_ms": round(float(np.percentile(times, 95)) * 1000, 2),
                     "max_ms": round(max(times) * 1000, 2),
                     "mean_hits": round(statistics.mean(hits), 1), "example": qs[0]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=8, help="short videos to index")
    p.add_argument("--seconds", type=float, default=15, help="length of each video")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--size", default="640x360", help="video frame size WxH")
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of the search store")
    p.add_argument("--rows-per-file", type=int, default=2000)
    p.add_argument("--queries", type=int, default=50, help="queries of each kind")
    p.add_argument("--tasks", type=int, default=500, help="no-op tasks per engine")
    p.add_argument("--skip", nargs="*", default=[], choices=["index", "engines", "search"])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/library.json"))
    args = p.parse_args(argv)
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        if len(size) != 2 or min(size) < 32:
            raise ValueError
    except ValueError:
        print(f"library: --size must be WxH, at least 32x32, got {args.size!r}", file=sys.stderr)
        return 2
    if min(args.videos, args.rows, args.queries, args.tasks, args.rows_per_file) < 1 or \
            args.seconds <= 0 or args.fps < 1:
        print("library: counts, --seconds and --fps must be positive", file=sys.stderr)
        return 2
    result = {"date": datetime.date.today().isoformat(),
              "command": "python benchmarks/library.py " + " ".join(argv or sys.argv[1:]),
              "machine": {"cpu": cpu_name(), "cores": default_threads(),
                          "python": platform.python_version(),
                          "sqlite": sqlite3.sqlite_version}}
    if "index" not in args.skip:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            video_s = write_videos(folder, args.videos, args.seconds, args.fps, size)
            result["videos"] = {"count": args.videos, "seconds_each": args.seconds,
                                "fps": args.fps, "size": args.size}
            result["index"] = [time_index(folder, video_s, w, e)
                               for e, w in (("local", 1), ("local", 2), ("dask", 2))]
        for r in result["index"]:
            print(f"index {r['engine']:5s} x{r['workers']}: {r['frames']} frames in "
                  f"{r['wall_s']:.1f} s, {r['fps']:.1f} frames/s, "
                  f"{r['video_hours_per_hour']:.1f} h of video per hour")
        local2 = next(r for r in result["index"] if r["engine"] == "local" and
                      r["workers"] == 2)
        dask2 = next(r for r in result["index"] if r["engine"] == "dask")
        result["dask_overhead_s"] = round(dask2["wall_s"] - local2["wall_s"], 2)
        print(f"Dask engine over 2 local workers: {result['dask_overhead_s']:+.2f} s")
    if "engines" not in args.skip:
        result["engines"] = [dask_engine(2, args.tasks), ray_engine(2, args.tasks)]
        for r in result["engines"]:
            if "skipped" in r:
                print(f"{r['engine']}: skipped, {r['skipped']}")
            else:
                print(f"{r['engine']} {r['version']}: start {r['startup_s']:.2f} s, "
                      f"{r['batch_ms_per_task']:.3f} ms/task in a batch, round trip "
                      f"{r['round_trip_ms_median']:.3f} ms, {r['installed_mb']} MB installed")
    if "search" not in args.skip:
        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory() as tmp:
            store, build_s = build_store(Path(tmp) / "big.db", args.rows, args.rows_per_file,
                                         1200.0, rng)
            try:
                rows = store.db.execute("SELECT count(*) FROM words").fetchone()[0]
                result["search"] = {"rows": rows, "build_s": round(build_s, 1),
                                    "db_mb": round((Path(tmp) / "big.db").stat().st_size
                                                   / 2**20, 1),
                                    "kinds": time_search(store, queries(store, args.queries,
                                                                        rng))}
            finally:
                store.close()
        s = result["search"]
        print(f"search over {s['rows']:,} rows ({s['db_mb']} MB, built in {s['build_s']} s):")
        for kind, r in s["kinds"].items():
            print(f"  {kind:9s} median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
                  f"{r['mean_hits']} hits (e.g. {r['example']!r})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
