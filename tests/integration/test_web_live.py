"""`GET /api/live` of a real console process: rows written through the projector's store reach an
open stream within a second, filtered by root when asked; a lost LISTEN connection is said and
recovered from; bad input is a 400 naming the parameter; the credential and the reader role hold."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.conftest import create_database, drop_database
from tests.integration.test_queries import project, success_chain
from tests.integration.test_web import serving
from tests.roles import deployment

pytestmark = pytest.mark.postgres

HEARTBEAT = 0.3  # the console's, in these tests: a stream is never silent for longer
# The console's LISTEN connection (enrichlog.web.live.Feed), ended by the server as an operator would.
TERMINATE_LISTENER = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND application_name LIKE 'enrichlog web live%%'")


class Stream:
    """The events of one open `GET /api/live`, read as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()
        self.heartbeats = 0

    def next(self, timeout: float = 10) -> tuple[str, dict[str, Any]]:
        """The next event (name, data); heartbeat comments are counted, not returned."""
        deadline = time.monotonic() + timeout
        event: str | None = None
        data: dict[str, Any] = {}
        for line in self.lines:
            if line.startswith(":"):
                self.heartbeats += 1
            elif line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
            elif line == "" and event is not None:
                return event, data
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"no event within {timeout} s (last: {event!r})")

    def until(self, name: str, timeout: float = 10) -> dict[str, Any]:
        """The data of the next event called `name`, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            event, data = self.next(max(0.1, deadline - time.monotonic()))
            if event == name:
                return data


@contextmanager
def live(url: str, query: str = "", **kw: Any) -> Iterator[Stream]:
    """An open stream, once the console said it is subscribed (`ready`)."""
    with httpx.stream("GET", f"{url}/api/live{query}", timeout=5, **kw) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        assert stream.next() == ("ready", {})
        yield stream


@pytest.fixture(scope="module")
def db(postgres_url: str, migrated_template: str) -> Iterator[str]:
    """One database for the module's console: each test writes roots of its own."""
    url = create_database(postgres_url, template=migrated_template)
    yield url
    drop_database(postgres_url, url)


@pytest.fixture(scope="module")
def console(db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"DATABASE_URL": db, "ENRICHLOG_WEB_LIVE_HEARTBEAT": str(HEARTBEAT)}
    with serving(env, tmp=tmp_path_factory.mktemp("live")) as (url, _):
        yield url


def new_root(db: str) -> str:
    """A chain folded through the real store (projector.store.PostgresStore): its root id."""
    chain, events = success_chain(datetime.now(UTC))
    project(db, events)
    return chain.root_id


def test_rows_written_reach_an_open_stream_within_a_second(db: str, console: str) -> None:
    with live(console) as stream:
        root = new_root(db)
        written = time.monotonic()
        assert stream.until("rows") == {"roots": [root], "more": False}
        assert time.monotonic() - written < 1.0


def test_an_idle_stream_sends_heartbeats(console: str) -> None:
    with live(console) as stream, pytest.raises(AssertionError, match="no event"):
        stream.next(timeout=4 * HEARTBEAT)
    assert stream.heartbeats >= 2


def test_a_root_filter_passes_only_that_roots_events(db: str, console: str) -> None:
    first = new_root(db)
    with live(console, f"?root={first}") as mine, live(console) as every:
        other = new_root(db)
        chain, events = success_chain(datetime.now(UTC))
        project(db, [e.model_copy(update={"root_job_id": first, "parent_job_id": first})
                     for e in events if e.job_id != chain.root_id])  # children of `first`, a batch of their own
        assert every.until("rows") == {"roots": [other], "more": False}
        assert every.until("rows") == {"roots": [first], "more": False}
        assert mine.next() == ("rows", {"roots": [first], "more": False})  # not `other`'s, which came before


@pytest.mark.parametrize(("query", "problem"), [
    ("?root=", "root: must not be empty"),
    ("?root=%01", "root: contains a control character"),
    ("?root=" + "a" * 201, "root: longer than 200 characters"),
])
def test_a_bad_root_is_a_400_naming_it(console: str, query: str, problem: str) -> None:
    answer = httpx.get(f"{console}/api/live{query}", timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(problem)


def test_a_lost_listen_connection_is_said_then_resynced_and_events_go_on(db: str, console: str) -> None:
    with live(console) as stream:
        with psycopg.connect(db, autocommit=True) as conn:
            ended = conn.execute(TERMINATE_LISTENER, (conn.info.dbname,)).fetchall()
        assert ended == [(True,)]  # one LISTEN connection per console
        assert stream.next()[0] == "interrupted"
        assert stream.next() == ("resync", {})
        root = new_root(db)
        assert stream.until("rows") == {"roots": [root], "more": False}
    # a stream opened after the loss is ready at once: the feed listens again
    with live(console):
        pass


def test_a_stream_opened_while_the_database_is_away_says_so_then_resyncs(postgres_url: str, db: str,
                                                                          console: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(db)["dbname"]
    with psycopg.connect(postgres_url, autocommit=True) as conn, live(console) as before:
        allow = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format
        database = sql.Identifier(str(name))
        conn.execute(allow(database, sql.SQL("false")))
        try:
            assert conn.execute(TERMINATE_LISTENER, (name,)).fetchall() == [(True,)]
            assert before.next()[0] == "interrupted"
            with httpx.stream("GET", f"{console}/api/live", timeout=5) as response:
                during = Stream(response)
                event, data = during.next()
                assert event == "interrupted" and data["reason"]  # at once: the feed is away now
                conn.execute(allow(database, sql.SQL("true")))
                assert during.next(timeout=15) == ("resync", {})  # within the longest wait between attempts
                assert before.next() == ("resync", {})
        finally:
            conn.execute(allow(database, sql.SQL("true")))


def test_the_stream_is_in_the_openapi_document(console: str) -> None:
    spec = httpx.get(f"{console}/openapi.json", timeout=5).json()
    operation = spec["paths"]["/api/live"]["get"]
    assert "server-sent events" in operation["summary"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert [p["name"] for p in operation["parameters"]] == ["root"]


def test_the_credential_applies_to_the_stream(db: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db, "ENRICHLOG_WEB_TOKEN": "s3cret-token"}
    with serving(env, tmp=tmp_path) as (url, _):
        assert httpx.get(f"{url}/api/live", timeout=5).status_code == 401
        with live(url, headers={"Authorization": "Bearer s3cret-token"}) as stream:
            root = new_root(db)
            assert stream.until("rows") == {"roots": [root], "more": False}


def test_the_reader_role_listens_to_what_the_projector_role_writes(postgres_url: str, tmp_path: Path) -> None:
    with deployment(postgres_url) as d, serving({"DATABASE_URL": d.reader_url}, tmp=tmp_path) as (url, _), \
            live(url) as stream:
        chain, events = success_chain(datetime.now(UTC))
        project(d.projector_url, events)
        assert stream.until("rows") == {"roots": [chain.root_id], "more": False}


def test_the_pages_carry_the_live_region_the_banner_and_the_script(db: str, console: str) -> None:
    root = new_root(db)
    timeline = httpx.get(f"{console}/roots/{root}", timeout=5).text
    assert f'<main data-live data-live-root="{root}">' in timeline
    assert '<span id="live-status" role="status" hidden></span>' in timeline
    assert '<script src="/static/live.js" defer></script>' in timeline
    assert "<main data-live>" in httpx.get(f"{console}/", timeout=5).text  # the roots: every root's events
    script = httpx.get(f"{console}/static/live.js", timeout=5)
    assert script.status_code == 200 and 'new EventSource(feed)' in script.text
