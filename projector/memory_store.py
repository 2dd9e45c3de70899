"""The store's contract in memory: for tests of the pipeline around the store, and benchmarks
that leave PostgreSQL out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projector.fold import fold_by_job
from projector.ports import ApplyResult, Positioned, offsets_after
from projector.rows import JobRow, failed_children_of, to_row
from projector.state import JobState


class InMemoryStore:
    """Folds each batch in `apply` (it never reads ahead); positions only move forward."""

    reads_ahead = False

    def __init__(self) -> None:
        self.states: dict[str, JobState] = {}
        self._positions: dict[tuple[str, int], int] = {}

    async def positions(self, topic: str) -> dict[int, int]:
        return {p: o for (t, p), o in self._positions.items() if t == topic}

    async def prepare(self, batch: Sequence[Positioned]) -> None:
        return None

    async def apply(self, batch: Sequence[Positioned], prepared: Any = None) -> ApplyResult:
        result = ApplyResult(next_offsets=offsets_after(batch))
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

    def rows(self) -> dict[str, JobRow]:
        failed = failed_children_of(self.states.values())
        return {j: to_row(s, failed.get(j, 0)) for j, s in self.states.items()}

    async def close(self) -> None:
        return None
