"""A throwaway Redis server (Debian's `redis-server`) on 127.0.0.1, for the BullMQ queues of the tests.

No persistence (no RDB snapshots, no append-only file): its data lives as long as the process. It
runs detached in a session of its own under <state_dir>/redis, so that `services down` (or a second
`up`) finds it by its pid file, and is ready once it answers PING.
"""

from __future__ import annotations

import shutil
import socket
import subprocess

from enrichlog.services._proc import ServiceError, log_tail, pid_alive, port_open, terminate, wait_until
from enrichlog.services.config import ServicesSettings


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis server on 127.0.0.1:port answers PING (RESP inline command) with PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class LocalRedis:
    """Start, reuse and stop the server. Its log and pid file live under <state_dir>/redis."""

    def __init__(self, settings: ServicesSettings) -> None:
        self.settings = settings
        self.home = settings.state_dir / "redis"
        self.pid_file = self.home / "redis.pid"
        self.log_file = self.home / "redis.log"
        self.console = self.home / "console.log"  # what it says before its log file is open

    @property
    def url(self) -> str:
        return self.settings.redis_url

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None and ping(self.settings.redis_port)

    def binary(self) -> str:
        found = shutil.which(self.settings.redis_server)
        if found is None:
            raise ServiceError(
                f"redis-server ({self.settings.redis_server}) is not installed: the BullMQ tests need a "
                "real Redis; install it with `apt-get install -y redis-server` (or set ENRICHLOG_REDIS_SERVER)."
            )
        return found

    def start(self, timeout: float = 30) -> None:
        if self.running():
            return
        binary = self.binary()
        if port_open("127.0.0.1", self.settings.redis_port):
            raise ServiceError(
                f"port {self.settings.redis_port} is taken by another process; set "
                "ENRICHLOG_REDIS_PORT to a free port or stop that process."
            )
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_file.unlink(missing_ok=True)
        with self.console.open("wb") as out:
            proc = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(self.settings.redis_port), "--dir", str(self.home),
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(self.log_file),
                 "--maxmemory-policy", "noeviction"],  # BullMQ's requirement: keys are never evicted
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        wait_until(
            lambda: proc.poll() is None and ping(self.settings.redis_port),
            what=f"Redis on {self.url}",
            timeout=timeout,
            on_fail=lambda: (f"(process exited with {proc.poll()}) " if proc.poll() is not None else "")
            + log_tail(self.log_file) + "\n" + log_tail(self.console),
        )

    def stop(self) -> None:
        pid = pid_alive(self.pid_file)
        if pid is not None:
            terminate(pid, grace=10)
        self.pid_file.unlink(missing_ok=True)
