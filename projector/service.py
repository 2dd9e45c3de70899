"""Run the projector: check the configuration and the services, create the topics, start Faust."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import signal
import sys
from typing import Any

from projector.deadletter import KafkaDeadLetters, raw_of_record
from projector.metrics import Metrics
from projector.pipeline import BatchHandler, RetryPolicy
from projector.settings import ProjectorSettings
from projector.store import PostgresStore


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


def configure_logging(settings: ProjectorSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def ensure_topics(settings: ProjectorSettings) -> None:
    """Create the events and dead-letter topics when missing (partitions from configuration)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=10_000)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=settings.topic_partitions, replication_factor=1)
            for name in (settings.events_topic, settings.dlq_topic)
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another projector was faster
                admin.create_topics(wanted)
    finally:
        admin.close()


def _stop_during_startup(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def build_handler(settings: ProjectorSettings, metrics: Metrics) -> BatchHandler:
    return BatchHandler(
        store=PostgresStore(settings.database_url.get_secret_value(), consumer=settings.consumer_group,
                            application_name=f"enrichlog-projector {settings.instance_id or ''}".rstrip(),
                            metrics=metrics),
        dead_letters=KafkaDeadLetters(settings.kafka_bootstrap_servers, settings.dlq_topic),
        metrics=metrics,
        retry=RetryPolicy(give_up_after_s=settings.db_retry_timeout_s),
        raw_of=raw_of_record,  # the agent hands over aiokafka's records
    )


def run(settings: ProjectorSettings) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or a crash (exit 1, nothing committed past the failure)."""
    # Until Faust's worker installs its own handlers, a SIGTERM (a deploy, a supervisor) ends the
    # start-up with status 0 instead of killing the process by the signal: nothing is in flight yet.
    signal.signal(signal.SIGTERM, _stop_during_startup)
    import faust

    from projector.app import create_app

    configure_logging(settings)
    ensure_topics(settings)
    from projector.offsets import reconcile

    reconcile(settings.kafka_bootstrap_servers, settings.database_url.get_secret_value(),
              settings.events_topic, settings.consumer_group)
    from projector.membership import claim_instance

    claim_instance(settings.database_url.get_secret_value(), settings.consumer_group, settings.instance_id)
    metrics = Metrics()
    metrics.serve(settings.metrics_port, settings.metrics_host)
    app = create_app(settings, lambda _app: build_handler(settings, metrics))
    # Logging stays ours (configure_logging): Faust's worker would add a second, plain-text handler
    # and, at WARNING or ERROR, a terminal spinner that lowers the root logger to DEBUG to turn on
    # every record: every debug line of Faust and aiokafka was built, 6% of the projector's CPU at
    # 1,000 events/s (py-spy).
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False,
                          override_logging=False)
    worker.spinner = None
    # Each batch allocates tens of thousands of short-lived, acyclic objects (events, states, rows):
    # with the default threshold (700) the cyclic collector runs every hundred-odd events and, in
    # its older generations, walks everything the process holds. Less often: +7-20% events/s
    # measured (bench/projector.py). What the process holds from start-up is left out of its walks.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
