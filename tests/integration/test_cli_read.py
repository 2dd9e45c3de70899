"""`enrichlog roots` and `enrichlog timeline` as a user runs them: the installed script, a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.test_queries import legacy, project, shifted
from tests.scenarios import album_chain_with_failed_child

pytestmark = pytest.mark.postgres
ENRICHLOG = str(Path(sys.executable).with_name("enrichlog"))


def enrichlog(db: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["COLUMNS"] = "200"
    if db is not None:
        env["DATABASE_URL"] = db
    return subprocess.run([ENRICHLOG, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def world(db: str) -> dict[str, Any]:
    chain, events = album_chain_with_failed_child()
    project(db, shifted(events, datetime.now(UTC) - timedelta(hours=1)))
    with psycopg.connect(db, autocommit=True) as conn:
        old = legacy(conn, datetime.now(UTC) - timedelta(days=3), status="FAILED")
    return {"root": chain.root_id, "legacy": str(old)}


def test_roots_json_lists_projected_and_legacy_roots(db: str, world: dict[str, Any]) -> None:
    done = enrichlog(db, "roots", "--json")
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert [(r["jobId"], r["id"], r["status"]) for r in page["rows"]] == [
        (world["root"], page["rows"][0]["id"], "PARTIAL"), (None, world["legacy"], "FAILED")]
    assert page["rows"][0]["failedChildren"] == 1 and page["rows"][0]["children"] == 2
    assert page["nextCursor"] is None


def test_roots_cursor_from_one_call_feeds_the_next(db: str, world: dict[str, Any]) -> None:
    first = json.loads(enrichlog(db, "roots", "--json", "--limit", "1").stdout)
    assert first["rows"][0]["jobId"] == world["root"] and first["nextCursor"]
    second = enrichlog(db, "roots", "--json", "--limit", "1", "--cursor", first["nextCursor"])
    assert second.returncode == 0, second.stderr
    assert [r["id"] for r in json.loads(second.stdout)["rows"]] == [world["legacy"]]


def test_roots_table_and_filters(db: str, world: dict[str, Any]) -> None:
    done = enrichlog(db, "roots", "--status", "partial", "--since", "2020-01-01", "--stuck", "0.5")
    assert done.returncode == 0, done.stderr
    assert "no roots match" in done.stdout  # the PARTIAL root finished: not stuck
    table = enrichlog(db, "roots")
    assert table.returncode == 0 and "PARTIAL" in table.stdout and "2 ✗1" in table.stdout


def test_timeline_json_and_bars(db: str, world: dict[str, Any]) -> None:
    done = enrichlog(db, "timeline", world["root"], "--json")
    assert done.returncode == 0, done.stderr
    tl = json.loads(done.stdout)
    assert tl["root"]["jobId"] == world["root"]
    assert [c["jobId"] for c in tl["children"]] == [f"{world['root']}/enrich", f"{world['root']}/cover"]
    drawn = enrichlog(db, "timeline", world["root"])
    assert drawn.returncode == 0, drawn.stderr
    assert "█" in drawn.stdout and "IMAGE_FETCH_FAILED" in drawn.stdout and "slowest" in drawn.stdout
    single = json.loads(enrichlog(db, "timeline", world["legacy"], "--json").stdout)
    assert single["root"]["id"] == world["legacy"] and single["children"] == []


@pytest.mark.parametrize(("args", "says"), [
    (["roots", "--entity", "not-a-uuid"], "is not a UUID"),
    (["roots", "--since", "yesterday"], "is not an ISO datetime"),
    (["roots", "--limit", "-3"], "at least 1"),
    (["roots", "--limit", "ten"], "not a whole number"),
    (["roots", "--limit", "5000"], "between 1 and 1000"),
    (["roots", "--cursor", "garbage"], "malformed cursor"),
    (["roots", "--stuck", "-5"], "positive number of minutes"),
    (["roots", "--status", "DONE"], "unknown status"),
    (["roots", "--operation", "x' OR '1'='1"], "is not an operation name"),
    (["roots", "--since", "2026-02-02", "--until", "2026-02-01"], "must be before"),
    (["timeline", "no-such-job"], "no enrichment log row"),
    (["timeline", "{root}/cover"], "is a child job, not a root"),
])
def test_bad_arguments_give_one_line_and_a_non_zero_exit(
    db: str, world: dict[str, Any], args: list[str], says: str
) -> None:
    done = enrichlog(db, *[a.format(root=world["root"]) for a in args])
    assert done.returncode != 0 and done.stdout == ""
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("command", [["roots"], ["timeline", "x"]])
def test_unreachable_or_unmigrated_database(empty_db: str, command: list[str]) -> None:
    for url, says in (("postgresql://enrichlog@127.0.0.1:1/nowhere", "cannot connect"),
                      (empty_db, "enrichlog migrate"), (None, "DATABASE_URL")):
        done = enrichlog(url, *command)
        assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
