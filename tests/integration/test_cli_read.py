"""`enrichlog roots` and `enrichlog timeline` as a user runs them: the installed script, a real database."""

from __future__ import annotations

import json
import os
import shlex
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


def enrichlog(db: str | None, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["COLUMNS"] = str(columns)
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


def test_roots_at_80_columns_show_each_ref_whole_and_the_last_error_cut(db: str, world: dict[str, Any]) -> None:
    done = enrichlog(db, "roots", columns=80)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), done.stdout
    assert f"  ref {world['root']}" in lines and f"  ref {world['legacy']}" in lines  # whole, on a line of its own
    assert "  ✗ upstream answered 503" in lines  # the legacy row's last error
    partial = next(line for line in lines if "PARTIAL" in line)
    assert "CHECK_ALBUM_ENRICHMENT" in partial and "2 ✗1" in partial


def test_the_printed_next_page_command_gives_the_next_page_of_the_same_filtered_list(
    db: str, world: dict[str, Any]
) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        newer = legacy(conn, datetime.now(UTC) - timedelta(days=2), status="FAILED")
        legacy(conn, datetime.now(UTC) - timedelta(days=4), status="COMPLETED")  # older, not FAILED
    first = enrichlog(db, "roots", "--status", "FAILED", "--limit", "1", columns=80)
    assert first.returncode == 0, first.stderr
    assert f"  ref {newer}" in first.stdout.splitlines()
    command = next(line for line in first.stdout.splitlines() if line.startswith("next page: "))
    words = shlex.split(command.removeprefix("next page: "))
    assert words[:2] == ["enrichlog", "roots"] and "--status" in words and "--limit" in words
    pasted = enrichlog(db, *words[1:], columns=80)
    assert pasted.returncode == 0, pasted.stderr
    assert [line for line in pasted.stdout.splitlines() if line.startswith("  ref ")] == [f"  ref {world['legacy']}"]
    assert "next page" not in pasted.stdout  # the COMPLETED row is not on the filtered list
    as_json = json.loads(enrichlog(db, *words[1:], "--json").stdout)
    assert [r["id"] for r in as_json["rows"]] == [world["legacy"]] and as_json["nextCursor"] is None


def test_timeline_at_80_columns_readable_statuses_legend_every_attempt_error_and_the_failed_child(
    db: str, world: dict[str, Any]
) -> None:
    done = enrichlog(db, "timeline", world["root"], columns=80)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert all(len(line) <= 80 for line in out.splitlines() if "failed child" not in line), out
    assert "PARTIAL " in out and "FAILED " in out and "SUCCESS " in out and "…" not in out
    assert "█ an attempt, coloured by how it ended" in out and "▒ an earlier attempt that failed" in out
    assert f"PARTIAL: failed child CACHE_ALBUM_COVER_ART (ref {world['root']}/cover)" in out
    tl = json.loads(enrichlog(db, "timeline", world["root"], "--json").stdout)
    errors = [(c["jobId"], a["attempt"], a["error"]["message"]) for c in tl["children"] for a in c["attempts"]
              if a.get("error")]
    assert len(errors) == 4  # enrich: two retries; cover: a retry and its failure
    for job_id, attempt, message in errors:
        assert f"{job_id}:" in out and f"  attempt {attempt}: " in out and message in out


def test_an_unknown_operation_names_the_job_types(db: str, world: dict[str, Any]) -> None:
    done = enrichlog(db, "roots", "--operation", "CHECK_ALBUM")
    assert done.returncode == 0, done.stderr
    assert "no roots match; 'CHECK_ALBUM' is none of the job types: CHECK_ALBUM_ENRICHMENT, ENRICH_ALBUM" in done.stdout
    bad = enrichlog(db, "roots", "--operation", "no such op")
    assert bad.returncode == 1 and "the job types are CHECK_ALBUM_ENRICHMENT, ENRICH_ALBUM" in bad.stderr


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
