"""The console's pooled read connections (enrichlog.read.pool) as a user meets them: the server a
real process over a real database. Connections the database drops are replaced; while the database
refuses connections every read is a 503 naming why, and the first read after it is back is a 200;
however many requests come at once, the pool holds at most its `max_size` connections."""

from __future__ import annotations

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
