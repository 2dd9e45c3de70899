"""The BullMQ package (clients/bullmq) as the tests that run its Node scripts need it: node on the
PATH, the package installed (`npm ci`, which brings bullmq) and built (`npm run build`); scripts/test
does both. Missing, the test fails saying what to run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "clients" / "bullmq"


def node() -> str:
    """The node executable, once the package is known to be installed and built."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not installed: install Node.js >= 20 to run the BullMQ package's scripts")
    if not (PACKAGE / "dist" / "index.js").is_file() or not (PACKAGE / "node_modules" / "bullmq").is_dir():
        pytest.fail(f"clients/bullmq is not installed and built: run `npm ci && npm run build` in {PACKAGE} "
                    "(scripts/test does)")
    return found
