"""Dead letters at and over the dead-letter topic's size limit, on the real broker: no record stops the stream.

A dead letter that fits the topic's `max.message.bytes` goes whole; one that does not goes reduced
(the value cut, with its original size and sha256 in headers); the source topic keeps the original.
Only the broker gone halts the projector, which then waits (a broker of the test's own is killed).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from enrichlog.services import LocalKafka
from enrichlog.services._proc import port_open
from schemas import dump_event
from tests.harness import ProjectorProcess, wait_for
from tests.own_services import free_port
from tests.scenarios import album_chain_with_failed_child

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

MB = 1024 * 1024
OUTAGE_S = float(os.environ.get("ENRICHLOG_OUTAGE_S", "10"))


def _varint(n: int) -> int:
    """Bytes of Kafka's zigzag varint of n."""
    z, size = (n << 1) ^ (n >> 63), 1
    while z >= 0x80:
        z >>= 7
        size += 1
    return size


def _batch_size(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    """Bytes of a record batch (format v2, uncompressed) holding only this record: what the broker
    compares with `max.message.bytes`. Written from the protocol, independently of the projector."""
    def field(b: bytes | None) -> int:
        return 1 if b is None else _varint(len(b)) + len(b)

    body = 1 + 1 + 1 + field(key) + field(value) + _varint(len(headers))  # attributes, two zero deltas
    body += sum(field(k.encode()) + field(v) for k, v in headers)
    return 61 + _varint(body) + body


def _producer(bootstrap: str, **config: Any) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8 * MB, **config)


def _publish_chain(producer: KafkaProducer, topic: str, partition: int) -> str:
    c, events = album_chain_with_failed_child()
    for e in events:
        producer.send(topic, key=e.root_job_id.encode(), value=dump_event(e), partition=partition)
    return c.root_id


def _roots_partial(db: str, roots: list[str]) -> bool:
    with psycopg.connect(db) as conn:
        got = conn.execute("SELECT job_id FROM enrichment_logs WHERE job_id = ANY(%s) AND status = 'PARTIAL'",
                           (roots,)).fetchall()
    return len(got) == len(roots)


def _dead_letters(bootstrap: str, topic: str, keys: set[bytes], timeout: float = 90) -> dict[bytes, Any]:
    """The dead letters of the given keys (the last one of each key)."""
    consumer = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=500, group_id=None, fetch_max_bytes=64 * MB,
                             max_partition_fetch_bytes=16 * MB)
    got: dict[bytes, Any] = {}
    try:
        wait_for(lambda: got.update({m.key: m for m in consumer}) or keys <= set(got), timeout=timeout,
                 what=f"dead letters {sorted(keys)}")
    finally:
        consumer.close()
    return got


def _topic_limit(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})],
                                         config_filter="all")
        return int(configs["topic"][topic]["max.message.bytes"]["value"])
    finally:
        admin.close()


def _create_topics(bootstrap: str, topic: str, dlq_configs: dict[str, str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 3, 1), NewTopic(f"{topic}.dlq", 3, 1, topic_configs=dlq_configs)])
    finally:
        admin.close()


def _assert_reduced(letter: Any, original: bytes, topic: str, partition: int, offset: int, limit: int) -> None:
    headers = dict(letter.headers)
    assert headers["dlq.reduced"] == b"true"
    assert int(headers["dlq.original-size"]) == len(original)
    assert headers["dlq.original-sha256"] == hashlib.sha256(original).hexdigest().encode()
    assert int(headers["dlq.limit"]) == limit
    assert (headers["dlq.topic"], int(headers["dlq.partition"]), int(headers["dlq.offset"])) == (
        topic.encode(), partition, offset)
    assert headers["dlq.reason"] and headers["dlq.error"] and headers["dlq.at"]
    assert 0 < len(letter.value) < len(original) and original.startswith(letter.value)
    assert _batch_size(letter.key, letter.value, list(letter.headers)) <= limit


def _source_value(bootstrap: str, topic: str, partition: int, offset: int) -> bytes:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, max_partition_fetch_bytes=16 * MB)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        records = wait_for(lambda: consumer.poll(1000).get(tp), timeout=30, what="the source record")
        return bytes(records[0].value)
    finally:
        consumer.close()


