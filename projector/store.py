"""Where the fold's results go: one transaction per batch, positions included.

The store owns the transaction. `apply` reads the consumed positions of the batch's partitions
(locking them), drops events the table already holds (offset below the stored position: a replay
after a crash changes nothing), folds the rest onto the stored states, writes the rows with COPY
+ INSERT ... ON CONFLICT, re-derives the roots' PARTIAL status, advances the positions and commits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb
from pydantic_core import to_json

from projector import sql as q
from projector.errors import StoreError, StoreUnavailable
from projector.fold import fold_by_job
from projector.rows import COLUMNS, failed_children_of, row_values, state_of_row, to_row
from projector.state import JobState
from schemas import JobEvent


@dataclass(frozen=True, slots=True)
class Positioned:
    """An event with where it was read from."""

    topic: str
    partition: int
    offset: int
    event: JobEvent | None  # None: a dead-lettered message, which only advances the position


@dataclass
class ApplyResult:
    applied: int = 0
    skipped: int = 0  # already in the table (replayed offsets)
    rows: int = 0
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


class LogStore(Protocol):
    async def apply(self, batch: Sequence[Positioned]) -> ApplyResult: ...

    async def positions(self, topic: str) -> dict[int, int]: ...

    async def close(self) -> None: ...


def _next_offsets(batch: Sequence[Positioned]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for m in batch:
        tp = (m.topic, m.partition)
        out[tp] = max(out.get(tp, 0), m.offset + 1)
    return out


_TRANSIENT = (psycopg.OperationalError, psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


class PostgresStore:
    """The PostgreSQL store. One connection; not safe for concurrent use (one agent, one batch)."""

    def __init__(self, database_url: str, consumer: str) -> None:
        self.database_url = database_url
        self.consumer = consumer
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self.database_url, connect_timeout=5)
                await self._conn.execute(q.CREATE_STAGE)
                await self._conn.commit()
            except _TRANSIENT as exc:
                self._conn = None
                raise StoreUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc
        return self._conn

    async def positions(self, topic: str) -> dict[int, int]:
        conn = await self._connection()
        async with conn.transaction():
            cur = await conn.execute(
                "SELECT partition, next_offset FROM enrichment_log_positions WHERE consumer = %s AND topic = %s",
                (self.consumer, topic),
            )
            return {p: o for p, o in await cur.fetchall()}

    async def apply(self, batch: Sequence[Positioned]) -> ApplyResult:
        if not batch:
            return ApplyResult()
        conn = await self._connection()
        try:
            async with conn.transaction():
                return await self._apply(conn, batch)
        except _TRANSIENT as exc:
            raise StoreUnavailable(f"PostgreSQL unavailable: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            state = exc.sqlstate or ""
            raise StoreError(f"batch rejected by PostgreSQL ({state}): {_first_line(exc)}",
                             poison=state[:2] in ("22", "23")) from exc

    async def _apply(self, conn: psycopg.AsyncConnection[Any], batch: Sequence[Positioned]) -> ApplyResult:
        result = ApplyResult(next_offsets=_next_offsets(batch))
        fresh: list[JobEvent] = []
        by_topic: dict[str, list[int]] = defaultdict(list)
        for topic, partition in result.next_offsets:
            by_topic[topic].append(partition)
        for partitions in by_topic.values():
            partitions.sort()  # the same lock order in every process: no deadlock between two projectors
        job_ids = list({m.event.job_id for m in batch if m.event is not None})
        async with conn.pipeline():  # positions and stored states in one round trip
            claims = [(topic, await conn.execute(q.CLAIM_POSITIONS, {
                "consumer": self.consumer, "topic": topic, "partitions": partitions}))
                for topic, partitions in by_topic.items()]
            states_cur = await conn.execute(q.SELECT_STATES, {"job_ids": job_ids}) if job_ids else None
        stored = {(topic, p): o for topic, cur in claims for p, o in await cur.fetchall()}
        states = {row[0]: state_of_row(row) for row in await states_cur.fetchall()} if states_cur else {}
        for m in batch:
            if m.offset < stored.get((m.topic, m.partition), 0):
                result.skipped += 1
            elif m.event is not None:
                fresh.append(m.event)
        if fresh:
            new_states = fold_by_job(fresh, states)
            touched = {e.job_id: new_states[e.job_id] for e in fresh}
            await self._write(conn, list(touched.values()))
            # Roots to recount: the touched jobs' roots, and the roots they had before (a job whose
            # parent changed between events must not leave a stale count on its former root).
            roots = sorted({s.head.identity.root_job_id for s in touched.values()}
                           | {states[j].head.identity.root_job_id for j in touched if j in states})
            await conn.execute(q.REFRESH_ROOTS, {"roots": roots})
            result.applied, result.rows = len(fresh), len(touched)
        for topic, partitions in by_topic.items():
            offsets = [result.next_offsets[(topic, p)] for p in partitions]
            await conn.execute(q.ADVANCE_POSITIONS, {"consumer": self.consumer, "topic": topic,
                                                     "partitions": partitions, "offsets": offsets})
        return result

    async def _write(self, conn: psycopg.AsyncConnection[Any], states: list[JobState]) -> None:
        async with conn.cursor() as cur:
            async with cur.copy(q.COPY_STAGE) as copy:
                await copy.write(copy_lines(row_values(s) for s in states))
            await cur.execute(q.UPSERT_FROM_STAGE)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def row_json(values: dict[str, Any]) -> bytes:
    """A row's `row_values` as one JSON document (column -> value) for the staging table (Rust encoder)."""
    return to_json(values)


def copy_lines(rows: Iterable[dict[str, Any]]) -> bytes:
    """COPY text format, one JSON document per line: JSON has no raw tab or newline, but its
    backslashes must be doubled for COPY."""
    return b"".join(row_json(r).replace(b"\\", b"\\\\") + b"\n" for r in rows)


def db_values(row: Any) -> list[Any]:
    """A JobRow as COPY values, in COLUMNS order."""
    values = [getattr(row, c) for c in COLUMNS]
    for i, c in enumerate(COLUMNS):
        if c in ("metadata", "attempts", "fold_state") and values[i] is not None:
            values[i] = Jsonb(values[i], dumps=_dumps)
    return values


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class InMemoryStore:
    """The same contract in memory, for unit tests of the pipeline around the store."""

    def __init__(self) -> None:
        self.states: dict[str, JobState] = {}
        self._positions: dict[tuple[str, int], int] = {}

    async def positions(self, topic: str) -> dict[int, int]:
        return {p: o for (t, p), o in self._positions.items() if t == topic}

    async def apply(self, batch: Sequence[Positioned]) -> ApplyResult:
        result = ApplyResult(next_offsets=_next_offsets(batch))
        fresh = []
        for m in batch:
            if m.offset < self._positions.get((m.topic, m.partition), 0):
                result.skipped += 1
            elif m.event is not None:
                fresh.append(m.event)
        self.states = fold_by_job(fresh, self.states)
        result.applied, result.rows = len(fresh), len({e.job_id for e in fresh})
        for tp, nxt in result.next_offsets.items():
            self._positions[tp] = max(self._positions.get(tp, 0), nxt)
        return result

    def rows(self) -> dict[str, Any]:
        failed = failed_children_of(self.states.values())
        return {j: to_row(s, failed.get(j, 0)) for j, s in self.states.items()}

    async def close(self) -> None:
        return None
