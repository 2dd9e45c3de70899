"""Benchmark of the read side (enrichlog.read) on a large projected table.

    .venv/bin/python bench/queries.py [--rows 10000000] [--runs 200] [--database-url URL] [--keep]

1. Creates a throwaway database on the server of --database-url (default: $DATABASE_URL) and
   migrates it with the real runner. Drops the table's indexes (definitions kept), fills it with
   set-based INSERT ... SELECT generate_series: rows/10 projected roots with 9 children each, 100
   roots with 50 children, rows/200 legacy rows (null or shared job ids), then rebuilds exactly
   the migrated indexes and runs VACUUM ANALYZE, as a live table would be.
2. Times (client wall clock, one connection, `runs` runs each; p50/p99) the first roots page,
   page 1,000 reached by walking the cursor, a 50-child timeline, and the filtered pages.
3. Prints EXPLAIN (ANALYZE, BUFFERS) of each and says whether a plan has a Sort or a Seq Scan.
   Drops the database unless --keep.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from enrichlog.migrate import migrate
from enrichlog.read import EntityPrefix, RootFilters, roots_page, roots_query, status_counts, timeline
from enrichlog.read import sql as q
from enrichlog.read.roots import COUNTS_CAP

CHILD_OPS = ("ENRICH_ALBUM", "CACHE_ALBUM_COVER_ART", "SPOTIFY_TRACK_FALLBACK", "CHECK_ARTIST_ENRICHMENT",
             "ENRICH_ARTIST", "DISCOGS_SEARCH_ARTIST", "DISCOGS_GET_ARTIST", "CACHE_ARTIST_IMAGE", "ENRICH_TRACK")
WIDE = 100  # roots with 50 children each
HOT = uuid.UUID(hashlib.md5(b"artist-hot").hexdigest())
STUCK = timedelta(hours=1)
COVER = "CACHE_ALBUM_COVER_ART"

# Projected roots, 70% album / 20% artist / 10% track checks, one every ~31 s over a year (with
# a tie on created_at every 1,000th root, to exercise the id tiebreak); ~5% PARTIAL, 1% FAILED,
# the newest 200 running, a few running with an old last event (stuck); one "hot" artist is named
# by 2% of the roots (20,000 at full scale), the other artists by about 40 roots each.
FILL_ROOTS = """
INSERT INTO enrichment_logs (job_id, operation, entity_type, entity_id, artist_id, album_id, track_id,
    sources, status, job_status, is_root_job, triggered_by, created_at, started_at, finished_at,
    last_event_at, duration_ms, retry_count, attempt, attempts, metadata, fold_state, failed_children)
SELECT %(prefix)s || g, op, etype::enrichment_entity_type,
       CASE etype WHEN 'ALBUM' THEN album WHEN 'ARTIST' THEN artist ELSE track END,
       artist, CASE WHEN etype <> 'ARTIST' THEN album END, CASE WHEN etype = 'TRACK' THEN track END,
       ARRAY['MUSICBRAINZ', 'SPOTIFY'], st::enrichment_status,
       (CASE st WHEN 'PARTIAL' THEN 'SUCCESS' ELSE st END)::enrichment_status, true, 'scheduler',
       t, t, CASE WHEN running THEN NULL ELSE t + interval '25 s' END,
       CASE WHEN st = 'IN_PROGRESS' AND g %% 33333 = 5 THEN t + interval '10 s' ELSE t + interval '25 s' END,
       CASE WHEN running THEN NULL ELSE 500 + g %% 20000 END, 0, 1,
       jsonb_build_array(jsonb_build_object('attempt', 1, 'startedAt', t, 'durationMs', 500 + g %% 20000)),
       jsonb_build_object('processor', op, 'apiCallCount', 3), '{"bench": 1}', (st = 'PARTIAL')::int
  FROM generate_series(1, %(n)s) AS g,
       LATERAL (SELECT now() - interval '365 days'
                       + ((g - (g %% 1000 = 0)::int)::float8 / %(n)s) * interval '365 days' AS t,
                       md5('album-' || g %% %(albums)s)::uuid AS album,
                       CASE WHEN g %% 50 = 3 THEN md5('artist-hot')::uuid
                            ELSE md5('artist-' || (g %% %(albums)s) %% %(artists)s)::uuid END AS artist,
                       md5('track-' || g)::uuid AS track,
                       CASE WHEN g %% 10 < 7 THEN 'ALBUM' WHEN g %% 10 < 9 THEN 'ARTIST' ELSE 'TRACK' END AS etype,
                       g > %(n)s - %(running)s OR g %% 33333 = 5 AS running) AS a,
       LATERAL (SELECT CASE etype WHEN 'ALBUM' THEN 'CHECK_ALBUM_ENRICHMENT' WHEN 'ARTIST'
                       THEN 'CHECK_ARTIST_ENRICHMENT' ELSE 'CHECK_TRACK_ENRICHMENT' END AS op,
                       CASE WHEN running THEN 'IN_PROGRESS' WHEN g %% 100 = 0 THEN 'FAILED'
                            WHEN g %% 20 = 1 THEN 'PARTIAL' ELSE 'SUCCESS' END AS st) AS b
