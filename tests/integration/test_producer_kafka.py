"""The producer library against real Kafka brokers: ordering per chain, and broker outages.

The outage test stops a broker of its own (other ports, other state directory), never the shared
one. Waits poll with a deadline; the only time bounds asserted are the library's own guarantees
(a processor is never held longer than max_block_ms, close() is bounded).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from enrichlog.services import LocalKafka
from producers import JobFailure, KafkaPublisher, Link, ProducerSettings, Reporter
from producers.workload import WorkloadConfig, run_workload
from schemas import Entity, EntityType, ErrorKind, JobEvent, JobType, parse_event
from tests.own_services import free_port, own_broker

ALBUM = Entity(type=EntityType.ALBUM, id=uuid.uuid4())
ARTIST = Entity(type=EntityType.ARTIST, id=uuid.uuid4())
SLACK_S = 1.0  # scheduling noise on a busy 2-core machine, on top of the configured bounds


def _create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def _read_back(bootstrap: str, topic: str, expected: int, deadline_s: float = 60) -> list[tuple[int, JobEvent]]:
    """(partition, event) for every message of the topic, in partition order; polls until `expected`."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None)
    got: list[tuple[int, JobEvent]] = []
    deadline = time.monotonic() + deadline_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                got.extend((tp.partition, parse_event(r.value)) for r in records)
    finally:
        consumer.close()
    return got


def _album_chain(reporter: Reporter, prefix: str) -> None:
    """Nine jobs of a real album chain: two retried jobs, one permanent failure."""
    root = f"{prefix}-check-album"
    with reporter.job(root, JobType.CHECK_ALBUM_ENRICHMENT, entity=ALBUM) as check:
        child = check.child_link()
    for attempt in (1, 2):  # fails once with a rate limit, then succeeds
        with reporter.job(f"{prefix}-enrich-album", JobType.ENRICH_ALBUM, entity=ALBUM, link=child,
                          attempt=attempt, reraise=False):
            if attempt == 1:
                raise JobFailure("MusicBrainz 503", kind=ErrorKind.UPSTREAM, code="MB_503")
    with reporter.job(f"{prefix}-cover", JobType.CACHE_ALBUM_COVER_ART, entity=ALBUM, link=child,
                      reraise=False):
        raise JobFailure("source image returned 404", kind=ErrorKind.NOT_FOUND,
                         code="IMAGE_FETCH_FAILED", retryable=False)
    with reporter.job(f"{prefix}-spotify", JobType.SPOTIFY_TRACK_FALLBACK, entity=ALBUM, link=child):
        pass
    with reporter.job(f"{prefix}-check-artist", JobType.CHECK_ARTIST_ENRICHMENT, entity=ARTIST, link=child) as job:
        nested = job.child_link()  # depth 2: still the root
    with reporter.job(f"{prefix}-enrich-artist", JobType.ENRICH_ARTIST, entity=ARTIST, link=nested):
        pass
    for attempt in (1, 2, 3):  # two timeouts, then success
        with reporter.job(f"{prefix}-search", JobType.DISCOGS_SEARCH_ARTIST, entity=ARTIST, link=Link(root),
                          attempt=attempt, reraise=False):
            if attempt < 3:
                raise TimeoutError("Discogs did not answer within 30 s")
    for job_id, job_type in ((f"{prefix}-get", JobType.DISCOGS_GET_ARTIST),
                             (f"{prefix}-image", JobType.CACHE_ARTIST_IMAGE)):
        with reporter.job(job_id, job_type, entity=ARTIST, link=Link(root)):
            pass


@pytest.mark.kafka
def test_chains_are_read_back_whole_in_one_partition_in_order(kafka_bootstrap: str, topic: str) -> None:
    _create_topic(kafka_bootstrap, topic, partitions=3)
    settings = ProducerSettings(bootstrap_servers=kafka_bootstrap, topic=topic)
    prefix = uuid.uuid4().hex[:8]
    with KafkaPublisher(settings) as publisher:
        sent_chain: list[JobEvent] = []  # what the processor emitted, in order
        reporter = Reporter(_Recording(publisher, sent_chain))
        _album_chain(reporter, prefix)
        summary = run_workload(WorkloadConfig(chains=60, seed=21, run_id=f"{prefix}w"), publisher)
        publisher.flush(30)
        stats = publisher.stats
    expected = len(sent_chain) + summary.total_events
    assert (stats.sent, stats.failed, stats.dropped) == (expected, 0, 0)

    got = _read_back(kafka_bootstrap, topic, expected)
    assert len(got) == expected
    chain = [(p, e) for p, e in got if e.root_job_id == f"{prefix}-check-album"]
    assert [e for _, e in chain] == sent_chain  # every event, in emission order
    assert len({p for p, _ in chain}) == 1
    assert len({e.job_id for e in sent_chain}) == 9
    assert [e.kind for e in sent_chain].count("job.retrying") == 3
    assert [(e.job_id, e.kind) for e in sent_chain if e.kind == "job.failed"] == [(f"{prefix}-cover", "job.failed")]
    assert all(e.parent_job_id == e.root_job_id for e in sent_chain if e.job_id != e.root_job_id)

    by_root: dict[str, list[tuple[int, JobEvent]]] = {}
    for p, e in got:
        by_root.setdefault(e.root_job_id, []).append((p, e))
    assert len(by_root) == 61  # the hand-made chain and the workload's 60: spread over partitions
    assert len({rows[0][0] for rows in by_root.values()}) > 1
    for rows in by_root.values():
        assert len({p for p, _ in rows}) == 1
        times = [e.occurred_at for _, e in rows]
        assert times == sorted(times)


