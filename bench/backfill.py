"""Benchmark: 0002 and the batched backfill 0003 on a large legacy table, with a writer running.

    .venv/bin/python bench/backfill.py [--rows 1000000] [--database-url URL] [--keep]

1. Creates a throwaway database on the server of --database-url (default: $DATABASE_URL), creates
   the legacy table of 0001 and fills it with generate_series: ~5% null job_ids, ~10% rows sharing
   the job_id of another row, ~30% children naming an existing job, ~2% orphans (parent absent),
   every status. Then VACUUM ANALYZE, as a live table would be.
2. Runs `migrate()` (baseline of 0001, then 0002, then 0003: the real runner, the real files) while
   a writer thread loops like the old application: an INSERT of a legacy-style row or an UPDATE of a
   random existing row, each statement its own transaction (autocommit), ~5 ms apart, timing every
   statement. The phases are told apart by the runner's own "applying <id>" log lines.
3. Measures the longest backfill transaction from outside: a poller reads pg_stat_activity every
   50 ms; inside a DO block every COMMIT starts a new transaction and PostgreSQL resets xact_start,
   so `clock_timestamp() - xact_start` of the backfill backend is the age of the current batch. The
   largest age seen is a lower bound of the longest transaction, short of it by < one poll interval.
4. Prints the figures and checks that no legacy row without a parent was left out; drops the db.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from enrichlog.migrate import migrate, migrations_dir

POLL = 0.05
STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "SUCCESS", "PARTIAL_SUCCESS",
            "NO_DATA_AVAILABLE", "SKIPPED", "PREVIEW")
OPERATIONS = ("CHECK_ALBUM_ENRICHMENT", "ENRICH_ALBUM", "CACHE_ALBUM_COVER_ART", "ENRICH_ARTIST",
              "DISCOGS_SEARCH_ARTIST", "DISCOGS_GET_ARTIST", "CACHE_ARTIST_IMAGE", "ENRICH_TRACK",
              "SPOTIFY_TRACK_FALLBACK")
FILL = """
INSERT INTO enrichment_logs (entity_type, entity_id, artist_id, operation, sources, status, reason,
    fields_enriched, data_quality_before, data_quality_after, error_message, error_code,
    duration_ms, api_call_count, metadata, job_id, parent_job_id, triggered_by, created_at)
SELECT (ARRAY['ARTIST', 'ALBUM', 'TRACK'])[1 + i %% 3]::enrichment_entity_type,
       gen_random_uuid(), CASE WHEN i %% 3 = 0 THEN gen_random_uuid() END,
       (%(ops)s::text[])[1 + i %% 9], ARRAY['DISCOGS', 'MUSICBRAINZ'],
       (%(statuses)s::text[])[1 + (i / 7) %% 9]::enrichment_status, 'backfill bench',
       ARRAY['name', 'genres'], 'LOW', 'HIGH',
       CASE WHEN (i / 7) %% 9 = 3 THEN 'upstream answered 503' END,
       CASE WHEN (i / 7) %% 9 = 3 THEN 'UPSTREAM_5XX' END,
       i %% 5000, i %% 7, jsonb_build_object('query', 'artist ' || i, 'results', i %% 17),
       CASE WHEN i %% 20 = 0 THEN NULL                       -- 5%%: no job id
            WHEN i %% 10 = 3 THEN 'job-' || (i - 1)          -- 10%%: shares a job id
            ELSE 'job-' || i END,
       CASE WHEN i %% 10 IN (4, 5, 6) THEN 'job-' || (i - i %% 10 + 2)  -- 30%%: existing parent
            WHEN i %% 50 = 7 THEN 'gone-' || i END,          -- 2%%: orphans
       'legacy', now() - make_interval(secs => %(rows)s - i)
  FROM generate_series(1, %(rows)s) AS i
"""
POLL_SQL = """
SELECT pid, xact_start, extract(epoch FROM clock_timestamp() - xact_start), query
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> ALL(%s)
   AND xact_start IS NOT NULL
"""


@dataclass
class Writer:
    url: str
    ids: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    samples: list[tuple[float, float, str]] = field(default_factory=list)  # start, secs, kind
    pid: int = 0

    def run(self) -> None:
        rnd = random.Random(7)
        with psycopg.connect(self.url, autocommit=True) as conn:
            self.pid = conn.info.backend_pid
            n = 0
            while not self.stop.is_set():
                n += 1
                args: tuple[str | None, ...]
                if n % 2:
                    parent = f"job-{rnd.randrange(1, 1000) * 10 + 2}" if n % 3 == 0 else None
                    stmt, args, kind = (
                        "INSERT INTO enrichment_logs (entity_type, entity_id, operation, status, "
                        "job_id, parent_job_id, triggered_by) VALUES ('ALBUM', gen_random_uuid(), "
                        "'ENRICH_ALBUM', 'IN_PROGRESS', %s, %s, 'bench-writer')",
                        (f"w-{uuid.uuid4().hex[:12]}", parent), "insert")
                else:
                    stmt, args, kind = (
                        "UPDATE enrichment_logs SET retry_count = retry_count + 1, "
                        "error_message = 'retrying' WHERE id = %s",
                        (rnd.choice(self.ids),), "update")
                t0 = time.monotonic()
                conn.execute(stmt, args)
                self.samples.append((t0, time.monotonic() - t0, kind))
                time.sleep(0.005)


@dataclass
class Poller:
    url: str
    exclude: list[int]
    stop: threading.Event = field(default_factory=threading.Event)
    longest: dict[str, float] = field(default_factory=dict)  # backfill / other -> secs
    batches: set[object] = field(default_factory=set)

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                for pid, xact_start, age, query in conn.execute(POLL_SQL, (self.exclude,)):
                    kind = "backfill" if "$backfill$" in (query or "") else "other"
                    self.longest[kind] = max(self.longest.get(kind, 0.0), float(age))
                    if kind == "backfill":
                        self.batches.add((pid, xact_start))
                time.sleep(POLL)


class Phases(logging.Handler):
    """Times of the runner's "applying <id>" lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.at: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "applying %s":
            self.at[str(record.args[0])[:4]] = time.monotonic()  # type: ignore[index]


