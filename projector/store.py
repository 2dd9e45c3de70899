"""Where the fold's results go: one transaction per batch, positions included.

The store owns the transaction, and only it (the rows are projector.rows', their encoding
projector.pgcopy's). It locks the consumed positions of the batch's partitions, drops events the
table already holds (offset below the stored position: a replay after a crash changes nothing),
folds the rest onto the stored states, writes the rows with COPY and INSERT ... ON CONFLICT,
re-derives the roots' PARTIAL status, advances the positions, notifies listeners (projector.notify)
and commits. The fold may be made ahead, while the previous batch commits (`prepare`); the
transaction then checks what it assumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from projector import db, notify
from projector import sql as q
from projector.errors import StoreError
from projector.fold import fold_by_job
from projector.metrics import Metrics
from projector.pgcopy import copy_data, row_copy, source_field
from projector.ports import ApplyResult, Positioned, offsets_after
from projector.rows import failed_children_of, roots_to_recount, state_of_row
from projector.state import JobState
from schemas import JobEvent

log = logging.getLogger("projector.store")

def _by_topic(tps: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """(topic, partition) pairs as topic -> sorted partitions."""
    out: dict[str, list[int]] = defaultdict(list)
    for topic, partition in tps:
        out[topic].append(partition)
    return {topic: sorted(partitions) for topic, partitions in out.items()}


def _sources(batch: Sequence[Positioned], next_offsets: dict[tuple[str, int], int]) -> bytes | dict[str, bytes]:
    """The source_topic of the batch's rows (projector.pgcopy.source_field): one for all when the
    batch is of one topic (a projector's always is), else per job, the topic of its first event."""
    topics = {topic for topic, _ in next_offsets}
    if len(topics) == 1:
        return source_field(topics.pop())
    return {m.event.job_id: source_field(m.topic) for m in reversed(batch) if m.event is not None}


@dataclass
class Prepared:
    """A batch folded ahead of its transaction (see `PostgresStore.prepare`)."""

    epoch: int
    start: dict[tuple[str, int], int]  # where each partition must stand when the batch is written
    end: dict[tuple[str, int], int]  # where it stands after
    states: dict[str, tuple[JobState, int]]  # every touched job's new state and row version
    roots: list[str]
    inserts: bytes  # the rows of jobs without a stored row, as COPY data (projector.pgcopy); b"": none
    updates: bytes  # the rows of the other jobs, likewise
    result: ApplyResult
    # Per partition, the offsets of the batch below its stored position (first, last): not applied.
    below: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    notice: str | None = None  # the batch's notification (projector.notify); None: no row written


class _Stale(Exception):
    """The database is not where a folded batch assumed: someone else wrote the rows or positions.
    The message says what differed, `reason` is the metric's label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_STAGE_HINTS = {
    **db.HINTS,
    db.INSUFFICIENT_PRIVILEGE: "; the projector's role needs the TEMPORARY privilege on the database "
                               "(GRANT TEMPORARY ON DATABASE <database> TO <role>)",
}
_IN_TRANSACTION_ATTEMPTS = 5
_YIELD_EVERY = 250  # rows encoded between two yields to the event loop


class PostgresStore:
    """The PostgreSQL store: one connection for the writes, one for the reads ahead.

    Not safe for concurrent use: one agent, batches applied in order. Two ways to apply a batch:
    - `prepare` then `apply(batch, prepared)`: the batch is folded while the previous one commits,
      from the previous batch's new states and from reads of the rest (positions, stored states)
      made outside any transaction. The write transaction then checks those assumptions: the
      partitions must stand where the fold assumed (positions locked), and every row is written
      only from the version it was folded from (`fold_seq`). Any difference rolls the batch back and
      it is applied the second way.
    - `apply(batch)`: read the positions (locked) and the stored states, fold, write, all in one
      transaction.
    """

    def __init__(self, database_url: str, consumer: str, *, application_name: str | None = None,
                 metrics: Metrics | None = None) -> None:
        """`application_name`: what pg_stat_activity shows of the store's connections."""
        self.database_url = database_url
        self.consumer = consumer
        self.application_name = application_name
        self.metrics = metrics
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._reader: psycopg.AsyncConnection[Any] | None = None
        self._epoch = 0  # bumped whenever a prepared batch may no longer hold
        self._last: Prepared | None = None  # the last batch prepared in this epoch
        self.fallbacks = 0  # prepared batches that had to be applied in their transaction

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = None
            self._conn = await self._connect(autocommit=False)
        return self._conn

    async def _reading(self) -> psycopg.AsyncConnection[Any]:
        if self._reader is None or self._reader.closed or self._reader.broken:
            self._reader = None
            self._reader = await self._connect(autocommit=True)
        return self._reader

    async def _connect(self, *, autocommit: bool) -> psycopg.AsyncConnection[Any]:
        conn = await db.connect_async(self.database_url, autocommit=autocommit, name=self.application_name)
        if autocommit:
            return conn
        try:  # the writer: its staging table, for the rows of jobs already stored
            with db.translated("cannot create the projector's staging table", _STAGE_HINTS):
                await conn.execute(q.CREATE_STAGE)
                await conn.commit()
        except BaseException:
            await conn.close()
            raise
        return conn

    async def positions(self, topic: str) -> dict[int, int]:
        conn = await self._connection()
        with db.translated("cannot read the stored positions"):
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT partition, next_offset FROM enrichment_log_positions WHERE consumer = %s AND topic = %s",
                    (self.consumer, topic),
                )
                return {p: o for p, o in await cur.fetchall()}

    @property
    def reads_ahead(self) -> bool:
        """True when the next batch may be prepared before the previous one has committed: the
        previous one was prepared too (its new states are known). Otherwise wait for it first."""
        return self._last is not None

    def invalidate(self) -> None:
        """Forget what was prepared: the next batch is prepared from the database alone."""
        self._epoch += 1
        self._last = None

    async def prepare(self, batch: Sequence[Positioned]) -> Prepared | None:
        """Fold `batch` on top of the last prepared batch (which may still be committing) and of
        what the database holds for the rest; None if the reads fail (the batch is then applied
        in its transaction). Call it only when `reads_ahead`, or once the previous batch committed."""
        epoch, last = self._epoch, self._last
        next_offsets = offsets_after(batch)
        ended = last.end if last is not None else {}
        start = {tp: ended[tp] for tp in next_offsets if tp in ended}
        unknown = _by_topic(tp for tp in next_offsets if tp not in ended)
        known = last.states if last is not None else {}
        touched = {m.event.job_id for m in batch if m.event is not None}
        job_ids = list(touched - known.keys())
        try:
            reader = await self._reading()
            async with reader.pipeline():
                reads = [(topic, await reader.execute(q.READ_POSITIONS, {
                    "consumer": self.consumer, "topic": topic, "partitions": partitions}))
                    for topic, partitions in unknown.items()]
                states_cur = await reader.execute(q.SELECT_STATES, {"job_ids": job_ids}) if job_ids else None
            for topic, cur in reads:
                start.update({(topic, p): o for p, o in await cur.fetchall()})
            stored = {row[0]: (state_of_row(row[1:-1]), row[-1]) for row in await states_cur.fetchall()} \
                if states_cur else {}
        except (psycopg.Error, StoreError):  # not translated: the write transaction will say what is wrong, if anything
            self.invalidate()
            return None
        if epoch != self._epoch:  # the previous batch failed while we read
            return None
        for tp in next_offsets:
            start.setdefault(tp, 0)
        stored.update({j: known[j] for j in known.keys() & touched})
        prepared = await self._fold(batch, next_offsets, start, stored, epoch)
        self._last = prepared
        return prepared

    async def _fold(self, batch: Sequence[Positioned], next_offsets: dict[tuple[str, int], int],
                    start: dict[tuple[str, int], int], stored: dict[str, tuple[JobState, int]],
                    epoch: int) -> Prepared:
        """Fold the batch's new events onto the stored states; the rows as COPY data, those of jobs
        without a stored row apart from the others. It yields to the event loop between steps, so
        that the previous batch's commit is not held up."""
        result = ApplyResult(next_offsets=next_offsets)
        fresh: list[JobEvent] = []
        below: dict[tuple[str, int], tuple[int, int]] = {}
        for m in batch:
            tp = (m.topic, m.partition)
            if m.offset < start[tp]:
                result.skipped += 1
                first, last = below.get(tp, (m.offset, m.offset))
                below[tp] = (min(first, m.offset), max(last, m.offset))
            elif m.event is not None:
                fresh.append(m.event)
        source = _sources(batch, next_offsets)
        states: dict[str, tuple[JobState, int]] = {}
        roots: list[str] = []
        notice: str | None = None
        inserts: list[bytes] = []
        updates: list[bytes] = []
        if fresh:
            before = {j: st for j, (st, _) in stored.items()}
            new_states = fold_by_job(fresh, before)
            await asyncio.sleep(0)
            for e in fresh:
                if e.job_id not in states:
                    states[e.job_id] = (new_states[e.job_id], stored.get(e.job_id, (None, 0))[1] + 1)
            failed = failed_children_of(st for st, _ in states.values())
            for i, (job_id, (st, seq)) in enumerate(states.items(), 1):
                topic = source if isinstance(source, bytes) else source[job_id]
                if job_id in before:
                    updates.append(row_copy(st, seq, 0, topic))
                else:
                    # A new root row starts with the failed children this batch knows of; the recount
                    # (REFRESH_ROOTS) adds any stored earlier, and has nothing to update otherwise.
                    inserts.append(row_copy(st, seq, failed.get(job_id, 0), topic))
                if i % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            roots = roots_to_recount(states, before)
            notice = notify.payload(notify.touched_roots(states, before))
            result.applied, result.rows = len(fresh), len(states)
        end = {tp: max(start[tp], nxt) for tp, nxt in result.next_offsets.items()}
        return Prepared(epoch, start, end, states, roots, copy_data(inserts) if inserts else b"",
                        copy_data(updates) if updates else b"", result, below, notice)

    async def apply(self, batch: Sequence[Positioned], prepared: Prepared | None = None) -> ApplyResult:
        if not batch:
            return ApplyResult()
        conn = await self._connection()
        try:
            with db.translated("batch rejected by PostgreSQL"):
                return await self._apply_in(conn, batch, prepared)
        except BaseException:  # whatever the failure, what was prepared may no longer hold
            self.invalidate()
            raise

    async def _apply_in(self, conn: psycopg.AsyncConnection[Any], batch: Sequence[Positioned],
                        prepared: Prepared | None) -> ApplyResult:
        """`apply` on the writer's connection: the prepared batch if it still holds, else folded again
        in its transaction, as often as a row changes under it."""
        if prepared is not None and prepared.epoch == self._epoch:
            try:
                async with conn.transaction():
                    await self._write_prepared(conn, prepared)
                self._log_below(prepared)
                return prepared.result
            except _Stale as stale:
                self.fallbacks += 1
                self._refused(stale, "the batch folded ahead was refused and is folded again in its transaction")
        self.invalidate()  # from here on, this batch's outcome is only known after its commit
        for _ in range(_IN_TRANSACTION_ATTEMPTS):
            try:
                async with conn.transaction():
                    done = await self._apply(conn, batch)
                self._log_below(done)
                return done.result
            except _Stale as stale:  # a row changed between our read and our write: read again
                self._refused(stale, "the batch was refused and is folded again")
                continue
        raise StoreError(f"rows of the batch kept changing under it ({_IN_TRANSACTION_ATTEMPTS} attempts): "
                         "is another process writing this consumer's rows?")

    async def _write_prepared(self, conn: psycopg.AsyncConnection[Any], prepared: Prepared) -> None:
        """Claim the positions and check them, then write the rows and advance the positions: any
        surprise rolls the transaction back."""
        async with conn.pipeline():
            claims = await self._send_claims(conn, prepared.start)
        stored = {(topic, p): o for topic, cur in claims for p, o in await cur.fetchall()}
        moved = {tp: (at, stored.get(tp, 0)) for tp, at in prepared.start.items() if stored.get(tp, 0) != at}
        if moved:
            raise _Stale("positions-moved", "partitions moved since the batch was read ahead (another member "
                         "took them, or a rebalance): " + ", ".join(
                             f"{t}[{p}] read at {at}, stored {now}" for (t, p), (at, now) in sorted(moved.items())))
        await self._write(conn, prepared)

    def _log_below(self, prepared: Prepared) -> None:
        """Say which events of a committed batch were not applied, the stored positions being past them."""
        if not prepared.below:
            return
        below = {f"{t}[{p}]": f"offsets {first}..{last} < position {prepared.start[(t, p)]}"
                 for (t, p), (first, last) in sorted(prepared.below.items())}
        log.info("not applied: %d events of the batch are already in the table (the stored positions are past "
                 "them: a replay after a restart, or another member took the partitions meanwhile): %s",
                 prepared.result.skipped, "; ".join(f"{tp} {what}" for tp, what in below.items()),
                 extra={"below_positions": below})

    def _refused(self, stale: _Stale, what: str) -> None:
        log.warning("%s: %s", what, stale, extra={"refused": stale.reason})
        if self.metrics is not None:
            self.metrics.batches_refused.labels(reason=stale.reason).inc()

    async def _apply(self, conn: psycopg.AsyncConnection[Any], batch: Sequence[Positioned]) -> Prepared:
        """The whole batch in this transaction: positions locked first, then the stored states."""
        next_offsets = offsets_after(batch)
        job_ids = list({m.event.job_id for m in batch if m.event is not None})
        async with conn.pipeline():
            claims = await self._send_claims(conn, next_offsets)
            states_cur = await conn.execute(q.SELECT_STATES, {"job_ids": job_ids}) if job_ids else None
        start = {(topic, p): o for topic, cur in claims for p, o in await cur.fetchall()}
        stored = {row[0]: (state_of_row(row[1:-1]), row[-1]) for row in await states_cur.fetchall()} \
            if states_cur else {}
        prepared = await self._fold(batch, next_offsets, start, stored, self._epoch)
        await self._write(conn, prepared)
        return prepared

    async def _write(self, conn: psycopg.AsyncConnection[Any], prepared: Prepared) -> None:
        """Write the batch's rows and advance its positions, in the caller's transaction:
        - the rows of jobs without a stored row are copied into the table (COPY: PostgreSQL's
          cheapest way in); one that exists after all (written meanwhile by someone else) makes the
          copy fail on the unique job key: stale;
        - the other rows are copied into the connection's staging table, then upserted from it, each
          only onto the version it was folded from: a row short means one changed meanwhile, stale;
        - then the roots are recounted, the positions advanced and the batch's notification sent
          (projector.notify: delivered on commit only), in one round trip.
        COPY is not allowed in a pipeline: the copies are round trips of their own."""
        copied = 0
        async with conn.cursor() as cur:
            if prepared.inserts:
                try:
                    async with cur.copy(q.COPY_NEW_ROWS) as copy:
                        await copy.write(prepared.inserts)
                except psycopg.errors.UniqueViolation:
                    raise _Stale("rows-changed", "a job's row was inserted meanwhile by another writer") from None
                copied = cur.rowcount
            if prepared.updates:
                async with cur.copy(q.COPY_STAGE) as copy:
                    await copy.write(prepared.updates)
        async with conn.pipeline():
            upsert = await conn.execute(q.UPSERT_STAGED) if prepared.updates else None
            if prepared.roots:
                await conn.execute(q.REFRESH_ROOTS, {"roots": prepared.roots})
            await self._send_advance(conn, prepared.result.next_offsets)
            if prepared.notice is not None:
                await conn.execute(notify.NOTIFY, (notify.CHANNEL, prepared.notice))
        written = copied + (upsert.rowcount if upsert is not None else 0)
        if written != len(prepared.states):
            raise _Stale("rows-changed", f"{len(prepared.states) - written} of the batch's {len(prepared.states)} "
                         "rows changed since they were read (fold_seq): another writer")

    async def _send_claims(self, conn: psycopg.AsyncConnection[Any],
                           tps: Iterable[tuple[str, int]]) -> list[tuple[str, psycopg.AsyncCursor[Any]]]:
        """Lock the partitions' positions (creating missing ones at 0); the cursors say where they stand.
        Partitions are locked in sorted order in every process: no deadlock between two projectors."""
        claims = []
        for topic, partitions in _by_topic(tps).items():
            claims.append((topic, await conn.execute(q.CLAIM_POSITIONS, {
                "consumer": self.consumer, "topic": topic, "partitions": partitions})))
        return claims

    async def _send_advance(self, conn: psycopg.AsyncConnection[Any],
                            next_offsets: dict[tuple[str, int], int]) -> None:
        for topic, partitions in _by_topic(next_offsets).items():
            await conn.execute(q.ADVANCE_POSITIONS, {
                "consumer": self.consumer, "topic": topic, "partitions": partitions,
                "offsets": [next_offsets[(topic, p)] for p in partitions]})

    async def close(self) -> None:
        for conn in (self._conn, self._reader):
            if conn is not None:
                await conn.close()
        self._conn = self._reader = None
