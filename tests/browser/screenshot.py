"""The README's screenshots of the console, made by the code the browser tests run (`shoot`, called by
tests/browser/test_screenshot.py): a seeded database (tests.browser.world), a console served over
it, Debian's chromium at 1280x800.

    DATABASE_URL=postgresql://...  .venv/bin/python -m tests.browser.screenshot [OUT_DIR]

DATABASE_URL names a server's maintenance database: a database of its own is created, migrated,
seeded, and dropped afterwards. OUT_DIR defaults to docs/ (console.png, timeline.png).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.browser.chromium import launch
from tests.browser.world import World, seed
from tests.conftest import create_database, drop_database
from tests.integration.test_web import serving

VIEWPORT = {"width": 1280, "height": 800}


def shoot(browser: Browser, console: str, world: World, out_dir: Path) -> list[Path]:
    """The roots page and the PARTIAL root's timeline with its failing child's detail open, as PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        page.goto(console)
        page.wait_for_selector("table.roots")
        roots = out_dir / "console.png"
        page.screenshot(path=str(roots))
        page.goto(f"{console}/roots/{world.partial}?job={world.failing}")
        page.wait_for_selector("tr.failing .bar")
        timeline = out_dir / "timeline.png"
        page.screenshot(path=str(timeline))
        return [roots, timeline]
    finally:
        context.close()


def main(argv: list[str]) -> int:
    admin = os.environ.get("DATABASE_URL")
    if not admin or len(argv) > 1:
        print("usage: DATABASE_URL=postgresql://... python -m tests.browser.screenshot [OUT_DIR]", file=sys.stderr)
        return 2
    out_dir = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "docs"
    from enrichlog.migrate import migrate

    db = create_database(admin)
    try:
        migrate(db)
        world = seed(db)
        with tempfile.TemporaryDirectory() as tmp, serving({"DATABASE_URL": db}, tmp=Path(tmp)) as (url, _), \
                sync_playwright() as playwright:
            browser = launch(playwright)
            for path in shoot(browser, url, world, out_dir):
                print(path)
            browser.close()
    finally:
        drop_database(admin, db)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
