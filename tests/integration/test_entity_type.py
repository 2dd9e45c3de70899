"""A short id with its entity type (`ALBUM ce400e5a`, as the roots table shows an entity) keeps only
roots of that type, in `enrichlog roots --entity` and in the console's `entity=`; without the type,
every root whose ids start with the digits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.test_cli_read import enrichlog
from tests.integration.test_web import cli_json, serving

pytestmark = pytest.mark.postgres

SHORT = "5e0f1a2b"
ROWS = {  # job id -> (entity type, entity id, album id): the same short id under three types
    "album-root": ("ALBUM", f"{SHORT}-0000-4000-8000-000000000001", None),
    "artist-root": ("ARTIST", f"{SHORT}-0000-4000-8000-000000000002", None),
    "track-root": ("TRACK", "0badc0de-0000-4000-8000-000000000003", f"{SHORT}-0000-4000-8000-000000000004"),
    "other-album": ("ALBUM", "77777777-0000-4000-8000-000000000005", None),
}


@pytest.fixture
def rows(db: str) -> str:
    now = datetime.now(UTC)
    with psycopg.connect(db, autocommit=True) as conn:
        for i, (job, (kind, entity, album)) in enumerate(ROWS.items()):
            conn.execute(
                "INSERT INTO enrichment_logs (entity_type, entity_id, album_id, operation, status, job_id,"
                " is_root_job, created_at) VALUES (%s, %s, %s, 'ENRICH_ALBUM', 'SUCCESS', %s, true, %s)",
                (kind, entity, album, job, now - timedelta(minutes=i)))
    return db


@pytest.fixture
def console(rows: str, tmp_path: Path) -> Iterator[str]:
    with serving({"DATABASE_URL": rows}, tmp=tmp_path) as (url, _):
        yield url


def jobs(page: dict[str, Any]) -> list[str]:
    return [r["jobId"] for r in page["rows"]]


@pytest.mark.parametrize(("value", "expected"), [
    (SHORT, ["album-root", "artist-root", "track-root"]),  # any id column, any type
    (f"ALBUM {SHORT}", ["album-root"]),  # not the artist, nor the track whose album id starts so
    (f"artist {SHORT}", ["artist-root"]),
    (f"TRACK {SHORT}", ["track-root"]),  # its album_id starts so, and it is a track
    (f"ALBUM {ROWS['album-root'][1]}", ["album-root"]),  # a full id with its type
    (f"ARTIST {ROWS['album-root'][1]}", []),
])
def test_the_entity_type_narrows_the_short_id(console: str, rows: str, value: str, expected: list[str]) -> None:
    page = httpx.get(f"{console}/api/roots", params={"entity": value})
    assert page.status_code == 200, page.text
    assert jobs(page.json()) == expected
    assert cli_json(rows, "roots", "--entity", value) == page.json()
    counts = httpx.get(f"{console}/api/roots/counts", params={"entity": value}).json()
    assert counts["counts"] == ({"SUCCESS": len(expected)} if expected else {})
    done = enrichlog(rows, "roots", "--entity", value)
    assert done.returncode == 0, done.stderr
    shown = {job: f"{kind} {entity[:8]}" for job, (kind, entity, _) in ROWS.items()}  # legacy rows: by row id
    assert sorted(j for j in ROWS if shown[j] in done.stdout) == sorted(expected), done.stdout


@pytest.mark.parametrize("value", [f"PLAYLIST {SHORT}", f"ALBUM {SHORT} extra", "ALBUM", f"ALBUM{SHORT}"])
def test_an_unknown_entity_type_is_refused_naming_entity_and_the_types(console: str, rows: str, value: str) -> None:
    says = f"entity: {value!r} is not a UUID or a short id"
    answer = httpx.get(f"{console}/api/roots", params={"entity": value})
    assert answer.status_code == 400 and answer.json()["error"].startswith(says), answer.text
    assert "ARTIST, ALBUM, TRACK" in answer.json()["error"]
    done = enrichlog(rows, "roots", "--entity", value)
    assert done.returncode != 0 and f"--{says}" in done.stderr and "Traceback" not in done.stderr, done.stderr
