"""The Kafka edge: publish job events with key = rootJobId, never stalling the processor.

Why a hand-off thread: kafka-python's `send` blocks up to max_block_ms whenever topic metadata
is unknown (broker down at start-up, on every send), and its 3.x accumulator has no memory bound.
So the caller only validates, serializes and appends to a bounded queue (`buffer_memory` bytes,
counting everything accepted and not yet acknowledged); one feeder thread owns the KafkaProducer
(created lazily, re-created after a failed bootstrap) and sends in order, so a chain keeps its
order within its partition. When the buffer is full the caller waits at most max_block_ms, then
the event is dropped; while the outage lasts later events are dropped without waiting.

Delivery failures (callbacks), send timeouts and drops are counted in `stats`, kept as
`stats.last_error` and logged (one line, at most once per `error_log_interval_s`); none of them
is raised into the processor. `flush(timeout)` and `close()` wait, bounded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import kafka
from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.partitioner.default import DefaultPartitioner, murmur2
from kafka.structs import TopicPartition

from producers.errors import BufferFull, DeliveryFailed, PublisherClosed, PublishTimeout
from producers.settings import ProducerSettings
from schemas import JobEvent, dump_event

log = logging.getLogger(__name__)
_RECONNECT_BACKOFF_S = 1.0
_FEEDER_BATCH = 512  # below this many queued events the feeder waits up to 2 ms (<= linger_ms)
# The versions whose KafkaProducer internals the fast append path was written and tested against.
_FAST_APPEND_VERSIONS = ("3.0.12",)
_WAKEUP_EVERY = 256  # appends between two sender wake-ups while batches are full/new (fast path)
_RECORD_OVERHEAD = 128  # > the v2 batch header + one record's varints: size check without encoding


@dataclass(frozen=True, slots=True)
class PublishStats:
    """Counters since start: accepted = sent + failed + pending; dropped never entered."""

    accepted: int
    sent: int
    failed: int
    dropped: int
    pending: int
    pending_bytes: int
    last_error: str | None

    @property
    def lost(self) -> int:
        return self.failed + self.dropped


class CachedKeyPartitioner(DefaultPartitioner):
    """The Java client's murmur2 key partitioning, with the hash cached per key.

    A chain repeats its key (rootJobId) for every event; kafka-python's pure-Python murmur2 is a
    measurable share of `send`, so it is computed once per key.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._max_keys = max_keys

    def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                  serialized_value: Any, cluster: Any) -> int:
        if serialized_key is None:
            return int(super().partition(topic, key, serialized_key, value, serialized_value, cluster))
        h = self._hashes.get(serialized_key)
        if h is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()
            h = self._hashes[serialized_key] = murmur2(serialized_key) & 0x7FFFFFFF
        partitions = cluster.partitions_for_topic(topic)
        if partitions is None:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        return sorted(partitions)[h % len(partitions)]


