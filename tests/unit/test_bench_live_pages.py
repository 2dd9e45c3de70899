"""bench/live_pages.py refuses bad arguments with a line naming the argument, before touching a broker or
a database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "live_pages.py"


@pytest.mark.parametrize(("args", "named"), [
    (["--pages", "0"], "--pages must be at least 1"),
    (["--events", "-5"], "--events must be at least 1"),
    (["--runs", "0"], "--runs must be at least 1"),
    (["--pages", "lots"], "argument --pages: invalid int value: 'lots'"),
    (["--clients", "remote"], "--clients must be one of normal, idle, stopped, not 'remote'"),
])
def test_a_bad_argument_is_refused_by_name(args: list[str], named: str) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), *args, "--database-url", "postgresql://nobody@127.0.0.1:1/none",
                           "--bootstrap", "127.0.0.1:1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert named in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_broker_it_says_which_setting_is_missing() -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap" in done.stderr
