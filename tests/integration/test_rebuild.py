"""`enrichlog rebuild [--check]` on a table that two topics share, on the real broker and database.

Two consumer groups fold two topics into one `enrichment_logs` (as the demo's topic and the default
one do): a rebuild of one topic must replace exactly that topic's rows and leave every other row
as it was, byte for byte; its check must compare only that topic's rows.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from projector import notify
from projector.ports import Positioned
from projector.rebuild import read_events
from projector.store import PostgresStore
from schemas import JobEvent, dump_event
from tests.scenarios import Chain, album_chain_with_failed_child

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _create_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    finally:
        admin.close()


def _publish(bootstrap: str, topic: str, events: list[JobEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for e in events:
        producer.send(topic, key=e.root_job_id.encode(), value=dump_event(e))
    producer.flush(30)
    producer.close()


def _fold(bootstrap: str, db: str, topic: str, consumer: str) -> None:
    """What a projector of `consumer` does with everything on `topic`: the store's transactions."""
    batch = [Positioned(topic, p, o, e) for p, o, e in read_events(bootstrap, topic, None)]

    async def go() -> None:
        store = PostgresStore(db, consumer=consumer)
        try:
            for i in range(0, len(batch), 7):  # several transactions, as batches come
                await store.apply(batch[i:i + 7])
        finally:
            await store.close()

    asyncio.run(go())


def _chains(n: int) -> tuple[list[str], list[JobEvent]]:
    jobs: list[str] = []
    events: list[JobEvent] = []
    for _ in range(n):
        c, chain_events = album_chain_with_failed_child()
        jobs += sorted(c.types)
        events += chain_events
    return jobs, events


def _full_rows(db: str, where: str = "true", params: tuple[Any, ...] = ()) -> dict[str, str]:
    """Every column of the rows, as PostgreSQL's own text of the whole row: byte for byte."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(f"SELECT id::text, l::text FROM enrichment_logs l WHERE {where}", params).fetchall()
    return dict(rows)


@pytest.fixture
def two_topics(kafka_bootstrap: str, db: str) -> Iterator[dict[str, Any]]:
    """Topics a and b, folded into one table by the groups group-a and group-b; and a legacy row."""
    suffix = uuid.uuid4().hex[:10]
    a, b = f"test-rebuild-a-{suffix}", f"test-rebuild-b-{suffix}"
    _create_topics(kafka_bootstrap, a, b)
    jobs_a, events_a = _chains(3)
    jobs_b, events_b = _chains(2)
    _publish(kafka_bootstrap, a, events_a)
    _publish(kafka_bootstrap, b, events_b)
    _fold(kafka_bootstrap, db, a, f"group-{a}")
    _fold(kafka_bootstrap, db, b, f"group-{b}")
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO enrichment_logs (id, entity_type, entity_id, operation, status, job_id) "
            "VALUES (gen_random_uuid(), 'ALBUM', gen_random_uuid(), 'ENRICH_ALBUM', 'SUCCESS', 'legacy-1')")
    yield {"a": a, "b": b, "jobs_a": jobs_a, "jobs_b": jobs_b}


def _rebuild(kafka_bootstrap: str, db: str, topic: str, *argv: str,
             consumer: str | None = None) -> tuple[int, str, str]:
    """`enrichlog rebuild ARGV` as a process, for `topic` and its group by the projector's settings:
    exit status, stdout, stderr."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": db,
           "ENRICHLOG_EVENTS_TOPIC": topic, "ENRICHLOG_CONSUMER_GROUP": consumer or f"group-{topic}"}
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "rebuild", *argv], env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def test_rebuild_of_one_topic_leaves_the_other_topics_rows_byte_for_byte(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str,
) -> None:
    a, b = two_topics["a"], two_topics["b"]
    others = _full_rows(db, "NOT (job_id = ANY(%s))", (two_topics["jobs_a"],))
    assert len(others) == len(two_topics["jobs_b"]) + 1  # b's rows and the legacy row
    with psycopg.connect(db) as conn:  # an a row gone wrong: the rebuild is there to fix it
        conn.execute("UPDATE enrichment_logs SET retry_count = 99 WHERE job_id = %s", (two_topics["jobs_a"][0],))

    code, out, err = _rebuild(kafka_bootstrap, db, a)
    assert code == 0, (out, err)
    assert _full_rows(db, "NOT (job_id = ANY(%s))", (two_topics["jobs_a"],)) == others
    # It said what it replaced before it did: rows, topic, partitions.
    plan = next(line for line in out.splitlines() if line.startswith("replacing"))
    assert f"{len(two_topics['jobs_a'])} rows of topic {a}" in plan and "partitions" in plan, plan
    assert "1 differ" in plan and two_topics["jobs_a"][0] in plan, plan
    # Both topics now check equal to their folds, each on its own rows only.
    for topic, jobs in ((a, two_topics["jobs_a"]), (b, two_topics["jobs_b"])):
        code, out, err = _rebuild(kafka_bootstrap, db, topic, "--check")
        assert code == 0, (topic, out, err)
        assert f"{len(jobs)} rows" in out, out


