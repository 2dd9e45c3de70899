"""`enrichlog project --check` reaches the real Kafka and PostgreSQL, or says in one line which it could not.

And the projector's start-up check of the events topic's partitions (`ensure_topics`) on a topic
that a producer made the broker create first, with the broker's default of one partition.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import uuid

import pytest
from kafka import KafkaProducer

from projector.settings import ProjectorSettings
from projector.topics import partition_counts

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _closed_port() -> int:
    """A local port nothing listens on (bound once, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check(env: dict[str, str], *args: str) -> tuple[int, str, float]:
    """`enrichlog project --check` as a process in this environment: exit status, its only line, seconds."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "project", "--check", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    return done.returncode, lines[0], elapsed


def _auto_created(bootstrap: str) -> str:
    """A topic made by the broker itself when a producer first published to it (as before a projector ran)."""
    topic = f"test-auto-{uuid.uuid4().hex[:12]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topic, key=b"k", value=b"{}").get(30)
    producer.close()
    assert partition_counts(bootstrap, [topic])[topic] == 1  # the broker's default: what this is about
    return topic


def test_ready_when_both_answer_and_the_topics_are_as_configured(
    projector_env: dict[str, str], projector_topics: None,
) -> None:
    code, line, _ = _check(projector_env)
    assert code == 0, line
    topic = projector_env["ENRICHLOG_EVENTS_TOPIC"]
    assert line.startswith("ready:") and f"topic {topic} 3 partitions" in line and "migrated" in line, line


def test_kafka_unreachable_is_one_line_naming_it_and_exit_1(
    projector_env: dict[str, str],
) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    code, line, elapsed = _check({**projector_env, "KAFKA_BOOTSTRAP_SERVERS": address})
    assert code == 1, line
    assert line.startswith("enrichlog project: error:") and f"Kafka at {address} unreachable: connection refused" \
        in line, line
    assert "PostgreSQL" not in line, line  # the database answered
    assert elapsed < 30, elapsed


def test_services_that_accept_connections_and_never_answer_are_given_up_on_within_the_timeout(
    projector_env: dict[str, str],
) -> None:
    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    address = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        code, line, elapsed = _check({**projector_env, "KAFKA_BOOTSTRAP_SERVERS": address,
                                      "DATABASE_URL": f"postgresql://enrichlog@{address}/enrichlog"}, "--timeout", "2")
    finally:
        silent.close()
    assert code == 1, line
    assert f"Kafka at {address} unreachable: the TCP connection is accepted but no Kafka reply came; tried for 2s" \
        in line, line
    assert f"PostgreSQL at postgresql://enrichlog@{address}/enrichlog unreachable" in line, line
    assert elapsed < 20, elapsed  # both bounded: 2 s each, and the interpreter's start


def test_postgres_unreachable_is_one_line_naming_it_and_exit_1(
    projector_env: dict[str, str], projector_topics: None,
) -> None:
    url = f"postgresql://enrichlog:secret-pw@127.0.0.1:{_closed_port()}/enrichlog"
    code, line, elapsed = _check({**projector_env, "DATABASE_URL": url})
    assert code == 1, line
    assert "PostgreSQL at postgresql://enrichlog:***@127.0.0.1:" in line and "unreachable" in line, line
    assert "secret-pw" not in line and "Kafka" not in line, line
    assert elapsed < 30, elapsed


def test_a_database_never_migrated_is_one_line_and_exit_1(
    projector_env: dict[str, str], projector_topics: None, empty_db: str,
) -> None:
    code, line, _ = _check({**projector_env, "DATABASE_URL": empty_db})
    assert code == 1, line
    assert "is not migrated" in line and "0001_legacy_enrichment_logs" in line and "enrichlog migrate" in line, line


def test_a_topic_with_fewer_partitions_than_configured_is_reported_with_what_to_do(
    projector_env: dict[str, str], kafka_bootstrap: str,
) -> None:
    topic = _auto_created(kafka_bootstrap)
    code, line, _ = _check({**projector_env, "ENRICHLOG_EVENTS_TOPIC": topic})
    assert code == 3, line
    assert f"topic {topic} has 1 partition but ENRICHLOG_TOPIC_PARTITIONS is 3" in line, line
    assert f"--alter --topic {topic} --partitions 3" in line, line


def test_a_missing_topic_is_reported_and_not_created_by_the_check(
    projector_env: dict[str, str], kafka_bootstrap: str,
) -> None:
    topic = projector_env["ENRICHLOG_EVENTS_TOPIC"]
    code, line, _ = _check(projector_env)
    assert code == 3, line
    assert f"topic {topic} does not exist" in line, line
    assert partition_counts(kafka_bootstrap, [topic])[topic] is None


def test_start_up_warns_of_too_few_partitions_naming_topic_counts_and_command(
    projector_env: dict[str, str], kafka_bootstrap: str, caplog: pytest.LogCaptureFixture,
) -> None:
    from projector.service import ensure_topics

    topic = _auto_created(kafka_bootstrap)
    settings = ProjectorSettings(kafka_bootstrap_servers=kafka_bootstrap,  # type: ignore[call-arg]
                                 database_url=projector_env["DATABASE_URL"], events_topic=topic, topic_partitions=3)
    with caplog.at_level(logging.WARNING):
        found = ensure_topics(settings)
    assert (found.found, found.configured) == (1, 3)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "projector.service"]
    message = record.getMessage()
    assert f"topic {topic} has 1 partition but ENRICHLOG_TOPIC_PARTITIONS is 3" in message, message
    assert f"kafka-topics.sh --bootstrap-server {kafka_bootstrap} --alter --topic {topic} --partitions 3" in message
    assert partition_counts(kafka_bootstrap, [topic, f"{topic}.dlq"]) == {topic: 1, f"{topic}.dlq": 3}
