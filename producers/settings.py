"""Configuration of the producer, read once from the environment and passed down.

The connection settings are those of every deployable (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_*, KAFKA_SSL_*: schemas.kafka_connection, inherited); the topic is ENRICHLOG_EVENTS_TOPIC;
producer tuning is ENRICHLOG_PRODUCER_*. Each field's environment name is its validation alias,
so a validation error names the variable (`ENRICHLOG_PRODUCER_LINGER_MS: Input should be ...`).
Fields can also be passed by name in code: `ProducerSettings(bootstrap_servers="...")`.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from schemas.kafka_connection import KafkaConnection
from schemas.topic_names import topic_name_problem

_P = "ENRICHLOG_PRODUCER_"


def _env(name: str, default: Any, **constraints: Any) -> Any:
    return Field(default, validation_alias=name, **constraints)


class ProducerSettings(KafkaConnection):
    """Everything the Kafka publisher needs. acks is always 'all' (not configurable)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    topic: str = _env("ENRICHLOG_EVENTS_TOPIC", "enrichment.job-events")
    client_id: str = _env(f"{_P}CLIENT_ID", "enrichlog-producer", min_length=1, max_length=200)

    enable_idempotence: bool = _env(f"{_P}ENABLE_IDEMPOTENCE", True)
    compression_type: Literal["none", "gzip", "lz4", "zstd", "snappy"] = _env(
        f"{_P}COMPRESSION_TYPE", "lz4")
    linger_ms: int = _env(f"{_P}LINGER_MS", 20, ge=0, le=60_000)
    batch_size: int = _env(f"{_P}BATCH_SIZE", 262_144, ge=0, le=16 * 1024 * 1024)
    # The spool's bounds: events accepted but not yet acknowledged (the publisher's queue, those
    # taken back after a failed delivery, and kafka-python's batches), in bytes of key + value and
    # in events. While the broker is away events wait in it; a full spool drops (counted, logged).
    # kafka-python 3.x has no buffer_memory of its own; its copy of the records it holds adds up
    # to as much memory again.
    buffer_memory: int = _env(f"{_P}BUFFER_MEMORY", 32 * 1024 * 1024, ge=1024)
    spool_max_events: int = _env(f"{_P}SPOOL_MAX_EVENTS", 200_000, ge=1)
    max_block_ms: int = _env(f"{_P}MAX_BLOCK_MS", 500, ge=0, le=60_000)
    request_timeout_ms: int = _env(f"{_P}REQUEST_TIMEOUT_MS", 10_000, ge=100)
    delivery_timeout_ms: int = _env(f"{_P}DELIVERY_TIMEOUT_MS", 30_000, ge=100)
    close_timeout_ms: int = _env(f"{_P}CLOSE_TIMEOUT_MS", 10_000, ge=0)
    # kafka-python's reconnect backoff grows from the first to the second value (its own default
    # maximum, 30 s, outlasts a broker restart: the producer would stay away after the broker is back).
    reconnect_backoff_ms: int = _env(f"{_P}RECONNECT_BACKOFF_MS", 50, ge=1, le=10_000)
    reconnect_backoff_max_ms: int = _env(f"{_P}RECONNECT_BACKOFF_MAX_MS", 1000, ge=1, le=10_000)
    # The partitions of the events topic when `enrichlog produce` creates it (the projector's variable).
    topic_partitions: int = _env("ENRICHLOG_TOPIC_PARTITIONS", 6, ge=1, le=10_000)
    error_log_interval_s: float = _env(f"{_P}ERROR_LOG_INTERVAL_S", 30.0, ge=0)
    # The publisher's feeder appends straight to kafka-python's accumulator (see
    # producers.kafka_internals._FastAppend); false: one KafkaProducer.send per event, as before.
    fast_append: bool = _env(f"{_P}FAST_APPEND", True)

    @field_validator("topic")
    @classmethod
    def _kafka_topic_name(cls, v: str) -> str:
        problem = topic_name_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.reconnect_backoff_max_ms < self.reconnect_backoff_ms:
            raise ValueError(
                f"ENRICHLOG_PRODUCER_RECONNECT_BACKOFF_MAX_MS ({self.reconnect_backoff_max_ms}) must be at "
                f"least ENRICHLOG_PRODUCER_RECONNECT_BACKOFF_MS ({self.reconnect_backoff_ms})"
            )
        if self.delivery_timeout_ms < self.request_timeout_ms + self.linger_ms:
            raise ValueError(
                f"ENRICHLOG_PRODUCER_DELIVERY_TIMEOUT_MS ({self.delivery_timeout_ms}) must be at least "
                f"ENRICHLOG_PRODUCER_REQUEST_TIMEOUT_MS + ENRICHLOG_PRODUCER_LINGER_MS "
                f"({self.request_timeout_ms + self.linger_ms})"
            )
        return self

    def kafka_config(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer (secrets revealed only here)."""
        config: dict[str, Any] = {
            **self.admin_config(),
            "acks": "all",
            "enable_idempotence": self.enable_idempotence,
            "compression_type": None if self.compression_type == "none" else self.compression_type,
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_size,
            "max_block_ms": self.max_block_ms,
            "request_timeout_ms": self.request_timeout_ms,
            "delivery_timeout_ms": self.delivery_timeout_ms,
            "bootstrap_timeout_ms": self.request_timeout_ms,
            "allow_auto_create_topics": False,  # see producers.topics
        }
        return config

    def admin_config(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaAdminClient: the connection settings."""
        return {
            **self.kafka_python(),
            "client_id": self.client_id,
            "request_timeout_ms": self.request_timeout_ms,
            "bootstrap_timeout_ms": self.request_timeout_ms,  # kafka-python's admin default: 30 s
            "reconnect_backoff_ms": self.reconnect_backoff_ms,
            "reconnect_backoff_max_ms": self.reconnect_backoff_max_ms,
        }
