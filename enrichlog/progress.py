"""How far a long command has got, for a person: what it does, count / total, and the time left.

On a terminal, a rich progress bar; otherwise (a log, a pipe, CI) a plain line at most every
`interval` seconds, the first at the first update and the last at the end; nothing at all when
quiet (--json). Both on stderr, so stdout stays the command's result, and nothing before the first
update, so a command that fails at its start says only its one-line error.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Meter:
    """`update(done)` as the work advances; a context manager. `total` None: no bar and no ETA."""

    def __init__(self, what: str, total: int | None, *, unit: str, quiet: bool = False,
                 stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.what, self.total, self.unit, self.quiet = what, total, unit, quiet
        self.stream = stream or sys.stderr
        self.interval = interval
        self.done = 0
        self.started = time.monotonic()
        self._printed_at: float | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Meter:
        self.started = time.monotonic()
        if not self.quiet and self.stream.isatty():
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn(self.unit), TimeElapsedColumn(), TextColumn("elapsed,"),
                                 TimeRemainingColumn(), TextColumn("left"),
                                 console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def update(self, done: int) -> None:
        self.done = done
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done)
        elif self._printed_at is None or time.monotonic() - self._printed_at >= self.interval:
            self._line()

    def __exit__(self, kind: type[BaseException] | None, _exc: BaseException | None,
                 _tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
        if kind is None and not self.quiet:
            seconds = time.monotonic() - self.started
            print(f"{self.what}: done, {self.done:,} {self.unit} in {seconds:.1f} s", file=self.stream, flush=True)

    def _line(self) -> None:
        if self.quiet or self._bar is not None:
            return
        self._printed_at = time.monotonic()
        print(f"{self.what}: {self.describe(self._printed_at - self.started)}", file=self.stream, flush=True)

    def describe(self, seconds: float) -> str:
        """Count / total, the share done and the time left (from the rate so far)."""
        if self.total is None:
            return f"{self.done:,} {self.unit}"
        share = self.done / self.total if self.total else 1.0
        said = f"{self.done:,} / {self.total:,} {self.unit} ({share:.0%})"
        if 0 < self.done < self.total and seconds > 0:
            said += f", about {(self.total - self.done) * seconds / self.done:.0f} s left"
        return said
