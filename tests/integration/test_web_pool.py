"""The console's pooled read connections (enrichlog.read.pool) as a user meets them: the server a
real process over a real database. Connections the database drops are replaced; while the database
refuses connections every read is a 503 naming why, and the first read after it is back is a 200;
however many requests come at once, the pool holds at most its `max_size` connections."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.conftest import _database_of, create_database, drop_database
from tests.harness import wait_for
from tests.integration.test_queries import project, shifted
from tests.integration.test_web import serving
from tests.scenarios import album_chain_with_failed_child

pytestmark = pytest.mark.postgres

POOL_MAX = 4  # enrichlog.web.app's ReadPool max_size


@pytest.fixture
def world(postgres_url: str, migrated_template: str) -> Iterator[dict[str, Any]]:
    url = create_database(postgres_url, template=migrated_template)
    chain, events = album_chain_with_failed_child()
    project(url, shifted(events, datetime.now(UTC) - timedelta(hours=1)))
    yield {"db": url, "name": _database_of(url), "root": chain.root_id}
    drop_database(postgres_url, url)


def pooled(admin: psycopg.Connection[Any], name: str) -> list[int]:
    """The backend pids of the console's pooled read connections to database `name`."""
    rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name LIKE %s",
                         (name, "enrichlog web reads%")).fetchall()
    return [pid for (pid,) in rows]


def test_dropped_connections_are_replaced_and_a_database_away_is_a_503_until_it_is_back(
        postgres_url: str, world: dict[str, Any], tmp_path: Path) -> None:
    allow = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}")
    with serving({"DATABASE_URL": world["db"]}, tmp=tmp_path) as (url, _), \
            psycopg.connect(postgres_url, autocommit=True) as admin:
        assert httpx.get(f"{url}/api/roots").status_code == 200
        first = wait_for(lambda: pooled(admin, world["name"]), timeout=10, what="a pooled connection")
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (first,))
        for path in ("/api/roots", f"/roots/{world['root']}"):  # the database is still there: no error
            assert httpx.get(f"{url}{path}").status_code == 200, path
        assert not set(first) & set(pooled(admin, world["name"]))

        admin.execute(allow.format(sql.Identifier(world["name"]), sql.SQL("false")))
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid",
                          (pooled(admin, world["name"]),))
            away = httpx.get(f"{url}/api/roots")
            assert away.status_code == 503, away.text
            assert away.json()["error"].startswith("cannot connect") and "not currently accepting" in away.text
            page = httpx.get(f"{url}/roots/{world['root']}")
            assert page.status_code == 503 and "cannot connect" in page.text
        finally:
            admin.execute(allow.format(sql.Identifier(world["name"]), sql.SQL("true")))

        back = httpx.get(f"{url}/api/roots")
        assert back.status_code == 200 and world["root"] in [r["jobId"] for r in back.json()["rows"]]
        assert httpx.get(f"{url}/roots/{world['root']}").status_code == 200
        wait_for(lambda: pooled(admin, world["name"]), timeout=30, what="the pool to reconnect")
        assert httpx.get(f"{url}/api/timeline/{world['root']}").status_code == 200


def test_requests_at_once_share_at_most_max_size_connections(
        postgres_url: str, world: dict[str, Any], tmp_path: Path) -> None:
    paths = ["/api/roots", "/", f"/roots/{world['root']}", f"/api/timeline/{world['root']}"] * 30
    with serving({"DATABASE_URL": world["db"]}, tmp=tmp_path) as (url, _), \
            psycopg.connect(postgres_url, autocommit=True) as admin, \
            httpx.Client(base_url=url, timeout=30) as client, ThreadPoolExecutor(max_workers=12) as workers:
        asked = [workers.submit(client.get, path) for path in paths]
        seen = [len(pooled(admin, world["name"]))]
        while not all(f.done() for f in asked):  # the pool's size while the requests run
            seen.append(len(pooled(admin, world["name"])))
        assert [f.result().status_code for f in asked] == [200] * len(paths)
        assert 1 <= max(seen) <= POOL_MAX and len(seen) > 1
        assert 1 <= len(pooled(admin, world["name"])) <= POOL_MAX  # kept open for the next requests


def _grows_to(postgres_url: str, world: dict[str, Any], url: str, size: int) -> int:
    """The most pooled connections the console opens while more requests than `size` wait on a
    lock the test holds: each waiting request holds its connection, so the pool grows to its limit."""
    with psycopg.connect(postgres_url, autocommit=True) as admin, \
            psycopg.connect(world["db"]) as locker, \
            httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(max_workers=size + 4) as workers:
        locker.execute("LOCK TABLE enrichment_logs IN ACCESS EXCLUSIVE MODE")
        asked = [workers.submit(client.get, "/api/roots") for _ in range(size + 4)]
        try:
            wait_for(lambda: len(pooled(admin, world["name"])) >= size, timeout=20, what=f"{size} pooled connections")
            most = max(len(pooled(admin, world["name"])) for _ in range(20))
        finally:
            locker.rollback()  # the lock goes: every request answers
        assert [f.result().status_code for f in asked] == [200] * (size + 4)
        return max(most, len(pooled(admin, world["name"])))


def test_the_pool_size_is_a_setting_and_the_option_wins(postgres_url: str, world: dict[str, Any],
                                                       tmp_path: Path) -> None:
    with serving({"DATABASE_URL": world["db"], "ENRICHLOG_WEB_POOL_SIZE": "2"}, tmp=tmp_path) as (url, _):
        assert _grows_to(postgres_url, world, url, 2) == 2
    with serving({"DATABASE_URL": world["db"], "ENRICHLOG_WEB_POOL_SIZE": "2"}, "--pool-size", "6",
                 tmp=tmp_path) as (url, _):
        assert _grows_to(postgres_url, world, url, 6) == 6


@pytest.mark.parametrize(("value", "says"), [
    ("0", "ENRICHLOG_WEB_POOL_SIZE: must be at least 1"),
    ("-3", "ENRICHLOG_WEB_POOL_SIZE: must be at least 1"),
    ("2.5", "ENRICHLOG_WEB_POOL_SIZE: must be an integer"),
    ("four", "ENRICHLOG_WEB_POOL_SIZE: must be an integer"),
    ("100000", "ENRICHLOG_WEB_POOL_SIZE: must be at most 40"),
])
def test_a_bad_pool_size_setting_is_refused_naming_it(world: dict[str, Any], value: str, says: str) -> None:
    env = {**os.environ, "DATABASE_URL": world["db"], "ENRICHLOG_WEB_POOL_SIZE": value}
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "web", "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == "", done
    assert done.stderr.startswith("enrichlog web: error: invalid configuration: " + says), done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(("value", "says"), [
    ("0", "must be between 1 and 40, got 0"), ("-1", "must be between 1 and 40, got -1"),
    ("41", "must be between 1 and 40, got 41"), ("1e9", "expected a whole number, got '1e9'"),
    ("", "expected a whole number, got ''"),
])
def test_a_bad_pool_size_option_is_refused_naming_it(world: dict[str, Any], value: str, says: str) -> None:
    env = {**os.environ, "DATABASE_URL": world["db"]}
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "web", "--pool-size", value], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "", done
    assert f"enrichlog web: error: argument --pool-size: {says}" in done.stderr, done.stderr
