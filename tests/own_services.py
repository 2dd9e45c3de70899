"""Services of a test's own, for the tests that kill or stop them: a Kafka broker on free ports with
a state directory of its own under /var/tmp, so that killing it harms neither the session's broker,
which the rest of the suite uses, nor anyone else's."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path

from enrichlog.services import LocalKafka, ServicesSettings
from enrichlog.services._proc import exited, pid_alive


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def own_broker(name: str, *, heap: str = "512m", secured: bool = False) -> LocalKafka:
    """A broker (not started) on free ports in /var/tmp/enrichlog-<name>-<random>; it reuses the
    session broker's resolved classpath, when there is one, to skip the Maven step. `secured`: with
    a SASL_SSL listener (SCRAM-SHA-512/256 and PLAIN, user `enrichlog`, a password drawn for it) and
    an mTLS one beside the plaintext one, their CA made for it (`LocalKafka.client_env`)."""
    # Unsecured: no secured listener even when the environment names the session broker's ports.
    extra: dict[str, object] = {"kafka_sasl_ssl_port": None, "kafka_mtls_port": None}
    if secured:
        extra = {"kafka_sasl_ssl_port": free_port(), "kafka_mtls_port": free_port(),
                 "kafka_sasl_password": f"pw-{uuid.uuid4().hex[:12]}~+@%"}
    settings = ServicesSettings(state_dir=Path(f"/var/tmp/enrichlog-{name}-{uuid.uuid4().hex[:8]}"),
                                kafka_port=free_port(), kafka_controller_port=free_port(), kafka_heap=heap,
                                **extra)  # type: ignore[arg-type]
    broker = LocalKafka(settings)
    broker.home.mkdir(parents=True, exist_ok=True)
    for cached in Path(ServicesSettings().state_dir, "kafka").glob("classpath-*.txt"):
        shutil.copy(cached, broker.home / cached.name)
    return broker


class KillableBroker:
    """Start, SIGKILL and restart a dedicated single-node broker; `remove()` deletes its files."""

    def __init__(self) -> None:
        self.broker = own_broker("killable", heap="768m")
        self.state_dir = self.broker.settings.state_dir
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
        while time.monotonic() < deadline and not exited(pid):  # reaped, when it is our child
            time.sleep(0.05)
        self.kills += 1

    def remove(self) -> None:
        self.broker.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)
