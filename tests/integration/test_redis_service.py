"""The local Redis of `enrichlog services` (enrichlog/services/redis.py) with Debian's real binary:
started on a port and state directory of its own, reused, stopped; refused when its port is taken,
its binary missing, or its port is bad or another service's."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from enrichlog.services import Endpoints, LocalRedis, ServiceError, ServicesSettings, down
from enrichlog.services._proc import pid_alive, port_open
from enrichlog.services.redis import ping
from tests.own_services import free_port


def _settings(**overrides: object) -> ServicesSettings:
    return ServicesSettings(state_dir=Path(f"/var/tmp/enrichlog-redis-{uuid.uuid4().hex[:8]}"),  # type: ignore[arg-type]
                            redis_port=free_port(), **overrides)


@pytest.fixture
def redis() -> Iterator[LocalRedis]:
    service = LocalRedis(_settings())
    yield service
    service.stop()
    shutil.rmtree(service.settings.state_dir, ignore_errors=True)


def _command(port: int, *words: str) -> bytes:
    """One RESP command and the server's first reply."""
    request = f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
        conn.sendall(request)
        return conn.recv(4096)


def test_started_it_answers_keeps_nothing_on_disk_and_is_reused(redis: LocalRedis) -> None:
    redis.start()
    port = redis.settings.redis_port
    assert redis.running() and ping(port)
    assert redis.url == f"redis://127.0.0.1:{port}"
    assert _command(port, "SET", "k", "v") == b"+OK\r\n"
    assert _command(port, "CONFIG", "GET", "save").endswith(b"$0\r\n\r\n")  # no RDB snapshots
    assert b"no" in _command(port, "CONFIG", "GET", "appendonly")
    assert b"noeviction" in _command(port, "CONFIG", "GET", "maxmemory-policy")
    pid = pid_alive(redis.pid_file)
    LocalRedis(redis.settings).start()  # a second `up`: the same process, the same data
    assert pid_alive(redis.pid_file) == pid
    assert _command(port, "GET", "k") == b"$1\r\nv\r\n"
    redis.stop()
    assert not redis.running() and not port_open("127.0.0.1", port)
    assert not list(redis.home.glob("*.rdb")) and not list(redis.home.glob("appendonly*"))


def test_services_down_stops_it(redis: LocalRedis) -> None:
    redis.start()
    down(redis.settings)  # Kafka and PostgreSQL of these settings never ran: nothing to stop there
    assert not redis.running() and not port_open("127.0.0.1", redis.settings.redis_port)
    assert not redis.pid_file.exists()


def test_a_taken_port_is_refused_naming_the_variable(redis: LocalRedis) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", redis.settings.redis_port))
        other.listen()
        with pytest.raises(ServiceError, match=f"port {redis.settings.redis_port} is taken.*ENRICHLOG_REDIS_PORT"):
            redis.start()
    assert pid_alive(redis.pid_file) is None


def test_a_missing_binary_says_how_to_install_it() -> None:
    service = LocalRedis(_settings(redis_server="/nonexistent/redis-server"))
    with pytest.raises(ServiceError, match=r"not installed.*apt-get install -y redis-server"):
        service.start()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"redis_port": 0}, "redis_port"),
    ({"redis_port": 70000}, "redis_port"),
    ({"redis_port": 55999, "pg_port": 55999}, "ENRICHLOG_REDIS_PORT and ENRICHLOG_PG_PORT are both 55999"),
    ({"redis_port": 19092, "kafka_port": 19092}, "ENRICHLOG_REDIS_PORT and ENRICHLOG_KAFKA_PORT are both 19092"),
])
def test_a_bad_port_configuration_is_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ServicesSettings(**overrides)  # type: ignore[arg-type]


def test_the_env_lines_name_redis_beside_kafka_and_postgres() -> None:
    endpoints = Endpoints("127.0.0.1:1", "postgresql://u@127.0.0.1:2/d", "redis://127.0.0.1:3")
    assert endpoints.as_env() == {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                                  "DATABASE_URL": "postgresql://u@127.0.0.1:2/d", "REDIS_URL": "redis://127.0.0.1:3"}
    assert "REDIS_URL" not in Endpoints("127.0.0.1:1", "postgresql://u@127.0.0.1:2/d").as_env()
