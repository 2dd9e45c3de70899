"""The publisher's fast append path (ENRICHLOG_PRODUCER_FAST_APPEND) and its fallbacks, on the real broker.

The fast path appends to kafka-python 3.0.12's accumulator directly and counts deliveries with one
callback per partition per drained batch; anything unusual goes through KafkaProducer.send(). These
tests pin what reaches the broker (every event once, a chain in one partition, in order, in the
partition the Java client's murmur2 picks) and what `stats` counts, for both paths, the fallbacks,
and broker-side batch failures. Waits poll with a deadline.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import kafka
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.partitioner.default import murmur2
from kafka.structs import TopicPartition

from producers import KafkaPublisher, ProducerSettings, RecordTooLarge
from producers.workload import WorkloadConfig, generate_events, run_workload
from schemas import DiscogsArtistDetail, JobEvent, JobType, dump_event
from tests.harness import read_records

PARTITIONS = 3
SLACK_S = 2.0  # scheduling noise on a busy 2-core machine, on top of the configured bounds


def _create_topic(bootstrap: str, topic: str, configs: dict[str, str] | None = None) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1, topic_configs=configs or {})])
    finally:
        admin.close()


def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        consumer.close()
    return {tp.partition: offset for tp, offset in ends.items()}


def _java_partition(key: bytes) -> int:
    """The partition the Java client (and kafka-python's DefaultPartitioner) picks for `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def _assert_delivered_in_order(got: list[tuple[int, bytes, bytes]], expected: list[JobEvent], *,
                               ordered: bool = True, spread: bool = True) -> None:
    """Every expected event exactly once and nothing else; each chain whole in its key's partition,
    in emission order (unless not `ordered`); keys over more than one partition (if `spread`)."""
    values = [dump_event(e) for e in expected]
    assert len(got) == len(values)
    assert Counter(v for _, _, v in got) == Counter(values)
    want: dict[str, list[bytes]] = {}
    for event, value in zip(expected, values, strict=True):
        want.setdefault(event.root_job_id, []).append(value)
    seen: dict[str, list[bytes]] = {}
    partitions: dict[str, set[int]] = {}
    for partition, key, value in got:
        root = key.decode()
        seen.setdefault(root, []).append(value)
        partitions.setdefault(root, set()).add(partition)
    if ordered:
        assert seen == want  # per chain: the emission order
    else:
        assert {r: Counter(v) for r, v in seen.items()} == {r: Counter(v) for r, v in want.items()}
    for root, parts in partitions.items():
        assert parts == {_java_partition(root.encode())}, root
    if spread:
        assert len({p for parts in partitions.values() for p in parts}) > 1  # the keys did spread


