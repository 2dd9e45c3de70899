"""The README's main command, run as a user would (against this test's services and database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_demo_shows_roots_and_the_timeline_of_the_partial_root(kafka_bootstrap: str, db: str) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": db}
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "demo", "--json"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    statuses = {r["status"] for r in out["roots"]["rows"]}
    assert "PARTIAL" in statuses and len(out["roots"]["rows"]) >= 3
    timeline = out["timeline"]
    assert timeline["root"]["status"] == "PARTIAL"
    assert [c["status"] for c in timeline["children"]].count("FAILED") == 1
    assert all(c["parentJobId"] == timeline["root"]["jobId"] for c in timeline["children"])


def test_demo_rejects_a_bad_argument_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "enrichlog.cli", "demo", "--chains", "0"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["enrichlog demo: error: --chains must be between 1 and 200, got 0"]
