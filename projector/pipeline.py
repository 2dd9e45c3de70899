"""One batch of raw Kafka messages -> dead letters for the bad ones, one store transaction for all.

Order matters: dead letters are written (and acknowledged) first, then the store commits the rows
and the positions of every message of the batch, good and bad. Only then may the caller ack the
messages to Kafka. Nothing here acks: an exception leaves the whole batch unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from projector.deadletter import DeadLetter, DeadLetterSink, RawMessage
from projector.errors import StoreError, StoreUnavailable
from projector.metrics import Metrics
from projector.ports import ApplyResult, LogStore, Positioned
from schemas import EventDecodeError, parse_event

log = logging.getLogger("projector.pipeline")


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for an unreachable database: first delay, cap, and how long before giving up."""

    first_s: float = 0.5
    max_s: float = 5.0
    give_up_after_s: float = 300.0


def decode(message: Any) -> Positioned | tuple[Any, EventDecodeError]:
    """One message (anything with topic, partition, offset and value: a RawMessage, an aiokafka
    record) as its event and position, or the message and why it cannot be folded."""
    if message.value is None:
        return message, EventDecodeError("message has no value (tombstone)", kind="undecodable")
    try:
        event = parse_event(message.value)
    except EventDecodeError as exc:
        return message, exc
    return Positioned(message.topic, message.partition, message.offset, event)


@dataclass
class Decoded:
    """A batch after parsing: every message's position, the events, and the bad messages."""

    size: int
    started: float
    messages: Sequence[Any] = ()  # as given to decode: the raw form of any of them is `raw_of(message)`
    positioned: list[Positioned] = field(default_factory=list)
    bad: list[tuple[RawMessage, EventDecodeError]] = field(default_factory=list)
    prepared: Any = None  # the store's fold of the batch made ahead of its transaction, if any


