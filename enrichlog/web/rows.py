"""The rows of a timeline page: the root and each child shown in full (its bar, errors and detail
panel) and one row per group of children the page folds (enrichlog.web.groups). Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from markupsafe import Markup

from enrichlog.commands.roots import format_ms
from enrichlog.commands.timeline import Span
from enrichlog.read import ChildLine, JobLine, Outline, TimelineJob
from enrichlog.web import bars, detail, groups


@dataclass(frozen=True, slots=True)
class JobRow:
    job: TimelineJob
    bar: tuple[Markup, Markup]
    errors: list[str]
    last_error: str
    attempts: list[detail.Attempt]
    fields: list[tuple[str, str]]
    open: bool  # its detail panel open: the job the page was asked for
    child: bool
    slowest: bool
    id: str  # the job's row id, as the page's anchors name it
    duration: str
    times: str  # when it was created, started, finished, last heard of, and its duration
    kind: str = "job"


@dataclass(frozen=True, slots=True)
class GroupRow:
    group: groups.Group
    bar: tuple[Markup, Markup]
    operations: str  # each job type and how many, the most frequent first
    when: str  # from its first start to its last end, HH:MM:SS (UTC)
    href: str  # the page with this group expanded
    kind: str = "group"


def names(job: JobLine, opened: str | None) -> bool:
    """Whether `?job=` (a row id or a job id) names this job."""
    return opened is not None and (opened == str(job.id) or opened == job.job_id)


def keep(jobs: Sequence[JobLine], slowest: int | None, opened: str | None) -> set[int]:
    """The children (0-based) shown in full whatever they are: the slowest job and the one asked for."""
    kept = {slowest - 1} if slowest else set()
    return kept | {i - 1 for i in range(1, len(jobs)) if names(jobs[i], opened)}


class Folding:
    """How a page folds its children. enrichlog.read.outline calls it with a big timeline's children in
    outline: it answers the row ids to read in full, and keeps the layout for `rows`."""

    def __init__(self, opened: str | None, expand: groups.Expand | None) -> None:
        self.opened, self.expand = opened, expand
        self.seen: Sequence[JobLine] | None = None
        self.layout: list[int | groups.Group] = []

    def __call__(self, root: TimelineJob, children: list[ChildLine]) -> list[uuid.UUID]:
        self.seen, self.layout = children, self.plan([root, *children])
        return [children[e].id for e in self.layout if isinstance(e, int)]

    def plan(self, jobs: Sequence[JobLine]) -> list[int | groups.Group]:
        return groups.layout(jobs[1:], keep=keep(jobs, groups.slowest(jobs), self.opened), expand=self.expand)

    def rows(self, found: Outline, on: Span) -> list[JobRow | GroupRow]:
        """The root's row, then a row per child shown in full or per group, in start order."""
        jobs = [found.root, *found.children]
        slowest = groups.slowest(jobs)
        shown = self.layout if found.children is self.seen else self.plan(jobs)
        out: list[JobRow | GroupRow] = [job_row(found.root, on, self.opened, child=False, slowest=slowest == 0)]
        for entry in shown:
            if isinstance(entry, groups.Group):
                out.append(group_row(entry, on, self.opened))
            elif (job := found.full.get(found.children[entry].id)) is not None:  # None: deleted meanwhile
                out.append(job_row(job, on, self.opened, child=True, slowest=slowest == entry + 1))
        return out


def job_row(job: TimelineJob, on: Span, opened: str | None, *, child: bool, slowest: bool) -> JobRow:
    return JobRow(job, bars.markup(bars.segments(job, on)), bars.attempt_errors(job), detail.last_error(job),
                  detail.attempts(job), detail.fields(job), names(job, opened), child, slowest, str(job.id),
                  format_ms(job.duration_ms), times(job))


def times(job: TimelineJob) -> str:
    """The detail panel's line of times: created, started, finished, last event, and the duration."""
    said = [f"created {job.created_at.isoformat()}"]
    for label, at in (("started", job.started_at), ("finished", job.finished_at), ("last event", job.last_event_at)):
        if at:
            said.append(f"{label} {at.isoformat()}")
    if job.duration_ms is not None:
        said.append(format_ms(job.duration_ms))
    return " \u00b7 ".join(said)  # a middle dot between them


def group_row(group: groups.Group, on: Span, opened: str | None) -> GroupRow:
    start, end = group.span
    when = f"{start:%H:%M:%S}\u2013{end:%H:%M:%S}"  # an en dash
    label = f"{len(group.children)} jobs succeeded, {when}"
    query = urlencode({**({"job": opened} if opened else {}), "expand": group.expand.query})
    return GroupRow(group, bars.markup(bars.group_segments(group.children, on, label)),
                    ", ".join(f"{op} \u00d7{n}" for op, n in group.operations), when,
                    f"?{query}#job-{group.children[0].id}")
