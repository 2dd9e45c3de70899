"""The dead-letter topic's writer: an aiokafka producer held to the topic's own size limit.

1. Limits: before the first write, and again after the broker refused a record as too large, the
   dead-letter topic's `max.message.bytes` and the brokers' `message.max.bytes` are read
   (describe_configs). The topic's value is what Kafka enforces for it (it is the broker's unless
   the topic overrides it); the brokers' smallest is used when the topic's cannot be read. The
   producer's own checks (`max_request_size`, `max_batch_size`) are set from it, never left at
   the client's defaults, and each dead letter is fitted to it (`deadletter.dead_letter_record`).
2. Every dead letter of a batch is handed to the producer at once, then all are awaited (acks=all).
3. A record the broker still refuses as too large (the topic's limit was lowered meanwhile): the
   limits are read again and it is sent again, fitted to them.
4. Anything else that keeps a dead letter from being written (the broker gone, a timeout, no
   leader, not enough in-sync replicas, a denied write) halts the batch: it is retried with a
   bounded backoff, without end and without committing, so offsets do not advance; each failed try
   is logged and counted, and `enrichlog_dead_letter_blocked` is 1 meanwhile. It goes on by
   itself once the topic can be written.

The producer is not idempotent: an idempotent aiokafka producer never expires a batch, so with the
broker gone its futures and its `stop()` would wait without end. Retries are the writer's own, and
one may duplicate a dead letter, as a crash between writing and committing already does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from projector.deadletter import DeadLetter, Record, dead_letter_record
from projector.errors import DeadLetterError
from projector.metrics import Metrics
from schemas.kafka_connection import KafkaConnection, as_connection

log = logging.getLogger("projector.deadletter")

_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)
_UNWRITABLE = (KafkaError, OSError, TimeoutError)  # TimeoutError is asyncio's too
# aiokafka's own size check adds up to this many bytes of record overhead to what a record really
# takes (DefaultRecordBatchBuilder.MAX_RECORD_OVERHEAD): the broker's limit is the one that holds.
_CLIENT_ESTIMATE_SLACK = 21
_MAX_BATCH_BYTES = 16384  # aiokafka's default batch size, kept when the limit allows it


@dataclass(frozen=True, slots=True)
class Limits:
    """The largest record batch the dead-letter topic takes, and where that figure came from."""

    record_bytes: int
    topic_max_message_bytes: int | None
    broker_message_max_bytes: int | None


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between tries while the dead-letter topic cannot be written: first, then doubling to max."""

    first_s: float = 0.5
    max_s: float = 5.0


