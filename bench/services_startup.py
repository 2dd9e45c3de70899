"""Benchmark: time from nothing to a ready Kafka broker and PostgreSQL, warm and cold Maven cache.

    .venv/bin/python bench/services_startup.py [--only warm|cold]

Each case runs the user's command, `enrichlog services up`, as a subprocess with a fresh
ENRICHLOG_STATE_DIR under /var/tmp and free ports of its own (so the services already running on
19092/55432 are not disturbed), and times it until it returns: it returns once PostgreSQL answers
(with its database created) and the broker serves metadata. It then checks both endpoints itself,
stops them with `enrichlog services down` and removes the state directory.

- warm: Maven's default local repository (~/.m2) already holds the Kafka jars; Maven still runs
  once, since a fresh state directory has no cached classpath.
- cold: ENRICHLOG_MAVEN_REPO_LOCAL names an empty directory (-Dmaven.repo.local), so Maven
  downloads its dependency plugin and the Kafka jars from Maven Central.

The breakdown comes from the files the services write: kafka/maven/pom.xml is written when
PostgreSQL is ready and Maven starts, kafka/classpath-*.txt when Maven is done.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ENRICHLOG = Path(sys.executable).with_name("enrichlog")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def kafka_answers(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()


def measure(label: str, cold: bool) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix=f"enrichlog-startup-{label}-", dir="/var/tmp"))
    repo = Path(tempfile.mkdtemp(prefix="enrichlog-m2-cold-", dir="/var/tmp")) if cold else None
    kafka_port, controller_port, pg_port = free_ports(3)
    env = {**os.environ, "ENRICHLOG_STATE_DIR": str(state),
           "ENRICHLOG_KAFKA_PORT": str(kafka_port),
           "ENRICHLOG_KAFKA_CONTROLLER_PORT": str(controller_port),
           "ENRICHLOG_PG_PORT": str(pg_port)}
    env.pop("ENRICHLOG_MAVEN_REPO_LOCAL", None)
    if repo is not None:
        env["ENRICHLOG_MAVEN_REPO_LOCAL"] = str(repo)
    print(f"[{label}] state {state}, kafka 127.0.0.1:{kafka_port}, postgres port {pg_port}"
          + (f", maven repo {repo} (empty)" if repo else ", maven repo ~/.m2"), flush=True)
    t0 = time.time()
    try:
        done = subprocess.run([str(ENRICHLOG), "services", "up", "--env"], env=env,
                              capture_output=True, text=True, timeout=1800, check=False)
        total = time.time() - t0
        if done.returncode != 0:
            raise SystemExit(f"[{label}] services up failed: {done.stderr.strip()}")
        exports = dict(line.removeprefix("export ").split("=", 1)
                       for line in done.stdout.splitlines() if line.startswith("export "))
        with psycopg.connect(exports["DATABASE_URL"], connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        assert kafka_answers(exports["KAFKA_BOOTSTRAP_SERVERS"])
        maven_start = (state / "kafka" / "maven" / "pom.xml").stat().st_mtime - t0
        maven_done = max(p.stat().st_mtime for p in (state / "kafka").glob("classpath-*.txt")) - t0
        result = {"total": total, "postgres": maven_start, "maven": maven_done - maven_start,
                  "broker": total - maven_done}
        if repo is not None:
            result["downloaded_mb"] = sum(
                p.stat().st_size for p in repo.rglob("*") if p.is_file()) / 1e6
        return result
    finally:
        down = subprocess.run([str(ENRICHLOG), "services", "down"], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        if down.returncode != 0:
            print(f"[{label}] services down failed: {down.stderr.strip()}", file=sys.stderr)
        shutil.rmtree(state, ignore_errors=True)
        if repo is not None:
            shutil.rmtree(repo, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["warm", "cold"])
    args = parser.parse_args()
    cases = [c for c in ("warm", "cold") if args.only in (None, c)]
    results = {c: measure(c, cold=c == "cold") for c in cases}
    for label, r in results.items():
        extra = f", {r['downloaded_mb']:.0f} MB downloaded" if "downloaded_mb" in r else ""
        print(f"{label} Maven cache: ready in {r['total']:.1f}s "
              f"(PostgreSQL {r['postgres']:.1f}s, Maven classpath {r['maven']:.1f}s, "
              f"broker format+start {r['broker']:.1f}s{extra})")


if __name__ == "__main__":
    main()
