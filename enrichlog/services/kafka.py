"""A real single-node Apache Kafka broker (KRaft) from the Maven Central jars, on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from enrichlog.services._proc import (
    ServiceError,
    exited,
    log_tail,
    pid_alive,
    port_open,
    run,
    terminate,
    wait_until,
)
from enrichlog.services.config import ServicesSettings
from enrichlog.services.tls import Pki, make_pki

_BROKER_FILES = resources.files("enrichlog.services") / "broker"

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}{listeners}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}{listeners}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
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

# The secured listeners (ServicesSettings.kafka_sasl_ssl_port, kafka_mtls_port): one keystore and
# truststore (PEM) for both; SCRAM users live in the cluster's metadata (created at format time),
# the PLAIN user in the JAAS line. The SSL listener requires a client certificate signed by the CA.
_SECURED_PROPERTIES = """\
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={ca_file}
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
  user_{username}="{password}";
listener.name.ssl.ssl.client.auth=required
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

    @property
    def pki(self) -> Pki:
        return Pki(self.home / "tls")

    @property
    def secured(self) -> bool:
        return self.settings.kafka_sasl_ssl_port is not None or self.settings.kafka_mtls_port is not None

    def sasl_password(self) -> str:
        """The SASL user's password: the configured one, else one drawn once and kept in the state directory."""
        if self.settings.kafka_sasl_password is not None:
            return self.settings.kafka_sasl_password.get_secret_value()
        kept = self.pki.directory / "sasl-password"
        if not kept.exists():
            self.pki.directory.mkdir(parents=True, exist_ok=True)
            kept.touch(mode=0o600)
            kept.write_text(secrets.token_urlsafe(24))
        return kept.read_text().strip()

    def client_env(self, listener: str = "SASL_SSL", mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
        """The KAFKA_* variables of a client of a secured listener ("SASL_SSL" or "SSL", the mTLS one)."""
        pki = self.pki
        if listener == "SSL":
            if self.settings.kafka_mtls_port is None:
                raise ServiceError("no mTLS listener: set ENRICHLOG_KAFKA_MTLS_PORT")
            return {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.settings.kafka_mtls_port}",
                    "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(pki.ca_file),
                    "KAFKA_SSL_CERTFILE": str(pki.client_cert_file), "KAFKA_SSL_KEYFILE": str(pki.client_key_file)}
        if self.settings.kafka_sasl_ssl_port is None:
            raise ServiceError("no SASL_SSL listener: set ENRICHLOG_KAFKA_SASL_SSL_PORT")
        return {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.settings.kafka_sasl_ssl_port}",
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": mechanism,
                "KAFKA_SASL_USERNAME": self.settings.kafka_sasl_username,
                "KAFKA_SASL_PASSWORD": self.sasl_password(), "KAFKA_SSL_CAFILE": str(pki.ca_file)}

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
        listeners = "".join(
            f",{name}://127.0.0.1:{port}" for name, port in
            (("SASL_SSL", self.settings.kafka_sasl_ssl_port), ("SSL", self.settings.kafka_mtls_port))
            if port is not None)
        text = _SERVER_PROPERTIES.format(
            port=self.settings.kafka_port,
            controller_port=self.settings.kafka_controller_port,
            data_dir=self.data_dir,
            listeners=listeners,
        )
        if self.secured:
            pki = make_pki(self.pki.directory)
            text += _SECURED_PROPERTIES.format(keystore=pki.server_keystore, ca_file=pki.ca_file,
                                               username=self.settings.kafka_sasl_username,
                                               password=self.sasl_password())
        self.properties.touch(mode=0o600)
        self.properties.write_text(text)
        (self.home / "log4j.properties").write_bytes((_BROKER_FILES / "log4j.properties").read_bytes())

    def _format(self, cp: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        scram: list[str] = []
        hidden = [self.sasl_password()] if self.settings.kafka_sasl_ssl_port is not None else []
        if self.settings.kafka_sasl_ssl_port is not None:  # SCRAM users: in the metadata from the start
            user = f"name={self.settings.kafka_sasl_username},password={self.sasl_password()}"
            scram = [arg for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256")
                     for arg in ("--add-scram", f"{mechanism}=[{user}]")]
        run(
            [self.settings.java, "-cp", cp, "kafka.tools.StorageTool", "format",
             "-t", new_cluster_id(), "-c", str(self.properties), "--ignore-formatted", *scram],
            what="formatting the Kafka storage",
            timeout=120,
            secrets=hidden,
        )
        if scram:
            self._scram_marker.write_text(self._scram_user_digest())

    @property
    def _scram_marker(self) -> Path:
        """Which SCRAM user (a digest of its name and password) the broker's metadata holds."""
        return self.pki.directory / "scram-user"

    def _scram_user_digest(self) -> str:
        user = f"{self.settings.kafka_sasl_username}:{self.sasl_password()}"
        return hashlib.sha256(user.encode()).hexdigest()

    def _ensure_scram_user(self, cp: str) -> None:
        """A broker formatted before its SASL_SSL listener was configured (or with another password)
        gets the SCRAM user from kafka-configs, through the plaintext listener."""
        if self.settings.kafka_sasl_ssl_port is None:
            return
        marker = self._scram_marker
        if marker.exists() and marker.read_text().strip() == self._scram_user_digest():
            return
        password = self.sasl_password()
        for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):  # one per request, as the broker requires
            run([self.settings.java, "-cp", cp, "kafka.admin.ConfigCommand", "--bootstrap-server",
                 self.bootstrap_servers, "--alter", "--entity-type", "users",
                 "--entity-name", self.settings.kafka_sasl_username,
                 "--add-config", f"{mechanism}=[password={password}]"],
                what=f"creating the {mechanism} user", timeout=120, secrets=[password])
        marker.write_text(self._scram_user_digest())

    def start(self, timeout: float = 120) -> None:
        if self.running():
            self._ensure_scram_user(self.classpath())
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
        self._ensure_scram_user(cp)

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
            wait_until(lambda: exited(pid), what=f"the killed broker (pid {pid}) to be gone", timeout=30,
                       on_fail=lambda: "")
        self.pid_file.unlink(missing_ok=True)