class _Recording:
    """Passes events to the publisher and keeps a copy (the test's view of what was emitted)."""

    def __init__(self, publisher: KafkaPublisher, into: list[JobEvent]) -> None:
        self.publisher, self.into = publisher, into

    def publish(self, event: JobEvent) -> bool:
        self.into.append(event)
        return self.publisher.publish(event)

    def flush(self, timeout: float | None = None) -> None:
        self.publisher.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self.publisher.close(timeout)


def _timed_jobs(reporter: Reporter, prefix: str, count: int) -> float:
    """Run `count` jobs the way a processor would; the longest a single job was held (s)."""
    longest = 0.0
    for n in range(count):
        started = time.monotonic()
        with reporter.job(f"{prefix}-{n}", JobType.ENRICH_ARTIST, entity=ARTIST):
            pass
        longest = max(longest, time.monotonic() - started)
    return longest


def _until(check: Callable[[], bool], deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_unreachable_broker_never_holds_the_processor() -> None:
    """Broker down from the start: bounded waits, then counted drops; close() is bounded."""
    settings = ProducerSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", topic="t",
                                max_block_ms=200, buffer_memory=8192, request_timeout_ms=500,
                                delivery_timeout_ms=1000, close_timeout_ms=1000)
    publisher = KafkaPublisher(settings).start()
    reporter = Reporter(publisher)
    longest = _timed_jobs(reporter, uuid.uuid4().hex[:8], 300)  # 600 events of ~700 bytes
    assert longest < settings.max_block_ms / 1000 + SLACK_S
    stats = publisher.stats
    assert stats.sent == 0 and stats.dropped > 0
    assert stats.accepted + stats.dropped == 600
    assert stats.last_error is not None and "spool full" in stats.last_error
    started = time.monotonic()
    publisher.close()
    assert time.monotonic() - started < settings.close_timeout_ms / 1000 + SLACK_S
    assert publisher.stats.failed == stats.accepted and publisher.stats.pending == 0


@pytest.fixture
def own_kafka() -> Iterator[LocalKafka]:
    """A broker of this test's own, so stopping it leaves the shared one alone."""
    broker = own_broker("producer-outage")
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.settings.state_dir, ignore_errors=True)


@pytest.mark.kafka
def test_broker_stopped_processor_keeps_running_and_leftovers_are_counted_at_close(own_kafka: LocalKafka) -> None:
    topic = f"outage-{uuid.uuid4().hex[:8]}"
    _create_topic(own_kafka.bootstrap_servers, topic, partitions=1)
    settings = ProducerSettings(bootstrap_servers=own_kafka.bootstrap_servers, topic=topic, max_block_ms=300,
                                request_timeout_ms=1000, delivery_timeout_ms=2000, close_timeout_ms=2000,
                                linger_ms=5)
    publisher = KafkaPublisher(settings).start()
    reporter = Reporter(publisher)
    assert publisher.wait_connected(30)
    _timed_jobs(reporter, f"{topic}-before", 10)
    publisher.flush(30)
    assert publisher.stats.sent == 20

    own_kafka.stop()
    longest = _timed_jobs(reporter, f"{topic}-during", 50)
    assert longest < settings.max_block_ms / 1000 + SLACK_S
    # the events emitted during the outage wait in the spool, past their delivery timeout
    time.sleep(settings.delivery_timeout_ms / 1000 + 1)
    stats = publisher.stats
    assert (stats.sent, stats.failed, stats.pending) == (20, 0, 100), stats

    started = time.monotonic()
    publisher.close()  # the broker never came back: what is left is counted failed
    assert time.monotonic() - started < settings.close_timeout_ms / 1000 + SLACK_S
    stats = publisher.stats
    assert (stats.sent, stats.failed, stats.pending) == (20, 100, 0), stats
