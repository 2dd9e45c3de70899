"""The producer against the real broker: it never has the broker auto-create the topic, `produce`
creates it with the configured partitions and always ends with its summary, an event larger than the
topic accepts is refused before it is sent (the Reporter cuts its detail), and a producer that
failed fatally is replaced. Waits poll with a deadline."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.structs import TopicPartition

from producers import KafkaPublisher, ProducerSettings, RecordTooLarge, Reporter
from producers.workload import WorkloadConfig, generate_events
from schemas import (
    DiscogsArtistDetail,
    Entity,
    EntityType,
    JobEvent,
    JobFinished,
    JobType,
    dump_event,
    parse_event,
)

pytestmark = pytest.mark.kafka
ARTIST = Entity(type=EntityType.ARTIST, id=uuid.uuid4())


def _admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap)


def _partitions(bootstrap: str, topic: str) -> int | None:
    """The topic's partition count as the broker describes it (None: no such topic); never creates it."""
    admin = _admin(bootstrap)
    try:
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    return len(described["partitions"]) if described["error_code"] == 0 else None


def _create(bootstrap: str, topic: str, partitions: int = 3, configs: dict[str, str] | None = None) -> None:
    admin = _admin(bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})])
    finally:
        admin.close()


def _set_max_message_bytes(bootstrap: str, topic: str, limit: int) -> None:
    admin = _admin(bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                            configs={"max.message.bytes": str(limit)})])
    finally:
        admin.close()


