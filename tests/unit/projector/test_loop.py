"""The batch loop (projector.loop) without Faust and without Kafka: batches from a plain async
generator, acks recorded, the in-memory store and failing or slow versions of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from projector.deadletter import ListDeadLetters, RawMessage
from projector.errors import StoreError
from projector.loop import project
from projector.memory_store import InMemoryStore
from projector.pipeline import BatchHandler
from projector.ports import ApplyResult, Positioned
from schemas import dump_event
from tests.scenarios import album_chain_with_failed_child

WAIT_S = 10.0  # what a step that should happen at once may take on a loaded machine


class RecordedBatch:
    """A batch that says in `log` when its records are read (to be decoded) and when it is acked."""

    def __init__(self, n: int, records: list[RawMessage], log: list[str]) -> None:
        self.n, self._records, self.log = n, records, log
        self.on_decode: Callable[[], None] = lambda: None

    @property
    def records(self) -> Sequence[RawMessage]:
        self.log.append(f"decode {self.n}")
        self.on_decode()
        return self._records

    def ack(self) -> None:
        self.log.append(f"ack {self.n}")


def _batches(log: list[str], count: int = 3, per_batch: int = 2) -> list[RecordedBatch]:
    _, events = album_chain_with_failed_child()
    values = [dump_event(e) for e in events]
    assert len(values) >= count * per_batch
    return [RecordedBatch(n, [RawMessage("events", 0, o, b"k", values[o])
                              for o in range(n * per_batch, (n + 1) * per_batch)], log)
            for n in range(count)]


async def _stream(batches: list[RecordedBatch], quiet_after: bool = False) -> AsyncIterator[RecordedBatch]:
    for batch in batches:
        yield batch
    if quiet_after:  # the stream goes quiet: no next batch, no end either
        await asyncio.Event().wait()


class LoggedStore(InMemoryStore):
    """The in-memory store, saying in `log` when it prepares and applies batch n (the batch's first
    offset tells which), optionally failing the apply of one batch or holding it until an event."""

    def __init__(self, log: list[str], per_batch: int = 2, reads_ahead: bool = False,
                 fail: int | None = None) -> None:
        super().__init__()
        self.log, self.per_batch, self.fail = log, per_batch, fail
        self.reads_ahead = reads_ahead
        self.hold: dict[int, asyncio.Event] = {}  # batch n's apply waits for this event

    def _n(self, batch: Sequence[Positioned]) -> int:
        return batch[0].offset // self.per_batch

    async def prepare(self, batch: Sequence[Positioned]) -> None:
        self.log.append(f"prepare {self._n(batch)}")

    async def apply(self, batch: Sequence[Positioned], prepared: Any = None) -> ApplyResult:
        n = self._n(batch)
        self.log.append(f"apply {n}")
        try:
            if n in self.hold:
                await asyncio.wait_for(self.hold[n].wait(), WAIT_S)
            else:
                await asyncio.sleep(0.05)  # a round trip: the loop may go on meanwhile
        except asyncio.CancelledError:
            self.log.append(f"cancelled {n}")
            raise
        if n == self.fail:
            self.log.append(f"failed {n}")
            raise StoreError(f"batch {n} rejected")
        result = await super().apply(batch, prepared)
        self.log.append(f"committed {n}")
        return result


def _acks(log: list[str]) -> list[str]:
    return [line for line in log if line.startswith("ack")]


def test_each_batch_is_acked_after_its_commit_in_order() -> None:
    log: list[str] = []
    store = LoggedStore(log)
    asyncio.run(project(_stream(_batches(log)), BatchHandler(store, ListDeadLetters())))
    assert _acks(log) == ["ack 0", "ack 1", "ack 2"]
    for n in range(3):
        assert log.index(f"committed {n}") < log.index(f"ack {n}")
    assert asyncio.run(store.positions("events")) == {0: 6}


def test_a_failed_commit_stops_the_loop_and_nothing_after_it_is_acked() -> None:
    log: list[str] = []
    store = LoggedStore(log, fail=1)
    with pytest.raises(StoreError, match="batch 1 rejected"):
        asyncio.run(project(_stream(_batches(log, count=4)), BatchHandler(store, ListDeadLetters())))
    assert _acks(log) == ["ack 0"]
    assert "apply 2" not in log and "apply 3" not in log  # the next batch is never committed
    assert asyncio.run(store.positions("events")) == {0: 2}


def test_a_failed_commit_stops_the_loop_when_the_stream_goes_quiet() -> None:
    log: list[str] = []
    store = LoggedStore(log, fail=1)

    async def run() -> None:
        handler = BatchHandler(store, ListDeadLetters())
        await asyncio.wait_for(project(_stream(_batches(log, count=2), quiet_after=True), handler), WAIT_S)

    with pytest.raises(StoreError, match="batch 1 rejected"):
        asyncio.run(run())
    assert _acks(log) == ["ack 0"]


def test_the_next_batch_is_decoded_and_prepared_while_the_previous_one_commits() -> None:
    log: list[str] = []
    store = LoggedStore(log, reads_ahead=True)

    async def run() -> None:
        # Batch 0's commit is held until batch 1 is prepared: only a loop that reads ahead gets there.
        store.hold[0] = asyncio.Event()
        prepare = store.prepare

        async def prepare_then_release(batch: Sequence[Positioned]) -> None:
            await prepare(batch)
            if store._n(batch) == 1:
                store.hold[0].set()

        store.prepare = prepare_then_release  # type: ignore[method-assign]
        await project(_stream(_batches(log)), BatchHandler(store, ListDeadLetters()))

    asyncio.run(run())
    assert log.index("apply 0") < log.index("decode 1") < log.index("prepare 1") < log.index("committed 0")
    assert _acks(log) == ["ack 0", "ack 1", "ack 2"]


def test_a_store_that_does_not_read_ahead_prepares_after_the_previous_commit() -> None:
    log: list[str] = []
    store = LoggedStore(log, reads_ahead=False)

    async def run() -> None:
        # Batch 0's commit is held until batch 1 is decoded: the parsing is read ahead all the same.
        store.hold[0] = asyncio.Event()
        batches = _batches(log)
        batches[1].on_decode = store.hold[0].set
        await project(_stream(batches), BatchHandler(store, ListDeadLetters()))

    asyncio.run(run())
    assert log.index("apply 0") < log.index("decode 1") < log.index("committed 0") < log.index("prepare 1")
    assert _acks(log) == ["ack 0", "ack 1", "ack 2"]


@pytest.mark.parametrize("waiting_for", ["the commit", "the next batch"])
def test_cancelled_the_loop_leaves_the_batch_in_flight_unacked_and_uncommitted(waiting_for: str) -> None:
    log: list[str] = []
    store = LoggedStore(log)
    # With a batch after it, the loop waits for batch 1's commit; without, for the quiet stream.
    stream = _stream(_batches(log), quiet_after=False) if waiting_for == "the commit" else \
        _stream(_batches(log, count=2), quiet_after=True)

    async def run() -> None:
        store.hold[1] = asyncio.Event()  # never set: batch 1's commit is in flight when the loop is cancelled
        task = asyncio.ensure_future(project(stream, BatchHandler(store, ListDeadLetters())))
        async with asyncio.timeout(WAIT_S):
            while "apply 1" not in log:
                await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert "cancelled 1" in log and "committed 1" not in log
    assert _acks(log) == ["ack 0"]
    assert asyncio.run(store.positions("events")) == {0: 2}


def test_a_batch_ending_the_stream_is_committed_and_acked() -> None:
    log: list[str] = []
    store = LoggedStore(log)
    asyncio.run(project(_stream(_batches(log, count=1)), BatchHandler(store, ListDeadLetters())))
    assert log == ["decode 0", "prepare 0", "apply 0", "committed 0", "ack 0"]
