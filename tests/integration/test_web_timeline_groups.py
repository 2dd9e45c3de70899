"""The timeline page of a root with many children, over HTTP from a real `enrichlog web`: the children
that matter in full, runs of plain successes folded into group rows, `?expand=` to show them (in the
URL, with `?job=` kept), bad values a 400 naming the parameter, and the JSON API still every child."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import psycopg
import pytest

from enrichlog.web import groups
from tests.conftest import create_database, drop_database
from tests.integration.test_queries import project, shifted
from tests.integration.test_web import cli_json, serving
from tests.scenarios import album_chain_with_failed_child, big_chain

pytestmark = pytest.mark.postgres

CHILDREN, RETRIED, FAILED = 150, 40, 100


@pytest.fixture(scope="module")
def world(postgres_url: str, migrated_template: str) -> Iterator[dict[str, Any]]:
    """A root with CHILDREN children (one retried, one failed) and a small root with two."""
    url = create_database(postgres_url, template=migrated_template)
    big, events = big_chain(CHILDREN, retried=RETRIED, failed=FAILED)
    small, small_events = album_chain_with_failed_child()
    project(url, [*shifted(events, datetime.now(UTC) - timedelta(hours=1)),
                  *shifted(small_events, datetime.now(UTC) - timedelta(hours=2))])
    with psycopg.connect(url, autocommit=True) as conn:
        ids = dict(conn.execute("SELECT job_id, id::text FROM enrichment_logs WHERE parent_job_id = %s",
                                (big.root_id,)).fetchall())
    yield {"db": url, "big": big.root_id, "small": small.root_id, "ids": ids}
    drop_database(postgres_url, url)


@pytest.fixture(scope="module")
def console(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving({"DATABASE_URL": world["db"]}, tmp=tmp_path_factory.mktemp("web")) as (url, _):
        yield url


def child(world: dict[str, Any], n: int) -> str:
    return f"{world['big']}/child-{n}"


def jobs_shown(html: str) -> list[str]:
    """The job ids of the rows shown in full, in page order (the root first)."""
    return re.findall(r'<code class="ref">([^<]+)</code>', html)


def group_links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'<a href="([^"]+)" class="expand"', html)]


def test_a_big_root_folds_its_plain_children_into_groups(console: str, world: dict[str, Any]) -> None:
    page = httpx.get(f"{console}/roots/{world['big']}")
    assert page.status_code == 200
    html = page.text
    shown = jobs_shown(html)
    assert shown[0] == world["big"] and child(world, RETRIED) in shown and child(world, FAILED) in shown
    assert len(shown) < 10  # the root, the two that matter, a plain child or two beside them
    assert html.count('<tr class="detail') == len(shown)  # detail panels only for the rows shown
    assert html.count('<tr class="group"') == 3
    assert "▸ 39 jobs succeeded" in html and "children 1\u201339" in html  # before the retried child
    assert "ENRICH_ALBUM \u00d7" in html and "CACHE_ALBUM_COVER_ART \u00d7" in html
    assert 'class="seg group o-SUCCESS"' in html and f"{CHILDREN} children" in html
    assert group_links(html) == [f"?expand=1-39#job-{world['ids'][child(world, 1)]}",
                                 f"?expand=41-99#job-{world['ids'][child(world, 41)]}",
                                 f"?expand=101-150#job-{world['ids'][child(world, 101)]}"]
    assert 'href="?expand=all" class="expand-all"' in html


def test_expanding_a_group_shows_its_children_and_all_shows_every_child(console: str,
                                                                          world: dict[str, Any]) -> None:
    html = httpx.get(f"{console}/roots/{world['big']}", params={"expand": "41-99"}).text
    shown = jobs_shown(html)
    start = shown.index(child(world, 41))
    assert shown[start:start + 59] == [child(world, n) for n in range(41, 100)]
    assert html.count('<tr class="group"') == 2 and 'href="?" class="collapse"' in html
    every = httpx.get(f"{console}/roots/{world['big']}", params={"expand": "all"}).text
    assert jobs_shown(every) == [world["big"], *(child(world, n) for n in range(1, CHILDREN + 1))]
    assert '<tr class="group"' not in every and every.count('<tr class="detail') == CHILDREN + 1


def test_the_job_asked_for_is_shown_open_and_the_group_links_keep_it(console: str, world: dict[str, Any]) -> None:
    wanted = child(world, 70)
    html = httpx.get(f"{console}/roots/{world['big']}", params={"job": wanted}).text
    assert wanted in jobs_shown(html)
    assert f'<tr class="detail open" id="detail-{world["ids"][wanted]}">' in html
    links = group_links(html)
    assert len(links) == 4 and all(link.startswith(f"?job={wanted.replace('/', '%2F')}&expand=") for link in links)
    by_row_id = httpx.get(f"{console}/roots/{world['big']}", params={"job": world["ids"][wanted]}).text
    assert f'<tr class="detail open" id="detail-{world["ids"][wanted]}">' in by_row_id


@pytest.mark.parametrize(("value", "says"), [
    ("some", "expand: 'some' is not all or a range of child numbers FIRST-LAST"),
    ("0-3", "expand: '0-3': child numbers start at 1"),
    ("9-3", "FIRST must not be after LAST"),
    ("1-151", "expand: 1-151: this timeline has 150 children"),
    ("a" * 500, "expand: longer than 200 characters"),
    ("1-\x003", "expand: contains a control character"),
])
def test_a_bad_expand_is_a_400_page_naming_it(console: str, world: dict[str, Any], value: str, says: str) -> None:
    page = httpx.get(f"{console}/roots/{world['big']}", params={"expand": value})
    assert page.status_code == 400 and "text/html" in page.headers["content-type"]
    assert says in unescape(page.text), page.text


def test_a_small_root_is_shown_whole_and_checks_expand_too(console: str, world: dict[str, Any]) -> None:
    html = httpx.get(f"{console}/roots/{world['small']}").text
    assert len(jobs_shown(html)) == 3 and '<tr class="group"' not in html and 'class="folding"' not in html
    assert httpx.get(f"{console}/roots/{world['small']}", params={"expand": "1-2"}).text.count(
        '<tr class="detail') == 3
    assert httpx.get(f"{console}/roots/{world['small']}", params={"expand": "1-3"}).status_code == 400
    assert groups.SMALL < CHILDREN


def test_the_api_still_answers_every_child(console: str, world: dict[str, Any]) -> None:
    answer = httpx.get(f"{console}/api/timeline/{world['big']}")
    assert answer.status_code == 200
    document = answer.json()
    assert len(document["children"]) == CHILDREN and document["children"][0]["attempts"]
    assert document == cli_json(world["db"], "timeline", world["big"])
