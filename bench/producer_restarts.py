"""Broker restarts under `enrichlog produce` (a script, not a test): does every event reach the topic?

    .venv/bin/python bench/producer_restarts.py [--kills 5 --down-s 20 --up-s 8 --rate 1000 --chains 21500]

Starts a broker of its own (free ports, a state directory under /var/tmp, removed afterwards; the
Kafka jars' classpath is taken from ENRICHLOG_STATE_DIR's broker when it has one), runs
`enrichlog produce` against a new topic at a steady rate, SIGKILLs the broker `--kills` times
(down `--down-s` seconds, plus however long its restart takes; up `--up-s` seconds in between),
then reads the whole topic back and prints: events produced, distinct events on the topic,
duplicates, dropped and failed as `produce` counted them, its exit status and its summary line.
Every event should be on the topic or counted as dropped/failed; none should be dropped while the
spool (ENRICHLOG_PRODUCER_BUFFER_MEMORY, `--spool-mb` here) has room. The short version of this
run is `tests/integration/test_producer_broker_restarts.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from kafka.structs import TopicPartition

from enrichlog.services import LocalKafka, ServicesSettings
from enrichlog.services._proc import pid_alive


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _broker(state_dir: Path) -> LocalKafka:
    broker = LocalKafka(ServicesSettings(state_dir=state_dir, kafka_port=_free_port(),
                                         kafka_controller_port=_free_port()))
    broker.home.mkdir(parents=True, exist_ok=True)
    for cached in Path(ServicesSettings().state_dir, "kafka").glob("classpath-*.txt"):  # skip Maven
        shutil.copy(cached, broker.home / cached.name)
    return broker


def _kill(broker: LocalKafka) -> None:
    pid = pid_alive(broker.pid_file)
    assert pid is not None, "the broker is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)


def _read_ids(bootstrap: str, topic: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    tps = [TopicPartition(topic, p["partition_index"]) for p in described["partitions"]]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ids: list[str] = []
    try:
        end = consumer.end_offsets(tps)
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500).values():
                ids.extend(json.loads(r.value)["eventId"] for r in records)
    finally:
        consumer.close()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--down-s", type=float, default=20.0)
    parser.add_argument("--up-s", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s sent by `produce`")
    parser.add_argument("--chains", type=int, default=21_500, help="about 12 events each")
    parser.add_argument("--spool-mb", type=int, default=256, help="ENRICHLOG_PRODUCER_BUFFER_MEMORY, MiB")
    args = parser.parse_args()

    state_dir = Path(f"/var/tmp/enrichlog-bench-restarts-{uuid.uuid4().hex[:8]}")
    broker = _broker(state_dir)
    broker.start()
    topic = f"bench-restarts-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers, "ENRICHLOG_TOPIC_PARTITIONS": "3",
           "ENRICHLOG_PRODUCER_BUFFER_MEMORY": str(args.spool_mb * 1024 * 1024),
           "ENRICHLOG_PRODUCER_SPOOL_MAX_EVENTS": "1000000"}
    started = time.monotonic()
    produce = subprocess.Popen(
        [sys.executable, "-m", "enrichlog.cli", "produce", "--topic", topic, "--chains", str(args.chains),
         "--rate", str(args.rate), "--seed", "7", "--drain-timeout", "300"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outages: list[float] = []
    try:
        time.sleep(args.up_s)
        for _ in range(args.kills):
            if produce.poll() is not None:
                break
            _kill(broker)
            down_at = time.monotonic()
            time.sleep(args.down_s)
            broker.start()
            outages.append(time.monotonic() - down_at)
            time.sleep(args.up_s)
        out, err = produce.communicate(timeout=3600)
        elapsed = time.monotonic() - started
        ids = _read_ids(broker.bootstrap_servers, topic)
    finally:
        if produce.poll() is None:
            produce.kill()
        broker.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    total = int(re.search(r"(\d+) events \(", out).group(1))  # type: ignore[union-attr]
    counts = re.search(r"delivered (\d+), failed (\d+), dropped (\d+)", out)
    assert counts is not None, out + err
    delivered, failed, dropped = (int(g) for g in counts.groups())
    distinct = len(set(ids))
    print(f"{len(outages)} SIGKILLs of the broker, outages {', '.join(f'{s:.1f}' for s in outages)} s "
          f"(down {args.down_s:g} s + the restart), up {args.up_s:g} s between; {elapsed:.0f} s in all")
    print(f"produce: exit {produce.returncode}; {out.strip().splitlines()[-1]}")
    print(f"events produced {total}; distinct on the topic {distinct} ({len(ids) - distinct} duplicates); "
          f"missing {total - distinct}; counted dropped {dropped}, failed {failed}, acknowledged {delivered}")
    print("every event on the topic or counted: " + ("yes" if total - distinct <= dropped + failed else "NO"))


if __name__ == "__main__":
    main()
