"""Dead letters: a message the projector cannot fold goes, bytes untouched, to the dead-letter topic.

Headers say why (`dlq.reason`, `dlq.error`), where from (`dlq.topic`, `dlq.partition`,
`dlq.offset`) and when (`dlq.at`); the original headers are kept. A write is acknowledged by all
in-sync replicas before the batch's positions are committed; if it fails, DeadLetterError stops
the projector rather than lose the message. A crash between the two re-sends the dead letter:
the dead-letter topic is at-least-once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from projector.errors import DeadLetterError


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


def raw_of_record(record: Any) -> RawMessage:
    """An aiokafka record (what the Faust agent is handed, in bulk) as a RawMessage: only a message
    that is dead-lettered is turned into one."""
    headers = tuple((k, v if isinstance(v, bytes) else bytes(v or b"")) for k, v in (record.headers or ()))
    return RawMessage(record.topic, record.partition, record.offset, record.key, record.value, headers,
                      record.timestamp)


class DeadLetterSink(Protocol):
    async def send(self, message: RawMessage, *, reason: str, error: str) -> None: ...

    async def close(self) -> None: ...


def dead_letter_headers(message: RawMessage, *, reason: str, error: str) -> list[tuple[str, bytes]]:
    return [
        *message.headers,
        ("dlq.reason", reason.encode()),
        ("dlq.error", error.encode()[:4000]),
        ("dlq.topic", message.topic.encode()),
        ("dlq.partition", str(message.partition).encode()),
        ("dlq.offset", str(message.offset).encode()),
        ("dlq.at", datetime.now(UTC).isoformat().encode()),
    ]


class KafkaDeadLetters:
    """Dead letters through an idempotent aiokafka producer (acks=all), started on first use."""

    def __init__(self, bootstrap_servers: str, topic: str, *, timeout_s: float = 30.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer = None

    async def _started(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=int(self.timeout_s * 1000),
            )
            await producer.start()
            self._producer = producer
        return self._producer

    async def send(self, message: RawMessage, *, reason: str, error: str) -> None:
        import asyncio

        try:
            producer = await asyncio.wait_for(self._started(), self.timeout_s)
            await asyncio.wait_for(
                producer.send_and_wait(
                    self.topic,
                    value=message.value,
                    key=message.key,
                    headers=dead_letter_headers(message, reason=reason, error=error),
                ),
                self.timeout_s,
            )
        except Exception as exc:
            raise DeadLetterError(
                f"could not write to dead-letter topic {self.topic!r}: {exc!r}",
                topic=message.topic, partition=message.partition, offset=message.offset,
            ) from exc

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class ListDeadLetters:
    """Dead letters kept in a list, for unit tests of the pipeline."""

    def __init__(self) -> None:
        self.sent: list[tuple[RawMessage, str, str]] = []

    async def send(self, message: RawMessage, *, reason: str, error: str) -> None:
        self.sent.append((message, reason, error))

    async def close(self) -> None:
        return None