class BatchHandler:
    def __init__(
        self,
        store: LogStore,
        dead_letters: DeadLetterSink,
        metrics: Metrics | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
        raw_of: Callable[[Any], RawMessage] = lambda message: message,
        unavailable: Callable[[str], None] | None = None,
    ) -> None:
        """`raw_of` turns a message as given to `decode` (a RawMessage by default; the Kafka edge
        gives aiokafka's records) into the RawMessage that is dead-lettered: only bad ones are turned.
        `unavailable` is told why, each time the database is unavailable (the projector's outage log,
        projector.outages, says it then); without it each retry is logged."""
        self.store = store
        self.raw_of = raw_of
        self.dead_letters = dead_letters
        self.metrics = metrics or Metrics()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._unavailable = unavailable

    async def handle(self, messages: Sequence[Any]) -> ApplyResult:
        """Decode, dead-letter the bad messages, commit the rest with all positions."""
        return await self.commit(self.decode(messages))

    async def decode_yielding(self, messages: Sequence[Any], every: int = 250) -> Decoded:
        """`decode`, yielding to the event loop every `every` messages: the loop decodes while the
        previous batch commits, and that commit's round trips must not wait for the whole batch."""
        decoded = Decoded(len(messages), time.perf_counter(), messages)
        for i in range(0, len(messages), every):
            self._decode_into(decoded, messages[i : i + every])
            await asyncio.sleep(0)
        return decoded

    def decode(self, messages: Sequence[Any]) -> Decoded:
        """The CPU part (parsing), separate so that the loop can decode the next batch while the
        database commits this one. Nothing is sent or written here."""
        decoded = Decoded(len(messages), time.perf_counter(), messages)
        self._decode_into(decoded, messages)
        return decoded

    def _decode_into(self, decoded: Decoded, messages: Sequence[Any]) -> None:
        append = decoded.positioned.append
        for message in messages:
            item = decode(message)
            if isinstance(item, Positioned):
                append(item)
            else:
                bad, error = item
                decoded.bad.append((self.raw_of(bad), error))
                append(Positioned(bad.topic, bad.partition, bad.offset, None))

    @property
    def reads_ahead(self) -> bool:
        """Whether the next batch may be prepared while the previous one commits (see `prepare`)."""
        return self.store.reads_ahead

    async def prepare(self, decoded: Decoded) -> None:
        """Let the store fold the batch ahead of its transaction, when it can (PostgresStore): the
        loop does this while the previous batch commits. Nothing is written here."""
        decoded.prepared = await self.store.prepare(decoded.positioned)

    async def commit(self, decoded: Decoded) -> ApplyResult:
        # Dead letters first, all at once: they are acknowledged before the commit.
        await self._dead_letter([DeadLetter(bad, error.kind, error.reason) for bad, error in decoded.bad])
        result = await self._commit(decoded.positioned, decoded.messages, decoded.prepared)
        m = self.metrics
        m.events_folded.inc(result.applied)
        m.events_skipped.inc(result.skipped)
        m.rows_written.inc(result.rows)
        m.batches.inc()
        m.batch_size.observe(decoded.size)
        m.batch_seconds.observe(time.perf_counter() - decoded.started)
        return result

    async def _dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        await self.dead_letters.send_all(letters)
        for letter in letters:
            message = letter.message
            self.metrics.dead_lettered.labels(reason=letter.reason).inc()
            log.warning("dead-lettered message", extra={"topic": message.topic, "partition": message.partition,
                                                        "offset": message.offset, "reason": letter.reason,
                                                        "error": letter.error})

    async def _commit(self, batch: Sequence[Positioned], messages: Sequence[Any],
                      prepared: Any = None) -> ApplyResult:
        """Apply the batch; when PostgreSQL rejects it, find the event it rejects by halving the batch
        (each half its own transaction, in order, so positions still only move forward), dead-letter
        that event with reason `store-rejected`, and apply the rest. A poison event never blocks the stream."""
        try:
            return await self._apply(batch, prepared)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            events = [p for p in batch if p.event is not None]
            if not exc.poison or not events:
                raise
            if len(events) == 1:
                poison = events[0]
                message = next(m for m in messages
                               if (m.topic, m.partition, m.offset) == (poison.topic, poison.partition, poison.offset))
                await self._dead_letter([DeadLetter(self.raw_of(message), "store-rejected", str(exc))])
                return await self._apply([p._replace(event=None) if p is poison else p for p in batch])
            mid = len(batch) // 2
            return _combined(await self._commit(batch[:mid], messages), await self._commit(batch[mid:], messages))

    async def _apply(self, batch: Sequence[Positioned], prepared: Any = None) -> ApplyResult:
        """The store's apply, retried with backoff while the database is unavailable."""
        delay, deadline = self.retry.first_s, time.monotonic() + self.retry.give_up_after_s
        while True:
            try:
                return await self.store.apply(batch, prepared)
            except StoreUnavailable as exc:
                self.metrics.db_errors.labels(kind="unavailable").inc()
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailable(
                        f"{exc}; gave up after {self.retry.give_up_after_s:.0f}s without committing "
                        f"(offsets not advanced, batch of {len(batch)} will be re-read)"
                    ) from exc
                if self._unavailable is None:
                    log.warning("database unavailable, retrying", extra={"error": str(exc), "retry_in_s": delay})
                else:
                    self._unavailable(str(exc))
                    log.debug("database unavailable, retrying", extra={"error": str(exc), "retry_in_s": delay})
                await self._sleep(delay)  # type: ignore[misc]
                delay = min(delay * 2, self.retry.max_s)
            except Exception:
                self.metrics.db_errors.labels(kind="rejected").inc()
                raise


def _combined(a: ApplyResult, b: ApplyResult) -> ApplyResult:
    offsets = dict(a.next_offsets)
    for tp, nxt in b.next_offsets.items():
        offsets[tp] = max(offsets.get(tp, 0), nxt)
    return ApplyResult(a.applied + b.applied, a.skipped + b.skipped, a.rows + b.rows, offsets)