def test_progress_is_plain_lines_on_stderr_when_not_a_terminal_and_nothing_with_json(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str,
) -> None:
    a = two_topics["a"]
    code, out, err = _rebuild(kafka_bootstrap, db, a, "--check", "--json")
    assert code == 0, (out, err)
    assert "reading topic" not in err
    report = json.loads(out)
    total = report["events"] + report["badMessages"]
    code, out, err = _rebuild(kafka_bootstrap, db, a, "--check")
    assert code == 0, (out, err)
    # A line a second once it has read for a second (none here: a quick replay), and its end.
    assert err.startswith(f"reading topic {a}: "), err
    assert re.search(rf"^reading topic {re.escape(a)}: done, {total:,} messages in [\d.]+ s$", err, re.MULTILINE), err
    assert "reading topic" not in out  # stdout is the result's


def test_check_names_the_ids_that_differ_and_exits_3(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str,
) -> None:
    a = two_topics["a"]
    gone, changed = two_topics["jobs_a"][0], two_topics["jobs_a"][1]
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM enrichment_logs WHERE job_id = %s", (gone,))
        conn.execute("UPDATE enrichment_logs SET retry_count = 99 WHERE job_id = %s", (changed,))
    code, out, err = _rebuild(kafka_bootstrap, db, a, "--check")
    assert code == 3, (out, err)
    assert "1 missing" in out and gone in out, out
    assert "1 different" in out and changed in out and "retry_count" in out, out
    assert "0 extra" in out, out  # b's rows are not a's


def test_a_row_the_replay_does_not_produce_is_removed_only_when_it_is_the_topics(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str,
) -> None:
    """A row recorded as a's but that a's events do not make (a buggy earlier version wrote it) is
    a's mistake: the check calls it extra, the rebuild removes it when told to (--drop-extra). A row
    of no recorded topic (written before rows recorded theirs) is adopted when its job is on a's
    topic, else kept."""
    a, jobs_a = two_topics["a"], two_topics["jobs_a"]
    stray, unknown = Chain(), Chain()
    with psycopg.connect(db) as conn:
        for chain, topic in ((stray, a), (unknown, None)):
            conn.execute(
                "INSERT INTO enrichment_logs (id, entity_type, entity_id, operation, status, job_id, fold_state,"
                " source_topic) SELECT gen_random_uuid(), 'ALBUM', gen_random_uuid(), 'ENRICH_ALBUM', 'SUCCESS',"
                " %s, fold_state, %s FROM enrichment_logs WHERE job_id = %s",
                (chain.root_id, topic, jobs_a[0]))
        conn.execute("UPDATE enrichment_logs SET source_topic = NULL WHERE job_id = %s", (jobs_a[1],))
    code, out, _ = _rebuild(kafka_bootstrap, db, a, "--check")
    assert code == 3 and "1 extra" in out and stray.root_id in out, out
    kept = _full_rows(db, "job_id = %s", (unknown.root_id,))
    code, out, err = _rebuild(kafka_bootstrap, db, a)
    assert code == 1 and stray.root_id in err and "--drop-extra" in err, (out, err)  # not without being told
    code, out, err = _rebuild(kafka_bootstrap, db, a, "--drop-extra")
    assert code == 0, (out, err)
    assert _full_rows(db, "job_id = %s", (stray.root_id,)) == {}
    assert _full_rows(db, "job_id = %s", (unknown.root_id,)) == kept
    with psycopg.connect(db) as conn:
        adopted = conn.execute("SELECT source_topic FROM enrichment_logs WHERE job_id = %s", (jobs_a[1],)).fetchone()
    assert adopted == (a,)
    code, out, _ = _rebuild(kafka_bootstrap, db, a, "--check")
    assert code == 0, out


