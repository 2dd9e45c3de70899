"""Kafka or PostgreSQL unreachable, or a login refused: every command that needs them (`produce`,
`rebuild`, `project --check`, `demo`, the projector's start) prints one line naming the address, what
it tried and what to do, and exits 1, within the timeout it was given; none of the client libraries'
own lines, no traceback, never an exception's class name for a message, never a password.

"Unreachable" three ways, all on this machine: a closed port (refused), a port whose listener's
backlog is full (the kernel drops the SYNs: a host that does not answer), and a listener that accepts
and never says anything. The timeouts are not asserted as durations (the interpreter's start on a
busy machine is not the command's doing); each command has a subprocess timeout of N + 10 s as a
safety net, and the test prints what it measured.
"""

from __future__ import annotations

import re
import select
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from enrichlog.migrate import migrate
from enrichlog.services import LocalPostgres, ServicesSettings
from tests.own_services import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

TIMEOUT_S = 3
COMMANDS = {
    "produce": ["produce", "--chains", "1", "--connect-timeout", str(TIMEOUT_S)],
    "rebuild": ["rebuild", "--check", "--connect-timeout", str(TIMEOUT_S)],
    "project --check": ["project", "--check", "--timeout", str(TIMEOUT_S)],
    "demo": ["demo", "--connect-timeout", str(TIMEOUT_S)],
    "projector start": ["project", "--connect-timeout", str(TIMEOUT_S)],
}
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Timeout)\b")


def closed_port() -> str:
    """An address where nothing listens: a connection is refused."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def no_answer() -> Iterator[str]:
    """An address whose SYNs go unanswered, as a host that is down or behind a dropping firewall: a
    listener with a backlog of 0, filled by connections never accepted, so the kernel drops new ones."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers: list[socket.socket] = []
    while True:
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(server.getsockname())
        fillers.append(client)
        _, writable, _ = select.select([], [client], [], 1.0)
        if not writable:  # this one's SYN was dropped: so are the next ones
            break
        assert len(fillers) < 20, "the kernel keeps accepting: cannot make a port that does not answer"
    yield f"127.0.0.1:{server.getsockname()[1]}"
    for s in [*fillers, server]:
        s.close()


@pytest.fixture
def silent() -> Iterator[str]:
    """An address that accepts connections (the kernel's backlog) and never says anything."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()


def run(command: str, env: dict[str, str]) -> tuple[int, str, float]:
    """The command as a process: its exit status, its one line, seconds. Asserts it is one line."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", *COMMANDS[command]], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S + 10)
    elapsed = time.monotonic() - started
    lines = (done.stdout + done.stderr).strip().splitlines()
    if command == "produce":  # its progress says whom it connects to first (enrichlog.progress.phase)
        assert lines[:1] == [f"connecting to {env['KAFKA_BOOTSTRAP_SERVERS']}…"], lines
        lines = lines[1:]
    assert len(lines) == 1, f"{command}: {len(lines)} lines: {lines[:20]}"
    line = lines[0]
    assert "Traceback" not in line and not CLASS_NAME.search(line), line
    print(f"\n{command} ({elapsed:.1f}s): {line}")
    return done.returncode, line, elapsed


def _env(projector_env: dict[str, str], **changes: str) -> dict[str, str]:
    return {**projector_env, "ENRICHLOG_METRICS_PORT": "0", **changes}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_kafka_refusing_is_one_line_with_address_tries_and_what_to_do(
    command: str, projector_env: dict[str, str], projector_topics: None
) -> None:
    address = closed_port()
    code, line, _ = run(command, _env(projector_env, KAFKA_BOOTSTRAP_SERVERS=address))
    assert code == 1, line
    assert f"Kafka at {address} unreachable: connection refused (nothing listens on that port)" in line, line
    assert f"TCP connections in {TIMEOUT_S}s" in line and "KAFKA_BOOTSTRAP_SERVERS" in line, line


@pytest.mark.parametrize("command", ["produce", "project --check", "projector start"])
def test_kafka_not_answering_is_one_line_within_the_timeout(
    command: str, projector_env: dict[str, str], no_answer: str
) -> None:
    code, line, _ = run(command, _env(projector_env, KAFKA_BOOTSTRAP_SERVERS=no_answer))
    assert code == 1, line
    assert f"Kafka at {no_answer} unreachable: no answer to a TCP connection" in line, line
    assert "KAFKA_BOOTSTRAP_SERVERS" in line, line


