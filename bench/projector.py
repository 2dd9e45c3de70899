"""Projector benchmark: throughput from a pre-filled topic, the naive agent in the same run,
event-to-row latency at a steady rate, and the projector's resident memory throughout.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 DATABASE_URL=postgresql://enrichlog@127.0.0.1:55432/enrichlog \
        .venv/bin/python bench/projector.py --events 1000000

Broker, database and projector share this machine's cores, as they would in the issue's setting.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

from enrichlog.migrate import migrate  # noqa: E402
from producers.workload import WorkloadConfig, generate_events  # noqa: E402
from schemas import dump_event  # noqa: E402
from tests.harness import ProjectorProcess, wait_for  # noqa: E402

PARTITIONS = 6


def fresh_database(server_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server_url.rsplit("/", 1)[0] + "/" + name
    migrate(url)
    return url


def drop_database(server_url: str, url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def fill_topic(bootstrap: str, topic: str, events: int, seed: int) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=50, batch_size=512 * 1024,
                             compression_type="lz4")
    sent = 0
    # Chains are generated one by one, as needed: as many as it takes (a chain has at least one
    # event) to send exactly `events`. (Sized by an average of 11 events per chain, a 1,000,000
    # topic once held 963,368.)
    config = WorkloadConfig(chains=events, seed=seed, run_id=f"b{seed}")
    for event in generate_events(config):
        producer.send(topic, key=event.root_job_id.encode(), value=dump_event(event))
        sent += 1
        if sent >= events:
            break
    producer.flush(120)
    producer.close()
    return sent


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    ends = {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
    consumer.close()
    return ends


def committed(url: str, topic: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM enrichment_log_positions WHERE topic = %s",
                           (topic,)).fetchone()
    return int(row[0]) if row else 0


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """Resident memory of processes every 0.5 s: samples hold each one's, totals their sum."""

    def __init__(self, *pids: int) -> None:
        super().__init__(daemon=True)
        self.pids, self.stop = pids, threading.Event()
        self.samples: list[float] = []
        self.totals: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            values = [v for v in map(rss_mb, self.pids) if v]
            self.samples.extend(values)
            self.totals.append(sum(values))
            time.sleep(0.5)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pids_named(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class CpuSplit:
    """CPU seconds spent by the projector processes, PostgreSQL's processes and the Kafka broker
    between `start()` and `stop()`: where the machine's two cores went. PostgreSQL's backends are
    counted at stop (a backend that ended in between is missed, the projector's connections live
    through the run)."""

    def __init__(self, projector_pids: list[int]) -> None:
        self.groups = {"projector": lambda: projector_pids,
                       "postgres": lambda: pids_named("^postgres"),
                       "kafka": lambda: pids_named("kafka.Kafka")}

    def _sample(self) -> dict[str, dict[int, float]]:
        return {g: {p: cpu_seconds(p) for p in pids()} for g, pids in self.groups.items()}

    def start(self) -> None:
        self.t0, self.before = time.monotonic(), self._sample()

    def stop(self) -> dict[str, float]:
        after, wall = self._sample(), time.monotonic() - self.t0
        used = {g: sum(v - self.before[g].get(p, 0.0) for p, v in after[g].items()) for g in after}
        return {**{g: c / wall for g, c in used.items()}, "wall": wall}


def env_for(bootstrap: str, url: str, topic: str, group: str) -> dict[str, str]:
    return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": url, "ENRICHLOG_EVENTS_TOPIC": topic,
            "ENRICHLOG_CONSUMER_GROUP": group, "ENRICHLOG_METRICS_PORT": "0", "ENRICHLOG_LOG_LEVEL": "WARNING",
            "ENRICHLOG_TOPIC_PARTITIONS": str(PARTITIONS)}


def run_projector(bootstrap: str, url: str, topic: str, total: int, log: Path, workers: int = 1) -> dict[str, Any]:
    """`workers` projector processes in one consumer group: the partitions are shared among them."""
    env = env_for(bootstrap, url, topic, f"bench-{uuid.uuid4().hex[:6]}")
    procs = [ProjectorProcess(env, log.with_suffix(f".{i}.log") if workers > 1 else log).start()
             for i in range(workers)]
    sampler = RssSampler(*(p.proc.pid for p in procs if p.proc is not None))
    sampler.start()
    wait_for(lambda: committed(url, topic) > 0, timeout=120, what="first batch")
    split = CpuSplit([p.proc.pid for p in procs if p.proc is not None])
    t0, n0 = time.monotonic(), committed(url, topic)
    split.start()
    wait_for(lambda: committed(url, topic) >= total, timeout=3600, what="all events")
    elapsed, n = time.monotonic() - t0, committed(url, topic) - n0
    cores = split.stop()
    sampler.stop.set()
    for p in procs:
        p.stop()
    with psycopg.connect(url, autocommit=True) as conn:  # the projector's backends flushed their stats at exit
        time.sleep(1)
        writes = conn.execute("SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_live_tup FROM pg_stat_user_tables "
                              "WHERE relname = 'enrichment_logs'").fetchone()
    return {"events": n, "writes": writes, "seconds": elapsed, "rate": n / elapsed,
            "rss_max_mb": max(sampler.samples or [0]), "rss_total_max_mb": max(sampler.totals or [0]),
            **{f"cores_{g}": c for g, c in cores.items() if g != "wall"}}