def test_the_store_records_each_rows_topic(two_topics: dict[str, Any], db: str) -> None:
    with psycopg.connect(db) as conn:
        got = dict(conn.execute(
            "SELECT job_id, source_topic FROM enrichment_logs WHERE fold_state IS NOT NULL").fetchall())
    a, b = two_topics["a"], two_topics["b"]
    assert got == {j: a for j in two_topics["jobs_a"]} | {j: b for j in two_topics["jobs_b"]}


@pytest.mark.parametrize("check", [True, False])
def test_an_unknown_topic_is_one_line_and_changes_nothing(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str, check: bool,
) -> None:
    before = _full_rows(db)
    missing = f"test-rebuild-none-{uuid.uuid4().hex[:10]}"
    code, out, err = _rebuild(kafka_bootstrap, db, missing, *(["--check"] if check else []))
    assert code == 1, (out, err)
    line = err.strip()
    assert "\n" not in line and f"topic {missing} does not exist" in line, err
    assert _full_rows(db) == before
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert missing not in admin.list_topics()  # asking did not make the broker create it
    finally:
        admin.close()


@pytest.mark.parametrize("check", [True, False])
def test_a_consumer_without_positions_is_one_line_and_changes_nothing(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str, check: bool,
) -> None:
    a = two_topics["a"]
    before = _full_rows(db)
    code, out, err = _rebuild(kafka_bootstrap, db, a, *(["--check"] if check else []),
                              consumer="no-such-group")
    assert code == 1, (out, err)
    line = err.strip()
    assert "\n" not in line, err
    assert f"no positions of consumer no-such-group on topic {a}" in line and f"group-{a}" in line, line
    assert _full_rows(db) == before


def test_a_batch_folded_ahead_from_a_row_the_rebuild_replaced_is_folded_again(kafka_bootstrap: str, db: str) -> None:
    """The projector folds its next batch while the last one commits, from the rows as it read them.
    A rebuild that replaces such a row in between moves the row's version on, so that batch is
    refused by the version check and folded again from the rebuilt row, even when the row it
    replaced was itself written by a rebuild (its version NULL, which reads as 0)."""
    from psycopg.types.json import Jsonb

    from projector import rebuild
    from projector.rows import project_all

    topic = f"test-rebuild-ahead-{uuid.uuid4().hex[:10]}"
    _create_topics(kafka_bootstrap, topic, partitions=1)
    c = Chain()
    first = [c.started(c.root_id), c.retrying(c.root_id, 1), c.started(c.root_id, 2)]
    late = c.finished(c.root_id, 2)
    _publish(kafka_bootstrap, topic, first)
    _fold(kafka_bootstrap, db, topic, f"group-{topic}")
    with psycopg.connect(db) as conn:  # a wrong row, as a buggy version (or an earlier rebuild) left it
        conn.execute("UPDATE enrichment_logs SET fold_state = %s, fold_seq = NULL WHERE job_id = %s",
                     (Jsonb(project_all(first[:1])[c.root_id].fold_state), c.root_id))
    _publish(kafka_bootstrap, topic, [late])
    store = PostgresStore(db, consumer=f"group-{topic}")
    batch = [Positioned(topic, 0, 3, late)]

    async def go() -> int:
        prepared = await store.prepare(batch)  # folded onto the wrong row
        await asyncio.to_thread(rebuild.rebuild, db, kafka_bootstrap, topic, f"group-{topic}")
        await store.apply(batch, prepared)
        await store.close()
        return store.fallbacks

    assert asyncio.run(go()) == 1
    report = rebuild.check(db, kafka_bootstrap, topic, f"group-{topic}")
    assert report.ok and report.events_read == 4, report.summary()


