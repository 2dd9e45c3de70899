"""The browser the browser tests and the README's screenshots drive: Debian's chromium, started by
Playwright (which downloads no browser of its own here: `playwright install` is never run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Browser, Playwright

HOW_TO_INSTALL = ("install Debian's chromium (as root: `apt-get install -y chromium`; scripts/test does it when "
                  "it runs as root) or set ENRICHLOG_CHROMIUM to a Chromium executable")


class ChromiumMissing(RuntimeError):
    """No Chromium executable where ENRICHLOG_CHROMIUM or PATH says."""


def chromium_path() -> str:
    """ENRICHLOG_CHROMIUM when set, else `chromium` on PATH; an executable file, or ChromiumMissing."""
    named = os.environ.get("ENRICHLOG_CHROMIUM")
    path = named or shutil.which("chromium")
    if path is None:
        raise ChromiumMissing(f"no `chromium` on PATH: {HOW_TO_INSTALL}")
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        raise ChromiumMissing(f"ENRICHLOG_CHROMIUM={path!r} is not an executable file: {HOW_TO_INSTALL}")
    return path


def launch(playwright: Playwright) -> Browser:
    """Headless chromium from chromium_path()."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True)
