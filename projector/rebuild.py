"""Rebuild and check one topic's rows: recomputed from the topic, compared with or swapped into the table.

Several topics may be folded into one table, each by its own consumer group (the demo's topic and
the default one do). The rows of a topic are the projected rows whose `source_topic` (0008, set by
the projector when it inserts a row) is that topic, and the projected rows of no recorded topic
(written before 0008) whose job has events on that topic. Nothing else is compared or replaced:
- a row of another topic is left alone, and counted in the plan;
- a row of no recorded topic whose job is not on this topic is left alone too (it may be another
  topic's: only that topic's rebuild can tell), and counted;
- a row recorded as this topic's that the replay does not make (written by a buggy earlier
  version, say) is this topic's mistake: the check calls it extra, the rebuild removes it;
- a job with events on this topic whose row another topic's projector wrote cannot be recomputed
  from one topic: the check reports it, the rebuild refuses, naming it.

Both read the topic from the beginning up to the positions the table records for the consumer
group (so the comparison is exact while a projector keeps running), fold everything with the pure
fold (`project_all`) and:
- `check` compares the result with the topic's rows, column by column;
- `rebuild` writes it into a temporary table, checks that table, says what it will replace
  (`announce`), then replaces the topic's rows with it in one transaction that holds the topic's
  positions locked, so the group's running projector waits and then continues where the rebuilt
  rows end. Each replaced row's version (`fold_seq`) moves on, so a batch that projector folded
  ahead from the former row is folded again.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from projector import db, notify
from projector.errors import ProjectorError, RebuildError
from projector.pgcopy import db_values
from projector.rows import COLUMNS, JobRow, project_all
from projector.state import stored_state_json
from projector.topics import Kafka, partition_counts, topic_id
from schemas import EventDecodeError, JobEvent, parse_event
from schemas.kafka_connection import as_connection

Progress = Callable[[int, int], None]  # (offsets read, offsets to read)
_EXAMPLES = 3


@dataclass
class CheckReport:
    topic: str = ""
    consumer: str = ""
    until: dict[int, int] = field(default_factory=dict)  # partition -> the table's next offset
    partitions: int = 0  # the topic's, on the broker
    rows_compared: int = 0
    events_read: int = 0
    dead_letters_read: int = 0
    topic_rows: int = 0  # the topic's rows in the table: what a rebuild replaces
    missing: list[str] = field(default_factory=list)  # in the fold, not in the table
    extra: list[str] = field(default_factory=list)  # the topic's rows that the fold does not make
    different: dict[str, list[str]] = field(default_factory=dict)  # job_id -> columns
    foreign: dict[str, str] = field(default_factory=dict)  # job on this topic -> the topic its row is of
    kept: Counter[str] = field(default_factory=Counter)  # rows of other topics, by topic
    unrecorded: int = 0  # rows of no recorded topic whose job is not on this topic

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different or self.foreign)

    def summary(self) -> str:
        if self.ok:
            return (f"topic {self.topic}'s rows equal its fold: {self.rows_compared} rows, "
                    f"{self.events_read} events")
        return (f"MISMATCH in topic {self.topic}'s rows: {len(self.missing)} missing{_eg(self.missing)}, "
                f"{len(self.extra)} extra{_eg(self.extra)}, {len(self.different)} different{self._different()}"
                f"{f', {len(self.foreign)} written from another topic{self.foreign_eg()}' if self.foreign else ''}"
                f" of {self.rows_compared} rows")

    def plan(self, rebuilt: int) -> str:
        """What a rebuild replaces: rows, topic, partitions; what it keeps."""
        parts = ", ".join(str(p) for p in sorted(self.until))
        offsets = ", ".join(str(self.until[p]) for p in sorted(self.until))
        others = ", ".join(f"{t}: {n}" for t, n in sorted(self.kept.items()))
        return (f"replacing {self.topic_rows} rows of topic {self.topic} (consumer {self.consumer}; partitions "
                f"{parts} of {self.partitions} up to offsets {offsets}) with {rebuilt} rebuilt from "
                f"{self.events_read} events: "
                f"{len(self.different)} differ{self._different()}, {len(self.missing)} new{_eg(self.missing)}, "
                f"{len(self.extra)} removed (not made by the replay){_eg(self.extra)}; keeping "
                f"{sum(self.kept.values())} rows of other topics{f' ({others})' if others else ''} and "
                f"{self.unrecorded} of no recorded topic")

    def _different(self) -> str:
        return _eg(f"{job_id}: {', '.join(cols)}" for job_id, cols in self.different.items())

    def foreign_eg(self) -> str:
        return _eg(f"{job_id}: topic {topic}" for job_id, topic in self.foreign.items())


def _eg(items: Any) -> str:
    shown = [str(i) for _, i in zip(range(_EXAMPLES + 1), items, strict=False)]
    if not shown:
        return ""
    more = ", ..." if len(shown) > _EXAMPLES else ""
    return f" (e.g. {'; '.join(shown[:_EXAMPLES])}{more})"


def read_events(kafka: Kafka, topic: str, until: dict[int, int] | None,
                progress: Progress | None = None) -> Iterator[tuple[int, int, JobEvent | None]]:
    """(partition, offset, event or None for a bad message) from the start of each partition up to
    `until[partition]` (exclusive), or to the end offsets at call time when `until` is None.
    Raises RebuildError when the topic no longer holds what `until` says was folded (its start
    deleted by retention, or its end before the position: a re-created topic).

    `progress(done, total)`: the offsets read and those to read, between each partition's start and
    where the read stops (so a consumer behind the topic's end reads, and counts, less than the topic
    holds); told at the start, at least every `PROGRESS_EVERY_S` while it reads, and at the end."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**as_connection(kafka).kafka_python(), enable_auto_commit=False, group_id=None,
                             max_poll_records=5000, fetch_max_bytes=64 * 1024 * 1024,
                             allow_auto_create_topics=False, bootstrap_timeout_ms=10_000)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        starts = consumer.beginning_offsets(tps)
        if until is None:
            ends = consumer.end_offsets(tps)
        else:
            ends = {tp: until.get(tp.partition, 0) for tp in tps}
            _holds(topic, ends, starts, consumer.end_offsets(tps))
        remaining = {tp for tp in tps if ends[tp] > starts[tp]}
        reached = {tp: starts[tp] for tp in remaining}  # the next offset to read, per partition
        meter = _Reported(progress, sum(ends[tp] - starts[tp] for tp in remaining), reached, starts)
        meter.tell()
        consumer.assign(list(remaining))
        consumer.seek_to_beginning(*remaining)
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
                    reached[tp] = r.offset + 1
                    meter.tick()
                if consumer.position(tp) >= ends[tp] or (records and records[-1].offset >= ends[tp] - 1):
                    remaining.discard(tp)
                    reached[tp] = ends[tp]  # a gap at its end (a compacted or transactional topic) is read too
                    consumer.pause(tp)
            meter.tick()
        meter.tell()
    finally:
        consumer.close()


