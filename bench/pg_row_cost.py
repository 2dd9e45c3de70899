"""PostgreSQL's cost of writing projected rows: the projector's upsert (projector.sql.UPSERT_DOCS) of
generated rows into a fresh, migrated database, in µs of the server backend's CPU per row.

    DATABASE_URL=postgresql://enrichlog@127.0.0.1:55432/enrichlog .venv/bin/python bench/pg_row_cost.py

The same rows are written in two forms, alternately, each `--repeat` times into the emptied table:
- `columns apart`: as the projector sends them (projector.store.row_lines): the JSON columns
  (attempts, metadata, fold_state) as parameters of their own, the other columns as a JSON document;
- `one document`: every column in the row's JSON document, as the projector sent them before.
The backend's CPU is read from /proc (the server runs on this machine), so the figure does not
count the client, and varies less than wall time on a shared machine. Best and median are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import psycopg  # noqa: E402

from bench.projector import drop_database, fresh_database  # noqa: E402
from producers.workload import WorkloadConfig, generate_events  # noqa: E402
from projector import sql as q  # noqa: E402
from projector.fold import fold_by_job  # noqa: E402
from projector.rows import row_values  # noqa: E402
from projector.store import join_row_lines, row_lines  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


# The former upsert: the same statement, with every column taken from the row's document.
ONE_DOCUMENT = re.sub(
    r"unnest\(string_to_array\(%\(docs\)t.*?AS s\(doc, attempts, metadata, state\)",
    "unnest(string_to_array(%(docs)t::text, E'\\\\n')) AS s(doc)", q.UPSERT_DOCS, flags=re.S)
for _apart, _in_doc in (("s.attempts::jsonb", "attempts"), ("s.metadata::jsonb", "metadata"),
                        ("to_jsonb(s.state)", "fold_state")):
    ONE_DOCUMENT = ONE_DOCUMENT.replace(_apart, f'"r"."{_in_doc}"')
if "AS s(doc)" not in ONE_DOCUMENT or "s.state" in ONE_DOCUMENT:
    raise SystemExit("projector.sql.UPSERT_DOCS changed: update ONE_DOCUMENT")


def write_all(conn: psycopg.Connection, pid: int, batches: list[tuple[str, dict[str, str]]]) -> float:
    """CPU seconds of the backend to run every (statement, parameters), one transaction each."""
    conn.execute("TRUNCATE enrichment_logs")
    conn.commit()
    before = backend_cpu_s(pid)
    for statement, params in batches:
        conn.execute(statement, params)
        conn.commit()
    return backend_cpu_s(pid) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=12_000, help="workload chains (about 4.7 rows each)")
    parser.add_argument("--batch", type=int, default=2_000, help="rows per transaction")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        sys.exit("DATABASE_URL is not set: start the services (enrichlog services up --env)")
    url = fresh_database(server)
    try:
        states = fold_by_job(generate_events(WorkloadConfig(chains=args.chains, seed=9, run_id="rows")))
        states_seq = list(states.values())
        apart, one = [], []
        for i in range(0, len(states_seq), args.batch):
            chunk = states_seq[i:i + args.batch]
            lines = join_row_lines([row_lines(st, 1) for st in chunk])
            apart.append((q.UPSERT_DOCS, {k: v.decode() for k, v in lines._asdict().items()}))
            one.append((ONE_DOCUMENT, {"docs": b"\n".join(orjson.dumps({**row_values(st), "fold_seq": 1})
                                                          for st in chunk).decode()}))
        rows = len(states_seq)
        print(f"{rows:,} rows, {args.batch:,} per transaction; bytes sent per row: "
              f"{sum(len(v) for _, p in apart for v in p.values()) / rows:,.0f} (columns apart), "
              f"{sum(len(p['docs']) for _, p in one) / rows:,.0f} (one document)")
        results: dict[str, list[float]] = {"columns apart": [], "one document": []}
        tables: set[str] = set()  # a checksum of the table after each run: both forms write the same rows
        with psycopg.connect(url) as conn:
            pid = conn.info.backend_pid
            for _ in range(args.repeat):
                for label, batches in (("columns apart", apart), ("one document", one)):
                    start = time.perf_counter()
                    cpu = write_all(conn, pid, batches)
                    results[label].append(cpu / rows * 1e6)
                    tables.add(conn.execute("SELECT md5(string_agg(l::text, '|' ORDER BY job_id)) "
                                            "FROM enrichment_logs l").fetchone()[0])  # type: ignore[index]
                    conn.commit()
                    print(f"  {label}: {cpu / rows * 1e6:6.1f} µs of server CPU per row "
                          f"({time.perf_counter() - start:.1f} s)", flush=True)
        for label, per_row in results.items():
            print(f"{label:<16} best {min(per_row):6.1f} µs/row   median {statistics.median(per_row):6.1f}")
        if len(tables) != 1:
            raise SystemExit(f"the two forms wrote different tables ({len(tables)} checksums)")
        print("both forms wrote the same table")
    finally:
        drop_database(server, url)


if __name__ == "__main__":
    main()
