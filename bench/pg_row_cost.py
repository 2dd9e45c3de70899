"""PostgreSQL's cost of writing projected rows: the projector's upsert (projector.sql.UPSERT_DOCS) of
generated rows into a fresh, migrated database, in µs of the server backend's CPU per row.

    DATABASE_URL=postgresql://enrichlog@127.0.0.1:55432/enrichlog .venv/bin/python bench/pg_row_cost.py

The same rows are written in two forms, alternately, each `--repeat` times into the emptied table:
- `state as string`: the rows as the projector sends them (fold_state encoded, projector.state.encode_state);
- `state as object`: the same rows with fold_state as the JSON object that version 3 stored.
The backend's CPU is read from /proc (the server runs on this machine), so the figure does not
count the client, and varies less than wall time on a shared machine. Best and median are printed.
"""

from __future__ import annotations

import argparse
import json
import os
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
from projector.state import stored_state_json  # noqa: E402
from projector.store import row_doc  # noqa: E402
from tests.scenarios import state_json_as_version_3  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def write_all(conn: psycopg.Connection, pid: int, docs: list[bytes], batch: int) -> float:
    """CPU seconds of the backend to upsert every doc, in batches, one transaction each."""
    conn.execute("TRUNCATE enrichment_logs")
    conn.commit()
    before = backend_cpu_s(pid)
    for i in range(0, len(docs), batch):
        conn.execute(q.UPSERT_DOCS, {"docs": b"\n".join(docs[i:i + batch]).decode()})
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
        as_string = [row_doc(s, 1) for s in states.values()]
        as_object = []
        for doc in as_string:
            values = orjson.loads(doc)
            values["fold_state"] = state_json_as_version_3(stored_state_json(values["fold_state"]))
            # the object form holds integers beyond 64 bits, which orjson refuses: the standard encoder
            as_object.append(json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode())
        print(f"{len(as_string):,} rows, {args.batch:,} per transaction; average document "
              f"{sum(map(len, as_string)) / len(as_string):,.0f} bytes (state as string), "
              f"{sum(map(len, as_object)) / len(as_object):,.0f} bytes (state as object)")
        results: dict[str, list[float]] = {"state as string": [], "state as object": []}
        with psycopg.connect(url) as conn:
            pid = conn.info.backend_pid
            for _ in range(args.repeat):
                for label, docs in (("state as string", as_string), ("state as object", as_object)):
                    start = time.perf_counter()
                    cpu = write_all(conn, pid, docs, args.batch)
                    results[label].append(cpu / len(docs) * 1e6)
                    print(f"  {label}: {cpu / len(docs) * 1e6:6.1f} µs of server CPU per row "
                          f"({time.perf_counter() - start:.1f} s)", flush=True)
        for label, per_row in results.items():
            print(f"{label:<16} best {min(per_row):6.1f} µs/row   median {statistics.median(per_row):6.1f}")
    finally:
        drop_database(server, url)


if __name__ == "__main__":
    main()
