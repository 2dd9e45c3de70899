"""The projector's topics on the broker: do they exist, with how many partitions; creating them.

Everything here asks the broker with a bounded wait (`timeout_s`) and never makes it create a topic
by asking about it (metadata requests of the admin client do not auto-create; a consumer's do).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from projector.errors import ProjectorError
from projector.unreachable import kafka_failed, kafka_no_reply
from schemas.kafka_connection import KafkaConnection, as_connection

Kafka = KafkaConnection | str  # a connection, or the bootstrap servers of a plaintext one

_UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION


class KafkaUnavailable(ProjectorError):
    """The broker did not answer in time."""


@dataclass(frozen=True)
class TopicPartitions:
    """A topic's partition count on the broker beside the configured one (None: no such topic)."""

    topic: str
    found: int | None
    configured: int

    @property
    def too_few(self) -> bool:
        return self.found is not None and self.found < self.configured

    def alter_command(self, bootstrap: str) -> str:
        return (f"kafka-topics.sh --bootstrap-server {bootstrap} --alter --topic {self.topic} "
                f"--partitions {self.configured}")

    def describe(self, bootstrap: str) -> str:
        """One line: what was found and, when it is not as configured, what to do."""
        if self.found is None:
            return (f"topic {self.topic} does not exist: the projector creates it with {self.configured} "
                    f"partitions when it starts, if no producer made the broker create it first")
        if self.too_few:
            return (f"topic {self.topic} has {self.found} partition{'s' if self.found != 1 else ''} but "
                    f"ENRICHLOG_TOPIC_PARTITIONS is {self.configured}: at most {self.found} projector "
                    f"process{'es' if self.found != 1 else ''} can fold it; add partitions with "
                    f"`{self.alter_command(bootstrap)}`")
        return f"topic {self.topic}: {self.found} partitions (ENRICHLOG_TOPIC_PARTITIONS {self.configured})"


def admin_client(kafka: Kafka, timeout_s: float) -> Any:
    """A kafka-python admin client; KafkaUnavailable when the broker does not answer in time."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    connection = as_connection(kafka)
    bootstrap = connection.bootstrap_servers
    ms = int(timeout_s * 1000)
    try:
        return KafkaAdminClient(**connection.kafka_python(), bootstrap_timeout_ms=ms, request_timeout_ms=ms,
                                reconnect_backoff_max_ms=1000)
    except KafkaError as exc:
        raise KafkaUnavailable(kafka_no_reply(bootstrap, timeout_s, "fetch the cluster's metadata")) from exc


def partition_counts(kafka: Kafka, topics: list[str], timeout_s: float = 10.0) -> dict[str, int | None]:
    """Each topic's partition count, None for a topic that does not exist."""
    from kafka.errors import KafkaError

    bootstrap = as_connection(kafka).bootstrap_servers
    admin = admin_client(kafka, timeout_s)
    try:
        described = admin.describe_topics(topics)
    except KafkaError as exc:
        raise KafkaUnavailable(kafka_failed(bootstrap, timeout_s, f"describe topics {', '.join(topics)}", exc)) from exc
    finally:
        admin.close()
    out: dict[str, int | None] = dict.fromkeys(topics)
    for t in described:
        if t["error_code"] == 0:
            out[t["name"]] = len(t["partitions"])
        elif t["error_code"] != _UNKNOWN_TOPIC:
            raise ProjectorError(f"Kafka at {bootstrap} cannot describe topic {t['name']} (error code "
                                 f"{t['error_code']})")
    return out


def create(kafka: Kafka, topics: list[str], partitions: int, timeout_s: float = 10.0) -> None:
    """Create `topics` with `partitions` partitions each; one that exists meanwhile is left as it is."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = admin_client(kafka, timeout_s)
    try:
        with contextlib.suppress(TopicAlreadyExistsError):  # another projector was faster
            admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics])
    finally:
        admin.close()


def topic_id(kafka: Kafka, topic: str, timeout_s: float = 10.0) -> uuid.UUID | None:
    """The topic's id (KIP-516: a topic deleted and created again under the same name gets a new
    one); None when the broker or the client does not say, or the topic does not exist."""
    admin = admin_client(kafka, timeout_s)
    try:
        return described_topic_id(admin, as_connection(kafka).bootstrap_servers, topic, timeout_s)
    finally:
        admin.close()


def described_topic_id(admin: Any, bootstrap: str, topic: str, timeout_s: float) -> uuid.UUID | None:
    """`topic_id` through an admin client the caller keeps (`admin_client`), as a watch that asks
    every few seconds does: a client per question would connect (and log it) every time."""
    from kafka.errors import KafkaError

    try:
        described = admin.describe_topics([topic])
    except KafkaError as exc:
        raise KafkaUnavailable(kafka_failed(bootstrap, timeout_s, f"describe topic {topic}", exc)) from exc
    [t] = [t for t in described if t["name"] == topic] or [{"error_code": _UNKNOWN_TOPIC}]
    if t["error_code"] == _UNKNOWN_TOPIC:
        return None
    if t["error_code"] != 0:
        raise ProjectorError(f"Kafka at {bootstrap} cannot describe topic {topic} (error code {t['error_code']})")
    found = t.get("topic_id")
    if found is None or uuid.UUID(str(found)).int == 0:  # the zero id: a broker without topic ids
        return None
    return uuid.UUID(str(found))
