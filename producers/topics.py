"""The events topic as the broker describes it: does it exist, how many partitions, how large a record.

The producer library never relies on the broker's auto-creation (which would create the topic with
the broker's `num.partitions`, 1 on the local broker, capping the projector's scale-out for good):
its producer's metadata requests do not allow it, the publisher waits, saying so, while the topic
is missing, and `create_topic` (used by `enrichlog produce`) creates it with the configured
partitions through the admin API.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from producers.errors import TopicMissing
from producers.settings import ProducerSettings

# Kafka's default message.max.bytes: what a topic accepts when its own config cannot be read.
KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
_UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: int
    max_message_bytes: int  # the topic's max.message.bytes (its record batch limit)


def _admin(settings: ProducerSettings) -> KafkaAdminClient:
    return KafkaAdminClient(**settings.admin_config())


def _describe(admin: KafkaAdminClient, topic: str) -> TopicInfo | None:
    [described] = admin.describe_topics([topic])
    if described["error_code"] == _UNKNOWN_TOPIC or not described["partitions"]:
        return None
    limit = KAFKA_DEFAULT_MAX_MESSAGE_BYTES
    with contextlib.suppress(Exception):  # not allowed to read configs: the broker default
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs=["max.message.bytes"])
        entry: Any = admin.describe_configs([resource])["topic"][topic]["max.message.bytes"]
        limit = int(entry["value"])
    return TopicInfo(topic, len(described["partitions"]), limit)


def describe_topic(settings: ProducerSettings) -> TopicInfo:
    """The events topic's partitions and record limit; TopicMissing when it does not exist."""
    admin = _admin(settings)
    try:
        info = _describe(admin, settings.topic)
    finally:
        admin.close()
    if info is None:
        raise TopicMissing(settings.topic, settings.bootstrap_servers)
    return info


def create_topic(settings: ProducerSettings, partitions: int) -> tuple[TopicInfo, bool]:
    """The events topic, created with `partitions` when missing (replication: the broker's default).

    Returns the topic as it is and whether this call created it (a topic that exists already is
    left as it is, whatever its partition count).
    """
    admin = _admin(settings)
    try:
        info = _describe(admin, settings.topic)
        created = False
        if info is None:
            with contextlib.suppress(TopicAlreadyExistsError):  # someone else was faster
                admin.create_topics([NewTopic(settings.topic, partitions, -1)])
                created = True
            deadline = time.monotonic() + settings.request_timeout_ms / 1000
            while (info := _describe(admin, settings.topic)) is None and time.monotonic() < deadline:
                time.sleep(0.1)  # the new topic's metadata is not everywhere yet
    finally:
        admin.close()
    if info is None:
        raise TopicMissing(settings.topic, settings.bootstrap_servers)
    return info, created
