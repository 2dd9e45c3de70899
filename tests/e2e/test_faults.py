"""Faults around the projector: the broker SIGKILLed again and again, PostgreSQL crashed (stopped in
`immediate` mode) mid-transaction, a member paused longer than its session. Each time the table ends
equal to the pure fold of the topic, row for row; each test prints the recovery times it measured.

The broker and the PostgreSQL cluster that are crashed are the test's own (tests/e2e/conftest.py).
Sizes come from the environment, short by default for CI: ENRICHLOG_KILL_TEST_EVENTS (20000),
ENRICHLOG_KILL_TEST_KILLS (5, the broker's kills), ENRICHLOG_BROKER_DOWN_S (3), ENRICHLOG_OUTAGE_S (5,
PostgreSQL's). `bench/kill_run.py` is the long run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaProducer

from enrichlog.services import LocalKafka, LocalPostgres
from projector.service import ensure_topics
from projector.settings import ProjectorSettings
from schemas import JobEvent, dump_event
from tests.e2e.test_membership import _assignment
from tests.harness import (
    ProjectorProcess,
    assert_table_is_the_fold,
    caught_up,
    end_offsets,
    positions,
    stream,
    wait_for,
    workload,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

EVENTS = int(os.environ.get("ENRICHLOG_KILL_TEST_EVENTS", "20000"))
KILLS = int(os.environ.get("ENRICHLOG_KILL_TEST_KILLS", "5"))
BROKER_DOWN_S = float(os.environ.get("ENRICHLOG_BROKER_DOWN_S", "3"))
OUTAGE_S = float(os.environ.get("ENRICHLOG_OUTAGE_S", "5"))


def _create_topics(env: dict[str, str]) -> None:
    ensure_topics(ProjectorSettings(kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],  # type: ignore[call-arg]
                                    database_url=env["DATABASE_URL"], events_topic=env["ENRICHLOG_EVENTS_TOPIC"],
                                    topic_partitions=int(env["ENRICHLOG_TOPIC_PARTITIONS"])))


def _publish(bootstrap: str, topic: str, events: list[JobEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for e in events:
            producer.send(topic, key=e.root_job_id.encode(), value=dump_event(e))
        producer.flush(60)
    finally:
        producer.close()


def _folded(db: str, topic: str) -> int:
    return sum(positions(db, topic).values())


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}s" for v in values)


def test_the_broker_sigkilled_again_and_again_mid_stream_loses_nothing_and_doubles_nothing(
    own_kafka: LocalKafka, projector_env: dict[str, str], db: str, topic: str, tmp_path: Path
) -> None:
    """The stream comes in chunks; while the projector folds one (small batches: several commits per
    chunk), the broker is SIGKILLed, stays down a while, and is started again from its data directory."""
    bootstrap = own_kafka.bootstrap_servers
    env = {**projector_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENRICHLOG_BATCH_MAX": "200"}
    _create_topics(env)
    events = workload(EVENTS, seed=31)
    size = len(events) // (KILLS + 1) + 1
    chunks = [events[i : i + size] for i in range(0, len(events), size)]
    proc = ProjectorProcess(env, tmp_path / "projector.log").start()
    recoveries: list[float] = []
    starts: list[float] = []
    mid_stream = 0
    try:
        for i, chunk in enumerate(chunks):
            before = _folded(db, topic)
            up = time.monotonic()
            _publish(bootstrap, topic, chunk)
            wait_for(lambda before=before: _folded(db, topic) > before or proc.died_on_its_own(), timeout=180,
                     what="the projector to fold again after the broker came back")
            assert not proc.died_on_its_own(), proc.log()
            if i:
                recoveries.append(time.monotonic() - up)
            if i == len(chunks) - 1:
                break
            own_kafka.kill()
            mid_stream += _folded(db, topic) < sum(len(c) for c in chunks[: i + 1])
            down = time.monotonic()
            while time.monotonic() - down < BROKER_DOWN_S:
                assert proc.running(), proc.log()  # it waits for the broker, it does not die
                time.sleep(0.2)
            started = time.monotonic()
            own_kafka.start()
            starts.append(time.monotonic() - started)
        wait_for(lambda: caught_up(db, bootstrap, topic), timeout=300, what="the projector to catch up")
        assert proc.stop() == 0, proc.log()
    finally:
        proc.kill()
    print(f"\nbroker SIGKILLed {len(chunks) - 1} times ({mid_stream} with the chunk not yet all folded), down "
          f"{BROKER_DOWN_S:.0f}s each, restarted in {_seconds(starts)}; from the broker's restart to the next "
          f"event folded: {_seconds(recoveries)}")
    assert_table_is_the_fold(db, bootstrap, topic, events, f"{len(chunks) - 1} broker SIGKILLs")


def _write_in_flight(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Whether a projector's transaction has written and not yet ended."""
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'enrichlog-projector%' "
                       "AND backend_xid IS NOT NULL").fetchone()
    return bool(row and row[0])


