"""How the agent cuts its channel's queue into batches (no broker needed: mode's own queue)."""

from __future__ import annotations

import asyncio
import time

import pytest
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from projector.faust_batching import _take


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
