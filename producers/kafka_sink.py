"""The Kafka edge: publish job events with key = rootJobId, never stalling the processor, never
losing one to a broker restart or an outage the spool can hold.

Why a hand-off thread: kafka-python's `send` blocks up to max_block_ms whenever topic metadata
is unknown (broker down at start-up, on every send), and its 3.x accumulator has no memory bound.
So the caller only validates, serializes, checks the size and appends to a bounded in-memory
spool; one feeder thread owns the KafkaProducer and sends in order, so a chain keeps its order
within its partition.

The spool holds every event accepted and not yet acknowledged, bounded by `buffer_memory` bytes
and `spool_max_events` events: the queue the feeder drains, the events taken back after a failed
delivery (sent again first, in the order they failed), and those kafka-python holds. In memory,
not on disk: what it must survive is the broker going away, not this process (a crashed
processor's job is re-run by its queue, which emits the job's events again), and a disk spool
would put a write on the caller's path for every event. A delivery that fails for a reason that
may pass (the broker gone, a delivery timeout, a producer replaced) is spooled again, with no
limit but the spool's bounds and close()'s wait; one refused for the record itself is tried at
most `_MAX_STRIKES` times, then counted failed. When the spool is full the caller waits at most
max_block_ms, then the event is dropped; while the overflow lasts later events are dropped
without waiting. Duplicates are possible after a restart (a batch the broker wrote but did not
acknowledge is sent again), and a re-sent event may land after later events of its chain: the
fold is idempotent and order-independent, so both are harmless.

Two faults are kept from killing the producer for good:
1. an event larger than the topic accepts (its max.message.bytes, read from the broker, or the
   client's max_request_size) is refused to the caller with `RecordTooLarge`, before it is sent:
   the broker's refusal of one record fails kafka-python's idempotent producer for good;
2. a producer that failed fatally anyway (the topic's limit lowered meanwhile, an authorization
   change) is replaced by a new KafkaProducer; its undelivered events are spooled again, the
   topic's limit is read again, and an event the new limit refuses is counted failed.

Failures and drops are counted in `stats`, kept as `stats.last_error` and logged (one line, at
most once per `error_log_interval_s`); events given up (dropped, failed, left at close) are logged
with their job ids. None of that is raised into the processor. `flush(timeout)` and `close()`
wait, bounded. The publisher never has the broker auto-create the topic (`producers.topics`): a
missing topic is reported and waited for.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError
from kafka.structs import TopicPartition

from producers.errors import (
    BufferFull,
    DeliveryFailed,
    PublisherClosed,
    PublishTimeout,
    RecordTooLarge,
    TopicMissing,
)
from producers.kafka_internals import (
    CachedKeyPartitioner,
    _FastAppend,
    close_producer,
    has_fatal_error,
    retriable,
)
from producers.settings import ProducerSettings
from producers.topics import KAFKA_DEFAULT_MAX_MESSAGE_BYTES, describe_topic
from schemas import JobEvent, dump_event

log = logging.getLogger(__name__)
_RECONNECT_BACKOFF_S = 1.0  # the feeder's pause between two attempts to connect / find the topic
_FEEDER_BATCH = 512  # below this many queued events the feeder waits up to 2 ms (<= linger_ms)
_WAKEUP_EVERY = 256  # appends between two sender wake-ups while batches are full/new (fast path)
_RECORD_OVERHEAD = 128  # > the v2 batch header + one record's varints: size check without encoding
_DEFAULT_MAX_REQUEST_SIZE = 1_048_576  # kafka-python's max_request_size
_MAX_STRIKES = 3  # refusals of one record (not the broker's absence) before it is counted failed
_LOST_LOG_IDS = 200  # job ids per log line of events given up
_LOST_LOG_S = 1.0  # ... or at least one line per second while events are being given up
_SIZE_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError)
_JOB_ID = re.compile(rb'"jobId":"((?:[^"\\]|\\.)*)"')

Item = tuple[bytes, bytes, int]  # key, value, len(key) + len(value)


@dataclass(frozen=True, slots=True)
class PublishStats:
    """Counters since start: accepted = sent + failed + pending; dropped and refused never entered.

    pending / pending_bytes: the spool's content. refused: events larger than the topic accepts,
    refused to the caller (RecordTooLarge). resent: deliveries that failed and were spooled again.
    replaced: KafkaProducers replaced after a fatal error.
    """

    accepted: int
    sent: int
    failed: int
    dropped: int
    pending: int
    pending_bytes: int
    last_error: str | None
    refused: int = 0
    resent: int = 0
    replaced: int = 0

    @property
    def lost(self) -> int:
        return self.failed + self.dropped


def _job_id_of(value: bytes) -> str:
    """The jobId of a serialized event, for logs (only on the rare paths: drops, failures)."""
    found = _JOB_ID.search(value)
    return found.group(1).decode(errors="replace") if found else "?"


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
        self._queue: deque[Item] = deque()
        self._retry: deque[Item] = deque()  # taken back from kafka-python: sent again first
        self._producer: Any = None
        self._feeder: threading.Thread | None = None
        self._closing = self._closed = self._overflowing = False
        self._fatal = False  # the current producer failed fatally or stalled: the feeder replaces it
        self._progress_at = time.monotonic()  # the last delivery kafka-python completed (or failed)
        self._stall_s = settings.request_timeout_ms / 1000 + 1.0
        self._limit_stale = False  # the broker refused a record for its size: read the limit again
        self._accepted = self._sent = self._failed = self._dropped = 0
        self._refused = self._resent = self._replaced = 0
        self._pending = self._pending_bytes = self._in_hand = 0
        self._strikes: dict[int, int] = {}  # id(value) -> refusals, for records refused for themselves
        self._last_error: str | None = None
        self._last_log = -float("inf")
        self._unlogged = 0
        self._lost: dict[str, list[str]] = {}  # why -> job ids of events given up, not yet logged
        self._lost_since = 0.0
        self._space_waiters = 0
        self._ready = threading.Event()
        self._feeder_linger_s = min(settings.linger_ms, 2) / 1000
        self._fast: _FastAppend | None = None
        # the largest key + value accepted: min(topic's max.message.bytes, max_request_size) - framing
        self.max_record_size = min(KAFKA_DEFAULT_MAX_MESSAGE_BYTES, _DEFAULT_MAX_REQUEST_SIZE) - _RECORD_OVERHEAD

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
        """Serialize and enqueue; False (counted, logged) when the spool stayed full.

        RecordTooLarge (nothing sent) when the event is larger than the topic accepts."""
        return self.publish_raw(event.root_job_id.encode(), dump_event(event))

    def publish_raw(self, key: bytes, value: bytes) -> bool:
        """Enqueue an already serialized event (key = rootJobId)."""
        size = len(key) + len(value)
        if size > self.max_record_size:
            with self._lock:
                self._refused += 1
            raise RecordTooLarge(job_id=_job_id_of(value), size=size, limit=self.max_record_size,
                                 topic=self.settings.topic)
        limit, max_events = self.settings.buffer_memory, self.settings.spool_max_events
        with self._lock:
            if self._closing:
                raise PublisherClosed("publish() after close()")
            if self._pending_bytes + size > limit or self._pending >= max_events:
                waited = False
                if not self._overflowing:
                    self._space_waiters += 1
                    waited = self._has_space.wait_for(
                        lambda: self._pending_bytes + size <= limit and self._pending < max_events,
                        self.settings.max_block_ms / 1000)
                    self._space_waiters -= 1
                if not waited:
                    self._overflowing = True
                    self._dropped += 1
                    self._record(BufferFull(buffer_bytes=self._pending_bytes, events=self._pending,
                                            max_block_ms=self.settings.max_block_ms))
                    self._note_lost(value, "dropped: the spool was full")
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
                                self._pending, self._pending_bytes, self._last_error,
                                self._refused, self._resent, self._replaced)

    def wait_connected(self, timeout: float) -> bool:
        """True once the feeder's producer knows the topic's partitions (for CLIs, benchmarks)."""
        return self._ready.wait(timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every accepted event is acknowledged or failed; PublishTimeout otherwise."""
        limit = self.settings.close_timeout_ms / 1000 if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._lock:
            self._changed.wait_for(lambda: not self._queue and not self._retry and not self._in_hand, limit)
        producer = self._producer
        if producer is not None and not self._queue:
            with contextlib.suppress(Exception):  # replaced meanwhile, or timed out: the count below says
                producer.flush(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            if not self._changed.wait_for(lambda: self._pending == 0,
                                          max(0.0, deadline - time.monotonic())):
                raise PublishTimeout("flush", pending=self._pending, timeout_s=limit)

    def close(self, timeout: float | None = None) -> None:
        """Flush (bounded), stop the feeder, close the producer; leftovers are counted as failed
        and logged with their job ids. Never raises for what the broker did."""
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
        if self._producer is not None:  # its undelivered events fail now (counted, logged)
            close_producer(self._producer, max(0.0, deadline - time.monotonic()))
        with self._lock:
            for queue in (self._retry, self._queue):
                while queue:
                    self._give_up(queue.popleft(), "not delivered before close()")
            if self._pending:
                self._failed += self._pending
                self._record(PublishTimeout("close", pending=self._pending, timeout_s=limit))
                self._pending = self._pending_bytes = 0
            self._log_lost()
            self._closed = True

    # -- the feeder thread and kafka-python's callbacks ---------------------------------------

    def _feed(self) -> None:
        while not self._closing:
            if self._producer is None:
                if not self._connect():
                    self._pause(_RECONNECT_BACKOFF_S)
                continue
            if self._fatal:
                self._replace_producer()
                continue
            if not self._ready.is_set():  # topic metadata unknown: send() would wait and fail
                self._warm_up()
                if not self._ready.is_set():
                    self._pause(_RECONNECT_BACKOFF_S)
                continue
            with self._lock:
                self._has_work.wait_for(
                    lambda: bool(self._queue or self._retry) or self._closing or self._fatal,
                    _LOST_LOG_S if self._lost or self._in_kafka() else None)
                if self._lost and time.monotonic() - self._lost_since >= _LOST_LOG_S:
                    self._log_lost()
                self._check_stalled()
                if self._closing or self._fatal or not (self._queue or self._retry):
                    continue
                short = len(self._queue) + len(self._retry) < _FEEDER_BATCH
            if short:  # let a batch gather: waking per event costs more than the send itself
                time.sleep(self._feeder_linger_s)
            if self._limit_stale:
                self._read_limit()
            with self._lock:
                if self._retry:
                    batch, self._retry = self._retry, deque()
                    batch.extend(self._queue)
                else:
                    batch = self._queue
                self._queue = deque()
                if self._pending == len(batch):  # kafka-python held nothing: the stall clock starts now
                    self._progress_at = time.monotonic()
                self._in_hand = len(batch)
            self._send_all(batch)

    def _in_kafka(self) -> int:
        """Under the lock: the accepted events kafka-python holds (handed over, not completed)."""
        return self._pending - len(self._queue) - len(self._retry) - self._in_hand

    def _check_stalled(self) -> None:
        """Under the lock: a producer that failed fatally, or that completed nothing for longer than a
        request may take while it holds events, is replaced.

        The second case is kafka-python 3.0.12's idempotent producer after a broker restart: once a
        batch expired it resets its producer id and, the broker back, never gets a new one, so it
        sends nothing again. A new producer does; meanwhile the events wait in the spool.
        """
        if self._fatal or self._producer is None:
            return
        if has_fatal_error(self._producer):
            self._fatal = True
        elif self._in_kafka() and time.monotonic() - self._progress_at > self._stall_s:
            self._last_error = (f"the Kafka producer completed no delivery for {self._stall_s:g}s while "
                                f"holding {self._in_kafka()} event(s)")
            self._fatal = True

    def _pause(self, seconds: float) -> None:
        with self._lock:  # wake early on close
            self._has_work.wait_for(lambda: self._closing, seconds)

    def _connect(self) -> bool:
        """Find the topic (never creating it), then create a producer sized to its record limit."""
        try:
            topic = describe_topic(self.settings)
            partitioner = CachedKeyPartitioner()
            config = {**self.settings.kafka_config(), "partitioner": partitioner,
                      "batch_size": max(1, min(self.settings.batch_size, topic.max_message_bytes))}
            producer = self._factory(**config)
        except TopicMissing as exc:
            with self._lock:
                self._record(exc)
            return False
        except Exception as exc:  # unreachable broker, or a bad config: counted, logged, retried
            with self._lock:
                self._record(DeliveryFailed(self.settings.topic, exc))
            return False
        if self._closing:  # close() gave up waiting for this bootstrap: do not leak it
            close_producer(producer, 0)
            return False
        self._set_limit(topic.max_message_bytes, producer)
        self._producer = producer
        if self.settings.fast_append:
            self._fast = _FastAppend.of(producer, self.settings.topic, partitioner)
        self._warm_up()
        return True

    def _set_limit(self, max_message_bytes: int, producer: Any) -> None:
        config = getattr(producer, "config", None) or {}
        request = int(config.get("max_request_size", _DEFAULT_MAX_REQUEST_SIZE))
        self.max_record_size = min(max_message_bytes, request) - _RECORD_OVERHEAD
        self._limit_stale = False

    def _read_limit(self) -> None:
        """The broker refused a record for its size: the topic's limit changed, read it again."""
        try:
            self._set_limit(describe_topic(self.settings).max_message_bytes, self._producer)
        except Exception as exc:  # keep the limit we know; try again after the next refusal
            self._limit_stale = False
            with self._lock:
                self._record(DeliveryFailed(self.settings.topic, exc))

    def _replace_producer(self) -> None:
        """The producer failed fatally: close it (its events come back to the spool), make another."""
        old, self._producer, self._fast, self._fatal = self._producer, None, None, False
        self._ready.clear()
        with self._lock:
            self._replaced += 1
            cause = self._last_error
        log.warning("the Kafka producer failed fatally or stalled (%s): replacing it; its undelivered "
                    "events are sent again by the new one", cause)
        close_producer(old, 1.0)
        self._limit_stale = True  # read again when the new producer is made

    def _warm_up(self) -> None:
        """Fetch the topic's metadata (waits up to max_block_ms) so that the first sends do not wait."""
        try:
            if self._producer.partitions_for(self.settings.topic):
                self._ready.set()
        except Exception as exc:  # the broker went away again: events wait in the spool
            with self._lock:
                self._record(DeliveryFailed(self.settings.topic, exc))

    def _send_all(self, batch: deque[Item]) -> None:
        fast = self._fast
        tps = fast.partitions() if fast is not None else None
        if fast is None or tps is None:
            for item in batch:
                self._send_one(item)
        else:
            self._append_all(fast, tps, batch)
        with self._lock:
            self._in_hand = 0
            self._changed.notify_all()

    def _send_one(self, item: Item) -> None:
        key, value, size = item
        if size > self.max_record_size:
            self._refuse(item)
            return
        try:
            future = self._producer.send(self.settings.topic, value, key=key)
        except (KafkaError, OSError, ValueError) as exc:  # metadata timeout, closed producer
            with self._lock:
                self._retake([(item, exc)])
        else:
            future.add_callback(self._delivered, item)
            future.add_errback(self._undelivered, item)

    def _append_all(self, fast: _FastAppend, tps: list[TopicPartition], batch: deque[Item]) -> None:
        """The fast path: append in order, then one completion callback per partition and drain."""
        append, hash_of, hashes, count = fast.append, fast.hash_of, fast.hashes, len(tps)
        max_size = self.max_record_size
        groups: dict[TopicPartition, tuple[list[Any], list[Item]]] = {}
        since_wakeup = 0
        wake = False
        for item in batch:
            key, value, size = item
            if size > max_size:  # accepted before the topic's own limit was known
                self._refuse(item)
                continue
            h = hashes.get(key)
            tp = tps[(hash_of(key) if h is None else h) % count]
            try:
                future, full, new, _ = append(tp, None, key, value, [])
            except (KafkaError, OSError, ValueError) as exc:  # closed producer
                with self._lock:
                    self._retake([(item, exc)])
                continue
            group = groups.get(tp)
            if group is None:
                group = groups[tp] = ([], [])
            group[0].append(future)
            group[1].append(item)
            since_wakeup += 1
            if full or new:
                wake = True
                if since_wakeup >= _WAKEUP_EVERY:
                    fast.wakeup()
                    since_wakeup, wake = 0, False
        if wake:
            fast.wakeup()
        for futures, items in groups.values():
            last = futures[-1]
            last.add_callback(self._group_done, futures, items)
            last.add_errback(self._group_done, futures, items)

    def _group_done(self, futures: list[Any], items: list[Item], _result: object) -> None:
        """The last record of a group completed: count the whole group under one lock.

        kafka-python completes a batch's record futures in append order, so the group's earlier
        records are normally done by now; any that are not (a batch split or retried apart) get
        their own callbacks, which also fire at once if the record completes meanwhile.
        """
        sent = sent_bytes = 0
        failures: list[tuple[Item, BaseException]] = []
        late: list[tuple[Any, Item]] = []
        for future, item in zip(futures, items, strict=True):
            if not future.is_done:
                late.append((future, item))
            elif future.exception is None:
                sent += 1
                sent_bytes += item[2]
            else:
                failures.append((item, future.exception))
        with self._lock:
            self._sent += sent
            if self._strikes and sent:
                for future, item in zip(futures, items, strict=True):
                    if future.is_done and future.exception is None:
                        self._strikes.pop(id(item[1]), None)
            self._done(sent, sent_bytes)
            if failures:
                self._retake(failures)
        if failures:  # an aborted producer fails group after group: let a waiting caller take the lock
            time.sleep(0)
        for future, item in late:
            future.add_callback(self._delivered, item)
            future.add_errback(self._undelivered, item)

    def _delivered(self, item: Item, _metadata: object) -> None:
        with self._lock:
            self._sent += 1
            if self._strikes:
                self._strikes.pop(id(item[1]), None)
            self._done(1, item[2])

    def _undelivered(self, item: Item, exc: BaseException) -> None:
        with self._lock:
            self._retake([(item, exc)])
        time.sleep(0)  # as in _group_done

    def _retake(self, failures: list[tuple[Item, BaseException]]) -> None:
        """Under the lock: failed deliveries go back to the spool, in order, unless given up."""
        self._progress_at = time.monotonic()
        if not self._fatal and self._producer is not None and has_fatal_error(self._producer):
            self._fatal = True
        for item, exc in failures:
            if isinstance(exc, _SIZE_ERRORS):
                self._limit_stale = True
            if self._closing:
                self._give_up(item, "not delivered before close()")
                continue
            if not retriable(exc):
                strikes = self._strikes.get(id(item[1]), 0) + 1
                if strikes >= _MAX_STRIKES:
                    self._strikes.pop(id(item[1]), None)
                    self._record(DeliveryFailed(self.settings.topic, exc))
                    self._give_up(item, f"refused {strikes} times: {type(exc).__name__}")
                    continue
                self._strikes[id(item[1])] = strikes
            self._retry.append(item)
            self._resent += 1
        if failures:
            self._record(DeliveryFailed(self.settings.topic, failures[-1][1]), count=len(failures))
        self._has_work.notify()

    def _refuse(self, item: Item) -> None:
        """An accepted event above the topic's limit (learnt since it was accepted): failed."""
        with self._lock:
            self._record(RecordTooLarge(job_id=_job_id_of(item[1]), size=item[2],
                                        limit=self.max_record_size, topic=self.settings.topic))
            self._give_up(item, "larger than the topic accepts")

    def _give_up(self, item: Item, why: str) -> None:
        """Under the lock: an accepted event will not be delivered: failed, logged with its job id."""
        self._failed += 1
        self._strikes.pop(id(item[1]), None)
        self._note_lost(item[1], f"failed: {why}")
        self._done(1, item[2])

    def _done(self, count: int, size: int) -> None:
        """Under the lock: `count` accepted events (`size` bytes) completed (acknowledged or failed)."""
        if not count:
            return
        self._progress_at = time.monotonic()
        self._pending -= count
        self._pending_bytes -= size
        if (self._overflowing and self._pending_bytes <= self.settings.buffer_memory // 2
                and self._pending <= self.settings.spool_max_events // 2):
            self._overflowing = False
        if self._space_waiters:
            self._has_space.notify(count)
        if self._pending == 0 or count > 1 or self._pending % 256 == 0:
            self._changed.notify_all()

    def _note_lost(self, value: bytes, why: str) -> None:
        """Under the lock: keep the job id of an event given up; log them in lines of a few hundred."""
        if not self._lost:
            self._lost_since = time.monotonic()
        ids = self._lost.setdefault(why, [])
        ids.append(_job_id_of(value))
        if len(ids) >= _LOST_LOG_IDS or time.monotonic() - self._lost_since >= _LOST_LOG_S:
            self._log_lost()

    def _log_lost(self) -> None:
        for why, ids in self._lost.items():
            log.error("%d event(s) lost (%s) on topic %s (totals failed=%d dropped=%d); their job ids: %s",
                      len(ids), why, self.settings.topic, self._failed, self._dropped,
                      " ".join(dict.fromkeys(ids)))
        self._lost = {}

    def _record(self, error: Exception, count: int = 1) -> None:
        """Under the lock: keep the error (`count` occurrences), log one line at most once per interval."""
        self._last_error = str(error)
        now = time.monotonic()
        if now - self._last_log < self.settings.error_log_interval_s:
            self._unlogged += count
            return
        suppressed = f" ({self._unlogged} similar errors since the last report)" if self._unlogged else ""
        self._last_log, self._unlogged = now, count - 1
        log.error("event publishing: %s; totals sent=%d failed=%d dropped=%d resent=%d%s", error,
                  self._sent, self._failed, self._dropped, self._resent, suppressed)
