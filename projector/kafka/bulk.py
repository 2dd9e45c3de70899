"""Faust, batch by batch: the bulk delivery of the events topic, without Faust's per-message path.

Per message, Faust builds a `Message`, races its delivery against a rebalance with four new tasks,
decodes it into an `Event` through the conductor, puts it in the agent's channel, runs the
stream's processors, sensors and context variables, and acks it: that path, not the projector's
own work, bounded the projector's throughput (docs/benchmarks.md, bench/faust_path.py).

`BatchDrainConsumer` delivers a bulk topic (`BatchingApp.bulk_topics`) one fetched partition at a
time instead: the aiokafka records of each partition of a fetch go into the agent's channel as one
`Fetched` item, under one rebalance race per fetch. `take_batches` cuts the channel into batches,
and a batch's `ack` acks its whole items once it is committed (`ack_fetched`). What mattered of
Faust's per-message path is kept, per item: records read already are skipped, offset gaps are
noted (so commits can pass them), flow control is respected, items of a previous consumer
generation or taken while the flow is stopped for a rebalance are dropped (they are re-read after
the seek), every item handed out is tracked as unacked so that a rebalance waits for its ack
(`Consumer.wait_empty`) before committing, and acking fills the consumer's own bookkeeping of
safe-to-commit offsets. Faust's group membership, assignment, offset commits, rebalances and
shutdown are untouched.

This is written against Faust's private consumer internals (projector.kafka.versions names the
tested versions): `BatchDrainConsumer` overrides `_drain_messages` (a fork of Faust's, which it
replaces) and `_new_consumer_thread`, and uses the consumer's private state through `self`
(`_stopped`, `_commit_every`, `_n_acked`, `_read_offset`, `_buffered_partitions`, `_to_message`,
`_add_gap`, `_wait_next_records`); every other private access is marked `noqa: SLF001`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from projector.kafka.consumer_client import ConsumerThread

# Topics not delivered in bulk (none in the projector) go message by message: yield to the event
# loop every this many (Faust's own drain does it every 100).
_YIELD_EVERY = 500


class Fetched:
    """The records of one partition from one fetch: one item in the agent's channel, tracked by the
    consumer like one message until it is acked (a rebalance waits for it), acked all at once."""

    __slots__ = ("__weakref__", "acked", "generation_id", "records", "refcount", "tp", "tracked")

    def __init__(self, tp: TP, records: list[Any], generation_id: int) -> None:
        self.tp, self.records, self.generation_id = tp, records, generation_id
        self.acked = self.tracked = False
        self.refcount = 1  # what Faust's wait_empty prints of a message it waits for

    def __repr__(self) -> str:
        first, last = self.records[0].offset, self.records[-1].offset
        return f"<Fetched {self.tp.topic}[{self.tp.partition}] offsets {first}..{last} acked={self.acked}>"


class BatchDrainConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, delivering each fetch in bulk.

    For a topic the app delivers in bulk (`BatchingApp.bulk_topics`), the records of each partition
    of a fetch go to the topic's one channel as one `Fetched` item: no per-message `Message`, event,
    decoding or channel put. Every other topic keeps Faust's per-message delivery. What the stock
    drain does per message is kept per fetch: skip what was read already, note offset gaps
    (compacted or transactional topics), respect flow control (a rebalance suspends it), mark the
    records read; and a rebalance that suspends the flow interrupts a delivery that waits.
    """

    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        # projector.kafka.consumer_client: leaves its group on a clean stop, never auto-creates the topic
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - run by Faust's Fetcher
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set  # noqa: SLF001 - as Faust's drain, the fetcher's stop
        commit_every = self._commit_every
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records, active = await self._wait_next_records(1.0)
                generation_id = self.app.consumer_generation_id
                await self.sleep(0)  # the fetch can return at once, again and again: let others run
                if records is not None and not self.should_stop:
                    if not self.flow_active:  # as the stock getmany: a rebalance began, seek back
                        try:
                            await self.perform_seek()
                        except Exception as exc:
                            self.log.warning(f"exception performing seek when flow not active {exc}")
                    elif records:
                        # The stock drain checks this per message; a commit is never inside the race
                        # below, so a rebalance cannot cancel one half-way.
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await self.wait_first(self._deliver(records, active, generation_id),
                                              self.suspend_flow.wait())
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

    async def _deliver(self, records: Mapping[TP, list[Any]], active: set[TP] | None, generation_id: int) -> None:
        app = self.app
        bulk_topics: frozenset[str] = getattr(app, "bulk_topics", frozenset())
        acks_enabled_for = app.topics.acks_enabled_for
        read_offset = self._read_offset
        for tp, recs in records.items():
            if not self.flow_active or app.consumer_generation_id != generation_id:
                return  # a rebalance began: what was fetched is re-read after it
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            r_offset = read_offset[tp]
            if r_offset is not None and recs[0].offset < r_offset:
                recs = [r for r in recs if r.offset >= r_offset]
                if not recs:
                    continue
            if acks_enabled_for(tp.topic):
                await self._note_gaps(tp, r_offset, recs)
            if tp.topic in bulk_topics:
                if not await _put(_channel_of(app, tp).queue, Fetched(tp, recs, generation_id)):
                    return  # Faust cleared the channel for a rebalance: re-read after the seek
            else:
                callback, to_message = self.callback, self._to_message
                for n, record in enumerate(recs, 1):
                    await callback(to_message(tp, record))
                    if n % _YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            read_offset[tp] = recs[-1].offset

    async def _note_gaps(self, tp: TP, r_offset: int | None, recs: list[Any]) -> None:
        """Offsets missing between reads (compacted or transactional topics), noted as the stock drain
        notes them (`_add_gap`'s range is inclusive: the hole itself, which the stock drain passes with
        the next record's offset) so that commits can pass them. A plain topic's fetch has none: O(1)."""
        first, last = recs[0].offset, recs[-1].offset
        if r_offset and first - r_offset > 1:
            await self._add_gap(tp, r_offset + 1, first - 1)
        if last - first + 1 != len(recs):
            for prev, record in itertools.pairwise(recs):
                if record.offset - prev.offset > 1:
                    await self._add_gap(tp, prev.offset + 1, record.offset - 1)


