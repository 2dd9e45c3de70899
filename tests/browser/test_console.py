"""The console in Debian's chromium, used as a person uses it: the roots table, a filter, a root's
timeline, the failing child's bar and its error, a job's attempts, and a page that follows the rows
as they are folded. Each test's screenshot is kept (tests/browser/conftest.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import OwnConsole
from tests.browser.world import World
from tests.integration.test_queries import shifted, success_chain
from tests.scenarios import big_chain

pytestmark = pytest.mark.postgres


def _style(page: Page, selector: str, prop: str) -> str:
    value: str = page.locator(selector).first.evaluate(f"e => getComputedStyle(e).{prop}")
    return value


def test_the_roots_table_highlights_the_partial_root_and_lists_the_legacy_row(page: Page, console: str,
                                                                             world: World) -> None:
    page.goto(console)
    expect(page.locator("h1")).to_have_text("Enrichment roots, newest first")
    first = page.locator("table.roots tbody tr").first
    expect(first).to_have_class("status-PARTIAL partial")
    expect(first.locator(".badge")).to_have_text("PARTIAL")
    expect(first.locator(f'a[href="/roots/{world.partial}"]')).to_be_visible()
    legacy = page.locator(f'a[href="/roots/{world.legacy}"]')
    expect(legacy).to_be_visible()
    expect(page.locator("table.roots tbody tr", has=legacy).locator(".legacy")).to_have_text("legacy")
    assert _style(page, "tr.partial", "backgroundColor") != _style(page, "tr.status-SUCCESS", "backgroundColor")
    expect(page.locator("p.status-counts a.count[data-status=PARTIAL]")).to_contain_text("PARTIAL")


def test_filter_to_partial_open_the_root_see_the_failing_bar_and_open_its_attempts(page: Page, console: str,
                                                                                  world: World) -> None:
    page.goto(console)
    page.select_option("select[name=status]", "PARTIAL")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?*status=PARTIAL*")
    statuses = page.locator("table.roots tbody .badge").all_inner_texts()
    assert statuses and set(statuses) == {"PARTIAL"}, statuses
    page.reload()  # the URL alone makes the same view
    expect(page.locator("select[name=status]")).to_have_value("PARTIAL")
    assert set(page.locator("table.roots tbody .badge").all_inner_texts()) == {"PARTIAL"}

    page.click(f'a[href="/roots/{world.partial}"]')
    expect(page.locator("h1")).to_contain_text(world.partial)
    expect(page.locator("ul.legend")).to_contain_text("wait between attempts")
    failing = page.locator("tr.failing")
    expect(failing).to_have_count(1)
    expect(failing.locator("code.ref")).to_have_text(world.failing)
    expect(failing.locator(".last-error")).to_contain_text("last error:")
    failed_colour = _style(page, "tr.failing .seg.o-FAILED", "backgroundColor")
    ok_colour = _style(page, "tr.child:not(.failing) .seg.o-SUCCESS", "backgroundColor")
    assert failed_colour != ok_colour and "0, 0, 0, 0" not in failed_colour, (failed_colour, ok_colour)

    timeline = httpx.get(f"{console}/api/timeline/{world.partial}", timeout=10).json()
    child = next(c for c in timeline["children"] if c["jobId"] == world.failing)
    detail = page.locator(f"tr#detail-{child['id']}")
    expect(detail).to_be_hidden()
    failing.locator(".bar").click()
    expect(detail).to_be_visible()
    attempts = detail.locator("li.attempt")
    expect(attempts).to_have_count(len(child["attempts"]))
    last = child["attempts"][-1]["error"]
    expect(attempts.last.locator(".kind")).to_have_text(last["kind"])
    expect(attempts.last.locator(".message")).to_have_text(last["message"])
    detail.locator("a.close").click()
    expect(detail).to_be_hidden()


def test_an_unknown_root_is_a_not_found_page_and_a_bad_filter_is_named(page: Page, console: str) -> None:
    answer = page.goto(f"{console}/roots/no-such-root")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    answer = page.goto(f"{console}/?since=yesterday-ish")
    assert answer is not None and answer.status == 400
    expect(page.locator(".error-message")).to_contain_text("since")


def test_the_page_stays_within_a_narrow_window(browser_page_800: Page, console: str, world: World) -> None:
    for path in ("/", f"/roots/{world.partial}"):
        browser_page_800.goto(console + path)
        overflow = browser_page_800.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than an 800px window"


def test_an_open_roots_page_shows_a_new_root_within_a_second(page: Page, own_console: OwnConsole) -> None:
    page.goto(own_console.url)
    expect(page.locator("p.empty")).to_have_text("no roots match")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)
    chain, events = success_chain(datetime.now(UTC).replace(microsecond=0))
    own_console.fold(events)
    folded = time.monotonic()
    expect(page.locator(f'table.roots a[href="/roots/{chain.root_id}"]')).to_be_visible(timeout=1000)
    assert time.monotonic() - folded < 1.0
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # not reloaded


def test_a_page_that_loses_its_server_says_so_and_recovers(page: Page, own_console: OwnConsole) -> None:
    page.goto(own_console.url)
    banner = page.locator("#live-status")
    expect(banner).to_have_attribute("data-state", "live", timeout=10_000)
    own_console.stop()
    expect(banner).to_have_attribute("data-state", "lost", timeout=15_000)
    expect(banner).to_contain_text("connection lost")
    own_console.start()
    chain, events = success_chain(datetime.now(UTC).replace(microsecond=0))
    expect(banner).to_have_attribute("data-state", "live", timeout=20_000)
    own_console.fold(events)
    expect(page.locator(f'table.roots a[href="/roots/{chain.root_id}"]')).to_be_visible(timeout=5000)


def test_a_root_with_hundreds_of_children_folds_them_and_a_click_shows_a_group(page: Page,
                                                                               own_console: OwnConsole) -> None:
    chain, events = big_chain(300, retried=120, failed=200)
    own_console.fold(shifted(events, datetime.now(UTC).replace(microsecond=0)))
    page.goto(f"{own_console.url}/roots/{chain.root_id}")
    expect(page.locator("h1")).to_contain_text(chain.root_id)
    folded = page.locator("tr.group")
    expect(folded).to_have_count(3)
    expect(folded.nth(1)).to_contain_text("79 jobs succeeded")
    expect(folded.nth(1)).to_contain_text("children 121\u2013199")
    expect(page.locator("tr.failing code.ref")).to_have_text(f"{chain.root_id}/child-200")
    expect(page.locator("code.ref", has_text=f"{chain.root_id}/child-120")).to_be_visible()
    assert page.locator("tr.job").count() < 10
    assert float(folded.nth(1).locator(".seg.group").first.evaluate("e => e.getBoundingClientRect().width")) > 0

    folded.nth(1).locator("a.expand").click()
    page.wait_for_url("**/roots/**?expand=121-199*")
    expect(page.locator("tr.group")).to_have_count(2)
    first = page.locator("code.ref", has_text=f"{chain.root_id}/child-121")
    expect(first).to_be_visible()
    expect(page.locator("code.ref", has_text=f"{chain.root_id}/child-199")).to_have_count(1)
    assert page.locator("tr.job").count() >= 79 + 3
    page.click("a.collapse")
    expect(page.locator("tr.group")).to_have_count(3)
    page.click("a.expand-all")
    expect(page.locator("tr.group")).to_have_count(0)
    expect(page.locator("tr.job")).to_have_count(301)


def test_a_bad_expand_is_a_400_page_naming_it(page: Page, console: str, world: World) -> None:
    answer = page.goto(f"{console}/roots/{world.partial}?expand=lots")
    assert answer is not None and answer.status == 400
    expect(page.locator("h1")).to_have_text("Bad request")
    expect(page.locator(".error-message")).to_contain_text("expand")