def test_postgres_crashed_mid_transaction_loses_nothing_and_doubles_nothing(
    own_postgres: tuple[LocalPostgres, str], projector_env: dict[str, str], kafka_bootstrap: str, topic: str,
    tmp_path: Path,
) -> None:
    """PostgreSQL stopped in `immediate` mode (no checkpoint: a crash) the moment a batch's transaction
    has written, then started again (recovery from the WAL): the projector waits, then carries on."""
    pg, url = own_postgres
    env = {**projector_env, "DATABASE_URL": url, "ENRICHLOG_DB_RETRY_TIMEOUT_S": str(OUTAGE_S * 4 + 60)}
    _create_topics(env)
    proc = ProjectorProcess(env, tmp_path / "projector.log").start()
    events = workload(max(4000, EVENTS // 2), seed=32)
    hurry = threading.Event()
    streaming = stream(kafka_bootstrap, topic, events, seconds=OUTAGE_S + 20, hurry=hurry)
    try:
        wait_for(lambda: _folded(url, topic) > 0, timeout=90, what="the first committed batch")
        with psycopg.connect(url, autocommit=True) as watch:
            wait_for(lambda: _write_in_flight(watch), timeout=60, what="a batch's transaction in flight")
            pg.stop("immediate")
        down = time.monotonic()
        while time.monotonic() - down < OUTAGE_S:
            assert proc.running(), proc.log()  # it waits for the database, it does not die
            time.sleep(0.5)
        pg.start()
        up = time.monotonic()
        before = _folded(url, topic)  # what survived the crash (the projector waits between its retries)
        wait_for(lambda: _folded(url, topic) > before, timeout=120, what="the first batch after the recovery")
        recovery = time.monotonic() - up
        hurry.set()
        streaming.join(timeout=300)
        wait_for(lambda: caught_up(url, kafka_bootstrap, topic), timeout=300, what="catch-up after the crash")
        assert proc.stop() == 0, proc.log()
    finally:
        proc.kill()
    print(f"\nPostgreSQL crashed (immediate) mid-transaction, down {OUTAGE_S:.0f}s; from its restart to the next "
          f"batch committed: {recovery:.1f}s")
    assert_table_is_the_fold(url, kafka_bootstrap, topic, events, "PostgreSQL crashed mid-transaction")


def _waiting_on_a_lock(db: str) -> int:
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.usefixtures("projector_topics")
def test_a_member_paused_past_its_session_has_its_late_writes_refused(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Path
) -> None:
    """Two members; one is SIGSTOPped in the middle of a commit (both commits wait on a lock the test
    holds) and stays stopped past its session timeout: the group gives its partitions to the other
    member, which folds past all the paused one held. Resumed (SIGCONT), the paused member writes what
    it held, late: the store must refuse it (the stored positions are past it), and say so in that
    member's log.

    The paused member's waiting statement is cancelled (as a lock_timeout would) before the lock is
    released: had it taken the positions' row locks, its transaction would hold them for the whole
    pause (a paused client's transaction stays open: PostgreSQL's idle_in_transaction_session_timeout
    does not fire after psycopg's pipelines), the other member would wait for it, and its write would
    then be first by right, the other's the refused one."""
    session_s = 6.0
    env = {**projector_env, "ENRICHLOG_SESSION_TIMEOUT_S": str(session_s)}
    group = env["ENRICHLOG_CONSUMER_GROUP"]
    paused, other = (ProjectorProcess(env, tmp_path / f"projector-{i}.log").start() for i in range(2))
    events = workload(6000, seed=33)
    hurry = threading.Event()
    streaming = stream(kafka_bootstrap, topic, events, seconds=60, hurry=hurry)
    try:
        wait_for(lambda: (a := _assignment(kafka_bootstrap, group)).get(paused.instance_id)
                 and a.get(other.instance_id), timeout=120, what="both members to hold partitions")
        wait_for(lambda: all(positions(db, topic).get(p, 0) > 0 for p in range(3)), timeout=60,
                 what="every partition folded")
        with psycopg.connect(db) as lock:
            lock.execute("LOCK TABLE enrichment_log_positions IN EXCLUSIVE MODE")  # reads pass, commits wait
            wait_for(lambda: _waiting_on_a_lock(db) >= 2, timeout=60, what="both members' commits to wait")
            assert paused.proc is not None
            paused.proc.send_signal(signal.SIGSTOP)
            stopped = time.monotonic()
            lock.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                         "AND application_name = %s", (f"enrichlog-projector {paused.instance_id}",))
            lock.rollback()
        held = end_offsets(kafka_bootstrap, topic)  # the paused member holds nothing past these
        wait_for(lambda: _assignment(kafka_bootstrap, group) == {other.instance_id: {0, 1, 2}},
                 timeout=60, what="the group to give every partition to the other member")
        moved = time.monotonic() - stopped
        wait_for(lambda: all(positions(db, topic).get(p, 0) >= o for p, o in held.items()), timeout=60,
                 what="the other member to fold past what the paused one held")
        folded = time.monotonic() - stopped
        wait_for(lambda: time.monotonic() - stopped > session_s + 2, what="the pause to outlast the session")
        paused.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: "not applied:" in paused.log(), timeout=60, what="the resumed member to log the refusal")
        hurry.set()
        streaming.join(timeout=300)
        wait_for(lambda: caught_up(db, kafka_bootstrap, topic), timeout=300, what="the members to catch up")
        assert [paused.stop(), other.stop()] == [0, 0], paused.log() + other.log()
    finally:
        for p in (paused, other):
            if p.proc is not None and p.proc.poll() is None:
                p.proc.send_signal(signal.SIGCONT)
            p.kill()
    refusal = next(line for line in paused.log().splitlines() if "not applied:" in line)
    print(f"\npaused member: partitions moved {moved:.1f}s after SIGSTOP (session {session_s:.0f}s), folded past "
          f"it after {folded:.1f}s; resumed, it logged: {refusal[:300]}")
    assert_table_is_the_fold(db, kafka_bootstrap, topic, events, "a member paused past its session")
