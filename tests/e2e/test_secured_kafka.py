"""Every command on a real broker's SASL_SSL listener (SCRAM-SHA-512, a CA made for the test), and
what a client that cannot log in sees.

The broker is the local KRaft one with secured listeners beside its plaintext one
(`own_broker(secured=True)`). Clients are given only the secured listener as their bootstrap; the
projector is checked to hold no connection to the plaintext port. The password is drawn per broker,
and no output or log line of any command may hold it (nor the wrong one tried).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from enrichlog.services import LocalKafka
from enrichlog.services.tls import make_pki
from schemas.kafka_connection import KafkaConnection
from tests.harness import ProjectorProcess, wait_for
from tests.own_services import own_broker

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

WRONG_PASSWORD = "Wr0ng-pass-7d1c"


@pytest.fixture(scope="module")
def secured() -> Iterator[LocalKafka]:
    broker = own_broker("secured", secured=True)
    try:
        broker.start()
        yield broker
    finally:
        broker.kill()
        shutil.rmtree(broker.settings.state_dir, ignore_errors=True)


def _env(broker: LocalKafka, db: str, topic: str, **kafka: str) -> dict[str, str]:
    """A command's environment: only the secured listener, as `kafka` overrides it (an empty value unsets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env.update(broker.client_env(), DATABASE_URL=db, ENRICHLOG_EVENTS_TOPIC=topic, ENRICHLOG_TOPIC_PARTITIONS="3",
               ENRICHLOG_CONSUMER_GROUP=f"group-{topic}", ENRICHLOG_METRICS_PORT="0", ENRICHLOG_LOG_FORMAT="text")
    env.update(kafka)
    return {k: v for k, v in env.items() if v != ""}


def _connection(env: dict[str, str]) -> KafkaConnection:
    return KafkaConnection(**{k: v for k, v in env.items() if k.startswith("KAFKA_")})


