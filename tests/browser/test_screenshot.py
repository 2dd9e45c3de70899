"""The README's screenshots are made by tests.browser.screenshot.shoot: run here, into the artefacts."""

from __future__ import annotations

import struct

import pytest
from playwright.sync_api import Browser

from tests.browser.conftest import ARTEFACTS
from tests.browser.screenshot import VIEWPORT, shoot
from tests.browser.world import World

pytestmark = pytest.mark.postgres


def test_the_readme_screenshots_are_pictures_of_the_console(browser: Browser, console: str, world: World) -> None:
    shots = shoot(browser, console, world, ARTEFACTS / "readme")
    assert [p.name for p in shots] == ["console.png", "timeline.png"]
    for shot in shots:
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
        assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"])
        assert len(data) > 20_000, f"{shot} is nearly blank ({len(data)} bytes)"
