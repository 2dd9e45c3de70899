"""Local services without Docker: a real Kafka broker and a throwaway PostgreSQL cluster.

`up()` is idempotent: a second call reuses what already runs. Logs are files under the state
directory (ENRICHLOG_STATE_DIR, default /var/tmp/enrichlog): kafka/logs/server.log and
postgres/postgres.log.
"""

from __future__ import annotations

from dataclasses import dataclass

from enrichlog.services._proc import ServiceError
from enrichlog.services.config import ServicesSettings
from enrichlog.services.kafka import LocalKafka
from enrichlog.services.postgres import LocalPostgres

__all__ = ["Endpoints", "LocalKafka", "LocalPostgres", "ServiceError", "ServicesSettings", "down", "up"]


@dataclass(frozen=True)
class Endpoints:
    bootstrap_servers: str
    database_url: str

    def as_env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, "DATABASE_URL": self.database_url}


def up(settings: ServicesSettings | None = None) -> Endpoints:
    settings = settings or ServicesSettings()
    LocalPostgres(settings).start()
    LocalKafka(settings).start()
    return Endpoints(settings.bootstrap_servers, settings.database_url())


def down(settings: ServicesSettings | None = None) -> None:
    settings = settings or ServicesSettings()
    errors: list[str] = []
    for service in (LocalKafka(settings), LocalPostgres(settings)):
        try:
            service.stop()
        except ServiceError as exc:
            errors.append(str(exc))
    if errors:
        raise ServiceError("; ".join(errors))
