"""The README's main command, run as a user would (against this test's services and database)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from enrichlog import services
from enrichlog.services import LocalKafka, LocalPostgres, ServicesSettings
from enrichlog.services._proc import port_open
from tests.own_services import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_demo_shows_roots_and_the_timeline_of_the_partial_root(kafka_bootstrap: str, db: str) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": db}
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "demo", "--json"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    statuses = {r["status"] for r in out["roots"]["rows"]}
    assert "PARTIAL" in statuses and len(out["roots"]["rows"]) >= 3
    timeline = out["timeline"]
    assert timeline["root"]["status"] == "PARTIAL"
    assert [c["status"] for c in timeline["children"]].count("FAILED") == 1
    assert all(c["parentJobId"] == timeline["root"]["jobId"] for c in timeline["children"])


def test_demo_rejects_a_bad_argument_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "demo", "--chains", "0"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["enrichlog demo: error: --chains must be between 1 and 200, got 0"]


def test_demo_stops_the_local_services_it_started(tmp_path: Path) -> None:
    """Run without KAFKA_BOOTSTRAP_SERVERS/DATABASE_URL, the demo starts the local services (here on
    ports and a state directory of this test's own) and stops them at the end, so that none of its
    ports stays taken (docker-compose.yml publishes PostgreSQL and Kafka on the host too)."""
    settings = ServicesSettings(state_dir=Path(f"/var/tmp/enrichlog-demo-{uuid.uuid4().hex[:8]}"),
                                kafka_port=free_port(), kafka_controller_port=free_port(), pg_port=free_port())
    kafka_home = LocalKafka(settings).home
    kafka_home.mkdir(parents=True, exist_ok=True)
    for cached in Path(ServicesSettings().state_dir, "kafka").glob("classpath-*.txt"):  # skips the Maven step
        shutil.copy(cached, kafka_home / cached.name)
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env.update(ENRICHLOG_STATE_DIR=str(settings.state_dir), ENRICHLOG_KAFKA_PORT=str(settings.kafka_port),
               ENRICHLOG_KAFKA_CONTROLLER_PORT=str(settings.kafka_controller_port),
               ENRICHLOG_PG_PORT=str(settings.pg_port), TMPDIR=str(tmp_path))
    try:
        done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "demo", "--json", "--chains", "3"], env=env,
                              capture_output=True, text=True, timeout=400, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "PARTIAL" in {r["status"] for r in json.loads(done.stdout)["roots"]["rows"]}
        assert "stopped the local Kafka and PostgreSQL this demo started" in done.stderr
        assert not LocalKafka(settings).running() and not LocalPostgres(settings).running()
        for port in (settings.kafka_port, settings.kafka_controller_port, settings.pg_port):
            assert not port_open("127.0.0.1", port), port
    finally:
        services.down(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)