def _read(bootstrap: str, topic: str) -> list[JobEvent]:
    """Every event on the topic up to its end offsets."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    tps = [TopicPartition(topic, p) for p in range(_partitions(bootstrap, topic) or 0)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got: list[JobEvent] = []
    try:
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(parse_event(r.value) for r in records)
    finally:
        consumer.close()
    return got


def _end_offsets_sum(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        n = _partitions(bootstrap, topic) or 0
        return sum(consumer.end_offsets([TopicPartition(topic, p) for p in range(n)]).values())
    finally:
        consumer.close()


def _until(check: Callable[[], bool], deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _events(n_chains: int, seed: int) -> list[JobEvent]:
    return list(generate_events(WorkloadConfig(chains=n_chains, seed=seed, run_id=f"t{uuid.uuid4().hex[:8]}")))


def _with_profile(event: JobEvent, chars: int) -> JobEvent:
    profile = ("Prolific session bassist and producer. " * (chars // 39 + 1))[:chars]
    return event.model_copy(update={"detail": DiscogsArtistDetail(discogs_id="42", profile=profile)})


def _produce(bootstrap: str, topic: str, *args: str, partitions: int = 4) -> subprocess.Popen[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENRICHLOG_TOPIC_PARTITIONS": str(partitions)}
    return subprocess.Popen([sys.executable, "-m", "enrichlog.cli", "produce", "--topic", topic, *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- the topic: never auto-created -------------------------------------------------------------

def test_produce_creates_a_missing_topic_with_the_configured_partitions(kafka_bootstrap: str, topic: str) -> None:
    proc = _produce(kafka_bootstrap, topic, "--chains", "30", "--seed", "3", partitions=4)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _partitions(kafka_bootstrap, topic) == 4  # not the broker's num.partitions (1)
    delivered = int(re.search(r"delivered (\d+), failed 0, dropped 0", out).group(1))  # type: ignore[union-attr]
    assert delivered == _end_offsets_sum(kafka_bootstrap, topic) > 0
    assert f"created topic {topic} with 4 partitions" in err
    # Not a terminal: plain progress lines on stderr, the first at the first chain, the last at the end.
    assert any(line.startswith(f"publishing to {topic}: 1 / 30 chains (3%)") for line in err.splitlines()), err
    assert re.search(rf"^publishing to {re.escape(topic)}: done, 30 chains in [\d.]+ s$", err, re.MULTILINE), err


def test_the_library_never_has_the_broker_create_the_topic_and_waits_for_it(
        kafka_bootstrap: str, topic: str) -> None:
    settings = ProducerSettings(bootstrap_servers=kafka_bootstrap, topic=topic, max_block_ms=200)
    events = _events(5, seed=71)
    with KafkaPublisher(settings) as publisher:
        for event in events:
            assert publisher.publish(event)  # spooled: nothing is lost while the topic is missing
        assert not publisher.wait_connected(3)
        assert publisher.stats.last_error is not None and "does not exist" in publisher.stats.last_error
        assert _partitions(kafka_bootstrap, topic) is None  # no metadata request created it
        _create(kafka_bootstrap, topic, partitions=2)
        assert _until(lambda: publisher.stats.sent == len(events), 30), publisher.stats
    assert _partitions(kafka_bootstrap, topic) == 2
    assert {e.event_id for e in _read(kafka_bootstrap, topic)} == {e.event_id for e in events}


# -- produce: the summary, always --------------------------------------------------------------

@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_produce_stopped_by_a_signal_ends_with_its_summary(kafka_bootstrap: str, topic: str,
                                                          signum: int, code: int) -> None:
    proc = _produce(kafka_bootstrap, topic, "--chains", "100000", "--rate", "400")
    try:
        assert _until(lambda: (_partitions(kafka_bootstrap, topic) or 0) > 0
                      and _end_offsets_sum(kafka_bootstrap, topic) > 200, 60)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert f"stopped by {signal.Signals(signum).name}" in out
    delivered = int(re.search(r"delivered (\d+), failed 0, dropped 0", out).group(1))  # type: ignore[union-attr]
    assert delivered == _end_offsets_sum(kafka_bootstrap, topic) > 200


# -- records larger than the topic accepts -----------------------------------------------------

def test_an_event_larger_than_the_topic_accepts_is_refused_before_it_is_sent(kafka_bootstrap: str, topic: str) -> None:
    """The limit is the topic's max.message.bytes, read from the broker; nothing after it is lost."""
    _create(kafka_bootstrap, topic, configs={"max.message.bytes": "8000"})
    events = _events(40, seed=73)
    big = next(i for i, e in enumerate(events) if e.kind == "job.finished" and e.job_type is JobType.DISCOGS_GET_ARTIST)
    too_big = _with_profile(events[big], 9000)
    settings = ProducerSettings(bootstrap_servers=kafka_bootstrap, topic=topic)
    with KafkaPublisher(settings) as publisher:
        assert publisher.wait_connected(30)
        assert publisher.max_record_size < 8000
        with pytest.raises(RecordTooLarge) as refused:
            publisher.publish(too_big)
        assert refused.value.job_id == too_big.job_id and refused.value.size > refused.value.limit
        for event in events:
            assert publisher.publish(event)
        publisher.flush(30)
        stats = publisher.stats
    assert (stats.refused, stats.sent, stats.failed, stats.replaced) == (1, len(events), 0, 0)
    assert sorted(str(e.event_id) for e in _read(kafka_bootstrap, topic)) == sorted(str(e.event_id) for e in events)


