"""What the publisher needs to know of kafka-python 3.0.12's internals, in one place.

The fast append path, the cached key partitioner, the idempotent producer's fatal state and a
close that cannot hang. Each use of a private attribute is here; `_FastAppend.of` refuses any
other kafka-python version (the version guard), and the other helpers fall back to the public API.
"""

from __future__ import annotations

import contextlib
from typing import Any

import kafka
from kafka import KafkaProducer
from kafka.errors import IllegalStateError, KafkaError
from kafka.partitioner.default import DefaultPartitioner, murmur2
from kafka.structs import TopicPartition

# The versions whose KafkaProducer internals the fast append path was written and tested against.
_FAST_APPEND_VERSIONS = ("3.0.12",)


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
    Anything unusual (topic metadata unknown, a transactional producer) goes through `send`.
    """

    def __init__(self, producer: Any, topic: str, hashes: dict[bytes, int], max_keys: int) -> None:
        self.append = producer._accumulator.append  # noqa: SLF001 - the append path this class is for
        self._metadata = producer._metadata  # noqa: SLF001 - send's own metadata look-up
        self.wakeup = producer._sender.wakeup  # noqa: SLF001 - send's own sender wake-up
        self._topic = topic
        self.hashes = hashes
        self._max_keys = max_keys
        self._partitions: list[int] = []
        self._tps: list[TopicPartition] = []

    @classmethod
    def of(cls, producer: Any, topic: str, partitioner: Any) -> _FastAppend | None:
        if kafka.__version__ not in _FAST_APPEND_VERSIONS or not isinstance(producer, KafkaProducer):
            return None
        try:
            manager = producer._transaction_manager  # noqa: SLF001 - no public "is transactional"
            if manager is not None and manager.is_transactional():
                return None
            # The partitioner's cache is shared, so both paths hash a key once.
            return cls(producer, topic, partitioner._hashes, partitioner._max_keys)  # noqa: SLF001
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
        h = self.hashes.get(key)
        if h is None:
            if len(self.hashes) >= self._max_keys:
                self.hashes.clear()
            h = self.hashes[key] = murmur2(key) & 0x7FFFFFFF
        return h


def retriable(exc: BaseException) -> bool:
    """A failure that says nothing about the record itself: the broker away, a timeout, a producer
    closed under it (replaced after a fatal error)."""
    if isinstance(exc, IllegalStateError | OSError):
        return True
    return isinstance(exc, KafkaError) and bool(exc.retriable)


def has_fatal_error(producer: Any) -> bool:
    """kafka-python's idempotent producer in its fatal state: it fails every later record."""
    try:
        manager = producer._transaction_manager  # noqa: SLF001 - no public fatal state
        return manager is not None and bool(manager.has_fatal_error())
    except AttributeError:  # not a KafkaProducer of the version we know
        return False


def close_producer(producer: Any, timeout: float) -> None:
    """Close a KafkaProducer within `timeout`, whatever state it is in.

    KafkaProducer.close() flushes first and raises when the flush times out, before it stops its
    sender, so a producer facing a dead broker (or a fatal one) was left running. Here the sender
    is stopped by force after the bounded flush; it aborts what is left, whose errbacks fire.
    """
    with contextlib.suppress(Exception):
        producer.flush(timeout=timeout)
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        with contextlib.suppress(Exception):
            sender.force_close()
            sender.join(5)
    with contextlib.suppress(Exception):
        producer.close(timeout=0)
