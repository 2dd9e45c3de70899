"""The dead-letter writer against the real broker: a batch's many dead letters go at once, none lost."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from projector.deadletter import DeadLetter, RawMessage
from projector.kafka.deadletter import KafkaDeadLetters
from projector.metrics import Metrics
from tests.harness import wait_for

pytestmark = [pytest.mark.kafka]


def test_many_dead_letters_at_once_with_oversize_ones_among_them_all_arrive(kafka_bootstrap: str) -> None:
    topic = f"dlq-many-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(f"{topic}.dlq", 3, 1, topic_configs={"max.message.bytes": "50000"})])
    admin.close()
    oversize = {7, 1500, 2999}  # over the topic's 50,000 bytes, among small ones on the same partitions
    values = [b"\xff" + b"x" * (60_000 if i in oversize else 200) for i in range(3000)]
    letters = [DeadLetter(RawMessage(topic, i % 3, i, f"k{i}".encode(), v), "undecodable", "value is not UTF-8 text")
               for i, v in enumerate(values)]
    metrics = Metrics()
    sink = KafkaDeadLetters(kafka_bootstrap, f"{topic}.dlq", metrics=metrics)

    async def send() -> None:
        try:
            await sink.send_all(letters)
        finally:
            await sink.close()

    asyncio.run(send())
    assert sink.limits is not None and sink.limits.record_bytes == 50_000
    assert metrics.dead_letters_reduced._value.get() == len(oversize)
    consumer = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=500, group_id=None)
    got: dict[int, dict[str, bytes]] = {}
    wait_for(lambda: got.update({int(dict(m.headers)["dlq.offset"]): dict(m.headers) for m in consumer})
             or len(got) >= len(letters), timeout=60, what="every dead letter")
    consumer.close()
    assert sorted(got) == list(range(3000))
    assert {i for i, h in got.items() if h.get("dlq.reduced") == b"true"} == oversize
