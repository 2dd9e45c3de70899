"""`enrichlog project --check`: reach Kafka and PostgreSQL as the projector would, within a bound.

It asks the broker for the events and dead-letter topics (without making it create them) and the
database for the migrations it has recorded, and says in one line what it found or what failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from projector.errors import ProjectorError
from projector.kafka_login import check_login
from projector.settings import ProjectorSettings
from projector.topics import TopicPartitions, partition_counts
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
    """Both services asked, each within `timeout_s`. Raises ServicesUnavailable naming every
    service that failed (unreachable, or the database not migrated)."""
    failures: list[str] = []
    kafka = settings.connection()
    bootstrap = kafka.bootstrap_servers
    counts: dict[str, int | None] = {}
    try:
        check_login(kafka, timeout_s)
        counts = partition_counts(kafka, [settings.events_topic, settings.dlq_topic], timeout_s)
    except (ProjectorError, KafkaLoginFailed) as exc:
        failures.append(str(exc))
    database = _database(settings.database_url.get_secret_value(), timeout_s, failures)
    if failures:
        raise ServicesUnavailable("; ".join(failures))
    events = TopicPartitions(settings.events_topic, counts[settings.events_topic], settings.topic_partitions)
    dead = TopicPartitions(settings.dlq_topic, counts[settings.dlq_topic], settings.topic_partitions)
    # The dead letters' partitions do not matter (the projector writes them from any partition).
    problems = [t.describe(bootstrap) for t in (events, dead) if t.found is None or (t is events and t.too_few)]
    return Readiness(events, dead, database, problems)


def _database(url: str, timeout_s: float, failures: list[str]) -> str:
    from enrichlog.migrate import _scrub, pending, redact

    where = redact(url)
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout_s)), autocommit=True) as conn:
            missing = pending(conn)
    except psycopg.Error as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        failures.append(f"PostgreSQL at {where} unreachable: {_scrub(first, url)}")
        return where
    if missing:
        failures.append(f"PostgreSQL at {where} is not migrated ({len(missing)} pending: {', '.join(missing)}): "
                        "run `enrichlog migrate`")
    return where