class _FastAppend:
    """A shortcut past `KafkaProducer.send` for the feeder's drains (kafka-python 3.0.12 only).

    Where the time goes in `send` (cProfile, 60k events): per-call header/serializer/type checks,
    two metadata look-ups, the partitioner, a size estimate, `str(self)` for a debug log call,
    and -- the largest share -- `Sender.wakeup()` (a socketpair write, which drops and re-takes
    the GIL) on every append once a partition holds more than one batch. This path does the same
    work once per drain: one metadata look-up, cached murmur2 hashes (the Java client's key
    partitioning, as `CachedKeyPartitioner`), a size check, then `RecordAccumulator.append`
    (which assigns nothing the idempotent producer relies on: sequence numbers are assigned
    when the sender drains a batch), and at most one sender wake-up per `_WAKEUP_EVERY` appends.
    Anything unusual (topic metadata unknown, a transactional producer, a record near
    max_request_size) goes through `send` as before.
    """

    def __init__(self, producer: Any, topic: str, hashes: dict[bytes, int], max_keys: int) -> None:
        self._append = producer._accumulator.append
        self._metadata = producer._metadata
        self._wakeup = producer._sender.wakeup
        self._topic = topic
        self._hashes = hashes
        self._max_keys = max_keys
        self.max_size = int(producer.config["max_request_size"]) - _RECORD_OVERHEAD
        self._partitions: list[int] = []
        self._tps: list[TopicPartition] = []

    @classmethod
    def of(cls, producer: Any, topic: str, partitioner: Any) -> _FastAppend | None:
        if kafka.__version__ not in _FAST_APPEND_VERSIONS or not isinstance(producer, KafkaProducer):
            return None
        try:
            if producer._transaction_manager is not None and producer._transaction_manager.is_transactional():
                return None
            return cls(producer, topic, partitioner._hashes, partitioner._max_keys)
        except (AttributeError, KeyError, TypeError):  # internals not as expected: use send()
            return None

    def partitions(self) -> list[TopicPartition] | None:
        """The topic's partitions in id order (None: metadata unknown, let `send` wait for it)."""
        known = self._metadata.partitions_for_topic(self._topic)
        if not known:
            return None
        if len(known) != len(self._partitions) or not known.issuperset(self._partitions):
            self._partitions = sorted(known)
            self._tps = [TopicPartition(self._topic, p) for p in self._partitions]
        return self._tps

    def hash_of(self, key: bytes) -> int:
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return h


