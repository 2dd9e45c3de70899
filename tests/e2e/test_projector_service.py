"""Processors -> Kafka -> the projector service -> rows in PostgreSQL, on the real broker and database."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer

from schemas import JobEvent, JobType, dump_event
from tests.harness import ProjectorProcess, wait_for
from tests.scenarios import Chain, album_chain_with_failed_child

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _send(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush(30)
    producer.close()


def _publish(bootstrap: str, topic: str, events: list[JobEvent]) -> None:
    _send(bootstrap, topic, [(e.root_job_id.encode(), dump_event(e)) for e in events])


def _rows(db: str, where: str = "fold_state IS NOT NULL", params: tuple[Any, ...] = ()) -> dict[str, dict[str, Any]]:
    with psycopg.connect(db) as conn:
        cur = conn.execute(f"SELECT * FROM enrichment_logs WHERE {where}", params)
        names = [d.name for d in cur.description or ()]
        return {r[names.index("job_id")]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def _rows_when(db: str, count: int, **status: str) -> dict[str, dict[str, Any]]:
    def ready() -> dict[str, dict[str, Any]] | None:
        rows = _rows(db)
        ok = len(rows) >= count and all(rows.get(j, {}).get("status") == s for j, s in status.items())
        return rows if ok else None

    return wait_for(ready, timeout=90, what=f"{count} rows with {status}")


def test_retries_then_success_and_permanent_failure_mark_root_partial(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    c, events = album_chain_with_failed_child()
    _publish(kafka_bootstrap, topic, events)
    rows = _rows_when(db, 3, **{c.root_id: "PARTIAL", f"{c.root_id}/cover": "FAILED"})
    enrich, cover, root = rows[f"{c.root_id}/enrich"], rows[f"{c.root_id}/cover"], rows[c.root_id]
    assert (enrich["status"], enrich["retry_count"], enrich["last_error_code"]) == ("SUCCESS", 2, "HTTP_429")
    assert (cover["retry_count"], cover["error_code"]) == (1, "IMAGE_FETCH_FAILED")
    assert (root["is_root_job"], root["job_status"], root["failed_children"]) == (True, "SUCCESS", 1)
    assert enrich["parent_job_id"] == cover["parent_job_id"] == c.root_id
    assert projector.running()


def test_child_failure_before_root_and_duplicates(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    c = Chain()
    child = c.child(JobType.CACHE_ALBUM_COVER_ART, "cover")
    first = [c.started(child), c.failed(child, 1)]
    _publish(kafka_bootstrap, topic, first + first)  # delivered twice
    wait_for(lambda: _rows(db).get(child, {}).get("status") == "FAILED", what="child row")
    assert c.root_id not in _rows(db)
    root_events = [c.started(c.root_id), c.finished(c.root_id)]
    _publish(kafka_bootstrap, topic, root_events + root_events[:1])
    rows = _rows_when(db, 2, **{c.root_id: "PARTIAL"})
    assert rows[child]["retry_count"] == 0 and rows[c.root_id]["failed_children"] == 1
    assert len(rows[child]["attempts"]) == 1


def test_standalone_job_is_a_root_and_legacy_rows_are_untouched(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    c = Chain(root_type=JobType.ENRICH_ARTIST)
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO enrichment_logs (entity_type, entity_id, operation, status, job_id, is_root_job)"
            " VALUES ('ARTIST', gen_random_uuid(), 'ENRICH_ARTIST', 'COMPLETED', %s, true),"
            "        ('ARTIST', gen_random_uuid(), 'ENRICH_ARTIST', 'FAILED', NULL, true)", (c.root_id,))
        legacy_before = conn.execute("SELECT * FROM enrichment_logs ORDER BY id").fetchall()
    _publish(kafka_bootstrap, topic, [c.started(c.root_id), c.finished(c.root_id)])
    rows = _rows_when(db, 1, **{c.root_id: "SUCCESS"})
    assert rows[c.root_id]["is_root_job"] and rows[c.root_id]["parent_job_id"] is None
    with psycopg.connect(db) as conn:
        legacy_after = conn.execute("SELECT * FROM enrichment_logs WHERE fold_state IS NULL ORDER BY id").fetchall()
    assert legacy_after == legacy_before


BAD = {
    "undecodable": b"\xff\xfe\xfa binary",
    "invalid-json": b'{"kind": "job.started", ',
    "schema": b'{"kind": "job.started", "jobId": "x"}',
    "unknown-job-type": None,  # filled below from a valid event
    "unsupported-version": None,
}


def test_each_bad_input_kind_lands_in_the_dead_letter_topic(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    c, events = album_chain_with_failed_child()
    valid = dump_event(events[0])
    bad = dict(BAD)
    bad["unknown-job-type"] = valid.replace(b"CHECK_ALBUM_ENRICHMENT", b"ENRICH_PODCAST")
    bad["unsupported-version"] = valid.replace(b'"schemaVersion":"1.0"', b'"schemaVersion":"2.0"')
    messages: list[tuple[bytes | None, bytes | None]] = [(b"bad-" + k.encode(), v) for k, v in bad.items()]
    _send(kafka_bootstrap, topic, messages)
    _publish(kafka_bootstrap, topic, events)  # the stream goes on after the bad ones
    _rows_when(db, 3, **{c.root_id: "PARTIAL"})

    consumer = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=1000, group_id=None)
    got: dict[bytes, Any] = {}
    wait_for(lambda: got.update({m.key: m for m in consumer}) or len(got) >= len(bad), timeout=60,
             what="dead letters")
    consumer.close()
    assert set(got) == {b"bad-" + k.encode() for k in bad}
    for name, value in bad.items():
        message = got[b"bad-" + name.encode()]
        headers = dict(message.headers)
        assert message.value == value  # original bytes
        assert headers["dlq.topic"] == topic.encode() and int(headers["dlq.offset"]) >= 0
        assert headers["dlq.reason"] in (b"undecodable", b"invalid-json", b"schema", b"unsupported-version")
        assert headers["dlq.error"] and headers["dlq.at"]
    assert b"jobType" in dict(got[b"bad-unknown-job-type"].headers)["dlq.error"]


def test_sigterm_stops_cleanly_and_restart_resumes(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    c, events = album_chain_with_failed_child()
    _publish(kafka_bootstrap, topic, events[:6])
    wait_for(lambda: len(_rows(db)) >= 2, what="first rows")
    assert projector.stop() == 0
    _publish(kafka_bootstrap, topic, events[6:])
    projector.start()
    rows = _rows_when(db, 3, **{c.root_id: "PARTIAL"})
    assert rows[f"{c.root_id}/enrich"]["retry_count"] == 2


@pytest.mark.parametrize("compression", ["lz4", "zstd", "snappy", "gzip", "none"])
def test_events_from_the_producer_library_with_each_compression_are_projected(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str, compression: str
) -> None:
    """The processors' real path: Reporter -> KafkaPublisher (kafka-python, compressed) -> projector."""
    from producers import KafkaPublisher, ProducerSettings
    from producers.workload import WorkloadConfig, run_workload

    settings = ProducerSettings(bootstrap_servers=kafka_bootstrap, topic=topic,  # type: ignore[call-arg]
                                compression_type=compression)
    with KafkaPublisher(settings) as publisher:
        summary = run_workload(WorkloadConfig(chains=20, seed=3, run_id=f"c-{compression}"), publisher)
        publisher.flush(30)
        assert publisher.stats.failed == 0
    wait_for(lambda: len(_rows(db)) >= summary.jobs, timeout=90, what=f"{summary.jobs} rows")
    assert len(_rows(db)) == summary.jobs