async def _put(queue: Any, item: Fetched) -> bool:
    """Put `item` in an agent's channel, waiting while the flow is suspended or the channel is full.
    False if Faust cleared the channel meanwhile: when the flow resumes after a rebalance, the queue
    cancels its waiting putters (`ThrowableQueue.clear`). That cancellation must not escape as ours:
    inside `wait_first` it would crash the fetcher (and the worker). Faust's conductor guards its
    own waiting puts the same way."""
    put = asyncio.ensure_future(queue.put(item))
    try:
        await asyncio.wait([put])
    except asyncio.CancelledError:  # we were cancelled (the rebalance race): so is the put
        put.cancel()
        raise
    if put.cancelled():
        return False
    put.result()  # any other failure of the put is raised
    return True


def _channel_of(app: Any, tp: TP) -> Any:
    channels = app.topics._tp_index.get(tp) or ()  # noqa: SLF001 - the conductor's channels per partition
    if len(channels) != 1:
        raise RuntimeError(f"topic {tp.topic!r} is delivered in bulk, so it must have exactly one subscriber "
                           f"(one agent, concurrency 1); it has {len(channels)}")
    return next(iter(channels))


def ack_fetched(consumer: Any, fetched: Fetched) -> None:
    """Ack every record of `fetched`, as `Consumer.ack` does one message: the offsets become safe to
    commit, and a rebalance waiting for this item (`wait_empty`) may go on. The consumer's private
    bookkeeping touched here is what `Consumer.ack` itself updates."""
    with ack_lock:
        if fetched.acked:
            return
        fetched.acked = True
        consumer._unacked_messages.discard(fetched)  # noqa: SLF001 - what a rebalance waits for
        tp = fetched.tp
        try:
            if not consumer.app.topics.acks_enabled_for(tp.topic):
                return
            committed = consumer._committed_offset[tp]  # noqa: SLF001 - offsets below it are acked already
            offsets = [r.offset for r in fetched.records if committed is None or r.offset >= committed]
            acked_index = consumer._acked_index[tp]  # noqa: SLF001 - the acked offsets, to skip repeats
            if not acked_index.isdisjoint(offsets):
                offsets = [o for o in offsets if o not in acked_index]
            acked_index.update(offsets)
            consumer._acked[tp].extend(offsets)  # noqa: SLF001 - what the next offset commit may pass
            consumer._n_acked += len(offsets)  # noqa: SLF001 - counts toward broker_commit_every
        finally:
            notify(consumer._waiting_for_ack)  # noqa: SLF001 - wakes a rebalance waiting in wait_empty


