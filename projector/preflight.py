"""`enrichlog project --check`: reach Kafka and PostgreSQL as the projector would, within a bound.

It asks the broker for the events and dead-letter topics (without making it create them) and the
database for the migrations it has recorded, and says in one line what it found or what failed.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from projector import db
from projector.errors import ProjectorError
from projector.kafka.login import check_login
from projector.settings import ProjectorSettings
from projector.topics import TopicPartitions, partition_counts
from projector.unreachable import reach_kafka, reach_postgres
from schemas.kafka_connection import KafkaLoginFailed


class ServicesUnavailable(ProjectorError):
    """Kafka or PostgreSQL could not be reached or is not ready (the message says which, and why)."""


@dataclass(frozen=True)
class Readiness:
    events: TopicPartitions
    dead_letters: TopicPartitions
    database: str  # where, without its password
    problems: list[str]  # what is not as configured (a topic missing, too few partitions), each saying what to do

    def summary(self) -> str:
        return (f"Kafka: topic {self.events.topic} {self.events.found} partitions, dead letters "
                f"{self.dead_letters.topic} {self.dead_letters.found}; PostgreSQL at {self.database}: migrated")


def check_services(settings: ProjectorSettings, timeout_s: float = 10.0) -> Readiness:
    """Both services asked at once, each within `timeout_s`. Raises ServicesUnavailable naming every
    service that failed (unreachable, its login refused, or the database not migrated)."""
    with ThreadPoolExecutor(2) as pool:
        kafka = pool.submit(_topics, settings, timeout_s)
        database = pool.submit(_database, settings.database_url.get_secret_value(), timeout_s)
        failures = [f for f in (_failure(kafka), _failure(database)) if f]
    if failures:
        raise ServicesUnavailable("; ".join(failures))
    counts, bootstrap = kafka.result(), settings.kafka_bootstrap_servers
    events = TopicPartitions(settings.events_topic, counts[settings.events_topic], settings.topic_partitions)
    dead = TopicPartitions(settings.dlq_topic, counts[settings.dlq_topic], settings.topic_partitions)
    # The dead letters' partitions do not matter (the projector writes them from any partition).
    problems = [t.describe(bootstrap) for t in (events, dead) if t.found is None or (t is events and t.too_few)]
    return Readiness(events, dead, database.result(), problems)


def _failure(future: Future[Any]) -> str | None:
    exc = future.exception()
    if exc is None:
        return None
    if isinstance(exc, ProjectorError | KafkaLoginFailed):
        return str(exc)
    raise exc


def _topics(settings: ProjectorSettings, timeout_s: float) -> dict[str, int | None]:
    kafka, topics = settings.connection(), [settings.events_topic, settings.dlq_topic]
    deadline = time.monotonic() + timeout_s
    reach_kafka(kafka.bootstrap_servers, timeout_s, "ask for topics " + ", ".join(topics))  # TCP first
    check_login(kafka, max(1.0, deadline - time.monotonic()))
    return partition_counts(kafka, topics, max(1.0, deadline - time.monotonic()))


def _database(url: str, timeout_s: float) -> str:
    from enrichlog.migrate import pending

    where = db.redact(url)
    reach_postgres(url, timeout_s, "read its migrations")
    with db.connection(url, "PostgreSQL refused to list its migrations", timeout=max(2, round(timeout_s)),
                       autocommit=True) as conn:
        missing = pending(conn)
    if missing:
        raise ServicesUnavailable(f"PostgreSQL at {where} is not migrated ({len(missing)} pending: "
                                  f"{', '.join(missing)}): run `enrichlog migrate`")
    return where
