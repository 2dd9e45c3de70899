"""The BullMQ package (clients/bullmq) against the session's real broker, then checked from Python.

`npm test` (unit tests) and `npm run test:integration` run in clients/bullmq with the broker's
environment; the integration run writes its events to this test's topic (ENRICHLOG_TEST_TOPIC).
This side then reads that topic with kafka-python and checks what a Python reader relies on: the key
is the rootJobId, every batch is gzip-compressed, each chain lands in the partition the Java client's
murmur2 picks (the Python producer's), and every value passes the reference reader (parse_event).

It needs node (>= 20) and `npm ci` in clients/bullmq (scripts/test runs it when the lockfile changed);
without them it fails, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from kafka.consumer import fetcher
from kafka.partitioner.default import murmur2
from kafka.record import MemoryRecords
from kafka.record.default_records import DefaultRecordBatch

from schemas import parse_event
from tests.harness import read_records

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "bullmq"
PARTITIONS = 3  # what test/integration/publish.test.mjs creates
EVENTS = 20 * (2 + 4 * 4)  # its roots x (root's two events + four children's four events)


def _npm(script: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: install Node.js >= 20 to test clients/bullmq")
    if not (PACKAGE / "node_modules" / "kafkajs").is_dir():
        pytest.fail(f"clients/bullmq is not installed: run `npm ci` in {PACKAGE} (scripts/test does)")
    return subprocess.run([npm, *script], cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


class _Codecs(MemoryRecords):
    """kafka-python's MemoryRecords, noting the compression codec of every batch the consumer reads."""

    seen: ClassVar[list[int]] = []

    def next_batch(self, *args: Any, **kwargs: Any) -> Any:
        batch = super().next_batch(*args, **kwargs)
        if batch is not None:
            self.seen.append(batch.compression_type)
        return batch


@pytest.fixture
def codecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    seen: list[int] = []
    monkeypatch.setattr(_Codecs, "seen", seen)
    monkeypatch.setattr(fetcher, "MemoryRecords", _Codecs)
    yield seen


def test_the_bullmq_package_passes_its_tests_and_python_reads_what_it_wrote(
        kafka_bootstrap: str, topic: str, codecs: list[int]) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "ENRICHLOG_TEST_TOPIC": topic}
    unit = _npm(["test"], env)
    assert unit.returncode == 0, f"npm test exited {unit.returncode}:\n{unit.stdout[-4000:]}\n{unit.stderr[-2000:]}"
    integration = _npm(["run", "test:integration"], env)
    assert integration.returncode == 0, (f"npm run test:integration exited {integration.returncode}:\n"
                                         f"{integration.stdout[-4000:]}\n{integration.stderr[-2000:]}")

    got = read_records(kafka_bootstrap, topic, EVENTS, PARTITIONS)
    assert len(got) == EVENTS
    assert codecs and set(codecs) == {DefaultRecordBatch.CODEC_GZIP}, codecs
    roots = set()
    for partition, key, value in got:
        event = parse_event(value)
        assert key == event.root_job_id.encode()
        assert partition == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS, "the partition the Python producer picks"
        roots.add(event.root_job_id)
    assert len(roots) == 20