def _enrichlog(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "enrichlog.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _no_secret(broker: LocalKafka, *outputs: str) -> None:
    for secret in (broker.sasl_password(), WRONG_PASSWORD):
        leaked = [line for text in outputs for line in text.splitlines() if secret in line]
        assert not leaked, f"a secret in the output: {leaked[:3]}"


def _remote_ports(pid: int) -> set[int]:
    """The remote TCP ports of the process's sockets (Linux: its fds' inodes in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def _end_offsets(kafka: KafkaConnection, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(**kafka.kafka_python(), group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def _projected_jobs(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM enrichment_logs WHERE fold_state IS NOT NULL").fetchone()
    return int(row[0]) if row else 0


def test_the_projector_folds_produce_and_rebuild_over_sasl_ssl_only(
        secured: LocalKafka, db: str, topic: str, tmp_path: Path) -> None:
    env = _env(secured, db, topic, ENRICHLOG_LOG_LEVEL="DEBUG")  # every log line the clients write, checked
    kafka = _connection(env)
    produced = _enrichlog(env, "-v", "produce", "--chains", "25", "--seed", "16", "--connect-timeout", "20")
    assert produced.returncode == 0, produced.stdout + produced.stderr
    jobs = int(re.search(r"(\d+) jobs", produced.stdout).group(1))  # type: ignore[union-attr]
    producer = KafkaProducer(**kafka.kafka_python(), acks="all")
    producer.send(topic, key=b"k", value=b"not json")  # a dead letter, written over SASL_SSL too
    producer.flush(30)
    producer.close()

    projector = ProjectorProcess(env, tmp_path / "projector.log").start()
    try:
        wait_for(lambda: _projected_jobs(db) == jobs, timeout=120, what=f"{jobs} rows folded over SASL_SSL")
        dead = wait_for(lambda: sum(_end_offsets(kafka, f"{topic}.dlq").values()), timeout=60,
                        what="the dead letter on the dead-letter topic")
        assert dead == 1
        assert projector.proc is not None
        ports = _remote_ports(projector.proc.pid)
        assert secured.settings.kafka_sasl_ssl_port in ports
        assert secured.settings.kafka_port not in ports, "the projector reached the plaintext listener"
        checked = _enrichlog(env, "-v", "rebuild", "--check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"{jobs} rows" in checked.stdout
        rebuilt = _enrichlog(env, "-v", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert projector.stop() == 0
    finally:
        projector.kill()
    _no_secret(secured, produced.stdout, produced.stderr, projector.log(tail=None), checked.stdout,
               checked.stderr, rebuilt.stdout, rebuilt.stderr)


@pytest.mark.parametrize("command", [["project"], ["project", "--check"], ["rebuild", "--check"],
                                     ["produce", "--chains", "1"]])
def test_a_wrong_password_stops_a_command_at_start_with_one_line(
        secured: LocalKafka, db: str, topic: str, command: list[str]) -> None:
    env = _env(secured, db, topic, KAFKA_SASL_PASSWORD=WRONG_PASSWORD)
    started = time.monotonic()
    done = _enrichlog(env, *command, timeout=60)
    elapsed = time.monotonic() - started
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 1, lines
    assert len(lines) == 1, lines
    address = f"127.0.0.1:{secured.settings.kafka_sasl_ssl_port}"
    assert lines[0].startswith(f"enrichlog {command[0]}: error: Kafka at {address} (SASL_SSL, SCRAM-SHA-512, "
                               "user 'enrichlog'): login refused: "), lines[0]
    assert "check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM" in lines[0]
    assert elapsed < 20, f"{elapsed:.1f}s"
    _no_secret(secured, done.stdout, done.stderr)


def test_a_client_without_tls_is_refused_by_the_secured_listener(secured: LocalKafka, db: str, topic: str,
                                                                 tmp_path: Path) -> None:
    address = f"127.0.0.1:{secured.settings.kafka_sasl_ssl_port}"
    without_tls = _env(secured, db, topic, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SSL_CAFILE="")
    started = time.monotonic()
    done = _enrichlog(without_tls, "project", "--check", "--timeout", "5", timeout=60)
    assert done.returncode == 1 and time.monotonic() - started < 15, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"enrichlog project: error: Kafka at {address} (SASL_PLAINTEXT, SCRAM-SHA-512, user 'enrichlog'): the broker "
        f"closed the connection at once (KafkaConnectionError: Connection at {address} closed); the listener expects "
        "another protocol: TLS where KAFKA_SECURITY_PROTOCOL has none, a client certificate (KAFKA_SSL_CERTFILE), "
        "or SASL"]
    # A plaintext client: the clients' own bounded wait, then one line (not a hang).
    plain = _env(secured, db, topic, KAFKA_SECURITY_PROTOCOL="", KAFKA_SSL_CAFILE="", KAFKA_SASL_MECHANISM="",
                 KAFKA_SASL_USERNAME="", KAFKA_SASL_PASSWORD="")
    started = time.monotonic()
    done = _enrichlog(plain, "project", "--check", "--timeout", "3", timeout=60)
    assert done.returncode == 1 and time.monotonic() - started < 15, done.stderr
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        f"enrichlog project: error: Kafka at {address} unreachable: the TCP connection is accepted but no Kafka "
        "reply came; tried for 3s to fetch the cluster's metadata; is that port a Kafka listener, with the security "
        "protocol KAFKA_SECURITY_PROTOCOL says, and is the broker not overloaded or still starting?"]
    # TLS with a CA that did not sign the broker's certificate: refused by the client, at once.
    other_ca = make_pki(tmp_path / "other-ca").ca_file
    done = _enrichlog(_env(secured, db, topic, KAFKA_SSL_CAFILE=str(other_ca)), "project", "--check", timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"enrichlog project: error: Kafka at {address} (SASL_SSL, SCRAM-SHA-512, user 'enrichlog'): TLS refused the "
        "broker's certificate (self-signed certificate in certificate chain); KAFKA_SSL_CAFILE must name the CA that "
        "signed it, and the address must be one the certificate names"]
    # The broker's side: it refused them at the TLS handshake.
    log = (secured.logs_dir / "server.log").read_text(errors="replace")
    assert re.search(r"Failed authentication with /127\.0\.0\.1 .*SSL handshake failed", log)
    _no_secret(secured, done.stdout, done.stderr, log)


def test_mtls_needs_the_client_certificate_and_every_mechanism_logs_in(
        secured: LocalKafka, db: str, topic: str) -> None:
    mtls = {**secured.client_env("SSL"), "KAFKA_SASL_MECHANISM": "", "KAFKA_SASL_USERNAME": "",
            "KAFKA_SASL_PASSWORD": ""}
    for env in (_env(secured, db, topic, **mtls),
                _env(secured, db, topic, KAFKA_SASL_MECHANISM="SCRAM-SHA-256"),
                _env(secured, db, topic, KAFKA_SASL_MECHANISM="PLAIN")):
        done = _enrichlog(env, "project", "--check", "--timeout", "10", timeout=60)
        # 3: reached and migrated, the test's topic not created yet
        assert done.returncode == 3, (env["KAFKA_BOOTSTRAP_SERVERS"], done.stdout, done.stderr)
        assert f"topic {topic} does not exist" in done.stdout
    no_certificate = _env(secured, db, topic, **{**mtls, "KAFKA_SSL_CERTFILE": "", "KAFKA_SSL_KEYFILE": ""})
    done = _enrichlog(no_certificate, "project", "--check", "--timeout", "5", timeout=60)
    assert done.returncode == 1
    assert f"Kafka at 127.0.0.1:{secured.settings.kafka_mtls_port} (SSL): the broker closed the connection" \
        in done.stderr, done.stderr


def test_demo_over_sasl_ssl(secured: LocalKafka, empty_db: str) -> None:
    env = _env(secured, empty_db, f"unused-{uuid.uuid4().hex[:6]}")
    done = _enrichlog(env, "demo", "--chains", "3", "--json", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"PARTIAL"' in done.stdout
    _no_secret(secured, done.stdout, done.stderr)
