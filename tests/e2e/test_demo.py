"""The README's main command, run as a user would (against this test's services and database)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
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


def test_two_demo_runs_show_disjoint_roots_and_entities(kafka_bootstrap: str, db: str) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": db}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "demo", "--json", "--chains", "3"], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout))
    roots = [{r["jobId"] for r in run["roots"]["rows"]} for run in runs]
    entities = [{r["entityId"] for r in run["roots"]["rows"]} for run in runs]
    assert all(roots) and not roots[0] & roots[1]
    assert all(entities) and not entities[0] & entities[1]  # the second run's PARTIAL roots are new entities
    assert runs[1]["timeline"]["root"]["jobId"] in roots[1]


def test_demo_ends_serving_the_console_on_its_data_until_ctrl_c(kafka_bootstrap: str, db: str) -> None:
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": db}
    proc = subprocess.Popen([sys.executable, "-m", "enrichlog.cli", "demo", "--chains", "3", "--console-port",
                             str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("enrichlog web: http://"):
                break
        url = f"http://127.0.0.1:{port}/"
        assert seen and seen[-1].startswith(f"enrichlog web: {url}"), "".join(seen)[-3000:]
        said = next(line for line in seen if line.startswith("this run's roots: "))
        roots = said.removeprefix("this run's roots: ").strip().split(", ")
        deadline = time.monotonic() + 30
        while True:  # the server binds just after printing its URL
            try:
                with urllib.request.urlopen(f"{url}api/roots?limit=1000", timeout=5) as answer:
                    listed = {r["jobId"] for r in json.load(answer)["rows"]}
                break
            except OSError:
                assert time.monotonic() < deadline, "the console did not answer"
                time.sleep(0.2)
        assert roots and set(roots) <= listed  # the console reads the demo's data
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # Ctrl-C first: the demo stops its projector, which a kill would orphan
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            finally:
                proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "console stopped" in out


def test_demo_rejects_a_bad_argument_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "demo", "--chains", "0"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["enrichlog demo: error: --chains must be between 1 and 200, got 0"]
    port = subprocess.run([sys.executable, "-m", "enrichlog.cli", "demo", "--console-port", "70000"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert port.returncode == 1 and port.stderr.strip().splitlines() == [
        "enrichlog demo: error: --console-port must be between 1 and 65535, got 70000"]


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
