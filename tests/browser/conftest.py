"""Fixtures of the browser tests: Debian's chromium (tests.browser.chromium), consoles served as real
processes over real databases, and a page per test whose screenshot is kept as an artefact.

The browser is package-scoped: Playwright's synchronous API keeps an event loop on the thread while
it is open, and the tests that come after this package call asyncio.run on that thread.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.chromium import launch
from tests.browser.world import World, fold, seed
from tests.conftest import create_database, drop_database
from tests.harness import wait_for
from tests.integration.test_web import serving
from tests.own_services import free_port

ARTEFACTS = Path(os.environ.get("ENRICHLOG_ARTEFACTS", Path(__file__).resolve().parents[2] / "test-artefacts"))
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def world(postgres_url: str, migrated_template: str) -> Iterator[World]:
    url = create_database(postgres_url, template=migrated_template)
    yield seed(url)
    drop_database(postgres_url, url)


@pytest.fixture(scope="module")
def console(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a console over `world`."""
    with serving({"DATABASE_URL": world.db}, tmp=tmp_path_factory.mktemp("console")) as (url, _):
        yield url


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page at 1280x800; its screenshot goes to the artefacts at teardown, failed or not."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    opened = context.new_page()
    yield opened
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        opened.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()


@dataclass
class OwnConsole:
    """A console of one test over a database of its own, which the test may fold events into, stop
    and start again on the same port."""

    db: str
    port: int
    log: Path
    server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OwnConsole:
        base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("ENRICHLOG_WEB_")}
        with self.log.open("a") as sink:
            self.server = subprocess.Popen([sys.executable, "-m", "enrichlog.cli", "web", "--port", str(self.port)],
                                           env={**base, "DATABASE_URL": self.db}, stdout=sink,
                                           stderr=subprocess.STDOUT)

        def answers() -> bool:
            assert self.server is not None and self.server.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/static/console.css", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, timeout=30, what="the console to answer")
        return self

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(timeout=15)

    def fold(self, events: list[Any]) -> None:
        fold(self.db, events)


@pytest.fixture
def own_console(postgres_url: str, migrated_template: str, tmp_path: Path) -> Iterator[OwnConsole]:
    url = create_database(postgres_url, template=migrated_template)
    served = OwnConsole(url, free_port(), tmp_path / "console.log").start()
    yield served
    served.stop()
    drop_database(postgres_url, url)


@pytest.fixture
def browser_page_800(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """As `page`, in an 800 px wide window."""
    context = browser.new_context(viewport={"width": 800, "height": 700})
    opened = context.new_page()
    yield opened
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    try:
        opened.screenshot(path=str(ARTEFACTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
