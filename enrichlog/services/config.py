"""Settings of the local (Docker-free) services: where they keep their files and which ports they use."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServicesSettings(BaseSettings):
    """Read once from ENRICHLOG_* environment variables.

    The state directory defaults to /var/tmp so that the `postgres` system user (PostgreSQL
    refuses to run as root) can own its data directory inside it.
    """

    model_config = SettingsConfigDict(env_prefix="ENRICHLOG_", extra="ignore", frozen=True)

    state_dir: Path = Path("/var/tmp/enrichlog")
    kafka_port: int = Field(19092, ge=1, le=65535)
    kafka_controller_port: int = Field(19093, ge=1, le=65535)
    kafka_heap: str = Field("768m", pattern=r"^\d+[mMgG]$")
    pg_port: int = Field(55432, ge=1, le=65535)
    redis_port: int = Field(16379, ge=1, le=65535)
    # Debian's redis-server (apt-get install redis-server), or another path to the binary.
    redis_server: str = "redis-server"
    pg_bin: Path | None = None
    pg_user: str = Field("enrichlog", pattern=r"^[a-z_][a-z0-9_]*$")
    pg_database: str = Field("enrichlog", pattern=r"^[a-z_][a-z0-9_]*$")
    # Set: a new cluster asks for passwords over TCP (scram-sha-256) and its superuser has this one;
    # unset: it trusts every local connection (the default, for a throwaway cluster).
    pg_password: SecretStr | None = None
    maven: str = "mvn"
    # Maven's local repository (-Dmaven.repo.local); None: Maven's default (~/.m2/repository).
    maven_repo_local: Path | None = None
    java: str = "java"
    # Secured listeners beside the plaintext one, off unless a port is given (the dev services stay
    # as they are): SASL_SSL with SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN for one user, and SSL that
    # requires a client certificate (mTLS). Their CA and certificates are made under the state
    # directory (enrichlog.services.tls); the user's password, when not given, is drawn once and
    # kept there too (kafka/tls/sasl-password). SCRAM users are created when the storage is
    # formatted: a broker formatted without them keeps its users until its state directory is removed.
    kafka_sasl_ssl_port: int | None = Field(None, ge=1, le=65535)
    kafka_mtls_port: int | None = Field(None, ge=1, le=65535)
    kafka_sasl_username: str = Field("enrichlog", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kafka_sasl_password: SecretStr | None = None

    @field_validator("kafka_sasl_password")
    @classmethod
    def _scram_password(cls, v: SecretStr | None) -> SecretStr | None:
        # Kafka's storage tool reads SCRAM users as `name=...,password=...`: no ',', '=', '[' or ']' in it.
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_.~+@%-]{8,200}", v.get_secret_value()):
            raise ValueError("must be 8 to 200 letters, digits or _ . ~ + @ % - (Kafka's storage tool reads it "
                             "inside name=...,password=...)")
        return v

    @model_validator(mode="after")
    def _distinct_ports(self) -> ServicesSettings:
        # Two services on one port: the second would find it taken, or a client would reach the wrong one.
        ports = {"ENRICHLOG_KAFKA_PORT": self.kafka_port, "ENRICHLOG_KAFKA_CONTROLLER_PORT": self.kafka_controller_port,
                 "ENRICHLOG_PG_PORT": self.pg_port, "ENRICHLOG_REDIS_PORT": self.redis_port,
                 "ENRICHLOG_KAFKA_SASL_SSL_PORT": self.kafka_sasl_ssl_port,
                 "ENRICHLOG_KAFKA_MTLS_PORT": self.kafka_mtls_port}
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port is None:
                continue
            if port in seen:
                raise ValueError(f"{name} and {seen[port]} are both {port}: each service needs a port of its own")
            seen[port] = name
        return self

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}"

    def database_url(self, database: str | None = None) -> str:
        login = self.pg_user
        if self.pg_password is not None:
            login += ":" + urllib.parse.quote(self.pg_password.get_secret_value(), safe="")
        return f"postgresql://{login}@127.0.0.1:{self.pg_port}/{database or self.pg_database}"