PROGRESS_EVERY_S = 0.5  # how often, at least, the replay tells how far it has read


class _Reported:
    """The replay's progress for `progress`: told when asked (`tell`), and on a `tick` (each record,
    each poll) once `PROGRESS_EVERY_S` have passed since it was last told."""

    def __init__(self, progress: Progress | None, total: int, reached: dict[Any, int], starts: dict[Any, int]) -> None:
        self.progress, self.total, self.reached, self.starts = progress, total, reached, starts
        self.told_at = time.monotonic()

    def tick(self) -> None:
        if self.progress is not None and time.monotonic() - self.told_at >= PROGRESS_EVERY_S:
            self.tell()

    def tell(self) -> None:
        if self.progress is not None:
            self.told_at = time.monotonic()
            self.progress(sum(at - self.starts[tp] for tp, at in self.reached.items()), self.total)


def _holds(topic: str, wanted: dict[Any, int], starts: dict[Any, int], ends: dict[Any, int]) -> None:
    for tp, until in sorted(wanted.items(), key=lambda kv: kv[0].partition):
        if until > 0 and starts[tp] > 0:
            raise RebuildError(
                f"partition {tp.partition} of topic {topic} starts at offset {starts[tp]}: the events before it "
                "were deleted (retention), so the topic cannot be replayed from its beginning")
        if until > ends[tp]:
            raise RebuildError(
                f"the table's position on partition {tp.partition} of topic {topic} ({until}) is past the "
                f"partition's end ({ends[tp]}): was the topic deleted and created again?")


def _require_topic(kafka: Kafka, topic: str) -> int:
    """The topic's partition count; RebuildError when there is no such topic."""
    count = partition_counts(kafka, [topic])[topic]
    if count is None:
        raise RebuildError(f"topic {topic} does not exist on the broker at {as_connection(kafka).bootstrap_servers}")
    return count


