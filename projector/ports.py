"""What the pipeline needs of a store, and what passes between them.

The pipeline (projector.pipeline) calls only what `LogStore` declares; the PostgreSQL store
(projector.store) and the in-memory one (projector.memory_store) both provide it. A store that
cannot fold ahead of its transaction says so (`reads_ahead` false, `prepare` returns None) and
is given each batch to `apply` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from schemas import JobEvent


class Positioned(NamedTuple):
    """An event with where it was read from (a NamedTuple: one is made per event, and it is
    cheaper to build than a frozen dataclass)."""

    topic: str
    partition: int
    offset: int
    event: JobEvent | None  # None: a dead-lettered message, which only advances the position


@dataclass
class ApplyResult:
    """What a committed batch did: events folded, events skipped as already stored, rows written,
    and where each of its partitions stands now."""

    applied: int = 0
    skipped: int = 0  # already in the table (replayed offsets)
    rows: int = 0
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


class LogStore(Protocol):
    """Where the fold's results go: one transaction per batch, positions included."""

    @property
    def reads_ahead(self) -> bool:
        """Whether the next batch may be prepared before the previous one has committed."""
        ...

    async def prepare(self, batch: Sequence[Positioned]) -> Any:
        """Fold `batch` ahead of its transaction; what it returns is given back to `apply`. None:
        nothing prepared (the batch is folded in its transaction). Nothing is written here."""
        ...

    async def apply(self, batch: Sequence[Positioned], prepared: Any = None) -> ApplyResult:
        """Commit the batch's rows and positions in one transaction."""
        ...

    async def positions(self, topic: str) -> dict[int, int]: ...

    async def close(self) -> None: ...


def offsets_after(batch: Sequence[Positioned]) -> dict[tuple[str, int], int]:
    """Per (topic, partition) of the batch, the offset after its last message."""
    out: dict[tuple[str, int], int] = {}
    for m in batch:
        tp = (m.topic, m.partition)
        out[tp] = max(out.get(tp, 0), m.offset + 1)
    return out