class BatchTransport(aiokafka_driver.Transport):
    Consumer = BatchDrainConsumer


class BatchingApp(faust.App):
    """A Faust app whose consumer is `BatchDrainConsumer` (its producer is Faust's own). The topics
    named in `bulk_topics` are delivered in bulk: their one agent reads them with `take_batches`."""

    bulk_topics: frozenset[str] = frozenset()

    def _new_transport(self) -> Any:  # Faust's factory of its transport: ours carries our consumer
        return BatchTransport(self.conf.broker_consumer, self)


@dataclass
class Taken:
    """A batch for the agent (a `projector.loop.Batch`): the records in delivery order (each
    partition's in offset order), and the fetched items they came in, acked by `ack` once the batch
    is committed. `acked`, if given, is then told the batch (the agent reports lag from it)."""

    consumer: Any
    records: list[Any] = field(default_factory=list)
    fetched: list[Fetched] = field(default_factory=list)
    acked: Callable[[Taken], None] | None = None

    def ack(self) -> None:
        for fetched in self.fetched:
            ack_fetched(self.consumer, fetched)
        if self.acked is not None:
            self.acked(self)

    def next_offsets(self) -> dict[TP, int]:
        """Per partition of the batch, the offset after its last record."""
        return {f.tp: f.records[-1].offset + 1 for f in self.fetched}


async def take_batches(stream: faust.StreamT[Any], max_: int, within: float,
                       acked: Callable[[Taken], None] | None = None) -> AsyncIterator[Taken]:
    """Batches of about `max_` records (whole fetched items: a batch may pass `max_` by the last
    item's size) from the agent's stream of a bulk topic, none acked (`acked`: see `Taken`).

    A batch is whatever is waiting when the first item arrives, plus what arrives within `within`
    seconds after it (0: no waiting). While the caller commits one batch, the next one fills up, so
    the batch size follows the commit time: small batches at low rates, full ones under load.
    What the stream would do and matters is kept: items of a previous consumer generation, or read
    while the flow is stopped for a rebalance, are dropped (they are re-read after the seek); every
    item handed out is tracked as unacked, so a rebalance waits for its ack before committing.
    """
    app = stream.app
    consumer = app.consumer
    queue = cast(Any, stream.channel).queue  # the channel this agent's topic is delivered into
    flow_active = app.flow_control.is_active

    def live(item: Fetched) -> bool:
        if not flow_active() or item.generation_id != app.consumer_generation_id:
            return False  # read before a rebalance: Faust seeks back and delivers it again
        if not item.tracked:
            item.tracked = True
            consumer._unacked_messages.add(item)  # type: ignore[attr-defined]  # noqa: SLF001 - see ack_fetched
        return True

    while not stream.should_stop:
        try:
            items = await _take(queue, max_, within, _size)
        except StopAsyncIteration:  # what Faust throws into the channel when the stream stops
            return
        taken = Taken(consumer, acked=acked)
        for item in items:
            if not isinstance(item, Fetched):
                raise TypeError(f"take_batches reads a bulk topic's channel; it got {type(item).__name__}: "
                                f"is {stream.channel} in the app's bulk_topics?")
            if live(item):
                taken.records.extend(item.records)
                taken.fetched.append(item)
        if taken.fetched:
            yield taken


def _size(item: Any) -> int:
    return len(item.records) if isinstance(item, Fetched) else 1


async def _take(queue: Any, max_: int, within: float, size: Callable[[Any], int] = lambda item: 1) -> list[Any]:
    first = await queue.get()  # raises what the conductor threw into the channel
    batch, n = [first], size(first)
    deadline = time.monotonic() + within
    while n < max_:
        if not queue.empty():
            item = queue.get_nowait()
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                break
        batch.append(item)
        n += size(item)
    return batch
