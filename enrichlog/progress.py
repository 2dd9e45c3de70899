"""How far a long command has got, for a person: what it does, count / total, and the time left.

On a terminal, a rich progress bar; otherwise (a log, a pipe, CI) a plain line at most every
`interval` seconds, the first at the first update (or the first once the work has lasted
`first_after` seconds: a quick one says only its end) and the last at the end; nothing at all when
quiet (--json). Both on stderr, so stdout stays the command's result, and nothing before the first
update, so a command that fails at its start says only its one-line error. A countdown (what is
still to go, as the producer's wait for the broker's acknowledgements) says what is left rather
than what is done.

A step without a count (connecting to a service) is a `phase`: on a terminal a spinner, erased at
its end; otherwise one line once it has lasted `first_after` seconds (a quick connection, or one
refused at once, says nothing more than its result or its one-line error).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Meter:
    """`update(done)` as the work advances; a context manager. `total` None: no bar and no ETA."""

    def __init__(self, what: str, total: int | None, *, unit: str, quiet: bool = False,
                 stream: TextIO | None = None, interval: float = 2.0, countdown: bool = False,
                 first_after: float = 0.0) -> None:
        self.what, self.total, self.unit, self.quiet, self.countdown = what, total, unit, quiet, countdown
        self.first_after = first_after  # seconds of work before the first plain line
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
            count: tuple[ProgressColumn, ...] = (
                (TextColumn(f"{{task.fields[to_go]:,}} {self.unit} to go"),) if self.countdown
                else (MofNCompleteColumn(), TextColumn(self.unit)))
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), *count,
                                 TimeElapsedColumn(), TextColumn("elapsed,"), TimeRemainingColumn(),
                                 TextColumn("left"), console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total, to_go=self.total or 0)
        return self

    def update(self, done: int, total: int | None = None) -> None:
        """`done` so far; `total`, when given, what the work turned out to be (known once it started)."""
        self.done = done
        if total is not None:
            self.total = total
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=self.total, to_go=max(0, (self.total or 0) - done))
        elif self._printed_at is None:
            if time.monotonic() - self.started >= self.first_after:
                self._line()
        elif time.monotonic() - self._printed_at >= self.interval:
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
        said = (f"{self.total - self.done:,} of {self.total:,} {self.unit} to go" if self.countdown
                else f"{self.done:,} / {self.total:,} {self.unit} ({share:.0%})")
        if 0 < self.done < self.total and seconds > 0:
            said += f", about {(self.total - self.done) * seconds / self.done:.0f} s left"
        return said


@contextmanager
def phase(what: str, *, quiet: bool = False, stream: TextIO | None = None,
          first_after: float = 1.0) -> Iterator[None]:
    """A step without a count (`what`: "connecting to ..."): on a terminal a spinner saying it,
    erased at the end; otherwise `what` as one line once the step has lasted `first_after` seconds;
    nothing when quiet."""
    out = stream or sys.stderr
    if quiet:
        yield
    elif out.isatty():
        with Console(file=out).status(what):
            yield
    else:
        say = threading.Timer(first_after, lambda: print(what, file=out, flush=True))
        say.daemon = True
        say.start()
        try:
            yield
        finally:
            say.cancel()
            say.join()  # a line being written is finished before whatever follows the step
