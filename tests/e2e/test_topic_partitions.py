"""A projector started on a topic that a producer made the broker create (one partition) says so and runs on."""

from __future__ import annotations

import urllib.request
from typing import Any

import psycopg
import pytest
from kafka import KafkaProducer

from schemas import dump_event
from tests.harness import ProjectorProcess, wait_for
from tests.own_services import free_port
from tests.scenarios import album_chain_with_failed_child

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _metric(port: int, name: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    return next((line for line in text.splitlines() if line.startswith(name + "{")), None)


def test_a_one_partition_topic_is_warned_of_at_start_and_the_projector_runs_on(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Any,
) -> None:
    _, events = album_chain_with_failed_child()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for e in events:  # published before any projector ran: the broker creates the topic, 1 partition
        producer.send(topic, key=e.root_job_id.encode(), value=dump_event(e))
    producer.flush(30)
    producer.close()
    port = free_port()
    proc = ProjectorProcess({**projector_env, "ENRICHLOG_METRICS_PORT": str(port)}, tmp_path / "p.log").start()
    try:
        def rows() -> int:
            with psycopg.connect(db) as conn:
                return int(conn.execute("SELECT count(*) FROM enrichment_logs").fetchone()[0])  # type: ignore[index]

        wait_for(lambda: rows() == 3, timeout=90, what="the chain's 3 rows")
        assert proc.running()
        found = wait_for(lambda: _metric(port, "enrichlog_topic_partitions"), what="the partitions metric")
        assert found == f'enrichlog_topic_partitions{{topic="{topic}"}} 1.0', found
        configured = _metric(port, "enrichlog_topic_partitions_configured")
        assert configured == f'enrichlog_topic_partitions_configured{{topic="{topic}"}} 3.0', configured
        assert proc.stop() == 0
    finally:
        proc.kill()
    log = (tmp_path / "p.log").read_text()
    warnings = [line for line in log.splitlines() if "WARNING projector.service" in line]
    assert len(warnings) == 1, log[-5000:]
    assert f"topic {topic} has 1 partition but ENRICHLOG_TOPIC_PARTITIONS is 3" in warnings[0], warnings
    assert f"--alter --topic {topic} --partitions 3" in warnings[0], warnings
