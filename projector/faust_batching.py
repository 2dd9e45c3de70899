"""Faust, batch by batch: the two per-message costs of faust-streaming 0.15.3 the projector avoids.

Measured on this machine with a Faust agent that only acks (bench/faust_path.py): the stock path
delivers about 7,700-8,300 events/s, which capped the projector below that whatever it did with them.
Two places in Faust's per-message path cost nearly all of it:

1. `Consumer._drain_messages` awaits `wait_first(callback(message), suspend_flow.wait())` for every
   message: four new asyncio tasks per message, so that a rebalance can interrupt a delivery that
   blocks. `BatchDrainConsumer` keeps that guarantee but races once per fetched batch: the whole
   batch is delivered in one task, interrupted the same way when the flow is suspended, and every
   message it delivered was marked read first, exactly as before.
2. `Stream` iteration (`noack_take`, `stream.ack`) runs processors, sensors, context variables and a
   buffer hand-off per event. `take_batches` reads the agent's channel queue directly, in bulk, and
   keeps what the stream does that matters: events of a previous consumer generation, or read while
   the flow is stopped for a rebalance, are dropped (they are re-read after the seek); every event
   handed out is tracked as unacked, so a rebalance waits for its ack (`Consumer.wait_empty`) before
   committing; acking stays `Event.ack()`, the consumer's own bookkeeping of safe-to-commit offsets.

With both, the same agent acks about 34,000-36,000 events/s. Faust's group membership, assignment, offset
commits, rebalances and shutdown are untouched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, EventT

# Yield to the event loop every this many delivered messages (Faust's own drain does it every 100).
_YIELD_EVERY = 500


class BatchDrainConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, delivering each fetched batch under one rebalance race."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - run by Faust's Fetcher
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        commit_every = self._commit_every
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = [item async for item in self.getmany(timeout=1.0)]
                await self.sleep(0)  # getmany can return at once, again and again: let others run
                if records and not self.should_stop:
                    # The stock drain checks this per message; a commit is never inside the race
                    # below, so a rebalance cannot cancel one half-way.
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    await self.wait_first(self._deliver(records), self.suspend_flow.wait())
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, records: Sequence[tuple[TP, Any]]) -> None:
        """The body of the stock drain loop, for a whole batch: skip what was read already, note
        gaps (compacted or transactional topics), hand each message to the conductor, mark it read."""
        callback = self.callback
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        for n, (tp, message) in enumerate(records, 1):
            offset = message.offset
            r_offset = get_read_offset(tp)
            if r_offset is None or offset >= r_offset:
                if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                await callback(message)
                set_read_offset(tp, offset)
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)


class BatchTransport(aiokafka_driver.Transport):
    Consumer = BatchDrainConsumer


class BatchingApp(faust.App):
    """A Faust app whose consumer is `BatchDrainConsumer` (its producer is Faust's own)."""

    def _new_transport(self) -> Any:
        return BatchTransport(self.conf.broker_consumer, self)


async def take_batches(stream: faust.StreamT[Any], max_: int, within: float) -> AsyncIterator[list[EventT]]:
    """Lists of at most `max_` events from the agent's stream, none acked.

    A batch is whatever is waiting when the first event arrives, plus what arrives within `within`
    seconds after it (0: no waiting). While the caller commits one batch, the next one fills up, so
    the batch size follows the commit time: small batches at low rates, full ones under load.
    """
    app = stream.app
    consumer = app.consumer
    acking_topics = app.topics.acking_topics
    queue = cast(Any, stream.channel).queue  # the channel Faust delivers this agent's events into
    flow_active = app.flow_control.is_active

    def live(event: EventT) -> bool:
        message = event.message
        if not flow_active() or message.generation_id != app.consumer_generation_id:
            return False  # read before a rebalance: Faust seeks back and delivers it again
        if message.topic in acking_topics and not message.tracked:
            message.tracked = True
            consumer.track_message(message)
        return True

    while not stream.should_stop:
        try:
            batch = await _take(queue, max_, within)
        except StopAsyncIteration:  # what Faust throws into the channel when the stream stops
            return
        events = [event for event in batch if live(event)]
        if events:
            yield events


async def _take(queue: Any, max_: int, within: float) -> list[EventT]:
    batch = [await queue.get()]  # raises what the conductor threw into the channel
    deadline = time.monotonic() + within
    while len(batch) < max_:
        if not queue.empty():
            batch.append(queue.get_nowait())
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            batch.append(await asyncio.wait_for(queue.get(), remaining))
        except TimeoutError:
            break
    return batch
