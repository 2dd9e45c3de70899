"""The store's notification (projector.notify): one per committed batch, sent in its transaction, so
a batch rolled back says nothing; a listener on the channel learns the roots the batch touched."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from projector import notify
from projector.ports import Positioned
from projector.store import PostgresStore
from schemas import JobType
from tests.scenarios import Chain, album_chain_with_failed_child

pytestmark = pytest.mark.postgres


@pytest.fixture
def listener(db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"LISTEN {notify.CHANNEL}")
        yield conn


def heard(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """The payloads of the notifications delivered so far (waiting a moment for the last ones)."""
    return [json.loads(n.payload) for n in conn.notifies(timeout=0.5) if n.channel == notify.CHANNEL]


def positioned(events: list[Any], partition: int = 0, first: int = 0) -> list[Positioned]:
    return [Positioned("events", partition, first + i, e) for i, e in enumerate(events)]


def test_a_batch_of_many_rows_is_one_notification_of_its_roots(db: str, listener: psycopg.Connection[Any]) -> None:
    one, events = album_chain_with_failed_child()
    two, more = album_chain_with_failed_child()

    async def go() -> None:
        store = PostgresStore(db, consumer="test")
        await store.apply(positioned(events + more))
        await store.close()

    asyncio.run(go())
    assert heard(listener) == [{"roots": sorted([one.root_id, two.root_id]), "more": False}]


def test_a_replayed_batch_writes_no_row_and_says_nothing(db: str, listener: psycopg.Connection[Any]) -> None:
    chain, events = album_chain_with_failed_child()

    async def go() -> None:
        store = PostgresStore(db, consumer="test")
        await store.apply(positioned(events))
        await store.apply(positioned(events))  # below the stored positions: skipped
        await store.close()

    asyncio.run(go())
    assert heard(listener) == [{"roots": [chain.root_id], "more": False}]


def test_a_batch_rolled_back_is_not_notified(db: str, listener: psycopg.Connection[Any]) -> None:
    """The prepared batch's transaction sends its notification, then finds the row changed under it
    and rolls back; folded again, it commits: one notification of it, not two."""
    c = Chain(root_type=JobType.ENRICH_ARTIST)
    started, retrying, restarted, finished = (c.started(c.root_id), c.retrying(c.root_id, 1),
                                              c.started(c.root_id, 2), c.finished(c.root_id, 2))
    mine, other = PostgresStore(db, consumer="test"), PostgresStore(db, consumer="elsewhere")

    async def go() -> int:
        await mine.apply(positioned([started]))
        prepared = await mine.prepare(positioned([retrying], first=1))
        await other.apply(positioned([restarted, finished], partition=1))
        await mine.apply(positioned([retrying], first=1), prepared)
        for s in (mine, other):
            await s.close()
        return mine.fallbacks

    assert asyncio.run(go()) == 1  # the prepared batch was refused, then applied in its transaction
    assert heard(listener) == [{"roots": [c.root_id], "more": False}] * 3  # mine, the other's, mine again