@pytest.mark.parametrize("command", ["produce", "rebuild", "demo", "projector start"])
def test_a_listener_that_never_answers_as_kafka_is_one_line_within_the_timeout(
    command: str, projector_env: dict[str, str], silent: str
) -> None:
    code, line, _ = run(command, _env(projector_env, KAFKA_BOOTSTRAP_SERVERS=silent))
    assert code == 1, line
    assert f"Kafka at {silent} unreachable: the TCP connection is accepted but no Kafka reply came" in line, line
    assert "is that port a Kafka listener" in line, line


@pytest.mark.parametrize("command", ["rebuild", "project --check", "demo", "projector start"])
def test_postgres_refusing_is_one_line_with_address_tries_and_what_to_do(
    command: str, projector_env: dict[str, str], projector_topics: None
) -> None:
    address = closed_port()
    url = f"postgresql://enrichlog:secret-pw@{address}/enrichlog"
    code, line, _ = run(command, _env(projector_env, DATABASE_URL=url))
    assert code == 1, line
    assert (f"PostgreSQL at postgresql://enrichlog:***@{address}/enrichlog unreachable: connection refused "
            "(nothing listens on that port)") in line, line
    assert f"connections in {TIMEOUT_S}s" in line and "DATABASE_URL" in line and "secret-pw" not in line, line


@pytest.mark.parametrize("command", ["project --check", "projector start"])
def test_postgres_not_answering_is_one_line_within_the_timeout(
    command: str, projector_env: dict[str, str], projector_topics: None, no_answer: str
) -> None:
    url = f"postgresql://enrichlog@{no_answer}/enrichlog"
    code, line, _ = run(command, _env(projector_env, DATABASE_URL=url))
    assert code == 1, line
    assert f"PostgreSQL at {url} unreachable: no answer" in line and "DATABASE_URL" in line, line


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[tuple[LocalPostgres, str]]:
    """A migrated PostgreSQL cluster of this module's own that asks for passwords (scram-sha-256)."""
    settings = ServicesSettings(state_dir=Path(f"/var/tmp/enrichlog-pw-{uuid.uuid4().hex[:8]}"),
                                pg_port=free_port(), pg_password=f"super-{uuid.uuid4().hex}")  # type: ignore[arg-type]
    pg = LocalPostgres(settings)
    pg.start()
    url = settings.database_url()
    migrate(url)
    yield pg, url
    pg.stop()
    shutil.rmtree(settings.state_dir, ignore_errors=True)


def _role_with_password(url: str) -> tuple[str, str]:
    role, password = f"u_{uuid.uuid4().hex[:10]}", f"right-{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role)))
    return role, password


def test_the_password_cluster_asks_for_passwords(password_postgres: tuple[LocalPostgres, str]) -> None:
    _, url = password_postgres
    role, password = _role_with_password(url)
    port = password_postgres[0].settings.pg_port
    with psycopg.connect(f"postgresql://{role}:{password}@127.0.0.1:{port}/enrichlog") as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"postgresql://{role}:not-{password}@127.0.0.1:{port}/enrichlog")


@pytest.mark.parametrize("command", ["rebuild", "project --check", "demo", "projector start"])
def test_a_wrong_postgres_password_is_one_line_naming_the_user_and_what_to_check(
    command: str, projector_env: dict[str, str], projector_topics: None, password_postgres: tuple[LocalPostgres, str]
) -> None:
    pg, url = password_postgres
    role, password = _role_with_password(url)
    wrong = f"wrong-{uuid.uuid4().hex[:10]}"
    address = f"127.0.0.1:{pg.settings.pg_port}"
    url = f"postgresql://{role}:{wrong}@{address}/enrichlog"
    code, line, _ = run(command, _env(projector_env, DATABASE_URL=url))
    assert code == 1, line
    assert f"PostgreSQL at postgresql://{role}:***@{address}/enrichlog refused the connection" in line, line
    assert f'password authentication failed for user "{role}"' in line and "DATABASE_URL" in line, line
    assert wrong not in line and password not in line, line