class _SpyProducer(KafkaProducer):
    """A real KafkaProducer that records what goes through send() (the fast path does not)."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.sent_keys: list[bytes] = []
        self.sent_sizes: list[int] = []

    def send(self, topic: str, value: Any = None, key: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.sent_keys.append(key)
        self.sent_sizes.append(len(key) + len(value))
        return super().send(topic, value, key, *args, **kwargs)


class _NotAKafkaProducer:
    """Delegates to a real KafkaProducer without being one: the publisher must not reach inside."""

    def __init__(self, **config: Any) -> None:
        self.inner = _SpyProducer(**config)

    @property
    def sent_keys(self) -> list[bytes]:
        return self.inner.sent_keys

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _factory(made: list[Any], cls: Callable[..., Any] = _SpyProducer, **extra: Any) -> Callable[..., Any]:
    def make(**config: Any) -> Any:
        producer = cls(**{**config, **extra})
        made.append(producer)
        return producer
    return make


def _settings(bootstrap: str, topic: str, **overrides: Any) -> ProducerSettings:
    return ProducerSettings(bootstrap_servers=bootstrap, topic=topic, **overrides)


def _until(check: Callable[[], bool], deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


# -- 1. both paths deliver a workload whole, per chain in order --------------------------------

@pytest.mark.kafka
@pytest.mark.parametrize("fast_append", [True, False], ids=["fast", "send"])
def test_workload_is_delivered_once_in_order_on_both_paths(kafka_bootstrap: str, topic: str,
                                                          fast_append: bool) -> None:
    _create_topic(kafka_bootstrap, topic)
    # small batches: many batches per partition and drain, full/new batches and sender wake-ups
    settings = _settings(kafka_bootstrap, topic, fast_append=fast_append, batch_size=16_384, linger_ms=5)
    config = WorkloadConfig(chains=150, seed=17, retry_rate=0.2, failure_rate=0.05,
                            run_id=f"w{uuid.uuid4().hex[:8]}")
    expected = list(generate_events(config))  # the same config gives the same events
    made: list[_SpyProducer] = []
    with KafkaPublisher(settings, producer_factory=_factory(made)) as publisher:
        assert publisher.wait_connected(30)
        summary = run_workload(config, publisher)
        publisher.flush(30)
        stats = publisher.stats
        uses_fast_path = publisher._fast is not None
    assert summary.total_events == len(expected) > 1000
    assert (stats.accepted, stats.sent, stats.failed, stats.dropped) == (len(expected), len(expected), 0, 0)
    assert (stats.pending, stats.pending_bytes, stats.last_error) == (0, 0, None)
    assert uses_fast_path is fast_append
    assert len(made) == 1
    assert len(made[0].sent_keys) == (0 if fast_append else len(expected))

    _assert_delivered_in_order(read_records(kafka_bootstrap, topic, len(expected), PARTITIONS), expected)


# -- 2. the fallbacks go through send(), in order with the events around them ------------------

@pytest.mark.kafka
@pytest.mark.parametrize("reason", ["other kafka-python version", "not a KafkaProducer"])
def test_fast_path_off_falls_back_to_send(kafka_bootstrap: str, topic: str, reason: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _create_topic(kafka_bootstrap, topic)
    made: list[Any] = []
    if reason == "other kafka-python version":
        assert kafka.__version__ == "3.0.12"  # the version the fast path is pinned to
        monkeypatch.setattr(kafka, "__version__", "3.0.13")  # what kafka_sink checks
        factory = _factory(made)
    else:
        factory = _factory(made, _NotAKafkaProducer)
    settings = _settings(kafka_bootstrap, topic, fast_append=True, batch_size=16_384, linger_ms=5)
    config = WorkloadConfig(chains=40, seed=23, run_id=f"f{uuid.uuid4().hex[:8]}")
    expected = list(generate_events(config))
    with KafkaPublisher(settings, producer_factory=factory) as publisher:
        assert publisher.wait_connected(30)
        run_workload(config, publisher)
        publisher.flush(30)
        stats = publisher.stats
        assert publisher._fast is None
    assert (stats.sent, stats.failed, stats.dropped, stats.pending) == (len(expected), 0, 0, 0)
    assert len(made[0].sent_keys) == len(expected)  # every event went through send()
    _assert_delivered_in_order(read_records(kafka_bootstrap, topic, len(expected), PARTITIONS), expected)


def _with_profile(event: JobEvent, chars: int) -> JobEvent:
    """A DISCOGS_GET_ARTIST job.finished event whose detail carries a long artist profile."""
    profile = ("Prolific session bassist and producer. " * (chars // 39 + 1))[:chars]
    return event.model_copy(update={"detail": DiscogsArtistDetail(discogs_id="42", profile=profile)})


@pytest.mark.kafka
def test_records_above_the_limit_are_refused_and_those_below_go_the_fast_path(kafka_bootstrap: str,
                                                                               topic: str) -> None:
    """The size limit is the producer's max_request_size (below the topic's max.message.bytes here) less a
    record's framing: a record just below it is appended directly and delivered in order within its
    chain; one above it is refused to the caller (RecordTooLarge), before anything is sent."""
    _create_topic(kafka_bootstrap, topic)
    events = list(generate_events(WorkloadConfig(chains=60, seed=31, run_id=f"b{uuid.uuid4().hex[:8]}")))
    finished = [i for i, e in enumerate(events)
                if e.kind == "job.finished" and e.job_type is JobType.DISCOGS_GET_ARTIST]
    assert len(finished) >= 2
    big, too_big = finished[0], finished[-1]
    events[big] = _with_profile(events[big], 15_000)
    events[too_big] = _with_profile(events[too_big], 20_000)
    big_size = len(events[big].root_job_id) + len(dump_event(events[big]))
    max_request_size = big_size + 1000  # room for the big one and its framing, not for the too big one

    made: list[_SpyProducer] = []
    settings = _settings(kafka_bootstrap, topic, fast_append=True, batch_size=16_384, linger_ms=5)
    with KafkaPublisher(settings, producer_factory=_factory(made, max_request_size=max_request_size)) as publisher:
        assert publisher.wait_connected(30)
        assert publisher._fast is not None
        assert big_size <= publisher.max_record_size < big_size + 1000
        for i, event in enumerate(events):
            if i == too_big:
                with pytest.raises(RecordTooLarge):
                    publisher.publish(event)
            else:
                assert publisher.publish(event)
        publisher.flush(30)
        stats = publisher.stats
    assert (stats.sent, stats.failed, stats.dropped, stats.pending, stats.refused) == (len(events) - 1, 0, 0, 0, 1)
    assert made[0].sent_keys == []  # every accepted event took the fast path

    delivered = events[:too_big] + events[too_big + 1:]
    got = read_records(kafka_bootstrap, topic, len(delivered), PARTITIONS)
    _assert_delivered_in_order(got, delivered)
    big_value = dump_event(events[big])
    assert any(v == big_value for _, _, v in got)


# -- 3. broker-side batch failures are counted per event ---------------------------------------
# The publisher refuses what it knows the topic refuses; to make the broker refuse records, these
# tests lower the topic's max.message.bytes after the publisher read it.

def _lower_limit_after_connect(bootstrap: str, topic: str, publisher: KafkaPublisher, limit: int) -> None:
    assert publisher.wait_connected(30)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                            configs={"max.message.bytes": str(limit)})])
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs=["max.message.bytes"])
        assert _until(lambda: admin.describe_configs([resource])["topic"][topic]["max.message.bytes"]["value"]
                      == str(limit), 30)
    finally:
        admin.close()
    assert publisher.max_record_size > limit  # the publisher still knows the old limit

@pytest.mark.kafka
@pytest.mark.parametrize("fast_append", [True, False], ids=["fast", "send"])
def test_batches_the_broker_rejects_are_counted_per_event(kafka_bootstrap: str, topic: str,
                                                          fast_append: bool) -> None:
    """The topic accepts no batch (max.message.bytes below any batch): kafka-python splits the
    rejected batches down to single records, the broker refuses them; the publisher reads the limit
    again and counts every event failed once, within the delivery timeout; nothing reaches the topic."""
    _create_topic(kafka_bootstrap, topic)
    settings = _settings(kafka_bootstrap, topic, fast_append=fast_append, compression_type="none",
                         linger_ms=5, request_timeout_ms=2000, delivery_timeout_ms=5000,
                         close_timeout_ms=2000)
    events = list(generate_events(WorkloadConfig(chains=30, seed=41, run_id=f"r{uuid.uuid4().hex[:8]}")))
    publisher = KafkaPublisher(settings).start()
    try:
        _lower_limit_after_connect(kafka_bootstrap, topic, publisher, 64)
        assert (publisher._fast is not None) is fast_append
        started = time.monotonic()
        for event in events:
            assert publisher.publish(event)
        publisher.flush(settings.delivery_timeout_ms / 1000 + SLACK_S)
        assert time.monotonic() - started < settings.delivery_timeout_ms / 1000 + SLACK_S
        stats = publisher.stats
    finally:
        started = time.monotonic()
        publisher.close()
        assert time.monotonic() - started < settings.close_timeout_ms / 1000 + SLACK_S
    assert (stats.accepted, stats.sent, stats.failed, stats.dropped) == (len(events), 0, len(events), 0)
    assert (stats.pending, stats.pending_bytes) == (0, 0)
    assert stats.last_error is not None and f"more than topic '{topic}' accepts" in stats.last_error
    assert publisher.stats.failed == len(events)  # close() counted nothing twice
    assert _end_offsets(kafka_bootstrap, topic) == {p: 0 for p in range(PARTITIONS)}


def _events_with_rejected(seed: int, prefix: str) -> tuple[list[JobEvent], set[int]]:
    """A workload whose DISCOGS_GET_ARTIST verdicts carry a 6,000-char profile (the topic will take 4,000)."""
    events = list(generate_events(WorkloadConfig(chains=40, seed=seed, run_id=f"{prefix}{uuid.uuid4().hex[:8]}")))
    rejected = {i for i, e in enumerate(events)
                if e.kind == "job.finished" and e.job_type is JobType.DISCOGS_GET_ARTIST}
    assert len(rejected) >= 3
    for i in rejected:
        events[i] = _with_profile(events[i], 6000)  # > 4000 bytes alone, far below max_request_size
    return events, rejected


@pytest.mark.kafka
@pytest.mark.parametrize("fast_append", [True, False], ids=["fast", "send"])
def test_mixed_batches_count_each_event_by_its_own_outcome(kafka_bootstrap: str, topic: str,
                                                           fast_append: bool) -> None:
    """Batches mixing records the topic accepts and records it rejects (not idempotent): the broker
    refuses each whole batch, kafka-python splits until the records stand alone, and one drained
    group ends partly sent, partly failed. Each event is counted by its own outcome; the accepted
    ones arrive exactly once, each chain in its partition. (Without idempotence kafka-python may
    reorder split halves that are in flight together, so order is not asserted here.)"""
    _create_topic(kafka_bootstrap, topic)
    settings = _settings(kafka_bootstrap, topic, fast_append=fast_append, compression_type="none",
                         linger_ms=20, request_timeout_ms=2000, delivery_timeout_ms=10_000,
                         enable_idempotence=False)
    events, rejected = _events_with_rejected(43, "m")
    with KafkaPublisher(settings) as publisher:
        _lower_limit_after_connect(kafka_bootstrap, topic, publisher, 4000)
        assert (publisher._fast is not None) is fast_append
        for event in events:
            assert publisher.publish(event)
        publisher.flush(settings.delivery_timeout_ms / 1000 + SLACK_S)
        stats = publisher.stats
    assert (stats.sent, stats.failed, stats.dropped, stats.pending) == (
        len(events) - len(rejected), len(rejected), 0, 0)
    delivered = [e for i, e in enumerate(events) if i not in rejected]
    got = read_records(kafka_bootstrap, topic, len(delivered), PARTITIONS)
    _assert_delivered_in_order(got, delivered, ordered=False)


@pytest.mark.kafka
@pytest.mark.parametrize("fast_append", [True, False], ids=["fast", "send"])
def test_rejected_record_with_idempotence_replaces_the_producer_and_only_it_fails(
        kafka_bootstrap: str, topic: str, fast_append: bool) -> None:
    """The default (idempotent) producer: kafka-python 3.0.12 treats the broker's refusal of a record as
    fatal, aborts every incomplete batch and fails every later send. The publisher replaces the
    producer, spools the aborted events again and reads the topic's limit again: exactly the refused
    records are counted failed, every other event arrives, each chain in its partition."""
    _create_topic(kafka_bootstrap, topic)
    settings = _settings(kafka_bootstrap, topic, fast_append=fast_append, compression_type="none",
                         linger_ms=20, request_timeout_ms=2000, delivery_timeout_ms=10_000)
    events, rejected = _events_with_rejected(53, "i")
    with KafkaPublisher(settings) as publisher:
        _lower_limit_after_connect(kafka_bootstrap, topic, publisher, 4000)
        assert (publisher._fast is not None) is fast_append
        for event in events:
            assert publisher.publish(event)
        publisher.flush(60)
        stats = publisher.stats
    assert stats.replaced >= 1
    assert (stats.accepted, stats.dropped, stats.pending, stats.pending_bytes) == (len(events), 0, 0, 0)
    assert (stats.sent, stats.failed) == (len(events) - len(rejected), len(rejected))
    delivered = [e for i, e in enumerate(events) if i not in rejected]
    got = read_records(kafka_bootstrap, topic, len(delivered), PARTITIONS)
    assert {v for _, _, v in got} == {dump_event(e) for e in delivered}  # duplicates possible, nothing else
    by_value = {dump_event(e): e for e in delivered}
    for partition, key, value in got:
        assert key == by_value[value].root_job_id.encode() and partition == _java_partition(key)


@pytest.mark.kafka
def test_failed_deliveries_settle_pending_bytes_so_the_buffer_frees(kafka_bootstrap: str, topic: str) -> None:
    """After a refused burst the spool is usable again: pending bytes return to zero; and once the
    publisher knows the lower limit, it refuses the same events to the caller."""
    _create_topic(kafka_bootstrap, topic)
    events = list(generate_events(WorkloadConfig(chains=10, seed=47, run_id=f"p{uuid.uuid4().hex[:8]}")))
    size = sum(len(e.root_job_id) + len(dump_event(e)) for e in events)
    settings = _settings(kafka_bootstrap, topic, compression_type="none", buffer_memory=size + 1,
                         max_block_ms=2000, request_timeout_ms=2000, delivery_timeout_ms=5000)
    with KafkaPublisher(settings) as publisher:
        _lower_limit_after_connect(kafka_bootstrap, topic, publisher, 64)
        for event in events:
            assert publisher.publish(event)
        assert _until(lambda: publisher.stats.pending == 0, settings.delivery_timeout_ms / 1000 + 10)
        assert publisher.stats.pending_bytes == 0
        for event in events:
            with pytest.raises(RecordTooLarge):
                publisher.publish(event)
        stats = publisher.stats
    assert (stats.sent, stats.failed, stats.dropped, stats.refused) == (0, len(events), 0, len(events))


@pytest.mark.kafka
def test_wait_connected_turns_true_after_a_failed_metadata_warm_up(kafka_bootstrap: str, topic: str) -> None:
    """max_block_ms=0: the first metadata fetch cannot wait, so the warm-up at connect fails; the
    idle feeder asks again, wait_connected() turns True, and the fast path then appends."""
    _create_topic(kafka_bootstrap, topic)
    settings = _settings(kafka_bootstrap, topic, max_block_ms=0)
    # A fixed run id (the topic is the test's own): with random ones, 5 roots all hashed to one of
    # the 3 partitions in about 1 run in 80, and the spread check failed; these roots go to all 3.
    events = list(generate_events(WorkloadConfig(chains=5, seed=59, run_id="c59")))
    made: list[_SpyProducer] = []
    with KafkaPublisher(settings, producer_factory=_factory(made)) as publisher:
        assert publisher.wait_connected(30)
        for event in events:
            assert publisher.publish(event)
        publisher.flush(30)
        stats = publisher.stats
    assert (stats.sent, stats.failed, stats.dropped) == (len(events), 0, 0)
    assert made[0].sent_keys == []  # metadata known: every event took the fast path
    _assert_delivered_in_order(read_records(kafka_bootstrap, topic, len(events), PARTITIONS), events)