_POSITIONS = "SELECT partition, next_offset FROM enrichment_log_positions WHERE consumer = %s AND topic = %s" \
             " ORDER BY partition"


def _positions(conn: psycopg.Connection[Any], consumer: str, topic: str, lock: bool) -> dict[int, int]:
    """The consumer's positions on the topic (locked until commit when `lock`). The rows of a topic
    stand where its one consumer group's positions say: none, or another group's too, is refused."""
    rows = conn.execute(_POSITIONS + (" FOR UPDATE" if lock else ""), (consumer, topic)).fetchall()
    groups = [g for (g,) in conn.execute(
        "SELECT DISTINCT consumer FROM enrichment_log_positions WHERE topic = %s ORDER BY consumer", (topic,))]
    if not rows:
        found = f"consumers with positions on it: {', '.join(groups)}" if groups else "no consumer has positions on it"
        raise RebuildError(f"no positions of consumer {consumer} on topic {topic} in the table ({found}); "
                           "name the projector's group with ENRICHLOG_CONSUMER_GROUP or --consumer")
    others = [g for g in groups if g != consumer]
    if others:
        raise RebuildError(
            f"topic {topic} is folded into this table by more than one consumer group ({', '.join(groups)}): its "
            "rows do not stand at one group's positions; delete the positions of the groups no longer in use "
            "(DELETE FROM enrichment_log_positions WHERE consumer = ...) and run again")
    return {p: o for p, o in rows}


def _fold_topic(kafka: Kafka, report: CheckReport, progress: Progress | None) -> dict[str, JobRow]:
    events: list[JobEvent] = []
    for _, _, event in read_events(kafka, report.topic, report.until, progress):
        if event is None:
            report.dead_letters_read += 1
        else:
            events.append(event)
    report.events_read = len(events)
    return project_all(events)


_REBUILD = "enrichment_logs_rebuild"


def _compare(conn: psycopg.Connection[Any], table: str, expected: dict[str, JobRow], report: CheckReport) -> None:
    """Compare the topic's rows in `table` with the fold; count the rows left alone."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    cur = conn.execute(sql.SQL("SELECT {}, source_topic FROM {} WHERE fold_state IS NOT NULL").format(
        cols, sql.Identifier(table)))
    seen = set()
    for *values, source in cur:
        got = dict(zip(COLUMNS, values, strict=True))
        job_id = got["job_id"]
        want = expected.get(job_id)
        if source != report.topic and (source is not None or want is None):
            if source is None:
                report.unrecorded += 1  # perhaps another topic's: left alone
            elif want is None:
                report.kept[source] += 1
            else:
                report.foreign[job_id] = source
            continue
        seen.add(job_id)  # the topic's row, or one of no recorded topic whose job is on the topic
        if want is None:
            report.extra.append(job_id)
            continue
        got["fold_state"] = _state_json(got["fold_state"])  # either stored form of a state is the same state
        wanted = {c: getattr(want, c) for c in COLUMNS} | {"fold_state": _state_json(want.fold_state)}
        diff = [c for c in COLUMNS if _norm(got[c]) != _norm(wanted[c])]
        if diff:
            report.different[job_id] = diff
    report.topic_rows = len(seen)
    report.missing = sorted(set(expected) - seen - report.foreign.keys())
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


def check(database_url: str, kafka: Kafka, topic: str, consumer: str,
          progress: Progress | None = None) -> CheckReport:
    """Compare the topic's rows with the fold of the topic up to the consumer's positions."""
    partitions = _require_topic(kafka, topic)
    with db.connection(database_url, "PostgreSQL refused the check", timeout=10) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        report = CheckReport(topic, consumer, _positions(conn, consumer, topic, lock=False), partitions)
        expected = _fold_topic(kafka, report, progress)
        _compare(conn, "enrichment_logs", expected, report)
    return report


# The rebuilt rows' versions follow the rows they replace (see the module's docstring).
_BUMP_VERSIONS = sql.SQL("""
UPDATE {rebuild} r SET fold_seq = coalesce(l.fold_seq, 0) + 1
  FROM enrichment_logs l
 WHERE l.job_id = r.job_id AND l.fold_state IS NOT NULL
""").format(rebuild=sql.Identifier(_REBUILD))
_DELETE_TOPIC_ROWS = sql.SQL("""
DELETE FROM enrichment_logs l
 WHERE l.fold_state IS NOT NULL
   AND (l.source_topic = %(topic)s OR (l.source_topic IS NULL AND l.job_id IN (SELECT job_id FROM {rebuild})))