def test_a_job_with_events_on_two_topics_is_reported_and_the_rebuild_refused(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str,
) -> None:
    """Its row holds both topics' events: a replay of one topic cannot recompute it."""
    a, b = two_topics["a"], two_topics["b"]
    c = Chain()
    _publish(kafka_bootstrap, b, [c.started(c.root_id)])
    _fold(kafka_bootstrap, db, b, f"group-{b}")
    _publish(kafka_bootstrap, a, [c.finished(c.root_id)])
    _fold(kafka_bootstrap, db, a, f"group-{a}")
    before = _full_rows(db)
    code, out, err = _rebuild(kafka_bootstrap, db, a, "--check")
    assert code == 3, (out, err)
    assert f"1 written from another topic (e.g. {c.root_id}: topic {b})" in out, out
    code, out, err = _rebuild(kafka_bootstrap, db, a)
    assert code == 1, (out, err)
    line = err.strip()
    assert "\n" not in line and c.root_id in line and "nothing swapped" in line, err
    assert _full_rows(db) == before


def test_the_topic_and_consumer_can_be_named_on_the_command_line(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str,
) -> None:
    b = two_topics["b"]
    code, out, err = _rebuild(kafka_bootstrap, db, "enrichment.job-events", "--check", "--json", "--topic", b,
                              "--consumer", f"group-{b}", consumer="enrichment-log-projector")
    assert code == 0, (out, err)
    report = json.loads(out)
    assert (report["ok"], report["topic"], report["rows"]) == (True, b, len(two_topics["jobs_b"]))
    assert report["keptByTopic"] == {two_topics["a"]: len(two_topics["jobs_a"])}


def _recreate(bootstrap: str, topic: str) -> None:
    """Delete `topic` and create it again under the same name (a new topic id, offsets from 0)."""
    from kafka.errors import KafkaError

    from tests.harness import wait_for

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        admin.delete_topics([topic])
        wait_for(lambda: topic not in admin.list_topics(), timeout=60, what=f"{topic} deleted")

        def created() -> bool:
            try:
                admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
            except KafkaError:  # the deletion is still being completed on the broker
                return False
            return True

        wait_for(created, timeout=60, what=f"{topic} created again")
    finally:
        admin.close()


def test_rows_of_a_topic_deleted_and_created_again_are_not_dropped_without_being_told(
    kafka_bootstrap: str, db: str,
) -> None:
    """Folded from a topic since deleted and created again, rows are "extra" to the new topic's replay,
    and their events exist nowhere any more: the rebuild refuses to remove them (exit 1, one line,
    nothing changed) unless --drop-extra says to; the check still reports them."""
    from projector.offsets import reconcile

    topic = f"test-rebuild-re-{uuid.uuid4().hex[:10]}"
    group = f"group-{topic}"
    _create_topics(kafka_bootstrap, topic)
    old_jobs, old_events = _chains(2)
    _publish(kafka_bootstrap, topic, old_events)
    reconcile(kafka_bootstrap, db, topic, group)  # as the projector's start-up: records the topic id
    _fold(kafka_bootstrap, db, topic, group)

    _recreate(kafka_bootstrap, topic)
    new_jobs, new_events = _chains(1)
    _publish(kafka_bootstrap, topic, new_events)
    reconcile(kafka_bootstrap, db, topic, group)  # the restart: the old topic's positions dropped
    _fold(kafka_bootstrap, db, topic, group)
    before = _full_rows(db, "source_topic = %s", (topic,))
    assert len(before) == len(old_jobs) + len(new_jobs)

    code, out, _ = _rebuild(kafka_bootstrap, db, topic, "--check")
    assert code == 3 and f"{len(old_jobs)} extra" in out, out

    code, out, err = _rebuild(kafka_bootstrap, db, topic)
    assert code == 1, (out, err)
    line = err.strip()
    assert "\n" not in line and f"{len(old_jobs)} rows of topic {topic}" in line and "--drop-extra" in line, err
    assert _full_rows(db, "source_topic = %s", (topic,)) == before

    code, out, err = _rebuild(kafka_bootstrap, db, topic, "--drop-extra")
    assert code == 0, (out, err)
    with psycopg.connect(db) as conn:
        left = {j for (j,) in conn.execute("SELECT job_id FROM enrichment_logs WHERE source_topic = %s", (topic,))}
    assert left == set(new_jobs)


