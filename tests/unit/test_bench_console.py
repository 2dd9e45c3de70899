"""bench/console.py refuses bad arguments with a line naming the argument, before touching a database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "console.py"


@pytest.mark.parametrize(("args", "named"), [
    (["--rows", "0"], "--rows must be at least 1"),
    (["--requests", "0"], "--requests must be at least 1"),
    (["--warmup", "-1"], "--warmup must not be negative"),
    (["--rows", "many"], "argument --rows: invalid int value: 'many'"),
])
def test_a_bad_argument_is_refused_by_name(args: list[str], named: str) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), *args, "--database-url", "postgresql://nobody@127.0.0.1:1/none"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert named in done.stderr
    assert "Traceback" not in done.stderr