def test_a_new_database_given_an_old_consumer_group_gets_every_event(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str, postgres_url: str,
    migrated_template: str, tmp_path: Any,
) -> None:
    """Kafka's committed offsets are ahead of a fresh (or restored) database: they are rewound."""
    from projector.rebuild import check
    from tests.conftest import create_database, drop_database

    c, events = album_chain_with_failed_child()
    _publish(kafka_bootstrap, topic, events)
    _rows_when(db, 3, **{c.root_id: "PARTIAL"})
    assert projector.stop() == 0  # Kafka now has committed offsets for the group
    restored = create_database(postgres_url, template=migrated_template)
    try:
        again = ProjectorProcess({**projector.env, "DATABASE_URL": restored}, tmp_path / "second.log").start()
        try:
            rows = _rows_when(restored, 3, **{c.root_id: "PARTIAL"})
            assert rows[f"{c.root_id}/enrich"]["retry_count"] == 2
        finally:
            again.kill()
        report = check(restored, kafka_bootstrap, topic, consumer=f"group-{topic}")
        assert report.ok and report.rows_compared == 3, report.summary()
    finally:
        drop_database(postgres_url, restored)


def test_a_deployment_error_stops_the_projector_without_dead_lettering(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    """The ON CONFLICT index is gone: every batch fails. The projector must exit non-zero (even with
    no further traffic), must not advance its positions, and must not dead-letter the events."""
    _, events = album_chain_with_failed_child()
    _publish(kafka_bootstrap, topic, events[:4])
    wait_for(lambda: len(_rows(db)) >= 2, what="first rows")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DROP INDEX enrichment_logs_projected_job_key")
        before = conn.execute("SELECT sum(next_offset) FROM enrichment_log_positions").fetchone()
    _publish(kafka_bootstrap, topic, events[4:])
    assert projector.proc is not None
    wait_for(lambda: projector.proc.poll() is not None, timeout=90, what="the projector to stop")  # type: ignore[union-attr]
    assert projector.proc.returncode != 0
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT sum(next_offset) FROM enrichment_log_positions").fetchone() == before
    consumer = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000, group_id=None)
    assert list(consumer) == []
    consumer.close()


