"""`enrichlog web` as a user runs it: the server a real process on a real socket, a real database. Its
API answers the documents the CLI prints for the same data; its pages show the roots and timelines;
bad input is a 4xx naming the parameter; the credential and the reader role hold."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from psycopg import errors

from tests.conftest import create_database, drop_database
from tests.harness import wait_for
from tests.integration.test_cli_read import enrichlog
from tests.integration.test_queries import legacy, project, shifted, success_chain
from tests.own_services import free_port
from tests.roles import deployment
from tests.scenarios import album_chain_with_failed_child

pytestmark = pytest.mark.postgres

ROOT_PARAMETERS = ("status", "operation", "since", "until", "entity", "stuck", "failing", "error_kind", "limit",
                   "cursor")
NASTY = ["' OR 1=1 --", "x'); DROP TABLE enrichment_logs; --", "%' UNION SELECT * FROM pg_user --",
         "\\x00", "a" * 5000, "😀" * 300]


@contextmanager
def serving(env: dict[str, str], *args: str, tmp: Path) -> Iterator[tuple[str, Path]]:
    """`python -m enrichlog.cli web` on a free port with exactly `env`'s database settings: its base URL
    once it answers, and the file of what it printed."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("ENRICHLOG_WEB_")}
    out = tmp / f"web-{port}.log"
    with out.open("w") as sink:
        server = subprocess.Popen([sys.executable, "-m", "enrichlog.cli", "web", "--port", str(port), *args],
                                  env={**base, **env}, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            assert server.poll() is None, out.read_text()
            try:
                return httpx.get(f"{url}/static/console.css", timeout=2).status_code in (200, 401)
            except httpx.TransportError:
                return False

        wait_for(answers, timeout=30, what="the console to answer")
        yield url, out
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def world(postgres_url: str, migrated_template: str) -> Iterator[dict[str, Any]]:
    """Three roots: a PARTIAL one with two children (newest), a successful one, a legacy row (oldest)."""
    url = create_database(postgres_url, template=migrated_template)
    chain, events = album_chain_with_failed_child()
    project(url, shifted(events, datetime.now(UTC) - timedelta(hours=1)))
    ok, ok_events = success_chain(datetime.now(UTC) - timedelta(hours=2))
    project(url, ok_events)
    with psycopg.connect(url, autocommit=True) as conn:
        old = legacy(conn, datetime.now(UTC) - timedelta(days=3), status="FAILED")
        entity = conn.execute("SELECT entity_id FROM enrichment_logs WHERE job_id = %s",
                              (chain.root_id,)).fetchone()
    assert entity is not None
    yield {"db": url, "root": chain.root_id, "ok": ok.root_id, "legacy": str(old), "entity": str(entity[0])}
    drop_database(postgres_url, url)


@pytest.fixture(scope="module")
def console(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving({"DATABASE_URL": world["db"]}, tmp=tmp_path_factory.mktemp("web")) as (url, _):
        yield url


def cli_json(db: str, *args: str) -> Any:
    done = enrichlog(db, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("words", [
    {}, {"limit": "1"}, {"status": "partial"}, {"status": "FAILED"}, {"operation": "CHECK_ALBUM_ENRICHMENT"},
    {"since": "2020-01-01T00:00:00Z", "until": "2099-01-01"}, {"stuck": "0.5"}, {"entity": "{entity}"},
])
def test_api_roots_is_the_document_roots_json_prints(console: str, world: dict[str, Any],
                                                     words: dict[str, str]) -> None:
    words = {k: v.format(**world) for k, v in words.items()}
    answer = httpx.get(f"{console}/api/roots", params=words)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    args = [a for k, v in words.items() for a in (f"--{k}", v)]
    assert answer.json() == cli_json(world["db"], "roots", *args)


def test_api_roots_pages_with_the_cli_cursor(console: str, world: dict[str, Any]) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{console}/api/roots", params=params).json()
        assert page == cli_json(world["db"], "roots", "--limit", "1", *(["--cursor", cursor] if cursor else []))
        seen += [r["jobId"] or r["id"] for r in page["rows"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [world["root"], world["ok"], world["legacy"]]


@pytest.mark.parametrize("which", ["root", "ok", "legacy"])
def test_api_timeline_is_the_document_timeline_json_prints(console: str, world: dict[str, Any], which: str) -> None:
    answer = httpx.get(f"{console}/api/timeline/{world[which]}")
    assert answer.status_code == 200
    assert answer.json() == cli_json(world["db"], "timeline", world[which])


def test_unknown_ids_are_not_found_in_the_api_and_the_pages(console: str, world: dict[str, Any]) -> None:
    for ref in ("no-such-job", str(uuid.uuid4())):
        api = httpx.get(f"{console}/api/timeline/{ref}")
        assert api.status_code == 404 and ref in api.json()["error"]
        page = httpx.get(f"{console}/roots/{ref}")
        assert page.status_code == 404 and "text/html" in page.headers["content-type"]
        assert "Not found" in page.text and ref in page.text
    child = httpx.get(f"{console}/api/timeline/{world['root']}/cover")
    assert child.status_code == 404 and child.json()["root"] == world["root"]
    assert f'href="/roots/{world["root"]}"' in httpx.get(f"{console}/roots/{world['root']}/cover").text


@pytest.mark.parametrize(("words", "says"), [
    ({"entity": "not-a-uuid"}, "entity: 'not-a-uuid' is not a UUID"),
    ({"since": "yesterday"}, "since: 'yesterday' is not an ISO datetime"),
    ({"limit": "-3"}, "limit: must be at least 1"),
    ({"limit": "ten"}, "limit: 'ten' is not a whole number"),
    ({"limit": "5000"}, "limit must be between 1 and 1000"),
    ({"cursor": "garbage"}, "malformed cursor"),
    ({"stuck": "-5"}, "stuck: must be a positive number of minutes"),
    ({"status": "DONE"}, "unknown status 'DONE'"),
    ({"since": "2026-02-02", "until": "2026-02-01"}, "since (2026-02-02T00:00:00+00:00) must be before until"),
    ({"operation": "no such thing"}, "operation: 'no such thing' is not an operation name"),
])
def test_a_bad_parameter_is_a_400_naming_it(console: str, words: dict[str, str], says: str) -> None:
    api = httpx.get(f"{console}/api/roots", params=words)
    assert api.status_code == 400 and api.json()["error"].startswith(says), api.text
    page = httpx.get(f"{console}/", params=words)
    assert page.status_code == 400 and says in page.text.replace("&#39;", "'")


@pytest.mark.parametrize("value", NASTY, ids=["or", "drop", "union", "nul", "long", "emoji"])
def test_sql_metacharacters_and_long_strings_in_every_parameter_are_4xx(console: str, value: str) -> None:
    value = value.replace("\\x00", "\x00")
    for name in ROOT_PARAMETERS:
        for path in ("/api/roots", "/"):
            answer = httpx.get(f"{console}{path}", params={name: value})
            assert 400 <= answer.status_code < 500, (path, name, answer.status_code, answer.text[:200])
    for path in ("/api/timeline/", "/roots/"):
        answer = httpx.get(f"{console}{path}{quote(value, safe='')}")
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:200])
    assert httpx.get(f"{console}/api/roots").json()["rows"]  # nothing was dropped


def test_openapi_document(console: str) -> None:
    spec = httpx.get(f"{console}/openapi.json").json()
    assert {"/api/roots", "/api/timeline/{ref}"} <= set(spec["paths"])
    names = {p["name"] for p in spec["paths"]["/api/roots"]["get"]["parameters"]}
    assert names == set(ROOT_PARAMETERS)
    assert httpx.get(f"{console}/docs").status_code == 404  # its page would load scripts from a CDN


def test_roots_page(console: str, world: dict[str, Any]) -> None:
    page = httpx.get(f"{console}/")
    assert page.status_code == 200
    html = page.text
    assert html.index(world["root"]) < html.index(world["ok"]) < html.index(world["legacy"])  # newest first
    assert 'class="status-PARTIAL partial"' in html and "✗1" in html and ">legacy<" in html
    assert "upstream answered 503" in html and 'href="/static/console.css"' in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)  # every asset from the package
    css = httpx.get(f"{console}/static/console.css")
    assert css.status_code == 200 and ".seg" in css.text


def test_roots_page_filters_live_in_the_url_and_the_next_page_keeps_them(console: str, world: dict[str, Any]) -> None:
    first = httpx.get(f"{console}/", params={"status": "", "since": "2020-01-01", "limit": "1"}).text
    assert world["root"] in first and world["ok"] not in first
    assert 'value="2020-01-01"' in first
    link = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "since=2020-01-01" in link and "limit=1" in link and "cursor=" in link and "status" not in link
    second = httpx.get(f"{console}{link}").text
    assert world["ok"] in second and world["root"] not in second
    partial = httpx.get(f"{console}/", params={"status": "PARTIAL"}).text
    assert world["root"] in partial and world["legacy"] not in partial
    assert '<option value="PARTIAL" selected>' in partial


def test_timeline_page(console: str, world: dict[str, Any]) -> None:
    page = httpx.get(f"{console}/roots/{world['root']}")
    assert page.status_code == 200
    html = page.text
    assert html.index(f"{world['root']}/enrich") < html.index(f"{world['root']}/cover")  # by start
    failing = html.split('class="job child failing')[1].split("</tr>")[0]
    assert "CACHE_ALBUM_COVER_ART" in failing and "IMAGE_FETCH_FAILED" in failing and "o-FAILED" in failing
    assert "attempt 1: NOT_FOUND IMAGE_FETCH_FAILED" in failing  # an earlier attempt's error too
    assert html.count('class="seg attempt o-RETRIED"') >= 3 and 'class="seg wait"' in html
    assert "slowest" in html and "legend" in html
    single = httpx.get(f"{console}/roots/{world['legacy']}").text
    assert "legacy row" in single and "upstream answered 503" in single


def test_database_unavailable_is_a_503(tmp_path: Path) -> None:
    with serving({"DATABASE_URL": "postgresql://enrichlog@127.0.0.1:1/nowhere"}, tmp=tmp_path) as (url, out):
        assert "not answering now" in out.read_text()
        for path in ("/api/roots", "/api/timeline/x"):
            answer = httpx.get(f"{url}{path}")
            assert answer.status_code == 503 and "cannot connect" in answer.json()["error"]
            assert "\n" not in answer.json()["error"]
        assert httpx.get(f"{url}/").status_code == 503


def test_another_address_without_a_credential_is_refused_at_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENRICHLOG_WEB_")}
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "web", "--host", "0.0.0.0", "--port", "1"],
                          env={**env, "DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("enrichlog web: error: refusing to listen on '0.0.0.0' without a credential")
    assert "ENRICHLOG_WEB_TOKEN" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_with_a_credential_every_request_needs_it(world: dict[str, Any], tmp_path: Path) -> None:
    env = {"DATABASE_URL": world["db"], "ENRICHLOG_WEB_TOKEN": "s3cret-token"}
    with serving(env, tmp=tmp_path) as (url, _):
        for path in ("/api/roots", "/", f"/roots/{world['root']}", "/openapi.json", "/static/console.css"):
            refused = httpx.get(f"{url}{path}")
            assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic"), path
            assert httpx.get(f"{url}{path}", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert httpx.get(f"{url}{path}", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
            assert httpx.get(f"{url}{path}", auth=("me", "s3cret-token")).status_code == 200
        assert "s3cret" not in httpx.get(f"{url}/").text


def test_the_server_reads_as_the_reader_which_cannot_write(postgres_url: str, tmp_path: Path) -> None:
    chain, events = album_chain_with_failed_child()
    with deployment(postgres_url) as d:
        project(d.projector_url, shifted(events, datetime.now(UTC)))
        with serving({"DATABASE_URL": d.reader_url}, tmp=tmp_path) as (url, out):
            assert f"as role {d.reader} (SELECT only)" in out.read_text()
            assert chain.root_id in [r["jobId"] for r in httpx.get(f"{url}/api/roots").json()["rows"]]
            assert httpx.get(f"{url}/roots/{chain.root_id}").status_code == 200
        for statement in ("UPDATE enrichment_logs SET reason = 'x'", "DELETE FROM enrichment_logs",
                          "INSERT INTO enrichment_logs (entity_type, entity_id, operation, status) "
                          "VALUES ('ALBUM', gen_random_uuid(), 'X', 'FAILED')"):
            with psycopg.connect(d.reader_url) as conn, pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)



def test_a_role_that_may_write_is_named_at_start(world: dict[str, Any], tmp_path: Path) -> None:
    with serving({"DATABASE_URL": world["db"]}, tmp=tmp_path) as (_, out):
        assert "may also write enrichment_logs: the console needs SELECT only" in out.read_text()
