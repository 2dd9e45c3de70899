"""The batch pipeline around the store: dead letters, positions, replays, database outages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from projector.deadletter import ListDeadLetters, RawMessage
from projector.errors import StoreError, StoreUnavailable
from projector.memory_store import InMemoryStore
from projector.pipeline import BatchHandler, RetryPolicy
from projector.ports import ApplyResult, Positioned
from schemas import dump_event
from tests.scenarios import album_chain_with_failed_child


def _messages(values: Sequence[bytes | None], topic: str = "events", partition: int = 0) -> list[RawMessage]:
    return [RawMessage(topic, partition, i, b"k", v, (("trace", b"1"),)) for i, v in enumerate(values)]


def _run(handler: BatchHandler, messages: list[RawMessage]) -> ApplyResult:
    return asyncio.run(handler.handle(messages))


def test_good_events_are_folded_and_positions_advance() -> None:
    _, events = album_chain_with_failed_child()
    store, dlq = InMemoryStore(), ListDeadLetters()
    result = _run(BatchHandler(store, dlq), _messages([dump_event(e) for e in events]))
    assert result.applied == len(events) and result.next_offsets == {("events", 0): len(events)}
    assert len(store.rows()) == 3 and dlq.sent == []
    assert asyncio.run(store.positions("events")) == {0: len(events)}


def test_replayed_batch_changes_nothing() -> None:
    _, events = album_chain_with_failed_child()
    store = InMemoryStore()
    handler = BatchHandler(store, ListDeadLetters())
    messages = _messages([dump_event(e) for e in events])
    _run(handler, messages)
    before = store.rows()
    again = _run(handler, messages)
    assert (again.applied, again.skipped) == (0, len(events)) and store.rows() == before


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe\x00", "undecodable"),
        (b"{not json", "invalid-json"),
        (b'{"kind": "job.started"}', "schema"),
        (None, "undecodable"),
    ],
)
def test_bad_messages_go_to_dead_letters_and_do_not_stop_the_stream(value: bytes | None, reason: str) -> None:
    _, events = album_chain_with_failed_child()
    good = [dump_event(e) for e in events]
    store, dlq = InMemoryStore(), ListDeadLetters()
    result = _run(BatchHandler(store, dlq), _messages([good[0], value, *good[1:]]))
    assert len(store.rows()) == 3 and result.applied == len(events)
    [(message, got_reason, error)] = dlq.sent
    assert (message.offset, message.value, got_reason) == (1, value, reason) and error
    assert result.next_offsets == {("events", 0): len(events) + 1}  # the bad one is consumed too


def test_unknown_job_type_and_future_major_version_are_dead_lettered() -> None:
    _, events = album_chain_with_failed_child()
    raw = dump_event(events[0])
    unknown = raw.replace(b"CHECK_ALBUM_ENRICHMENT", b"ENRICH_PODCAST")
    future = raw.replace(b'"schemaVersion":"1.0"', b'"schemaVersion":"2.0"')
    dlq = ListDeadLetters()
    _run(BatchHandler(InMemoryStore(), dlq), _messages([unknown, future]))
    assert [(m.offset, r) for m, r, _ in dlq.sent] == [(0, "schema"), (1, "unsupported-version")]
    assert "jobType" in dlq.sent[0][2]


class FlakyStore(InMemoryStore):
    """Our own store port, failing the first `failures` calls as an unreachable database would."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__()
        self.failures, self.error, self.calls = failures, error, 0

    async def apply(self, batch: Sequence[Positioned], prepared: Any = None) -> ApplyResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return await super().apply(batch)


async def _no_sleep(_: float) -> None:
    return None


def test_unavailable_database_is_retried_then_catches_up() -> None:
    _, events = album_chain_with_failed_child()
    store = FlakyStore(3, StoreUnavailable("connection refused"))
    handler = BatchHandler(store, ListDeadLetters(), sleep=_no_sleep)
    result = _run(handler, _messages([dump_event(e) for e in events]))
    assert store.calls == 4 and result.applied == len(events)
    assert handler.metrics.db_errors.labels(kind="unavailable")._value.get() == 3


def test_gives_up_after_the_retry_budget_without_advancing() -> None:
    _, events = album_chain_with_failed_child()
    store = FlakyStore(10**6, StoreUnavailable("connection refused"))
    handler = BatchHandler(store, ListDeadLetters(), retry=RetryPolicy(0.01, 0.01, 0.05))
    with pytest.raises(StoreUnavailable, match="gave up"):
        _run(handler, _messages([dump_event(e) for e in events]))
    assert asyncio.run(store.positions("events")) == {}


def test_a_store_that_rejects_even_positions_stops_the_projector() -> None:
    """Not an event's fault (e.g. the positions table is broken): no retry loop, no silent skip."""
    _, events = album_chain_with_failed_child()
    store = FlakyStore(10**6, StoreError("permission denied for table enrichment_log_positions"))
    dlq = ListDeadLetters()
    with pytest.raises(StoreError, match="permission denied"):
        _run(BatchHandler(store, dlq, sleep=_no_sleep), _messages([dump_event(events[0])]))
    assert store.calls == 1 and asyncio.run(store.positions("events")) == {}
    assert dlq.sent == []  # not the event's fault: nothing is dead-lettered


class PoisonStore(InMemoryStore):
    """Our own store port, rejecting every transaction that holds one given job's events."""

    def __init__(self, poison_job: str) -> None:
        super().__init__()
        self.poison_job, self.transactions = poison_job, 0

    async def apply(self, batch: Sequence[Positioned], prepared: Any = None) -> ApplyResult:
        self.transactions += 1
        if any(p.event is not None and p.event.job_id == self.poison_job for p in batch):
            raise StoreError("value rejected by a constraint", poison=True)
        return await super().apply(batch)


def test_an_event_the_database_rejects_is_isolated_and_dead_lettered() -> None:
    c, events = album_chain_with_failed_child()
    poison_job = f"{c.root_id}/cover"
    store, dlq = PoisonStore(poison_job), ListDeadLetters()
    result = _run(BatchHandler(store, dlq), _messages([dump_event(e) for e in events]))
    poisoned = [i for i, e in enumerate(events) if e.job_id == poison_job]
    assert sorted(m.offset for m, _, _ in dlq.sent) == poisoned
    assert {r for _, r, _ in dlq.sent} == {"store-rejected"}
    assert set(store.rows()) == {c.root_id, f"{c.root_id}/enrich"}
    assert result.applied == len(events) - len(poisoned)
    assert asyncio.run(store.positions("events")) == {0: len(events)}


def test_a_deployment_error_never_dead_letters_the_stream() -> None:
    """A missing index or grant rejects every event: the projector stops, it does not blame events."""
    _, events = album_chain_with_failed_child()
    store = FlakyStore(10**6, StoreError("no unique or exclusion constraint matching the ON CONFLICT"))
    dlq = ListDeadLetters()
    with pytest.raises(StoreError, match="ON CONFLICT"):
        _run(BatchHandler(store, dlq, sleep=_no_sleep), _messages([dump_event(e) for e in events]))
    assert dlq.sent == [] and store.calls == 1
