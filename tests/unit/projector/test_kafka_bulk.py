"""How the agent cuts its channel's queue into batches, and how a batch is acked to Faust's consumer
(no broker needed: mode's own queue, and a Faust consumer that is never started)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from projector.kafka.bulk import BatchingApp, Fetched, Taken, _channel_of, _take, ack_fetched


def _queue(items: list[int]) -> ThrowableQueue[int]:
    flow = FlowControlEvent(initially_suspended=False)
    q: ThrowableQueue[int] = ThrowableQueue(maxsize=100, flow_control=flow)
    for i in items:
        q.put_nowait(i)
    return q


def test_takes_what_is_waiting_up_to_the_maximum_in_order() -> None:
    async def go() -> list[list[int]]:
        q = _queue(list(range(7)))
        return [await _take(q, 3, 0), await _take(q, 3, 0), await _take(q, 3, 0)]

    assert asyncio.run(go()) == [[0, 1, 2], [3, 4, 5], [6]]


def test_without_a_window_a_lone_event_is_not_held_back() -> None:
    async def go() -> tuple[list[int], float]:
        q = _queue([1])
        t = time.monotonic()
        return await _take(q, 100, 0), time.monotonic() - t

    batch, took = asyncio.run(go())
    assert batch == [1] and took < 0.5


def test_the_window_collects_what_arrives_after_the_first_event() -> None:
    async def go() -> list[int]:
        q = _queue([1])

        async def later() -> None:
            await asyncio.sleep(0.02)
            await q.put(2)

        task = asyncio.ensure_future(later())
        batch = await _take(q, 100, 0.3)
        await task
        return batch

    assert asyncio.run(go()) == [1, 2]


def test_a_full_batch_does_not_wait_for_the_window() -> None:
    async def go() -> tuple[list[int], float]:
        q = _queue([1, 2])
        t = time.monotonic()
        return await _take(q, 2, 30.0), time.monotonic() - t

    batch, took = asyncio.run(go())
    assert batch == [1, 2] and took < 5


def test_an_error_thrown_into_the_channel_is_raised() -> None:
    async def go() -> None:
        q = _queue([])
        await q.throw(StopAsyncIteration())
        await _take(q, 10, 0)

    with pytest.raises(StopAsyncIteration):
        asyncio.run(go())


def test_the_maximum_counts_the_records_of_fetched_items_not_the_items() -> None:
    async def go() -> list[list[int]]:
        q = _queue([3, 3, 1, 5])  # items of 3, 3, 1 and 5 records
        return [await _take(q, 4, 0, size=lambda n: n), await _take(q, 4, 0, size=lambda n: n)]

    # a batch stops once it holds max_ records or more: whole items are never split
    assert asyncio.run(go()) == [[3, 3], [1, 5]]


# Faust's own consumer bookkeeping (a real `Consumer` of a real app, never started: no broker):
# what `ack_fetched` leaves must be what Faust's commit reads.

def _record(offset: int, partition: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("events", partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


@pytest.fixture
def consumer() -> Any:
    app = BatchingApp("unit-bulk", broker="kafka://127.0.0.1:9", store="memory://", web_enabled=False,
                      datadir=os.path.join(tempfile.gettempdir(), "enrichlog-faust-unit"))
    app.bulk_topics = frozenset({"events"})
    app.topics.add(app.topic("events", acks=True, value_type=bytes, value_serializer="raw"))
    asyncio.run(app.topics._update_indices())  # type: ignore[attr-defined]  # what Faust does when it subscribes
    assert app.topics.acks_enabled_for("events")
    return app.consumer


def test_a_bulk_topic_must_have_exactly_one_subscriber(consumer: Any) -> None:
    app, tp = consumer.app, TP("events", 0)
    asyncio.run(app.topics.on_partitions_assigned({tp}))
    assert _channel_of(app, tp).get_topic_name() == "events"
    app.topics.add(app.topic("events", value_type=bytes, value_serializer="raw"))  # a second agent on it
    asyncio.run(app.topics._update_indices())
    asyncio.run(app.topics.on_partitions_assigned({tp}))
    with pytest.raises(RuntimeError, match="exactly one subscriber"):
        _channel_of(app, tp)


def test_acking_a_fetched_item_makes_all_its_offsets_committable(consumer: Any) -> None:
    tp = TP("events", 0)
    item = Fetched(tp, [_record(o) for o in range(10, 15)], generation_id=0)
    consumer._unacked_messages.add(item)
    consumer._committed_offset[tp] = 10
    ack_fetched(consumer, item)
    assert item.acked and item not in consumer.unacked
    assert consumer._n_acked == 5
    assert consumer._new_offset(tp) == 15  # Faust commits the offset after the last acked record


def test_acking_twice_or_acking_what_is_committed_changes_nothing(consumer: Any) -> None:
    tp = TP("events", 0)
    consumer._committed_offset[tp] = 12
    first = Fetched(tp, [_record(o) for o in range(10, 14)], generation_id=0)
    ack_fetched(consumer, first)
    ack_fetched(consumer, first)
    again = Fetched(tp, [_record(13), _record(14)], generation_id=0)  # a re-delivery overlapping the first
    ack_fetched(consumer, again)
    assert consumer._acked[tp] == [12, 13, 14]  # 10 and 11 were committed already; 13 only once
    assert consumer._n_acked == 3
    assert consumer._new_offset(tp) == 15


def test_unacked_items_hold_back_the_commit_of_later_ones(consumer: Any) -> None:
    tp = TP("events", 0)
    consumer._committed_offset[tp] = 10
    early, late = (Fetched(tp, [_record(o) for o in r], generation_id=0) for r in (range(10, 13), range(13, 16)))
    ack_fetched(consumer, late)
    assert consumer._new_offset(tp) is None  # offsets 10-12 are not acked: nothing may be committed
    ack_fetched(consumer, early)
    assert consumer._new_offset(tp) == 16


def test_offset_gaps_in_a_fetch_are_noted_so_that_commits_pass_them(consumer: Any) -> None:
    tp = TP("events", 0)
    consumer._committed_offset[tp] = 5
    records = [_record(o) for o in (5, 6, 9, 10)]  # 7 and 8 are gone (compaction, transaction markers)

    async def go() -> None:
        await consumer._note_gaps(tp, None, records)

    asyncio.run(go())
    ack_fetched(consumer, Fetched(tp, records, generation_id=0))
    assert consumer._new_offset(tp) == 11


def test_a_batch_acks_all_its_items_then_says_where_each_partition_stands(consumer: Any) -> None:
    tp0, tp1 = TP("events", 0), TP("events", 1)
    consumer._committed_offset[tp0] = consumer._committed_offset[tp1] = 0
    items = [Fetched(tp0, [_record(o) for o in range(0, 3)], generation_id=0),
             Fetched(tp1, [_record(o, partition=1) for o in range(0, 2)], generation_id=0),
             Fetched(tp0, [_record(o) for o in range(3, 5)], generation_id=0)]  # a second fetch of partition 0
    told: list[dict[TP, int]] = []
    batch = Taken(consumer, [r for item in items for r in item.records], items,
                  acked=lambda taken: told.append(taken.next_offsets()))
    batch.ack()
    assert all(item.acked for item in items)
    assert (consumer._new_offset(tp0), consumer._new_offset(tp1)) == (5, 2)
    assert told == [{tp0: 5, tp1: 2}]
