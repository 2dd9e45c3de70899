"""Time sources for the reporter: the system clock, and a simulated one for the workload.

`now()` stamps events (timezone-aware); `monotonic()` measures durations, so a wall-clock jump
never produces a negative duration. The simulated clock moves only when told to.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences are meaningful)."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class SimulatedClock:
    """A clock that advances only through `advance` or `set`: computed time, no sleeping."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._origin = start
        self._now = start

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - self._origin).total_seconds()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds}s)")
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        """Jump to `when` (forward or back: the workload starts each chain at its own time)."""
        self._now = when


SYSTEM_CLOCK = SystemClock()
