"""A running projector whose broker or database goes away logs what an operator can read: one line
when the service goes away, a reminder now and then while it stays away, one line when it is back
(with how long it was gone), and none of the client libraries' per-attempt errors.

The broker and the PostgreSQL cluster that go away are the test's own (tests/e2e/conftest.py); the
projector logs JSON lines, which the test reads back. Each test ends with the table equal to the pure
fold of the topic.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from enrichlog.services import LocalKafka, LocalPostgres
from tests.e2e.test_faults import _create_topics, _folded, _publish
from tests.harness import ProjectorProcess, assert_table_is_the_fold, caught_up, stream, wait_for, workload

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

DOWN_S = 12.0  # long enough for several reminders and for the libraries' retries to pile up
REMINDER_S = 4.0
LIBRARIES = ("aiokafka", "kafka", "faust", "mode")


def _records(proc: ProjectorProcess, start: int = 0) -> list[dict[str, Any]]:
    """The projector's log lines from character `start` on, parsed (a line that is no JSON is kept as
    its text under "msg", logger "?")."""
    out = []
    for line in proc.log(tail=None)[start:].splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"level": "?", "logger": "?", "msg": line})
    return out


def _outage_lines(records: list[dict[str, Any]], service: str) -> dict[str, list[dict[str, Any]]]:
    return {state: [r for r in records if r.get("outage") == state and r.get("service") == service]
            for state in ("gone", "still-gone", "back")}


def _noise(records: list[dict[str, Any]]) -> Counter[str]:
    """Lines at WARNING or above that are not the outage's own, by logger and message start."""
    return Counter(f"{r.get('logger')}: {str(r.get('msg'))[:60]}" for r in records
                   if r.get("level") in ("WARNING", "ERROR", "CRITICAL", "?") and "outage" not in r)


def _assert_outage_logged(records: list[dict[str, Any]], service: str, address: str, down_s: float) -> None:
    """`down_s`: from the kill until the service was started again (its start takes a while: the
    projector sees it back during the start, not after it)."""
    lines = _outage_lines(records, service)
    noise = _noise(records)
    summary = (f"{len(records)} lines; outage lines {[r['msg'] for rs in lines.values() for r in rs]}; "
               f"other warnings/errors {noise.most_common(8)}")
    print(f"\n{service} down {down_s:.1f}s (until started again): {summary}")
    [gone], [back] = lines["gone"], lines["back"]
    assert address in gone["msg"] and address in back["msg"], summary
    assert gone["level"] == "ERROR" and back["level"] == "WARNING", summary
    # The reminders: one per REMINDER_S while away (a reminder is due at most one probe late).
    assert 1 <= len(lines["still-gone"]) <= down_s / REMINDER_S + 2, summary
    assert DOWN_S - 1 <= back["away_s"] <= down_s + 5, summary
    assert len(records) <= sum(map(len, lines.values())) + 40, summary  # a rejoin's INFO lines, no more
    assert not [r for r in records if str(r.get("logger", "")).split(".")[0] in LIBRARIES
                and r.get("level") in ("WARNING", "ERROR", "CRITICAL")], summary
    assert sum(noise.values()) <= 5, summary  # the projector's own warnings (a dead letter waiting, say)


def test_the_broker_going_away_is_logged_once_reminded_and_back_with_its_duration(
    own_kafka: LocalKafka, projector_env: dict[str, str], db: str, topic: str, tmp_path: Path
) -> None:
    bootstrap = own_kafka.bootstrap_servers
    env = {**projector_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENRICHLOG_LOG_FORMAT": "json",
           "ENRICHLOG_OUTAGE_REMINDER_S": str(REMINDER_S)}
    _create_topics(env)
    events = workload(3000, seed=41)
    first, second = events[: len(events) // 2], events[len(events) // 2 :]
    proc = ProjectorProcess(env, tmp_path / "projector.log").start()
    try:
        _publish(bootstrap, topic, first)
        wait_for(lambda: _folded(db, topic) >= len(first) or proc.died_on_its_own(), timeout=120,
                 what="the first half folded")
        assert not proc.died_on_its_own(), proc.log()
        mark = len(proc.log(tail=None))
        own_kafka.kill()
        down = time.monotonic()
        while time.monotonic() - down < DOWN_S:
            assert proc.running(), proc.log()
            time.sleep(0.2)
        own_kafka.start()
        down_s = time.monotonic() - down
        _publish(bootstrap, topic, second)
        wait_for(lambda: _outage_lines(_records(proc, mark), "Kafka")["back"] or proc.died_on_its_own(),
                 timeout=120, what="the projector to log that the broker is back")
        wait_for(lambda: caught_up(db, bootstrap, topic) or proc.died_on_its_own(), timeout=180,
                 what="the projector to catch up")
        assert not proc.died_on_its_own(), proc.log()
        outage = _records(proc, mark)
        assert proc.stop() == 0, proc.log()
    finally:
        proc.kill()
    _assert_outage_logged(outage, "Kafka", bootstrap, down_s)
    assert_table_is_the_fold(db, bootstrap, topic, events, "the broker away and back")


def test_the_database_going_away_is_logged_once_reminded_and_back_with_its_duration(
    own_postgres: tuple[LocalPostgres, str], projector_env: dict[str, str], kafka_bootstrap: str, topic: str,
    tmp_path: Path,
) -> None:
    pg, url = own_postgres
    address = f"127.0.0.1:{pg.settings.pg_port}"
    env = {**projector_env, "DATABASE_URL": url, "ENRICHLOG_LOG_FORMAT": "json",
           "ENRICHLOG_OUTAGE_REMINDER_S": str(REMINDER_S), "ENRICHLOG_DB_RETRY_TIMEOUT_S": "120"}
    _create_topics(env)
    events = workload(4000, seed=42)
    proc = ProjectorProcess(env, tmp_path / "projector.log").start()
    hurry = threading.Event()
    streaming = stream(kafka_bootstrap, topic, events, seconds=DOWN_S + 15, hurry=hurry)
    try:
        wait_for(lambda: _folded(url, topic) > 0 or proc.died_on_its_own(), timeout=90,
                 what="the first committed batch")
        mark = len(proc.log(tail=None))
        pg.stop("fast")
        down = time.monotonic()
        while time.monotonic() - down < DOWN_S:
            assert proc.running(), proc.log()
            time.sleep(0.2)
        pg.start()
        down_s = time.monotonic() - down
        wait_for(lambda: _outage_lines(_records(proc, mark), "PostgreSQL")["back"] or proc.died_on_its_own(),
                 timeout=120, what="the projector to log that the database is back")
        hurry.set()
        streaming.join(timeout=300)
        wait_for(lambda: caught_up(url, kafka_bootstrap, topic) or proc.died_on_its_own(), timeout=180,
                 what="the projector to catch up")
        assert not proc.died_on_its_own(), proc.log()
        outage = _records(proc, mark)
        assert proc.stop() == 0, proc.log()
    finally:
        proc.kill()
    _assert_outage_logged(outage, "PostgreSQL", address, down_s)
    assert_table_is_the_fold(url, kafka_bootstrap, topic, events, "the database away and back")
