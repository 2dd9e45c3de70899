"""The console's filters and status counts (roots page, `/api/roots`, `/api/roots/counts`, and their
CLI equivalents), and the timeline page's job detail, against a real server and a real database."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from schemas import JobType
from schemas.common import DataQuality, Source
from schemas.details import CacheImageDetail, Dimensions, DiscogsSearchDetail, EnrichmentDetail
from tests.conftest import create_database, drop_database
from tests.integration.test_cli_read import enrichlog
from tests.integration.test_queries import legacy, project, shifted, success_chain
from tests.integration.test_web import NASTY, cli_json, serving
from tests.scenarios import RATE_LIMIT, Chain, album_chain_with_failed_child

pytestmark = pytest.mark.postgres

NEW_PARAMETERS = ("entity", "failing", "error_kind")
MANY = 500


def detailed_chain() -> tuple[Chain, list[Any]]:
    """An artist root whose children carry their processors' detail: a cached image, a Discogs match,
    an enrichment; the image cache was retried once (rate limited) before it succeeded."""
    c = Chain(root_type=JobType.CHECK_ARTIST_ENRICHMENT)
    enrich = c.child(JobType.ENRICH_ARTIST, "enrich")
    search = c.child(JobType.DISCOGS_SEARCH_ARTIST, "search")
    image = c.child(JobType.CACHE_ARTIST_IMAGE, "image")
    cached = CacheImageDetail(url_before="https://img.example/old.jpg", url_after="https://cdn.example/new.webp",
                              file_size_bytes=48_213, format="webp", dimensions=Dimensions(width=600, height=400))
    matched = DiscogsSearchDetail(discogs_id="d-4455", matched_name="The Example Band", confidence=0.93)
    enriched = EnrichmentDetail(sources=[Source.DISCOGS, Source.MUSICBRAINZ], fields_enriched=["genres", "bio"],
                                data_quality_before=DataQuality.LOW, data_quality_after=DataQuality.HIGH)
    events = [
        c.started(c.root_id), c.started(enrich),
        c.started(search), c.finished(search).model_copy(update={"detail": matched}),
        c.started(image), c.retrying(image, 1, RATE_LIMIT), c.started(image, 2),
        c.finished(image, 2).model_copy(update={"detail": cached}),
        c.finished(enrich).model_copy(update={"detail": enriched}), c.finished(c.root_id),
    ]
    return c, events


def wide_chain() -> tuple[Chain, list[Any], str]:
    """A root with MANY children, all successful but one (its cover art fails permanently)."""
    c = Chain()
    events = [c.started(c.root_id)]
    failing = ""
    for i in range(MANY):
        if i == MANY // 2:
            failing = c.child(JobType.CACHE_ALBUM_COVER_ART, f"cover-{i}")
            events += [c.started(failing), c.failed(failing, 1)]
        else:
            child = c.child(JobType.SPOTIFY_TRACK_FALLBACK, f"track-{i}")
            events += [c.started(child), c.finished(child)]
    events.append(c.finished(c.root_id))
    return c, events, failing


@pytest.fixture(scope="module")
def world(postgres_url: str, migrated_template: str) -> Iterator[dict[str, Any]]:
    url = create_database(postgres_url, template=migrated_template)
    now = datetime.now(UTC)
    partial, events = album_chain_with_failed_child()
    project(url, shifted(events, now - timedelta(hours=1)))
    ok, ok_events = success_chain(now - timedelta(hours=2))
    project(url, ok_events)
    artist, artist_events = detailed_chain()
    project(url, shifted(artist_events, now - timedelta(hours=3)))
    wide, wide_events, wide_failing = wide_chain()
    project(url, shifted(wide_events, now - timedelta(hours=4)))
    with psycopg.connect(url, autocommit=True) as conn:
        old = legacy(conn, now - timedelta(days=3), status="FAILED")
        entity = conn.execute("SELECT entity_id FROM enrichment_logs WHERE job_id = %s",
                              (partial.root_id,)).fetchone()
        ids = dict(conn.execute("SELECT job_id, id::text FROM enrichment_logs WHERE job_id LIKE %s",
                                (f"{artist.root_id}%",)).fetchall())
    assert entity is not None
    yield {"db": url, "partial": partial.root_id, "ok": ok.root_id, "artist": artist.root_id, "wide": wide.root_id,
           "wide_failing": wide_failing, "legacy": str(old), "entity": str(entity[0]), "ids": ids}
    drop_database(postgres_url, url)


@pytest.fixture(scope="module")
def console(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving({"DATABASE_URL": world["db"]}, tmp=tmp_path_factory.mktemp("web")) as (url, _):
        yield url


def refs(page: dict[str, Any]) -> list[str]:
    return [r["jobId"] or r["id"] for r in page["rows"]]


def test_counts_match_the_rows_and_ignore_the_status_filter(console: str, world: dict[str, Any]) -> None:
    everything = httpx.get(f"{console}/api/roots", params={"limit": "1000"}).json()["rows"]
    expected: dict[str, int] = {}
    for row in everything:
        expected[row["status"]] = expected.get(row["status"], 0) + 1
    answer = httpx.get(f"{console}/api/roots/counts", params={"status": "SUCCESS"})
    assert answer.status_code == 200
    assert answer.json() == {"counts": expected, "cap": 10000, "capped": False}
    assert expected == {"PARTIAL": 2, "SUCCESS": 2, "FAILED": 1}
    assert answer.json() == cli_json(world["db"], "roots", "--counts", "--status", "SUCCESS")
    since = {"since": (datetime.now(UTC) - timedelta(minutes=150)).isoformat()}
    assert httpx.get(f"{console}/api/roots/counts", params=since).json()["counts"] == {"PARTIAL": 1, "SUCCESS": 1}


def test_roots_page_shows_the_counts_as_links_that_keep_the_other_filters(console: str) -> None:
    html = httpx.get(f"{console}/", params={"operation": "CHECK_ALBUM_ENRICHMENT", "status": "SUCCESS"}).text
    counts = html.split('class="status-counts"')[1].split("</p>")[0]
    links = dict(re.findall(r'href="/\?([^"]+)" class="count s-\w+[^"]*" data-status="(\w+)"', counts))
    by_status = {status: query.replace("&amp;", "&") for query, status in links.items()}
    assert set(by_status) == {"PARTIAL", "SUCCESS"}
    assert by_status["PARTIAL"] == "operation=CHECK_ALBUM_ENRICHMENT&status=PARTIAL"
    assert re.search(r'data-status="PARTIAL">PARTIAL <span class="n">2</span>', counts)
    assert 'class="count s-SUCCESS current"' in counts and "any status" in counts


def test_cli_counts_in_words(world: dict[str, Any]) -> None:
    done = enrichlog(world["db"], "roots", "--counts", "--failing-operation", "cache_album_cover_art")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "PARTIAL 2"


@pytest.mark.parametrize("shape", ["{short}", "{short4}", "ALBUM {short}", "album {short}", "{short}-{next4}"])
def test_the_short_id_finds_the_root(console: str, world: dict[str, Any], shape: str) -> None:
    hexes = world["entity"].replace("-", "")
    value = shape.format(short=hexes[:8], short4=hexes[:4], next4=hexes[8:12])
    page = httpx.get(f"{console}/api/roots", params={"entity": value}).json()
    assert world["partial"] in refs(page)
    digits = value.split()[-1].replace("-", "").lower()
    for row in page["rows"]:  # each root found names an id that starts with the short id
        named = [row[k] for k in ("entityId", "artistId", "albumId", "trackId") if row[k]]
        assert any(i.replace("-", "").startswith(digits) for i in named), row
    assert page == cli_json(world["db"], "roots", "--entity", value)
    html = httpx.get(f"{console}/", params={"entity": value}).text
    assert world["partial"] in html and world["ok"] not in html


def test_a_short_id_matches_the_other_id_columns_too(console: str, world: dict[str, Any]) -> None:
    with psycopg.connect(world["db"]) as conn:
        album = conn.execute("SELECT album_id::text FROM enrichment_logs WHERE job_id = %s",
                             (world["partial"],)).fetchone()
    assert album is not None and album[0] is not None
    page = httpx.get(f"{console}/api/roots", params={"entity": album[0][:8]}).json()
    assert refs(page) == [world["partial"]]


@pytest.mark.parametrize(("value", "says"), [
    ("ce4", "entity: 'ce4' is not a UUID or a short id"),
    ("xyz12345", "entity: 'xyz12345' is not a UUID or a short id"),
    ("a" * 33, "entity: 'aaaa"),
    ("ARTIST", "entity: 'ARTIST' is not a UUID or a short id"),
    ("ALBUM ce40 extra", "entity: 'ALBUM ce40 extra' is not a UUID or a short id"),
])
def test_a_bad_short_id_is_a_400_naming_entity(console: str, world: dict[str, Any], value: str, says: str) -> None:
    for path in ("/api/roots", "/api/roots/counts"):
        api = httpx.get(f"{console}{path}", params={"entity": value})
        assert api.status_code == 400 and api.json()["error"].startswith(says), api.text
    page = httpx.get(f"{console}/", params={"entity": value})
    assert page.status_code == 400 and says in page.text.replace("&#39;", "'")
    done = enrichlog(world["db"], "roots", "--entity", value)
    assert done.returncode != 0 and done.stderr.count("\n") == 1 and f"--{says}" in done.stderr, done.stderr


def test_failing_operation_and_error_kind_filters(console: str, world: dict[str, Any]) -> None:
    def api(**words: str) -> list[str]:
        page = httpx.get(f"{console}/api/roots", params=words).json()
        args = [a for k, v in words.items() for a in ({"failing": "--failing-operation",
                                                        "error_kind": "--error-kind"}[k], v)]
        assert page == cli_json(world["db"], "roots", *args)
        return refs(page)

    assert api(failing="CACHE_ALBUM_COVER_ART") == [world["partial"], world["wide"]]
    assert api(failing="cache_album_cover_art") == [world["partial"], world["wide"]]
    assert api(failing="ENRICH_ALBUM") == []
    assert api(error_kind="RATE_LIMIT") == [world["partial"], world["artist"]]  # retried, then succeeded
    assert api(error_kind="NOT_FOUND") == [world["partial"], world["wide"]]
    assert api(error_kind="AUTH") == []
    assert api(failing="CACHE_ALBUM_COVER_ART", error_kind="RATE_LIMIT") == [world["partial"]]
    html = httpx.get(f"{console}/", params={"failing": "CACHE_ALBUM_COVER_ART", "limit": "1"}).text
    assert '<option value="CACHE_ALBUM_COVER_ART" selected>' in html
    link = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "failing=CACHE_ALBUM_COVER_ART" in link and "cursor=" in link
    second = httpx.get(f"{console}{link}").text
    assert world["wide"] in second and world["partial"] not in second


@pytest.mark.parametrize(("name", "flag", "says"), [
    ("failing", "--failing-operation", "is not an operation; one of CHECK_ALBUM_ENRICHMENT, ENRICH_ALBUM"),
    ("error_kind", "--error-kind", "is not an error kind; one of RATE_LIMIT, NOT_FOUND"),
])
def test_an_unknown_operation_or_error_kind_names_the_valid_ones(console: str, world: dict[str, Any], name: str,
                                                                 flag: str, says: str) -> None:
    api = httpx.get(f"{console}/api/roots", params={name: "NOPE"})
    assert api.status_code == 400 and api.json()["error"] == api.json()["error"].strip()
    assert api.json()["error"].startswith(f"{name}: 'NOPE' {says}"), api.text
    done = enrichlog(world["db"], "roots", flag, "NOPE")
    assert done.returncode != 0 and done.stderr.count("\n") == 1 and f"{flag}: 'NOPE' {says}" in done.stderr


@pytest.mark.parametrize("value", NASTY, ids=["or", "drop", "union", "nul", "long", "emoji"])
def test_sql_metacharacters_and_long_strings_in_the_new_parameters_are_4xx(console: str, world: dict[str, Any],
                                                                           value: str) -> None:
    value = value.replace("\\x00", "\x00")
    for name in NEW_PARAMETERS:
        for path in ("/api/roots", "/api/roots/counts", "/"):
            answer = httpx.get(f"{console}{path}", params={name: value})
            assert 400 <= answer.status_code < 500 and name in answer.text, (path, name, answer.text[:200])
        answer = httpx.get(f"{console}/roots/{world['partial']}", params={"job": value})
        assert answer.status_code in (200, 400), answer.text[:200]
    if "\x00" not in value:  # a NUL cannot be an argument of a process
        for flag in ("--entity", "--failing-operation", "--error-kind"):
            done = enrichlog(world["db"], "roots", flag, value)
            assert done.returncode != 0 and flag in done.stderr and "Traceback" not in done.stderr
    assert len(httpx.get(f"{console}/api/roots", params={"limit": "1000"}).json()["rows"]) == 5  # nothing dropped


def test_a_job_bar_opens_its_detail(console: str, world: dict[str, Any]) -> None:
    html = httpx.get(f"{console}/roots/{world['artist']}").text
    ids = world["ids"]
    image, search, enrich = (ids[f"{world['artist']}/{s}"] for s in ("image", "search", "enrich"))
    row = html.split(f'id="job-{image}"')[1].split("</tr>")[0]
    assert f'<a href="#detail-{image}" class="bar-link"' in row and 'class="bar"' in row
    panel = html.split(f'id="detail-{image}"')[1].split("</tr>")[0]
    assert panel.count('class="attempt ') == 2
    assert "RATE_LIMIT" in panel and "HTTP_429" in panel and "429 Too Many Requests" in panel and "100 ms" in panel
    assert "https://img.example/old.jpg" in panel and "https://cdn.example/new.webp" in panel
    assert "48,213 bytes" in panel and "webp" in panel and "600 x 400" in panel and "started " in panel
    discogs = html.split(f'id="detail-{search}"')[1].split("</tr>")[0]
    assert "d-4455" in discogs and "The Example Band" in discogs and "0.93" in discogs
    enriched = html.split(f'id="detail-{enrich}"')[1].split("</tr>")[0]
    assert "DISCOGS, MUSICBRAINZ" in enriched and "genres, bio" in enriched
    assert re.search(r"data quality before</dt><dd>LOW.*data quality after</dt><dd>HIGH", enriched)
    opened = httpx.get(f"{console}/roots/{world['artist']}", params={"job": f"{world['artist']}/search"}).text
    assert f'class="detail open" id="detail-{search}"' in opened and f'class="detail" id="detail-{image}"' in opened
    css = httpx.get(f"{console}/static/console.css").text
    assert "tr.detail:target" in css


def test_a_legacy_row_is_still_a_one_item_timeline(console: str, world: dict[str, Any]) -> None:
    html = httpx.get(f"{console}/roots/{world['legacy']}").text
    assert html.count('<tr class="job') == 1 and html.count('class="detail') == 1
    panel = html.split(f'id="detail-{world["legacy"]}"')[1].split("</tr>")[0]
    assert "upstream answered 503" in panel


def test_a_root_with_500_children_renders_every_row_and_marks_the_failing_one(console: str,
                                                                             world: dict[str, Any]) -> None:
    began = time.perf_counter()
    # every row: a root this big folds its plain children unless asked (test_web_timeline_groups.py)
    answer = httpx.get(f"{console}/roots/{world['wide']}", params={"expand": "all"}, timeout=30)
    took = time.perf_counter() - began
    assert answer.status_code == 200
    html = answer.text
    assert len(re.findall(r'<tr class="job child', html)) == MANY
    assert html.count('<tr class="detail') == MANY + 1
    failing = re.findall(r'<tr class="job child failing[^"]*" id="job-([0-9a-f-]+)"', html)
    assert len(failing) == 1
    assert world["wide_failing"] in html.split(f'id="job-{failing[0]}"')[1].split("</tr>")[0]
    assert took < 5, took  # generous: the figure measured is in docs/benchmarks.md
