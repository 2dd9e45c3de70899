"""projector.offsets.reconcile on the real broker and database: positions of another topic are
dropped, positions of this topic are kept, committed offsets ahead of the table are rewound."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from projector.errors import ProjectorError
from projector.offsets import reconcile
from projector.topics import topic_id
from tests.harness import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the reconciliation logged: the clients' own records (kafka-python's warning that a task
    ran long, on a loaded machine) are not its."""
    return [r.getMessage() for r in caplog.records if r.name == "projector.offsets"]


def _create(bootstrap: str, topic: str, partitions: int = 2) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        def created() -> bool:
            try:
                admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
            except Exception:  # a deletion of the same name still being completed
                return False
            return True

        wait_for(created, timeout=60, what=f"{topic} created")
    finally:
        admin.close()


def _delete(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
        wait_for(lambda: topic not in admin.list_topics(), timeout=60, what=f"{topic} deleted")
    finally:
        admin.close()


def _publish(bootstrap: str, topic: str, partition: int, n: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(n):
        producer.send(topic, value=b"e%d" % i, partition=partition)
    producer.flush(30)
    producer.close()


def _set_positions(db: str, group: str, topic: str, positions: dict[int, int]) -> None:
    with psycopg.connect(db) as conn:
        for p, o in positions.items():
            conn.execute("INSERT INTO enrichment_log_positions (consumer, topic, partition, next_offset) "
                         "VALUES (%s, %s, %s, %s)", (group, topic, p, o))


def _positions(db: str, group: str, topic: str) -> dict[int, int]:
    with psycopg.connect(db) as conn:
        return dict(conn.execute("SELECT partition, next_offset FROM enrichment_log_positions "
                                 "WHERE consumer = %s AND topic = %s", (group, topic)).fetchall())


def _recorded_id(db: str, group: str, topic: str) -> uuid.UUID | None:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT topic_id FROM enrichment_log_topics WHERE consumer = %s AND topic = %s",
                           (group, topic)).fetchone()
    return row[0] if row else None


def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
    finally:
        consumer.close()


def test_positions_of_this_topic_are_kept_and_its_id_recorded(kafka_bootstrap: str, topic: str, db: str) -> None:
    group = f"g-{topic}"
    _create(kafka_bootstrap, topic)
    _publish(kafka_bootstrap, topic, 0, 5)
    _set_positions(db, group, topic, {0: 5, 1: 0})  # positions recorded before their topic id was
    assert reconcile(kafka_bootstrap, db, topic, group) == []
    assert _positions(db, group, topic) == {0: 5, 1: 0}
    assert _recorded_id(db, group, topic) == topic_id(kafka_bootstrap, topic) is not None
    assert reconcile(kafka_bootstrap, db, topic, group) == []
    assert _positions(db, group, topic) == {0: 5, 1: 0}


def test_positions_of_a_topic_created_again_are_dropped_even_below_its_end_offsets(
    kafka_bootstrap: str, topic: str, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    group = f"g-{topic}"
    _create(kafka_bootstrap, topic)
    _publish(kafka_bootstrap, topic, 0, 5)
    reconcile(kafka_bootstrap, db, topic, group)
    old_id = _recorded_id(db, group, topic)
    _set_positions(db, group, topic, {0: 5})
    _delete(kafka_bootstrap, topic)
    _create(kafka_bootstrap, topic)
    _publish(kafka_bootstrap, topic, 0, 12)  # more than the old topic held: only the id tells them apart
    with caplog.at_level(logging.WARNING, logger="projector.offsets"):
        reconcile(kafka_bootstrap, db, topic, group)
    assert _positions(db, group, topic) == {}
    new_id = _recorded_id(db, group, topic)
    assert new_id == topic_id(kafka_bootstrap, topic) and new_id != old_id
    [warning] = _said(caplog)
    assert f"topic {topic} was deleted and created again" in warning and "partition 0: 5" in warning
    assert str(old_id) in warning and str(new_id) in warning


def test_positions_past_the_end_offsets_are_dropped_and_committed_offsets_rewound(
    kafka_bootstrap: str, topic: str, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No topic id recorded yet (positions from before it was), a position past its partition's end
    and one of a partition the topic does not have: another topic's positions."""
    group = f"g-{topic}"
    _create(kafka_bootstrap, topic)
    _publish(kafka_bootstrap, topic, 1, 3)
    _set_positions(db, group, topic, {0: 40, 1: 3, 5: 7})
    _commit(kafka_bootstrap, group, topic, {1: 3})
    with caplog.at_level(logging.WARNING, logger="projector.offsets"):
        rewinds = reconcile(kafka_bootstrap, db, topic, group)
    assert _positions(db, group, topic) == {}
    assert [(r.partition, r.kafka_offset, r.table_position) for r in rewinds] == [(1, 3, 0)]
    assert _recorded_id(db, group, topic) == topic_id(kafka_bootstrap, topic)
    dropped = _said(caplog)[0]
    assert "partition 0: position 40, end offset 0" in dropped
    assert "partition 5: position 7, end offset none (no such partition)" in dropped
    assert "partition 1" not in dropped.split("(", 1)[1].split(")", 1)[0]


def test_a_database_without_the_topic_ids_table_is_told_to_migrate(
    kafka_bootstrap: str, topic: str, db: str
) -> None:
    _create(kafka_bootstrap, topic)
    with psycopg.connect(db) as conn:
        conn.execute("DROP TABLE enrichment_log_topics")
    with pytest.raises(ProjectorError, match=r"enrichment_log_topics.*enrichlog migrate"):
        reconcile(kafka_bootstrap, db, topic, f"g-{topic}")


def test_events_deleted_before_they_were_folded_are_reported_with_their_offsets(
    kafka_bootstrap: str, topic: str, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    group = f"g-{topic}"
    _create(kafka_bootstrap, topic)
    _publish(kafka_bootstrap, topic, 0, 10)
    _publish(kafka_bootstrap, topic, 1, 4)
    _set_positions(db, group, topic, {0: 3, 1: 4})
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 0): 7, TopicPartition(topic, 1): 2})  # as retention does
    finally:
        admin.close()
    with caplog.at_level(logging.WARNING, logger="projector.offsets"):
        reconcile(kafka_bootstrap, db, topic, group)
    assert _positions(db, group, topic) == {0: 3, 1: 4}  # the rest of the topic is folded as before
    [lost] = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "projector.offsets"]
    assert f"events of topic {topic} were deleted before consumer {group!r} folded them" in lost.getMessage()
    assert "partition 0: offsets 3 to 6 (4 events)" in lost.getMessage() and "partition 1" not in lost.getMessage()
