"""Run the projector: check the configuration and the services, create the topics, start the Kafka edge."""

from __future__ import annotations

import gc
import json
import logging
import signal
import sys
from typing import Any

from enrichlog.migrate import redact
from projector.kafka.deadletter import KafkaDeadLetters
from projector.kafka.records import raw_of_record
from projector.metrics import Metrics
from projector.outages import LibraryNoise, Outages, kafka_probe, postgres_probe
from projector.pipeline import BatchHandler, RetryPolicy
from projector.settings import ProjectorSettings
from projector.store import PostgresStore
from projector.topics import TopicPartitions, create, partition_counts, topic_id
from projector.unreachable import reach_kafka, reach_postgres

log = logging.getLogger("projector.service")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the `extra` fields of the record."""

    _STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in self._STD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(settings: ProjectorSettings) -> logging.Handler:
    """Our one handler on the root logger, at ENRICHLOG_LOG_LEVEL. kafka-python serves only the
    start-up's checks and the topic watch, whose failures are said in our own lines
    (projector.unreachable): its records of each failed attempt stay below any level but DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    if settings.log_level != "DEBUG":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    return handler


def watch_outages(settings: ProjectorSettings, handler: logging.Handler) -> Outages:
    """One line when Kafka or PostgreSQL goes away, a reminder while it stays away, one when it is
    back; the client libraries' own records of it kept out of the log (below DEBUG only)."""
    outages = Outages(settings.outage_reminder_s)
    outages.watch("Kafka", settings.kafka_bootstrap_servers, kafka_probe(settings.kafka_bootstrap_servers))
    url = settings.database_url.get_secret_value()
    outages.watch("PostgreSQL", redact(url), postgres_probe(url),
                  f"a batch waiting for it is retried for up to ENRICHLOG_DB_RETRY_TIMEOUT_S "
                  f"({settings.db_retry_timeout_s:g}s), then the projector exits 1 (offsets not advanced)")
    if settings.log_level != "DEBUG":
        handler.addFilter(LibraryNoise(outages))
    return outages.start()


def ensure_topics(settings: ProjectorSettings, timeout_s: float = 30.0) -> TopicPartitions:
    """Create the events and dead-letter topics when missing (partitions from configuration), then
    check the events topic's partitions against ENRICHLOG_TOPIC_PARTITIONS. Fewer (a producer that
    published first made the broker create the topic with its default) cap how many projector
    processes can share the work: that is logged as a WARNING saying what to do, and the projector
    runs on, since stopping a working pipeline over it would be worse. `project --check` reports it."""
    kafka, events = settings.connection(), settings.events_topic
    bootstrap = kafka.bootstrap_servers
    counts = partition_counts(kafka, [events, settings.dlq_topic], timeout_s)
    missing = [t for t, n in counts.items() if n is None]
    if missing:
        create(kafka, missing, settings.topic_partitions, timeout_s)
    found = counts[events]
    if found is None:  # created just now, by this projector or (a race) by someone else: ask again
        found = partition_counts(kafka, [events], timeout_s)[events] or settings.topic_partitions
    partitions = TopicPartitions(events, found, settings.topic_partitions)
    if partitions.too_few:
        log.warning(partitions.describe(bootstrap), extra={
            "topic": settings.events_topic, "partitions": found, "configured": settings.topic_partitions,
            "command": partitions.alter_command(bootstrap)})
    return partitions


def _stop_during_startup(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def build_handler(settings: ProjectorSettings, metrics: Metrics, outages: Outages | None = None) -> BatchHandler:
    return BatchHandler(
        store=PostgresStore(settings.database_url.get_secret_value(), consumer=settings.consumer_group,
                            application_name=f"enrichlog-projector {settings.instance_id or ''}".rstrip(),
                            metrics=metrics),
        dead_letters=KafkaDeadLetters(settings.connection(), settings.dlq_topic, metrics=metrics,
                                      timeout_s=settings.dead_letter_timeout_s),
        metrics=metrics,
        retry=RetryPolicy(give_up_after_s=settings.db_retry_timeout_s),
        raw_of=raw_of_record,  # the agent hands over aiokafka's records
        unavailable=None if outages is None else lambda cause: outages.suspect("PostgreSQL", cause),
    )


def run(settings: ProjectorSettings) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or a crash (exit 1, nothing committed past the failure)."""
    # Until Faust's worker installs its own handlers, a SIGTERM (a deploy, a supervisor) ends the
    # start-up with status 0 instead of killing the process by the signal: nothing is in flight yet.
    signal.signal(signal.SIGTERM, _stop_during_startup)
    handler = configure_logging(settings)
    from projector.kafka.versions import check_versions

    check_versions()  # an untested Faust or aiokafka: one line (UntestedVersion), exit 1
    bootstrap, url, timeout_s = (settings.kafka_bootstrap_servers, settings.database_url.get_secret_value(),
                                 settings.connect_timeout_s)
    reach_kafka(bootstrap, timeout_s, "create and check the topics")  # else one line, exit 1
    from projector.kafka.login import check_login

    kafka = settings.connection()
    check_login(kafka, timeout_s)  # a refused login or TLS handshake: one line (KafkaLoginFailed), exit 1
    reach_postgres(url, timeout_s, "read the positions")
    partitions = ensure_topics(settings, timeout_s)
    from projector.kafka.app import FaustEdge
    from projector.offsets import reconcile
    from projector.topic_watch import watch

    # The id before the reconciliation: a topic replaced in between is caught by the watch.
    started_with = topic_id(kafka, settings.events_topic)
    reconcile(kafka, settings.database_url.get_secret_value(),
              settings.events_topic, settings.consumer_group)
    from projector.membership import claim_instance

    claim_instance(settings.database_url.get_secret_value(), settings.consumer_group, settings.instance_id)
    metrics = Metrics()
    metrics.topic_partitions.labels(partitions.topic).set(partitions.found or 0)
    metrics.topic_partitions_configured.labels(partitions.topic).set(partitions.configured)
    metrics.serve(settings.metrics_port, settings.metrics_host)
    outages = watch_outages(settings, handler)
    edge = FaustEdge(settings, lambda: build_handler(settings, metrics, outages))
    topic_watch = watch(kafka, settings.events_topic, started_with)
    if topic_watch is not None:
        edge.every(topic_watch.interval_s, "topic-watch", topic_watch.check)
    # Each batch allocates tens of thousands of short-lived, acyclic objects (events, states, rows):
    # with the default threshold (700) the cyclic collector runs every hundred-odd events and, in
    # its older generations, walks everything the process holds. So it runs less often (its effect
    # on throughput: docs/benchmarks.md), and what the process holds from start-up is left out of
    # its walks.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    return edge.run()