"""

# Children of the roots of one prefix: k = 1..per, 2 s apart; the cover art child of a PARTIAL
# root failed after a retry; every fifth root's sixth child needed two retries.
FILL_CHILDREN = """
INSERT INTO enrichment_logs (job_id, parent_job_id, operation, entity_type, entity_id, artist_id,
    album_id, track_id, status, job_status, created_at, started_at, finished_at, last_event_at,
    duration_ms, retry_count, attempt, last_error, last_error_code, last_error_kind, error_message,
    error_code, attempts, metadata, fold_state)
SELECT r.job_id || '/' || k, r.job_id, op,
       (CASE WHEN op LIKE '%%ARTIST%%' THEN 'ARTIST' ELSE 'ALBUM' END)::enrichment_entity_type,
       CASE WHEN op LIKE '%%ARTIST%%' THEN r.artist_id ELSE coalesce(r.album_id, r.entity_id) END,
       r.artist_id, r.album_id, r.track_id, st::enrichment_status, st::enrichment_status, t, t,
       t + interval '1.5 s', t + interval '1.5 s', 100 + (k * 137) %% 1400, retries, retries + 1,
       err, CASE WHEN err IS NOT NULL THEN 'IMAGE_FETCH_FAILED' END, CASE WHEN err IS NOT NULL THEN 'NOT_FOUND' END,
       CASE WHEN st = 'FAILED' THEN err END, CASE WHEN st = 'FAILED' THEN 'IMAGE_FETCH_FAILED' END,
       jsonb_build_array(jsonb_build_object('attempt', retries + 1, 'startedAt', t, 'status', st)),
       jsonb_build_object('processor', op, 'sourceUrl', 'https://img.example/' || k), '{"bench": 1}'
  FROM enrichment_logs AS r, generate_series(1, %(per)s) AS k,
       LATERAL (SELECT (%(ops)s::text[])[1 + (k - 1) %% 9] AS op, r.created_at + k * interval '2 s' AS t,
                       CASE WHEN r.status = 'PARTIAL' AND k = 2 THEN 'FAILED' ELSE 'SUCCESS' END AS st,
                       CASE WHEN (r.status = 'PARTIAL' AND k = 2) OR (k = 6 AND hashtext(r.job_id) %% 5 = 0)
                            THEN 1 + (k = 6)::int ELSE 0 END AS retries) AS a,
       LATERAL (SELECT CASE WHEN retries > 0 THEN '404 image not found' END AS err) AS b
 WHERE r.is_root_job AND r.job_id LIKE %(prefix)s || '%%' AND r.fold_state IS NOT NULL
"""

# Legacy rows, older than the projected ones: a third without a job id, the rest in pairs.
FILL_LEGACY = """
INSERT INTO enrichment_logs (job_id, operation, entity_type, entity_id, album_id, status, error_message,
    duration_ms, retry_count, metadata, is_root_job, created_at)