@pytest.mark.parametrize("library", ["kafka-python", "aiokafka"])
def test_a_compressed_oversize_record_goes_reduced_and_every_partition_folds_on(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str, library: str
) -> None:
    """A 2 MB value that its producer gzipped is accepted by the broker (the batch is small), and
    fails validation: its dead letter cannot go whole (the limit applies to what is sent
    uncompressed). It goes reduced; the events after it, on every partition, are folded."""
    huge = b'{"kind": "job.started", "jobId": "' + b"x" * (2 * MB) + b'"}'
    if library == "kafka-python":
        producer = _producer(kafka_bootstrap, compression_type="gzip")
        offset = producer.send(topic, key=b"huge", value=huge, partition=0).get(30).offset
    else:
        offset = asyncio.run(_aiokafka_send(kafka_bootstrap, topic, b"huge", huge, partition=0))
        producer = _producer(kafka_bootstrap)
    roots = [_publish_chain(producer, topic, p) for p in range(3)]
    producer.flush(30)
    producer.close()
    wait_for(lambda: _roots_partial(db, roots) or projector.died_on_its_own(), timeout=120,
             what="every partition's chain to be folded")
    assert projector.running(), projector.log()
    assert _roots_partial(db, roots)
    letter = _dead_letters(kafka_bootstrap, topic, {b"huge"})[b"huge"]
    _assert_reduced(letter, huge, topic, 0, offset, _topic_limit(kafka_bootstrap, f"{topic}.dlq"))
    assert dict(letter.headers)["dlq.reason"] == b"schema"
    assert _source_value(kafka_bootstrap, topic, 0, offset) == huge  # the original stays on the source topic


async def _aiokafka_send(bootstrap: str, topic: str, key: bytes, value: bytes, partition: int) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip",
                                max_request_size=8 * MB)
    await producer.start()
    try:
        return int((await producer.send_and_wait(topic, value=value, key=key, partition=partition)).offset)
    finally:
        await producer.stop()


def test_a_dead_letter_exactly_at_the_topics_limit_goes_whole_and_one_byte_more_goes_reduced(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Any
) -> None:
    """The dead-letter topic's own `max.message.bytes` (here far below the client's default request
    size) is the limit. Undecodable values are sized from a first dead letter so that the next one's
    record batch is exactly the limit, and the one after that one byte more."""
    limit = 40_000
    _create_topics(kafka_bootstrap, topic, {"max.message.bytes": str(limit)})
    proc = ProjectorProcess(projector_env, tmp_path / "projector.log").start()
    try:
        producer = _producer(kafka_bootstrap)
        key = b"probe-0"
        assert producer.send(topic, key=key, value=b"\xff probe", partition=0).get(30).offset == 0
        probe = _dead_letters(kafka_bootstrap, topic, {key})[key]
        # The next dead letters differ from the probe only in key, value and dlq.at's time (same length).
        headers = [(k, v) for k, v in probe.headers if k != "dlq.offset"] + [("dlq.offset", b"1")]
        n = limit - _batch_size(b"at-lim1", b"", headers)
        while _batch_size(b"at-lim1", b"\xff" * n, headers) > limit:
            n -= 1
        at_limit = b"\xff" + b"a" * (n - 1)
        assert _batch_size(b"at-lim1", at_limit, headers) == limit
        over = b"\xff" + b"b" * n
        producer.send(topic, key=b"at-lim1", value=at_limit, partition=0)
        producer.send(topic, key=b"over-l2", value=over, partition=0)
        root = _publish_chain(producer, topic, 0)
        producer.flush(30)
        producer.close()
        wait_for(lambda: _roots_partial(db, [root]) or proc.died_on_its_own(), timeout=120,
                 what="the chain after the dead letters to be folded")
        assert proc.running(), proc.log()
        got = _dead_letters(kafka_bootstrap, topic, {b"at-lim1", b"over-l2"})
        whole = got[b"at-lim1"]
        assert whole.value == at_limit and "dlq.reduced" not in dict(whole.headers)
        assert _batch_size(whole.key, whole.value, list(whole.headers)) == limit
        _assert_reduced(got[b"over-l2"], over, topic, 0, 2, limit)
    finally:
        proc.kill()
        print(proc.log())


def test_a_record_the_broker_refuses_as_too_large_is_sent_again_reduced(
    projector: ProjectorProcess, kafka_bootstrap: str, topic: str, db: str
) -> None:
    """The dead-letter topic's limit is lowered while the projector runs: the broker refuses a dead
    letter the projector believed to fit, and aiokafka raises MessageSizeTooLargeError to its caller.
    The projector reads the limits again and sends the dead letter reduced; later ones still go."""
    from aiokafka.errors import MessageSizeTooLargeError

    producer = _producer(kafka_bootstrap)
    producer.send(topic, key=b"first", value=b"\xff first", partition=1)
    producer.flush(30)
    _dead_letters(kafka_bootstrap, topic, {b"first"})  # the dead-letter producer has its limits now
    limit = 30_000
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, f"{topic}.dlq",
                                            configs={"max.message.bytes": str(limit)})])
    finally:
        admin.close()
    big = b"\xff" + uuid.uuid4().hex.encode() * 1500  # 48 kB: over the new limit, far under the old
    wait_for(lambda: asyncio.run(_broker_refusal(kafka_bootstrap, f"{topic}.dlq", big)), timeout=30,
             what="the broker to refuse the record with MessageSizeTooLargeError")
    assert isinstance(asyncio.run(_broker_refusal(kafka_bootstrap, f"{topic}.dlq", big)), MessageSizeTooLargeError)
    offset = producer.send(topic, key=b"big", value=big, partition=1).get(30).offset
    producer.send(topic, key=b"after", value=b"\xff after", partition=1)
    root = _publish_chain(producer, topic, 2)
    producer.flush(30)
    producer.close()
    wait_for(lambda: _roots_partial(db, [root]) or projector.died_on_its_own(), timeout=120,
             what="the chain after the refused dead letter to be folded")
    assert projector.running(), projector.log()
    got = _dead_letters(kafka_bootstrap, topic, {b"big", b"after"})
    _assert_reduced(got[b"big"], big, topic, 1, offset, limit)
    assert got[b"after"].value == b"\xff after"


