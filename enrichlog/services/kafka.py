"""A real single-node Apache Kafka broker (KRaft) from the Maven Central jars, on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from enrichlog.services._proc import (
    ServiceError,
    log_tail,
    pid_alive,
    port_open,
    run,
    terminate,
    wait_until,
)
from enrichlog.services.config import ServicesSettings

_BROKER_FILES = resources.files("enrichlog.services") / "broker"

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=-1
log.retention.bytes=-1
"""


def new_cluster_id() -> str:
    """A random KRaft cluster id: 22 characters of URL-safe base64, as Kafka's own Uuid.randomUuid.

    Like Kafka, an id starting with '-' is drawn again: the storage tool's argument parser would take
    it for an option ("--cluster-id: expected one argument"), 1 start in 64.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalKafka:
    """Start, reuse and stop the broker. Files live under <state_dir>/kafka."""

    def __init__(self, settings: ServicesSettings) -> None:
        self.settings = settings
        self.home = settings.state_dir / "kafka"
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self.pid_file = self.home / "broker.pid"
        self.properties = self.home / "server.properties"

    @property
    def bootstrap_servers(self) -> str:
        return self.settings.bootstrap_servers

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None and port_open("127.0.0.1", self.settings.kafka_port)

    def classpath(self) -> str:
        """The broker classpath, resolved with Maven once per pom version and cached."""
        pom = (_BROKER_FILES / "pom.xml").read_bytes()
        digest = hashlib.sha256(pom).hexdigest()[:12]
        cache = self.home / f"classpath-{digest}.txt"
        if cache.exists():
            cp = cache.read_text().strip()
            if all(Path(jar).exists() for jar in cp.split(":")):
                return cp
        if shutil.which(self.settings.maven) is None:
            raise ServiceError(
                f"Maven ({self.settings.maven}) is not on PATH: it is needed once to fetch the "
                "Apache Kafka jars from Maven Central (apt-get install maven)."
            )
        work = self.home / "maven"
        work.mkdir(parents=True, exist_ok=True)
        (work / "pom.xml").write_bytes(pom)
        out = work / "classpath.txt"
        cmd = [self.settings.maven, "-q", "-B", "dependency:build-classpath",
               f"-Dmdep.outputFile={out}"]
        if self.settings.maven_repo_local is not None:
            cmd.append(f"-Dmaven.repo.local={self.settings.maven_repo_local}")
        run(
            cmd,
            what="resolving the Kafka jars with Maven",
            cwd=work,
            timeout=900,
        )
        cp = out.read_text().strip()
        cache.write_text(cp)
        return cp

    def _write_config(self) -> None:
        self.properties.write_text(
            _SERVER_PROPERTIES.format(
                port=self.settings.kafka_port,
                controller_port=self.settings.kafka_controller_port,
                data_dir=self.data_dir,
            )
        )
        (self.home / "log4j.properties").write_bytes((_BROKER_FILES / "log4j.properties").read_bytes())

    def _format(self, cp: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        run(
            [self.settings.java, "-cp", cp, "kafka.tools.StorageTool", "format",
             "-t", new_cluster_id(), "-c", str(self.properties), "--ignore-formatted"],
            what="formatting the Kafka storage",
            timeout=120,
        )

    def start(self, timeout: float = 120) -> None:
        if self.running():
            return
        if port_open("127.0.0.1", self.settings.kafka_port):
            raise ServiceError(
                f"port {self.settings.kafka_port} is taken by another process; set "
                "ENRICHLOG_KAFKA_PORT to a free port or stop that process."
            )
        for d in (self.home, self.data_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        cp = self.classpath()
        self._write_config()
        self._format(cp)
        console = self.logs_dir / "console.log"
        with console.open("ab") as out:
            proc = subprocess.Popen(
                [
                    self.settings.java,
                    f"-Xmx{self.settings.kafka_heap}",
                    "-Xms256m",
                    "-XX:+UseG1GC",
                    f"-Dkafka.logs.dir={self.logs_dir}",
                    f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
                    "-cp", cp, "kafka.Kafka", str(self.properties),
                ],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        wait_until(
            lambda: proc.poll() is None and self._answers(),
            what=f"Kafka broker on {self.bootstrap_servers}",
            timeout=timeout,
            on_fail=lambda: (
                f"(process exited with {proc.poll()}) " if proc.poll() is not None else ""
            ) + log_tail(self.logs_dir / "server.log") + "\n" + log_tail(console),
        )

    def _answers(self) -> bool:
        """True once the broker serves metadata (not just an open port)."""
        if not port_open("127.0.0.1", self.settings.kafka_port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers,
                request_timeout_ms=3000,
            )
        except (KafkaError, OSError, ValueError):  # not reachable yet
            return False
        try:
            admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()

    def stop(self) -> None:
        pid = pid_alive(self.pid_file)
        if pid is not None:
            terminate(pid, grace=30)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would (no controlled shutdown, logs not flushed); `start` then
        recovers it from its data directory."""
        pid = pid_alive(self.pid_file)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

            def gone() -> bool:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # reaped, when it is this process's child
                return pid_alive(self.pid_file) is None

            wait_until(gone, what=f"the killed broker (pid {pid}) to be gone", timeout=30, on_fail=lambda: "")
        self.pid_file.unlink(missing_ok=True)
