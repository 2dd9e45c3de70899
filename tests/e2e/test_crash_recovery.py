"""Crashes and outages: the table must end equal to the pure fold of everything on the topic.

Sizes come from the environment so that the acceptance run can be large while CI stays short:
ENRICHLOG_KILL_TEST_EVENTS (default 20000), ENRICHLOG_KILL_TEST_KILLS (5),
ENRICHLOG_OUTAGE_S (10): e.g. `ENRICHLOG_KILL_TEST_EVENTS=100000 ENRICHLOG_KILL_TEST_KILLS=12
ENRICHLOG_OUTAGE_S=30 scripts/test tests/e2e/test_crash_recovery.py -s`.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import psycopg
import pytest

from enrichlog.services import LocalPostgres
from projector.rebuild import check
from schemas import JobEvent
from tests.harness import ProjectorProcess, wait_for
from tests.harness import assert_table_is_the_fold as _assert_table_is_the_fold
from tests.harness import caught_up as _caught_up
from tests.harness import positions as _positions
from tests.harness import stream as _stream
from tests.harness import workload as _workload

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

EVENTS = int(os.environ.get("ENRICHLOG_KILL_TEST_EVENTS", "20000"))
KILLS = int(os.environ.get("ENRICHLOG_KILL_TEST_KILLS", "5"))
OUTAGE_S = float(os.environ.get("ENRICHLOG_OUTAGE_S", "10"))


def _assert_not_crashed(p: ProjectorProcess) -> None:
    assert not p.died_on_its_own(), f"a projector crashed (exit {p.proc and p.proc.returncode}):\n{p.log()}"


def _stream_and_kill(procs: list[ProjectorProcess], bootstrap: str, topic: str, db: str,
                     events: list[JobEvent], seed: int) -> list[int]:
    """Stream `events` while, KILLS times, a random one of `procs` is SIGKILLed at a random moment
    (mid-batch, between batches, mid-commit) once the dead ones are restarted and the group has
    committed again; then let every process catch up and stop it (exit 0). The positions at each kill."""
    # A restart takes a few seconds (the interpreter starts, the member rejoins): the stream lasts long
    # enough for most kills to land mid-stream.
    streaming = _stream(bootstrap, topic, events, seconds=max(20.0, KILLS * 8.0))
    rng = random.Random(seed)
    progress_at_kill: list[int] = []

    def progressed(last: int) -> bool:  # or nothing is left to commit: the stream ended, all folded
        return sum(_positions(db, topic).values()) > last or (
            not streaming.is_alive() and _caught_up(db, bootstrap, topic))

    for _ in range(KILLS):
        for p in procs:
            _assert_not_crashed(p)
            if not p.running():
                p.start()
        last = progress_at_kill[-1] if progress_at_kill else 0
        wait_for(lambda last=last: progressed(last), timeout=120, what="the restarted projector to commit a batch")
        time.sleep(rng.uniform(0.0, 1.5))
        rng.choice(procs).kill()
        progress_at_kill.append(sum(_positions(db, topic).values()))
    streaming.join(timeout=300)
    for p in procs:
        _assert_not_crashed(p)
        if not p.running():
            p.start()
    wait_for(lambda: _caught_up(db, bootstrap, topic), timeout=300, what="the projectors to catch up")
    assert not any(p.died_on_its_own() for p in procs), "\n".join(p.log() for p in procs)
    assert [p.stop() for p in procs] == [0] * len(procs)
    return progress_at_kill


def test_sigkill_at_random_moments_loses_nothing_and_doubles_nothing(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    events = _workload(EVENTS, seed=11)
    progress = _stream_and_kill([projector], kafka_bootstrap, topic, db, events, seed=42)
    _assert_table_is_the_fold(db, kafka_bootstrap, topic, events,
                              f"kill test: {KILLS} SIGKILLs at positions {progress}")


@pytest.mark.usefixtures("projector_topics")
def test_three_projectors_in_one_group_with_random_kills_lose_nothing_and_double_nothing(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Path
) -> None:
    """Scaling out: three processes share the partitions. A random one is SIGKILLed at a random
    moment, again and again, while the others keep writing: its partitions move to the survivors
    (whose read-ahead may then be stale) and back when it is restarted."""
    env = {**projector_env, "ENRICHLOG_SESSION_TIMEOUT_S": "6"}
    procs = [ProjectorProcess(env, tmp_path / f"projector-{i}.log") for i in range(3)]
    events = _workload(EVENTS, seed=12)
    try:
        progress = _stream_and_kill(procs, kafka_bootstrap, topic, db, events, seed=43)
    finally:
        for p in procs:
            p.kill()
    _assert_table_is_the_fold(db, kafka_bootstrap, topic, events,
                              f"three projectors: {KILLS} SIGKILLs of random members at positions {progress}")


@pytest.mark.usefixtures("projector_topics")
def test_a_rebalance_while_the_projector_waits_on_its_database_crashes_nothing(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Path
) -> None:
    """The projector's commit waits (here: on a lock the test holds on the positions table), so
    its channel fills up and its fetcher waits to put the next fetch in it. A member joins: the
    rebalance suspends the flow and clears the channel, cancelling that wait. The projector must
    carry on once the database answers, not crash."""
    env = {**projector_env, "ENRICHLOG_SESSION_TIMEOUT_S": "10"}
    stalled, joining = (ProjectorProcess(env, tmp_path / f"projector-{i}.log") for i in range(2))
    events = _workload(EVENTS, seed=13)
    _stream(kafka_bootstrap, topic, events, seconds=0).join()  # all of it waiting: far more than the channel holds
    with psycopg.connect(db) as lock:
        lock.execute("LOCK TABLE enrichment_log_positions IN EXCLUSIVE MODE")  # reads pass, commits wait
        try:
            stalled.start()
            wait_for(lambda: _waiting_on_a_lock(db) > 0 or stalled.died_on_its_own(), timeout=90,
                     what="the projector's first commit to wait on the lock")
            time.sleep(3)  # its fetcher fills the channel and waits for room
            joining.start()
            wait_for(joining.catches_sigterm, timeout=60, what="the second projector to start")
            time.sleep(10)  # the group rebalances while the first one's commit still waits
        finally:
            lock.rollback()
    try:
        wait_for(lambda: _caught_up(db, kafka_bootstrap, topic) or stalled.died_on_its_own(), timeout=300,
                 what="the projectors to catch up")
        assert not stalled.died_on_its_own(), stalled.log()
        assert [stalled.stop(), joining.stop()] == [0, 0], stalled.log() + joining.log()
    finally:
        for p in (stalled, joining):
            p.kill()
    _assert_table_is_the_fold(db, kafka_bootstrap, topic, events,
                              "a rebalance while the projector waited on its database")


def _waiting_on_a_lock(db: str) -> int:
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'").fetchone()
    return int(row[0]) if row else 0


def test_postgres_outage_mid_stream_loses_nothing_and_doubles_nothing(
    own_postgres: tuple[LocalPostgres, str], projector_env: dict[str, str], kafka_bootstrap: str, topic: str,
    tmp_path: Path,
) -> None:
    pg, url = own_postgres
    env = {**projector_env, "DATABASE_URL": url, "ENRICHLOG_DB_RETRY_TIMEOUT_S": str(OUTAGE_S * 4 + 60)}
    proc = ProjectorProcess(env, tmp_path / "projector.log").start()
    try:
        events = _workload(max(2000, EVENTS // 5), seed=12)
        streaming = _stream(kafka_bootstrap, topic, events, seconds=OUTAGE_S + 10)
        wait_for(lambda: sum(_positions(url, topic).values()) > 0, timeout=90, what="first committed batch")
        pg.stop()
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_S:
            assert proc.running(), proc.log()  # it waits for the database, it does not die
            time.sleep(0.5)
        pg.start()
        streaming.join(timeout=300)
        wait_for(lambda: _caught_up(url, kafka_bootstrap, topic), timeout=300, what="catch-up after the outage")
        assert proc.stop() == 0
    finally:
        proc.kill()
    report = check(url, kafka_bootstrap, topic, consumer=f"group-{topic}")
    print(f"\noutage test: PostgreSQL down {OUTAGE_S:.0f}s; {report.events_read} events, "
          f"{report.rows_compared} rows: {report.summary()}")
    assert report.ok, report.summary()
    assert report.events_read == len(events)
