"""Fixtures that start or name the real services. None of them skips: a missing service fails.

Services come from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set (scripts/test starts local ones
and sets them), otherwise from testcontainers when a Docker engine answers. Redis (for the BullMQ
tests) comes from REDIS_URL, otherwise the local one (`enrichlog services`' Redis) is started.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg import sql

from tests.harness import ProjectorProcess

# Mutation testing (pyproject.toml's [tool.mutmut]) runs the tests under mutmut's tracing, on a
# shared machine: the same examples on every run, and no clock on input generation or on a test.
settings.register_profile("mutmut", derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])

HOW_TO_START = (
    "start the local services with `eval \"$(enrichlog services up --env)\"` (or run scripts/test), "
    "or set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL, or run a Docker engine for testcontainers"
)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if not _docker_answers():
        pytest.fail(f"Kafka is needed and KAFKA_BOOTSTRAP_SERVERS is not set: {HOW_TO_START}")
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:3.9.1").with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis server: REDIS_URL, else the local service (started here, stopped at the end
    when this fixture started it)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from enrichlog.services import LocalRedis, ServicesSettings

    redis = LocalRedis(ServicesSettings())
    started = not redis.running()
    redis.start()
    yield redis.url
    if started:
        redis.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a real PostgreSQL server's maintenance database (we create test databases in it)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    if not _docker_answers():
        pytest.fail(f"PostgreSQL is needed and DATABASE_URL is not set: {HOW_TO_START}")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver=None) as pg:
        yield pg.get_connection_url()


def _with_database(url: str, name: str) -> str:
    """The same server URL with another database name."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_database(postgres_url: str, *, template: str | None = None) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        conn.execute(stmt)
    return _with_database(postgres_url, name)


def drop_database(postgres_url: str, url: str) -> None:
    name = _database_of(url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database of its own for this test."""
    url = create_database(postgres_url)
    yield url
    drop_database(postgres_url, url)


@pytest.fixture(scope="session")
def migrated_template(postgres_url: str) -> Iterator[str]:
    """A database migrated once per session, used as the template of `db`."""
    from enrichlog.migrate import migrate

    url = create_database(postgres_url)
    migrate(url)
    yield _database_of(url)
    drop_database(postgres_url, url)


@pytest.fixture
def db(postgres_url: str, migrated_template: str) -> Iterator[str]:
    """A fresh, fully migrated database of its own for this test."""
    url = create_database(postgres_url, template=migrated_template)
    yield url
    drop_database(postgres_url, url)


@pytest.fixture
def topic(kafka_bootstrap: str) -> str:
    """A topic name unique to this test (created by whoever uses it first)."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def projector_env(kafka_bootstrap: str, db: str, topic: str) -> dict[str, str]:
    """Environment of a projector on this test's topic, database and consumer group."""
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=db,
        ENRICHLOG_EVENTS_TOPIC=topic,
        ENRICHLOG_TOPIC_PARTITIONS="3",
        ENRICHLOG_CONSUMER_GROUP=f"group-{topic}",
        ENRICHLOG_METRICS_PORT="0",
        ENRICHLOG_LOG_FORMAT="text",
        ENRICHLOG_DB_RETRY_TIMEOUT_S="120",
    )
    return env


@pytest.fixture
def projector_topics(projector_env: dict[str, str]) -> None:
    """The test's events and dead-letter topics, created as the projector would (3 partitions)."""
    from projector.service import ensure_topics
    from projector.settings import ProjectorSettings

    ensure_topics(ProjectorSettings(**{  # type: ignore[arg-type]
        "kafka_bootstrap_servers": projector_env["KAFKA_BOOTSTRAP_SERVERS"],
        "database_url": projector_env["DATABASE_URL"],
        "events_topic": projector_env["ENRICHLOG_EVENTS_TOPIC"],
        "topic_partitions": 3,
    }))


@pytest.fixture
def projector(projector_env: dict[str, str], projector_topics: None, tmp_path: Any) -> Iterator[ProjectorProcess]:
    """A started projector; stopped (or killed) at teardown. Its log is shown when a test fails."""
    proc = ProjectorProcess(projector_env, tmp_path / "projector.log").start()
    yield proc
    proc.kill()
    print(proc.log())
