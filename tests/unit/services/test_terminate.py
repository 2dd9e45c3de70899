"""`terminate` on a child of this process: its zombie (exited, not yet reaped) counts as gone."""

from __future__ import annotations

import subprocess
import sys
import time

from enrichlog.services._proc import exited, terminate


def test_terminate_returns_once_a_child_exits_without_waiting_out_its_grace() -> None:
    # A child in a session of its own, its Popen dropped as LocalKafka.start drops the broker's:
    # nothing else reaps it.
    pid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                           start_new_session=True).pid
    started = time.monotonic()
    terminate(pid, grace=30)
    assert time.monotonic() - started < 10
    assert exited(pid)
