"""The Faust edge: the events topic as an async iterator of batches, each acked after its commit.

What faust-streaming does, and why the app is set up this way:
- `take()` would ack the whole batch in a `finally`, even when writing it failed. The agent takes
  unacked batches (`bulk.take_batches`: the events topic is delivered in bulk, one item per
  fetched partition, instead of Faust's per-message path) and the batch loop (projector.loop)
  acks each only after the store committed it.
- Faust's commit can pass an unacked offset (faust-streaming issue 606), so the agent runs with
  concurrency 1 and the loop acks every record of a committed batch, in order: no gap is ever left.
- Any exception crashes the agent (the loop raises a failed commit's error); `CrashingSupervisor`
  turns that into a worker exit (status 1) instead of restarting the actor on the same stream past
  the failed batch. The unacked batch is re-read after the restart, and the positions stored with
  the rows make the replay harmless.
- Values stay raw bytes (the bulk delivery hands over aiokafka's records, which Faust never decodes):
  Faust would otherwise decode them itself and ack undecodable ones before we could dead-letter them.

`FaustEdge` is all the service sees of Faust: build the app, add a periodic check that may stop
the projector, run the worker. Another Kafka client would mean another class like it, handing the
same batches to `projector.loop.project`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from mode import CrashingSupervisor

from projector.kafka.bulk import BatchingApp, Taken, take_batches
from projector.kafka.membership import PromptTableManager
from projector.loop import project
from projector.metrics import Metrics
from projector.pipeline import BatchHandler
from projector.settings import ProjectorSettings
from schemas.kafka_connection import KafkaConnection


class FaustEdge:
    """The projector on Faust: the app (`create_app`), periodic checks that may stop it, its worker.

    `handler_factory` makes the batch handler once the worker runs; the loop
    runs every batch of the events topic through it until the worker stops (SIGTERM, SIGINT) or
    crashes (a failed commit, a check that says stop)."""

    def __init__(self, settings: ProjectorSettings, handler_factory: Callable[[], BatchHandler]) -> None:
        self.settings = settings
        self.app = create_app(settings, handler_factory)

    def every(self, interval_s: float, name: str, check: Callable[[], Awaitable[BaseException | None]]) -> None:
        """Run `check` every `interval_s` seconds; when it returns an error, crash the worker with it
        (exit 1)."""
        app = self.app

        @app.timer(interval_s, name=name)
        async def _check() -> None:
            stop = await check()
            if stop is not None:
                await app.crash(stop)

    def run(self) -> int:
        """Run the worker until it stops: 0 after SIGTERM/SIGINT, 1 after a crash."""
        settings = self.settings
        # Logging stays ours (projector.service.configure_logging): Faust's worker would add a
        # second, plain-text handler and, at WARNING or ERROR, a terminal spinner that lowers the
        # root logger to DEBUG to turn on every record, so that every debug line of Faust and
        # aiokafka was built (a cost measured in docs/benchmarks.md).
        worker = faust.Worker(self.app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False,
                              override_logging=False)
        worker.spinner = None
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0


def create_app(
    settings: ProjectorSettings,
    handler_factory: Callable[[], BatchHandler],
) -> faust.App:
    app = BatchingApp(
        settings.consumer_group,
        broker=[f"kafka://{h}" for h in settings.hosts()],
        broker_credentials=broker_credentials(settings.connection()),
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # A static member (projector.membership): restarted, it takes its partitions back at once.
        consumer_group_instance_id=settings.instance_id,
        TableManager=PromptTableManager,
        broker_commit_interval=1.0,
        # A SIGKILLed projector is expelled from the group after this, not Faust's default 60 s.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        web_enabled=False,
        # Faust makes this directory even with the memory store: not in the working directory.
        datadir=os.path.join(tempfile.gettempdir(), "enrichlog-faust-{conf.name}"),
        # The channel holds fetched items (one partition's records of one fetch, up to
        # broker_max_poll_records), not single events: 4 of them bound what waits in memory, and
        # more held more memory without more throughput (docs/benchmarks.md).
        stream_buffer_maxsize=4,
        broker_max_poll_records=max(500, settings.batch_max),
    )
    app.bulk_topics = frozenset({settings.events_topic})
    topic = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    state: dict[str, BatchHandler] = {}

    @app.agent(topic, name="project", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def project_events(stream: faust.StreamT[Any]) -> None:
        handler = state.setdefault("handler", handler_factory())
        batches = take_batches(stream, settings.batch_max, settings.batch_window_s,
                               acked=lambda batch: _report_lag(app, handler.metrics, batch))
        await project(batches, handler)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust types receivers as sync
    async def _close(app: faust.App, **_: Any) -> None:  # the batch in hand was committed or not at all
        handler = state.get("handler")
        if handler is not None:
            await handler.dead_letters.close()
            await handler.store.close()

    return app


def broker_credentials(kafka: KafkaConnection) -> Any:
    """Faust's form of the connection's TLS and SASL settings (its aiokafka consumer, producer and
    topic creation all read them): SASL credentials, carrying the TLS context for SASL_SSL; the TLS
    context alone for SSL; None for PLAINTEXT."""
    context = kafka.ssl_context()
    if kafka.sasl_mechanism:
        return faust.SASLCredentials(username=kafka.sasl_username, ssl_context=context, mechanism=kafka.sasl_mechanism,
                                     password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None)
    return context


def _report_lag(app: faust.App, metrics: Metrics, batch: Taken) -> None:
    for tp, nxt in batch.next_offsets().items():
        try:
            high = app.consumer.highwater(tp)
        except Exception:  # highwater unknown right after assignment: report nothing
            continue
        if high is not None:
            metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, high - nxt))
