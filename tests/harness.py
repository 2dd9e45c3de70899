"""Helpers shared by the end-to-end tests and the benchmark scripts: a projector subprocess, polling."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from producers.workload import WorkloadConfig, generate_events
from projector.rebuild import check
from schemas import JobEvent, dump_event


class ProjectorProcess:
    """`enrichlog project` as a real subprocess, on its own topic, group and database.

    One object is one replica of a deployment: restarted, it keeps its name in the consumer group
    (ENRICHLOG_INSTANCE_ID, unique to the object unless `env` sets one), as a supervised process keeps
    its hostname; two objects never share one, as two live processes must not."""

    def __init__(self, env: dict[str, str], log_path: Any) -> None:
        self.env = {"ENRICHLOG_INSTANCE_ID": f"projector-{uuid.uuid4().hex[:8]}", **env}
        self.instance_id = self.env["ENRICHLOG_INSTANCE_ID"]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._killed = False

    def start(self) -> ProjectorProcess:
        self._killed = False
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child process owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enrichlog.cli", "project"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self._killed = True
            self.proc.kill()
            self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.proc is not None
        # The projector handles SIGTERM once its start-up begins; before that (the interpreter still
        # importing) the signal's default action would kill it: not what is being tested.
        deadline = time.monotonic() + 60
        while self.proc.poll() is None and not self.catches_sigterm() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.proc.poll() is None:
            self._killed = True  # told to stop
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def catches_sigterm(self) -> bool:
        """Whether the process has a SIGTERM handler installed (Linux: SigCgt in /proc/<pid>/status)."""
        assert self.proc is not None
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        except (FileNotFoundError, StopIteration):
            return False
        return bool(caught & (1 << (signal.SIGTERM - 1)))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def died_on_its_own(self) -> bool:
        """Whether it exited without being told to (no kill(), no stop()): a crash."""
        return self.proc is not None and self.proc.poll() is not None and not self._killed

    def log(self, tail: int | None = 5000) -> str:
        """The process's log: its last `tail` characters (for an assertion's message), or all of it."""
        try:
            with open(self.log_path, errors="replace") as f:
                text = f.read()
                return text if tail is None else text[-tail:]
        except FileNotFoundError:
            return ""


def wait_for(check: Any, *, timeout: float = 60, what: str = "condition") -> Any:
    """Poll `check()` until it returns a truthy value or the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {value!r}")
        time.sleep(0.2)


def workload(n_events: int, seed: int) -> list[JobEvent]:
    """About `n_events` events of the workload generator's chains (retries, failures), a run of their own."""
    config = WorkloadConfig(chains=max(1, n_events // 11), seed=seed, retry_rate=0.2, failure_rate=0.05,
                            run_id=f"kill{uuid.uuid4().hex[:6]}")
    return list(generate_events(config))


def stream(bootstrap: str, topic: str, events: list[JobEvent], seconds: float,
           hurry: threading.Event | None = None, **producer_config: Any) -> threading.Thread:
    """Publish `events` evenly over about `seconds`, in a thread (the workload keeps streaming); once
    `hurry` is set, the rest at once."""

    def run() -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **producer_config)
        chunk = max(1, len(events) // max(1, int(seconds * 10)))
        for i in range(0, len(events), chunk):
            for e in events[i : i + chunk]:
                producer.send(topic, key=e.root_job_id.encode(), value=dump_event(e))
            if hurry is None or not hurry.is_set():
                time.sleep(0.1)
        producer.flush(60)
        producer.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def read_records(bootstrap: str, topic: str, expected: int, partitions: int,
                 deadline_s: float = 60) -> list[tuple[int, bytes, bytes]]:
    """(partition, key, value) of every message, in each partition's order; polls until `expected`
    messages arrived, then until the topic's end offsets are all consumed (nothing extra hides)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got: list[tuple[int, bytes, bytes]] = []
    deadline = time.monotonic() + deadline_s
    try:
        end = consumer.end_offsets(tps)
        while time.monotonic() < deadline:
            if len(got) >= expected and all(consumer.position(tp) >= end[tp] for tp in tps):
                break
            for tp, records in consumer.poll(timeout_ms=500).items():
                got.extend((tp.partition, r.key, r.value) for r in records)
    finally:
        consumer.close()
    return got


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def positions(db: str, topic: str) -> dict[int, int]:
    """The projector's stored positions of `topic` (partition -> next offset); {} while unreachable."""
    try:
        with psycopg.connect(db, connect_timeout=3) as conn:
            rows = conn.execute(
                "SELECT partition, next_offset FROM enrichment_log_positions WHERE topic = %s", (topic,)
            ).fetchall()
    except psycopg.OperationalError:
        return {}
    return dict(rows)


def caught_up(db: str, bootstrap: str, topic: str) -> bool:
    ends = {p: o for p, o in end_offsets(bootstrap, topic).items() if o > 0}
    return bool(ends) and all(positions(db, topic).get(p, 0) >= o for p, o in ends.items())


def assert_table_is_the_fold(db: str, bootstrap: str, topic: str, events: list[JobEvent], what: str) -> None:
    """The table equals the pure fold of everything on the topic, row for row, and the topic holds
    exactly `events` (each once)."""
    report = check(db, bootstrap, topic, consumer=f"group-{topic}")
    print(f"\n{what}; {report.events_read} events, {report.rows_compared} rows compared: {report.summary()}")
    assert report.ok, report.summary()
    assert report.events_read == len(events) and report.rows_compared == len({e.job_id for e in events})
