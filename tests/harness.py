"""Helpers shared by the end-to-end tests and the benchmark scripts: a projector subprocess, polling."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any


class ProjectorProcess:
    """`enrichlog project` as a real subprocess, on its own topic, group and database."""

    def __init__(self, env: dict[str, str], log_path: Any) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._killed = False

    def start(self) -> ProjectorProcess:
        self._killed = False
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child process owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enrichlog.cli", "project"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self._killed = True
            self.proc.kill()
            self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.proc is not None
        # The projector handles SIGTERM once its start-up begins; before that (the interpreter still
        # importing) the signal's default action would kill it: not what is being tested.
        deadline = time.monotonic() + 60
        while self.proc.poll() is None and not self.catches_sigterm() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.proc.poll() is None:
            self._killed = True  # told to stop
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def catches_sigterm(self) -> bool:
        """Whether the process has a SIGTERM handler installed (Linux: SigCgt in /proc/<pid>/status)."""
        assert self.proc is not None
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        except (FileNotFoundError, StopIteration):
            return False
        return bool(caught & (1 << (signal.SIGTERM - 1)))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def died_on_its_own(self) -> bool:
        """Whether it exited without being told to (no kill(), no stop()): a crash."""
        return self.proc is not None and self.proc.poll() is not None and not self._killed

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-5000:]
        except FileNotFoundError:
            return ""


def wait_for(check: Any, *, timeout: float = 60, what: str = "condition") -> Any:
    """Poll `check()` until it returns a truthy value or the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {value!r}")
        time.sleep(0.2)