async def _broker_refusal(bootstrap: str, topic: str, value: bytes) -> BaseException | None:
    """What aiokafka raises to its caller when the broker refuses `value` (its own check passes)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=b"refusal-probe")
    except Exception as exc:
        return exc
    finally:
        await producer.stop()
    return None


def _kill(kafka: LocalKafka) -> None:
    os.kill(int(kafka.pid_file.read_text()), signal.SIGKILL)
    wait_for(lambda: not port_open("127.0.0.1", kafka.settings.kafka_port), timeout=30, what="the broker to be gone")


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def _positions(db: str, topic: str) -> dict[int, int]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT partition, next_offset FROM enrichment_log_positions WHERE topic = %s",
                            (topic,)).fetchall()
    return dict(rows)


def _waiting_on_a_lock(db: str) -> int:
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'").fetchone()
    return int(row[0]) if row else 0


def test_the_broker_gone_while_a_dead_letter_is_due_halts_the_projector_until_it_is_back(
    own_kafka: LocalKafka, projector_env: dict[str, str], topic: str, db: str, tmp_path: Path
) -> None:
    """A batch holding a bad message is in the projector's hands (its reads wait on a lock the test
    holds) when the broker is SIGKILLed; then the lock goes and the dead letter is due. The
    projector must neither exit nor advance any partition, count and say that it waits, and fold
    on by itself once the broker is back."""
    bootstrap = own_kafka.bootstrap_servers
    _create_topics(bootstrap, topic, {})
    metrics_port = free_port()
    env = {**projector_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENRICHLOG_METRICS_PORT": str(metrics_port),
           "ENRICHLOG_DEAD_LETTER_TIMEOUT_S": "5"}
    log = tmp_path / "projector.log"
    proc = ProjectorProcess(env, log).start()
    try:
        producer = _producer(bootstrap, linger_ms=200)
        first = [_publish_chain(producer, topic, p) for p in range(3)]
        producer.flush(30)
        wait_for(lambda: _roots_partial(db, first) or proc.died_on_its_own(), timeout=120, what="the first chains")
        with psycopg.connect(db) as lock:
            lock.execute("LOCK TABLE enrichment_logs IN ACCESS EXCLUSIVE MODE")  # the projector's reads wait
            # One record batch on one partition: the bad message and a chain arrive in one batch.
            c, events = album_chain_with_failed_child()
            for e in events[:6]:
                producer.send(topic, key=e.root_job_id.encode(), value=dump_event(e), partition=0)
            producer.send(topic, key=b"bad", value=b"\xff bad", partition=0)
            for e in events[6:]:
                producer.send(topic, key=e.root_job_id.encode(), value=dump_event(e), partition=0)
            producer.flush(30)
            producer.close()
            wait_for(lambda: _waiting_on_a_lock(db) > 0 or proc.died_on_its_own(), timeout=60,
                     what="the batch with the bad message to wait on the lock")
            _kill(own_kafka)
            killed_at = time.monotonic()
            lock.rollback()
        wait_for(lambda: "dead-letter topic cannot be written" in log.read_text() or proc.died_on_its_own(),
                 timeout=60, what="the projector to wait for the dead-letter topic")
        assert proc.running(), proc.log()
        assert _metric(metrics_port, "enrichlog_dead_letter_blocked") == 1
        held = _positions(db, topic)
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_S:
            assert proc.running(), proc.log()  # it waits for the broker, it does not exit
            assert _positions(db, topic) == held  # and no partition moves on past the dead letter
            time.sleep(0.5)
        assert _metric(metrics_port, 'enrichlog_dead_letter_errors_total{kind="unavailable"}') >= 2
        own_kafka.start()
        back_at = time.monotonic()
        wait_for(lambda: _roots_partial(db, [c.root_id]) or proc.died_on_its_own(), timeout=180,
                 what="the chain around the dead letter to be folded")
        print(f"\nbroker down {back_at - killed_at:.0f}s while a dead letter was due; "
              f"folding again {time.monotonic() - back_at:.1f}s after the broker was back")
        assert proc.running(), proc.log()
        assert _dead_letters(bootstrap, topic, {b"bad"})[b"bad"].value == b"\xff bad"
        assert _metric(metrics_port, "enrichlog_dead_letter_blocked") == 0
        assert "dead-letter topic written again" in log.read_text()
        assert proc.stop() == 0
    finally:
        proc.kill()
        print(proc.log())