def run_naive(bootstrap: str, url: str, topic: str, seconds: float, log: Path) -> dict[str, float]:
    env = env_for(bootstrap, url, topic, f"naive-{uuid.uuid4().hex[:6]}")
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "naive_agent.py")], env=env, stdout=out,
                                stderr=subprocess.STDOUT)

    def events_done() -> int:  # the naive agent keeps no positions: count its consumer group's commits
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=env["ENRICHLOG_CONSUMER_GROUP"],
                                 enable_auto_commit=False)
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        total = sum(consumer.committed(tp) or 0 for tp in tps)
        consumer.close()
        return total

    wait_for(lambda: events_done() > 0, timeout=120, what="naive agent's first commit")
    t0, n0 = time.monotonic(), events_done()
    time.sleep(seconds)
    n = events_done() - n0
    elapsed = time.monotonic() - t0
    proc.terminate()
    proc.wait(60)
    return {"events": n, "seconds": elapsed, "rate": n / elapsed}


def run_latency(bootstrap: str, url: str, rate: int, seconds: int, log: Path) -> dict[str, float]:
    """Every event's latency: from its send to the commit that makes its row visible.

    The projector advances its stored partition positions in the transaction that writes the rows,
    so an event's row is visible once its partition's position has passed its offset. Polling that
    six-row table every 2 ms costs the database next to nothing (polling the growing projection
    itself, with no index on the column polled, would take a share of the core it measures).
    """
    topic = f"bench-lat-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1,
                                  # the broker stamps each record with when it appended it
                                  topic_configs={"message.timestamp.type": "LogAppendTime"})])
    admin.close()
    proc = ProjectorProcess(env_for(bootstrap, url, topic, f"lat-{uuid.uuid4().hex[:6]}"), log).start()
    assert proc.proc is not None
    sampler = RssSampler(proc.proc.pid)
    sampler.start()
    events = list(generate_events(WorkloadConfig(chains=rate * seconds // 11 + 10, seed=99, run_id="lat")))
    events = events[: rate * seconds]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)  # as a producer would
    warm = events[0].model_copy(update={"occurred_at": datetime.now(UTC)})
    producer.send(topic, key=warm.root_job_id.encode(), value=dump_event(warm))
    producer.flush()
    wait_for(lambda: committed(url, topic) > 0, timeout=120, what="projector ready")
    seen: dict[int, list[tuple[int, float]]] = {}  # partition -> [(next_offset, first seen at)]
    stop = threading.Event()

    def poll() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute("SELECT partition, next_offset FROM enrichment_log_positions"
                                    " WHERE topic = %s", (topic,)).fetchall()
                now = time.time()
                for partition, nxt in rows:
                    marks = seen.setdefault(partition, [])
                    if not marks or marks[-1][0] < nxt:
                        marks.append((nxt, now))
                time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    # Serialized up front, each with when it is due (seconds after the start): the load generator
    # then costs little of the cores it shares with the system measured, and lateness in sending
    # counts against the latency rather than hiding in it. It sends from a process of its own, so
    # that this one's poller does not hold up its sends (one interpreter lock).
    base = time.time()
    planned = [(i / rate, event.root_job_id.encode(),
                dump_event(event.model_copy(update={"occurred_at": datetime.fromtimestamp(base + i / rate, UTC)})))
               for i, event in enumerate(events)]
    producer.close()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(time.sleep, 0).result()  # the process is up before the clock starts
        sends = pool.submit(send_paced, bootstrap, topic, planned).result()
    wait_for(lambda: committed(url, topic) >= len(events) + 1, timeout=120, what="latency run drained")
    time.sleep(0.05)
    stop.set()
    poller.join()
    sampler.stop.set()
    proc.stop()
    latencies, from_log, to_log = [], [], []
    for due, partition, offset, timestamp_ms in sends:
        marks = seen[partition]
        at = marks[bisect.bisect_right(marks, (offset, float("inf")))][1]  # first mark past it
        appended = timestamp_ms / 1000  # LogAppendTime: the broker's clock, this machine's
        latencies.append((at - due) * 1000)
        from_log.append((at - appended) * 1000)
        to_log.append((appended - due) * 1000)

    def quantiles(values: list[float]) -> dict[str, float]:
        q = statistics.quantiles(values, n=1000)
        return {"p50_ms": q[499], "p99_ms": q[989], "p999_ms": q[998], "max_ms": max(values)}

    return {"samples": len(latencies), **quantiles(latencies),
            **{f"log_{k}": v for k, v in quantiles(from_log).items()},
            **{f"producer_{k}": v for k, v in quantiles(to_log).items()},
            "rss_max_mb": max(sampler.samples or [0])}


def send_paced(bootstrap: str, topic: str,
               planned: list[tuple[float, bytes, bytes]]) -> list[tuple[float, int, int, int]]:
    """Send each event when it is due (seconds after a start half a second from now), as a producer
    would (linger 5 ms); each event's due time and where and when the broker appended it."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    start = time.time() + 0.5
    sends = []
    for rel, key, value in planned:
        due = start + rel
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        sends.append((due, producer.send(topic, key=key, value=value)))
    producer.flush()
    out = []
    for due, future in sends:
        meta = future.get(timeout=10)
        out.append((due, meta.partition, meta.offset, meta.timestamp))
    producer.close()
    return out


def print_latency(rate: int, seconds: int, lat: dict[str, float]) -> None:
    def figures(prefix: str = "") -> str:
        return (f"p50 {lat[prefix + 'p50_ms']:.0f} ms, p99 {lat[prefix + 'p99_ms']:.0f} ms, "
                f"p99.9 {lat[prefix + 'p999_ms']:.0f} ms, max {lat[prefix + 'max_ms']:.0f} ms")

    print(f"latency at {rate} events/s over {seconds}s ({lat['samples']:,.0f} events), due to visible: {figures()}")
    print(f"  due to appended to the log (the bench's producer, the broker): {figures('producer_')}")
    print(f"  appended to the log to row visible (consumer, projector, PostgreSQL): {figures('log_')}; "
          f"max RSS {lat['rss_max_mb']:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--naive-seconds", type=float, default=60)
    ap.add_argument("--latency-rate", type=int, default=1000)
    ap.add_argument("--latency-seconds", type=int, default=60)
    ap.add_argument("--workers", type=int, default=1, help="projector processes sharing the partitions")
    ap.add_argument("--topic", help="reuse a pre-filled topic instead of filling a new one")
    ap.add_argument("--only-latency", action="store_true", help="run the latency phase only")
    ap.add_argument("--only-throughput", action="store_true", help="run the projector's throughput phase only")
    args = ap.parse_args()
    bootstrap, server = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"]
    logs = ROOT / "bench" / "results"
    logs.mkdir(exist_ok=True)
    if args.only_latency:
        url = fresh_database(server)
        try:
            lat = run_latency(bootstrap, url, args.latency_rate, args.latency_seconds, logs / "latency.log")
            print_latency(args.latency_rate, args.latency_seconds, lat)
        finally:
            drop_database(server, url)
        return
    topic = args.topic or f"bench-proj-{uuid.uuid4().hex[:8]}"
    if not args.topic:
        t = time.monotonic()
        sent = fill_topic(bootstrap, topic, args.events, seed=5)
        print(f"filled {topic}: {sent:,} events in {time.monotonic() - t:.1f}s")
    total = sum(end_offsets(bootstrap, topic).values())

    url = fresh_database(server)
    try:
        r = run_projector(bootstrap, url, topic, total, logs / "projector.log", args.workers)
        procs = f"{args.workers} process{'es' if args.workers > 1 else ''}"
        print(f"projector ({procs}): {r['events']:,.0f} events in {r['seconds']:.1f}s = {r['rate']:,.0f} events/s; "
              f"max RSS {r['rss_max_mb']:.0f} MB per process, {r['rss_total_max_mb']:.0f} MB in all")
        ins, upd, hot, live = r["writes"]
        print(f"  rows: {live:,} live; {ins:,} inserted, {upd:,} updated ({hot:,} HOT): "
              f"{(ins + upd) / total:.2f} row writes per event")
        print("  cores used: " + ", ".join(f"{g} {r['cores_' + g]:.2f}" for g in ("projector", "postgres", "kafka"))
              + " (µs of CPU per event: " + ", ".join(
                  f"{g} {r['cores_' + g] * 1e6 / r['rate']:.0f}" for g in ("projector", "postgres", "kafka")) + ")")
    finally:
        drop_database(server, url)
    if args.only_throughput:
        return
    url = fresh_database(server)
    try:
        n = run_naive(bootstrap, url, topic, args.naive_seconds, logs / "naive.log")
        print(f"naive agent: {n['events']:,.0f} events in {n['seconds']:.1f}s = {n['rate']:,.0f} events/s")
        print(f"speed-up: {r['rate'] / max(n['rate'], 1):.1f}x")
    finally:
        drop_database(server, url)
    url = fresh_database(server)
    try:
        lat = run_latency(bootstrap, url, args.latency_rate, args.latency_seconds, logs / "latency.log")
        print_latency(args.latency_rate, args.latency_seconds, lat)
    finally:
        drop_database(server, url)


if __name__ == "__main__":
    main()
