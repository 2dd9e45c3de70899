"""The Kafka side of the start-up's offset reconciliation (projector.offsets decides): a consumer
group's committed offsets on one topic, the topic's first and end offsets, and rewinding them.

A kafka-python consumer that joins no group (it only reads and commits the group's offsets), made
as the projector's own consumer is: it never makes the broker create the topic.
"""

from __future__ import annotations

import uuid
from typing import Any

from projector.errors import ProjectorError
from projector.topics import Kafka, topic_id
from schemas.kafka_connection import as_connection


class CommitRefused(ProjectorError):
    """The broker refused to commit the group's offsets; `cause` is its error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class GroupOffsets:
    """Offsets of consumer group `group` on `topic` (per partition number). Close it (or use it in a
    `with`) when done."""

    def __init__(self, kafka: Kafka, topic: str, group: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.kafka, self.topic, self.group = kafka, topic, group
        self._consumer = KafkaConsumer(**as_connection(kafka).kafka_python(), group_id=group,
                                       enable_auto_commit=False, allow_auto_create_topics=False)
        try:
            partitions = self._consumer.partitions_for_topic(topic) or set()
        except BaseException:
            self._consumer.close()
            raise
        self._tps: list[Any] = [TopicPartition(topic, p) for p in sorted(partitions)]

    def __enter__(self) -> GroupOffsets:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._consumer.close()

    @property
    def partitions(self) -> list[int]:
        return [tp.partition for tp in self._tps]

    def committed(self) -> dict[int, int | None]:
        """The group's committed offset per partition (None: none committed)."""
        return {tp.partition: self._consumer.committed(tp) for tp in self._tps}

    def topic_id(self) -> uuid.UUID | None:
        """The topic's id (KIP-516) as the broker gives it now, None if it gives none."""
        return topic_id(self.kafka, self.topic)

    def end_offsets(self) -> dict[int, int]:
        return {tp.partition: o for tp, o in self._consumer.end_offsets(self._tps).items()} if self._tps else {}

    def first_offsets(self) -> dict[int, int]:
        return {tp.partition: o for tp, o in self._consumer.beginning_offsets(self._tps).items()} if self._tps else {}

    def commit(self, offsets: dict[int, int]) -> None:
        """Commit these offsets (partition -> offset) for the group; CommitRefused if the broker refuses."""
        from kafka import TopicPartition
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        try:
            self._consumer.commit({TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                                   for p, o in offsets.items()})
        except KafkaError as exc:
            raise CommitRefused(exc) from exc
