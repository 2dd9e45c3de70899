"""Rebuild and check: the projection recomputed from the topic, compared with or swapped into the table.

Both read the topic from the beginning up to the positions the table records (so the comparison
is exact while a projector keeps running), fold everything with the pure fold (`project_all`) and:
- `check` compares the result with the table's projected rows, column by column;
- `rebuild` writes it into a fresh table, checks that table, then swaps its rows in (projected rows
  only; legacy rows stay) in one transaction that holds the positions locked, so a running
  projector waits and then continues where the rebuilt table ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from projector.rows import COLUMNS, JobRow, project_all
from projector.state import stored_state_json
from projector.store import db_values
from schemas import EventDecodeError, JobEvent, parse_event

Progress = Callable[[int], None]


@dataclass
class CheckReport:
    rows_compared: int = 0
    events_read: int = 0
    dead_letters_read: int = 0
    missing: list[str] = field(default_factory=list)  # in the fold, not in the table
    extra: list[str] = field(default_factory=list)  # in the table, not in the fold
    different: dict[str, list[str]] = field(default_factory=dict)  # job_id -> columns

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def summary(self) -> str:
        if self.ok:
            return f"table equals the fold of the topic: {self.rows_compared} rows, {self.events_read} events"
        sample = list(self.different.items())[:3]
        return (f"MISMATCH: {len(self.missing)} missing, {len(self.extra)} extra, "
                f"{len(self.different)} different (e.g. {sample}) of {self.rows_compared} rows")


def read_events(bootstrap: str, topic: str, until: dict[int, int] | None,
                progress: Progress | None = None) -> Iterator[tuple[int, int, JobEvent | None]]:
    """(partition, offset, event or None for a bad message) from the start of each partition up to
    `until[partition]` (exclusive), or to the end offsets at call time when `until` is None."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             max_poll_records=5000, fetch_max_bytes=64 * 1024 * 1024)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = consumer.end_offsets(tps) if until is None else {tp: until.get(tp.partition, 0) for tp in tps}
        remaining = {tp for tp in tps if ends[tp] > 0}
        consumer.assign(list(remaining))
        consumer.seek_to_beginning(*remaining)
        count = 0
        while remaining:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for r in records:
                    if r.offset >= ends[tp]:
                        break
                    try:
                        event: JobEvent | None = parse_event(r.value) if r.value is not None else None
                    except EventDecodeError:
                        event = None
                    yield tp.partition, r.offset, event
                    count += 1
                    if progress and count % 10_000 == 0:
                        progress(count)
                if consumer.position(tp) >= ends[tp] or (records and records[-1].offset >= ends[tp] - 1):
                    remaining.discard(tp)
                    consumer.pause(tp)
    finally:
        consumer.close()


def _positions(conn: psycopg.Connection[Any], consumer: str, topic: str, lock: bool) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, next_offset FROM enrichment_log_positions WHERE consumer = %s AND topic = %s"
        " ORDER BY partition" + (" FOR UPDATE" if lock else ""),
        (consumer, topic),
    ).fetchall()
    return {p: o for p, o in rows}


def _fold_topic(bootstrap: str, topic: str, until: dict[int, int] | None, report: CheckReport,
                progress: Progress | None) -> dict[str, JobRow]:
    events: list[JobEvent] = []
    for _, _, event in read_events(bootstrap, topic, until, progress):
        if event is None:
            report.dead_letters_read += 1
        else:
            events.append(event)
    report.events_read = len(events)
    return project_all(events)


def _compare(conn: psycopg.Connection[Any], table: str, expected: dict[str, JobRow], report: CheckReport) -> None:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    cur = conn.execute(sql.SQL("SELECT {} FROM {} WHERE fold_state IS NOT NULL").format(cols, sql.Identifier(table)))
    seen = set()
    for values in cur:
        got = dict(zip(COLUMNS, values, strict=True))
        job_id = got["job_id"]
        seen.add(job_id)
        want = expected.get(job_id)
        if want is None:
            report.extra.append(job_id)
            continue
        got["fold_state"] = _state_json(got["fold_state"])  # either stored form of a state is the same state
        wanted = {c: getattr(want, c) for c in COLUMNS} | {"fold_state": _state_json(want.fold_state)}
        diff = [c for c in COLUMNS if _norm(got[c]) != _norm(wanted[c])]
        if diff:
            report.different[job_id] = diff
    report.missing = sorted(set(expected) - seen)
    report.rows_compared = len(seen | set(expected))


def _state_json(stored: Any) -> Any:
    try:
        return stored_state_json(stored)
    except ValueError:
        return stored  # not a state: it differs from the expected one, and is reported so


def _norm(v: Any) -> Any:
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    if v is not None and not isinstance(v, int | float | bool | str):
        return str(v) if not hasattr(v, "isoformat") else v
    return v


def check(database_url: str, bootstrap: str, topic: str, consumer: str,
          progress: Progress | None = None) -> CheckReport:
    report = CheckReport()
    with psycopg.connect(database_url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        until = _positions(conn, consumer, topic, lock=False)
        expected = _fold_topic(bootstrap, topic, until or None, report, progress)
        _compare(conn, "enrichment_logs", expected, report)
    return report


def rebuild(database_url: str, bootstrap: str, topic: str, consumer: str,
            progress: Progress | None = None) -> CheckReport:
    """Recompute every projected row from the topic and swap them in; raises if the check fails."""
    report = CheckReport()
    with psycopg.connect(database_url) as conn:
        until = _positions(conn, consumer, topic, lock=True)  # held until commit: the projector waits
        had_positions = bool(until)
        if not had_positions:  # a table never projected into: take everything up to the end, now
            until = _ends(bootstrap, topic)
        expected = _fold_topic(bootstrap, topic, until, report, progress)
        conn.execute("DROP TABLE IF EXISTS enrichment_logs_rebuild")
        conn.execute("CREATE TABLE enrichment_logs_rebuild (LIKE enrichment_logs INCLUDING DEFAULTS)")
        copy_sql = sql.SQL("COPY enrichment_logs_rebuild ({}) FROM STDIN").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS))
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in expected.values():
                copy.write_row(db_values(row))
        _compare(conn, "enrichment_logs_rebuild", expected, report)
        if not report.ok:
            raise RuntimeError(f"rebuilt table does not match the fold, nothing swapped: {report.summary()}")
        conn.execute("DELETE FROM enrichment_logs WHERE fold_state IS NOT NULL")
        conn.execute("INSERT INTO enrichment_logs SELECT * FROM enrichment_logs_rebuild")
        conn.execute("DROP TABLE enrichment_logs_rebuild")
        if not had_positions:
            ends = until
            conn.execute(
                "INSERT INTO enrichment_log_positions (consumer, topic, partition, next_offset) "
                "SELECT %s, %s, p, o FROM unnest(%s::int[], %s::bigint[]) AS t(p, o) "
                "ON CONFLICT (consumer, topic, partition) DO UPDATE"
                " SET next_offset = GREATEST(enrichment_log_positions.next_offset, EXCLUDED.next_offset)",
                (consumer, topic, list(ends), list(ends.values())),
            )
    return report


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()
