"""A Kafka broker of a test's own (free ports, its own state directory under /var/tmp) that the test
may SIGKILL and restart without touching the session's broker, which the rest of the suite uses."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path

from enrichlog.services import LocalKafka, ServicesSettings
from enrichlog.services._proc import pid_alive


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KillableBroker:
    """Start, SIGKILL and restart a dedicated single-node broker; `remove()` deletes its files."""

    def __init__(self) -> None:
        shared = ServicesSettings()
        self.state_dir = Path(f"/var/tmp/enrichlog-killable-{uuid.uuid4().hex[:8]}")
        settings = ServicesSettings(state_dir=self.state_dir, kafka_port=free_port(),
                                    kafka_controller_port=free_port())
        self.broker = LocalKafka(settings)
        self.broker.home.mkdir(parents=True, exist_ok=True)
        for cached in Path(shared.state_dir, "kafka").glob("classpath-*.txt"):  # skip the Maven step
            shutil.copy(cached, self.broker.home / cached.name)
        self.kills = 0

    @property
    def bootstrap_servers(self) -> str:
        return self.broker.bootstrap_servers

    def start(self) -> None:
        self.broker.start()

    def kill(self) -> None:
        """SIGKILL the broker (no clean shutdown) and wait until the process is gone."""
        pid = pid_alive(self.broker.pid_file)
        assert pid is not None, "the broker is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:  # our child: reap it (a zombie still answers kill(pid, 0))
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:  # reaped already (subprocess' own clean-up) or not ours
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
            time.sleep(0.05)
        self.kills += 1

    def remove(self) -> None:
        self.broker.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)