def test_the_swap_notifies_listeners_that_anything_may_have_changed(
    two_topics: dict[str, Any], kafka_bootstrap: str, db: str,
) -> None:
    """One notification (projector.notify.ANYTHING) of the swap's transaction; a check swaps nothing
    and says nothing."""
    with psycopg.connect(db, autocommit=True) as listener:
        listener.execute(f"LISTEN {notify.CHANNEL}")
        code, out, err = _rebuild(kafka_bootstrap, db, two_topics["a"], "--check")
        assert code == 0, (out, err)
        assert list(listener.notifies(timeout=0.5)) == []
        code, out, err = _rebuild(kafka_bootstrap, db, two_topics["a"])
        assert code == 0, (out, err)
        assert [n.payload for n in listener.notifies(timeout=0.5)] == [notify.ANYTHING]


def _positions(db: str, topic: str) -> dict[int, int]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT partition, next_offset FROM enrichment_log_positions WHERE topic = %s",
                            (topic,)).fetchall()
    return dict(rows)


def _end_offsets(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


@pytest.fixture
def behind(two_topics: dict[str, Any], kafka_bootstrap: str, db: str) -> dict[str, Any]:
    """Topic a with events its group has not folded yet: the table's positions before the topic's end."""
    a = two_topics["a"]
    _publish(kafka_bootstrap, a, _chains(2)[1])
    until = _positions(db, a)
    assert 0 < sum(until.values()) < _end_offsets(kafka_bootstrap, a)
    return {**two_topics, "until": until}


def test_the_replay_tells_how_far_it_read_by_time_up_to_where_the_table_stands(
    behind: dict[str, Any], kafka_bootstrap: str,
) -> None:
    """Told at the start, at least every PROGRESS_EVERY_S however few messages, and at the end; the total
    is what it reads (up to the consumer's positions), not what the topic holds."""
    from projector.rebuild import PROGRESS_EVERY_S

    told: list[tuple[float, int, int]] = []
    read = 0
    for _ in read_events(kafka_bootstrap, behind["a"], behind["until"],
                         lambda done, total: told.append((time.monotonic(), done, total))):
        read += 1
        time.sleep(0.05)  # a slow reader: many ticks of the clock for few messages
    total = sum(behind["until"].values())
    assert read == total
    assert told[0][1:] == (0, total) and told[-1][1:] == (total, total), told
    assert all(t == total for _, _, t in told)
    dones = [d for _, d, _ in told]
    assert dones == sorted(dones) and len(told) >= 4, told  # by time: far fewer than ten thousand messages
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(told)]
    assert max(gaps) < PROGRESS_EVERY_S + 0.5, gaps


def test_rebuild_progress_counts_the_messages_up_to_the_positions(
    behind: dict[str, Any], kafka_bootstrap: str, db: str,
) -> None:
    a, total = behind["a"], sum(behind["until"].values())
    code, out, err = _rebuild(kafka_bootstrap, db, a, "--check")
    assert code == 0, (out, err)
    lines = err.splitlines()
    assert re.fullmatch(rf"reading topic {re.escape(a)}: done, {total:,} messages in [\d.]+ s", lines[-1]), lines
    for line in lines[1:-1]:  # how far, of the same total
        assert re.fullmatch(rf"reading topic {re.escape(a)}: [\d,]+ / {total:,} messages \(\d+%\)(, about \d+ s left)?",
                            line), line
    code, out, err = _rebuild(kafka_bootstrap, db, a, "--check", "--json")
    assert code == 0 and json.loads(out)["events"] == total and "reading topic" not in err, (out, err)
