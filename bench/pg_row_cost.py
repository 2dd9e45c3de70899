"""The cost of writing projected rows, in µs of CPU per row, PostgreSQL's (the server backend's) and
Python's (this process): the projector's ways of writing them (projector.store, projector.pgcopy)
beside the form it used before and psycopg's own binary COPY.

    DATABASE_URL=postgresql://enrichlog@127.0.0.1:55432/enrichlog .venv/bin/python bench/pg_row_cost.py

Generated rows are written into a fresh, migrated database, `--batch` rows per transaction, each
form `--repeat` times, the forms in turn:
- `copy`: the rows of jobs without a stored row, as the projector inserts them: binary COPY
  straight into the table (projector.sql.COPY_NEW_ROWS), each row encoded by projector.pgcopy;
- `copy (psycopg set_types)`: the same COPY, each row's values (projector.rows.row_fields, made the
  Python objects psycopg dumps) encoded by psycopg's binary COPY (`copy.set_types`, `write_row`);
- `stage+upsert`: the same new rows through the projector's path for stored jobs, binary COPY into
  the staging table then INSERT ... ON CONFLICT (projector.sql.UPSERT_STAGED): what sending every row
  that way would cost;
- `json documents`: the same new rows as the projector sent them before: one JSON document per row
  (its JSON columns apart) turned into columns by json_populate_record in one INSERT ... ON CONFLICT;
- `stage+upsert (update)`: the update path: every row is stored already (version 1) and its next
  version is written over it.
The insert forms must leave the same table (checksums compared; the bench exits non-zero if not).
The backend's CPU is read from /proc (the server runs on this machine), so the figure does not
count the client, and varies less than wall time on a shared machine; Python's is this process's
CPU time while it writes. The two COPY forms encode their rows as they write them (the Python
figure is the encoding and the sending); the other forms' data is made beforehand (their Python
figure is the sending only). Best and median are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from bench.projector import drop_database, fresh_database  # noqa: E402
from producers.workload import WorkloadConfig, generate_events  # noqa: E402
from projector import sql as q  # noqa: E402
from projector.columns import (  # noqa: E402
    JSONB,
    JSONB_ASCII_STRING,
    TEXT_ARRAY,
    TIMESTAMP,
    UUID_BYTES,
    UUID_TEXT,
    Form,
    generate,
)
from projector.fold import fold_by_job  # noqa: E402
from projector.pgcopy import COPY_COLUMNS, copy_data, row_copy  # noqa: E402
from projector.rows import COLUMNS, PROJECTED, STORE_COLUMNS, row_fields, row_values  # noqa: E402
from projector.state import JobState, from_micros  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")

# The former upsert: per row a JSON document of the columns but the JSON ones, which come apart.
_JSON_APART = ("metadata", "attempts", "fold_state")
_DOC_VALUES = {"attempts": "s.attempts::jsonb", "metadata": "s.metadata::jsonb", "fold_state": "to_jsonb(s.state)"}
JSON_DOCUMENTS = sql.SQL("""
INSERT INTO enrichment_logs AS l ({cols}, fold_seq)
SELECT {values}, r.fold_seq
  FROM unnest(string_to_array(%(docs)s::text, E'\\n'), string_to_array(%(attempts)s::text, E'\\n'),
              string_to_array(%(metadata)s::text, E'\\n', 'null'), string_to_array(%(states)s::text, E'\\n'))
       AS s(doc, attempts, metadata, state),
       json_populate_record(NULL::enrichment_logs, s.doc::json) AS r
