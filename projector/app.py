"""The Faust edge: read raw messages in batches, hand them to the pipeline, ack after commit.

What faust-streaming 0.15.3 does, and why the agent is written this way (see the README):
- `take()` would ack the whole batch in a `finally`, even when writing it failed. The agent takes
  unacked batches (`faust_batching.take_batches`: the events topic is delivered in bulk, one item
  per fetched partition, a much faster `noack_take`) and acks them only after the store committed.
- Faust's commit can pass an unacked offset (faust-streaming issue 606), so the agent runs with
  concurrency 1 and acks every record of a committed batch, in order: no gap is ever left.
- Any exception crashes the agent; `CrashingSupervisor` turns that into a worker exit (status 1)
  instead of restarting the actor on the same stream past the failed batch. The unacked batch is
  re-read after the restart, and the positions stored with the rows make the replay harmless.
- Values stay raw bytes (the bulk delivery hands over aiokafka's records, which Faust never decodes):
  Faust would otherwise decode them itself and ack undecodable ones before we could dead-letter them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

import faust
from mode import CrashingSupervisor

from projector.faust_batching import BatchingApp, Taken, ack_fetched, take_batches
from projector.membership import PromptTableManager
from projector.pipeline import BatchHandler, Decoded
from projector.settings import ProjectorSettings
from schemas.kafka_connection import KafkaConnection

log = logging.getLogger("projector.app")


def create_app(
    settings: ProjectorSettings,
    handler_factory: Callable[[faust.App], BatchHandler],
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
        # broker_max_poll_records), not single events: 4 of them bound what waits in memory. With
        # 16, two processes at full speed held 298-310 MB together; with 4, 264 MB (135 MB each),
        # at the same throughput (bench/projector.py --workers 2, run alternately).
        stream_buffer_maxsize=4,
        broker_max_poll_records=max(500, settings.batch_max),
    )
    app.bulk_topics = frozenset({settings.events_topic})
    topic = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    state: dict[str, BatchHandler] = {}

    @app.agent(topic, name="project", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def project(stream: faust.StreamT[Any]) -> None:
        handler = state.setdefault("handler", handler_factory(app))
        pending: asyncio.Task[None] | None = None
        try:
            async for batch in take_batches(stream, settings.batch_max, settings.batch_window_s):
                # Parse this batch while the previous one commits; commits stay strictly in order.
                decoded = await handler.decode_yielding(batch.records)
                if pending is not None and not handler.reads_ahead:
                    await pending  # the previous batch's new states are only known once it commits
                # Fold it too while the previous batch commits (the store checks, in the write
                # transaction, that what it read ahead still holds).
                await handler.prepare(decoded)
                if pending is not None:
                    await pending  # re-raises the previous batch's failure: nothing after it is acked
                pending = asyncio.ensure_future(_commit_then_ack(app, handler, batch, decoded))
                # If the stream goes quiet, no next batch awaits this one: crash from here instead,
                # so a failed commit never leaves a healthy-looking, stalled projector.
                pending.add_done_callback(lambda task: _crash_on_failure(app, task))
            if pending is not None:
                await pending
        finally:
            if pending is not None and not pending.done():
                pending.cancel()  # rolled back, not acked: re-read after the restart
                with contextlib.suppress(BaseException):
                    await pending

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


def _crash_on_failure(app: faust.App, task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    log.error("batch commit failed; stopping without acknowledging it", exc_info=task.exception())
    _CRASHES.add(asyncio.ensure_future(app.crash(task.exception())))  # type: ignore[arg-type]


_CRASHES: set[asyncio.Future[None]] = set()  # a reference, so the crash task is not collected early


async def _commit_then_ack(app: faust.App, handler: BatchHandler, batch: Taken, decoded: Decoded) -> None:
    result = await handler.commit(decoded)
    for fetched in batch.fetched:  # only now: the rows and positions of the batch are committed
        ack_fetched(app.consumer, fetched)
    _report_lag(app, handler, result.next_offsets)


def _report_lag(app: faust.App, handler: BatchHandler, next_offsets: dict[tuple[str, int], int]) -> None:
    from faust.types import TP

    for (topic, partition), nxt in next_offsets.items():
        try:
            high = app.consumer.highwater(TP(topic, partition))
        except Exception:  # highwater unknown right after assignment: report nothing
            continue
        if high is not None:
            handler.metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(max(0, high - nxt))
