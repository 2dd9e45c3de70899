"""A throwaway PostgreSQL cluster from the installed server binaries, on 127.0.0.1.

PostgreSQL refuses to run as root, so when we are root every server command runs as the
`postgres` system user (runuser), and the cluster's directory belongs to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path
from typing import Literal

from enrichlog.services._proc import ServiceError, log_tail, port_open, run, wait_until
from enrichlog.services.config import ServicesSettings

_CONF = """
# enrichment-log local cluster
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 100
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 256MB
max_wal_size = 2GB
logging_collector = off
log_min_duration_statement = 5000
"""


def find_bindir(settings: ServicesSettings) -> Path:
    if settings.pg_bin is not None:
        candidates = [settings.pg_bin]
    else:
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).parent)
    for cand in candidates:
        if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
            return cand
    raise ServiceError(
        "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH); "
        "install postgresql (apt-get install postgresql) or set ENRICHLOG_PG_BIN."
    )


class LocalPostgres:
    """Create (once), start, reuse and stop the cluster under <state_dir>/postgres."""

    def __init__(self, settings: ServicesSettings) -> None:
        self.settings = settings
        self.home = settings.state_dir / "postgres"
        self.data_dir = self.home / "data"
        self.log_file = self.home / "postgres.log"

    def _as_owner(self, cmd: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return cmd
        if shutil.which("runuser") is None:
            raise ServiceError("running as root needs `runuser` to start PostgreSQL as `postgres`")
        return ["runuser", "-u", "postgres", "--", *cmd]

    def _prepare_dirs(self) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServiceError("running as root needs a `postgres` system user") from exc
            os.chmod(self.settings.state_dir, 0o755)
            os.chown(self.home, owner.pw_uid, owner.pw_gid)
            os.chmod(self.home, 0o700)

    def _auth(self) -> list[str]:
        """initdb's authentication: trust, or with ENRICHLOG_PG_PASSWORD scram-sha-256 over TCP (the
        superuser's password from a file only its owner reads, removed after initdb)."""
        if self.settings.pg_password is None:
            return ["-A", "trust"]
        pwfile = self.home / "pwfile"
        with os.fdopen(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(self.settings.pg_password.get_secret_value() + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        return ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialized():
            return False
        try:
            run(self._as_owner([str(find_bindir(self.settings) / "pg_ctl"), "status", "-D", str(self.data_dir)]),
                what="pg_ctl status", timeout=30)
        except ServiceError:
            return False
        return True

    def start(self, timeout: float = 60) -> None:
        bindir = find_bindir(self.settings)
        self._prepare_dirs()
        if not self.initialized():
            run(self._as_owner([str(bindir / "initdb"), "-D", str(self.data_dir), "-U", self.settings.pg_user,
                                *self._auth(), "-E", "UTF8", "--no-locale"]), what="initdb", timeout=120)
            (self.home / "pwfile").unlink(missing_ok=True)
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(_CONF.format(port=self.settings.pg_port, socket_dir=self.home))
        if not self.running():
            if port_open("127.0.0.1", self.settings.pg_port):
                raise ServiceError(
                    f"port {self.settings.pg_port} is taken by another process; set "
                    "ENRICHLOG_PG_PORT to a free port or stop that process."
                )
            try:
                run(
                    self._as_owner([
                        str(bindir / "pg_ctl"), "start", "-D", str(self.data_dir),
                        "-l", str(self.log_file), "-w", "-t", str(int(timeout)),
                    ]),
                    what="pg_ctl start",
                    timeout=timeout + 10,
                )
            except ServiceError as exc:
                raise ServiceError(f"{exc}\n{log_tail(self.log_file)}") from exc
        wait_until(self._answers, what=f"PostgreSQL on port {self.settings.pg_port}", timeout=timeout,
                   on_fail=lambda: log_tail(self.log_file))
        self.create_database(self.settings.pg_database)

    def _answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.settings.database_url("postgres"), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.settings.database_url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """pg_ctl stop in `mode`; `immediate` is a crash: no checkpoint, the next start recovers from the WAL."""
        if not self.running():
            return
        run(
            self._as_owner([str(find_bindir(self.settings) / "pg_ctl"), "stop", "-D", str(self.data_dir),
                            "-m", mode, "-w", "-t", "60"]),
            what="pg_ctl stop",
            timeout=90,
        )