""").format(rebuild=sql.Identifier(_REBUILD))
_SWAP_COLUMNS = sql.SQL(", ").join(sql.Identifier(c) for c in (*COLUMNS, "fold_seq", "source_topic"))
_INSERT_REBUILT = sql.SQL("INSERT INTO enrichment_logs ({cols}) SELECT {cols} FROM {rebuild}").format(
    cols=_SWAP_COLUMNS, rebuild=sql.Identifier(_REBUILD))


_RECORDED_TOPIC_ID = "SELECT topic_id, recorded_at FROM enrichment_log_topics WHERE consumer = %s AND topic = %s"


def _refuse_extra(conn: psycopg.Connection[Any], kafka: Kafka, report: CheckReport) -> None:
    """Raise RebuildError: rows recorded as the topic's that its replay does not make. Most often they
    were folded from a topic of the same name since deleted and created again (the start-up then
    drops the old topic's positions and records the new topic's id, keeping the rows): their events
    exist nowhere any more, so removing them is for the operator to decide, with --drop-extra."""

    topic = report.topic
    try:
        current: Any = topic_id(kafka, topic)
    except ProjectorError:  # only for the message
        current = None
    row = conn.execute(_RECORDED_TOPIC_ID, (report.consumer, topic)).fetchone()
    if row is None:
        known = "no topic id is recorded for its positions"
    elif current is not None and row[0] != current:
        known = f"the topic's id is now {current}, its positions were recorded for topic id {row[0]}"
    else:
        known = f"the positions are those of topic id {row[0]} since {row[1]:%Y-%m-%d %H:%M:%S %Z}"
    raise RebuildError(
        f"{len(report.extra)} rows of topic {topic} are not made by its replay{_eg(report.extra)}: folded "
        f"from events no longer on it (a topic deleted and created again: {known}), removing them loses them "
        "for good; nothing swapped. Run `enrichlog rebuild --check` to list them, or pass --drop-extra to "
        "remove them")


def rebuild(database_url: str, kafka: Kafka, topic: str, consumer: str, progress: Progress | None = None,
            announce: Callable[[str], None] | None = None, drop_extra: bool = False) -> CheckReport:
    """Recompute the topic's rows and replace them; `announce` is told the plan before the swap.
    The report compares the table as it was with the rebuilt rows. Raises RebuildError (nothing
    changed) when the rebuilt rows do not check, a job's row is another topic's, or the topic has
    rows its replay does not make and `drop_extra` is false (see `_refuse_extra`)."""
    partitions = _require_topic(kafka, topic)
    with db.connection(database_url, "PostgreSQL refused the rebuild", timeout=10) as conn:
        # Locked until commit: the group's projector waits, then continues where the rebuilt rows end.
        report = CheckReport(topic, consumer, _positions(conn, consumer, topic, lock=True), partitions)
        expected = _fold_topic(kafka, report, progress)
        conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} (LIKE enrichment_logs INCLUDING DEFAULTS) ON COMMIT DROP")
                     .format(sql.Identifier(_REBUILD)))
        copy_sql = sql.SQL("COPY {} ({}, source_topic) FROM STDIN").format(
            sql.Identifier(_REBUILD), sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS))
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in expected.values():
                copy.write_row([*db_values(row), topic])
        rebuilt = CheckReport(topic, consumer)
        _compare(conn, _REBUILD, expected, rebuilt)
        if not rebuilt.ok:
            raise RebuildError(f"rebuilt rows do not match the fold, nothing swapped: {rebuilt.summary()}")
        _compare(conn, "enrichment_logs", expected, report)
        if report.foreign:
            raise RebuildError(
                f"{len(report.foreign)} jobs with events on topic {topic} have rows folded from another topic"
                f"{report.foreign_eg()}: one topic's replay cannot recompute them (a job's events belong on one "
                "topic); nothing swapped")
        if report.extra and not drop_extra:
            _refuse_extra(conn, kafka, report)
        if announce is not None:
            announce(report.plan(len(expected)))
        conn.execute(_BUMP_VERSIONS)
        conn.execute(_DELETE_TOPIC_ROWS, {"topic": topic})
        conn.execute(_INSERT_REBUILT)
        conn.execute(notify.NOTIFY, (notify.CHANNEL, notify.ANYTHING))  # delivered on commit: the swap
    return report
