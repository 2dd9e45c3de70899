"""The events topic deleted and created again under the same name, on the real broker and database.

The new topic's offsets start at 0 again while the table's positions are those of the old topic:
read as replays, the new topic's first events would be skipped without a word.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from producers.workload import WorkloadConfig, generate_events
from projector.rows import project_all
from schemas import JobEvent, dump_event
from tests.harness import ProjectorProcess, wait_for
from tests.scenarios import album_chain_with_failed_child

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

_COMPARED = ("status", "job_status", "retry_count", "failed_children", "parent_job_id", "is_root_job")


def _publish(bootstrap: str, topic: str, events: list[JobEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for e in events:
        producer.send(topic, key=e.root_job_id.encode(), value=dump_event(e))
    producer.flush(30)
    producer.close()


def _rows(db: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(db) as conn:
        cur = conn.execute(f"SELECT job_id, {', '.join(_COMPARED)} FROM enrichment_logs WHERE fold_state IS NOT NULL")
        names = [d.name for d in cur.description or ()]
        return {r[0]: dict(zip(names[1:], r[1:], strict=True)) for r in cur.fetchall()}


def _positions(db: str, topic: str) -> dict[int, int]:
    with psycopg.connect(db) as conn:
        return dict(conn.execute("SELECT partition, next_offset FROM enrichment_log_positions WHERE topic = %s",
                                 (topic,)).fetchall())


def _expected(events: list[JobEvent]) -> dict[str, dict[str, Any]]:
    return {j: {c: getattr(r, c) for c in _COMPARED} for j, r in project_all(events).items()}


def _recreate(bootstrap: str, topic: str, partitions: int) -> None:
    """Delete `topic` and create it again with the same name (the broker gives it a new topic id)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
        wait_for(lambda: topic not in admin.list_topics(), timeout=60, what=f"{topic} deleted")

        def created() -> bool:
            try:
                admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
            except TopicAlreadyExistsError:  # a running consumer's metadata request made the broker create it
                return True
            except KafkaError:  # the deletion is still being completed on the broker
                return False
            return True

        wait_for(created, timeout=60, what=f"{topic} created again")
    finally:
        admin.close()


def test_a_topic_deleted_and_created_again_has_every_event_folded(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    """Positions of the old topic must not hide the new topic's events: the new topic holds more
    events than the old one did, so that a check of positions against the end offsets alone would
    not notice either."""
    _, old = album_chain_with_failed_child()
    _publish(kafka_bootstrap, topic, old)
    wait_for(lambda: _rows(db) == _expected(old), timeout=90, what="the old topic's rows")
    assert projector.stop() == 0
    old_positions = _positions(db, topic)

    _recreate(kafka_bootstrap, topic, partitions=3)
    new = list(generate_events(WorkloadConfig(chains=12, seed=5, run_id=f"new{uuid.uuid4().hex[:6]}")))
    _publish(kafka_bootstrap, topic, new)
    projector.start()
    expected = {**_expected(old), **_expected(new)}
    try:
        wait_for(lambda: _rows(db) == expected, timeout=90, what="every row of the old and the new topic")
    except AssertionError:
        rows = _rows(db)
        missing = sorted(set(expected) - set(rows))
        wrong = sorted(j for j in expected if j in rows and rows[j] != expected[j])
        raise AssertionError(f"{len(missing)} of {len(expected)} rows missing (e.g. {missing[:3]}), "
                             f"{len(wrong)} differ (e.g. {wrong[:3]}); positions of the old topic "
                             f"{old_positions}, now {_positions(db, topic)}") from None
    assert projector.running()


def test_a_topic_deleted_and_created_again_while_the_projector_runs_has_every_event_folded(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    """The same, under a running projector: whether it folds on or stops and is started again by its
    supervisor, no event of the new topic may be skipped. (Without the topic watch, the projector
    mostly ran on folding nothing, its offset commits failing on the unknown topic; at times aiokafka
    crashed it, and the restart folded everything. The broker's auto-creation, asked by the
    projector's own consumer, may create the topic again first, with 1 partition.)"""
    _, old = album_chain_with_failed_child()
    _publish(kafka_bootstrap, topic, old)
    wait_for(lambda: _rows(db) == _expected(old), timeout=90, what="the old topic's rows")
    old_positions = _positions(db, topic)

    _recreate(kafka_bootstrap, topic, partitions=3)
    new = list(generate_events(WorkloadConfig(chains=12, seed=5, run_id=f"new{uuid.uuid4().hex[:6]}")))
    _publish(kafka_bootstrap, topic, new)
    expected = {**_expected(old), **_expected(new)}

    def folded() -> bool:
        if not projector.running():  # as a supervisor would
            projector.start()
        return _rows(db) == expected

    try:
        wait_for(folded, timeout=90, what="every row of the old and the new topic")
    except AssertionError:
        rows = _rows(db)
        missing = sorted(set(expected) - set(rows))
        raise AssertionError(f"{len(missing)} of {len(expected)} rows missing (e.g. {missing[:3]}); positions "
                             f"of the old topic {old_positions}, now {_positions(db, topic)}:\n"
                             f"{projector.log()}") from None


def test_a_topic_deleted_under_the_projector_is_not_created_again_by_its_consumer(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    """The broker auto-creates a topic that a client's metadata request names (the local services
    allow it, with 1 partition): the projector's consumer must never ask it to. The topic watch stops
    the projector (exit 1) once the topic is gone; the start-up, not the consumer, creates it again."""
    _, events = album_chain_with_failed_child()
    _publish(kafka_bootstrap, topic, events)
    wait_for(lambda: _rows(db) == _expected(events), timeout=90, what="the topic's rows")

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_topics([topic])
        wait_for(lambda: topic not in admin.list_topics(), timeout=60, what=f"{topic} deleted")

        def stopped_or_recreated() -> bool:
            return not projector.running() or topic in admin.list_topics()

        wait_for(stopped_or_recreated, timeout=60, what="the projector to stop or the topic to reappear")
        assert topic not in admin.list_topics(), \
            f"{topic} was created again while only the projector ran:\n{projector.log()}"
        assert projector.proc is not None and projector.proc.wait(30) == 1
        assert topic not in admin.list_topics()
    finally:
        admin.close()
