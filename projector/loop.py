"""The batch loop: batches from the Kafka edge in, through the pipeline, acknowledged in order.

The edge (projector.kafka) hands over an async iterator of `Batch`es; `project` runs them, one
after the other, in these steps:

1. Decode batch n+1 (parse its records) while batch n commits: parsing is CPU, the commit is
   round trips to PostgreSQL, and the two overlap.
2. Prepare it too (the store folds it ahead of its transaction), but only when the store
   `reads_ahead`: a store that does not needs batch n's new states, known once n has committed.
3. Wait for batch n's commit; if it failed, stop: batch n+1 is neither committed nor acked.
4. Commit batch n+1 (dead letters, then rows and positions in one transaction), then ack it.

So a batch is acked only after its commit, and batches commit and are acked strictly in
order: the edge never sees an ack that passes an unacked batch. A failed commit stops the loop at
once, whether the next batch arrives or the stream goes quiet (the loop raises the commit's
error: the edge turns that into a crash, and what was not acked is read again after the restart;
the positions stored with the rows make the replay harmless). Cancelled (a shutdown), the loop
cancels the commit in flight: it is rolled back and not acked. When the iterator ends, the last
commit is awaited and acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Protocol

from projector.pipeline import BatchHandler, Decoded

log = logging.getLogger("projector.loop")


class Record(Protocol):
    """One message as the edge delivers it (aiokafka's `ConsumerRecord` has these and more; so has
    the pipeline's `RawMessage`)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class Batch(Protocol):
    """Records from the edge, none acknowledged yet, and the way to acknowledge them all."""

    @property
    def records(self) -> Sequence[Record]:
        """The records, in delivery order (each partition's in offset order)."""
        ...

    def ack(self) -> None:
        """Tell the edge every record of the batch is committed: their offsets may be committed too."""
        ...


async def project(batches: AsyncIterable[Batch], handler: BatchHandler) -> None:
    """Run every batch through `handler`, acking each after its commit, in order; raise the first
    failed commit's error (nothing after it is acked). See the module's docstring for the steps."""
    iterator = aiter(batches)
    pending: asyncio.Task[None] | None = None
    try:
        while (batch := await _next_unless_failed(iterator, pending)) is not None:
            decoded = await handler.decode_yielding(batch.records)
            if pending is not None and not handler.reads_ahead:
                await _committed(pending)  # the previous batch's new states are only known once it commits
            await handler.prepare(decoded)  # the store checks, in the write transaction, that it still holds
            if pending is not None:
                await _committed(pending)  # its failure is raised here: nothing after it is acked
            pending = asyncio.ensure_future(_commit_then_ack(handler, batch, decoded))
        if pending is not None:
            await _committed(pending)
    finally:
        if pending is not None and not pending.done():
            pending.cancel()  # rolled back, not acked: re-read after the restart
            with contextlib.suppress(BaseException):
                await pending


async def _commit_then_ack(handler: BatchHandler, batch: Batch, decoded: Decoded) -> None:
    await handler.commit(decoded)
    batch.ack()  # only now: the rows and positions of the batch are committed


async def _committed(pending: asyncio.Task[None]) -> None:
    try:
        await pending
    except asyncio.CancelledError:
        raise
    except Exception:
        log.error("batch commit failed; stopping without acknowledging it", exc_info=True)
        raise


async def _next_unless_failed(iterator: AsyncIterator[Batch], pending: asyncio.Task[None] | None) -> Batch | None:
    """The next batch (None when the iterator ends), or the error of the commit in flight if it fails
    first: a failed commit must stop the loop even when no next batch comes."""
    if pending is None or pending.done():
        if pending is not None:
            await _committed(pending)  # done: raises its failure, if any
        return await anext(iterator, None)
    following = asyncio.ensure_future(_anext(iterator))
    try:
        await asyncio.wait((following, pending), return_when=asyncio.FIRST_COMPLETED)
        if not following.done():  # the commit ended first: raise its failure, or wait for the batch
            await _committed(pending)
        return await following
    finally:
        if not following.done():
            following.cancel()
            with contextlib.suppress(BaseException):
                await following


async def _anext(iterator: AsyncIterator[Batch]) -> Batch | None:
    return await anext(iterator, None)