def test_the_reporter_sends_an_oversized_event_without_its_detail(kafka_bootstrap: str, topic: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    _create(kafka_bootstrap, topic, configs={"max.message.bytes": "8000"})
    settings = ProducerSettings(bootstrap_servers=kafka_bootstrap, topic=topic)
    profile = "x" * 12_000
    caplog.set_level(logging.WARNING, logger="producers")
    with KafkaPublisher(settings) as publisher:
        assert publisher.wait_connected(30)
        reporter = Reporter(publisher)
        with reporter.job(f"{topic}-get", JobType.DISCOGS_GET_ARTIST, entity=ARTIST) as job:
            job.detail(DiscogsArtistDetail(discogs_id="42", profile=profile))
        with reporter.job(f"{topic}-small", JobType.DISCOGS_GET_ARTIST, entity=ARTIST) as job:
            job.detail(DiscogsArtistDetail(discogs_id="43", profile="short"))
        publisher.flush(30)
        assert publisher.stats.refused == 1
    got = {(e.job_id, e.kind): e for e in _read(kafka_bootstrap, topic)}
    assert set(got) == {(f"{topic}-get", "job.started"), (f"{topic}-get", "job.finished"),
                        (f"{topic}-small", "job.started"), (f"{topic}-small", "job.finished")}
    cut, kept = got[(f"{topic}-get", "job.finished")], got[(f"{topic}-small", "job.finished")]
    assert isinstance(cut, JobFinished) and isinstance(kept, JobFinished)
    assert cut.detail is None  # the verdict arrived, its detail cut
    assert kept.detail == DiscogsArtistDetail(discogs_id="43", profile="short")
    assert any(f"{topic}-get" in r.getMessage() and "without its detail" in r.getMessage() for r in caplog.records)


def test_an_event_too_large_even_without_its_detail_is_a_clear_error(kafka_bootstrap: str, topic: str) -> None:
    _create(kafka_bootstrap, topic, configs={"max.message.bytes": "300"})  # below any event
    settings = ProducerSettings(bootstrap_servers=kafka_bootstrap, topic=topic)
    with KafkaPublisher(settings) as publisher:
        assert publisher.wait_connected(30)
        reporter = Reporter(publisher)
        with (pytest.raises(RecordTooLarge, match=f"event of job '{topic}-j' is .* bytes, more than topic"),
              reporter.job(f"{topic}-j", JobType.ENRICH_ARTIST, entity=ARTIST)):
            pass
        assert publisher.stats.accepted == 0
    assert _end_offsets_sum(kafka_bootstrap, topic) == 0


class _Counting(KafkaProducer):
    made: list[Any]

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        type(self).made.append(self)


def test_a_producer_that_failed_fatally_is_replaced_and_nothing_else_is_lost(
        kafka_bootstrap: str, topic: str, caplog: pytest.LogCaptureFixture) -> None:
    """The topic's limit is lowered after the publisher read it: a record passes the publisher's check
    and kafka-python's own, the broker refuses it, and kafka-python's idempotent producer fails for
    good. The publisher replaces it, reads the limit again, counts that one record as failed (logged
    with its job id) and delivers every other event, the ones spooled around the failure included."""
    _create(kafka_bootstrap, topic)
    events = _events(60, seed=79)
    big = next(i for i, e in enumerate(events) if e.kind == "job.finished" and e.job_type is JobType.DISCOGS_GET_ARTIST)
    events[big] = _with_profile(events[big], 9000)
    _Counting.made = []
    settings = ProducerSettings(bootstrap_servers=kafka_bootstrap, topic=topic, compression_type="none",
                                linger_ms=5, request_timeout_ms=3000, delivery_timeout_ms=10_000)
    caplog.set_level(logging.WARNING, logger="producers")
    with KafkaPublisher(settings, producer_factory=_Counting) as publisher:
        assert publisher.wait_connected(30)
        _set_max_message_bytes(kafka_bootstrap, topic, 8000)
        assert _until(lambda: _topic_limit(kafka_bootstrap, topic) == 8000, 30)
        assert publisher.max_record_size > 9000  # the publisher still knows the old limit
        for event in events:
            assert publisher.publish(event)
            time.sleep(0.001)
        publisher.flush(60)
        stats = publisher.stats
        assert publisher.max_record_size < 8000  # read again after the refusal
    assert stats.replaced >= 1 and len(_Counting.made) == stats.replaced + 1
    assert (stats.sent, stats.failed, stats.dropped, stats.pending) == (len(events) - 1, 1, 0, 0), stats
    on_topic = {str(e.event_id) for e in _read(kafka_bootstrap, topic)}
    assert on_topic == {str(e.event_id) for i, e in enumerate(events) if i != big}
    assert any(events[big].job_id in r.getMessage() and "lost" in r.getMessage() for r in caplog.records)


def _topic_limit(bootstrap: str, topic: str) -> int:
    admin = _admin(bootstrap)
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs=["max.message.bytes"])
        return int(admin.describe_configs([resource])["topic"][topic]["max.message.bytes"]["value"])
    finally:
        admin.close()


def test_dump_event_framing_is_within_the_publishers_margin() -> None:
    """The size check counts key + value; the broker counts the batch (header + one record's varints)."""
    event = _events(1, seed=83)[0]
    assert json.loads(dump_event(event))["jobId"] == event.job_id
