"""Settings of the local (Docker-free) services: where they keep their files and which ports they use."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from pydantic import Field, SecretStr
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

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def database_url(self, database: str | None = None) -> str:
        login = self.pg_user
        if self.pg_password is not None:
            login += ":" + urllib.parse.quote(self.pg_password.get_secret_value(), safe="")
        return f"postgresql://{login}@127.0.0.1:{self.pg_port}/{database or self.pg_database}"