class KafkaPublisher:
    """An EventSink writing to Kafka. Use as a context manager, or call start() and close()."""

    def __init__(self, settings: ProducerSettings, *,
                 producer_factory: Callable[..., Any] = KafkaProducer) -> None:
        self.settings = settings
        self._factory = producer_factory
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._has_space = threading.Condition(self._lock)
        self._changed = threading.Condition(self._lock)  # queue drained / a delivery completed
        self._queue: deque[tuple[bytes, bytes, int]] = deque()
        self._producer: Any = None
        self._feeder: threading.Thread | None = None
        self._closing = self._closed = self._overflowing = False
        self._accepted = self._sent = self._failed = self._dropped = 0
        self._pending = self._pending_bytes = self._in_hand = 0
        self._last_error: str | None = None
        self._last_log = -float("inf")
        self._unlogged = 0
        self._space_waiters = 0
        self._ready = threading.Event()
        self._feeder_linger_s = min(settings.linger_ms, 2) / 1000
        self._fast: _FastAppend | None = None

    # -- the caller's side ---------------------------------------------------------------------

    def start(self) -> Self:
        if self._feeder is None:
            self._feeder = threading.Thread(target=self._feed, name="enrichlog-publisher",
                                            daemon=True)
            self._feeder.start()
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def publish(self, event: JobEvent) -> bool:
        """Serialize and enqueue; False (counted, logged) when the buffer stayed full."""
        return self.publish_raw(event.root_job_id.encode(), dump_event(event))

    def publish_raw(self, key: bytes, value: bytes) -> bool:
        """Enqueue an already serialized event (key = rootJobId)."""
        size = len(key) + len(value)
        limit = self.settings.buffer_memory
        with self._lock:
            if self._closing:
                raise PublisherClosed("publish() after close()")
            if self._pending_bytes + size > limit:
                waited = False
                if not self._overflowing:
                    self._space_waiters += 1
                    waited = self._has_space.wait_for(
                        lambda: self._pending_bytes + size <= limit,
                        self.settings.max_block_ms / 1000)
                    self._space_waiters -= 1
                if not waited:
                    self._overflowing = True
                    self._dropped += 1
                    self._record(BufferFull(buffer_bytes=self._pending_bytes,
                                            max_block_ms=self.settings.max_block_ms))
                    return False
            self._queue.append((key, value, size))
            self._accepted += 1
            self._pending += 1
            self._pending_bytes += size
            if len(self._queue) == 1:
                self._has_work.notify()
        return True

    @property
    def stats(self) -> PublishStats:
        with self._lock:
            return PublishStats(self._accepted, self._sent, self._failed, self._dropped,
                                self._pending, self._pending_bytes, self._last_error)

    def wait_connected(self, timeout: float) -> bool:
        """True once the feeder's producer knows the topic's partitions (for CLIs, benchmarks)."""
        return self._ready.wait(timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every accepted event is acknowledged or failed; PublishTimeout otherwise."""
        limit = self.settings.close_timeout_ms / 1000 if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._lock:
            self._changed.wait_for(lambda: not self._queue and not self._in_hand, limit)
        producer = self._producer
        if producer is not None and not self._queue:
            with contextlib.suppress(KafkaError):  # the count below says what is left
                producer.flush(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            if not self._changed.wait_for(lambda: self._pending == 0,
                                          max(0.0, deadline - time.monotonic())):
                raise PublishTimeout("flush", pending=self._pending, timeout_s=limit)

    def close(self, timeout: float | None = None) -> None:
        """Flush (bounded), stop the feeder, close the producer; leftovers are counted as failed."""
        if self._closed:
            return
        limit = self.settings.close_timeout_ms / 1000 if timeout is None else timeout
        deadline = time.monotonic() + limit
        try:
            self.flush(limit)
        except PublishTimeout as exc:
            log.warning("closing the Kafka publisher: %s", exc)
        with self._lock:
            self._closing = True
            self._has_work.notify_all()
        if self._feeder is not None:
            self._feeder.join(max(0.0, deadline - time.monotonic()) + 0.5)
        if self._producer is not None:
            self._producer.close(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            if self._pending:
                self._failed += self._pending
                self._record(PublishTimeout("close", pending=self._pending, timeout_s=limit))
                self._pending = self._pending_bytes = 0
            self._closed = True

    # -- the feeder thread and kafka-python's callbacks ---------------------------------------

    def _feed(self) -> None:
        while True:
            if self._producer is None and not self._connect():
                with self._lock:  # wait for a retry, waking early on close
                    if self._has_work.wait_for(lambda: self._closing, _RECONNECT_BACKOFF_S):
                        return
                continue
            with self._lock:  # idle and the topic's partitions still unknown: ask again now and then
                woke = self._has_work.wait_for(lambda: bool(self._queue) or self._closing,
                                               None if self._ready.is_set() else _RECONNECT_BACKOFF_S)
                if woke and not self._queue:
                    return
                short = len(self._queue) < _FEEDER_BATCH and not self._closing
            if not woke:
                self._warm_up()
                continue
            if short:  # let a batch gather: waking per event costs more than the send itself
                time.sleep(self._feeder_linger_s)
            with self._lock:
                batch, self._queue = self._queue, deque()
                self._in_hand = len(batch)
            self._send_all(batch)

    def _connect(self) -> bool:
        try:
            partitioner = CachedKeyPartitioner()
            config = {**self.settings.kafka_config(), "partitioner": partitioner}
            producer = self._factory(**config)
        except Exception as exc:  # unreachable broker, or a bad config: counted, logged, retried
            with self._lock:
                self._record(DeliveryFailed(self.settings.topic, exc))
            return False
        if self._closing:  # close() gave up waiting for this bootstrap: do not leak it
            producer.close(timeout=0)
            return False
        self._producer = producer
        if self.settings.fast_append:
            self._fast = _FastAppend.of(producer, self.settings.topic, partitioner)
        self._warm_up()
        return True

    def _warm_up(self) -> None:
        """Fetch the topic's metadata (waits up to max_block_ms) so that the first sends do not wait."""
        try:
            if self._producer.partitions_for(self.settings.topic):
                self._ready.set()
        except Exception as exc:  # the broker went away again: sends will fail and be counted
            with self._lock:
                self._record(DeliveryFailed(self.settings.topic, exc))

    def _send_all(self, batch: deque[tuple[bytes, bytes, int]]) -> None:
        fast = self._fast
        tps = fast.partitions() if fast is not None else None
        if fast is None or tps is None:
            for key, value, size in batch:
                self._send_one(key, value, size)
        else:
            self._append_all(fast, tps, batch)
        with self._lock:
            self._in_hand = 0
            self._changed.notify_all()

    def _send_one(self, key: bytes, value: bytes, size: int) -> None:
        try:
            future = self._producer.send(self.settings.topic, value, key=key)
        except (KafkaError, OSError, ValueError) as exc:  # metadata timeout, closed producer
            self._undelivered(size, exc)
        else:
            future.add_callback(self._delivered, size)
            future.add_errback(self._undelivered, size)

    def _append_all(self, fast: _FastAppend, tps: list[TopicPartition],
                    batch: deque[tuple[bytes, bytes, int]]) -> None:
        """The fast path: append in order, then one completion callback per partition and drain."""
        append, hash_of, hashes, count = fast._append, fast.hash_of, fast._hashes, len(tps)
        max_size = fast.max_size
        groups: dict[TopicPartition, tuple[list[Any], list[int]]] = {}
        since_wakeup = 0
        wake = False
        for key, value, size in batch:
            if size > max_size:  # let send() check it against max_request_size and say why
                self._send_one(key, value, size)
                continue
            h = hashes.get(key)
            tp = tps[(hash_of(key) if h is None else h) % count]
            try:
                future, full, new, _ = append(tp, None, key, value, [])
            except (KafkaError, OSError, ValueError) as exc:  # closed producer
                self._undelivered(size, exc)
                continue
            group = groups.get(tp)
            if group is None:
                group = groups[tp] = ([], [])
            group[0].append(future)
            group[1].append(size)
            since_wakeup += 1
            if full or new:
                wake = True
                if since_wakeup >= _WAKEUP_EVERY:
                    fast._wakeup()
                    since_wakeup, wake = 0, False
        if wake:
            fast._wakeup()
        for futures, sizes in groups.values():
            last = futures[-1]
            last.add_callback(self._group_done, futures, sizes)
            last.add_errback(self._group_done, futures, sizes)

    def _group_done(self, futures: list[Any], sizes: list[int], _result: object) -> None:
        """The last record of a group completed: count the whole group under one lock.

        kafka-python completes a batch's record futures in append order, so the group's earlier
        records are normally done by now; any that are not (a batch split or retried apart) get
        their own callbacks, which also fire at once if the record completes meanwhile.
        """
        sent = failed = done_bytes = 0
        error: BaseException | None = None
        late: list[tuple[Any, int]] = []
        for future, size in zip(futures, sizes, strict=True):
            if not future.is_done:
                late.append((future, size))
                continue
            done_bytes += size
            if future.exception is None:
                sent += 1
            else:
                failed += 1
                error = error or future.exception
        with self._lock:
            self._sent += sent
            self._failed += failed
            if error is not None:
                self._record(DeliveryFailed(self.settings.topic, error), count=failed)
            self._done(sent + failed, done_bytes)
        for future, size in late:
            future.add_callback(self._delivered, size)
            future.add_errback(self._undelivered, size)

    def _delivered(self, size: int, _metadata: object) -> None:
        with self._lock:
            self._sent += 1
            self._done(1, size)

    def _undelivered(self, size: int, exc: BaseException) -> None:
        with self._lock:
            self._failed += 1
            self._record(DeliveryFailed(self.settings.topic, exc))
            self._done(1, size)

    def _done(self, count: int, size: int) -> None:
        """Under the lock: `count` accepted events (`size` bytes) completed (acknowledged or failed)."""
        if not count:
            return
        self._pending -= count
        self._pending_bytes -= size
        if self._overflowing and self._pending_bytes <= self.settings.buffer_memory // 2:
            self._overflowing = False
        if self._space_waiters:
            self._has_space.notify(count)
        if self._pending == 0 or count > 1 or self._pending % 256 == 0:
            self._changed.notify_all()

    def _record(self, error: Exception, count: int = 1) -> None:
        """Under the lock: keep the error (`count` occurrences), log one line at most once per interval."""
        self._last_error = str(error)
        now = time.monotonic()
        if now - self._last_log < self.settings.error_log_interval_s:
            self._unlogged += count
            return
        suppressed = f" ({self._unlogged} similar errors since the last report)" if self._unlogged else ""
        self._last_log, self._unlogged = now, count - 1
        log.error("event publishing: %s; totals sent=%d failed=%d dropped=%d%s", error,
                  self._sent, self._failed, self._dropped, suppressed)
