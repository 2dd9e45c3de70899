"""What docker-compose.yml runs, run here for real (there is no Docker engine): `enrichlog migrate
--wait` against a server that listens on TCP only later (as the PostgreSQL image's init-time server
does) and against a closed port, the postgres healthcheck's `pg_isready` against both, and the
database password given as PGPASSWORD (never pasted into DATABASE_URL) to a server that checks it.

A PostgreSQL cluster of this module's own (on a free port, under /var/tmp): it is restarted in
socket-only mode, and it requires a password (scram-sha-256) from the members of one role, which the
shared server (trust) cannot be made to do for one test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import yaml
from psycopg import sql

from enrichlog.services import LocalPostgres, ServicesSettings
from enrichlog.services._proc import run
from enrichlog.services.postgres import find_bindir
from tests.harness import ProjectorProcess, caught_up, stream, wait_for, workload
from tests.own_services import free_port

pytestmark = pytest.mark.postgres

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
PASSWORD = "p@ss:w/rd#50%"  # every character that a URL gives a meaning to
NEEDS_PASSWORD = "enrichlog_password_required"  # pg_hba: its members authenticate with scram-sha-256


class OwnPostgres:
    def __init__(self) -> None:
        self.settings = ServicesSettings(state_dir=Path(f"/var/tmp/enrichlog-composepg-{uuid.uuid4().hex[:8]}"),
                                         pg_port=free_port())
        self.server = LocalPostgres(self.settings)
        self.port = self.settings.pg_port
        self.admin_url = self.settings.database_url("postgres")

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def start_socket_only(self) -> None:
        """As the image's docker-entrypoint runs its init scripts: listening on the unix socket only."""
        pg_ctl = str(find_bindir(self.settings) / "pg_ctl")
        run(self.server._as_owner([pg_ctl, "start", "-D", str(self.server.data_dir), "-l",
                                   str(self.server.log_file), "-w", "-o", "-c listen_addresses=''"]),
            what="pg_ctl start (socket only)", timeout=60)

    def require_passwords(self) -> None:
        hba = self.server.data_dir / "pg_hba.conf"
        hba.write_text(f"host all +{NEEDS_PASSWORD} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(NEEDS_PASSWORD)))
            conn.execute("SELECT pg_reload_conf()")

    def remove(self) -> None:
        self.server.stop("immediate")
        shutil.rmtree(self.settings.state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def own_pg() -> Iterator[OwnPostgres]:
    pg = OwnPostgres()
    pg.start()
    pg.require_passwords()
    yield pg
    pg.remove()


@pytest.fixture
def password_role(own_pg: OwnPostgres) -> Iterator[tuple[str, str]]:
    """A role that must give PASSWORD, owning a database of its own: (role, database)."""
    name = f"pw_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(own_pg.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
            sql.Identifier(name), sql.Literal(PASSWORD), sql.Identifier(NEEDS_PASSWORD)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(name)))
    yield name, name
    with psycopg.connect(own_pg.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def enrichlog(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run([sys.executable, "-m", "enrichlog.cli", *args], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)


def compose_service(name: str) -> dict[str, object]:
    service: dict[str, object] = yaml.safe_load(COMPOSE.read_text())["services"][name]
    return service


def _pg_isready(own_pg: OwnPostgres, args: list[str], env: dict[str, str]) -> int:
    binary = str(find_bindir(own_pg.settings) / "pg_isready")
    return subprocess.run([binary, *args], env={**os.environ, **env}, capture_output=True, timeout=30,
                          check=False).returncode


def _compose_pg_isready_args(own_pg: OwnPostgres) -> list[str]:
    """The postgres healthcheck's pg_isready arguments, on this cluster's port and user."""
    test = compose_service("postgres")["healthcheck"]["test"]  # type: ignore[index]
    assert test[0] == "CMD" and test[1] == "pg_isready", test
    args = list(test[2:])
    args[args.index("-p") + 1] = str(own_pg.port)
    args[args.index("-U") + 1] = own_pg.settings.pg_user
    args[args.index("-d") + 1] = "postgres"
    return args


@pytest.mark.parametrize("bad", ["-1", "abc", "inf", "nan", ""])
def test_migrate_wait_refuses_what_is_no_number_of_seconds(bad: str) -> None:
    done = enrichlog("migrate", "--wait", bad, env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"})
    assert done.returncode == 2, done.stderr
    assert "argument --wait:" in done.stderr.splitlines()[-1] and "Traceback" not in done.stderr


def test_migrate_wait_gives_up_on_a_closed_port_on_time() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://enrichlog@127.0.0.1:{port}/enrichlog"
    started = time.monotonic()
    done = enrichlog("migrate", "--wait", "3", env={"DATABASE_URL": url})
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"enrichlog migrate: error: cannot connect to {url} (waited 3s, "), line
    assert "Connection refused" in line
    assert 3 <= took < 3 + 5, took  # the interpreter's start included
    started = time.monotonic()
    once = enrichlog("migrate", env={"DATABASE_URL": url})
    assert once.returncode == 1 and "waited" not in once.stderr and time.monotonic() - started < 3 + 2


def test_migrate_waits_while_the_server_listens_on_its_socket_only(own_pg: OwnPostgres, password_role:
                                                                   tuple[str, str]) -> None:
    """The image's first start: init scripts on a socket-only server, then the server that stays.
    pg_isready on the socket says ready (the defect); the compose healthcheck's, over TCP, does not;
    `migrate --wait` waits and then migrates."""
    role, database = password_role
    own_pg.stop()
    own_pg.start_socket_only()
    try:
        socket_dir = str(own_pg.server.home)
        old_check = ["-U", own_pg.settings.pg_user, "-d", "postgres"]  # the healthcheck without -h
        assert _pg_isready(own_pg, old_check, {"PGHOST": socket_dir, "PGPORT": str(own_pg.port)}) == 0
        assert _pg_isready(own_pg, _compose_pg_isready_args(own_pg), {}) != 0
        url = f"postgresql://{role}@127.0.0.1:{own_pg.port}/{database}"
        # -v: its "not up yet" lines show that it is asking again, rather than failed
        migrate = subprocess.Popen([sys.executable, "-m", "enrichlog.cli", "-v", "migrate", "--wait", "60"],
                                   env={**os.environ, "DATABASE_URL": url, "PGPASSWORD": PASSWORD},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert migrate.stderr is not None
        retries = 0
        while retries < 3:
            line = migrate.stderr.readline()
            assert line, f"migrate ended before the server listened on TCP: {migrate.communicate()}"
            retries += "not up yet" in line and "Connection refused" in line
    finally:
        own_pg.stop()
        own_pg.start()
    assert _pg_isready(own_pg, _compose_pg_isready_args(own_pg), {}) == 0
    out, err = migrate.communicate(timeout=90)
    assert migrate.returncode == 0, err
    assert "applied   0001_legacy_enrichment_logs" in out
    with psycopg.connect(url, password=PASSWORD) as conn:
        assert conn.execute("SELECT to_regclass('enrichment_logs') IS NOT NULL").fetchone() == (True,)


def test_migrate_wait_fails_at_once_on_a_wrong_password(own_pg: OwnPostgres, password_role: tuple[str, str]) -> None:
    role, database = password_role
    url = f"postgresql://{role}@127.0.0.1:{own_pg.port}/{database}"
    started = time.monotonic()
    done = enrichlog("migrate", "--wait", "60", env={"DATABASE_URL": url, "PGPASSWORD": "wrong" + PASSWORD})
    assert done.returncode == 1 and time.monotonic() - started < 15
    [line] = done.stderr.strip().splitlines()
    assert "password authentication failed" in line and PASSWORD not in line and "waited" not in line


@pytest.mark.parametrize("given_as", ["PGPASSWORD", "DATABASE_PASSWORD_FILE"])
def test_a_password_with_url_characters_kept_out_of_the_url(own_pg: OwnPostgres, password_role: tuple[str, str],
                                                            kafka_bootstrap: str, tmp_path: Path,
                                                            given_as: str) -> None:
    """As compose gives it (PGPASSWORD), or as a secret's file: DATABASE_URL without the password.
    migrate (yoyo), the read commands and the projector's check all connect; a wrong password is
    refused (the server checks it); the same password pasted into the URL does not parse."""
    role, database = password_role
    url = f"postgresql://{role}@127.0.0.1:{own_pg.port}/{database}"

    def password(text: str) -> dict[str, str]:
        if given_as == "PGPASSWORD":
            return {"PGPASSWORD": text}
        secret = tmp_path / f"secret-{uuid.uuid4().hex[:6]}"
        secret.write_text(text + "\n")
        return {"DATABASE_PASSWORD_FILE": str(secret)}

    env = {"DATABASE_URL": url, **password(PASSWORD), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "ENRICHLOG_EVENTS_TOPIC": f"test-{uuid.uuid4().hex[:12]}"}
    migrated = enrichlog("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied   0002_root_and_retry_tracking" in migrated.stdout
    roots = enrichlog("roots", "--json", env=env)
    assert roots.returncode == 0, roots.stderr
    check = enrichlog("project", "--check", "--timeout", "10", env=env)
    assert check.returncode == 3, check.stderr  # reached both; the test's topic does not exist yet
    assert "does not exist" in check.stdout  # exit 3 comes only once both answered

    for command in (["roots", "--json"], ["migrate"], ["project", "--check", "--timeout", "10"]):
        wrong = enrichlog(*command, env={**env, **password("not-" + PASSWORD)})
        assert wrong.returncode == 1 and "password authentication failed" in wrong.stderr, (command, wrong.stderr)
        assert "p@ss" not in wrong.stderr and "p%40ss" not in wrong.stderr

    pasted = enrichlog("migrate", env={"DATABASE_URL": f"postgresql://{role}:{PASSWORD}@127.0.0.1:{own_pg.port}/"
                                                       f"{database}"})
    assert pasted.returncode == 1 and "does not parse as meant" in pasted.stderr


def test_projector_health_and_a_projector_on_a_pgpassword(own_pg: OwnPostgres, password_role: tuple[str, str],
                                                          kafka_bootstrap: str, tmp_path: Path) -> None:
    """The projector's healthcheck (`project --health`, as compose runs it) fails before the projector
    serves, passes while it runs, fails once it stopped; the projector, given its password as
    PGPASSWORD, folds what is published."""
    role, database = password_role
    topic = f"test-{uuid.uuid4().hex[:12]}"
    port = free_port()
    env = {"DATABASE_URL": f"postgresql://{role}@127.0.0.1:{own_pg.port}/{database}", "PGPASSWORD": PASSWORD,
           "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "ENRICHLOG_EVENTS_TOPIC": topic,
           "ENRICHLOG_TOPIC_PARTITIONS": "2", "ENRICHLOG_CONSUMER_GROUP": f"group-{topic}",
           "ENRICHLOG_METRICS_HOST": "0.0.0.0", "ENRICHLOG_METRICS_PORT": str(port), "ENRICHLOG_LOG_FORMAT": "text"}
    assert compose_service("projector")["healthcheck"]["test"][1:] == ["enrichlog", "project", "--health"]  # type: ignore[index]
    assert enrichlog("migrate", env=env).returncode == 0

    before = enrichlog("project", "--health", env=env)
    assert before.returncode == 1
    assert before.stderr.strip() == ("enrichlog project: error: no projector answers on "
                                     f"http://127.0.0.1:{port}/metrics within 3s ([Errno 111] Connection refused)")
    off = enrichlog("project", "--health", env={**env, "ENRICHLOG_METRICS_PORT": "0"})
    assert off.returncode == 1 and "ENRICHLOG_METRICS_PORT is 0" in off.stderr

    base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    proc = ProjectorProcess({**base, **env}, tmp_path / "projector.log").start()
    try:
        healthy = wait_for(lambda: enrichlog("project", "--health", env=env).returncode == 0 or not proc.running(),
                           timeout=90, what="project --health to pass")
        assert healthy and proc.running(), proc.log()
        events = workload(30, seed=16)
        stream(kafka_bootstrap, topic, events, seconds=0).join(60)
        encoded = f"postgresql://{role}:{quote(PASSWORD, safe='')}@127.0.0.1:{own_pg.port}/{database}"
        wait_for(lambda: caught_up(encoded, kafka_bootstrap, topic), timeout=90, what="the projector to catch up")
        with psycopg.connect(encoded) as conn:
            rows = conn.execute("SELECT count(*) FROM enrichment_logs WHERE source_topic = %s", (topic,)).fetchone()
        assert rows == (len({e.job_id for e in events}),)
        assert proc.stop() == 0
    finally:
        proc.kill()
    after = enrichlog("project", "--health", env=env)
    assert after.returncode == 1 and "no projector answers" in after.stderr


def _console_health(port: int, token: str) -> int:
    """The console's healthcheck command, as compose runs it, aimed at `port` with `token`."""
    test = compose_service("console")["healthcheck"]["test"]  # type: ignore[index]
    assert test[:3] == ["CMD", "python", "-c"], test
    script = test[3].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    assert script != test[3], "the healthcheck no longer asks the console's port 8080"
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENRICHLOG_WEB_")}
    return subprocess.run([sys.executable, "-c", script], env={**base, "ENRICHLOG_WEB_TOKEN": token},
                          capture_output=True, timeout=30, check=False).returncode


def test_the_console_service_command_and_healthcheck(own_pg: OwnPostgres, password_role: tuple[str, str],
                                                     tmp_path: Path) -> None:
    """compose's console command on every address: refused without the token; with it, served on a
    PGPASSWORD; its healthcheck passes with the token, fails with another and once it stopped."""
    role, database = password_role
    command = list(compose_service("console")["command"])  # type: ignore[call-overload]
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    env = {"DATABASE_URL": f"postgresql://{role}@127.0.0.1:{own_pg.port}/{database}", "PGPASSWORD": PASSWORD}
    assert enrichlog("migrate", env=env).returncode == 0

    refused = enrichlog(*command, env=env, timeout=30)
    assert refused.returncode == 2
    assert "refusing to listen on '0.0.0.0' without a credential" in refused.stderr

    assert _console_health(port, "the-token") != 0  # nothing listens yet
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "ENRICHLOG_WEB_"))}
    log = tmp_path / "console.log"
    with log.open("w") as sink:
        server = subprocess.Popen([sys.executable, "-m", "enrichlog.cli", *command],
                                  env={**base, **env, "ENRICHLOG_WEB_TOKEN": "the-token"},
                                  stdout=sink, stderr=subprocess.STDOUT)
    try:
        healthy = wait_for(lambda: _console_health(port, "the-token") == 0 or server.poll() is not None,
                           timeout=60, what="the console's healthcheck to pass")
        assert healthy and server.poll() is None, log.read_text()
        assert _console_health(port, "another-token") != 0
        assert f"as role {role}" in log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert _console_health(port, "the-token") != 0
