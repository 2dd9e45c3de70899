"""A big timeline's children as its page shows them: the ones that matter in full, each run of
children that succeeded plainly folded into one group row. Pure: no I/O, no clock.

A timeline of at most SMALL children shows every one in full. In a bigger one a child is shown in
full when it did not succeed plainly (a status other than SUCCESS, a retry, still running), when it
is the slowest job, when the page asks for it (`?job=`), or when it lies in the range the page
expands (`?expand=FIRST-LAST`, child numbers from 1 in start order, or `?expand=all`). Each run of
at least MIN_RUN other children is one Group; a shorter run is shown in full.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from enrichlog.commands.timeline import Span, job_span
from enrichlog.read import JobLine
from enrichlog.web.params import BadParameter

SMALL = 60  # children a timeline shows in full whatever they are
MIN_RUN = 3  # plain children in a row that make a group; fewer are shown as they are
RANGE = re.compile(r"([0-9]{1,9})-([0-9]{1,9})")


@dataclass(frozen=True, slots=True)
class Expand:
    """The children a page shows in full besides those that matter: numbers `first` to `last`
    (from 1, inclusive), `last` None for every child from `first` on."""

    first: int
    last: int | None

    @property
    def query(self) -> str:
        """The value of `?expand=` that asks for this range."""
        return "all" if self == ALL else f"{self.first}-{self.last}"

    def covers(self, index: int) -> bool:
        """Whether the child at 0-based `index` is in the range."""
        return self.first <= index + 1 and (self.last is None or index + 1 <= self.last)


ALL = Expand(1, None)


def parse_expand(value: str | None) -> Expand | None:
    """`?expand=`: None when absent or empty; BadParameter("expand") unless `all` or FIRST-LAST."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text == "all":
        return ALL
    found = RANGE.fullmatch(text)
    if found is None:
        raise BadParameter("expand", f"{value[:40]!r} is not all or a range of child numbers FIRST-LAST (e.g. 12-40)")
    first, last = int(found[1]), int(found[2])
    if not 1 <= first <= last:
        raise BadParameter("expand", f"{value!r}: child numbers start at 1 and FIRST must not be after LAST")
    return Expand(first, last)


def check_expand(expand: Expand | None, children: int) -> None:
    """BadParameter("expand") when the range names a child the timeline does not have."""
    if expand is not None and expand.last is not None and expand.last > children:
        raise BadParameter("expand", f"{expand.query}: this timeline has {children} children")


@dataclass(frozen=True, slots=True)
class Group:
    """A run of children that succeeded plainly, shown as one row."""

    first: int  # the child number (from 1) of its first child
    children: Sequence[JobLine]

    @property
    def last(self) -> int:
        return self.first + len(self.children) - 1

    @property
    def expand(self) -> Expand:
        return Expand(self.first, self.last)

    @property
    def operations(self) -> list[tuple[str, int]]:
        """(job type, how many), the most frequent first (then by name)."""
        counted = Counter(c.operation for c in self.children)
        return sorted(counted.items(), key=lambda pair: (-pair[1], pair[0]))

    @property
    def span(self) -> Span:
        """From its first child's start to its last child's end."""
        spans = [job_span(c) for c in self.children]
        return min(s for s, _ in spans), max(e for _, e in spans)


def plain(child: JobLine) -> bool:
    """Succeeded at its first try: what a group folds."""
    return child.status == "SUCCESS" and child.job_status in (None, "SUCCESS") and not child.retry_count


def slowest(jobs: Sequence[JobLine]) -> int | None:
    """The index of the longest job of a timeline's jobs (root first); None for a lone root."""
    if len(jobs) < 2:
        return None
    return max(range(len(jobs)), key=lambda i: jobs[i].duration_ms or 0)


def layout(children: Sequence[JobLine], *, keep: set[int], expand: Expand | None) -> list[int | Group]:
    """The page's rows below the root: the 0-based index of each child shown in full, and a Group
    for each run of at least MIN_RUN plain children not in `keep` nor in `expand`'s range."""
    if len(children) <= SMALL or expand == ALL:
        return list(range(len(children)))
    out: list[int | Group] = []
    run: list[int] = []

    def close_run() -> None:
        if len(run) >= MIN_RUN:
            out.append(Group(run[0] + 1, [children[i] for i in run]))
        else:
            out.extend(run)
        run.clear()

    for i, child in enumerate(children):
        if i in keep or not plain(child) or (expand is not None and expand.covers(i)):
            close_run()
            out.append(i)
        else:
            run.append(i)
    close_run()
    return out