def stats(samples: list[tuple[float, float, str]], start: float, end: float) -> str:
    lat = sorted(s for t, s, _ in samples if start <= t < end)
    if not lat:
        return "no statements"
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    slow = sum(1 for s in lat if s > 1.0)
    return (f"{len(lat)} statements, max {lat[-1] * 1000:.0f} ms, p99 {p99 * 1000:.1f} ms, "
            f"{slow} over 1 s")


def prepare(url: str, rows: int) -> None:
    text = (migrations_dir() / "0001_legacy_enrichment_logs.sql").read_text()
    stmts = ["\n".join(x for x in s.splitlines() if not x.startswith("--")).strip()
             for s in text.split(";")]
    stmts = [s for s in stmts if s]
    with psycopg.connect(url, autocommit=True) as conn:
        t0 = time.monotonic()
        for s in stmts:
            if "CREATE INDEX" not in s:
                conn.execute(s)
        conn.execute(FILL, {"ops": list(OPERATIONS), "statuses": list(STATUSES), "rows": rows})
        for s in stmts:
            if "CREATE INDEX" in s:
                conn.execute(s)
        conn.execute("VACUUM ANALYZE enrichment_logs")
        print(f"legacy table: {rows:,} rows with 0001's 9 indexes, "
              f"built in {time.monotonic() - t0:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    parser.add_argument("--idle", type=float, default=3.0, help="writer seconds before migrating")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    name = f"bench_backfill_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(args.database_url)._replace(path=f"/{name}"))
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        run(url, args.rows, args.idle)
    finally:
        if not args.keep:
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                              .format(sql.Identifier(name)))
        else:
            print(f"kept database {name}")


def run(url: str, rows: int, idle: float) -> None:
    prepare(url, rows)
    with psycopg.connect(url) as conn:
        ids = [str(r[0]) for r in conn.execute(
            "SELECT id FROM enrichment_logs TABLESAMPLE SYSTEM (2) LIMIT 20000")]
    writer = Writer(url, ids)
    wt = threading.Thread(target=writer.run, daemon=True)
    wt.start()
    while not writer.pid:
        time.sleep(0.01)
    poller = Poller(url, [writer.pid])
    pt = threading.Thread(target=poller.run, daemon=True)
    t_idle = time.monotonic()
    time.sleep(idle)
    phases = Phases()
    logger = logging.getLogger("enrichlog.migrate")
    logger.addHandler(phases)
    logger.setLevel(logging.INFO)
    pt.start()
    t_start = time.monotonic()
    report = migrate(url)
    t_end = time.monotonic()
    poller.stop.set()
    writer.stop.set()
    pt.join()
    wt.join()
    t2, t3 = phases.at["0002"], phases.at["0003"]
    print(f"migrate(): baselined {report.baselined}, applied {report.applied}")
    print(f"baseline of 0001 (yoyo bookkeeping): {t2 - t_start:.2f}s")
    print(f"0002 (one transaction, ALTER TABLE + CREATE INDEXes): {t3 - t2:.2f}s")
    print(f"0003 backfill, total: {t_end - t3:.2f}s")
    print(f"0003 longest single transaction (batch), sampled every {POLL * 1000:.0f} ms: "
          f"{poller.longest.get('backfill', 0) * 1000:.0f} ms "
          f"(true value < {(poller.longest.get('backfill', 0) + POLL) * 1000:.0f} ms); "
          f"batches seen: {len(poller.batches)} of ~{rows // 5000 + 1}")
    print(f"longest other migration transaction seen (0002): "
          f"{poller.longest.get('other', 0):.2f}s")
    print(f"writer before migrating ({idle:.0f}s): {stats(writer.samples, t_idle, t_start)}")
    print(f"writer during 0002:    {stats(writer.samples, t2, t3)}")
    print(f"writer during 0003:    {stats(writer.samples, t3, t_end)}")
    verdict = max((s for t, s, _ in writer.samples if t3 <= t < t_end), default=0.0) <= 1.0
    print(f"target (writer never blocked > 1 s during 0003): {'MET' if verdict else 'MISSED'}")
    with psycopg.connect(url) as conn:
        left, roots, total = conn.execute(
            "SELECT count(*) FILTER (WHERE parent_job_id IS NULL AND NOT is_root_job "
            "AND triggered_by = 'legacy'), count(*) FILTER (WHERE is_root_job), count(*) "
            "FROM enrichment_logs").fetchone()  # type: ignore[misc]
    print(f"after: {total:,} rows, {roots:,} roots, {left} pre-existing parentless rows not "
          "rooted (must be 0)")


if __name__ == "__main__":
    main()
