"""The producer library across broker restarts: a dedicated broker SIGKILLed mid-stream, restarted.

Every event published reaches the topic (duplicates are harmless: the fold is idempotent) or is
counted as dropped; none is dropped while the spool has room; what is dropped is logged with its
job ids. Sizes come from the environment so that CI stays short (a broker restart itself takes
5-30 s on a busy 2-core machine) and a longer run is one variable away:
ENRICHLOG_PRODUCER_KILL_TEST_KILLS (2), ENRICHLOG_PRODUCER_KILL_TEST_DOWN_S (1; the restart adds
its own), ENRICHLOG_PRODUCER_KILL_TEST_UP_S (3), ENRICHLOG_PRODUCER_KILL_TEST_RATE (1500 events/s).
`bench/producer_restarts.py` runs the long version through `enrichlog produce`.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import TopicPartition

from producers import KafkaPublisher, ProducerSettings
from producers.workload import WorkloadConfig, generate_events
from schemas import JobEvent
from tests.own_services import KillableBroker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KILLS = int(os.environ.get("ENRICHLOG_PRODUCER_KILL_TEST_KILLS", "2"))
DOWN_S = float(os.environ.get("ENRICHLOG_PRODUCER_KILL_TEST_DOWN_S", "1"))
UP_S = float(os.environ.get("ENRICHLOG_PRODUCER_KILL_TEST_UP_S", "3"))
RATE = float(os.environ.get("ENRICHLOG_PRODUCER_KILL_TEST_RATE", "1500"))
PARTITIONS = 3
SLACK_S = 2.5  # scheduling noise on a 2-core machine with a load of 8-10, on top of the configured bounds


@pytest.fixture
def broker() -> Iterator[KillableBroker]:
    own = KillableBroker()
    own.start()
    yield own
    own.remove()


def _topic(bootstrap: str) -> str:
    name = f"restarts-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        admin.close()
    return name


def _event_ids_on(bootstrap: str, topic: str) -> list[str]:
    """The eventId of every record on the topic, up to its end offsets (duplicates kept)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ids: list[str] = []
    try:
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                ids.extend(json.loads(r.value)["eventId"] for r in records)
    finally:
        consumer.close()
    return ids


def _workload(n: int) -> Iterator[JobEvent]:
    """Up to `n` events of the workload generator, built as they are published."""
    config = WorkloadConfig(chains=n // 8 + 1, seed=61, run_id=f"k{uuid.uuid4().hex[:8]}")
    return itertools.islice(generate_events(config), n)


class _Stream(threading.Thread):
    """Publishes `events` at `rate` events/s, as a processor would, until stopped; notes the longest
    publish call and what was published."""

    def __init__(self, publisher: KafkaPublisher, events: Iterator[JobEvent], rate: float) -> None:
        super().__init__(daemon=True)
        self.publisher, self.events, self.rate = publisher, events, rate
        self.longest = 0.0
        self.published: list[tuple[str, str]] = []  # (event id, job id): few objects for the GC to walk
        self.refused: set[str] = set()  # event ids publish() returned False for: dropped
        self.stopping = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        for n, event in enumerate(self.events):
            if self.stopping.is_set():
                return
            self.published.append((str(event.event_id), event.job_id))
            due = started + n / self.rate
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            t0 = time.monotonic()
            if not self.publisher.publish(event):
                self.refused.add(str(event.event_id))
            self.longest = max(self.longest, time.monotonic() - t0)


def _kill_during(broker: KillableBroker, stream: _Stream, kills: int, down_s: float, up_s: float) -> list[float]:
    """SIGKILL the broker `kills` times while the stream runs; the seconds each outage lasted."""
    outages = []
    time.sleep(up_s)
    for _ in range(kills):
        broker.kill()
        down_at = time.monotonic()
        time.sleep(down_s)
        broker.start()
        outages.append(time.monotonic() - down_at)
        time.sleep(up_s)
    stream.stopping.set()
    stream.join(timeout=60)
    assert not stream.is_alive()
    return outages


def _settings(bootstrap: str, topic: str, **overrides: object) -> ProducerSettings:
    return ProducerSettings(bootstrap_servers=bootstrap, topic=topic, linger_ms=5, **overrides)  # type: ignore[arg-type]


def test_every_event_survives_repeated_broker_kills(broker: KillableBroker) -> None:
    topic = _topic(broker.bootstrap_servers)
    events = _workload(int(RATE * (KILLS * (DOWN_S + UP_S + 60) + UP_S)))  # a restart takes up to ~60 s
    settings = _settings(broker.bootstrap_servers, topic, buffer_memory=256 * 1024 * 1024,
                         max_block_ms=200)
    publisher = KafkaPublisher(settings).start()
    try:
        assert publisher.wait_connected(30)
        stream = _Stream(publisher, events, RATE)
        stream.start()
        outages = _kill_during(broker, stream, KILLS, DOWN_S, UP_S)
        publisher.flush(120)
        stats = publisher.stats
    finally:
        publisher.close(timeout=5)
    published = stream.published
    assert stats.accepted == len(published)
    print(f"\nproducer kill test: {len(published)} published, {broker.kills} SIGKILLs, outages "
          f"{', '.join(f'{s:.1f}' for s in outages)} s; {stats}")
    assert stream.longest < settings.max_block_ms / 1000 + SLACK_S  # the processor was never held
    assert (stats.dropped, stats.failed, stats.pending) == (0, 0, 0), stats
    on_topic = _event_ids_on(broker.bootstrap_servers, topic)
    missing = {event_id for event_id, _ in published} - set(on_topic)
    assert not missing, f"{len(missing)} of {len(published)} events missing from the topic"


def test_a_small_spool_drops_and_every_drop_is_counted_and_logged(
        broker: KillableBroker, caplog: pytest.LogCaptureFixture) -> None:
    topic = _topic(broker.bootstrap_servers)
    events = _workload(int(RATE * (DOWN_S + 2 * UP_S + 60)))
    settings = _settings(broker.bootstrap_servers, topic, buffer_memory=400_000, max_block_ms=50,
                         error_log_interval_s=0)
    caplog.set_level(logging.WARNING, logger="producers")
    publisher = KafkaPublisher(settings).start()
    try:
        assert publisher.wait_connected(30)
        stream = _Stream(publisher, events, RATE)
        stream.start()
        _kill_during(broker, stream, 1, DOWN_S, UP_S)
        publisher.flush(120)
        stats = publisher.stats
    finally:
        publisher.close(timeout=5)
    published = stream.published
    print(f"\nsmall spool: {len(published)} published; {stats}")
    assert stats.dropped > 0 and stats.failed == 0, stats
    on_topic = set(_event_ids_on(broker.bootstrap_servers, topic))
    missing = [(event_id, job_id) for event_id, job_id in published if event_id not in on_topic]
    assert len(missing) == stats.dropped == len(stream.refused)
    assert {event_id for event_id, _ in missing} == stream.refused
    logged = {word for r in caplog.records for word in r.getMessage().split()}
    unlogged = [job_id for _, job_id in missing if job_id not in logged]
    assert not unlogged, f"{len(unlogged)} dropped events' job ids not logged, e.g. {unlogged[:3]}"