async def read_limits(kafka: KafkaConnection | str, topic: str, timeout_s: float) -> Limits:
    """The dead-letter topic's `max.message.bytes` and the brokers' `message.max.bytes`."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(**as_connection(kafka).aiokafka(), request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        brokers = [str(b["node_id"]) for b in (await admin.describe_cluster())["brokers"]]
        responses = await admin.describe_configs([
            ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None}),
            *(ConfigResource(ConfigResourceType.BROKER, b, {"message.max.bytes": None}) for b in brokers),
        ])
    finally:
        await admin.close()
    found: dict[str, list[int]] = {}
    for response in responses:
        for error_code, _message, _type, _name, entries, *_ in response.resources:
            if error_code == 0:
                for name, value, *_ in entries:
                    found.setdefault(name, []).append(int(value))
    topic_bytes = min(found.get("max.message.bytes", []), default=None)
    broker_bytes = min(found.get("message.max.bytes", []), default=None)
    record_bytes = topic_bytes if topic_bytes is not None else broker_bytes
    if record_bytes is None:
        raise KafkaError(f"could not read max.message.bytes of {topic!r} nor message.max.bytes of its brokers")
    return Limits(record_bytes, topic_bytes, broker_bytes)


class KafkaDeadLetters:
    """Dead letters through an aiokafka producer (acks=all), started on first use."""

    def __init__(
        self,
        kafka: KafkaConnection | str,
        topic: str,
        *,
        metrics: Metrics | None = None,
        timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.kafka = as_connection(kafka)
        self.topic = topic
        self.metrics = metrics or Metrics()
        self.timeout_s = timeout_s
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._producer: Any = None
        self.limits: Limits | None = None

    async def send_all(self, letters: Sequence[DeadLetter]) -> None:
        """Write every letter, whole or reduced; return once all are acknowledged (see the module's
        docstring: while the topic cannot be written, this waits)."""
        todo, refusals = list(range(len(letters))), dict[int, int]()
        delay, blocked_since = self.backoff.first_s, None
        try:
            while todo:
                try:
                    todo, error = await self._attempt(letters, todo, refusals)
                except _UNWRITABLE as exc:
                    error = exc
                except DeadLetterError:
                    raise
                except Exception as exc:  # not the topic's state: a bug, do not retry it without end
                    first = letters[todo[0]].message
                    raise DeadLetterError(f"could not write to dead-letter topic {self.topic!r}: {exc!r}",
                                          topic=first.topic, partition=first.partition, offset=first.offset) from exc
                if error is None:
                    continue  # refused as too large: sent again at once, fitted to the limits read again
                if blocked_since is None:
                    blocked_since = time.monotonic()
                    self.metrics.dead_letter_blocked.set(1)
                self.metrics.dead_letter_errors.labels(kind="unavailable").inc()
                first = letters[todo[0]].message
                log.warning("dead-letter topic cannot be written; the batch waits, offsets not advanced",
                            extra={"dlq_topic": self.topic, "error": repr(error), "retry_in_s": delay,
                                   "waiting": len(todo), "blocked_s": round(time.monotonic() - blocked_since, 1),
                                   "topic": first.topic, "partition": first.partition, "offset": first.offset})
                await self._reset()
                await self._sleep(delay)
                delay = min(delay * 2, self.backoff.max_s)
        finally:
            if blocked_since is not None:
                self.metrics.dead_letter_blocked.set(0)
        if blocked_since is not None:
            log.warning("dead-letter topic written again; the batch goes on",
                        extra={"dlq_topic": self.topic, "blocked_s": round(time.monotonic() - blocked_since, 1)})

    async def _attempt(self, letters: Sequence[DeadLetter], todo: list[int],
                       refusals: dict[int, int]) -> tuple[list[int], BaseException | None]:
        """One try at the letters `todo`: the ones still to write, and the first error that is not
        a size refusal (None: the rest were refused as too large, and the limits are to be read again)."""
        producer, limits = await self._ready()
        records: dict[int, Record] = {}
        futures: dict[int, asyncio.Future[Any]] = {}
        refused: list[int] = []
        for n, i in enumerate(todo):
            records[i] = record = dead_letter_record(letters[i], self._limit_for(i, limits, refusals))
            try:
                futures[i] = await producer.send(self.topic, value=record.value, key=record.key,
                                                 headers=record.headers)
            except _TOO_LARGE:
                refused.append(i)
            except _UNWRITABLE as exc:  # (no metadata): the ones not handed over yet wait for the next try
                return await self._settle(letters, records, futures, refused, [*todo[n:]], exc, refusals)
        return await self._settle(letters, records, futures, refused, [], None, refusals)

    async def _settle(self, letters: Sequence[DeadLetter], records: dict[int, Record],
                      futures: dict[int, asyncio.Future[Any]], refused: list[int], failed: list[int],
                      error: BaseException | None, refusals: dict[int, int]) -> tuple[list[int], BaseException | None]:
        """Await what was handed over; sort out written, refused and failed letters."""
        if futures:
            # Non-idempotent batches expire after request_timeout_ms; this bounds a wedged producer.
            await asyncio.wait(futures.values(), timeout=self.timeout_s * 2)
        for i, future in futures.items():
            exc = future.exception() if future.done() and not future.cancelled() else \
                TimeoutError("not acknowledged in time")
            if exc is None:
                self._written(letters[i], records[i])
            elif isinstance(exc, _TOO_LARGE):
                refused.append(i)
            else:
                failed.append(i)
                error = error or exc
        for i in refused:
            refusals[i] = refusals.get(i, 0) + 1
            message = letters[i].message
            self.metrics.dead_letter_errors.labels(kind="too-large").inc()
            log.warning("the broker refused a dead letter as too large; reading the limits again",
                        extra={"dlq_topic": self.topic, "bytes": records[i].size, "topic": message.topic,
                               "partition": message.partition, "offset": message.offset})
        if refused:
            await self._reset()
        return sorted([*failed, *refused]), error

    @staticmethod
    def _limit_for(i: int, limits: Limits, refusals: dict[int, int]) -> int:
        """The topic's limit; for a letter refused again after the limits were read again (its size
        figures and the broker's disagree), three quarters of it per further refusal."""
        return int(limits.record_bytes * 0.75 ** max(0, refusals.get(i, 0) - 1))

    def _written(self, letter: DeadLetter, record: Record) -> None:
        if not record.reduced:
            return
        self.metrics.dead_letters_reduced.inc()
        message = letter.message
        log.warning("dead letter reduced to fit the dead-letter topic; the source topic holds the original",
                    extra={"topic": message.topic, "partition": message.partition, "offset": message.offset,
                           "original_size": len(message.value or b""), "bytes": record.size,
                           "limit": self.limits.record_bytes if self.limits else None})

    async def _ready(self) -> tuple[Any, Limits]:
        if self.limits is None:
            self.limits = await asyncio.wait_for(read_limits(self.kafka, self.topic, self.timeout_s),
                                                 self.timeout_s * 2)
            log.info("dead-letter topic limits", extra={
                "dlq_topic": self.topic, "record_bytes": self.limits.record_bytes,
                "topic_max_message_bytes": self.limits.topic_max_message_bytes,
                "broker_message_max_bytes": self.limits.broker_message_max_bytes})
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(
                **self.kafka.aiokafka(),
                acks="all",
                enable_idempotence=False,
                request_timeout_ms=int(self.timeout_s * 1000),
                max_request_size=self.limits.record_bytes + _CLIENT_ESTIMATE_SLACK,
                max_batch_size=min(_MAX_BATCH_BYTES, self.limits.record_bytes),
            )
            try:
                await asyncio.wait_for(producer.start(), self.timeout_s)
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), self.timeout_s)
                raise
            self._producer = producer
        return self._producer, self.limits

    async def _reset(self) -> None:
        """Forget the limits (read again on the next try) and the producer (a new one then)."""
        self.limits = None
        await self.close()

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):  # pending batches expire within the request timeout
                await asyncio.wait_for(producer.stop(), self.timeout_s * 2)
