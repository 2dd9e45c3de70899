"""Local services without Docker: a real Kafka broker, a throwaway PostgreSQL cluster and Redis.

`up()` is idempotent: a second call reuses what already runs. Logs are files under the state
directory (ENRICHLOG_STATE_DIR, default /var/tmp/enrichlog): kafka/logs/server.log,
postgres/postgres.log and redis/redis.log. Redis is for the BullMQ queues of the tests
(clients/bullmq); `up(redis=False)` leaves it out (the demo needs only Kafka and PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass

from enrichlog.services._proc import ServiceError
from enrichlog.services.config import ServicesSettings
from enrichlog.services.kafka import LocalKafka
from enrichlog.services.postgres import LocalPostgres
from enrichlog.services.redis import LocalRedis

__all__ = ["Endpoints", "LocalKafka", "LocalPostgres", "LocalRedis", "ServiceError", "ServicesSettings", "down",
           "up"]


@dataclass(frozen=True)
class Endpoints:
    bootstrap_servers: str
    database_url: str
    redis_url: str | None = None

    def as_env(self) -> dict[str, str]:
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, "DATABASE_URL": self.database_url}
        if self.redis_url is not None:
            env["REDIS_URL"] = self.redis_url
        return env


def up(settings: ServicesSettings | None = None, *, redis: bool = True) -> Endpoints:
    settings = settings or ServicesSettings()
    if redis:  # first: a missing redis-server is said before the slower services start
        LocalRedis(settings).binary()
    LocalPostgres(settings).start()
    LocalKafka(settings).start()
    if redis:
        LocalRedis(settings).start()
    return Endpoints(settings.bootstrap_servers, settings.database_url(), settings.redis_url if redis else None)


def down(settings: ServicesSettings | None = None) -> None:
    settings = settings or ServicesSettings()
    errors: list[str] = []
    for service in (LocalKafka(settings), LocalPostgres(settings), LocalRedis(settings)):
        try:
            service.stop()
        except ServiceError as exc:
            errors.append(str(exc))
    if errors:
        raise ServiceError("; ".join(errors))