SELECT CASE WHEN g %% 3 = 0 THEN NULL ELSE 'legacy-' || g / 3 END, 'ENRICH_ALBUM', 'ALBUM', album, album,
       (ARRAY['COMPLETED', 'FAILED', 'SUCCESS', 'SKIPPED'])[1 + g %% 4]::enrichment_status,
       CASE WHEN g %% 4 = 1 THEN 'upstream answered 503' END, g %% 9000, g %% 3,
       jsonb_build_object('legacy', true), true,
       now() - interval '365 days' - make_interval(secs => (%(n)s - g) * 10)
  FROM generate_series(1, %(n)s) AS g, LATERAL (SELECT md5('legacy-album-' || g)::uuid AS album) AS a
"""


def _database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _step(label: str, conn: psycopg.Connection[Any], statement: Any, params: Any = None) -> None:
    started = time.monotonic()
    cur = conn.execute(statement, params)
    print(f"  {label:<34} {cur.rowcount if cur.rowcount >= 0 else '':>11} {time.monotonic() - started:8.1f} s",
          flush=True)


def fill(url: str, rows: int) -> None:
    roots = rows // 10
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        defs = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'enrichment_logs'"
                            " AND indexname <> 'enrichment_logs_pkey' ORDER BY indexname").fetchall()
        conn.execute("ALTER TABLE enrichment_logs DROP CONSTRAINT enrichment_logs_pkey")
        for name, _ in defs:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        albums = max(roots // 4, 1)
        common = {"albums": albums, "artists": max(albums // 10, 1), "ops": list(CHILD_OPS)}
        _step("roots", conn, FILL_ROOTS, {**common, "prefix": "root-", "n": roots, "running": 200})
        _step("roots with 50 children", conn, FILL_ROOTS, {**common, "prefix": "wide-", "n": WIDE, "running": 0})
        _step("children (9 per root)", conn, FILL_CHILDREN, {**common, "prefix": "root-", "per": 9})
        _step("children (50 per wide root)", conn, FILL_CHILDREN, {**common, "prefix": "wide-", "per": 50})
        _step("legacy rows", conn, FILL_LEGACY, {"n": max(rows // 200, 10)})
        _step("primary key", conn, "ALTER TABLE enrichment_logs ADD CONSTRAINT enrichment_logs_pkey PRIMARY KEY (id)")
        for name, definition in defs:
            _step(name, conn, definition)
        _step("VACUUM ANALYZE", conn, "VACUUM (ANALYZE) enrichment_logs")


def _ms(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return sorted(out)


def _report(label: str, samples: list[float]) -> None:
    p99 = samples[max(0, -(-len(samples) * 99 // 100) - 1)]
    print(f"  {label:<44} p50 {statistics.median(samples):8.2f} ms   p99 {p99:8.2f} ms   (n={len(samples)})")


def explain(conn: psycopg.Connection[Any], label: str, query: Any, params: dict[str, Any]) -> None:
    plan = [r[0] for r in conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(
        query if isinstance(query, sql.Composable) else sql.SQL(query)), params)]
    text = "\n".join(plan)
    sort = "SORT PRESENT" if re.search(r"\bSort\b", text) else "no Sort"
    seq = "SEQ SCAN PRESENT" if "Seq Scan" in text else "no Seq Scan"
    print(f"\n--- {label}: {sort}, {seq}\n{text}")


def measure(url: str, runs: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        wide = [r[0] for r in conn.execute("SELECT job_id FROM enrichment_logs WHERE job_id LIKE 'wide-%'"
                                           " AND is_root_job ORDER BY job_id")]
        artist = conn.execute("SELECT artist_id FROM enrichment_logs WHERE job_id = 'root-8'").fetchone()[0]  # type: ignore[index]
        short = EntityPrefix(str(artist).replace("-", "")[:8])
        started, cursor = time.monotonic(), None
        for _ in range(999):
            cursor = roots_page(conn, cursor=cursor).next_cursor
        print(f"  walked 999 pages to get the cursor of page 1,000 in {time.monotonic() - started:.1f} s")
        cases: list[tuple[str, Callable[[], object], RootFilters, str | None]] = [
            ("first roots page (50)", lambda: roots_page(conn), RootFilters(), None),
            ("page 1,000 via the cursor", lambda: roots_page(conn, cursor=cursor), RootFilters(), cursor),
            ("first page, status PARTIAL", lambda: roots_page(conn, status="PARTIAL"), RootFilters("PARTIAL"), None),
            ("first page, one artist's roots (~40)", lambda: roots_page(conn, entity_id=artist),
             RootFilters(entity_id=artist), None),
            ("first page, hot artist's roots (2%)", lambda: roots_page(conn, entity_id=HOT),
             RootFilters(entity_id=HOT), None),
            ("stuck roots (no event for 1 h)", lambda: roots_page(conn, stuck_after=STUCK),
             RootFilters(stuck_after=STUCK), None),
            ("first page, artist by short id (8 hex)", lambda: roots_page(conn, entity_prefix=short),
             RootFilters(entity_prefix=short), None),
            ("first page, a child CACHE_ALBUM_COVER_ART failed", lambda: roots_page(conn, failing=COVER),
             RootFilters(failing=COVER), None),
            ("first page, a child ENRICH_ALBUM failed (none)", lambda: roots_page(conn, failing="ENRICH_ALBUM"),
             RootFilters(failing="ENRICH_ALBUM"), None),
            ("first page, a child's error kind NOT_FOUND", lambda: roots_page(conn, error_kind="NOT_FOUND"),
             RootFilters(error_kind="NOT_FOUND"), None),
            ("first page, a child's error kind AUTH (none)", lambda: roots_page(conn, error_kind="AUTH"),
             RootFilters(error_kind="AUTH"), None),
        ]
        print("\nTimings")
        for label, fn, _, _ in cases:
            _report(label, _ms(fn, runs))
        for label, filters in (("status counts, no filter", RootFilters()),
                               ("status counts, a child CACHE_ALBUM_COVER_ART failed", RootFilters(failing=COVER)),
                               ("status counts, one artist by short id", RootFilters(entity_prefix=short))):
            _report(label, _ms(lambda f=filters: status_counts(conn, f), runs))  # type: ignore[misc]
        turn = iter(range(10**9))
        _report("timeline of a root with 50 children", _ms(lambda: timeline(conn, wide[next(turn) % len(wide)]), runs))
        print("\nPlans")
        for label, _, filters, cur in cases:
            query, params = roots_query(filters, limit=50, cursor=cur)
            explain(conn, label, query, params)
        counted = RootFilters(failing=COVER)
        explain(conn, "status counts, a child CACHE_ALBUM_COVER_ART failed",
                 q.status_counts_query(entity=None, filters=counted.fragments()[0]),
                 {**counted.fragments()[1], "limit": COUNTS_CAP})
        explain(conn, "timeline children (50)", q.TIMELINE_CHILDREN, {"job_id": wide[0]})
        cost = conn.execute("SHOW random_page_cost").fetchone()[0]  # type: ignore[index]
        print(f"\n(server random_page_cost = {cost}; with the SSD value 1.1:)")
        conn.execute("SET random_page_cost = 1.1")
        explain(conn, "timeline children (50), random_page_cost 1.1", q.TIMELINE_CHILDREN, {"job_id": wide[0]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="about this many rows (roots: a tenth)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    name = f"bench_queries_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _database(args.database_url, name)
    try:
        migrate(url)
        print(f"database {name}: filling ~{args.rows:,} rows", flush=True)
        started = time.monotonic()
        fill(url, args.rows)
        print(f"  filled in {time.monotonic() - started:.0f} s", flush=True)
        measure(url, args.runs)
    finally:
        if args.keep:
            print(f"\nkept: {url}")
        else:
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