ON CONFLICT (job_id) WHERE fold_state IS NOT NULL DO NOTHING
""").format(
    cols=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS),
    values=sql.SQL(", ").join(sql.SQL(_DOC_VALUES[c]) if c in _DOC_VALUES else sql.Identifier("r", c) for c in COLUMNS),
).as_string(None)


def json_documents(states: list[JobState], seq: int) -> dict[str, str]:
    docs, attempts, metadata, fold_states = [], [], [], []
    for st in states:
        values = row_values(st)
        attempts.append(orjson.dumps(values.pop("attempts")).decode())
        metadata.append(orjson.dumps(values.pop("metadata")).decode())
        fold_states.append(values.pop("fold_state"))
        docs.append(orjson.dumps({**values, "fold_seq": seq}).decode())
    return {"docs": "\n".join(docs), "attempts": "\n".join(attempts), "metadata": "\n".join(metadata),
            "states": "\n".join(fold_states)}


def _quoted(ascii_text: bytes) -> bytes:
    return b'"' + ascii_text + b'"'


# psycopg's binary COPY: per form, the Python object its dumper takes, as code of the value `{v}`.
_PSYCOPG_VALUE: dict[Form, str] = {
    UUID_BYTES: "UUID(bytes=bytes({v}))", UUID_TEXT: "UUID({v})", TIMESTAMP: "from_micros({v})",
    TEXT_ARRAY: "list({v})", JSONB: "Jsonb({v}, dumps=orjson.dumps)", JSONB_ASCII_STRING: "Jsonb({v}, dumps=_quoted)",
}
_BY_NAME = {c.name: c for c in (*PROJECTED, *STORE_COLUMNS)}
PSYCOPG_TYPES = [_BY_NAME[name].form.pg_type for name in COPY_COLUMNS]


def _psycopg_row_source() -> str:
    """The code of `psycopg_row(state)`: the row's values in COPY_COLUMNS' order, as psycopg dumps them
    (written out in line, as projector.pgcopy writes its encoder), fold_seq 1 and no source topic."""
    value = {c.name: f"_v{i}" for i, c in enumerate(PROJECTED)} | {"fold_seq": "1", "source_topic": "None"}
    out = []
    for name in COPY_COLUMNS:
        c, v = _BY_NAME[name], value[name]
        code = _PSYCOPG_VALUE.get(c.form, "{v}").format(v=v)
        out.append(f"None if {v} is None else {code}" if c.nullable and code != v else code)
    unpacked = "".join(f"_v{i}, " for i in range(len(PROJECTED)))
    return (f"def psycopg_row(state):\n    ({unpacked}) = row_fields(state, 0)\n"
            f"    return ({', '.join(out)})\n")


psycopg_row = generate("psycopg_row", _psycopg_row_source(), {
    "row_fields": row_fields, "UUID": uuid.UUID, "from_micros": from_micros, "Jsonb": Jsonb, "orjson": orjson,
    "_quoted": _quoted}, __name__)


def backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _copy(conn: psycopg.Connection[Any], statement: str, data: bytes) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(data)


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
        states = list(fold_by_job(generate_events(WorkloadConfig(chains=args.chains, seed=9, run_id="rows"))).values())
        chunks = [states[i:i + args.batch] for i in range(0, len(states), args.batch)]
        first = [copy_data(row_copy(st, 1) for st in chunk) for chunk in chunks]
        second = [copy_data(row_copy(st, 2) for st in chunk) for chunk in chunks]
        documents = [json_documents(chunk, 1) for chunk in chunks]
        rows = len(states)
        print(f"{rows:,} rows, {args.batch:,} per transaction; bytes sent per row: "
              f"{sum(map(len, first)) / rows:,.0f} (binary COPY), "
              f"{sum(len(v) for d in documents for v in d.values()) / rows:,.0f} (JSON documents)")
        with psycopg.connect(url) as conn:
            pid = conn.info.backend_pid
            conn.execute(q.CREATE_STAGE)
            conn.commit()

            def insert_copy() -> None:
                for chunk in chunks:
                    _copy(conn, q.COPY_NEW_ROWS, copy_data(row_copy(st, 1) for st in chunk))
                    conn.commit()

            def insert_psycopg() -> None:
                for chunk in chunks:
                    with conn.cursor() as cur, cur.copy(q.COPY_NEW_ROWS) as copy:
                        copy.set_types(PSYCOPG_TYPES)
                        for st in chunk:
                            copy.write_row(psycopg_row(st))
                    conn.commit()

            def staged(batches: list[bytes]) -> Callable[[], None]:
                def write() -> None:
                    for data in batches:
                        _copy(conn, q.COPY_STAGE, data)
                        conn.execute(q.UPSERT_STAGED)
                        conn.commit()
                return write

            def insert_documents() -> None:
                for params in documents:
                    conn.execute(JSON_DOCUMENTS, params)
                    conn.commit()

            forms: list[tuple[str, Callable[[], None], Callable[[], None] | None]] = [
                ("copy", insert_copy, None),
                ("copy (psycopg set_types)", insert_psycopg, None),
                ("stage+upsert", staged(first), None),
                ("json documents", insert_documents, None),
                ("stage+upsert (update)", staged(second), insert_copy),
            ]
            results: dict[str, list[float]] = {label: [] for label, _, _ in forms}
            python: dict[str, list[float]] = {label: [] for label, _, _ in forms}
            tables: set[str] = set()  # a checksum of the table after each insert form
            for _ in range(args.repeat):
                for label, write, setup in forms:
                    conn.execute("TRUNCATE enrichment_logs")
                    conn.commit()
                    if setup is not None:
                        setup()
                    start, before, own = time.perf_counter(), backend_cpu_s(pid), time.process_time()
                    write()
                    per_row = (backend_cpu_s(pid) - before) / rows * 1e6
                    python[label].append((time.process_time() - own) / rows * 1e6)
                    results[label].append(per_row)
                    if setup is None:
                        tables.add(conn.execute("SELECT md5(string_agg(l::text, '|' ORDER BY job_id)) "
                                                "FROM enrichment_logs l").fetchone()[0])  # type: ignore[index]
                        conn.commit()
                    print(f"  {label}: {per_row:6.1f} µs of server CPU, {python[label][-1]:6.1f} of Python's per row "
                          f"({time.perf_counter() - start:.1f} s)", flush=True)
        print(f"{'µs of CPU per row':<26} {'server best':>11} {'median':>7} {'Python best':>11} {'median':>7}")
        for label, per_row in results.items():
            print(f"{label:<26} {min(per_row):11.1f} {statistics.median(per_row):7.1f} "
                  f"{min(python[label]):11.1f} {statistics.median(python[label]):7.1f}")
        if len(tables) != 1:
            raise SystemExit(f"the insert forms wrote different tables ({len(tables)} checksums)")
        print("the insert forms wrote the same table")
    finally:
        drop_database(server, url)


if __name__ == "__main__":
    main()