def test_sigterm_during_start_up_exits_0(projector_env: dict[str, str], tmp_path: Any) -> None:
    """A deploy can stop the projector while it is still starting (here: stuck connecting to a
    broker that never answers): status 0, nothing was in flight, not death by the signal."""
    import socket

    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    env = {**projector_env, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{silent.getsockname()[1]}"}
    early = ProjectorProcess(env, tmp_path / "startup.log").start()
    try:
        wait_for(early.catches_sigterm, timeout=60, what="the projector's start-up")
        time.sleep(1.0)  # well into the start-up: waiting for the broker's first answer
        assert early.running()
        assert early.stop() == 0
    finally:
        early.kill()
        silent.close()


@pytest.mark.parametrize("level", ["INFO", "WARNING"])
def test_logs_are_json_lines_at_the_configured_level(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Any, level: str
) -> None:
    """Faust's worker must not take logging over: no second, plain-text handler, no terminal
    spinner, and nothing below the configured level (at WARNING, Faust used to lower the root
    logger to DEBUG so that its spinner turned on every record: every debug line was built)."""
    env = {**projector_env, "ENRICHLOG_LOG_FORMAT": "json", "ENRICHLOG_LOG_LEVEL": level}
    proc = ProjectorProcess(env, tmp_path / "json.log").start()
    try:
        _send(kafka_bootstrap, topic, [(b"bad", b"\xff not json")])  # dead-lettered: a WARNING
        c, events = album_chain_with_failed_child()
        _publish(kafka_bootstrap, topic, events)
        _rows_when(db, 3, **{c.root_id: "PARTIAL"})
        assert proc.stop() == 0
    finally:
        proc.kill()
    lines = (tmp_path / "json.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line, or this raises on the first other
    levels = {r["level"] for r in records}
    assert "WARNING" in levels and any(r["msg"] == "dead-lettered message" for r in records)
    wanted = {"INFO", "WARNING", "ERROR", "CRITICAL"} if level == "INFO" else {"WARNING", "ERROR", "CRITICAL"}
    assert levels <= wanted
    if level == "INFO":  # Faust's own lifecycle lines come through our formatter too
        assert any(r["logger"].startswith(("faust", "mode")) for r in records)
