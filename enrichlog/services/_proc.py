"""Small process helpers shared by the local Kafka and PostgreSQL services."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class ServiceError(RuntimeError):
    """A local service could not be started, reached or stopped; the message says which and why."""


def run(cmd: Sequence[str], *, what: str, timeout: float = 300, cwd: Path | None = None,
        secrets: Sequence[str] = ()) -> str:
    """Run a command to completion; raise ServiceError with its output when it fails (`secrets`, as
    the SCRAM password in the storage tool's arguments, are left out of the message)."""
    try:
        done = subprocess.run(
            list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise ServiceError(f"{what}: command not found: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(_hidden(f"{what}: timed out after {timeout:.0f}s: {' '.join(cmd)}", secrets)) from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise ServiceError(_hidden(f"{what} failed (exit {done.returncode}): {tail}", secrets))
    return done.stdout


def _hidden(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid_file: Path) -> int | None:
    """The pid recorded in pid_file when that process still runs, else None."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def exited(pid: int) -> bool:
    """Whether process pid has exited. A child of this process is reaped here: until it is, its
    zombie still answers kill(pid, 0), and waiting for that to fail would wait out every grace."""
    with contextlib.suppress(ChildProcessError):  # not this process's child, or reaped already
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def terminate(pid: int, *, grace: float = 30.0) -> None:
    """SIGTERM the process group of pid, then SIGKILL after grace seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if exited(pid):
                return
            time.sleep(0.1)


def wait_until(check: Callable[[], bool], *, what: str, timeout: float, on_fail: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise ServiceError(f"{what} did not become ready within {timeout:.0f}s. {on_fail()}")


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return f"Last lines of {path}:\n" + "\n".join(text[-lines:])
