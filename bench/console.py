"""Benchmark of the console (`enrichlog web`): server time and weight of its pages on a large table.

    DATABASE_URL=… .venv/bin/python bench/console.py [--rows 10000000] [--requests 200] [--explain] [--reseed]

1. Seeds the database `bench_console_<rows>` on the server of --database-url (default: $DATABASE_URL):
   migrated with the real runner, filled by bench/queries.py's set-based fill (projected roots
   with 9 flat children each, ~5% PARTIAL with a FAILED child, 1% FAILED, the newest running;
   roots with 50 children; legacy rows without a job id or sharing one; a year of created_at),
   plus one root with 500 children, then VACUUM ANALYZE. The database's comment marks a finished
   seed: a later run with the same --rows reuses it (seeding 10M rows takes minutes);
   --reseed drops it first.
2. Starts the console as a real process (`python -m enrichlog.cli web`), and times sequential
   requests from an httpx client after a warm-up: the roots page (HTML and API), a page a few
   cursors deep, the PARTIAL roots, and the timelines (HTML and API) of a 50-child and of the
   500-child root. Then the same requests in-process (the app over httpx's ASGI transport, no
   socket, no uvicorn): the server's own time. p50/p95/p99 of each.
3. Page weight: bytes of each page and of its stylesheet, as served and gzipped, and whether the
   server compressed them. --explain prints EXPLAIN (ANALYZE, BUFFERS) of the queries behind
   each page. Designed for more modes (a --live mode of open pages) as further request kinds.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench.queries import CHILD_OPS, FILL_CHILDREN, FILL_ROOTS, explain, fill  # noqa: E402
from enrichlog.migrate import migrate  # noqa: E402
from enrichlog.read import RootFilters, roots_page, roots_query  # noqa: E402
from enrichlog.read import sql as q  # noqa: E402

DEEP_CHILDREN = 500
DEEP_PAGES = 20  # the deep roots page: this many cursors from the first


@dataclass(frozen=True)
class Page:
    """One kind of request: what it shows, its path, and the statements behind it (for --explain)."""

    label: str
    path: str
    plans: Callable[[psycopg.Connection[Any]], list[tuple[str, Any, dict[str, Any]]]]


def _database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _marker(rows: int) -> str:
    return f"bench/console.py seed, rows={rows}"


def seed(admin_url: str, rows: int, *, reseed: bool) -> str:
    """The URL of a seeded `bench_console_<rows>`, seeding it unless one is there already."""
    name = f"bench_console_{rows}"
    url = _database(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        found = admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                              (name,)).fetchone()
        if found is not None and found[0] == _marker(rows) and not reseed:
            print(f"reusing {name} ({found[0]})", flush=True)
            return url
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(url)
    print(f"{name}: filling ~{rows:,} rows", flush=True)
    started = time.monotonic()
    fill(url, rows)
    with psycopg.connect(url, autocommit=True) as conn:
        albums = max(rows // 40, 1)
        common = {"albums": albums, "artists": max(albums // 10, 1), "ops": list(CHILD_OPS)}
        conn.execute(FILL_ROOTS, {**common, "prefix": "deep-", "n": 1, "running": 0})
        conn.execute(FILL_CHILDREN, {**common, "prefix": "deep-", "per": DEEP_CHILDREN})
        conn.execute("VACUUM (ANALYZE) enrichment_logs")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(_marker(rows))))
    print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)
    return url


def pages(conn: psycopg.Connection[Any]) -> list[Page]:
    """The requests measured, with the ids and cursor they need, read from the seeded table."""
    wide = conn.execute("SELECT id, job_id FROM enrichment_logs WHERE job_id = 'wide-1'").fetchone()
    deep = conn.execute("SELECT id, job_id FROM enrichment_logs WHERE job_id = 'deep-1'").fetchone()
    assert wide is not None and deep is not None, "seeded table without its wide and deep roots"
    cursor = None
    for _ in range(DEEP_PAGES):
        cursor = roots_page(conn, cursor=cursor).next_cursor
    assert cursor is not None

    def roots(filters: RootFilters, cur: str | None = None) -> Callable[[Any], list[tuple[str, Any, dict[str, Any]]]]:
        return lambda _: [("roots page", *roots_query(filters, limit=50, cursor=cur))]

    def tree(row_id: Any, job_id: str) -> Callable[[Any], list[tuple[str, Any, dict[str, Any]]]]:
        return lambda _: [("resolve by id", q.RESOLVE_BY_ID, {"id": row_id}),
                          ("timeline root", q.TIMELINE_ROOT, {"id": row_id}),
                          ("timeline children", q.TIMELINE_CHILDREN, {"job_id": job_id})]

    return [
        Page("roots page HTML /", "/", roots(RootFilters())),
        Page("roots page API /api/roots", "/api/roots", roots(RootFilters())),
        Page(f"roots page {DEEP_PAGES + 1} HTML (cursor)", f"/?cursor={cursor}", roots(RootFilters(), cursor)),
        Page(f"roots page {DEEP_PAGES + 1} API (cursor)", f"/api/roots?cursor={cursor}", roots(RootFilters(), cursor)),
        Page("roots PARTIAL HTML", "/?status=PARTIAL", roots(RootFilters("PARTIAL"))),
        Page("roots PARTIAL API", "/api/roots?status=PARTIAL", roots(RootFilters("PARTIAL"))),
        Page("timeline 50 children HTML", f"/roots/{wide[0]}", tree(*wide)),
        Page("timeline 50 children API", f"/api/timeline/{wide[0]}", tree(*wide)),
        Page(f"timeline {DEEP_CHILDREN} children HTML", f"/roots/{deep[0]}", tree(*deep)),
        Page(f"timeline {DEEP_CHILDREN} children API", f"/api/timeline/{deep[0]}", tree(*deep)),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def console(url: str, own_session: bool = False) -> Iterator[str]:
    """`enrichlog web` as a process of its own over `url`; yields its base URL, stops it after.
    `own_session`: in a session of its own, hence its own scheduler autogroup where the kernel
    groups by session: its CPU does not come out of the caller's group's share."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("ENRICHLOG_WEB_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "enrichlog.cli", "web", "--port", str(port)], env=env, cwd=ROOT,
                            start_new_session=own_session)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/roots?limit=1", timeout=5).raise_for_status()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("enrichlog web did not answer") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def percentile(samples: list[float], p: int) -> float:
    ordered = sorted(samples)
    return ordered[max(0, -(-len(ordered) * p // 100) - 1)]


def report(label: str, samples: list[float]) -> None:
    p50, p95, p99 = (percentile(samples, p) for p in (50, 95, 99))
    print(f"  {label:<38} p50 {p50:7.2f}  p95 {p95:7.2f}  p99 {p99:7.2f} ms  (n={len(samples)})", flush=True)


def over_http(base: str, todo: list[Page], requests: int, warmup: int) -> None:
    print(f"\nClient time (real `enrichlog web` process, sequential httpx requests, {warmup} warm-up each)")
    with httpx.Client(base_url=base, timeout=30) as client:
        for page in todo:
            for _ in range(warmup):
                client.get(page.path).raise_for_status()
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get(page.path).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            report(page.label, samples)


def in_process(url: str, todo: list[Page], requests: int, warmup: int) -> None:
    """The app's own time per request: FastAPI over httpx's ASGI transport, no socket, no uvicorn."""
    from enrichlog.web.app import create_app
    from enrichlog.web.settings import WebSettings

    app = create_app(url, WebSettings(token=None))
    print("\nServer time (the same app in-process over the ASGI transport, its lifespan run: read, render)")

    async def run() -> None:
        async with app.router.lifespan_context(app), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
            for page in todo:
                for _ in range(warmup):
                    (await client.get(page.path)).raise_for_status()
                samples = []
                for _ in range(requests):
                    started = time.perf_counter()
                    (await client.get(page.path)).raise_for_status()
                    samples.append((time.perf_counter() - started) * 1000)
                report(page.label, samples)

    asyncio.run(run())


def weight(base: str, todo: list[Page]) -> None:
    print("\nPage weight (bytes as served / gzipped by us; content-encoding the server sent to gzip clients)")
    with httpx.Client(base_url=base, timeout=30, headers={"Accept-Encoding": "gzip"}) as client:
        first = client.get("/").text
        assets = sorted(set(re.findall(r'(?:href|src)="(/static/[^"]+)"', first)))
        for path in [p.path for p in todo if "API" not in p.label] + assets:
            resp = client.get(path)
            body = resp.content
            sent = resp.headers.get("content-encoding", "none")
            print(f"  {path[:60]:<60} {len(body):>9,} B  gzip {len(gzip.compress(body)):>8,} B  sent: {sent}")


def breakdown(url: str, wide: str, deep: str, requests: int) -> None:
    """Where a request's server time goes: the parts the handlers run, each timed on its own."""
    from enrichlog import jsondoc
    from enrichlog.read import reading, timeline
    from enrichlog.read.pool import ReadPool

    def timed(label: str, fn: Callable[[], object]) -> None:
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        report(label, samples)

    def connect_close() -> None:
        with reading(url):
            pass

    print("\nWhere the server time goes (each part alone)")
    timed("open and close a connection", connect_close)
    reads = ReadPool(url, name="bench/console.py", min_size=1, max_size=1)
    reads.open()
    reads.pool.wait()

    def take_give_back() -> None:
        with reads.reading():
            pass

    timed("a pooled connection, checked", take_give_back)
    reads.close()
    with reading(url) as conn:
        first, fifty, five_hundred = roots_page(conn), timeline(conn, wide), timeline(conn, deep)
        timed("roots page read (open connection)", lambda: roots_page(conn))
        timed("50-child timeline read", lambda: timeline(conn, wide))
        timed(f"{DEEP_CHILDREN}-child timeline read", lambda: timeline(conn, deep))
    for label, found in (("roots page", first), ("50-child", fifty), (f"{DEEP_CHILDREN}-child", five_hundred)):
        timed(f"{label} to_json + jsondoc.dumps", lambda f=found: jsondoc.dumps(f.to_json()))


def plans(url: str, todo: list[Page]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for page in todo:
            for label, query, params in page.plans(conn):
                explain(conn, f"{page.label}: {label}", query, params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="about this many rows (roots: a tenth)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per page first")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--reseed", action="store_true", help="drop and seed bench_console_<rows> even if present")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of the pages' queries")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    for name in ("rows", "requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    url = seed(args.database_url, args.rows, reseed=args.reseed)
    with psycopg.connect(url, autocommit=True) as conn:
        todo = pages(conn)
    with console(url) as base:
        over_http(base, todo, args.requests, args.warmup)
        weight(base, todo)
    in_process(url, todo, args.requests, args.warmup)
    breakdown(url, todo[6].path.rsplit("/", 1)[1], todo[8].path.rsplit("/", 1)[1], args.requests)
    if args.explain:
        plans(url, todo)


if __name__ == "__main__":
    main()
