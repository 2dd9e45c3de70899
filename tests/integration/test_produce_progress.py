"""`enrichlog produce` says what it does on stderr (not a terminal here: plain lines), in order: the
broker it connects to, the chains published, then the wait for the broker's acknowledgements counted
down; stdout stays its two summary lines. A real broker; the producer's linger is long enough that
events are still unacknowledged when the workload ends, so the wait is there to see."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.integration.test_producer_topic_and_limits import _end_offsets_sum

pytestmark = pytest.mark.kafka

LINGER_MS = "1000"  # kafka-python holds the last batch this long before it sends it


def _produce(bootstrap: str, topic: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENRICHLOG_TOPIC_PARTITIONS": "3",
           "ENRICHLOG_PRODUCER_LINGER_MS": LINGER_MS}
    return subprocess.run([sys.executable, "-m", "enrichlog.cli", "produce", "--topic", topic, "--seed", "5", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def _summary_only(out: str, topic: str, chains: int) -> int:
    """stdout is the summary's two lines as before, nothing else: the events delivered."""
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert re.fullmatch(rf"topic {re.escape(topic)}: {chains} chains, \d+ jobs, \d+ events \((\w+=\d+(, )?)+\) "
                        r"in [\d.]+s, seed 5", lines[0]), lines[0]
    found = re.fullmatch(r"delivered (\d+), failed (\d+), dropped 0", lines[1])
    assert found, lines[1]
    return int(found.group(1))


def test_produce_says_publishing_and_the_acknowledgements_it_waits_for_in_order(
        kafka_bootstrap: str, topic: str) -> None:
    done = _produce(kafka_bootstrap, topic, "--chains", "200")
    assert done.returncode == 0, done.stderr
    delivered = _summary_only(done.stdout, topic, 200)
    assert delivered == _end_offsets_sum(kafka_bootstrap, topic) > 0
    lines = done.stderr.splitlines()
    # "connecting to …" comes first only when connecting lasted a second (enrichlog.progress.phase;
    # the slow case is tests/integration/test_unreachable.py's), which a loaded machine may take
    if lines and lines[0] == f"connecting to {kafka_bootstrap}…":
        lines = lines[1:]
    assert lines[0] == f"created topic {topic} with 3 partitions", lines
    publishing = [i for i, line in enumerate(lines) if line.startswith(f"publishing to {topic}: ")]
    assert publishing and publishing == list(range(1, 1 + len(publishing))), lines
    assert lines[publishing[-1]].startswith(f"publishing to {topic}: done, 200 chains in "), lines
    rest = lines[publishing[-1] + 1:]
    waited = re.fullmatch(r"waiting for the broker to acknowledge ([\d,]+) events: ([\d,]+) of \1 events to go",
                          rest[0] if rest else "")
    assert waited and waited.group(1) == waited.group(2), lines  # the first line: all of them to go
    waiting = int(waited.group(1).replace(",", ""))
    assert 0 < waiting <= delivered
    counted = [int(m.group(1).replace(",", "")) for line in rest[1:-1]
               if (m := re.fullmatch(rf"waiting for the broker to acknowledge {waited.group(1)} events: "
                                     r"([\d,]+) of [\d,]+ events to go(, about \d+ s left)?", line))]
    assert len(counted) == len(rest) - 2 and counted == sorted(counted, reverse=True), rest  # counting down
    assert re.fullmatch(rf"waiting for the broker to acknowledge {waited.group(1)} events: done, "
                        rf"{waited.group(1)} events in [\d.]+ s", rest[-1]), rest


def test_a_drain_timeout_that_runs_out_says_how_many_were_not_acknowledged(kafka_bootstrap: str, topic: str) -> None:
    done = _produce(kafka_bootstrap, topic, "--chains", "50", "--drain-timeout", "0")
    assert done.returncode == 3, done.stderr  # some lost: the ones given up
    lines = done.stdout.splitlines()
    failed = re.fullmatch(r"delivered (\d+), failed (\d+), dropped 0", lines[1])
    assert failed and int(failed.group(2)) > 0, done.stdout
    gave_up = re.search(r"^waiting for the broker to acknowledge ([\d,]+) events: ([\d,]+) still unacknowledged "
                        r"after 0 s \(--drain-timeout\): given up, counted as failed$", done.stderr, re.MULTILINE)
    assert gave_up, done.stderr
    assert f"acknowledge {gave_up.group(1)} events: done" not in done.stderr
